"""Safety properties of a sweep, each over real HTTP against the DS double (spec sections 3, 5, 7)."""

from __future__ import annotations

import json

import pytest

from ds_monitor.ds.models import COMMAND_COMPLEMENT_DATA, FAILURE, RUNNING_EXECUTION, SUCCESS
from ds_monitor.sweep.report import ThresholdRow
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes

EXECUTE = "executors/execute"


@pytest.fixture
def sim(make_ds_sim):
    return make_ds_sim(version="3.2", token=TOKEN)


def one_failure(sim, *, age_minutes: float = 30, **kwargs):
    project = sim.add_project("data-platform")
    definition = sim.add_definition(project, "daily_etl_job")
    start = NOW - minutes(age_minutes)
    instance = sim.add_instance(
        definition,
        state=FAILURE,
        start_time=start,
        end_time=start + minutes(5),
        command_type="START_PROCESS",
        **kwargs,
    )
    return project, definition, instance


def test_failure_in_window_is_recovered_once_and_followed_to_success(sim, tmp_path):
    _, _, instance = one_failure(sim)
    sender = RecordingSender()
    monitor = make_monitor(make_config(sim, tmp_path), senders=[sender])

    first = monitor.sweep(NOW)
    assert first.ok, first.error
    assert [r.instance_id for r in first.failed_instances] == [instance]
    assert [(r.instance_id, r.attempt, r.result) for r in first.recoveries] == [(instance, 1, "triggered")]
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 1
    # 3.2: the command waits for a master; the instance is still FAILURE but must not be recovered again.
    second = monitor.sweep(NOW + minutes(1))
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 1
    assert second.recoveries and second.recoveries[0].result == "skipped_state"

    sim.master_pickup()
    sim.finish_instance(instance, SUCCESS)
    third = monitor.sweep(NOW + minutes(2))
    kinds = [item.kind for d in sender.digests for item in d.items]
    assert kinds.count("recovery_succeeded") == 1
    assert kinds.count("failure_detected") == 1  # announced once, not on every sweep
    assert not third.failed_instances
    # One grouped message per sweep with events, never one per instance.
    assert len(sender.digests) <= 3


def test_instance_outside_window_is_never_recovered(sim, tmp_path):
    one_failure(sim, age_minutes=3 * 60)
    config = make_config(sim, tmp_path, monitor={"time_window_hours": 2, "execution_window_hours": 4})
    report = make_monitor(config).sweep(NOW)
    assert report.ok
    assert report.failed_instances == []
    assert report.outside_window == 1
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 0


def test_definition_over_threshold_is_never_recovered(sim, tmp_path):
    project, definition, _ = one_failure(sim)
    sim.add_instance(definition, state=FAILURE, start_time=NOW - minutes(90), end_time=NOW - minutes(80))
    report = make_monitor(make_config(sim, tmp_path)).sweep(NOW)
    assert report.threshold_exceeded == [ThresholdRow(project, definition, failures=2)]
    assert report.recoveries == []
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 0


def test_attempts_are_capped_across_restarts(sim, tmp_path):
    _, _, instance = one_failure(sim)
    config = make_config(sim, tmp_path, retry={"max_recovery_attempts": 2})
    kinds = []
    for sweep in range(6):
        sender = RecordingSender()
        monitor = make_monitor(config, senders=[sender])  # a fresh process every sweep
        monitor.sweep(NOW + minutes(sweep))
        kinds.extend(item.kind for d in sender.digests for item in d.items)
        sim.master_pickup()
        if sim.get_instance(instance)["state"] == RUNNING_EXECUTION:
            sim.finish_instance(instance, FAILURE)
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 2
    assert "recovery_exhausted" in kinds


def test_backfill_and_newer_running_instance_are_guarded(sim, tmp_path):
    project = sim.add_project("p")
    backfill_def = sim.add_definition(project, "backfill")
    backfill = sim.add_instance(
        backfill_def, state=FAILURE, start_time=NOW - minutes(50), command_type=COMMAND_COMPLEMENT_DATA
    )
    busy_def = sim.add_definition(project, "busy")
    old = sim.add_instance(busy_def, state=FAILURE, start_time=NOW - minutes(50))
    sim.add_instance(busy_def, state=RUNNING_EXECUTION, start_time=NOW - minutes(10))
    report = make_monitor(make_config(sim, tmp_path)).sweep(NOW)
    results = {r.instance_id: (r.result, r.detail) for r in report.recoveries}
    assert results[backfill][0] == "skipped_state" and "backfill" in results[backfill][1]
    assert results[old][0] == "skipped_state"
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 0


def test_ds_refusal_is_recorded_as_rejected(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.1", token=TOKEN)
    _, _, instance = one_failure(sim)
    sim.master_available = False
    report = make_monitor(make_config(sim, tmp_path)).sweep(NOW)
    assert [(r.instance_id, r.result) for r in report.recoveries] == [(instance, "rejected")]
    assert "10025" in report.recoveries[0].detail


@pytest.mark.parametrize("how", ["dry_run", "auto_recovery_off"])
def test_detect_only_modes_never_call_an_action(sim, tmp_path, how):
    one_failure(sim)
    sender = RecordingSender()
    if how == "dry_run":
        monitor = make_monitor(make_config(sim, tmp_path), senders=[sender], dry_run=True)
    else:
        monitor = make_monitor(make_config(sim, tmp_path, retry={"auto_recovery": False}), senders=[sender])
    report = monitor.sweep(NOW)
    assert report.recoveries[0].result == "dry_run"
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 0
    if how == "dry_run":
        assert sender.digests == [] and report.notifications == []


def test_unhealthy_after_three_failed_sweeps_and_recovered_once(sim, tmp_path):
    one_failure(sim)
    sender = RecordingSender()
    monitor = make_monitor(make_config(sim, tmp_path), senders=[sender])
    sim.inject("token_rejected", times=None)
    reports = [monitor.sweep(NOW + minutes(i)) for i in range(4)]
    assert [r.ok for r in reports] == [False] * 4
    assert "token" in reports[0].error.lower() or "401" in reports[0].error
    assert [r.events for r in reports] == [[], [], ["monitor_unhealthy"], []]
    sim.clear_faults()
    back = monitor.sweep(NOW + minutes(5))
    assert back.ok and back.events == ["monitor_recovered"]
    kinds = [item.kind for d in sender.digests for item in d.items]
    assert kinds.count("monitor_unhealthy") == 1 and kinds.count("monitor_recovered") == 1


def test_report_is_json_with_the_spec_keys(sim, tmp_path):
    one_failure(sim)
    report = make_monitor(make_config(sim, tmp_path)).sweep(NOW)
    data = json.loads(json.dumps(report.to_dict()))
    for key in (
        "started_at",
        "finished_at",
        "ds_version",
        "projects_scanned",
        "definitions_total",
        "definitions_checked",
        "definitions_skipped_by_schedule",
        "failed_instances",
        "outside_window",
        "threshold_exceeded",
        "recoveries",
        "missed_runs",
        "stuck_runs",
        "notifications",
        "api",
    ):
        assert key in data
    assert set(data["api"]) >= {
        "calls",
        "errors",
        "saved_by_schedule",
        "cache_hits",
        "latency_ms_p50",
        "latency_ms_p95",
    }
    assert data["api"]["calls"] > 0


def test_user_zone_offset_neither_hides_nor_invents_failures(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, user_timezone="Asia/Shanghai")
    project = sim.add_project("p")
    definition = sim.add_definition(project, "d")
    inside = sim.add_instance(definition, state=FAILURE, start_time=NOW - minutes(60))
    sim.add_instance(definition, state=FAILURE, start_time=NOW - minutes(60 * 24 + 30))  # just outside 24 h
    config = make_config(sim, tmp_path, monitor={"max_failures_for_recovery": 5, "execution_window_hours": 1})
    report = make_monitor(config).sweep(NOW)
    assert [r.instance_id for r in report.failed_instances] == [inside]


def test_recovery_interval_slot_is_not_taken_by_a_guarded_candidate(sim, tmp_path):
    project = sim.add_project("p")
    backfill_def = sim.add_definition(project, "backfill")
    sim.add_instance(backfill_def, state=FAILURE, start_time=NOW - minutes(90), command_type=COMMAND_COMPLEMENT_DATA)
    defs = [sim.add_definition(project, f"etl_{n}") for n in range(2)]
    first = sim.add_instance(defs[0], state=FAILURE, start_time=NOW - minutes(60))
    second = sim.add_instance(defs[1], state=FAILURE, start_time=NOW - minutes(30))
    monitor = make_monitor(make_config(sim, tmp_path, retry={"recovery_interval": 30}))
    report = monitor.sweep(NOW)
    results = {r.instance_id: r.result for r in report.recoveries}
    assert results[first] == "triggered"
    assert results[second] == "skipped_state"
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 1
    later = monitor.sweep(NOW + minutes(1))
    assert {r.instance_id: r.result for r in later.recoveries}[second] == "triggered"


def test_dry_run_leaves_no_trace_for_the_real_run(sim, tmp_path):
    one_failure(sim)
    sender = RecordingSender()
    make_monitor(make_config(sim, tmp_path), senders=[sender], dry_run=True).sweep(NOW)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".json") == []
    real = make_monitor(make_config(sim, tmp_path), senders=[sender]).sweep(NOW + minutes(1))
    assert [r.result for r in real.recoveries] == ["triggered"]
    assert [item.kind for d in sender.digests for item in d.items].count("failure_detected") == 1


def test_without_channels_nothing_is_marked_announced(sim, tmp_path):
    one_failure(sim)
    make_monitor(make_config(sim, tmp_path), senders=[]).sweep(NOW)
    state = json.loads((tmp_path / "notification_rate_limit.json").read_text())
    assert state["announced"] == {} and state["rate"] == {} and state["outbox"] == {}
    sender = RecordingSender()
    make_monitor(make_config(sim, tmp_path), senders=[sender]).sweep(NOW + minutes(1))
    assert "failure_detected" in [item.kind for d in sender.digests for item in d.items]

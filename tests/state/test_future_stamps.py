"""A timestamp from the future in a state file is doubt, never a reason to skip (issue 15 item 2).

The clock was stepped back, a VM snapshot restored or the state copied from a host whose clock runs
ahead: trusting "last checked in two hours" or "six messages sent tomorrow" would blind the monitor.
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from ds_monitor.config import RateLimitConfig
from ds_monitor.notify.events import Event
from ds_monitor.notify.pacer import PaceLimits, Pacer
from ds_monitor.notify.ratelimit import admit
from ds_monitor.schedule import schedule_status
from ds_monitor.state import RECOVERY, SCHEDULE
from ds_monitor.state.files import StateStore
from ds_monitor.telemetry import MonitorMetrics
from tests.schedule.factories import checked_state, definition, tracker
from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor, minutes

AHEAD = timedelta(hours=8)  # a host in UTC+8 whose clock was set as if it were UTC


def test_a_last_checked_in_the_future_means_a_look_and_status_says_due():
    tracker_ = tracker()
    state = checked_state(tracker_, NOW + AHEAD)
    plan = tracker_.plan([definition()], [], state, NOW, busy_definitions=frozenset())
    assert plan.projects_to_query, plan.skipped
    assert [row["next_look"] for row in schedule_status(state, NOW)] == ["due"]


def test_a_failure_after_the_clock_stepped_back_is_detected(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    project = sim.add_project("p")
    code = sim.add_definition(project, "hand_run")
    monitor = make_monitor(make_config(sim, tmp_path))
    assert monitor.sweep(NOW + AHEAD).ok  # the clock ran 8 h ahead, then NTP stepped it back
    sim.add_instance(code, state="FAILURE", start_time=NOW - minutes(10), end_time=NOW - minutes(5))
    report = monitor.sweep(NOW)
    monitor.close()
    assert [row.instance_id for row in report.failed_instances], report.definitions_skipped_by_schedule


def test_the_store_warns_once_per_file_saved_in_the_future(tmp_path):
    StateStore(tmp_path, clock=lambda: NOW + AHEAD).save(SCHEDULE, {"version": 1, "definitions": {}})
    store = StateStore(tmp_path, clock=lambda: NOW)
    assert store.load(SCHEDULE) == {"version": 1, "definitions": {}}
    store.load(SCHEDULE)
    assert len(store.warnings) == 1
    assert SCHEDULE in store.warnings[0] and "480 min ahead" in store.warnings[0]


def test_status_reports_a_file_saved_in_the_future(tmp_path):
    StateStore(tmp_path, clock=lambda: NOW + AHEAD).save(SCHEDULE, {"version": 1, "definitions": {}})
    store = StateStore(tmp_path, clock=lambda: NOW)
    store.snapshot()
    assert len(store.warnings) == 1 and "ahead of this host's clock" in store.warnings[0]


def test_messages_sent_in_the_future_hold_the_rate_limit_for_one_window_only():
    limit = RateLimitConfig(max_per_window=1, window_hours=1)

    def failure(instance: int) -> Event:
        return Event("failure_detected", definition_code=1, definition_name="wf", instance_id=instance)

    _, state = admit([failure(1)], {}, NOW + timedelta(days=30), limit)
    first, state = admit([failure(2)], state, NOW, limit)
    assert first.suppressed  # counted as sent now: the limit does not loosen
    later, _ = admit([failure(3)], state, NOW + timedelta(hours=1, minutes=1), limit)
    assert [e.instance_id for e in later.admitted] == [3]


def test_a_block_from_the_future_lasts_no_longer_than_the_service_imposes():
    limits = PaceLimits(per_window=20, window_seconds=60, block_seconds={130101: 300})
    limiter = Pacer({"robot": {"sent": [], "blocked_until": (NOW + timedelta(days=2)).isoformat()}})
    assert limiter.wait_seconds("robot", limits, NOW) == 300


def test_only_a_file_set_aside_counts_as_a_state_file_error_not_a_clock_warning(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    sim.add_definition(sim.add_project("p"), "wf")
    config = make_config(sim, tmp_path)
    StateStore(config.state_dir, clock=lambda: NOW + AHEAD).save(SCHEDULE, {"version": 1, "definitions": {}})
    (tmp_path / RECOVERY).write_text("{not json", encoding="utf-8")
    monitor = make_monitor(config)
    registry = CollectorRegistry()
    monitor.telemetry = MonitorMetrics(registry)
    report = monitor.sweep(NOW)
    monitor.close()

    assert any("ahead of this host's clock" in w for w in report.warnings), report.warnings
    assert any("was corrupt" in w for w in report.warnings), report.warnings
    counted = {
        sample.labels["file"]: sample.value
        for metric in registry.collect()
        if metric.name == "ds_monitor_state_file_errors"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert counted == {RECOVERY: 1.0}

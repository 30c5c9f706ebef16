"""Failed tasks, failure classes and the recovery policy through whole sweeps against the DS double."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ds_monitor.config import NotificationConfig, TaskLogConfig
from ds_monitor.ds.models import FAILURE, SUCCESS
from ds_monitor.recovery.policy import parse_recovery
from ds_monitor.status import collect_status, render_status
from ds_monitor.sweep.render import table
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes

EXECUTE = "executors/execute"
SQL_SYNTAX = "[INFO] run load.sql\nERROR 1064 (42000): You have an error in your SQL syntax near 'FORM'"
CONNECTION_RESET = "[INFO] extracting\njava.sql.SQLRecoverableException: IO Error: Connection reset by peer"


@pytest.fixture
def sim(make_ds_sim):
    return make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)


def failing(sim, project, name, log, *, task_type="SQL", age=30):
    definition = sim.add_definition(project, name)
    start = NOW - minutes(age)
    instance = sim.add_instance(
        definition, state=FAILURE, start_time=start, end_time=start + minutes(5), command_type="START_PROCESS"
    )
    sim.add_task(instance, "extract", state=SUCCESS, start_time=start, end_time=start + minutes(1))
    sim.add_task(
        instance, "load", task_type=task_type, start_time=start + minutes(1), end_time=start + minutes(4),
        retry_times=1, max_retry_times=1, log=log,
    )  # fmt: skip
    return definition, instance


def monitor_for(sim, tmp_path, *, recovery=None, task_log=None, senders=None, monitor=None):
    config = make_config(sim, tmp_path, monitor=monitor)
    config = replace(
        config,
        recovery=parse_recovery(recovery),
        notification=replace(NotificationConfig(), task_log=task_log or TaskLogConfig()),
    )
    return make_monitor(config, senders=senders)


def task_calls(sim) -> int:
    return sim.count_calls(path_contains="/tasks") + sim.count_calls(path_contains="/log/detail")


def test_failure_message_names_the_task_and_quotes_its_log_once(sim, tmp_path):
    project = sim.add_project("data-platform")
    _, instance = failing(sim, project, "daily_etl_job", SQL_SYNTAX)
    sender = RecordingSender()
    monitor = monitor_for(sim, tmp_path, senders=[sender])

    first = monitor.sweep(NOW)
    second = monitor.sweep(NOW + minutes(1))

    assert first.ok, first.error
    [row] = first.failed_tasks
    assert (row.instance_id, row.name, row.type, row.retries, row.max_retries) == (
        instance, "load", "SQL", 1, 1
    )
    assert row.klass == "deterministic" and "ERROR 1064" in row.log_excerpt
    assert first.api["task_calls"] == 2 and task_calls(sim) == 2  # one task list, one log page
    assert second.api["task_calls"] == 0 and task_calls(sim) == 2  # never read again for this attempt
    # remembered in the recovery state, without the excerpt (the state stays small)
    assert second.failed_tasks == [replace(row, log_excerpt="")]
    [item] = [i for d in sender.digests for i in d.items if i.kind == "failure_detected"]
    [task] = item.tasks
    assert task.summary == "load (SQL) on 127.0.0.1:1234 · retries 1/1 · 3m"
    assert task.excerpt[-1].startswith("ERROR 1064 (42000)")
    assert ("Failure class", "deterministic: " + task.excerpt[-1]) in item.facts
    status = collect_status(monitor.config, NOW + minutes(2))
    [row] = status["failures"]
    assert (row["instance_id"], row["class"]) == (instance, "deterministic")
    assert row["failed_tasks"] == "load (SQL) on 127.0.0.1:1234"
    assert "failed tasks:" in render_status(status)
    assert "failed task load (SQL) on 127.0.0.1:1234: deterministic" in table(first)


def test_switched_off_task_log_makes_no_task_call(sim, tmp_path):
    project = sim.add_project("data-platform")
    failing(sim, project, "daily_etl_job", SQL_SYNTAX)
    monitor = monitor_for(sim, tmp_path, task_log=TaskLogConfig(enabled=False), senders=[RecordingSender()])

    report = monitor.sweep(NOW)

    assert report.ok and report.failed_instances
    assert task_calls(sim) == 0 and report.failed_tasks == [] and report.api["task_calls"] == 0


def test_no_channel_and_no_transient_policy_reads_nothing(sim, tmp_path):
    project = sim.add_project("data-platform")
    failing(sim, project, "daily_etl_job", SQL_SYNTAX)

    monitor_for(sim, tmp_path).sweep(NOW)

    assert task_calls(sim) == 0


def test_transient_policy_recovers_transient_and_withholds_deterministic_once(sim, tmp_path):
    project = sim.add_project("data-platform")
    _, broken = failing(sim, project, "daily_etl_job", SQL_SYNTAX)
    _, flaky = failing(sim, project, "hourly_sync", CONNECTION_RESET, task_type="DATAX")
    sender = RecordingSender()
    policy = {"policy": {"workflows": {"data-platform/*": {"recover": "transient"}}}}
    monitor = monitor_for(sim, tmp_path, recovery=policy, senders=[sender])

    first = monitor.sweep(NOW)
    monitor.sweep(NOW + minutes(1))

    results = {r.instance_id: (r.result, r.detail) for r in first.recoveries}
    assert results[flaky][0] == "triggered"
    assert results[broken][0] == "skipped_policy"
    assert "deterministic failure (ERROR 1064 (42000)" in results[broken][1]
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 1
    withheld = [i for d in sender.digests for i in d.items if i.kind == "recovery_withheld"]
    assert len(withheld) == 1  # announced once, not on every sweep
    assert dict(withheld[0].facts)["Failure class"].startswith("deterministic: ERROR 1064")


def test_never_and_max_attempts_per_workflow_most_specific_wins(sim, tmp_path):
    finance = sim.add_project("finance")
    _, ledger = failing(sim, finance, "ledger_daily", CONNECTION_RESET)
    _, payroll = failing(sim, finance, "payroll", CONNECTION_RESET)
    policy = {
        "policy": {
            "workflows": {"finance/*": {"recover": "never"}, "finance/payroll": {"max_attempts": 0}},
        }
    }
    monitor = monitor_for(sim, tmp_path, recovery=policy, senders=[RecordingSender()])

    report = monitor.sweep(NOW)

    results = {r.instance_id: r.result for r in report.recoveries}
    assert results == {ledger: "skipped_policy", payroll: "skipped_limit"}


def test_backoff_waits_after_a_failed_attempt_then_recovers(sim, tmp_path):
    project = sim.add_project("data-platform")
    _, instance = failing(sim, project, "daily_etl_job", CONNECTION_RESET)
    policy = {"policy": {"default": {"recover": "always", "backoff_minutes": [0, 10]}}}
    # Looked at every sweep: a workflow waiting out its backoff is otherwise seen within max_unchecked_minutes.
    monitor = monitor_for(
        sim, tmp_path, recovery=policy, senders=[RecordingSender()], monitor={"max_unchecked_minutes": 0}
    )

    assert monitor.sweep(NOW).recoveries[0].result == "triggered"
    sim.master_pickup()
    sim.finish_instance(instance, FAILURE, end_time=NOW + minutes(2), task_log=CONNECTION_RESET)
    waiting = monitor.sweep(NOW + minutes(3))
    later = monitor.sweep(NOW + minutes(13))

    assert [r.result for r in waiting.recoveries] == ["skipped_policy"]
    assert "backoff: attempt 2 not before" in waiting.recoveries[0].detail
    assert [(r.result, r.attempt) for r in later.recoveries] == [("triggered", 2)]
    assert task_calls(sim) == 4  # each failed attempt read once: 2 x (task list + log)


def test_explain_names_the_failure_class_and_the_policy_rule(sim, tmp_path, run_cli):
    project = sim.add_project("data-platform")
    failing(sim, project, "daily_etl_job", SQL_SYNTAX)
    (tmp_path / "config.yaml").write_text(
        'recovery:\n  policy:\n    workflows:\n      "data-platform/*": {recover: transient}\n', encoding="utf-8"
    )
    policy = {"policy": {"workflows": {"data-platform/*": {"recover": "transient"}}}}
    assert monitor_for(sim, tmp_path, recovery=policy, senders=[RecordingSender()]).sweep(NOW).ok
    env = {"DS_API_URL": sim.url, "DS_TOKEN": TOKEN, "DS_STATE_DIR": str(tmp_path)}

    later = NOW + minutes(1)
    result = run_cli("-c", "config.yaml", "explain", "data-platform/daily_etl_job", env=env, clock=lambda: later)

    out = result.stdout
    assert result.exit_code == 0
    assert "  Failure class: deterministic: ERROR 1064 (42000): You have an error in your SQL syntax" in out
    assert "Recovery policy rule data-platform/*: recover transient." in out

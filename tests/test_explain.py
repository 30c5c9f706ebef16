"""`explain`, pure: the sentences follow the sweep's own rules (window, threshold, states, config)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor import explain
from ds_monitor.config import Config, MaintenanceWindow, MonitorConfig, RetryConfig
from ds_monitor.ds.models import FAILURE, KILL, SUCCESS, Definition, Instance, Project
from ds_monitor.errors import ConfigError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
PROJECT = Project(1, "data-platform")
ETL = Definition(10, "daily_etl_job", 1)
SYNC = Definition(11, "hourly_sync_task", 1)


def run(hours_ago: float, state: str = FAILURE) -> Instance:
    start = NOW - timedelta(hours=hours_ago)
    iid = int(hours_ago * 100)
    return Instance(iid, ETL.code, f"etl-{iid}", state, 1, 1, start, start + timedelta(minutes=5))


def sentences(instances, *, config=None, monitored=frozenset({10, 11}), files=None) -> str:
    facts = explain.ProjectFacts(PROJECT, [ETL, SYNC], [], instances, {}, monitored)
    (item,) = explain.explain(facts, [ETL], files or {}, config or Config(), NOW)
    return "\n".join(item["sentences"])


@pytest.mark.parametrize(
    ("instances", "config", "expected"),
    [
        ([run(1)], None, "within the threshold of 1: FAILURE instances are recovered automatically"),
        ([run(1), run(2)], None, "2 failures in the 24 h window is more than monitor.max_failures_for_recovery (1)"),
        ([run(30)], None, "1 failure(s) started before the 24 h window"),
        ([run(1, KILL)], None, "is KILL: reported, never recovered"),
        ([run(1)], Config(retry=RetryConfig(auto_recovery=False)), "retry.auto_recovery is off"),
        ([], None, "DS shows no instance that started in the last 24 h"),
        ([run(1, SUCCESS)], None, "SUCCESS, started"),
        ([run(1)], Config(monitor=replace(MonitorConfig(), max_failures_for_recovery=3)), "within the threshold of 3"),
    ],
    ids=["recoverable", "systemic", "outside-window", "kill", "auto-off", "no-instance", "success", "threshold-3"],
)
def test_sentences_follow_the_sweep_rules(instances, config, expected):
    assert expected in sentences(instances, config=config)


def test_not_monitored_and_never_looked_at():
    text = sentences([], monitored=frozenset({11}))
    assert "This configuration does not monitor it" in text
    assert "The next sweep" not in text


def test_a_first_look_is_due_when_never_checked():
    assert "The monitor has not looked at it yet.\nThe next sweep looks at it: not checked yet." in sentences([])


def test_maintenance_windows_of_the_project_are_shown():
    window = MaintenanceWindow("nightly", "0 0 13 * * ?", 60, "UTC", ("data-*",))
    text = sentences([], config=Config(maintenance=(window,)))
    assert "Maintenance window nightly next starts at 2026-11-23T13:00:00+00:00." in text


def test_messages_and_rate_limit_from_the_notification_memory():
    files = {
        "notification_rate_limit.json": {
            "version": 1,
            "announced": {"10:100|failure_detected": "2026-11-23T11:01:00+00:00", "99:1|failure_detected": "x"},
            "rate": {"def:10": {"sent": ["2026-11-23T11:01:00+00:00"], "suppressed": 2, "updated": "x"}},
        }
    }
    text = sentences([run(1)], files=files)
    assert "Announced failure_detected for instance #100 at 2026-11-23T11:01:00+00:00." in text
    assert "2 message(s) were suppressed by the rate limit (6 per 24 h)" in text
    assert "99:1" not in text


@pytest.mark.parametrize(
    ("target", "message"),
    [("", "does not name a project"), ("/x", "does not name a project"), ("dataplatform", "closest: data-platform")],
)
def test_resolve_errors(target, message):
    with pytest.raises(ConfigError, match=message):
        explain.resolve(target, [PROJECT])


def test_resolve_by_code_and_workflow_by_code():
    project, workflow = explain.resolve("1/10", [PROJECT])
    assert project == PROJECT
    assert explain.pick_definitions(project, [ETL, SYNC], workflow) == [ETL]
    assert explain.pick_definitions(project, [SYNC, ETL], None) == [ETL, SYNC]

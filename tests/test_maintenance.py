"""Maintenance windows (spec section 10): occurrences at their boundaries, config errors, a muted sweep."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor import maintenance
from ds_monitor.config import MaintenanceWindow, load_config
from ds_monitor.ds.models import FAILURE
from ds_monitor.errors import ConfigError
from ds_monitor.status import collect_status
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes

# 02:00 Asia/Shanghai on Tuesdays = 18:00 UTC on Mondays; NOW (2026-11-23 12:00 UTC) is a Monday.
WINDOW = MaintenanceWindow("weekly-ds-upgrade", "0 0 2 ? * TUE", 120, "Asia/Shanghai", ("data-*",), recover=False)
START = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("at", "active"),
    [
        (START - timedelta(seconds=1), False),
        (START, True),
        (START + timedelta(minutes=120) - timedelta(seconds=1), True),
        (START + timedelta(minutes=120), False),
    ],
    ids=["just-before", "at-start", "just-before-end", "at-end"],
)
def test_occurrence_boundaries(at, active):
    occurrence = maintenance.current(WINDOW, at)
    assert (occurrence is not None) is active
    if active:
        assert (occurrence.start, occurrence.end) == (START, START + timedelta(hours=2))
        assert occurrence.silence_id == f"maintenance:weekly-ds-upgrade@{occurrence.start.isoformat()}"


def test_overview_shows_active_and_next():
    (row,) = maintenance.overview((WINDOW,), START + timedelta(minutes=5))
    assert datetime.fromisoformat(row["active_until"]) == START + timedelta(hours=2)
    assert datetime.fromisoformat(row["next_start"]) == START + timedelta(days=7)
    assert maintenance.overview((WINDOW,), NOW, project="bi-reports") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("maintenance: {name: x}", "maintenance must be a list"),
        ("maintenance: [{cron: '0 0 2 * * ?', duration_minutes: 5}]", "maintenance[0].name is required"),
        ("maintenance: [{name: x, cron: '0 0 2 * * ?', duration_minutes: 0}]", "duration_minutes"),
        ("maintenance: [{name: x, cron: '0 0 25 * * ?', duration_minutes: 5}]", "maintenance[x].cron"),
        ("maintenance: [{name: x, cron: '0 0 2 * * ?', duration_minutes: 5, timezone: Mars/Base}]", "timezone"),
        ("maintenance: [{name: x, cron: '0 0 2 * * ?', duration_minutes: 5, recover: maybe}]", "recover"),
        ("maintenance: [{name: x, cron: '0 0 2 * * ?', duration_minutes: 5, when: now}]", "unknown key when"),
    ],
    ids=["not-a-list", "no-name", "zero-duration", "bad-cron", "bad-zone", "bad-recover", "unknown-key"],
)
def test_config_errors_name_the_window(tmp_path, body, message):
    path = tmp_path / "config.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(str(path), environ={}, dotenv_path=None)


def test_config_reads_a_window_with_defaults(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("maintenance:\n  - {name: nightly, cron: '0 30 1 * * ?', duration_minutes: 30}\n")
    (window,) = load_config(str(path), environ={}, dotenv_path=None).config.maintenance
    assert window == MaintenanceWindow("nightly", "0 30 1 * * ?", 30.0, "UTC", ("*",), True)


def test_a_window_mutes_and_withholds_then_announces_what_is_still_open(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: START)
    project = sim.add_project("data-platform")
    definition = sim.add_definition(project, "daily_etl_job")
    instance = sim.add_instance(
        definition, state=FAILURE, start_time=START + minutes(10), end_time=START + minutes(15),
        command_type="START_PROCESS",
    )
    sender = RecordingSender()
    config = replace(make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}), maintenance=(WINDOW,))
    monitor = make_monitor(config, senders=[sender])

    during = monitor.sweep(START + minutes(20))
    assert during.ok, during.error
    assert len(during.failed_instances) == 1, during.to_dict()
    assert [row.silence_id for row in during.silenced] == [maintenance.current(WINDOW, START).silence_id]
    assert [row.result for row in during.recoveries] == ["silenced"]
    assert sender.digests == []
    (row,) = collect_status(config, START + minutes(20))["maintenance"]
    assert datetime.fromisoformat(row["active_until"]) == START + timedelta(hours=2)

    after = monitor.sweep(START + minutes(121))
    assert [(row.instance_id, row.result) for row in after.recoveries] == [(instance, "triggered")]
    kinds = [item.kind for digest in sender.digests for item in digest.items]
    assert kinds.count("failure_detected") == 1

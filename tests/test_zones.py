"""One zone parser for every zone name the monitor reads (DS's Java ZoneId names included)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor import cron
from ds_monitor.zones import parse_zone
from tests.schedule.factories import checked_state, definition, schedule, tracker

NOON_UTC = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("name", "offset_hours"),
    [
        ("Asia/Shanghai", 8),
        ("America/New_York", -4),  # NOON_UTC is in June (EDT)
        ("GMT+8", 8),
        ("GMT+08:00", 8),
        ("UTC+8", 8),
        ("+08:00", 8),
        ("Etc/GMT-8", 8),
        ("GMT-5", -5),
        ("UTC-03:30", -3.5),
        ("UTC-05:30", -5.5),
        ("Z", 0),
        ("UTC", 0),
        (" Asia/Shanghai ", 8),
    ],
    ids=str,
)
def test_zone_names_ds_accepts_all_evaluate(name, offset_hours):
    assert NOON_UTC.astimezone(parse_zone(name)).utcoffset() == timedelta(hours=offset_hours)


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "GMT+19", "GMT+25", "+25:00", "Asia/Shanghai/x", "not a zone"], ids=repr
)
def test_unknown_zones_are_value_errors_naming_the_zone(name):
    with pytest.raises(ValueError, match="time zone"):
        parse_zone(name)


def test_cron_fires_in_an_offset_zone():
    fires = cron.next_fire_times("0 0 2 * * ? *", parse_zone("GMT+8"), NOON_UTC, 1)
    assert fires[0].utcoffset() == timedelta(hours=8) and fires[0].hour == 2


@pytest.mark.parametrize("name", ["GMT+8", "UTC+08:00", "Etc/GMT-8", "Asia/Shanghai"], ids=str)
def test_the_cron_command_speaks_the_same_zone_names(run_cli, name):
    result = run_cli("cron", "0 0 2 * * ? *", "--tz", name, "--from", NOON_UTC.isoformat(), "-n", "1")
    assert (result.exit_code, result.stdout) == (0, "2026-06-02T02:00:00+08:00\n"), result.stderr


@pytest.mark.parametrize("zone", ["GMT+8", "GMT+08:00", "UTC+8", "Etc/GMT-8", "Asia/Shanghai"], ids=str)
def test_a_schedule_in_an_offset_zone_is_skipped_outside_its_window(zone):
    """Issue 14: a ``GMT+8`` schedule planned as "unknown time zone" and was looked at on every sweep."""
    scheduled = schedule(timezone_id=zone)
    t = tracker(max_unchecked=timedelta(hours=48))
    now = datetime(2026, 11, 23, 12, 0, tzinfo=parse_zone("Asia/Shanghai"))
    state = checked_state(t, now - timedelta(minutes=5), schedules=[scheduled])
    plan = t.plan([definition()], [scheduled], state, now, busy_definitions=frozenset())
    assert 1 in plan.skipped, plan.looks.get(1)


def test_a_schedule_in_an_unknown_zone_is_looked_at_every_sweep():
    scheduled = schedule(timezone_id="Mars/Olympus")
    assert scheduled.tz is None
    t = tracker(max_unchecked=timedelta(hours=48))
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    state = checked_state(t, now - timedelta(minutes=5), schedules=[scheduled])
    plan = t.plan([definition()], [scheduled], state, now, busy_definitions=frozenset())
    assert "unknown timezoneId 'Mars/Olympus'" in plan.looks[1]

"""The tracker's state: JSON round trip, pruning, immutability of the input, ``status`` rows, settings."""

from __future__ import annotations

import json
from datetime import timedelta

from ds_monitor.config import MonitorConfig
from ds_monitor.ds.models import RUNNING_EXECUTION, SUCCESS
from ds_monitor.schedule import STATE_VERSION, TrackerSettings, schedule_status
from tests.schedule.factories import (
    HOURLY,
    PROJECT,
    at,
    checked_state,
    definition,
    instance,
    schedule,
    simulate,
    tracker,
)

DAY = "2026-11-23"


def day(hhmm: str):
    return at(f"{DAY} {hhmm}")


def _busy_day():
    """Two definitions over a morning: a daily one that succeeds; an hourly one that misses the 03:00 fire
    and hangs from 05:00, so the 06:00 and 07:00 fires get no instance either."""
    defs = [definition(1), definition(2)]
    scheds = [schedule(1), schedule(2, crontab=HOURLY)]
    hung = instance(20, RUNNING_EXECUTION, day("05:00:02"), definition_code=2, schedule_time=day("05:00"))

    def instances_at(now):
        runs = [instance(10, SUCCESS, day("02:00:02"), schedule_time=day("02:00"), end_time=day("02:07"))]
        runs += [instance(20 + h, SUCCESS, day(f"{h:02}:00:01"), definition_code=2,
                          schedule_time=day(f"{h:02}:00"), end_time=day(f"{h:02}:03"))
                 for h in range(0, 5) if h != 3]
        return [r for r in [*runs, hung] if r.start_time <= now]

    t = tracker()
    state = checked_state(t, day("00:00"), definitions=defs, schedules=scheds)
    sweeps, missed, stuck, state = simulate(t, defs, scheds, day("00:05"), day("08:00"),
                                            instances_at=instances_at, state=state)
    return t, defs, scheds, missed, stuck, state


def test_state_round_trips_through_json():
    t, defs, scheds, missed, stuck, state = _busy_day()
    assert [run.fire_time for _, run in missed] == [day("03:00"), day("06:00"), day("07:00")]
    assert [run.instance_id for _, run in stuck] == [20]
    restored = json.loads(json.dumps(state))
    assert restored == state
    assert restored["version"] == STATE_VERSION
    for now in (day("08:00"), day("08:20"), day("09:00")):
        assert t.plan(defs, scheds, restored, now) == t.plan(defs, scheds, state, now)
    again = t.observe(PROJECT, defs, scheds, [], day("08:05") - timedelta(hours=24), restored, day("08:05"))
    assert again[:2] == ([], [])


def test_observe_replaces_entries_and_never_modifies_one():
    t = tracker()
    ok = instance(10, SUCCESS, day("02:00:02"), schedule_time=day("02:00"), end_time=day("02:07"))
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    before = state["definitions"]["1"]
    snapshot = json.dumps(before, sort_keys=True)
    now = day("02:30")
    _, _, after = t.observe(PROJECT, [definition()], [schedule()], [ok], now - timedelta(hours=24), state, now)
    assert after is state  # updated in place: no copy of every entry per project
    assert after["definitions"]["1"] is not before
    assert after["definitions"]["1"]["successes"]
    assert json.dumps(before, sort_keys=True) == snapshot


def test_old_entries_are_pruned():
    t = tracker(state_retention=timedelta(days=8))
    ok = instance(10, SUCCESS, day("02:00:02"), schedule_time=day("02:00"), end_time=day("02:07"))
    state = checked_state(t, day("02:10"), definitions=[definition(1), definition(2)], schedules=[schedule()],
                          instances=[ok])
    assert "2026-11-22T18:00:00+00:00" in state["definitions"]["1"]["successes"]
    # Only definition 1 is checked from now on; definition 2 has gone from the project.
    now = day("02:10")
    for _ in range(9):
        now += timedelta(days=1)
        window_start = now - timedelta(hours=24)
        _, _, state = t.observe(PROJECT, [definition(1)], [schedule()], [], window_start, state, now)
        state = t.forget_stale(state, now)
    assert set(state["definitions"]) == {"1"}
    successes = state["definitions"]["1"]["successes"]
    assert "2026-11-22T18:00:00+00:00" not in successes


def test_status_rows():
    _, _, _, _, _, state = _busy_day()
    rows = schedule_status(state, day("08:01"))
    assert [row["definition_code"] for row in rows] == [1, 2]
    daily, hourly = rows
    assert daily["project_code"] == PROJECT
    assert daily["last_checked"] == "2026-11-23T07:55+08:00"
    assert daily["next_look"] == "2026-11-23T08:10+08:00"
    assert (daily["missed_reported"], daily["stuck_reported"]) == (0, 0)
    assert hourly["next_look"] == "due"
    assert hourly["reason"].startswith("execution window of the 2026-11-23T06:00+08:00 fire")
    assert (hourly["missed_reported"], hourly["stuck_reported"]) == (3, 1)
    assert schedule_status({}, day("08:01")) == []


def test_settings_from_config():
    monitor = MonitorConfig(enable_schedule_optimization=False, execution_window_hours=2.5,
                            success_cooldown_minutes=10, max_unchecked_minutes=0, missed_run_grace_minutes=45,
                            time_window_hours=48)
    assert TrackerSettings.from_config(monitor) == TrackerSettings(
        enabled=False, execution_window=timedelta(hours=2.5), success_cooldown=timedelta(minutes=10),
        max_unchecked=timedelta(0), missed_run_grace=timedelta(minutes=45),
        state_retention=timedelta(days=9))


def test_plan_leaves_the_given_state_alone():
    t = tracker()
    state = {"version": STATE_VERSION, "definitions": {"1": {"last_checked": "2026-11-22T18:00:00+00:00",
                                                              "successes": "not a table"}}}
    snapshot = json.dumps(state, sort_keys=True)
    t.plan([definition()], [schedule()], state, day("02:05"))
    t.explain(definition(), schedule(), state, day("02:05"))
    schedule_status(state, day("02:05"))
    assert json.dumps(state, sort_keys=True) == snapshot

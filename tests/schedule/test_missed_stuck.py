"""ScheduleTracker.observe: missed runs (a fire without an instance), stuck runs (an instance that hangs)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ds_monitor.ds.models import FAILURE, OFFLINE, RUNNING_EXECUTION, SUBMITTED_SUCCESS, SUCCESS
from ds_monitor.schedule import MissedRun
from tests.schedule.factories import (
    HOURLY,
    PROJECT,
    at,
    checked_state,
    definition,
    instance,
    schedule,
    simulate,
    sweep_times,
    tracker,
)

DAY = "2026-11-23"
WINDOW = timedelta(hours=24)
FIRE = at(f"{DAY} 02:00")


def day(hhmm: str) -> datetime:
    return at(f"{DAY} {hhmm}")


def every(start: str, end: str, step_minutes: int) -> list[datetime]:
    return sweep_times(day(start), day(end), timedelta(minutes=step_minutes))


def observe(t, state, now, *, schedules=None, instances=(), window_start=None):
    schedules = [schedule()] if schedules is None else schedules
    return t.observe(PROJECT, [definition()], schedules, list(instances),
                     window_start or now - WINDOW, state, now)


# ----------------------------------------------------------------------------------------------
# Missed runs
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("02:29:59", [], id="just-before-grace"),
        pytest.param("02:30:00", [FIRE], id="at-grace"),
        pytest.param("02:30:01", [FIRE], id="just-after-grace"),
    ],
)
def test_fire_without_instance_is_missed_after_the_grace(now, expected):
    t = tracker()
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    missed, _, _ = observe(t, state, day(now))
    assert [run.fire_time for run in missed] == expected


def test_missed_run_names_the_definition_and_the_fire():
    t = tracker()
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    missed, _, _ = observe(t, state, day("02:30"))
    assert missed == [
        MissedRun(project_code=PROJECT, definition_code=1, definition_name="wf_1", fire_time=FIRE)]
    assert missed[0].fire_time.utcoffset() == timedelta(hours=8)


def test_missed_fire_is_reported_once_within_grace_plus_one_interval():
    t = tracker()
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    _, missed, _, _ = simulate(t, [definition()], [schedule()], day("00:05"), at("2026-11-25 00:00"),
                               state=state)
    assert [(seen, run.fire_time) for seen, run in missed] == [
        (day("02:30"), FIRE), (at("2026-11-24 02:30"), at("2026-11-24 02:00"))]


def test_missed_run_is_reported_once_across_restarts_of_the_tracker():
    state = checked_state(tracker(), day("00:00"), schedules=[schedule()])
    first, _, state = observe(tracker(), state, day("02:30"))
    again, _, _ = observe(tracker(), state, day("02:45"))
    assert len(first) == 1
    assert again == []


@pytest.mark.parametrize(
    ("instances", "expected"),
    [
        pytest.param([instance(3, FAILURE, day("02:00:04"), schedule_time=FIRE)], 0,
                     id="failed-run-of-the-fire"),
        pytest.param([instance(3, SUBMITTED_SUCCESS, day("02:20"), schedule_time=FIRE)], 0, id="queued-run"),
        pytest.param([instance(3, SUCCESS, day("02:05"))], 1, id="manual-run-only"),
        pytest.param([instance(3, SUCCESS, day("01:00:04"), schedule_time=day("01:00"))], 1,
                     id="run-of-another-fire"),
    ],
)
def test_an_instance_of_the_fire_in_any_state_means_not_missed(instances, expected):
    t = tracker()
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    missed, _, _ = observe(t, state, day("02:40"), instances=instances)
    assert len(missed) == expected


def test_no_flood_on_first_start():
    t = tracker()
    missed, _, state = observe(t, {}, day("12:00"), schedules=[schedule(crontab=HOURLY)])
    assert missed == []
    later, _, _ = observe(t, state, day("13:30"), schedules=[schedule(crontab=HOURLY)])
    assert [run.fire_time for run in later] == [day("13:00")]


@pytest.mark.parametrize(
    ("window_start", "expected"),
    [
        pytest.param("01:59:59", [FIRE], id="window-starts-just-before-fire"),
        pytest.param("02:00:00", [], id="window-starts-at-fire"),
        pytest.param("02:00:01", [], id="window-starts-after-fire"),
    ],
)
def test_only_fires_inside_the_queried_window_are_judged(window_start, expected):
    t = tracker()
    state = checked_state(t, at("2026-11-20 00:00"), schedules=[schedule()])
    missed, _, _ = observe(t, state, day("03:00"), window_start=day(window_start))
    assert [run.fire_time for run in missed] == expected


def test_a_long_outage_reports_only_fires_inside_the_window():
    hourly = [schedule(crontab=HOURLY)]
    t = tracker()
    state = checked_state(t, at("2026-11-18 00:00"), schedules=hourly)
    missed, _, _ = observe(t, state, day("12:00"), schedules=hourly, window_start=day("06:00"))
    assert [run.fire_time for run in missed] == [day(f"{h:02}:00") for h in range(7, 12)]


def test_a_changed_schedule_is_judged_from_the_change_only():
    t = tracker()
    state = checked_state(t, day("00:00"), schedules=[schedule(crontab="0 0 5 * * ? *")])
    missed, _, _ = observe(t, state, day("02:30"))
    assert missed == []


@pytest.mark.parametrize(
    "sched",
    [
        pytest.param(schedule(release_state=OFFLINE), id="offline"),
        pytest.param(schedule(end_time=day("02:10")), id="ended"),
        pytest.param(schedule(crontab="nonsense"), id="unparseable"),
    ],
)
def test_no_missed_run_for_offline_ended_or_unreadable_schedules(sched):
    t = tracker()
    state = checked_state(t, day("00:00"), schedules=[sched])
    missed, _, _ = observe(t, state, day("03:00"), schedules=[sched])
    assert missed == []


def test_schedule_with_end_time_ahead_still_reports_fires_before_it():
    sched = schedule(end_time=day("03:10"))
    t = tracker()
    state = checked_state(t, day("00:00"), schedules=[sched])
    missed, _, _ = observe(t, state, day("03:00"), schedules=[sched])
    assert [run.fire_time for run in missed] == [FIRE]


# ----------------------------------------------------------------------------------------------
# Stuck runs
# ----------------------------------------------------------------------------------------------

HUNG = instance(9, RUNNING_EXECUTION, day("02:00:05"), schedule_time=FIRE)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("04:00:04", False, id="just-before-window-after-start"),
        pytest.param("04:00:05", True, id="at-window-after-start"),
        pytest.param("04:00:06", True, id="just-after-window-after-start"),
    ],
)
def test_instance_active_an_execution_window_after_its_start_is_stuck(now, expected):
    t = tracker(execution_window=timedelta(hours=2))
    state = checked_state(t, day("02:05"), schedules=[schedule()], instances=[HUNG])
    _, stuck, _ = observe(t, state, day(now), instances=[HUNG])
    assert bool(stuck) is expected
    if expected:
        assert stuck[0].instance_id == 9
        assert stuck[0].start_time == day("02:00:05")
        assert (stuck[0].window, stuck[0].next_fire) == (timedelta(hours=2), None)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("02:59:59", False, id="just-before-next-fire"),
        pytest.param("03:00:00", True, id="at-next-fire"),
    ],
)
def test_instance_still_active_when_the_next_fire_arrives_is_stuck(now, expected):
    hourly = [schedule(crontab=HOURLY)]
    t = tracker(execution_window=timedelta(hours=4))
    state = checked_state(t, day("02:05"), schedules=hourly, instances=[HUNG])
    _, stuck, _ = observe(t, state, day(now), schedules=hourly, instances=[HUNG])
    assert bool(stuck) is expected
    if expected:
        assert (stuck[0].window, stuck[0].next_fire) == (None, day("03:00"))


def test_hung_instance_is_reported_once():
    def instances_at(now):
        return [HUNG] if now >= HUNG.start_time else []

    t = tracker(execution_window=timedelta(hours=2))
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    sweeps, missed, stuck, _ = simulate(t, [definition()], [schedule()], day("00:05"), day("12:00"),
                                        instances_at=instances_at, state=state)
    assert [(seen, run.instance_id) for seen, run in stuck] == [(day("04:05"), 9)]
    assert missed == []
    # Every sweep while it may still fail, up to the stuck report; then the bound suffices.
    looks = [now for now, looked, _ in sweeps if looked and now >= day("02:00")]
    assert looks == every("02:00", "04:10", 5) + every("04:20", "12:00", 15)


@pytest.mark.parametrize(
    "schedules",
    [
        pytest.param([schedule(release_state=OFFLINE)], id="offline"),
        pytest.param([schedule(end_time=day("02:10"))], id="ended"),
        pytest.param([], id="no-schedule"),
    ],
)
def test_no_stuck_run_without_an_online_schedule_in_force(schedules):
    t = tracker(execution_window=timedelta(hours=2))
    state = checked_state(t, day("02:05"), schedules=schedules, instances=[HUNG])
    _, stuck, _ = observe(t, state, day("10:00"), schedules=schedules, instances=[HUNG])
    assert stuck == []


def test_finished_instance_is_not_stuck():
    done = instance(9, FAILURE, day("02:00:05"), schedule_time=FIRE, end_time=day("02:30"))
    t = tracker(execution_window=timedelta(hours=2))
    state = checked_state(t, day("02:05"), schedules=[schedule()], instances=[HUNG])
    _, stuck, _ = observe(t, state, day("10:00"), instances=[done])
    assert stuck == []

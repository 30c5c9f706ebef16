"""ScheduleTracker.plan: which definitions need a look, at the boundaries of every rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ds_monitor.ds.models import FAILURE, OFFLINE, RUNNING_EXECUTION, SUCCESS
from tests.schedule.factories import (
    DAILY_0200,
    HOURLY,
    PROJECT,
    at,
    checked_state,
    definition,
    instance,
    look_times,
    schedule,
    simulate,
    sweep_times,
    tracker,
)

UTC = timezone.utc
DAY = "2026-11-23"
NO_BOUND_TODAY = timedelta(hours=48)  # keeps the max_unchecked bound out of a one-day picture


def day(hhmm: str) -> datetime:
    return at(f"{DAY} {hhmm}")


def every(start: str, end: str, step_minutes: int) -> list[datetime]:
    return sweep_times(day(start), day(end), timedelta(minutes=step_minutes))


def looks_at(tracker_, state, now, *, schedules=(), busy=frozenset()) -> tuple[bool, str]:
    plan = tracker_.plan([definition()], list(schedules), state, now, busy_definitions=busy)
    if 1 in plan.looks:
        return True, plan.looks[1]
    return False, plan.skipped[1]


# ----------------------------------------------------------------------------------------------
# The execution window of a daily 02:00 Asia/Shanghai schedule (window 2 h)
# ----------------------------------------------------------------------------------------------

def test_daily_schedule_is_looked_at_from_its_fire_time_to_the_end_of_its_window_only():
    t = tracker(max_unchecked=NO_BOUND_TODAY)
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    sweeps, _, _, _ = simulate(t, [definition()], [schedule()], day("00:05"), at("2026-11-24 00:00"),
                               state=state)
    assert look_times(sweeps) == every("02:00", "04:00", 5)


def test_max_unchecked_bound_adds_looks_outside_the_window():
    t = tracker(max_unchecked=timedelta(minutes=15))
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    sweeps, _, _, _ = simulate(t, [definition()], [schedule()], day("00:05"), at("2026-11-24 00:00"),
                               state=state)
    expected = every("00:15", "02:00", 15) + every("02:00", "04:00", 5) + every("04:10", "23:59", 15)
    assert look_times(sweeps) == expected


@pytest.mark.parametrize(
    ("settings_", "reason"),
    [
        pytest.param({"max_unchecked": timedelta(0)}, "max_unchecked_minutes is 0", id="bound-0-every-sweep"),
        pytest.param({"enabled": False}, "optimisation is off", id="optimisation-off-every-sweep"),
    ],
)
def test_every_sweep_looks_when_the_bound_is_zero_or_optimisation_is_off(settings_, reason):
    t = tracker(**settings_)
    state = checked_state(t, day("00:00"), schedules=[schedule()])
    sweeps, _, _, _ = simulate(t, [definition()], [schedule()], day("00:05"), day("12:00"), state=state)
    assert all(looked for _, looked, _ in sweeps)
    assert all(reason in why for _, _, why in sweeps)


def test_optimisation_off_saves_no_calls():
    t = tracker(enabled=False)
    plan = t.plan([definition(1), definition(2, project_code=200)], [], {}, day("10:00"))
    assert plan.projects_to_query == {PROJECT, 200}
    assert plan.calls_saved == 0


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("01:59:59", False, id="just-before-fire"),
        pytest.param("02:00:00", True, id="at-fire"),
        pytest.param("02:00:01", True, id="just-after-fire"),
        pytest.param("03:59:59", True, id="just-before-window-end"),
        pytest.param("04:00:00", False, id="at-window-end"),
        pytest.param("04:00:01", False, id="just-after-window-end"),
    ],
)
def test_window_boundaries(now, expected):
    t = tracker(max_unchecked=NO_BOUND_TODAY)
    state = checked_state(t, day("01:00"), schedules=[schedule()])
    looked, reason = looks_at(t, state, day(now), schedules=[schedule()])
    assert looked is expected, reason
    if expected:
        assert "execution window of the 2026-11-23T02:00+08:00 fire (until 2026-11-23T04:00+08:00)" in reason
    else:
        assert "next fire 2026-11-2" in reason


# ----------------------------------------------------------------------------------------------
# A success stops the looks; the bound is never suspended
# ----------------------------------------------------------------------------------------------

FIRE = day("02:00")


def _success_seen_at_0210(t):
    ok = instance(7, SUCCESS, day("02:00:03"), schedule_time=FIRE, end_time=day("02:10"))
    return checked_state(t, day("02:10"), schedules=[schedule()], instances=[ok])


@pytest.mark.parametrize(
    ("now", "expected", "cooling"),
    [
        pytest.param("02:10:00", False, True, id="at-success"),
        pytest.param("02:39:59", False, True, id="just-before-cooldown-end"),
        pytest.param("02:40:00", False, False, id="at-cooldown-end-falls-back-to-bound"),
        pytest.param("03:09:59", False, False, id="just-before-bound"),
        pytest.param("03:10:00", True, False, id="at-bound"),
        pytest.param("03:10:01", True, False, id="just-after-bound"),
    ],
)
def test_success_at_0210_stops_looks_until_the_cooldown_then_the_bound_decides(now, expected, cooling):
    t = tracker(max_unchecked=timedelta(minutes=60))
    state = _success_seen_at_0210(t)
    looked, reason = looks_at(t, state, day(now), schedules=[schedule()])
    assert looked is expected, reason
    assert ("cooldown until 2026-11-23T02:40+08:00" in reason) is cooling
    if not expected:
        assert "2026-11-23T02:00+08:00 fire succeeded" in reason


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("02:24:59", False, id="just-before-bound"),
        pytest.param("02:25:00", True, id="at-bound-inside-cooldown"),
    ],
)
def test_a_bound_shorter_than_the_cooldown_still_holds(now, expected):
    t = tracker(max_unchecked=timedelta(minutes=15))
    state = _success_seen_at_0210(t)
    looked, reason = looks_at(t, state, day(now), schedules=[schedule()])
    assert looked is expected, reason


def test_day_with_a_success_at_0210():
    def instances_at(now):
        if now < day("02:00:03"):
            return []
        if now < day("02:10"):
            return [instance(7, RUNNING_EXECUTION, day("02:00:03"), schedule_time=FIRE)]
        return [instance(7, SUCCESS, day("02:00:03"), schedule_time=FIRE, end_time=day("02:10"))]

    t = tracker(max_unchecked=timedelta(minutes=60))
    state = checked_state(t, day("01:30"), schedules=[schedule()])
    sweeps, missed, _, _ = simulate(t, [definition()], [schedule()], day("01:35"), day("05:00"),
                                    instances_at=instances_at, state=state)
    assert look_times(sweeps) == [day("02:00"), day("02:05"), day("02:10"), day("03:10"), day("04:10")]
    assert missed == []


def test_a_success_closes_only_its_own_fire():
    t = tracker(max_unchecked=NO_BOUND_TODAY)  # windows of 2 h: the 01:00 and 02:00 fires are open at 02:59
    hourly = schedule(crontab=HOURLY)
    runs = [instance(n, SUCCESS, day(f"0{n}:00:02"), schedule_time=day(f"0{n}:00"), end_time=day(f"0{n}:05"))
            for n in (1, 2)]
    state = checked_state(t, day("02:06"), schedules=[hourly], instances=runs)
    assert looks_at(t, state, day("02:59:59"), schedules=[hourly])[0] is False
    looked, reason = looks_at(t, state, day("03:00"), schedules=[hourly])
    assert looked
    assert "03:00+08:00 fire" in reason


# ----------------------------------------------------------------------------------------------
# Definitions without an online schedule, running instances, recoveries in flight
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param("10:14:59", False, id="just-before-bound"),
        pytest.param("10:15:00", True, id="at-bound"),
        pytest.param("10:15:01", True, id="just-after-bound"),
    ],
)
@pytest.mark.parametrize(
    "schedules",
    [
        pytest.param([], id="manual"),
        pytest.param([schedule(release_state=OFFLINE)], id="offline-schedule"),
        pytest.param([schedule()], id="online-schedule-outside-window"),
    ],
)
def test_max_unchecked_bound(now, expected, schedules):
    t = tracker(max_unchecked=timedelta(minutes=15))
    state = checked_state(t, day("10:00"), schedules=schedules)
    looked, reason = looks_at(t, state, day(now), schedules=schedules)
    assert looked is expected, reason
    if expected:
        assert "unchecked since" in reason


def test_unscheduled_definition_is_looked_at_no_less_often_than_the_bound():
    t = tracker(max_unchecked=timedelta(minutes=20))
    state = checked_state(t, day("00:00"))
    sweeps, _, _, _ = simulate(t, [definition()], [], day("00:05"), at("2026-11-24 00:00"), state=state)
    looks = [day("00:00"), *look_times(sweeps)]
    gaps = {later - earlier for earlier, later in zip(looks, looks[1:], strict=False)}
    # Sweeps come every 5 minutes, so the first sweep at or after the 20 minute bound is 20 minutes on.
    assert gaps == {timedelta(minutes=20)}


def test_unscheduled_definition_is_looked_at_every_sweep_while_an_instance_runs():
    def instances_at(now):
        if day("09:00") <= now < day("09:40"):
            return [instance(5, RUNNING_EXECUTION, day("09:00"))]
        return []

    t = tracker(max_unchecked=timedelta(minutes=30))
    state = checked_state(t, day("09:00"), instances=[instance(5, RUNNING_EXECUTION, day("09:00"))])
    sweeps, _, _, _ = simulate(t, [definition()], [], day("09:05"), day("11:00"), instances_at=instances_at,
                               state=state)
    assert look_times(sweeps) == every("09:05", "09:45", 5) + [day("10:10"), day("10:40")]
    assert "instance 5 was active at the last look" in sweeps[0][2]


def test_recovery_in_flight_means_a_look():
    t = tracker(max_unchecked=timedelta(minutes=30))
    state = checked_state(t, day("10:00"))
    assert looks_at(t, state, day("10:05"))[0] is False
    assert looks_at(t, state, day("10:05"), busy=frozenset({1})) == (True, "a recovery is in flight")


# ----------------------------------------------------------------------------------------------
# Start and end of a schedule
# ----------------------------------------------------------------------------------------------

def test_schedule_past_its_end_time_is_looked_at_by_the_bound_only():
    ended = schedule(end_time=at("2026-11-01 00:00"))
    t = tracker(max_unchecked=timedelta(minutes=15))
    state = checked_state(t, day("00:00"), schedules=[ended])
    sweeps, missed, stuck, _ = simulate(t, [definition()], [ended], day("00:05"), at("2026-11-24 00:00"),
                                        state=state)
    assert look_times(sweeps) == every("00:15", "23:59", 15)
    assert "ended 2026-11-01T00:00+08:00" in sweeps[0][2]
    assert missed == [] and stuck == []


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param("2026-11-23 02:00:01", False, id="start-just-after-fire"),
        pytest.param("2026-11-23 02:00:00", True, id="start-at-fire"),
        pytest.param("2026-11-23 01:59:59", True, id="start-just-before-fire"),
    ],
)
def test_fires_before_the_start_time_do_not_count(start, expected):
    later = schedule(start_time=at(start))
    t = tracker(max_unchecked=NO_BOUND_TODAY)
    state = checked_state(t, day("01:00"), schedules=[later])
    looked, reason = looks_at(t, state, day("02:30"), schedules=[later])
    assert looked is expected, reason


# ----------------------------------------------------------------------------------------------
# Fail-open
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("crontab", "zone", "why"),
    [
        pytest.param("not a cron", "Asia/Shanghai", "cannot evaluate schedule 10", id="unparseable-crontab"),
        pytest.param("0 0 2 * * 2 *", "Asia/Shanghai", "cannot evaluate schedule 10",
                     id="both-day-fields-set"),
        pytest.param(DAILY_0200, "Mars/Olympus_Mons", "cannot evaluate schedule 10", id="unknown-zone"),
        pytest.param(DAILY_0200, "", "has no timezoneId", id="empty-zone"),
        pytest.param("* * * * * ? *", "Asia/Shanghai", "fires more than", id="fires-too-often-to-track"),
    ],
)
def test_doubt_means_a_look(crontab, zone, why):
    odd = schedule(crontab=crontab, timezone_id=zone)
    t = tracker(max_unchecked=NO_BOUND_TODAY)
    state = checked_state(t, day("10:00"), schedules=[odd])
    looked, reason = looks_at(t, state, day("10:05"), schedules=[odd])
    assert looked, reason
    assert why in reason


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({}, id="empty"),
        pytest.param({"version": 99, "definitions": {"1": {"last_checked": "2026-11-23T02:00:00+00:00"}}},
                     id="other-version"),
        pytest.param({"version": 1, "definitions": {"1": {"last_checked": "yesterday"}}}, id="bad-time"),
        pytest.param({"version": 1, "definitions": {"1": {"last_checked": "2026-11-23T02:00:00"}}},
                     id="naive-time"),
        pytest.param({"version": 1, "definitions": {"1": "garbage"}}, id="garbage-entry"),
        pytest.param({"version": 1, "definitions": []}, id="garbage-definitions"),
        pytest.param([], id="not-a-dict"),
    ],
)
def test_missing_or_unreadable_state_means_a_look(state):
    t = tracker(max_unchecked=NO_BOUND_TODAY)
    assert looks_at(t, state, day("10:05"), schedules=[schedule()])[0] is True


# ----------------------------------------------------------------------------------------------
# DST: windows are measured in elapsed time, not wall-clock time
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("zone", "fire_day", "window", "last_inside", "first_outside"),
    [
        # 00:30 CET = 23:30Z; 4 h later is 03:30Z = 05:30 CEST (wall-clock arithmetic would say 04:30).
        pytest.param("Europe/Berlin", "2026-03-29", 4, "2026-03-29T03:29:59+00:00",
                     "2026-03-29T03:30:00+00:00", id="berlin-spring-forward"),
        # 00:30 EDT = 04:30Z; 2 h later is 06:30Z = the second 01:30 (EST).
        pytest.param("America/New_York", "2026-11-01", 2, "2026-11-01T06:29:59+00:00",
                     "2026-11-01T06:30:00+00:00", id="new-york-fall-back"),
    ],
)
def test_window_spans_real_elapsed_time_across_dst(zone, fire_day, window, last_inside, first_outside):
    local = ZoneInfo(zone)
    sched = schedule(crontab="0 30 0 * * ? *", timezone_id=zone)
    t = tracker(max_unchecked=NO_BOUND_TODAY, execution_window=timedelta(hours=window))
    state = checked_state(t, at(f"{fire_day} 00:00", local), schedules=[sched])
    inside = datetime.fromisoformat(last_inside).astimezone(local)
    outside = datetime.fromisoformat(first_outside).astimezone(local)
    assert looks_at(t, state, inside, schedules=[sched])[0] is True
    assert looks_at(t, state, outside, schedules=[sched])[0] is False
    assert looks_at(t, state, at(f"{fire_day} 00:30", local), schedules=[sched])[0] is True


# ----------------------------------------------------------------------------------------------
# Projects: a query covers every definition of the project
# ----------------------------------------------------------------------------------------------

def test_a_project_is_queried_when_one_definition_needs_it_and_covers_the_rest():
    t = tracker(max_unchecked=NO_BOUND_TODAY)
    defs = [definition(1), definition(2), definition(3, project_code=200), definition(4, project_code=300)]
    scheds = [schedule(1), schedule(2, crontab="0 0 9 * * ? *"), schedule(3, crontab="0 0 9 * * ? *")]
    state = checked_state(t, day("01:00"), definitions=defs[:2], schedules=scheds)
    for project in (200, 300):
        _, _, state = t.observe(project, [d for d in defs if d.project_code == project], scheds, [],
                                day("01:00") - timedelta(hours=24), state, day("01:00"))
    plan = t.plan(defs, scheds, state, day("02:05"))
    assert plan.projects_to_query == {PROJECT}
    assert "execution window" in plan.looks[1]
    assert plan.looks[2] == f"covered by the query of project {PROJECT}"
    assert set(plan.skipped) == {3, 4}
    assert plan.skipped[3].startswith("next fire 2026-11-23T09:00+08:00")
    assert plan.skipped[4].startswith("no online schedule")
    assert plan.calls_saved == 2


def test_explain_says_why():
    t = tracker(max_unchecked=NO_BOUND_TODAY)
    state = checked_state(t, day("01:00"), schedules=[schedule()])
    assert t.explain(definition(), schedule(), state, day("01:30")) == (
        "wf_1 (1): skip: next fire 2026-11-23T02:00+08:00; bound look at 2026-11-25T01:00+08:00")
    assert t.explain(definition(), schedule(), state, day("02:30")).startswith(
        "wf_1 (1): look: execution window of the 2026-11-23T02:00+08:00 fire")
    assert t.explain(definition(), None, {}, day("02:30")) == "wf_1 (1): look: not checked yet"


def test_a_failed_run_seen_ending_closes_its_window_like_a_success():
    def instances_at(now):
        if now < day("02:00:03"):
            return []
        if now < day("02:10"):
            return [instance(7, RUNNING_EXECUTION, day("02:00:03"), schedule_time=FIRE)]
        return [instance(7, FAILURE, day("02:00:03"), schedule_time=FIRE, end_time=day("02:10"))]

    t = tracker(max_unchecked=timedelta(minutes=60))
    state = checked_state(t, day("01:30"), schedules=[schedule()])
    sweeps, _, _, _ = simulate(t, [definition()], [schedule()], day("01:35"), day("05:00"),
                               instances_at=instances_at, state=state)
    # Reported at 02:10; afterwards only the bound (a recovery would make the definition busy instead).
    assert look_times(sweeps) == [day("02:00"), day("02:05"), day("02:10"), day("03:10"), day("04:10")]

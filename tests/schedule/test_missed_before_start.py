"""Missed runs from before the monitor's first start or a state loss (spec section 4), judged from the
schedule's own updateTime, and the re-enabled schedule that updateTime cannot reveal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ds_monitor.ds.models import OFFLINE, SUCCESS
from tests.schedule.factories import PROJECT, at, definition, instance, schedule, tracker

DAY = "2026-11-23"
WINDOW = timedelta(hours=24)
FIRE = at(f"{DAY} 02:00")


def day(hhmm: str) -> datetime:
    return at(f"{DAY} {hhmm}")


def edited(when: datetime | None, **kwargs):
    return replace(schedule(**kwargs), create_time=at("2026-01-01 00:00"), update_time=when)


def observe(t, state, now, sched, instances=()):
    return t.observe(PROJECT, [definition()], [sched], list(instances), now - WINDOW, state, now)


@pytest.mark.parametrize(
    ("update_time", "expected"),
    [
        pytest.param(at("2026-11-01 00:00"), [FIRE], id="edited-weeks-ago"),
        pytest.param(FIRE - timedelta(seconds=1), [FIRE], id="edited-just-before-the-fire"),
        pytest.param(FIRE, [], id="edited-at-the-fire"),
        pytest.param(day("02:10"), [], id="edited-after-the-fire"),
        pytest.param(None, [FIRE], id="no-update-time-uses-create-time"),
    ],
)
def test_a_fire_missed_before_the_first_sweep_ever_is_reported(update_time, expected):
    # The first sweep ever runs 50 minutes after a fire that DS never started.
    missed, _, _ = observe(tracker(), {}, day("02:50"), edited(update_time))
    assert [run.fire_time for run in missed] == expected


def test_a_schedule_created_after_the_fire_is_not_a_false_alarm():
    created_later = replace(schedule(), create_time=day("02:10"), update_time=day("02:10"))
    missed, _, _ = observe(tracker(), {}, day("02:50"), created_later)
    assert missed == []


def test_without_any_edit_time_the_first_sight_bounds_as_before():
    missed, _, _ = observe(tracker(), {}, day("02:50"), schedule())
    assert missed == []


def test_reported_once_across_restarts_and_an_instance_of_the_fire_means_not_missed():
    sched = edited(at("2026-11-01 00:00"))
    missed, _, state = observe(tracker(), {}, day("02:50"), sched)
    assert [run.fire_time for run in missed] == [FIRE]
    again, _, _ = observe(tracker(), state, day("03:00"), sched)  # a restarted tracker, same state
    assert again == []
    ran = instance(7, SUCCESS, FIRE + timedelta(seconds=3), schedule_time=FIRE)
    assert observe(tracker(), {}, day("02:50"), sched, [ran])[0] == []


def test_a_schedule_switched_online_after_the_tracker_saw_it_offline_counts_from_that_moment():
    t = tracker()
    old_edit = at("2026-11-01 00:00")
    _, _, state = observe(t, {}, day("01:00"), edited(old_edit, release_state=OFFLINE))
    # Switched online at 02:05 without an edit (DS leaves updateTime alone): the 02:00 fire was not due.
    _, _, state = observe(t, state, day("02:05"), edited(old_edit))
    missed, _, state = observe(t, state, day("02:50"), edited(old_edit))
    assert missed == []
    # Tomorrow's fire is judged as usual.
    later, _, _ = observe(t, state, at("2026-11-24 02:40"), edited(old_edit))
    assert [run.fire_time for run in later] == [at("2026-11-24 02:00")]


def test_an_edit_after_the_offline_sighting_is_trusted_again():
    t = tracker()
    _, _, state = observe(t, {}, day("00:30"), edited(at("2026-11-01 00:00"), release_state=OFFLINE))
    # Edited (and so brought online) at 01:00, first seen online at 02:50: the 02:00 fire counts.
    missed, _, _ = observe(t, state, day("02:50"), edited(day("01:00")))
    assert [run.fire_time for run in missed] == [FIRE]

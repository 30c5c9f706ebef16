"""The announce-once memory and the product rate limit, as pure functions of (events, state, now)."""

import json
from datetime import timedelta

import pytest

from ds_monitor.config import RateLimitConfig
from ds_monitor.notify.events import Event
from ds_monitor.notify.ratelimit import STATE_VERSION, admit, prune, rate_limit_status
from tests.notify.conftest import T0

LIMIT = RateLimitConfig(max_per_window=6, window_hours=24)


def failure(definition=1, instance=100):
    return Event(
        "failure_detected",
        definition_code=definition,
        definition_name=f"wf{definition}",
        instance_id=instance,
        state="FAILURE",
    )


def restart(state: dict) -> dict:
    """What a restart does to the state: the lead's store writes it as JSON and reads it back."""
    return json.loads(json.dumps(state))


def test_first_run_starts_from_empty_state_and_sets_version():
    admission, state = admit([failure()], {}, T0, LIMIT)
    assert [e.instance_id for e in admission.admitted] == [100]
    assert state["version"] == STATE_VERSION


def test_same_incident_and_kind_is_announced_once_across_dispatches_and_restarts():
    _, state = admit([failure(), failure()], {}, T0, LIMIT)
    admission, state = admit([failure()], restart(state), T0 + timedelta(minutes=1), LIMIT)
    assert admission.admitted == () and admission.suppressed == ()


def test_follow_ups_of_an_incident_are_new_announcements():
    _, state = admit([failure()], {}, T0, LIMIT)
    follow_ups = [
        Event("recovery_triggered", definition_code=1, instance_id=100, attempt=1, max_attempts=3),
        Event("recovery_failed", definition_code=1, instance_id=100, attempt=1, max_attempts=3),
        Event("recovery_triggered", definition_code=1, instance_id=100, attempt=2, max_attempts=3),
    ]
    admission, state = admit(follow_ups, state, T0 + timedelta(minutes=1), LIMIT)
    assert [e.kind for e in admission.admitted] == [
        "recovery_triggered",
        "recovery_failed",
        "recovery_triggered",
    ]
    assert {e.incident_key for e in admission.admitted} == {"1:100"}


def test_rate_limit_over_ten_dispatches_counts_suppressed_and_reports_them_on_the_next_message():
    state: dict = {}
    outcomes = []
    for i in range(10):
        admission, state = admit([failure(instance=i)], restart(state), T0 + timedelta(hours=i), LIMIT)
        outcomes.append("sent" if admission.admitted else "suppressed")
    assert outcomes == ["sent"] * 6 + ["suppressed"] * 4
    assert state["rate"]["def:1"]["suppressed"] == 4

    # The first send (T0) leaves the 24-hour window at T0 + 24 h: the next message goes out then.
    admission, state = admit([failure(instance=99)], state, T0 + timedelta(hours=24), LIMIT)
    assert [e.instance_id for e in admission.admitted] == [99]
    assert admission.suppressed_before == {"def:1": 4}
    assert state["rate"]["def:1"]["suppressed"] == 0


@pytest.mark.parametrize(
    ("offset", "admitted"),
    [
        (timedelta(hours=24) - timedelta(seconds=1), False),
        (timedelta(hours=24), True),
        (timedelta(hours=24, seconds=1), True),
    ],
    ids=["just-before-window-end", "at-window-end", "just-after"],
)
def test_window_boundary(offset, admitted):
    one_per_day = RateLimitConfig(max_per_window=1, window_hours=24)
    _, state = admit([failure(instance=1)], {}, T0, one_per_day)
    admission, _ = admit([failure(instance=2)], state, T0 + offset, one_per_day)
    assert bool(admission.admitted) is admitted


def test_all_events_of_one_key_in_one_dispatch_are_one_message():
    admission, state = admit([failure(instance=i) for i in range(20)], {}, T0, LIMIT)
    assert len(admission.admitted) == 20
    assert len(state["rate"]["def:1"]["sent"]) == 1


def test_rate_keys_are_independent():
    one = RateLimitConfig(max_per_window=1, window_hours=24)
    _, state = admit([failure(definition=1, instance=1)], {}, T0, one)
    admission, _ = admit(
        [failure(definition=1, instance=2), failure(definition=2, instance=3)], state, T0, one
    )
    assert [e.definition_code for e in admission.admitted] == [2]
    assert [e.definition_code for e in admission.suppressed] == [1]


@pytest.mark.parametrize("kind", ["recovery_exhausted", "monitor_unhealthy"])
def test_never_suppressed_kinds_go_out_when_the_window_is_full(kind):
    one = RateLimitConfig(max_per_window=1, window_hours=24)
    _, state = admit([failure(instance=1), Event("monitor_recovered")], {}, T0, one)
    _, state = admit([failure(instance=2)], state, T0, one)  # suppressed
    event = Event(kind, definition_code=1, instance_id=1, attempt=3, max_attempts=3)
    admission, state = admit([event], state, T0 + timedelta(minutes=5), one)
    assert [e.kind for e in admission.admitted] == [kind]
    if kind == "recovery_exhausted":
        assert admission.suppressed_before == {"def:1": 1}


def test_monitor_health_flips_are_each_announced_once():
    kinds = [
        "monitor_unhealthy",
        "monitor_unhealthy",
        "monitor_recovered",
        "monitor_recovered",
        "monitor_unhealthy",
    ]
    announced = []
    state: dict = {}
    for i, kind in enumerate(kinds):
        admission, state = admit([Event(kind)], state, T0 + timedelta(minutes=i), LIMIT)
        announced += [e.kind for e in admission.admitted]
    assert announced == ["monitor_unhealthy", "monitor_recovered", "monitor_unhealthy"]


@pytest.mark.parametrize(
    ("offset", "announced_again"),
    [(timedelta(hours=23), False), (timedelta(hours=24), True)],
    ids=["within-window", "after-window"],
)
def test_persisting_systemic_failure_is_reminded_once_per_window(offset, announced_again):
    threshold = Event("threshold_exceeded", definition_code=5, failures=4)
    _, state = admit([threshold], {}, T0, LIMIT)
    admission, _ = admit([threshold], state, T0 + offset, LIMIT)
    assert bool(admission.admitted) is announced_again


@pytest.mark.parametrize(
    ("age", "kept"),
    [(timedelta(days=8) - timedelta(seconds=1), True), (timedelta(days=8), False)],
    ids=["just-inside-retention", "at-retention"],
)
def test_pruning_forgets_announcements_seven_days_past_the_window(age, kept):
    _, state = admit([failure()], {}, T0, LIMIT)
    pruned = prune(state, T0 + age, LIMIT)
    assert bool(pruned["announced"]) is kept


def test_status_rows_show_window_use_and_next_slot():
    one = RateLimitConfig(max_per_window=2, window_hours=24)
    state: dict = {}
    for i in range(3):
        _, state = admit([failure(instance=i)], state, T0 + timedelta(hours=i), one)
    _, state = admit([Event("monitor_unhealthy")], state, T0 + timedelta(hours=2), one)
    rows = rate_limit_status(state, T0 + timedelta(hours=3), one)
    assert rows == [
        {
            "key": "def:1",
            "sent_in_window": 2,
            "suppressed": 1,
            "next_slot": (T0 + timedelta(hours=24)).isoformat(),
        },
        {"key": "monitor", "sent_in_window": 1, "suppressed": 0, "next_slot": None},
    ]


@pytest.mark.parametrize(
    "state",
    [
        {"version": 999, "announced": {"1:100|failure_detected": T0.isoformat()}},
        {"version": 1, "announced": "garbage", "rate": {"def:1": "x"}},
        {"version": 1, "announced": {"1:100|failure_detected": "not a time"}},
    ],
    ids=["other-version", "wrong-shapes", "bad-timestamp"],
)
def test_unreadable_state_is_treated_as_empty_not_as_a_crash(state):
    admission, new_state = admit([failure()], state, T0, LIMIT)
    assert len(admission.admitted) == 1
    assert new_state["version"] == STATE_VERSION


def test_admit_does_not_mutate_its_input():
    _, state = admit([failure()], {}, T0, LIMIT)
    before = json.dumps(state, sort_keys=True)
    admit([failure(instance=2)], state, T0, LIMIT)
    assert json.dumps(state, sort_keys=True) == before

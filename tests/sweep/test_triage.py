"""Window and threshold rules at their boundaries (spec section 3, steps 3-5)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor.ds.models import FAILURE, KILL, STOP, SUCCESS, Instance
from ds_monitor.sweep.triage import triage

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
WINDOW = timedelta(hours=24)


def inst(instance_id: int, state: str = FAILURE, age: timedelta = timedelta(hours=1), definition: int = 1) -> Instance:
    return Instance(
        id=instance_id, definition_code=definition, name=f"i{instance_id}", state=state, start_time=NOW - age
    )


@pytest.mark.parametrize(
    "age, counted",
    [
        pytest.param(WINDOW - timedelta(seconds=1), True, id="just-inside"),
        pytest.param(WINDOW, True, id="at-the-edge"),
        pytest.param(WINDOW + timedelta(seconds=1), False, id="just-outside"),
    ],
)
def test_window_edge(age, counted):
    result = triage([inst(1, age=age)], now=NOW, window=WINDOW, max_failures=1)
    assert bool(result.failures) is counted
    assert result.outside_window == (0 if counted else 1)
    assert bool(result.candidates) is counted


@pytest.mark.parametrize(
    "failures, max_failures, systemic",
    [
        pytest.param(1, 1, False, id="at-threshold"),
        pytest.param(2, 1, True, id="one-over"),
        pytest.param(1, 0, True, id="zero-means-every-failure-is-systemic"),
        pytest.param(5, 5, False, id="at-higher-threshold"),
    ],
)
def test_threshold_is_strictly_more_than(failures, max_failures, systemic):
    result = triage(
        [inst(n, age=timedelta(minutes=10 * n)) for n in range(1, failures + 1)],
        now=NOW,
        window=WINDOW,
        max_failures=max_failures,
    )
    assert (1 in result.systemic) is systemic
    assert (result.candidates == []) is systemic


def test_reported_states_count_but_only_failure_is_a_candidate_and_oldest_come_first():
    instances = [
        inst(1, STOP, timedelta(hours=3), definition=1),
        inst(2, KILL, timedelta(hours=2), definition=2),
        inst(3, FAILURE, timedelta(hours=5), definition=3),
        inst(4, SUCCESS, definition=3),
        inst(5, FAILURE, timedelta(hours=1), definition=4),
    ]
    result = triage(instances, now=NOW, window=WINDOW, max_failures=1)
    assert [i.id for i in result.failures] == [3, 1, 2, 5]
    assert [i.id for i in result.candidates] == [3, 5]
    assert result.systemic == {}


def test_a_systemic_definition_does_not_block_the_others():
    instances = [inst(1, definition=1), inst(2, age=timedelta(hours=2), definition=1), inst(3, definition=2)]
    result = triage(instances, now=NOW, window=WINDOW, max_failures=1)
    assert result.systemic == {1: 2}
    assert [i.id for i in result.candidates] == [3]

"""A simulated day against the DS double: with schedule optimisation on, no failure waits longer
than ``max_unchecked_minutes`` plus one interval to be detected (spec section 4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bench.day import run_day


@pytest.mark.slow
def test_every_failure_is_detected_within_the_bound_over_a_simulated_day():
    result = run_day(optimise=True)
    assert result.failures >= 20  # the day really contains failures to find
    assert result.undetected == []
    assert result.worst_delay <= timedelta(minutes=15) + timedelta(minutes=5)

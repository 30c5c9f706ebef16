"""Issue 16's kill study, short: a real ``run`` killed at random over real HTTP to the simulator and
the channel doubles, then nothing lost on any channel, at most one repeat per kill, no double recovery."""

from __future__ import annotations

import pytest

from tests.sweep.kill_study import EXPECTED_KINDS, run_study


@pytest.mark.slow
def test_random_kills_lose_no_announcement_and_repeat_at_most_one_per_kill(make_ds_sim, tmp_path):
    result = run_study(
        make_ds_sim, tmp_path, version="3.2", kills=6, seed_value=16, pause=(0.5, 1.3), settle_for=20, latency=0.02
    )
    print(result.summary())
    assert result.settled, result.summary()
    if not result.waiting:  # a kill between an intent and its call leaves that recovery to a person
        assert result.announced_kinds() >= EXPECTED_KINDS
    assert result.lost_webhook == set()
    assert result.lost_email == 0
    assert result.repeats_webhook <= result.kills and result.repeats_email <= result.kills
    assert result.double_recoveries == {}

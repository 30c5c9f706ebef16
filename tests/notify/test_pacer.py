"""The per-robot send pacer: sliding window with headroom and block windows, clock passed in."""

import json
from datetime import timedelta

import pytest

from ds_monitor.notify.dingtalk import DINGTALK_LIMITS
from ds_monitor.notify.pacer import Pacer
from ds_monitor.notify.wecom import WECOM_LIMITS
from tests.notify.conftest import T0

ROBOT = "dingtalk:abc"


def test_headroom_eighteen_a_minute_then_wait_until_the_oldest_leaves_the_window():
    pacer = Pacer()
    for i in range(18):
        assert pacer.wait_seconds(ROBOT, DINGTALK_LIMITS, T0 + timedelta(seconds=i)) == 0
        pacer.record_send(ROBOT, DINGTALK_LIMITS, T0 + timedelta(seconds=i))
    assert pacer.wait_seconds(ROBOT, DINGTALK_LIMITS, T0 + timedelta(seconds=18)) == 42


@pytest.mark.parametrize(
    ("limits", "code", "blocked_for"),
    [(DINGTALK_LIMITS, 130101, 600), (WECOM_LIMITS, 45009, 60)],
    ids=["dingtalk-130101", "wecom-45009"],
)
def test_rate_limit_answer_blocks_the_destination(limits, code, blocked_for):
    pacer = Pacer()
    assert pacer.record_refusal(ROBOT, code, limits, T0)
    assert pacer.wait_seconds(ROBOT, limits, T0 + timedelta(seconds=1)) == blocked_for - 1
    assert pacer.wait_seconds(ROBOT, limits, T0 + timedelta(seconds=blocked_for)) == 0


@pytest.mark.parametrize("code", [310000, "timeout", 500], ids=["config-error", "timeout", "http-500"])
def test_other_failures_do_not_block(code):
    pacer = Pacer()
    assert not pacer.record_refusal(ROBOT, code, DINGTALK_LIMITS, T0)
    assert pacer.wait_seconds(ROBOT, DINGTALK_LIMITS, T0) == 0


def test_state_survives_a_json_round_trip_and_drops_what_is_over():
    pacer = Pacer()
    pacer.record_send(ROBOT, DINGTALK_LIMITS, T0)
    pacer.record_refusal(ROBOT, 130101, DINGTALK_LIMITS, T0)
    reloaded = Pacer(json.loads(json.dumps(pacer.to_dict(T0))))
    assert reloaded.wait_seconds(ROBOT, DINGTALK_LIMITS, T0 + timedelta(minutes=5)) == 300
    assert reloaded.to_dict(T0 + timedelta(minutes=10)) == {}


def test_destinations_are_independent():
    pacer = Pacer()
    pacer.record_refusal(ROBOT, 130101, DINGTALK_LIMITS, T0)
    assert pacer.wait_seconds("dingtalk:other", DINGTALK_LIMITS, T0) == 0

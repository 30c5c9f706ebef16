"""NotificationManager end to end: real doubles for all three channels, injected clocks and sleep.

Each dispatch is what a sweep does: enqueue into the outbox (the caller saves), then deliver."""

import json
import logging
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from ds_monitor.config import DingTalkConfig, EmailConfig, NotificationConfig, RateLimitConfig, WeComConfig
from ds_monitor.errors import NotifyError
from ds_monitor.notify import send_test_messages
from ds_monitor.notify.dingtalk import DingTalkSender
from ds_monitor.notify.events import Event
from ds_monitor.notify.mail import EmailSender
from ds_monitor.notify.outbox import MAX_ITEMS_PER_CHANNEL, owed
from ds_monitor.notify.pacer import Pacer
from ds_monitor.notify.wecom import WeComSender
from tests.notify.conftest import KEYWORD, SECRET, T0, TOKEN, WECOM_KEY
from tests.notify.dispatch import Manager, restart
from tests.notify.doubles.smtp import SmtpDouble, free_port

LIMIT = RateLimitConfig(max_per_window=6, window_hours=24)


@pytest.fixture
def smtp(tls):
    double = SmtpDouble("starttls", server_context=tls["server"]).start()
    yield double
    double.stop()


@pytest.fixture
def channels(dingtalk_double, wecom_double, smtp, tls, clock):
    """Configs and senders of the three channels, pointed at the doubles."""
    ding = DingTalkConfig(
        enabled=True,
        webhook_url=dingtalk_double.webhook(TOKEN),
        secret=SECRET,
        keyword=KEYWORD,
        at_mobiles=("13800000000",),
    )
    wecom = WeComConfig(enabled=True, webhook_url=wecom_double.webhook(WECOM_KEY))
    email = EmailConfig(
        enabled=True,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        use_ssl=False,
        starttls=True,
        username="monitor",
        password="s3cret-pass",
        from_addr="monitor@example.com",
        to_addrs=("ops@example.com",),
        timeout_seconds=5,
    )
    config = NotificationConfig(rate_limit=LIMIT, dingtalk=ding, wework=wecom, email=email)

    # Generous timeouts: a double answers in milliseconds, but a loaded machine can stall its thread
    # for seconds, and a timed-out first send would be owed and sent again by the next dispatch.
    def senders(wecom_timeout=(5, 10)):
        return [
            DingTalkSender(ding, clock=clock, timeout=(5, 10)),
            WeComSender(wecom, timeout=wecom_timeout),
            EmailSender(email, ssl_context=tls["client"]),
        ]

    return config, senders


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def failure(i, definition=1):
    return Event(
        "failure_detected",
        project_code=9,
        project_name="data-platform",
        definition_code=definition,
        definition_name=f"wf{definition}",
        instance_id=i,
        instance_name=f"wf{definition}-{i}",
        state="FAILURE",
        start_time=T0,
        ui_url=f"http://ds.example/ui/{i}",
    )


def owed_keys(state, channel):
    return [item.key for item in owed(restart(state), channel)]


def outcome(results):
    return sorted({(r.channel, r.result) for r in results})


def test_one_grouped_message_per_channel(channels, dingtalk_double, wecom_double, smtp):
    config, senders = channels
    events = [
        failure(1),
        failure(2, definition=2),
        Event("recovery_triggered", definition_code=1, instance_id=1, attempt=1, max_attempts=3),
    ]
    results, state = Manager(config, senders=senders()).dispatch(events, {}, T0)
    assert len(results) == 9 and {r.result for r in results} == {"sent"}
    assert {(r.channel, r.event, r.incident_key) for r in results} >= {("email", "recovery_triggered", "1:1")}
    assert len(dingtalk_double.accepted) == len(wecom_double.accepted) == len(smtp.received) == 1
    text = dingtalk_double.accepted[0]["markdown"]["text"]
    assert "wf1-1" in text and "wf2-2" in text and "Attempt: 1/3" in text and KEYWORD in text
    assert state["version"] == 1


def test_dedup_across_dispatches_and_a_restart(channels, dingtalk_double):
    config, senders = channels
    _, state = Manager(config, senders=senders()).dispatch([failure(1)], {}, T0)
    results, state = Manager(config, senders=senders()).dispatch(
        [failure(1)], restart(state), T0 + timedelta(minutes=1)
    )
    assert results == []
    assert len(dingtalk_double.requests) == 1


def test_rate_limit_over_ten_dispatches_and_the_suppressed_count_in_the_next_message(
    channels, dingtalk_double
):
    config, senders = channels
    manager = Manager(config, senders=senders()[:1])
    state: dict = {}
    per_dispatch = []
    for i in range(10):
        results, state = manager.dispatch([failure(i)], restart(state), T0 + timedelta(hours=i))
        per_dispatch.append(results[0].result)
    assert per_dispatch == ["sent"] * 6 + ["suppressed"] * 4
    assert len(dingtalk_double.accepted) == 6

    results, state = manager.dispatch([failure(99)], restart(state), T0 + timedelta(hours=24))
    assert [r.result for r in results] == ["sent"]
    text = dingtalk_double.accepted[-1]["markdown"]["text"]
    assert "4 earlier messages were suppressed for workflow wf1 (1)" in text


def test_never_suppressed_kinds_go_out_when_the_limit_is_reached(channels, dingtalk_double):
    config, senders = channels
    manager = Manager(
        NotificationConfig(rate_limit=RateLimitConfig(1, 24)), senders=senders()[:1]
    )
    _, state = manager.dispatch([failure(1)], {}, T0)
    results, state = manager.dispatch([failure(2)], state, T0 + timedelta(minutes=1))
    assert [r.result for r in results] == ["suppressed"]
    exhausted = Event("recovery_exhausted", definition_code=1, instance_id=1, attempt=3, max_attempts=3)
    results, state = manager.dispatch([exhausted], state, T0 + timedelta(minutes=2))
    assert [r.result for r in results] == ["sent"]
    assert "Recovery attempts exhausted" in dingtalk_double.accepted[-1]["markdown"]["text"]


def test_a_slow_channel_fails_on_its_own_timeout_and_the_others_are_sent(channels, wecom_double):
    config, senders = channels
    wecom_double.fault = ("hang",)
    results, _ = Manager(config, senders=senders(wecom_timeout=(1, 0.3))).dispatch(
        [failure(1)], {}, T0
    )
    assert outcome(results) == [("dingtalk", "sent"), ("email", "sent"), ("wework", "failed")]
    [failed] = [r for r in results if r.result == "failed"]
    assert "no answer from 127.0.0.1" in failed.detail


def test_channels_are_sent_concurrently(channels, dingtalk_double, wecom_double):
    config, senders = channels
    wecom_double.fault = ("hang",)
    slow_first = [senders()[1], senders()[0]]
    manager = Manager(config, senders=slow_first)
    done = {}
    worker = threading.Thread(target=lambda: done.update(r=manager.dispatch([failure(1)], {}, T0)))
    worker.start()
    # While WeCom still holds its request, DingTalk must already have been called.
    reached = dingtalk_double.received.wait(5)
    wecom_double.release()
    worker.join(10)
    assert reached
    assert outcome(done["r"][0]) == [("dingtalk", "sent"), ("wework", "sent")]


def test_retryable_failures_are_retried_with_backoff(channels, dingtalk_double):
    config, senders = channels
    dingtalk_double.fault, dingtalk_double.fail_times = ("status", 502), 2
    sleeps = Sleeps()
    results, _ = Manager(config, senders=senders()[:1], sleep=sleeps).dispatch(
        [failure(1)], {}, T0
    )
    assert [r.result for r in results] == ["sent"]
    assert sleeps == [0.5, 1.5] and len(dingtalk_double.requests) == 3


def test_configuration_errors_are_not_retried_nor_carried(channels, wecom_double):
    config, senders = channels
    sender = WeComSender(
        WeComConfig(enabled=True, webhook_url=wecom_double.webhook("wrong-key")), timeout=(1, 2)
    )
    manager = Manager(config, senders=[sender], sleep=Sleeps())
    results, state = manager.dispatch([failure(1)], {}, T0)
    assert [r.result for r in results] == ["failed"] and "93000" in results[0].detail
    assert owed_keys(state, "wework") == [] and len(wecom_double.requests) == 1
    [refusal] = state["outbox"]["wework"]["refused"]
    assert refusal["key"] == "1:1|failure_detected" and "93000" in refusal["reason"]


def test_robot_block_defers_and_coalesces_into_the_next_message(channels, dingtalk_double, clock):
    config, senders = channels
    # Another system sharing the robot has used it up: DingTalk answers 130101.
    dingtalk_double.robots[TOKEN].blocked_until = clock() + 600
    manager = Manager(config, senders=senders()[:1], sleep=Sleeps())
    results, state = manager.dispatch([failure(1)], {}, T0)
    assert [r.result for r in results] == ["failed"] and "130101" in results[0].detail

    clock.advance(300)
    results, state = manager.dispatch([failure(2)], restart(state), T0 + timedelta(minutes=5))
    assert {r.result for r in results} == {"failed"} and "deferred" in results[0].detail
    assert len(dingtalk_double.requests) == 1  # nothing sent into the block

    clock.advance(301)
    results, state = manager.dispatch([failure(3)], restart(state), T0 + timedelta(minutes=10, seconds=1))
    assert sorted((r.incident_key, r.result) for r in results) == [
        ("1:1", "sent"),
        ("1:2", "sent"),
        ("1:3", "sent"),
    ]
    text = dingtalk_double.accepted[0]["markdown"]["text"]
    assert all(f"wf1-{i}" in text for i in (1, 2, 3))
    assert owed_keys(state, "dingtalk") == []


def test_a_channel_that_was_down_gets_the_carried_events_later(channels, smtp, tls):
    config, senders = channels
    down = EmailSender(replace(config.email, smtp_port=free_port()), ssl_context=tls["client"])
    results, state = Manager(config, senders=[down], sleep=Sleeps()).dispatch(
        [failure(1)], {}, T0
    )
    assert [r.result for r in results] == ["failed"] and "cannot connect" in results[0].detail
    assert owed_keys(state, "email") == ["1:1|failure_detected"]

    live = senders()[2]
    results, state = Manager(config, senders=[live]).dispatch(
        [failure(2)], restart(state), T0 + timedelta(minutes=1)
    )
    assert sorted((r.incident_key, r.result) for r in results) == [("1:1", "sent"), ("1:2", "sent")]
    [received] = smtp.received
    assert "wf1-1" in received.message.get_body(("plain",)).get_content()
    assert owed_keys(state, "email") == []


def test_a_crashing_sender_is_reported_not_raised(channels):
    config, _ = channels

    class Broken:
        name, destination, limits = "broken", "broken:1", None

        def send(self, digest):
            raise RuntimeError("boom at https://x/send?access_token=abc")

    results, _ = Manager(config, senders=[Broken()]).dispatch([failure(1)], {}, T0)
    assert [r.result for r in results] == ["failed"]
    assert "RuntimeError" in results[0].detail and "abc" not in results[0].detail


def test_no_secret_in_results_or_logs(channels, dingtalk_double, wecom_double, caplog):
    caplog.set_level(logging.DEBUG, logger="ds_monitor")
    config, senders = channels
    dingtalk_double.fault = ("status", 500)
    wecom_double.fault = ("close",)
    results, state = Manager(config, senders=senders(), sleep=Sleeps()).dispatch(
        [failure(1)], {}, T0
    )
    exposed = caplog.text + json.dumps([r.__dict__ for r in results]) + json.dumps(state)
    for secret in (SECRET, TOKEN, WECOM_KEY, "s3cret-pass"):
        assert secret not in exposed


def test_notify_test_reports_each_channel(channels, wecom_double):
    config, senders = channels
    wrong_key = WeComSender(WeComConfig(enabled=True, webhook_url=wecom_double.webhook("wrong-key")))
    report = send_test_messages(config, T0, senders=[senders()[0], wrong_key, senders()[2]])
    assert report == [
        ("dingtalk", True, "sent"),
        (
            "wework",
            False,
            "WeCom does not accept this robot key (errcode 93000): check notification.wework.webhook_url",
        ),
        ("email", True, "sent"),
    ]


def test_a_robot_near_its_limit_is_paced_not_skipped(channels, dingtalk_double):
    config, senders = channels
    sender = senders()[0]
    limiter = Pacer()
    for _ in range(18):
        limiter.record_send(sender.destination, sender.limits, T0 - timedelta(seconds=58))
    state = {"version": 1, "transport": limiter.to_dict(T0)}
    sleeps = Sleeps()
    results, state = Manager(config, senders=[sender], sleep=sleeps).dispatch(
        [failure(1)], state, T0
    )
    assert [r.result for r in results] == ["sent"]
    assert sleeps == [2.0]


class Flaky:
    """An in-memory sender that fails transiently until told otherwise, recording what it sent."""

    name, destination, limits = "flaky", "flaky:1", None

    def __init__(self):
        self.down = True
        self.sent = []

    def send(self, digest):
        if self.down:
            raise NotifyError("flaky: connection refused", retryable=True, code="connection")
        self.sent.append(digest)
        return ""


def test_carried_events_are_capped_per_channel(channels):
    config, _ = channels
    manager = Manager(config, senders=[Flaky()], sleep=Sleeps())
    _, state = manager.dispatch([failure(i, definition=i) for i in range(MAX_ITEMS_PER_CHANNEL + 50)], {}, T0)
    assert len(owed_keys(state, "flaky")) == MAX_ITEMS_PER_CHANNEL


def test_owed_items_outlive_the_rate_window_and_go_out_when_the_channel_is_back(channels):
    config, _ = channels
    flaky = Flaky()
    manager = Manager(config, senders=[flaky], sleep=Sleeps())
    _, state = manager.dispatch([failure(1)], {}, T0)
    flaky.down = False
    results, state = manager.dispatch([failure(2)], restart(state), T0 + timedelta(hours=24, seconds=1))
    assert [r.incident_key for r in results] == ["1:1", "1:2"]
    assert owed_keys(state, "flaky") == []

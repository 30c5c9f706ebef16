"""DingTalk sender against the DingTalk double (a real HTTP server), plus the signer's known answer."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from ds_monitor.config import DingTalkConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import Sent, build_digest, build_test_digest
from ds_monitor.notify.dingtalk import DINGTALK_SEND_URL, DingTalkSender, parse_webhook, sign
from ds_monitor.notify.events import Event
from tests.notify.conftest import KEYWORD, SECRET, T0, TOKEN
from tests.notify.doubles.dingtalk import DingTalkDouble, Robot


def sender_for(double, clock, **overrides):
    settings = {"enabled": True, "webhook_url": double.webhook(TOKEN), "secret": SECRET, "keyword": KEYWORD}
    settings.update(overrides)
    return DingTalkSender(DingTalkConfig(**settings), clock=clock, timeout=(1, 2))


def test_sign_known_answer_vector():
    assert sign(SECRET, 1700000000000) == "D/3jN97kJmHM61lD6RUSJxLEae3/P9GYdiwPnAuQm+M="


def test_url_carries_the_sign_encoded_exactly_once_and_a_fresh_timestamp(clock):
    clock.now = 1700000000.0
    sender = DingTalkSender(DingTalkConfig(enabled=True, webhook_url=TOKEN, secret=SECRET), clock=clock)
    url = sender.url()
    assert url.startswith(DINGTALK_SEND_URL + "?access_token=")
    assert "timestamp=1700000000000&sign=D%2F3jN97kJmHM61lD6RUSJxLEae3%2FP9GYdiwPnAuQm%2BM%3D" in url
    clock.advance(61)
    assert "timestamp=1700000061000&" in sender.url()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TOKEN, (DINGTALK_SEND_URL, TOKEN, [])),
        (f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", (DINGTALK_SEND_URL, TOKEN, [])),
        (
            f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&timestamp=1&sign=old&x=1",
            (DINGTALK_SEND_URL, TOKEN, [("x", "1")]),
        ),
    ],
    ids=["bare-token", "full-url", "pasted-signed-url"],
)
def test_webhook_accepts_url_or_bare_token(value, expected):
    assert parse_webhook(value) == expected


def test_webhook_without_token_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^notification.dingtalk.webhook_url: has no access_token$"):
        parse_webhook("https://oapi.dingtalk.com/robot/send?foo=bar")


def test_correctly_signed_message_with_keyword_is_accepted(dingtalk_double, clock):
    event = Event("failure_detected", definition_code=1, definition_name="任务", instance_id=2)
    assert (
        sender_for(dingtalk_double, clock, at_mobiles=("13800000000",)).send(build_digest([event], {}, T0))
        == Sent()
    )
    [request] = dingtalk_double.requests
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "任务".encode() in request.body  # UTF-8 JSON, not \\u escapes
    [payload] = dingtalk_double.accepted
    assert "@13800000000" in payload["markdown"]["text"]
    assert payload["at"]["atMobiles"] == ["13800000000"]


def test_wrong_secret_gives_a_clear_error_without_the_secret(dingtalk_double, clock):
    wrong = "SEC" + "f" * 64
    with pytest.raises(NotifyError) as caught:
        sender_for(dingtalk_double, clock, secret=wrong).send(build_test_digest(T0))
    err = caught.value
    assert err.code == 310000 and not err.retryable
    assert "signature mismatch: check notification.dingtalk.secret" in str(err)
    assert wrong not in str(err) and TOKEN not in str(err)


def test_host_clock_off_by_more_than_an_hour_is_named(dingtalk_double, clock):
    signer_clock = type(clock)()
    signer_clock.now = clock.now - 3601
    with pytest.raises(NotifyError, match="clock is more than 1 hour off"):
        sender_for(dingtalk_double, signer_clock).send(build_test_digest(T0))


def test_missing_keyword_is_rejected_and_explained(dingtalk_double, clock):
    with pytest.raises(NotifyError, match="keyword missing") as caught:
        sender_for(dingtalk_double, clock, keyword="").send(build_test_digest(T0))
    assert caught.value.code == 310000


def test_unknown_token_is_300001(dingtalk_double, clock):
    sender = sender_for(dingtalk_double, clock, webhook_url=dingtalk_double.webhook("nope"))
    with pytest.raises(NotifyError, match="does not know this robot") as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.code == 300001


def test_ip_allowlist_refusal_is_named(clock):
    double = DingTalkDouble([Robot(TOKEN, allowed_ips=("10.0.0.1",))], clock=clock)
    try:
        sender = DingTalkSender(DingTalkConfig(enabled=True, webhook_url=double.webhook(TOKEN)), clock=clock)
        with pytest.raises(NotifyError, match="IP allowlist"):
            sender.send(build_test_digest(T0))
    finally:
        double.close()


def test_twenty_a_minute_then_130101_and_a_ten_minute_block(dingtalk_double, clock):
    sender = sender_for(dingtalk_double, clock)
    body = sender.render(build_test_digest(T0)).body
    for _ in range(20):
        sender.post(body)
    with pytest.raises(NotifyError, match="blocked for 10 minutes") as caught:
        sender.post(body)
    assert caught.value.code == 130101 and not caught.value.retryable
    clock.advance(9 * 60)
    with pytest.raises(NotifyError):
        sender.post(body)
    clock.advance(60)
    sender.post(body)


def test_oversized_body_is_460101(dingtalk_double, clock):
    sender = sender_for(dingtalk_double, clock)
    body = json.dumps(
        {"msgtype": "text", "text": {"content": KEYWORD + "x" * 20_000}}, ensure_ascii=False
    ).encode()
    with pytest.raises(NotifyError, match="too large") as caught:
        sender.post(body)
    assert caught.value.code == 460101


def test_a_digest_too_big_for_dingtalk_is_truncated_and_accepted(dingtalk_double, clock):
    events = [
        Event(
            "failure_detected",
            definition_code=i,
            definition_name="每日任务" * 40,
            instance_id=i,
            ds_error="错误" * 150,
        )
        for i in range(100)
    ]
    sent = sender_for(dingtalk_double, clock).send(build_digest(events, {}, T0))
    assert "items left out" in sent.note and 0 < sent.omitted < 100
    assert len(dingtalk_double.accepted) == 1


@pytest.mark.parametrize(
    ("fault", "retryable", "message"),
    [
        (("status", 502), True, "HTTP 502 from 127.0.0.1"),
        (("status", 404), False, "HTTP 404 from 127.0.0.1"),
        (("redirect",), False, "HTTP 302 from 127.0.0.1"),
        (("html",), True, "not the robot's JSON"),
        (("invalid_json",), True, "not the robot's JSON"),
        (("busy",), True, r"busy \(errcode -1\)"),
        (("close",), False, "connection to 127.0.0.1:[0-9]+ broke before an answer"),
    ],
    ids=[
        "http-502",
        "http-404",
        "redirect-302",
        "html-page",
        "invalid-json",
        "system-busy",
        "connection-dropped",
    ],
)
def test_service_faults_are_failures_that_name_the_cause(dingtalk_double, clock, fault, retryable, message):
    dingtalk_double.fault = fault
    with pytest.raises(NotifyError, match=message) as caught:
        sender_for(dingtalk_double, clock).send(build_test_digest(T0))
    assert caught.value.retryable is retryable
    assert TOKEN not in str(caught.value)


def test_no_answer_within_the_read_timeout_is_not_retryable(dingtalk_double, clock):
    dingtalk_double.fault = ("hang",)
    sender = DingTalkSender(
        DingTalkConfig(enabled=True, webhook_url=dingtalk_double.webhook(TOKEN)),
        clock=clock,
        timeout=(1, 0.2),
    )
    with pytest.raises(NotifyError, match="may have been delivered") as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.code == "timeout" and not caught.value.retryable


def test_connection_refused_names_the_host_and_hides_the_token(clock):
    # Port 9 (discard) has no listener on the test machine: the connection is refused at once.
    sender = DingTalkSender(
        DingTalkConfig(
            enabled=True, webhook_url=f"http://127.0.0.1:9/robot/send?access_token={TOKEN}", secret=SECRET
        ),
        clock=clock,
        timeout=(1, 1),
    )
    with pytest.raises(NotifyError, match=r"cannot reach 127.0.0.1:9: .*refused") as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.retryable
    text = str(caught.value)
    assert TOKEN not in text and "sign=" not in text


def test_error_texts_hide_token_secret_and_sign(dingtalk_double, clock):
    dingtalk_double.fault = ("status", 500)
    with pytest.raises(NotifyError) as caught:
        sender_for(dingtalk_double, clock).send(build_test_digest(T0))
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)
    sent_sign = parse_qs(urlsplit("?" + dingtalk_double.requests[0].raw_query).query)["sign"][0]
    assert sent_sign not in str(caught.value)

"""Feishu/Lark sender against the Feishu double, plus the signer's known answer."""

import json

import pytest

from ds_monitor.config import FeishuConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import FEISHU_MAX_BODY_BYTES, build_digest, build_test_digest
from ds_monitor.notify.events import Event
from ds_monitor.notify.feishu import FEISHU_HOOK_URL, FeishuSender, parse_webhook, sign
from tests.notify.conftest import T0
from tests.notify.doubles.feishu import FeishuDouble

HOOK_TOKEN = "5e3d587e-d78e-4a07-bd07-265f269f86fd"
FEISHU_SECRET = "nIMtb7r3N9pkXyXdtAbx6e"
FEISHU_KEYWORD = "DS告警"


@pytest.fixture
def feishu_double(clock):
    double = FeishuDouble(HOOK_TOKEN, secret=FEISHU_SECRET, keywords=(FEISHU_KEYWORD,), clock=clock)
    yield double
    double.close()


def sender_for(double, clock, **overrides):
    settings = {
        "enabled": True,
        "webhook_url": double.webhook(HOOK_TOKEN),
        "secret": FEISHU_SECRET,
        "keyword": FEISHU_KEYWORD,
    }
    settings.update(overrides)
    return FeishuSender(FeishuConfig(**settings), clock=clock, timeout=(1, 2))


def failure(i, **fields):
    values = dict(
        kind="failure_detected",
        project_code=3,
        project_name="财务",
        definition_code=8,
        definition_name="日终结算",
        instance_id=i,
        state="FAILURE",
        ui_url=f"http://ds.example/ui/{i}",
    )
    values.update(fields)
    return Event(**values)


def test_sign_known_answer_vector():
    # notify-channels.md 4.1: the string to sign is the HMAC key and the message is empty
    assert sign("feishu-test-secret", 1700000000) == "e3MJ8Q5llVxGJ8pVkGPBhexDAgjvYqpjPP1GkY9XceI="


def test_signed_card_with_keyword_is_accepted(feishu_double, clock):
    sender_for(feishu_double, clock).send(build_digest([failure(1)], {}, T0))
    [payload] = feishu_double.accepted
    assert payload["timestamp"] == str(int(clock.now))
    card = payload["card"]
    assert card["header"]["template"] == "red"
    content = card["elements"][0]["text"]["content"]
    assert "日终结算" in content and "[Open in DolphinScheduler](http://ds.example/ui/1)" in content
    assert content.endswith(FEISHU_KEYWORD)


def test_every_request_is_signed_afresh(feishu_double, clock):
    sender = sender_for(feishu_double, clock)
    sender.send(build_test_digest(T0))
    clock.advance(3601)  # a signature made an hour ago would now be refused
    sender.send(build_test_digest(T0))
    first, second = feishu_double.accepted
    assert int(second["timestamp"]) - int(first["timestamp"]) == 3601


@pytest.mark.parametrize(
    ("overrides", "code", "hint"),
    [
        ({"secret": "wrong-secret"}, 19021, "notification.feishu.secret"),
        ({"keyword": ""}, 19024, "notification.feishu.keyword"),
    ],
    ids=["bad-signature", "no-keyword"],
)
def test_security_refusals_name_the_key_and_are_not_retried(feishu_double, clock, overrides, code, hint):
    with pytest.raises(NotifyError, match=hint) as caught:
        sender_for(feishu_double, clock, **overrides).send(build_test_digest(T0))
    assert caught.value.code == code and not caught.value.retryable
    assert "wrong-secret" not in str(caught.value)


def test_wrong_clock_is_refused(feishu_double, clock):
    sender = sender_for(feishu_double, clock)
    feishu_double.clock = lambda: clock.now + 3700
    with pytest.raises(NotifyError) as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.code == 19021


def test_rate_limit_answered_with_http_400_blocks_the_bot(feishu_double, clock):
    feishu_double.per_minute = 0
    sender = sender_for(feishu_double, clock)
    with pytest.raises(NotifyError) as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.code == 9499 and caught.value.code in sender.limits.block_seconds


def test_hundreds_of_incidents_fit_20_kb_with_the_keyword_kept(feishu_double, clock):
    digest = build_digest([failure(i, ds_error="错误" * 140) for i in range(300)], {}, T0)
    rendered = sender_for(feishu_double, clock).render(digest)
    assert len(rendered.body) <= FEISHU_MAX_BODY_BYTES and rendered.omitted > 0
    content = rendered.payload["card"]["elements"][0]["text"]["content"]
    assert f"… and {rendered.omitted} more" in content and content.endswith(FEISHU_KEYWORD)
    sent = sender_for(feishu_double, clock).send(digest)
    assert sent.omitted == rendered.omitted and sent.note == f"{rendered.omitted} items left out to fit the size limit"


def test_unknown_token_is_a_config_error_and_the_token_is_not_shown(feishu_double, clock):
    sender = sender_for(feishu_double, clock, webhook_url=feishu_double.webhook("not-the-token-0000"))
    with pytest.raises(NotifyError, match="notification.feishu.webhook_url") as caught:
        sender.send(build_test_digest(T0))
    assert "not-the-token-0000" not in str(caught.value)


def test_legacy_statuscode_answer_is_understood(clock):
    class Legacy(FeishuDouble):
        def answer(self, request):
            return {"StatusCode": 0, "StatusMessage": "success", "Extra": None}

    double = Legacy(HOOK_TOKEN, clock=clock)
    try:
        sender_for(double, clock, secret="").send(build_test_digest(T0))
        assert json.loads(double.requests[0].body)["msg_type"] == "interactive"
    finally:
        double.close()


def test_server_errors_without_json_are_retryable(feishu_double, clock):
    feishu_double.fault = ("status", 502)
    with pytest.raises(NotifyError) as caught:
        sender_for(feishu_double, clock).send(build_test_digest(T0))
    assert caught.value.code == 502 and caught.value.retryable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HOOK_TOKEN, (FEISHU_HOOK_URL + HOOK_TOKEN, HOOK_TOKEN)),
        (
            f"https://open.larksuite.com/open-apis/bot/v2/hook/{HOOK_TOKEN}",
            (f"https://open.larksuite.com/open-apis/bot/v2/hook/{HOOK_TOKEN}", HOOK_TOKEN),
        ),
    ],
    ids=["bare-token", "lark-url"],
)
def test_webhook_accepts_feishu_or_lark_url_or_bare_token(value, expected):
    assert parse_webhook(value) == expected


@pytest.mark.parametrize("value", ["", "https://open.feishu.cn/open-apis/other/x", "ftp://x/hook/y"])
def test_unusable_webhook_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"^notification.feishu.webhook_url: "):
        parse_webhook(value)

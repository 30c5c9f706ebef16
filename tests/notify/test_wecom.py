"""WeCom sender against the WeCom double (a real HTTP server)."""

import json

import pytest

from ds_monitor.config import WeComConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import build_digest, build_test_digest
from ds_monitor.notify.events import Event
from ds_monitor.notify.wecom import WECOM_SEND_URL, WeComSender, parse_webhook
from tests.notify.conftest import T0, WECOM_KEY


def sender_for(double, **overrides):
    settings = {"enabled": True, "webhook_url": double.webhook(WECOM_KEY)}
    settings.update(overrides)
    return WeComSender(WeComConfig(**settings), timeout=(1, 2))


@pytest.mark.parametrize(
    "value",
    [WECOM_KEY, f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"],
    ids=["bare-key", "full-url"],
)
def test_webhook_accepts_url_or_bare_key(value):
    assert parse_webhook(value) == (WECOM_SEND_URL, WECOM_KEY, [])


def test_webhook_without_key_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^notification.wework.webhook_url: has no key$"):
        parse_webhook("https://qyapi.weixin.qq.com/cgi-bin/webhook/send")


def test_markdown_digest_with_user_mentions_is_accepted(wecom_double):
    event = Event("failure_detected", definition_code=1, definition_name="etl", instance_id=2)
    sender_for(wecom_double, mentioned_list=("zhangsan",)).send(build_digest([event], {}, T0))
    [payload] = wecom_double.accepted
    assert payload["msgtype"] == "markdown"
    assert "<@zhangsan>" in payload["markdown"]["content"]


def test_mobile_mentions_go_out_as_text_with_the_mention_fields(wecom_double):
    sender_for(wecom_double, mentioned_mobile_list=("13800000000",), mentioned_list=("@all",)).send(
        build_test_digest(T0)
    )
    assert wecom_double.mentions == [{"mentioned_list": ["@all"], "mentioned_mobile_list": ["13800000000"]}]


def test_wrong_key_is_93000_and_the_key_is_not_in_the_error(wecom_double):
    sender = sender_for(wecom_double, webhook_url=wecom_double.webhook("not-a-key"))
    with pytest.raises(NotifyError, match="check notification.wework.webhook_url") as caught:
        sender.send(build_test_digest(T0))
    assert caught.value.code == 93000 and not caught.value.retryable
    assert "not-a-key" not in str(caught.value)


def test_twenty_a_minute_then_45009(wecom_double, clock):
    sender = sender_for(wecom_double)
    body = sender.render(build_test_digest(T0)).body
    for _ in range(20):
        sender.post(body)
    with pytest.raises(NotifyError, match="rate limit") as caught:
        sender.post(body)
    assert caught.value.code == 45009
    clock.advance(60)
    sender.post(body)


@pytest.mark.parametrize(
    ("msgtype", "limit"), [("markdown", 4096), ("text", 2048)], ids=["markdown-4096", "text-2048"]
)
def test_content_over_the_byte_limit_is_40058(wecom_double, msgtype, limit):
    # Counted in UTF-8 bytes: a third of the limit in CJK characters is just over it.
    content = "数" * (limit // 3 + 1)
    body = json.dumps({"msgtype": msgtype, msgtype: {"content": content}}, ensure_ascii=False).encode()
    with pytest.raises(NotifyError, match="too long") as caught:
        sender_for(wecom_double).post(body)
    assert caught.value.code == 40058


def test_a_digest_too_long_for_wecom_is_truncated_and_accepted(wecom_double):
    events = [
        Event(
            "failure_detected",
            definition_code=i,
            definition_name="每日任务" * 20,
            instance_id=i,
            ds_error="错误" * 100,
        )
        for i in range(30)
    ]
    sent = sender_for(wecom_double).send(build_digest(events, {}, T0))
    assert "items left out" in sent.note and 0 < sent.omitted < 30
    [payload] = wecom_double.accepted
    assert "… and " in payload["markdown"]["content"]

"""Message wording and per-channel rendering: content, escaping, byte budgets, keyword and mentions."""

import json
from datetime import timedelta

import pytest

from ds_monitor.notify.builder import (
    DINGTALK_MAX_BODY_BYTES,
    WECOM_MAX_MARKDOWN_BYTES,
    WECOM_MAX_TEXT_BYTES,
    ChatMentions,
    build_digest,
    build_test_digest,
    render_dingtalk,
    render_email,
    render_wecom,
)
from ds_monitor.notify.events import Event
from tests.notify.conftest import KEYWORD, T0


def failure(i=1, name="daily_etl_job", error="Task extract failed: exit code 1"):
    return Event(
        "failure_detected",
        project_code=9,
        project_name="data-platform",
        definition_code=1000 + i,
        definition_name=name,
        instance_id=i,
        instance_name=f"{name}-{i}",
        state="FAILURE",
        start_time=T0,
        end_time=T0 + timedelta(minutes=3),
        ds_error=error,
        ui_url=f"http://ds.example/ui/projects/9/workflow/instances/{i}",
    )


def cjk_failures(n):
    return [
        failure(i, name="每日数据同步任务" * 5, error="任务执行失败：连接数据库超时" * 20) for i in range(n)
    ]


def test_digest_names_everything_an_operator_needs():
    event = Event(
        "recovery_failed",
        project_code=9,
        project_name="data-platform",
        definition_code=1001,
        definition_name="daily_etl_job",
        instance_id=77,
        instance_name="daily_etl_job-77",
        state="FAILURE",
        start_time=T0,
        end_time=T0 + timedelta(minutes=3),
        attempt=2,
        max_attempts=3,
        ds_error="exit code 1",
        ui_url="http://ds.example/ui/i/77",
    )
    text = render_email(build_digest([event], {}, T0)).text
    for fact in (
        "data-platform",
        "daily_etl_job (1001)",
        "77 daily_etl_job-77",
        "FAILURE",
        "2024-03-01 08:00:00+00:00",
        "2024-03-01 08:03:00+00:00",
        "2/3",
        "exit code 1",
        "http://ds.example/ui/i/77",
    ):
        assert fact in text


def test_headline_counts_events_by_kind():
    events = [
        failure(1),
        failure(2),
        Event("recovery_triggered", definition_code=1001, instance_id=1, attempt=1),
    ]
    digest = build_digest(events, {}, T0)
    assert digest.title == "[ds-monitor] 3 events: Failure detected ×2, Recovery triggered"


def test_suppressed_count_is_announced_with_the_workflow_name():
    digest = build_digest([failure(1)], {"def:1001": 4}, T0)
    assert digest.notes == (
        "Rate limit: 4 earlier messages were suppressed for workflow daily_etl_job (1001) "
        "since the last one.",
    )


def test_dingtalk_markdown_carries_keyword_and_mentions_in_text_and_at_field():
    rendered = render_dingtalk(
        build_digest([failure()], {}, T0), keyword=KEYWORD, mentions=ChatMentions(mobiles=("13800000000",))
    )
    payload = json.loads(rendered.body.decode("utf-8"))
    assert payload["msgtype"] == "markdown"
    assert KEYWORD in payload["markdown"]["text"]
    assert "@13800000000" in payload["markdown"]["text"]
    assert payload["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert "|" not in payload["markdown"]["text"]  # DingTalk markdown has no tables


def test_dingtalk_body_fits_20000_encoded_bytes_and_keeps_keyword_and_mentions():
    rendered = render_dingtalk(
        build_digest(cjk_failures(200), {}, T0),
        keyword=KEYWORD,
        mentions=ChatMentions(mobiles=("13800000000",)),
    )
    assert len(rendered.body) <= DINGTALK_MAX_BODY_BYTES
    assert rendered.body == json.dumps(rendered.payload, ensure_ascii=False, separators=(",", ":")).encode()
    text = rendered.payload["markdown"]["text"]
    assert rendered.omitted > 0 and f"… and {rendered.omitted} more" in text
    assert text.endswith(KEYWORD) and "@13800000000" in text


def test_wecom_markdown_fits_4096_content_bytes_and_keeps_mentions():
    rendered = render_wecom(
        build_digest(cjk_failures(50), {}, T0), mentions=ChatMentions(user_ids=("zhangsan",))
    )
    content = rendered.payload["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MAX_MARKDOWN_BYTES
    assert f"… and {rendered.omitted} more" in content
    assert content.endswith("<@zhangsan>")


def test_wecom_mentions_by_mobile_need_a_text_message_within_2048_bytes():
    rendered = render_wecom(
        build_digest(cjk_failures(10), {}, T0),
        mentions=ChatMentions(mobiles=("13800000000",), user_ids=("lisi",), at_all=True),
    )
    text = rendered.payload["text"]
    assert rendered.payload["msgtype"] == "text"
    assert len(text["content"].encode("utf-8")) <= WECOM_MAX_TEXT_BYTES
    assert text["mentioned_mobile_list"] == ["13800000000"]
    assert text["mentioned_list"] == ["lisi", "@all"]


@pytest.mark.parametrize("budget_filler", ["x", "数", "😀"], ids=["ascii", "cjk", "emoji"])
def test_truncation_never_splits_a_character(budget_filler):
    # One item far over the limit on its own: it is cut, and the cut must still be valid UTF-8.
    event = failure(1, name=budget_filler * 300, error=budget_filler * 300)
    rendered = render_wecom(build_digest([event], {}, T0), mentions=ChatMentions(mobiles=("13800000000",)))
    content = rendered.payload["text"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MAX_TEXT_BYTES
    assert "…" in content and "\ufffd" not in content
    assert content.endswith("Sent by ds-monitor at 2024-03-01T08:00:00+00:00")


def test_email_html_escapes_ds_values_and_plain_text_keeps_them():
    evil = failure(1, name="<script>alert(1)</script> & co", error='bad "quote" <b>')
    content = render_email(build_digest([evil], {}, T0))
    assert "<script>" not in content.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in content.html
    assert "<script>alert(1)</script> & co" in content.text
    assert '<a href="http://ds.example/ui/projects/9/workflow/instances/1">' in content.html


def test_chat_markdown_cannot_be_broken_by_names():
    evil = failure(1, name="x](http://evil)<@all>`")
    text = render_dingtalk(build_digest([evil], {}, T0)).payload["markdown"]["text"]
    assert "](http://evil)" not in text and "<@all>" not in text


def test_test_message_renders_on_every_channel():
    digest = build_test_digest(T0)
    assert "test message" in render_dingtalk(digest, keyword=KEYWORD).payload["markdown"]["text"]
    assert "configured correctly" in render_wecom(digest).payload["markdown"]["content"]
    assert "configured correctly" in render_email(digest).text

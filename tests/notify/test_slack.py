"""Slack sender against the Slack double (a real HTTP server speaking Slack's statuses)."""

import pytest

from ds_monitor.config import SlackConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import (
    SLACK_MAX_BLOCKS,
    SLACK_MAX_TEXT_CHARS,
    SLACK_MAX_TOTAL_CHARS,
    Digest,
    DigestItem,
    build_digest,
    build_test_digest,
    render_slack,
)
from ds_monitor.notify.events import Event
from ds_monitor.notify.slack import SlackSender, check_webhook
from tests.notify.conftest import T0
from tests.notify.doubles.slack import SlackDouble

HOOK_PATH = "/services/T0001/B0002/xoxSecretPart77"


@pytest.fixture
def slack_double(clock):
    double = SlackDouble(HOOK_PATH, clock=clock)
    yield double
    double.close()


def sender_for(url):
    return SlackSender(SlackConfig(enabled=True, webhook_url=url), timeout=(1, 2))


def failure(i, **fields):
    values = dict(
        kind="failure_detected",
        project_code=3,
        project_name="marketing",
        definition_code=5,
        definition_name="campaign_<sync> & co",
        instance_id=i,
        instance_name=f"campaign-{i}",
        state="FAILURE",
        ui_url=f"http://ds.example/ui/instances/{i}",
    )
    values.update(fields)
    return Event(**values)


def test_block_kit_digest_is_accepted_with_escaped_mrkdwn_and_links(slack_double):
    sender_for(slack_double.webhook).send(build_digest([failure(1)], {}, T0))
    [payload] = slack_double.accepted
    assert payload["text"].startswith("[ds-monitor] 1 event")
    header, section, footer = payload["blocks"]
    assert header["type"] == "header" and footer["type"] == "context"
    text = section["text"]["text"]
    assert "campaign_&lt;sync&gt; &amp; co" in text
    assert text.endswith("<http://ds.example/ui/instances/1|Open in DolphinScheduler>")


def test_many_incidents_fit_50_blocks_and_say_how_many_are_left_out(slack_double):
    digest = build_digest([failure(i) for i in range(200)], {"def:5": 3}, T0)
    rendered = render_slack(digest)
    blocks = rendered.payload["blocks"]
    assert len(blocks) <= SLACK_MAX_BLOCKS
    assert rendered.omitted > 0 and blocks[-2]["text"]["text"] == f"… and {rendered.omitted} more"
    sender_for(slack_double.webhook).send(digest)
    assert len(slack_double.accepted) == 1


def test_long_items_are_cut_to_3000_characters_keeping_the_link_and_the_total_budget(slack_double):
    facts = tuple((f"Fact {n}", "é" * 290) for n in range(12))  # about 3,600 characters per item
    items = tuple(DigestItem("failure_detected", f"Failure {i}", facts, link=f"http://ds/{i}") for i in range(8))
    digest = Digest(title="t", summary="s", items=items, footer="f")
    rendered = render_slack(digest)
    sections = [b["text"]["text"] for b in rendered.payload["blocks"] if b["type"] == "section"]
    assert all(len(text) <= SLACK_MAX_TEXT_CHARS for text in sections)
    assert sections[0].endswith("<http://ds/0|Open in DolphinScheduler>")
    assert sum(map(len, sections)) <= SLACK_MAX_TOTAL_CHARS
    assert rendered.omitted == 8 - 3 and sections[-1] == "… and 5 more"
    sender_for(slack_double.webhook).send(digest)
    assert len(slack_double.accepted) == 1


def test_test_message_is_accepted(slack_double):
    sender_for(slack_double.webhook).send(build_test_digest(T0))
    assert "configured correctly" in slack_double.accepted[0]["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("setup", "code", "retryable"),
    [
        (lambda d: setattr(d, "archived", True), 410, False),
        (lambda d: setattr(d, "per_minute", 0), 429, False),
        (lambda d: setattr(d, "fault", ("status", 500)), 500, True),
    ],
    ids=["archived", "rate-limited", "server-error"],
)
def test_refusals_are_classified(slack_double, setup, code, retryable):
    setup(slack_double)
    with pytest.raises(NotifyError) as caught:
        sender_for(slack_double.webhook).send(build_test_digest(T0))
    assert caught.value.code == code and caught.value.retryable is retryable
    assert "xoxSecretPart77" not in str(caught.value)


def test_unknown_hook_is_404_and_names_the_key_not_the_url(slack_double):
    with pytest.raises(NotifyError, match="check notification.slack.webhook_url") as caught:
        sender_for(slack_double.base_url + "/services/T0001/B0002/wrongSecret").send(build_test_digest(T0))
    assert caught.value.code == 404 and not caught.value.retryable
    assert "wrongSecret" not in str(caught.value)


def test_a_payload_slack_cannot_read_is_not_retried(slack_double):
    sender = sender_for(slack_double.webhook)
    with pytest.raises(NotifyError) as caught:
        sender.post(b"{not json")
    assert caught.value.code == 400 and not caught.value.retryable and "invalid_payload" in str(caught.value)


def test_an_answer_that_is_not_slacks_is_a_failure(slack_double):
    slack_double.fault = ("html",)
    with pytest.raises(NotifyError) as caught:
        sender_for(slack_double.webhook).send(build_test_digest(T0))
    assert caught.value.code == "not_slack"


def test_connection_errors_are_retryable_and_never_show_the_hook_path():
    with pytest.raises(NotifyError) as caught:
        sender_for("http://127.0.0.1:9" + HOOK_PATH).send(build_test_digest(T0))
    assert caught.value.retryable and "xoxSecretPart77" not in str(caught.value)


@pytest.mark.parametrize("url", ["", "hooks.slack.com/services/x", "https://hooks.slack.com/"])
def test_unusable_webhook_is_a_config_error(url):
    with pytest.raises(ConfigError, match=r"^notification.slack.webhook_url: must be the incoming webhook URL"):
        check_webhook(url)

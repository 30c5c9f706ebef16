"""Generic signed webhook against a receiver double that checks the signature and the schema."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from ds_monitor.config import WebhookConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import build_digest, build_test_digest
from ds_monitor.notify.events import Event
from ds_monitor.notify.generic import GenericWebhookSender, signature
from tests.notify.conftest import T0
from tests.notify.doubles.generic import GenericReceiverDouble

HOOK_SECRET = "whsec-4f1c2a"


@pytest.fixture
def receiver(clock):
    double = GenericReceiverDouble(secret=HOOK_SECRET, clock=clock)
    yield double
    double.close()


def sender_for(url, **overrides):
    settings = {"enabled": True, "url": url, "secret": HOOK_SECRET, "timeout_seconds": 2}
    settings.update(overrides)
    return GenericWebhookSender(WebhookConfig(**settings))


def failure(**fields):
    values = dict(
        kind="failure_detected",
        project_code=7,
        project_name="finance",
        definition_code=11,
        definition_name="daily_etl",
        instance_id=42,
        instance_name="daily_etl-1-20240301",
        state="FAILURE",
        start_time=T0 - timedelta(minutes=5),
        end_time=T0,
        ds_error="task sql_load failed",
        ui_url="http://ds/ui/projects/7/workflow/instances/42",
    )
    values.update(fields)
    return Event(**values)


def test_signature_is_the_hex_hmac_sha256_of_the_raw_body():
    body = b'{"schema":1}'
    assert signature("s3cret", body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_the_signed_schema_1_document_carries_every_event(receiver):
    events = [failure(), Event("monitor_unhealthy", failed_sweeps=3, error_reason="DS error", error="boom")]
    sender_for(receiver.url).send(build_digest(events, {"def:11": 2}, T0))
    [document] = receiver.accepted
    assert document["schema"] == 1 and document["test"] is False
    assert document["sent_at"] == T0.isoformat()
    assert document["suppressed_before"] == [{"rate_key": "def:11", "count": 2}]
    first, second = document["events"]
    assert first["kind"] == "failure_detected" and first["incident_key"] == "11:42"
    assert first["project"] == {"code": 7, "name": "finance"}
    assert first["workflow"] == {"code": 11, "name": "daily_etl"}
    assert first["instance"]["id"] == 42 and first["instance"]["start_time"] == (T0 - timedelta(minutes=5)).isoformat()
    assert first["link"] == "http://ds/ui/projects/7/workflow/instances/42"
    assert second["kind"] == "monitor_unhealthy" and second["project"] is None and second["workflow"] is None
    assert second["detail"] == "3 consecutive sweeps failed (DS error): boom" and first["detail"] is None
    # the receiver verified the signature over the exact bytes it got
    [request] = receiver.requests
    assert request.headers["X-DS-Monitor-Signature"] == signature(HOOK_SECRET, request.body)


def test_test_message_is_a_document_without_events(receiver):
    sender_for(receiver.url).send(build_test_digest(T0))
    assert receiver.accepted[0]["test"] is True and receiver.accepted[0]["events"] == []


def test_no_secret_no_signature_header(clock):
    double = GenericReceiverDouble(clock=clock)
    try:
        sender_for(double.url, secret="").send(build_test_digest(T0))
        assert "X-DS-Monitor-Signature" not in double.requests[0].headers
    finally:
        double.close()


def test_wrong_secret_is_refused_for_good_and_the_secret_is_not_shown(receiver):
    with pytest.raises(NotifyError) as caught:
        sender_for(receiver.url, secret="not-the-secret").send(build_test_digest(T0))
    assert caught.value.code == 401 and not caught.value.retryable
    assert "not-the-secret" not in str(caught.value)


def test_server_errors_are_retryable_and_429_is_a_rate_limit(receiver, clock):
    receiver.fault, receiver.fail_times = ("status", 503), 1
    with pytest.raises(NotifyError) as caught:
        sender_for(receiver.url).send(build_test_digest(T0))
    assert caught.value.retryable and caught.value.code == 503
    receiver.per_minute = 0
    with pytest.raises(NotifyError) as caught:
        sender_for(receiver.url).send(build_test_digest(T0))
    assert caught.value.code == 429
    assert 429 in GenericWebhookSender.limits.block_seconds


def test_credentials_in_the_url_never_reach_an_error(receiver):
    url = receiver.url.replace("http://", "http://user:pa55word@") + "?token=tok-123"
    # the double answers 404 for an unknown path: the error names the host, nothing else of the URL
    with pytest.raises(NotifyError) as caught:
        sender_for(url.replace("/hooks/ds-monitor", "/hooks/other")).send(build_test_digest(T0))
    text = str(caught.value)
    assert caught.value.code == 404
    assert "pa55word" not in text and "tok-123" not in text and "/hooks/other" not in text


def test_connection_refused_is_retryable_and_redacted():
    with pytest.raises(NotifyError) as caught:
        sender_for("http://127.0.0.1:9/hooks/secret-path?token=tok-123").send(build_test_digest(T0))
    assert caught.value.retryable
    assert "secret-path" not in str(caught.value) and "tok-123" not in str(caught.value)


@pytest.mark.parametrize("url", ["", "ftp://host/x", "hooks/ds-monitor"])
def test_unusable_url_is_a_config_error_naming_the_key(url):
    with pytest.raises(ConfigError, match=r"^notification.webhook.url: must be an http\(s\) URL$"):
        sender_for(url)


def test_body_is_compact_utf8_json(receiver):
    sender = sender_for(receiver.url)
    rendered = sender.render(build_digest([failure(definition_name="日报")], {}, T0))
    assert "日报".encode() in rendered.body
    assert json.loads(rendered.body) == rendered.payload


def test_manager_carries_events_past_a_429_and_sends_them_after_the_block(receiver):
    from ds_monitor.config import NotificationConfig
    from tests.notify.dispatch import Manager

    config = NotificationConfig(webhook=WebhookConfig(enabled=True, url=receiver.url, secret=HOOK_SECRET))
    manager = Manager(config, sleep=lambda seconds: None)
    receiver.per_minute = 0
    results, state = manager.dispatch([failure()], {}, T0)
    assert [(r.channel, r.result) for r in results] == [("webhook", "failed")]
    receiver.per_minute = 60
    results, state = manager.dispatch([], state, T0 + timedelta(seconds=30))
    # still blocked: reported as deferred, nothing reaches the receiver, the event stays owed
    assert [r.detail.split(":")[1].strip() for r in results] == ["deferred to a later dispatch"]
    assert receiver.accepted == [] and len(receiver.requests) == 1
    results, state = manager.dispatch([], state, T0 + timedelta(seconds=61))
    assert [(r.channel, r.result, r.incident_key) for r in results] == [("webhook", "sent", "11:42")]
    assert [e["incident_key"] for e in receiver.accepted[0]["events"]] == ["11:42"]

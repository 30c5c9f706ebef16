"""The generic webhook: one signed, versioned JSON document per dispatch, for any receiver.

This is the integration point for everything ds-monitor does not speak natively (PagerDuty,
Opsgenie, an internal tool). The document carries data, not wording: every event of the dispatch
with its incident key, kind, project, workflow, instance and link. Its shape is versioned
(``"schema": 1``) and documented in the README; a change that is not purely additive gets a new
version. With a secret, the body is signed like GitHub does it:
``X-DS-Monitor-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``.

Success is any 2xx. 429 is the receiver's rate limit (we stay away for a minute); 5xx, connection
errors and 408 are worth retrying; any other 4xx is the receiver refusing the document for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit

import requests

from ds_monitor.config import WebhookConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import Digest, Rendered, describe
from ds_monitor.notify.events import Event
from ds_monitor.notify.pacer import PaceLimits
from ds_monitor.notify.webhook import CONNECT_TIMEOUT_SECONDS, WebhookSender

SCHEMA_VERSION = 1
SIGNATURE_HEADER = "X-DS-Monitor-Signature"
RATE_LIMITED = 429
GENERIC_LIMITS = PaceLimits(per_window=60, window_seconds=60, block_seconds={RATE_LIMITED: 60})


def signature(secret: str, body: bytes) -> str:
    """The ``X-DS-Monitor-Signature`` value of ``body``: ``sha256=`` and the lower-case hex HMAC."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def build_document(digest: Digest) -> dict:
    """The schema-1 document of one dispatch (README, "Generic webhook document")."""
    sent_at = digest.created_at.isoformat() if digest.created_at else None
    return {
        "schema": SCHEMA_VERSION,
        "source": "ds-monitor",
        "test": digest.test,
        "sent_at": sent_at,
        "title": digest.title,
        "suppressed_before": [{"rate_key": key, "count": count} for key, count in digest.suppressed_before],
        "events": [_event_document(event) for event in digest.events],
    }


def _event_document(event: Event) -> dict:
    def stamp(moment):
        return moment.isoformat() if moment is not None else None

    project = None
    if event.project_code or event.project_name:
        project = {"code": event.project_code or None, "name": event.project_name or None}
    workflow = None
    if event.definition_code is not None:
        workflow = {"code": event.definition_code, "name": event.definition_name or None}
    instance = None
    if event.instance_id is not None:
        instance = {
            "id": event.instance_id,
            "name": event.instance_name or None,
            "state": event.state or None,
            "start_time": stamp(event.start_time),
            "end_time": stamp(event.end_time),
        }
    return {
        "kind": event.kind,
        "incident_key": event.incident_key,
        "announcement_key": event.announcement_key,
        "project": project,
        "workflow": workflow,
        "instance": instance,
        "fire_time": stamp(event.fire_time),
        "attempt": event.attempt,
        "max_attempts": event.max_attempts,
        "failures_in_window": event.failures,
        "ds_error": event.ds_error or None,
        "detail": describe(event) or None,
        "link": event.ui_url or None,
        "failure_class": event.failure_class or None,
        "failure_line": event.failure_line or None,
        "failed_tasks": [dict(task) for task in event.failed_tasks],
    }


def check_url(value: str, config_key: str) -> str:
    """The receiver's URL, stripped; ConfigError naming ``config_key`` (never the value) if unusable."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{config_key}: must be an http(s) URL")
    return value


class GenericWebhookSender(WebhookSender):
    """POSTs the schema-1 JSON document, signed when a secret is set."""

    name = "webhook"
    label = "Webhook"
    limits = GENERIC_LIMITS

    def __init__(self, config: WebhookConfig, *, session: requests.Session | None = None):
        url = check_url(config.url, "notification.webhook.url")
        read = float(config.timeout_seconds)
        super().__init__(url, session=session, timeout=(min(CONNECT_TIMEOUT_SECONDS, read), read))
        parts = urlsplit(url)
        # Any part of a user's URL may be a credential: the path, the query, the password.
        self._secrets += tuple(s for s in (parts.path.strip("/") and parts.path, parts.query, parts.password) if s)
        self._secret = config.secret
        if config.secret:
            self._secrets += (config.secret,)

    def render(self, digest: Digest) -> Rendered:
        payload = build_document(digest)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Rendered(body=body, payload=payload)

    def url(self) -> str:
        return self._credential

    def headers(self, body: bytes) -> dict[str, str]:
        headers = super().headers(body)
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        return headers

    def judge(self, response: requests.Response, host: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        raise self.explain(status, self.clean(response.text.strip()))

    def explain(self, code: int, message: str) -> NotifyError:
        said = f": {message}" if message else ""
        if code == RATE_LIMITED:
            return NotifyError(
                f"Webhook receiver rate limit (HTTP 429){said}; waiting a minute", retryable=False, code=code
            )
        if 300 <= code < 400:
            return NotifyError(
                f"Webhook receiver answered a redirect (HTTP {code}), not followed: "
                "check notification.webhook.url",
                retryable=False,
                code=code,
            )
        if code >= 500 or code == 408:
            return NotifyError(f"Webhook receiver failed (HTTP {code}){said}", retryable=True, code=code)
        return NotifyError(
            f"Webhook receiver refused the document (HTTP {code}){said}", retryable=False, code=code
        )

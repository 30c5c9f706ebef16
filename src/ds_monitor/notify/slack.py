"""Slack incoming webhook sender: a Block Kit digest; Slack answers with HTTP statuses, not error codes.

Facts (README, "Slack"): the whole webhook URL is the credential (its path ``/services/T…/B…/…``);
success is HTTP 200 with the body ``ok``; errors are an HTTP status with a short plain-text reason:
400 ``invalid_payload`` / ``no_text`` / ``invalid_blocks``, 403 ``action_prohibited`` /
``invalid_token``, 404 ``channel_not_found`` / ``no_service``, 410 ``channel_is_archived``, 429
``rate_limited`` (with ``Retry-After``), 500 ``rollup_error``. About one message per second per
webhook.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from ds_monitor.config import SlackConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import Digest, Rendered, render_slack
from ds_monitor.notify.pacer import PaceLimits
from ds_monitor.notify.webhook import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, WebhookSender

RATE_LIMITED = 429
SLACK_LIMITS = PaceLimits(per_window=1, window_seconds=1, block_seconds={RATE_LIMITED: 60})

# Refusals that mean the webhook itself is gone or forbidden: only a new URL helps.
_GONE = {404: "the webhook or its channel no longer exists", 410: "the channel is archived"}


def check_webhook(value: str, config_key: str = "notification.slack.webhook_url") -> str:
    """The webhook URL, stripped; ConfigError naming ``config_key`` (never the value) if unusable."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.strip("/"):
        raise ConfigError(
            f"{config_key}: must be the incoming webhook URL (https://hooks.slack.com/services/…)"
        )
    return value


class SlackSender(WebhookSender):
    """Sends digests to one Slack incoming webhook."""

    name = "slack"
    label = "Slack"
    limits = SLACK_LIMITS

    def __init__(
        self,
        config: SlackConfig,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
    ):
        self._url = check_webhook(config.webhook_url)
        # The path is the secret part; it is also what requests' error texts show of the URL.
        super().__init__(urlsplit(self._url).path, session=session, timeout=timeout)
        self._secrets += (self._url,)

    def render(self, digest: Digest) -> Rendered:
        return render_slack(digest)

    def url(self) -> str:
        return self._url

    def judge(self, response: requests.Response, host: str) -> None:
        status, text = response.status_code, self.clean(response.text.strip())
        if status == 200 and text == "ok":
            return
        if status == 200:
            raise NotifyError(
                f"Slack: HTTP 200 from {host} but not Slack's answer (ok)", retryable=False, code="not_slack"
            )
        raise self.explain(status, text)

    def explain(self, code: int, message: str) -> NotifyError:
        said = f" {message}" if message else ""
        if code == RATE_LIMITED:
            return NotifyError(
                "Slack rate limit (HTTP 429): about one message a second per webhook", retryable=False, code=code
            )
        if code in _GONE:
            return NotifyError(
                f"Slack refused the message (HTTP {code}{said}): {_GONE[code]}; "
                "check notification.slack.webhook_url",
                retryable=False,
                code=code,
            )
        if code == 403:
            return NotifyError(
                f"Slack refused the message (HTTP 403{said}): the workspace does not let this webhook post here",
                retryable=False,
                code=code,
            )
        if code >= 500:
            return NotifyError(f"Slack failed (HTTP {code}{said})", retryable=True, code=code)
        if 300 <= code < 400:
            return NotifyError(
                f"Slack answered a redirect (HTTP {code}), not followed: check notification.slack.webhook_url",
                retryable=False,
                code=code,
            )
        # 400 invalid_payload / no_text / invalid_blocks: our message is wrong; resending it will not help.
        return NotifyError(f"Slack refused the message (HTTP {code}{said})", retryable=False, code=code)

"""DingTalk custom robot sender: markdown digests, optional SEC signing, errcode-based results.

Facts from notify-channels.md section 1: the access token is the whole credential (accepted as a
full webhook URL or bare); signing is HMAC-SHA256 over ``timestamp + "\\n" + secret`` with a fresh
millisecond timestamp per request, Base64, URL-encoded exactly once; 310000 covers every security
check (signature, clock, keyword, IP) and only the errmsg tells them apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

import requests

from ds_monitor.config import DingTalkConfig
from ds_monitor.errors import NotifyError
from ds_monitor.notify.builder import ChatMentions, Digest, Rendered, render_dingtalk
from ds_monitor.notify.pacer import PaceLimits
from ds_monitor.notify.webhook import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    WebhookSender,
    split_webhook,
)

DINGTALK_SEND_URL = "https://oapi.dingtalk.com/robot/send"
RATE_LIMITED = 130101
DINGTALK_LIMITS = PaceLimits(per_window=18, window_seconds=60, block_seconds={RATE_LIMITED: 600})

# 310000 is one code for four security checks: (errmsg fragments, hint for the operator).
_SECURITY_HINTS = (
    (("sign", "签名"), "signature mismatch: check notification.dingtalk.secret (the whole SEC… value)"),
    (("timestamp", "时间戳"), "timestamp rejected: this host's clock is more than 1 hour off"),
    (
        ("keyword", "关键词"),
        "keyword missing: set notification.dingtalk.keyword to one of the robot's keywords",
    ),
    (("ip", "白名单"), "this host's public egress IP is not in the robot's IP allowlist"),
)


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature (raw standard Base64) of ``timestamp_ms`` with ``secret``, SEC prefix included."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_webhook(value: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(send URL, access token, other query parameters); signing parameters of a pasted URL are dropped."""
    base, token, extra = split_webhook(
        value,
        param="access_token",
        default_url=DINGTALK_SEND_URL,
        config_key="notification.dingtalk.webhook_url",
        what="access token",
    )
    return base, token, [(k, v) for k, v in extra if k not in ("timestamp", "sign")]


class DingTalkSender(WebhookSender):
    """Sends digests to one DingTalk custom robot."""

    name = "dingtalk"
    label = "DingTalk"
    limits = DINGTALK_LIMITS

    def __init__(
        self,
        config: DingTalkConfig,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
    ):
        self._base, token, self._extra_query = parse_webhook(config.webhook_url)
        super().__init__(token, session=session, timeout=timeout)
        self._secret = config.secret
        self._keyword = config.keyword
        self._mentions = ChatMentions(mobiles=tuple(config.at_mobiles), at_all=config.at_all)
        self._clock = clock

    def render(self, digest: Digest) -> Rendered:
        return render_dingtalk(digest, keyword=self._keyword, mentions=self._mentions)

    def url(self) -> str:
        query = [("access_token", self._credential), *self._extra_query]
        if self._secret:
            # A fresh signature per request: DingTalk rejects timestamps more than an hour old.
            timestamp = int(self._clock() * 1000)
            query += [("timestamp", str(timestamp)), ("sign", sign(self._secret, timestamp))]
        # urlencode quotes the raw Base64 exactly once (+ / = become %2B %2F %3D).
        return f"{self._base}?{urlencode(query)}"

    def explain(self, errcode: int, errmsg: str) -> NotifyError:
        if errcode == 310000:
            lowered = errmsg.lower()
            hint = next(
                (h for words, h in _SECURITY_HINTS if any(w in lowered for w in words)),
                "a security check failed (signature, clock, keyword or IP allowlist)",
            )
            return NotifyError(
                f"DingTalk refused the message (errcode 310000): {hint}", retryable=False, code=errcode
            )
        if errcode in (300001, 300005):
            return NotifyError(
                f"DingTalk does not know this robot (errcode {errcode}): "
                "check notification.dingtalk.webhook_url",
                retryable=False,
                code=errcode,
            )
        if errcode == RATE_LIMITED:
            return NotifyError(
                "DingTalk rate limit (errcode 130101): more than 20 messages a minute; "
                "the robot is blocked for 10 minutes",
                retryable=False,
                code=errcode,
            )
        if errcode in (460101, 101002):
            return NotifyError(
                f"DingTalk refused the message as too large (errcode {errcode})",
                retryable=False,
                code=errcode,
            )
        if errcode == -1:
            return NotifyError("DingTalk is busy (errcode -1)", retryable=True, code=errcode)
        return NotifyError(f"DingTalk errcode {errcode}: {errmsg}", retryable=False, code=errcode)

"""Feishu (飞书) / Lark custom bot sender: interactive-card digests, optional signing, ``code``-based results.

Facts (README, "Feishu / Lark"): the hook token in the URL path is the whole credential; with
signing on, the body carries ``timestamp`` (Unix **seconds**, a string) and ``sign`` =
Base64(HMAC-SHA256 with ``timestamp + "\\n" + secret`` as the **key** and an empty message), valid
for an hour; the answer is JSON ``{"code": 0, "msg": "success"}`` (older servers: ``StatusCode``),
sometimes with HTTP 400 for an error; bodies over 20 KB are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from ds_monitor.config import FeishuConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import Digest, Rendered, render_feishu
from ds_monitor.notify.pacer import PaceLimits
from ds_monitor.notify.webhook import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, WebhookSender

FEISHU_HOOK_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/"
# 9499 is both "Bad Request" and "too many request"; our bodies are valid and within 20 KB, so in
# practice it is the rate limit. 11232 is the frequency limit some answers carry (reported).
RATE_LIMIT_CODES = (9499, 11232)
# 100 a minute and 5 a second per bot (reported); one window only, with headroom on the minute.
FEISHU_LIMITS = PaceLimits(per_window=90, window_seconds=60, block_seconds=dict.fromkeys(RATE_LIMIT_CODES, 60))

_CONFIG_ERRORS = {
    19021: "signature or timestamp rejected: check notification.feishu.secret, and that this host's clock "
    "is less than an hour off",
    19022: "this host's IP address is not in the bot's IP allowlist",
    19024: "keyword missing: set notification.feishu.keyword to one of the bot's keywords",
    19001: "the bot does not exist: check notification.feishu.webhook_url",
}


def sign(secret: str, timestamp: int) -> str:
    """Feishu's signature of ``timestamp`` (seconds): the string to sign is the HMAC key, the message is empty."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def parse_webhook(value: str, config_key: str = "notification.feishu.webhook_url") -> tuple[str, str]:
    """(hook URL, token) from a full Feishu/Lark hook URL or a bare token; never echoes the value."""
    value = value.strip()
    parts = urlsplit(value)
    if not parts.scheme:
        if not value or "/" in value or "?" in value:
            raise ConfigError(f"{config_key}: neither a webhook URL nor a bare hook token")
        return FEISHU_HOOK_URL + value, value
    token = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if parts.scheme not in ("http", "https") or not parts.hostname or "/hook/" not in parts.path or not token:
        raise ConfigError(f"{config_key}: must be a bot hook URL (https://open.feishu.cn/open-apis/bot/v2/hook/…)")
    return value, token


class FeishuSender(WebhookSender):
    """Sends digests to one Feishu or Lark custom bot."""

    name = "feishu"
    label = "Feishu"
    limits = FEISHU_LIMITS

    def __init__(
        self,
        config: FeishuConfig,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
    ):
        self._url, token = parse_webhook(config.webhook_url)
        super().__init__(token, session=session, timeout=timeout)
        self._secret = config.secret
        if config.secret:
            self._secrets += (config.secret,)
        self._keyword = config.keyword
        self._clock = clock

    def render(self, digest: Digest) -> Rendered:
        rendered = render_feishu(digest, keyword=self._keyword)
        if not self._secret:
            return rendered
        # A fresh signature per request (and per retry: send() renders again): it is valid for an hour.
        timestamp = int(self._clock())
        payload = {"timestamp": str(timestamp), "sign": sign(self._secret, timestamp), **rendered.payload}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Rendered(body=body, omitted=rendered.omitted, payload=payload)

    def url(self) -> str:
        return self._url

    def judge(self, response: requests.Response, host: str) -> None:
        status = response.status_code
        try:
            data = response.json()
            code = int(data["code"] if "code" in data else data["StatusCode"])
        except (ValueError, KeyError, TypeError) as err:
            if status != 200:
                raise NotifyError(f"Feishu: HTTP {status} from {host}", retryable=status >= 500, code=status) from err
            raise NotifyError(
                f"Feishu: HTTP 200 from {host} but the answer is not the bot's JSON", retryable=False, code="not_json"
            ) from err
        if code != 0:
            raise self.explain(code, self.clean(str(data.get("msg") or data.get("StatusMessage") or "")))
        if status != 200:
            raise NotifyError(f"Feishu: HTTP {status} from {host}", retryable=status >= 500, code=status)

    def explain(self, code: int, message: str) -> NotifyError:
        if code in _CONFIG_ERRORS:
            return NotifyError(
                f"Feishu refused the message (code {code}): {_CONFIG_ERRORS[code]}", retryable=False, code=code
            )
        if code in RATE_LIMIT_CODES:
            return NotifyError(
                f"Feishu refused the request (code {code}: {message or 'rate limited'}): "
                "more than 100 messages a minute or 5 a second; waiting a minute",
                retryable=False,
                code=code,
            )
        return NotifyError(f"Feishu code {code}: {message}", retryable=False, code=code)

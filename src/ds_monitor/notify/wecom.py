"""WeCom (企业微信) group robot sender: markdown digests (text when mentioning by mobile).

Facts from notify-channels.md section 2: the key is the whole credential (accepted as a full
webhook URL or bare); no signing; content limits are UTF-8 bytes of ``content``; 45009 means
"too fast" (20 a minute per robot), 93000 a wrong key, 40058 content too long.
"""

from __future__ import annotations

from urllib.parse import urlencode

import requests

from ds_monitor.config import WeComConfig
from ds_monitor.errors import NotifyError
from ds_monitor.notify.builder import ChatMentions, Digest, Rendered, render_wecom
from ds_monitor.notify.pacer import PaceLimits
from ds_monitor.notify.webhook import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    WebhookSender,
    split_webhook,
)

WECOM_SEND_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
RATE_LIMITED = 45009
WECOM_LIMITS = PaceLimits(per_window=18, window_seconds=60, block_seconds={RATE_LIMITED: 60})


def parse_webhook(value: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(send URL, robot key, other query parameters) from a webhook URL or a bare key."""
    return split_webhook(
        value,
        param="key",
        default_url=WECOM_SEND_URL,
        config_key="notification.wework.webhook_url",
        what="robot key",
    )


class WeComSender(WebhookSender):
    """Sends digests to one WeCom group robot."""

    name = "wework"  # the channel's name in reports, metrics and state: the config section's, per the spec
    label = "WeCom"
    limits = WECOM_LIMITS

    def __init__(
        self,
        config: WeComConfig,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
    ):
        self._base, key, self._extra_query = parse_webhook(config.webhook_url)
        super().__init__(key, session=session, timeout=timeout)
        user_ids = tuple(u for u in config.mentioned_list if u != "@all")
        mobiles = tuple(m for m in config.mentioned_mobile_list if m != "@all")
        at_all = "@all" in config.mentioned_list or "@all" in config.mentioned_mobile_list
        self._mentions = ChatMentions(mobiles=mobiles, user_ids=user_ids, at_all=at_all)

    def render(self, digest: Digest) -> Rendered:
        return render_wecom(digest, mentions=self._mentions)

    def url(self) -> str:
        return f"{self._base}?{urlencode([('key', self._credential), *self._extra_query])}"

    def explain(self, errcode: int, errmsg: str) -> NotifyError:
        if errcode == 93000:
            return NotifyError(
                "WeCom does not accept this robot key (errcode 93000): check notification.wework.webhook_url",
                retryable=False,
                code=errcode,
            )
        if errcode == RATE_LIMITED:
            return NotifyError(
                "WeCom rate limit (errcode 45009): more than 20 messages a minute",
                retryable=False,
                code=errcode,
            )
        if errcode == 40058:
            return NotifyError(
                "WeCom refused the message as too long (errcode 40058)", retryable=False, code=errcode
            )
        if errcode == -1:
            return NotifyError("WeCom is busy (errcode -1)", retryable=True, code=errcode)
        return NotifyError(f"WeCom errcode {errcode}: {errmsg}", retryable=False, code=errcode)

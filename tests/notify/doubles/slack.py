"""Slack incoming webhook double: plain-text answers with HTTP statuses, Block Kit limits, rate limit.

What it checks is Slack's documented contract (README, "Slack"): 200 ``ok``; 400 ``invalid_payload``
for a body that is not JSON, ``no_text`` without text or blocks, ``invalid_blocks`` past 50 blocks,
a section or context text over 3,000 characters, a header over 150, or an unknown text type; 404
``no_service`` for an unknown hook; 410 ``channel_is_archived``; 429 with ``Retry-After``.
Double-specific: the rate window (``per_minute`` accepted messages in 60 s) and the order of checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.notify.doubles.robot import RecordedRequest, Reply, RobotDouble

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
TEXT_TYPES = {"mrkdwn", "plain_text"}


def _block_error(block: dict) -> str | None:
    kind = block.get("type")
    texts = []
    if kind == "header":
        text = block.get("text") or {}
        if text.get("type") != "plain_text" or len(text.get("text", "")) > MAX_HEADER:
            return "header"
    elif kind == "section":
        texts = [block.get("text") or {}]
    elif kind == "context":
        texts = block.get("elements") or []
    elif kind != "divider":
        return f"unknown block type {kind}"
    for text in texts:
        if text.get("type") not in TEXT_TYPES or not text.get("text") or len(text["text"]) > MAX_TEXT:
            return kind
    return None


class SlackDouble(RobotDouble):
    def __init__(self, path: str, clock: Callable[[], float] | None = None, per_minute: int = 60):
        self.path = path
        self.per_minute = per_minute
        self.archived = False
        self.sent: list[float] = []
        super().__init__(clock)

    @property
    def webhook(self) -> str:
        return self.base_url + self.path

    def answer(self, request: RecordedRequest) -> Reply:
        if request.path != self.path:
            return Reply(404, b"no_service")
        if self.archived:
            return Reply(410, b"channel_is_archived")
        try:
            payload = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Reply(400, b"invalid_payload")
        blocks = payload.get("blocks")
        if not payload.get("text") and not blocks:
            return Reply(400, b"no_text")
        if blocks is not None:
            if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
                return Reply(400, b"invalid_blocks")
            if any(_block_error(block) for block in blocks):
                return Reply(400, b"invalid_blocks")
        now = self.clock()
        self.sent = [t for t in self.sent if now - t < 60]
        if len(self.sent) >= self.per_minute:
            return Reply(429, b"rate_limited", headers=(("Retry-After", "30"),))
        self.sent.append(now)
        self.accepted.append(payload)
        return Reply(200, b"ok", "text/html")

"""WeCom group robot double: key check, message types, byte limits of content, 20 a minute.

Double-specific choices (not known from the real service, no test depends on them): the order of
the checks, 40035 for a body that is not JSON, and counting only accepted messages in the window.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs

from tests.notify.doubles.robot import RecordedRequest, RobotDouble

CONTENT_LIMITS = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
OTHER_TYPES = {"image", "news", "file", "voice", "template_card"}


class WeComDouble(RobotDouble):
    def __init__(self, keys: list[str], clock: Callable[[], float] | None = None, per_minute: int = 20):
        self.keys = set(keys)
        self.per_minute = per_minute
        self.sent: dict[str, list[float]] = {}
        self.mentions: list[dict] = []
        super().__init__(clock)

    def webhook(self, key: str) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={key}"

    def answer(self, request: RecordedRequest) -> dict:
        key = parse_qs(request.raw_query).get("key", [""])[0]
        if request.path != "/cgi-bin/webhook/send" or key not in self.keys:
            return self.errcode(93000, "invalid webhook url, hint: [x], from ip: 127.0.0.1")
        try:
            payload = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self.errcode(40035, "invalid json")
        msgtype = payload.get("msgtype")
        if msgtype not in CONTENT_LIMITS and msgtype not in OTHER_TYPES:
            return self.errcode(40008, "invalid message type")
        if msgtype in CONTENT_LIMITS:
            content = (payload.get(msgtype) or {}).get("content", "")
            if not content:
                return self.errcode(44004, "empty content")
            limit = CONTENT_LIMITS[msgtype]
            if len(content.encode("utf-8")) > limit:
                return self.errcode(40058, f"{msgtype}.content exceed max length {limit}")
        now = self.clock()
        window = [t for t in self.sent.get(key, []) if now - t < 60]
        if len(window) >= self.per_minute:
            self.sent[key] = window
            return self.errcode(45009, "api freq out of limit")
        self.sent[key] = window + [now]
        if msgtype == "text":
            text = payload["text"]
            self.mentions.append(
                {k: text[k] for k in ("mentioned_list", "mentioned_mobile_list") if k in text}
            )
        self.accepted.append(payload)
        return self.errcode(0, "ok")

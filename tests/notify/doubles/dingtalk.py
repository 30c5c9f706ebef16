"""DingTalk custom robot double: signature, timestamp, keyword, IP, rate window with block, size.

Checks run in the order of notify-channels.md 7.2. That order is our choice (DingTalk's real order
is unknown) and no test depends on it; tests assert errcodes only, never errmsg wording.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from tests.notify.doubles.robot import RecordedRequest, RobotDouble

MAX_BODY_BYTES = 20_000
TIMESTAMP_TOLERANCE_MS = 3_600_000


@dataclass
class Robot:
    token: str
    secret: str | None = None
    keywords: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] | None = None
    per_minute: int = 20
    block_seconds: float = 600
    sent: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


class DingTalkDouble(RobotDouble):
    def __init__(self, robots: list[Robot], clock: Callable[[], float] | None = None):
        self.robots = {robot.token: robot for robot in robots}
        super().__init__(clock)

    def webhook(self, token: str) -> str:
        return f"{self.base_url}/robot/send?access_token={token}"

    def answer(self, request: RecordedRequest) -> dict:
        query = parse_qs(request.raw_query)  # decodes exactly once, like a standard form decoder
        robot = self.robots.get(query.get("access_token", [""])[0])
        if request.path != "/robot/send" or robot is None:
            return self.errcode(300001, "token is not exist")
        now = self.clock()
        if robot.secret:
            timestamp = query.get("timestamp", [""])[0]
            if not timestamp.isdigit() or abs(now * 1000 - int(timestamp)) > TIMESTAMP_TOLERANCE_MS:
                return self.errcode(310000, "invalid timestamp")
            mac = hmac.new(robot.secret.encode(), f"{timestamp}\n{robot.secret}".encode(), hashlib.sha256)
            expected = base64.b64encode(mac.digest()).decode()
            if not hmac.compare_digest(expected, query.get("sign", [""])[0]):
                return self.errcode(310000, "sign not match")
        try:
            body_text = request.body.decode("utf-8")
            payload = json.loads(body_text)
        except (UnicodeDecodeError, ValueError):
            return self.errcode(40035, "缺少参数 json")
        if robot.keywords and not any(keyword in body_text for keyword in robot.keywords):
            return self.errcode(310000, "keywords not in content")
        if robot.allowed_ips is not None and request.client_ip not in robot.allowed_ips:
            return self.errcode(310000, "description:ip 不在白名单中")
        robot.sent = [t for t in robot.sent if now - t < 60]
        if now < robot.blocked_until:
            return self.errcode(130101, "send too fast, exceed 20 times per minute")
        if len(robot.sent) >= robot.per_minute:
            robot.blocked_until = now + robot.block_seconds
            return self.errcode(130101, "send too fast, exceed 20 times per minute")
        if len(request.body) > MAX_BODY_BYTES:
            return self.errcode(460101, "message too long, exceed 20000 bytes")
        if payload.get("msgtype") == "markdown":
            markdown = payload.get("markdown") or {}
            if not markdown.get("title"):
                return self.errcode(400402, "miss param : markdown->title")
            if not markdown.get("text"):
                return self.errcode(400403, "miss param : markdown->text")
        robot.sent.append(now)
        self.accepted.append(payload)
        return self.errcode(0, "ok")

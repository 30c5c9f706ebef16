"""Feishu/Lark custom bot double: hook token, signature in the body, keyword, 20 KB, rate limit.

Contract checked (README, "Feishu / Lark"): signature = Base64(HMAC-SHA256(key = timestamp + "\\n" +
secret, message = empty)), timestamp in seconds within one hour -> 19021; a keyword set and none in the
message -> 19024; body over 20 KB or not JSON -> 9499 "Bad Request"; more than ``per_minute`` in 60 s
-> 9499 "too many request" with HTTP 400 (ccfos/nightingale#1437); accepted -> {"code":0,"msg":"success"}.
Double-specific: 19001 for an unknown token (reported, not verified), the order of the checks, and
counting only accepted messages in the window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

from tests.notify.doubles.robot import RecordedRequest, Reply, RobotDouble

MAX_BODY_BYTES = 20_000
MSG_TYPES = {"text", "post", "interactive", "share_chat", "image"}


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


class FeishuDouble(RobotDouble):
    def __init__(
        self,
        token: str,
        *,
        secret: str = "",
        keywords: tuple[str, ...] = (),
        clock: Callable[[], float] | None = None,
        per_minute: int = 100,
    ):
        self.token, self.secret, self.keywords, self.per_minute = token, secret, keywords, per_minute
        self.sent: list[float] = []
        super().__init__(clock)

    def webhook(self, token: str) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{token}"

    @staticmethod
    def code(code: int, msg: str) -> dict:
        return {"code": code, "msg": msg, "data": {}}

    def answer(self, request: RecordedRequest) -> dict | Reply:
        if request.path != f"/open-apis/bot/v2/hook/{self.token}":
            return self.code(19001, "param invalid: incoming webhook access token invalid")
        if len(request.body) > MAX_BODY_BYTES:
            return self.code(9499, "Bad Request")
        try:
            payload = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self.code(9499, "Bad Request")
        if self.secret:
            timestamp = str(payload.get("timestamp", ""))
            key = f"{timestamp}\n{self.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            fresh = timestamp.isdigit() and abs(self.clock() - int(timestamp)) <= 3600
            if not fresh or not hmac.compare_digest(expected, str(payload.get("sign", ""))):
                return self.code(19021, "sign match fail or timestamp is not within one hour from current time")
        if payload.get("msg_type") not in MSG_TYPES:
            return self.code(9499, "Bad Request")
        body = payload.get("card") if payload["msg_type"] == "interactive" else payload.get("content")
        if self.keywords and not any(k in s for s in _strings(body) for k in self.keywords):
            return self.code(19024, "Key Words Not Found")
        now = self.clock()
        self.sent = [t for t in self.sent if now - t < 60]
        if len(self.sent) >= self.per_minute:
            return Reply(400, json.dumps(self.code(9499, "too many request")).encode(), "application/json")
        self.sent.append(now)
        self.accepted.append(payload)
        return {"code": 0, "msg": "success", "data": {}}

"""A receiver of the generic webhook: checks the signature and the schema-1 document, like a careful
integration would (README, "Generic webhook document").

Double-specific choices: 401 for a missing or wrong signature, 400 for a body that is not a schema-1
document, 429 past ``per_minute`` accepted documents in 60 s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

from tests.notify.doubles.robot import RecordedRequest, Reply, RobotDouble

REQUIRED_EVENT_KEYS = {
    "kind",
    "incident_key",
    "announcement_key",
    "project",
    "workflow",
    "instance",
    "fire_time",
    "attempt",
    "max_attempts",
    "failures_in_window",
    "ds_error",
    "detail",
    "link",
    "failure_class",
    "failure_line",
    "failed_tasks",
}


class GenericReceiverDouble(RobotDouble):
    def __init__(self, secret: str = "", clock: Callable[[], float] | None = None, per_minute: int = 60):
        self.secret = secret
        self.per_minute = per_minute
        self.sent: list[float] = []
        super().__init__(clock)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/ds-monitor"

    def answer(self, request: RecordedRequest) -> Reply:
        if request.path != "/hooks/ds-monitor":
            return Reply(404, b"no such hook")
        if self.secret:
            expected = "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
            given = request.headers.get("X-DS-Monitor-Signature", "")
            if not hmac.compare_digest(expected, given):
                return Reply(401, b"bad signature")
        try:
            document = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Reply(400, b"not JSON")
        if document.get("schema") != 1 or not isinstance(document.get("events"), list):
            return Reply(400, b"not a schema 1 document")
        if any(set(event) != REQUIRED_EVENT_KEYS for event in document["events"]):
            return Reply(400, b"an event does not have the schema 1 keys")
        now = self.clock()
        self.sent = [t for t in self.sent if now - t < 60]
        if len(self.sent) >= self.per_minute:
            return Reply(429, b"slow down", headers=(("Retry-After", "60"),))
        self.sent.append(now)
        self.accepted.append(document)
        return Reply(204)

"""Prometheus Alertmanager double: ``POST /api/v2/alerts`` with the v2 API's validation, and alert state.

Checks what Alertmanager's v2 API does: the body is a JSON array of postable alerts, each with a
non-empty ``labels`` map of strings (an ``alertname`` among them in practice), optional
``annotations`` map of strings, RFC 3339 ``startsAt``/``endsAt`` with ``endsAt`` not before
``startsAt``, and ``generatorURL`` a URI; otherwise 400. Alerts are identified by their label set:
a re-post updates the same alert. An alert is firing while ``endsAt`` is in the future (by the
double's clock). Double-specific: the error wording.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import urlsplit

from tests.notify.doubles.robot import RecordedRequest, Reply, RobotDouble


def _time(value) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class AlertmanagerDouble(RobotDouble):
    def __init__(self, clock: Callable[[], float] | None = None):
        self.alerts: dict[tuple, dict] = {}
        self.posts: list[list[dict]] = []
        super().__init__(clock)

    def answer(self, request: RecordedRequest) -> Reply:
        if request.path != "/api/v2/alerts":
            return Reply(404, b"404 page not found")
        try:
            alerts = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Reply(400, b'{"code":400,"message":"parsing alerts body"}', "application/json")
        if not isinstance(alerts, list):
            return Reply(400, b'{"code":400,"message":"alerts must be an array"}', "application/json")
        for alert in alerts:
            problem = self._problem(alert)
            if problem:
                return Reply(400, json.dumps({"code": 400, "message": problem}).encode(), "application/json")
        for alert in alerts:
            self.alerts[tuple(sorted(alert["labels"].items()))] = alert
        self.posts.append(alerts)
        return Reply(200, b"", "application/json")

    @staticmethod
    def _problem(alert) -> str | None:
        labels = alert.get("labels") if isinstance(alert, dict) else None
        if not isinstance(labels, dict) or not labels or not all(isinstance(v, str) and v for v in labels.values()):
            return "labels must be a non-empty map of non-empty strings"
        annotations = alert.get("annotations", {})
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            return "annotations must be a map of strings"
        starts, ends = _time(alert.get("startsAt")), _time(alert.get("endsAt"))
        if starts is None or ends is None:
            return "startsAt and endsAt must be RFC 3339 times"
        if ends < starts:
            return "start time must be before end time"
        if "generatorURL" in alert and not urlsplit(alert["generatorURL"]).scheme:
            return "generatorURL must be a URL"
        return None

    def firing(self) -> dict[str, dict]:
        """Firing alerts by their ``incident`` label (the double's clock decides)."""
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        return {
            alert["labels"].get("incident", ""): alert
            for alert in self.alerts.values()
            if _time(alert["endsAt"]) > now
        }

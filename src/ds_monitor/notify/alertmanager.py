"""Prometheus Alertmanager channel: one alert per open incident, kept firing, resolved with ``endsAt``.

Alertmanager is not a chat: it wants the *state* of every alert, re-sent while it lasts. An alert
whose ``endsAt`` passes without a re-post is resolved by Alertmanager itself, so every post gives
open alerts ``endsAt = now + 3 × resend_minutes`` and the monitor re-posts them every
``resend_minutes`` (a missed post or two never resolves anything). An incident is resolved (posted
once more with ``endsAt`` = when it ended) by its closing event (``recovery_succeeded``,
``project_readable``, ``monitor_recovered``), or when nothing was heard of it for the rate-limit
window (a failure fixed by hand in DS sends no event).

An alert's identity in Alertmanager is its label set, so labels never change during an incident:
``alertname`` (the incident's type), ``project``, ``workflow``, ``severity`` and ``incident`` (the
incident key, so two failed instances of one workflow are two alerts). Annotations say what
happened last (``summary``, ``description``, ``link``); ``generatorURL`` is the DS UI link.

The open incidents live in the notification state (``alertmanager.<channel>``), written with it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests

from ds_monitor.config import AlertmanagerConfig
from ds_monitor.errors import ConfigError, NotifyError
from ds_monitor.notify.builder import KIND_LABELS, Digest, Rendered, build_digest
from ds_monitor.notify.events import DIGEST_KIND, Event
from ds_monitor.notify.webhook import WebhookSender
from ds_monitor.timestamps import parse_stamp

log = logging.getLogger("ds_monitor.notify")

ALERTS_PATH = "/api/v2/alerts"
# Open alerts stay firing this many resend intervals past each post.
ENDS_AFTER_RESENDS = 3
CLOSING_KINDS = frozenset({"recovery_succeeded", "project_readable", "monitor_recovered"})
# (alertname, severity) per kind of incident, decided by the event that opened it.
_INCIDENT_TYPES = {
    "missed_run": ("DolphinSchedulerMissedRun", "warning"),
    "stuck_running": ("DolphinSchedulerWorkflowStuck", "warning"),
    "threshold_exceeded": ("DolphinSchedulerRepeatedFailures", "critical"),
    "project_unreadable": ("DolphinSchedulerProjectUnreadable", "critical"),
    "monitor_unhealthy": ("DSMonitorUnhealthy", "critical"),
}
_WORKFLOW_FAILED = ("DolphinSchedulerWorkflowFailed", "critical")


def check_url(value: str, config_key: str = "notification.alertmanager.url") -> str:
    """Alertmanager's base URL (``http://alertmanager:9093``), stripped of a trailing slash."""
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{config_key}: must be Alertmanager's http(s) base URL, such as http://alertmanager:9093"
        )
    return value


def alert_for(event: Event, now: datetime) -> dict:
    """The alert (labels, annotations, times) an event opens or updates; pure."""
    alertname, severity = _INCIDENT_TYPES.get(event.kind, _WORKFLOW_FAILED)
    labels = {"alertname": alertname, "severity": severity, "incident": event.incident_key}
    if event.project_name or event.project_code:
        labels["project"] = event.project_name or str(event.project_code)
    if event.definition_code is not None:
        labels["workflow"] = event.definition_name or str(event.definition_code)
    [item] = build_digest([event], {}, now).items
    description = " · ".join(f"{label}: {value}" for label, value in item.facts)
    if item.ds_error:
        description += f"{' · ' if description else ''}DS error: {item.ds_error}"
    annotations = {"summary": item.heading, "description": description or KIND_LABELS[event.kind]}
    if event.ui_url:
        annotations["link"] = event.ui_url
    return {"labels": labels, "annotations": annotations}


def apply(memory: dict, events: list[Event], now: datetime, forget_after: timedelta) -> dict:
    """The channel's memory after ``events`` and after expiring incidents silent for ``forget_after``; pure.

    ``{"open": {key: alert}, "resolved": {key: alert}, "posted_at": iso | None}``; an alert is
    ``{labels, annotations, starts_at, seen, ends_at?}``. ``resolved`` holds what still has to be
    told to Alertmanager.
    """
    open_ = dict(memory.get("open") or {})
    resolved = dict(memory.get("resolved") or {})
    stamp = now.isoformat()
    for event in events:
        if event.kind == DIGEST_KIND:  # a daily report, not an incident: nothing to keep firing
            continue
        key = event.incident_key
        if event.kind in CLOSING_KINDS:
            if key in open_:
                closed = open_.pop(key)
                summary = alert_for(event, now)["annotations"]["summary"]
                annotations = {**closed["annotations"], "summary": summary}
                resolved[key] = {**closed, "annotations": annotations, "ends_at": stamp}
            continue
        fresh = alert_for(event, now)
        if key in open_:  # the same alert: keep its labels (its identity) and start, refresh the words
            open_[key] = {**open_[key], "annotations": fresh["annotations"], "seen": stamp}
        else:
            open_[key] = {**fresh, "starts_at": stamp, "seen": stamp}
            resolved.pop(key, None)
    for key in [k for k, alert in open_.items() if _older(alert.get("seen"), now - forget_after)]:
        resolved[key] = {**open_.pop(key), "ends_at": stamp}
    return {"open": open_, "resolved": resolved, "posted_at": memory.get("posted_at")}


def due(memory: dict, changed: bool, now: datetime, resend: timedelta) -> bool:
    """Whether to post now: something changed, something is left to resolve, or a re-post is due."""
    if changed or memory["resolved"]:
        return True
    posted = parse_stamp(memory["posted_at"]) if isinstance(memory.get("posted_at"), str) else None
    return bool(memory["open"]) and (posted is None or posted <= now - resend)


def payload(memory: dict, now: datetime, resend: timedelta) -> list[dict]:
    """The ``/api/v2/alerts`` body: every open alert kept firing, every resolved one ended."""
    firing_until = (now + ENDS_AFTER_RESENDS * resend).isoformat()
    alerts = [_wire(alert, firing_until) for alert in memory["open"].values()]
    alerts += [_wire(alert, alert["ends_at"]) for alert in memory["resolved"].values()]
    return alerts


def _wire(alert: dict, ends_at: str) -> dict:
    wire = {
        "labels": alert["labels"],
        "annotations": alert["annotations"],
        "startsAt": alert["starts_at"],
        "endsAt": ends_at,
    }
    if alert["annotations"].get("link"):
        wire["generatorURL"] = alert["annotations"]["link"]
    return wire


def _older(stamp: object, than: datetime) -> bool:
    moment = parse_stamp(stamp) if isinstance(stamp, str) else None
    return moment is None or moment < than


class AlertmanagerSender(WebhookSender):
    """Keeps one Alertmanager's alerts in step with the open incidents (see the module docstring)."""

    name = "alertmanager"
    label = "Alertmanager"
    limits = None  # one post per dispatch at most; Alertmanager has no per-client rate limit

    def __init__(self, config: AlertmanagerConfig, *, session: requests.Session | None = None):
        self._base = check_url(config.url)
        super().__init__(self._base, session=session)
        parts = urlsplit(self._base)
        if parts.password:
            self._secrets += (parts.password,)
        self.resend = timedelta(minutes=config.resend_minutes)

    def url(self) -> str:
        return self._base + ALERTS_PATH

    def render(self, digest: Digest) -> Rendered:
        """``notify test``: one alert that is already resolved, so it proves the path and pages nobody."""
        now = digest.created_at
        alert = {
            "labels": {"alertname": "DSMonitorTest", "severity": "none"},
            "annotations": {"summary": digest.title, "description": digest.summary},
            "startsAt": (now - timedelta(seconds=1)).isoformat(),
            "endsAt": now.isoformat(),
        }
        return Rendered(body=_json([alert]), payload={"alerts": [alert]})

    def sync(
        self, events: list[Event], memory: dict | None, now: datetime, forget_after: timedelta
    ) -> tuple[dict, NotifyError | None]:
        """Apply ``events`` and post when due; returns (new memory, the failure or None). Never raises."""
        memory = apply(memory or {}, events, now, forget_after)
        if not due(memory, bool(events), now, self.resend):
            return memory, None
        try:
            self.post(_json(payload(memory, now, self.resend)))
        except NotifyError as err:
            log.warning("%s: %s (posted again at the next sweep)", self.name, err)
            return memory, err
        return {**memory, "resolved": {}, "posted_at": now.isoformat()}, None

    def judge(self, response: requests.Response, host: str) -> None:
        if 200 <= response.status_code < 300:
            return
        raise self.explain(response.status_code, self.clean(response.text.strip()))

    def explain(self, code: int, message: str) -> NotifyError:
        said = f": {message}" if message else ""
        if code >= 500:
            return NotifyError(f"Alertmanager failed (HTTP {code}){said}", retryable=True, code=code)
        return NotifyError(
            f"Alertmanager refused the alerts (HTTP {code}){said}: check notification.alertmanager.url "
            "(the base URL, without /api/v2/alerts)",
            retryable=False,
            code=code,
        )


def _json(alerts: list[dict]) -> bytes:
    return json.dumps(alerts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


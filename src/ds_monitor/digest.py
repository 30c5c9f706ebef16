"""The daily digest (spec section 10): one message a day with the last 24 hours at a glance.

A pure module over the content of ``digest_state.json`` (``now`` passed in). After every sweep the
monitor hands :func:`record` what the sweep saw; the tallies live in hourly buckets kept for eight
days, so "the last 24 hours" and "the last 7 days" are sums over buckets, whatever the restarts.
Failures are kept by incident (definition and instance), so an instance seen failing on many sweeps
counts once.

:func:`due` says whether today's digest is owed: the local time of ``notification.digest.at`` in its
zone has passed and no digest was claimed for that local date. The monitor claims the date in the
state before it hands the digest to the notifier (so a crash or a restart never sends two in a day;
the notifier carries a failed send), and the digest is never rate-limited or silenced.

State::

    {"version": 1, "sent_for": "2026-11-24",            # the local date of the last digest
     "hours": {"2026-11-23T12": {"ds_calls": 40, "suppressed": 1, "silenced": 0, "missed": 0, "stuck": 0,
                                 "triggered": 1, "succeeded": 1, "failed": 0}},
     "failures": {"<def>:<inst>": {"at": "<iso>", "workflow": "etl", "project": "data"}}}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ds_monitor.config import DigestConfig, parse_at
from ds_monitor.notify.events import DailyFigures, Event
from ds_monitor.timestamps import parse_stamp

STATE_VERSION = 1
RETENTION = timedelta(days=8)
DAY = timedelta(hours=24)
FLAKY_DAYS = 7
FLAKY_SHOWN = 5
COUNTERS = ("ds_calls", "suppressed", "silenced", "missed", "stuck", "triggered", "succeeded", "failed")
# Follow-up kinds that end a recovery attempt, and how they count.
_OUTCOMES = {"recovery_succeeded": "succeeded", "recovery_failed": "failed", "recovery_exhausted": "failed"}


def record(state: dict, report, events: Iterable[Event], now: datetime) -> dict:
    """The state with one sweep added: its report (a SweepReport) and the events it decided."""
    state = _normalise(state)
    bucket = state["hours"].setdefault(_hour(now), dict.fromkeys(COUNTERS, 0))
    for name in COUNTERS:
        bucket.setdefault(name, 0)
    bucket["ds_calls"] += int(report.api.get("calls", 0))
    bucket["suppressed"] += sum(1 for row in report.notifications if row.result == "suppressed")
    bucket["silenced"] += len(report.silenced)
    bucket["missed"] += len(report.missed_runs)
    bucket["stuck"] += len(report.stuck_runs)
    bucket["triggered"] += report.triggered()
    for event in events:
        if event.kind in _OUTCOMES:
            bucket[_OUTCOMES[event.kind]] += 1
        elif event.kind == "failure_detected" and event.incident_key not in state["failures"]:
            state["failures"][event.incident_key] = {
                "at": now.isoformat(),
                "workflow": event.definition_name or str(event.definition_code),
                "project": event.project_name,
            }
    return _prune(state, now)


def due(state: dict, config: DigestConfig, now: datetime) -> str | None:
    """The local date whose digest is owed now, or None (disabled, too early, or already claimed)."""
    if not config.enabled:
        return None
    local = now.astimezone(ZoneInfo(config.timezone))
    hour, minute = parse_at(config.at)
    if local.time() < time(hour, minute):
        return None
    today = local.date().isoformat()
    return None if _normalise(state).get("sent_for") == today else today


def claim(state: dict, day: str) -> dict:
    """The state with ``day``'s digest marked as sent (saved before the send: never two a day)."""
    state = _normalise(state)
    state["sent_for"] = day
    return state


def build(state: dict, day: str, now: datetime) -> Event:
    """The digest event: the last 24 hours and the flakiest workflows of 7 days, as figures."""
    state = _normalise(state)
    since = now - DAY
    totals = Counter()
    for key, bucket in state["hours"].items():
        start = _bucket_start(key)
        if start is not None and start > since - timedelta(hours=1):  # the bucket overlaps the 24 hours
            totals.update({name: int(bucket.get(name, 0)) for name in COUNTERS})
    recent = [f for f in state["failures"].values() if (parse_stamp(f.get("at")) or since) > since]
    week = [f for f in state["failures"].values() if (parse_stamp(f.get("at")) or now) > now - timedelta(FLAKY_DAYS)]
    flaky = Counter(f"{f['project']}/{f['workflow']}" for f in week).most_common(FLAKY_SHOWN)
    figures = DailyFigures(
        day=day,
        since=since,
        failures=len(recent),
        workflows=len({(f["project"], f["workflow"]) for f in recent}),
        triggered=totals["triggered"],
        succeeded=totals["succeeded"],
        failed=totals["failed"],
        flakiest=tuple(flaky),
        missed=totals["missed"],
        stuck=totals["stuck"],
        suppressed=totals["suppressed"],
        silenced=totals["silenced"],
        ds_calls=totals["ds_calls"],
    )
    return Event(kind="digest", fire_time=now, figures=figures)


def _normalise(state: dict) -> dict:
    if not isinstance(state, dict) or state.get("version", STATE_VERSION) != STATE_VERSION:
        state = {}
    hours = state.get("hours")
    failures = state.get("failures")
    return {
        "version": STATE_VERSION,
        "sent_for": state.get("sent_for") if isinstance(state.get("sent_for"), str) else None,
        "hours": {k: dict(v) for k, v in hours.items() if isinstance(v, dict)} if isinstance(hours, dict) else {},
        "failures": {
            k: dict(v) for k, v in failures.items() if isinstance(v, dict) and {"at", "workflow", "project"} <= set(v)
        }
        if isinstance(failures, dict)
        else {},
    }


def _prune(state: dict, now: datetime) -> dict:
    horizon = now - RETENTION
    state["hours"] = {k: v for k, v in state["hours"].items() if (_bucket_start(k) or horizon) > horizon}
    state["failures"] = {
        k: v for k, v in state["failures"].items() if (parse_stamp(v.get("at")) or horizon) > horizon
    }
    return state


def _hour(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H")


def _bucket_start(key: str) -> datetime | None:
    try:
        return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
    except ValueError:
        return None

"""The product rate limit and the "announce once" memory: pure decisions over a plain state dict.

This limiter exists for people (spec section 8): at most ``max_per_window`` messages per workflow
definition (and per monitor) in ``window_hours``. It is separate from the per-robot send
pacing in :mod:`ds_monitor.notify.pacer`, which exists for the chat services.

The state is the content of ``notification_rate_limit.json`` (the lead's state store persists it):

.. code-block:: text

    {"version": 1,
     "announced": {"<incident>|<kind>[#<attempt>]": "<iso time first announced>"},
     "rate": {"<rate key>": {"sent": ["<iso>", ...], "suppressed": <int>, "updated": "<iso>"}},
     "outbox": {...},      # admitted events each channel still owes (:mod:`ds_monitor.notify.outbox`)
     "transport": {...},   # owned by the pacer (notify/pacer.py)
     "health": {...}}      # the monitor's consecutive failed sweeps (:class:`ds_monitor.sweep.health.SweepHealth`)

Every function takes ``now`` and returns a new dict; nothing here reads the clock or mutates its input.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ds_monitor.config import RateLimitConfig
from ds_monitor.notify import outbox
from ds_monitor.notify.events import NEVER_SUPPRESSED, Event
from ds_monitor.timestamps import parse_stamp

STATE_VERSION = 1
# How long memory outlives the rate window before pruning (spec section 5).
RETENTION_PAST_WINDOW = timedelta(days=7)
# A systemic failure that persists is announced again once per rate window, as a reminder; every
# other announcement is made once per incident.
REMINDED_EACH_WINDOW = frozenset({"threshold_exceeded"})
# Health flips back and forth (the monitor's, a project's readability): announcing one side re-arms the other.
_REARMS = {
    "monitor_unhealthy": "monitor_recovered",
    "monitor_recovered": "monitor_unhealthy",
    "project_unreadable": "project_readable",
    "project_readable": "project_unreadable",
}


@dataclass(frozen=True)
class Admission:
    """The outcome of one dispatch's events against the memory and the product rate limit."""

    admitted: tuple[Event, ...] = ()
    suppressed: tuple[Event, ...] = ()
    # rate key -> messages suppressed since the last one went out, for the keys admitted now
    suppressed_before: dict[str, int] = field(default_factory=dict)


def empty_state() -> dict:
    """The state of a monitor that has never notified."""
    # "alertmanager": the open incidents each Alertmanager channel mirrors (notify.alertmanager)
    return {
        "version": STATE_VERSION,
        "announced": {},
        "rate": {},
        "outbox": {},
        "transport": {},
        "health": {},
        "alertmanager": {},
    }


def normalise_state(state: dict | None) -> dict:
    """A deep copy of ``state`` in the current schema; an unknown version or shape starts afresh."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return empty_state()
    fresh = empty_state()
    for key, default in fresh.items():
        value = state.get(key, default)
        fresh[key] = copy.deepcopy(value) if isinstance(value, type(default)) else default
    _adopt_pending(state.get("pending"), fresh)
    return fresh


def _adopt_pending(pending: object, state: dict) -> None:
    """Move the carried events of an older monitor (a ``pending`` list) into the outbox: still owed."""
    for entry in pending if isinstance(pending, list) else []:
        try:
            event = Event.from_dict(entry["event"])
            since = parse_stamp(entry["since"])
            channels = [str(c) for c in entry["channels"]]
            item = outbox.OutboxItem(
                event.announcement_key, event, since, int(entry.get("suppressed_before", 0))
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if since is not None:
            for channel in channels:
                outbox.put(state, channel, [item])


def admit(
    events: Iterable[Event], state: dict, now: datetime, config: RateLimitConfig
) -> tuple[Admission, dict]:
    """Drop already-announced events, then admit or suppress the rest per rate key.

    A rate key that still has room in its window (or that has a never-suppressed event) gets one
    message, which carries every fresh event of that key; otherwise its events are suppressed and
    counted. Both admitted and suppressed events are remembered as announced.
    """
    state = prune(state, now, config)
    announced, rate = state["announced"], state["rate"]
    window = timedelta(hours=config.window_hours)

    fresh: dict[str, list[Event]] = {}
    seen: set[str] = set()
    for event in events:
        key = event.announcement_key
        if key in seen or _is_announced(event, announced, now, window):
            continue
        seen.add(key)
        fresh.setdefault(event.rate_key, []).append(event)

    admitted: list[Event] = []
    suppressed: list[Event] = []
    suppressed_before: dict[str, int] = {}
    for rate_key, group in fresh.items():
        entry = rate.setdefault(rate_key, {"sent": [], "suppressed": 0, "updated": now.isoformat()})
        recent = _recent(entry["sent"], now, window)
        must_go = any(event.kind in NEVER_SUPPRESSED for event in group)
        if must_go or len(recent) < config.max_per_window:
            admitted.extend(group)
            if entry["suppressed"]:
                suppressed_before[rate_key] = entry["suppressed"]
            entry["sent"] = [t.isoformat() for t in recent] + [now.isoformat()]
            entry["suppressed"] = 0
        else:
            suppressed.extend(group)
            entry["suppressed"] += len(group)
        entry["updated"] = now.isoformat()

    for event in admitted + suppressed:
        announced[event.announcement_key] = now.isoformat()
        if event.kind in _REARMS:
            announced.pop(f"{event.incident_key}|{_REARMS[event.kind]}", None)

    # Keep the input order across rate keys, so the grouped message lists events as the monitor saw them.
    order = {event.announcement_key: i for i, event in enumerate(admitted + suppressed)}
    admission = Admission(
        admitted=tuple(sorted(admitted, key=lambda e: order[e.announcement_key])),
        suppressed=tuple(sorted(suppressed, key=lambda e: order[e.announcement_key])),
        suppressed_before=suppressed_before,
    )
    return admission, state


def prune(state: dict, now: datetime, config: RateLimitConfig) -> dict:
    """Forget announcements and rate entries older than the window plus seven days.

    A moment from the future (the clock was stepped back) is rewritten as ``now``: the incident stays
    announced and the reminder comes one window on, instead of when the clock catches up.
    """
    state = normalise_state(state)
    window = timedelta(hours=config.window_hours)
    horizon = now - window - RETENTION_PAST_WINDOW
    state["announced"] = {
        key: min(t, now).isoformat()
        for key, at in state["announced"].items()
        if (t := parse_stamp(at)) is not None and t > horizon
    }
    rate = {}
    for key, entry in state["rate"].items():
        updated = parse_stamp(entry.get("updated")) if isinstance(entry, dict) else None
        if updated is None or updated <= horizon:
            continue
        sent = [t.isoformat() for t in _recent(entry.get("sent", []), now, window)]
        suppressed = entry.get("suppressed", 0) if isinstance(entry.get("suppressed"), int) else 0
        if sent or suppressed:
            rate[key] = {"sent": sent, "suppressed": suppressed, "updated": entry["updated"]}
    state["rate"] = rate
    return state


def rate_limit_status(state: dict, now: datetime, config: RateLimitConfig) -> list[dict]:
    """Rows for ``status``: per rate key, messages sent in the window, suppressed since, next free slot."""
    state = normalise_state(state)
    window = timedelta(hours=config.window_hours)
    rows = []
    for key in sorted(state["rate"]):
        entry = state["rate"][key]
        recent = _recent(entry.get("sent", []), now, window)
        full = len(recent) >= config.max_per_window
        rows.append(
            {
                "key": key,
                "sent_in_window": len(recent),
                "suppressed": entry.get("suppressed", 0),
                "next_slot": (recent[-config.max_per_window] + window).isoformat() if full else None,
            }
        )
    return rows


def _is_announced(event: Event, announced: dict, now: datetime, window: timedelta) -> bool:
    at = parse_stamp(announced.get(event.announcement_key))
    if at is None:
        return False
    if event.kind in REMINDED_EACH_WINDOW:
        return now < at + window
    return True


def _recent(stamps: list, now: datetime, window: timedelta) -> list[datetime]:
    """The sorted send times inside the sliding window ending at ``now``.

    Times after ``now`` (the clock was stepped back) count as sent ``now``: forgetting them would
    loosen the limit, trusting them would silence the definition until the clock catches up.
    """
    times = (parse_stamp(s) for s in stamps)
    return sorted(min(t, now) for t in times if t is not None and now - window < t)

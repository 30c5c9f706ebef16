"""The persistent per-channel outbox (spec section 8, delivery guarantee): pure functions over a dict.

An announced event is put in every channel's outbox in the same locked save that marks it
announced, before anything is sent, and leaves a channel's outbox only when that channel accepted
it (or refused it for good, which is recorded). So a crash, a restart or a failed save can delay a
message but never lose it, and the only repeat left is a crash inside one channel's single send.

While a sender works on a channel, the channel carries a *claim* (owner and deadline): a second
process on the same state (``check`` beside ``run``, later a replica) leaves a claimed channel
alone instead of sending the same items too. A claim whose owner is gone is taken over at once:
a dead process on this host is seen by its pid, anything else by the claim's deadline.

The outbox is the ``outbox`` section of ``notification_rate_limit.json``::

    "outbox": {"<channel>": {
        "items": [{"key": "<announcement key>", "event": {...}, "since": "<iso>", "suppressed_before": 0}],
        "claim": {"owner": "<host>:<pid>:<nonce>", "until": "<iso>", "keys": ["..."]} or null,
        "refused": [{"key": "...", "at": "<iso>", "reason": "..."}]}}

Nothing here reads the clock or does I/O except :func:`owner_alive` (a signal-0 probe of a pid).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from ds_monitor.notify.events import Event
from ds_monitor.timestamps import parse_stamp

log = logging.getLogger("ds_monitor.notify")

# An outage must not grow the state without bound; beyond this the oldest item is dropped, loudly.
MAX_ITEMS_PER_CHANNEL = 1000
# Permanent refusals kept for the operator (newest last).
MAX_REFUSED_KEPT = 50
# Longer than any one channel's send with its retries (the slowest is SMTP: 3 x timeout + backoff).
CLAIM_SECONDS = 600

_NONCE = secrets.token_hex(4)


@dataclass(frozen=True)
class OutboxItem:
    """One event a channel still owes."""

    key: str
    event: Event
    since: datetime
    # Messages of the event's rate key suppressed before it, told with it.
    suppressed_before: int = 0

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "event": self.event.to_dict(),
            "since": self.since.isoformat(),
            "suppressed_before": self.suppressed_before,
        }


def this_owner() -> str:
    """The claim owner name of this process: host, pid and a per-process nonce (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_NONCE}"


def owner_alive(owner: str) -> bool | None:
    """False if ``owner`` is a process of this host that is gone (or this very process, which by
    the time it claims again has finished every send of its own); None when it cannot be told."""
    if owner == this_owner():
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def channel_box(state: dict, channel: str) -> dict:
    """The (normalised, mutable) outbox of ``channel`` inside ``state``."""
    boxes = state.setdefault("outbox", {})
    box = boxes.get(channel)
    if not isinstance(box, dict):
        box = boxes[channel] = {}
    if not isinstance(box.get("items"), list):
        box["items"] = []
    if not isinstance(box.get("refused"), list):
        box["refused"] = []
    if not isinstance(box.get("claim"), dict):
        box["claim"] = None
    return box


def put(state: dict, channel: str, items: list[OutboxItem]) -> list[str]:
    """Append ``items`` to ``channel``'s outbox (an item already owed is not added twice).

    Returns a warning if items were dropped because the outbox was full.
    """
    if not items:
        return []
    box = channel_box(state, channel)
    owed = {entry.get("key") for entry in box["items"] if isinstance(entry, dict)}
    box["items"].extend(item.to_dict() for item in items if item.key not in owed)
    overflow = len(box["items"]) - MAX_ITEMS_PER_CHANNEL
    if overflow <= 0:
        return []
    dropped = [entry.get("key") for entry in box["items"][:overflow]]
    del box["items"][:overflow]
    message = (
        f"outbox of {channel} is full ({MAX_ITEMS_PER_CHANNEL} items): {overflow} oldest dropped unsent "
        f"({', '.join(map(str, dropped[:5]))}{', ...' if overflow > 5 else ''})"
    )
    log.error("%s", message)
    return [message]


def owed(state: dict, channel: str) -> list[OutboxItem]:
    """The items ``channel`` still owes, oldest first; unreadable entries are dropped with a warning."""
    box = channel_box(state, channel)
    items, kept = [], []
    for entry in box["items"]:
        try:
            item = OutboxItem(
                key=str(entry["key"]),
                event=Event.from_dict(entry["event"]),
                since=_stamp(entry["since"]),
                suppressed_before=int(entry.get("suppressed_before", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            log.warning("outbox entry of %s ignored: %s", channel, err)
            continue
        items.append(item)
        kept.append(entry)
    box["items"] = kept
    return items


def claimed_by_other(state: dict, channel: str, now: datetime) -> str | None:
    """The owner of a live claim on ``channel`` by another process, or None if it is free."""
    claim = channel_box(state, channel)["claim"]
    if not claim:
        return None
    owner = str(claim.get("owner", ""))
    until = parse_stamp(claim.get("until"))
    alive = owner_alive(owner)
    if alive is False or until is None or now >= until:
        return None
    return owner


def claim(state: dict, channel: str, keys: list[str], now: datetime) -> None:
    """Mark ``keys`` of ``channel`` as being sent by this process (call only when it is free)."""
    channel_box(state, channel)["claim"] = {
        "owner": this_owner(),
        "until": (now + timedelta(seconds=CLAIM_SECONDS)).isoformat(),
        "keys": list(keys),
    }


def settle(state: dict, channel: str, done: list[str], *, refused: str | None = None, now: datetime) -> None:
    """``channel`` answered: remove ``done`` from its outbox (recording a refusal) and end our claim."""
    box = channel_box(state, channel)
    gone = set(done)
    box["items"] = [entry for entry in box["items"] if entry.get("key") not in gone]
    if refused is not None:
        box["refused"].extend({"key": key, "at": now.isoformat(), "reason": refused} for key in done)
        del box["refused"][:-MAX_REFUSED_KEPT]
    release(state, channel)


def release(state: dict, channel: str) -> None:
    """End this process's claim on ``channel`` (another process's claim is left alone)."""
    box = channel_box(state, channel)
    if box["claim"] and box["claim"].get("owner") == this_owner():
        box["claim"] = None


def prune(state: dict, horizon: datetime) -> list[str]:
    """Drop items and refusals older than ``horizon`` (spec section 5); warns for each unsent item."""
    warnings = []
    for channel in list(state.get("outbox", {})):
        box = channel_box(state, channel)
        old = [e for e in box["items"] if (t := parse_stamp(e.get("since"))) is not None and t <= horizon]
        if old:
            message = f"outbox of {channel}: {len(old)} item(s) older than {horizon.isoformat()} dropped unsent"
            log.error("%s", message)
            warnings.append(message)
            box["items"] = [e for e in box["items"] if e not in old]
        box["refused"] = [e for e in box["refused"] if (t := parse_stamp(e.get("at"))) is not None and t > horizon]
        if not box["items"] and not box["refused"] and not box["claim"]:
            del state["outbox"][channel]
    return warnings


def outbox_status(state: dict) -> list[dict]:
    """Rows for ``status``: per channel, items owed, the oldest one's age, who sends now, refusals."""
    rows = []
    for channel in sorted(state.get("outbox", {}) if isinstance(state.get("outbox"), dict) else {}):
        box = channel_box(state, channel)
        since = [t for e in box["items"] if isinstance(e, dict) and (t := parse_stamp(e.get("since")))]
        rows.append(
            {
                "channel": channel,
                "owed": len(box["items"]),
                "oldest": min(since).isoformat() if since else None,
                "sending": box["claim"].get("owner") if box["claim"] else None,
                "refused": len(box["refused"]),
            }
        )
    return rows


def _stamp(text: str) -> datetime:
    moment = parse_stamp(text)
    if moment is None:
        raise ValueError(f"{text!r} is not an ISO date-time with offset")
    return moment

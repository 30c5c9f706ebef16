"""Reading timestamps back from the state files: one rule for every module that persists time.

State files hold ISO-8601 strings with an offset. Hand-edited or damaged values must not crash a
sweep, and a naive value would silently shift by the host's zone, so both read as "unknown".

A recorded moment ("last checked at", "sent at") later than the reader's clock cannot be true: the
clock was stepped back, a VM snapshot restored, or the state copied from a host whose clock runs
ahead. Trusting it would push every "not before" bound into the future and blind the monitor for
the offset, so it is doubt: :func:`parse_past` reads it as unknown (the caller looks), and a moment
that must still count (a message sent) is counted as sent ``now``, never later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Clocks of one host disagree by milliseconds (NTP slews); only more than this is "the future".
FUTURE_TOLERANCE = timedelta(minutes=1)


def read_stamp(stamp: str) -> datetime:
    """An aware datetime from a state file; ValueError for a malformed or naive value."""
    parsed = datetime.fromisoformat(stamp)
    if parsed.tzinfo is None:
        raise ValueError(f"{stamp!r} has no UTC offset")
    return parsed


def parse_stamp(stamp: object) -> datetime | None:
    """Like :func:`read_stamp`, but None for anything missing, malformed or naive."""
    if not isinstance(stamp, str):
        return None
    try:
        return read_stamp(stamp)
    except ValueError:
        return None


def is_future(moment: datetime, now: datetime) -> bool:
    """True when a recorded ``moment`` lies beyond ``now`` (plus the tolerance): see the module docstring."""
    return moment > now + FUTURE_TOLERANCE


def parse_past(stamp: object, now: datetime) -> datetime | None:
    """Like :func:`parse_stamp`, and also None for a moment from the future (doubt: the caller looks)."""
    moment = parse_stamp(stamp)
    return None if moment is None or is_future(moment, now) else moment

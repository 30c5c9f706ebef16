"""Reading timestamps back from the state files: one rule for every module that persists time.

State files hold ISO-8601 strings with an offset. Hand-edited or damaged values must not crash a
sweep, and a naive value would silently shift by the host's zone, so both read as "unknown".
"""

from __future__ import annotations

from datetime import datetime


def parse_stamp(stamp: object) -> datetime | None:
    """An aware datetime from a state file, or None for anything missing, malformed or naive."""
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None

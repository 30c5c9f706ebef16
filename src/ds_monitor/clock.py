"""The one place that reads the wall clock.

Pure code takes ``now`` as a parameter; the shell (CLI, run loop, state store, simulator) takes a
``clock`` callable defaulting to :func:`utc_now`, so tests can pin time without patching.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(timezone.utc)

"""A small time-to-live cache for DS listings that rarely change (projects, definitions, schedules).

Pure: the caller passes ``now`` (a monotonic reading in seconds) to every method, so tests step
time by hand and nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class TTLCache:
    """Maps keys to values that expire ``ttl_seconds`` after they were stored.

    A ``ttl_seconds`` of 0 disables caching: every :meth:`get` misses.
    """

    def __init__(self, ttl_seconds: float):
        if ttl_seconds < 0:
            raise ValueError(f"ttl_seconds must be >= 0, got {ttl_seconds}")
        self.ttl_seconds = ttl_seconds
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, now: float) -> tuple[bool, Any]:
        """``(True, value)`` for a fresh entry, ``(False, None)`` for a missing or expired one.

        Expired entries are dropped on the way, so the cache never grows past the live key set
        plus the keys nobody asked for again.
        """
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        stored_at, value = entry
        if now - stored_at >= self.ttl_seconds:
            del self._entries[key]
            return False, None
        return True, value

    def put(self, key: Hashable, value: Any, now: float) -> None:
        """Store ``value`` under ``key`` as fresh as of ``now``."""
        self._entries[key] = (now, value)

    def clear(self) -> None:
        """Forget everything (the next :meth:`get` of any key misses)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

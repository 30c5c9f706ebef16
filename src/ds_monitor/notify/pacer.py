"""The per-destination send pacer: how fast one robot may be sent to. Pure: ``now`` is passed in.

DingTalk and WeCom robots accept 20 messages a minute each and answer more with an error (and
DingTalk then blocks the robot for 10 minutes). A robot is often shared with other systems, so we
keep headroom (18 a minute) and, after the service says "too fast", stay away for as long as it
blocks (notify-channels.md section 6). The manager paces a send that is a few seconds early and
defers one that is later than that, so messages are coalesced into the next sweep, never dropped.

State (the ``"transport"`` part of the notification state; the key predates the module's name and stays, as
state files written by earlier versions carry it): ``{destination: {"sent": [iso, ...],
"blocked_until": iso | None}}``. Destinations are opaque ids that never contain a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ds_monitor.timestamps import parse_stamp


@dataclass(frozen=True)
class PaceLimits:
    """One kind of destination's pace: a sliding window, and how long each rate-limit code blocks."""

    per_window: int = 18
    window_seconds: float = 60
    # service error code -> seconds the destination is blocked after it
    block_seconds: Mapping[int, float] = field(default_factory=dict)


class Pacer:
    """Paces sends per destination: sliding-window counters and block windows, over a plain JSON-ready dict."""

    def __init__(self, state: Mapping | None = None):
        self._state: dict[str, dict] = {}
        for destination, entry in (state or {}).items():
            if isinstance(entry, dict):
                sent = [t for t in (parse_stamp(s) for s in entry.get("sent", [])) if t is not None]
                self._state[destination] = {
                    "sent": sorted(sent),
                    "blocked_until": parse_stamp(entry.get("blocked_until")),
                }

    def wait_seconds(self, destination: str, limits: PaceLimits, now: datetime) -> float:
        """Seconds until ``destination`` may be sent to (0.0 = at once)."""
        entry = self._state.get(destination)
        if entry is None:
            return 0.0
        waits = [0.0]
        if entry["blocked_until"] is not None:
            # No block outlasts the longest the service imposes: a longer one was stamped by a clock
            # that has since been stepped back.
            longest = max(limits.block_seconds.values(), default=0.0)
            waits.append(min((entry["blocked_until"] - now).total_seconds(), longest))
        recent = self._recent(entry, limits, now)
        if len(recent) >= limits.per_window:
            frees_at = recent[-limits.per_window] + timedelta(seconds=limits.window_seconds)
            waits.append((frees_at - now).total_seconds())
        return max(waits)

    def record_send(self, destination: str, limits: PaceLimits, at: datetime) -> None:
        """Count one request to ``destination`` (whatever its answer: the service counts it too)."""
        entry = self._state.setdefault(destination, {"sent": [], "blocked_until": None})
        entry["sent"] = self._recent(entry, limits, at) + [at]

    def record_refusal(self, destination: str, code: object, limits: PaceLimits, at: datetime) -> bool:
        """Block ``destination`` if ``code`` is one of its rate-limit codes; True if it was."""
        seconds = limits.block_seconds.get(code) if isinstance(code, int) else None
        if seconds is None:
            return False
        entry = self._state.setdefault(destination, {"sent": [], "blocked_until": None})
        until = at + timedelta(seconds=seconds)
        if entry["blocked_until"] is None or entry["blocked_until"] < until:
            entry["blocked_until"] = until
        return True

    def to_dict(self, now: datetime, window_seconds: float = 60) -> dict:
        """The JSON-ready state, without sends older than the window or blocks already over."""
        horizon = now - timedelta(seconds=window_seconds)
        out = {}
        for destination, entry in self._state.items():
            sent = [t.isoformat() for t in entry["sent"] if t > horizon]
            blocked = (
                entry["blocked_until"] if entry["blocked_until"] and entry["blocked_until"] > now else None
            )
            if sent or blocked:
                out[destination] = {"sent": sent, "blocked_until": blocked.isoformat() if blocked else None}
        return out

    @staticmethod
    def _recent(entry: dict, limits: PaceLimits, now: datetime) -> list[datetime]:
        start = now - timedelta(seconds=limits.window_seconds)
        return [t for t in entry["sent"] if start < t <= now]

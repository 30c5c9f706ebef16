"""Call statistics of the DS client: counts and latencies of the DolphinScheduler API calls, for the
sweep report and /metrics (which :mod:`ds_monitor.telemetry` serves).

Pure bookkeeping: the caller measures the time and says whether the call worked; nothing here
reads a clock or does I/O. Figures cover the calls since the last :meth:`CallStats.reset`: the
monitor resets once per sweep, right after copying :meth:`CallStats.snapshot` into the sweep
report, so each report shows that sweep alone. Long-lived totals (Prometheus counters) follow the
calls through the ``observer`` hook instead of diffing snapshots.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# Outcomes passed to the observer.
OK = "ok"
ERROR = "error"
CACHE_HIT = "cache_hit"

# Latency samples kept per endpoint; older ones drop out so a monitor that never resets stays small.
MAX_SAMPLES_PER_ENDPOINT = 1000

Observer = Callable[[str, str, float], None]


def percentile(samples: Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``samples``; 0.0 when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class _EndpointFigures:
    calls: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES_PER_ENDPOINT))


class CallStats:
    """Per-endpoint call counts, error counts and latencies, plus cache hits.

    ``endpoint`` is the method and the templated path (``"GET /projects/{pc}/process-instances"``)
    so the figures do not split per project or instance. ``observer(endpoint, outcome, seconds)``
    is called for every record, with outcome ``"ok"``, ``"error"`` or ``"cache_hit"`` (seconds 0).
    Safe to use from several threads (the sweep records, the HTTP endpoint reads).
    """

    def __init__(self, observer: Observer | None = None):
        self._observer = observer
        self._lock = threading.Lock()
        self._endpoints: dict[str, _EndpointFigures] = {}
        self._cache_hits = 0

    def record_call(self, endpoint: str, seconds: float, ok: bool) -> None:
        """Count one finished HTTP call (retries inside it included) and its wall time."""
        with self._lock:
            figures = self._endpoints.setdefault(endpoint, _EndpointFigures())
            figures.calls += 1
            if not ok:
                figures.errors += 1
            figures.latencies.append(seconds)
        if self._observer is not None:
            self._observer(endpoint, OK if ok else ERROR, seconds)

    def record_cache_hit(self, key: str) -> None:
        """Count one answer served from the cache instead of DS."""
        with self._lock:
            self._cache_hits += 1
        if self._observer is not None:
            self._observer(key, CACHE_HIT, 0.0)

    def snapshot(self) -> dict:
        """The figures since the last reset; latencies in milliseconds, rounded to 0.1 ms."""
        with self._lock:
            every_latency = [s for f in self._endpoints.values() for s in f.latencies]
            per_endpoint = {
                name: {
                    "calls": f.calls,
                    "errors": f.errors,
                    "p50": _ms(percentile(f.latencies, 0.50)),
                    "p95": _ms(percentile(f.latencies, 0.95)),
                }
                for name, f in sorted(self._endpoints.items())
            }
            return {
                "calls": sum(f.calls for f in self._endpoints.values()),
                "errors": sum(f.errors for f in self._endpoints.values()),
                "cache_hits": self._cache_hits,
                "latency_ms_p50": _ms(percentile(every_latency, 0.50)),
                "latency_ms_p95": _ms(percentile(every_latency, 0.95)),
                "per_endpoint": per_endpoint,
            }

    def reset(self) -> None:
        """Start counting afresh (the observer's own totals are untouched)."""
        with self._lock:
            self._endpoints.clear()
            self._cache_hits = 0


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)

"""CallStats: counts, nearest-rank percentiles, reset, observer hook."""

from __future__ import annotations

import pytest

from ds_monitor.ds.calls import MAX_SAMPLES_PER_ENDPOINT, CallStats, percentile


@pytest.mark.parametrize(
    ("samples", "fraction", "expected"),
    [
        ([], 0.5, 0.0),
        ([3.0], 0.95, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([float(n) for n in range(1, 101)], 0.95, 95.0),
        ([5.0, 1.0, 3.0], 0.5, 3.0),
    ],
    ids=["empty", "single", "even-count", "hundred", "unsorted"],
)
def test_percentile_nearest_rank(samples, fraction, expected):
    assert percentile(samples, fraction) == expected


def test_snapshot_totals_and_per_endpoint():
    metrics = CallStats()
    metrics.record_call("GET /projects/list", 0.010, ok=True)
    metrics.record_call("GET /projects/{pc}/process-instances", 0.020, ok=True)
    metrics.record_call("GET /projects/{pc}/process-instances", 0.100, ok=False)
    metrics.record_cache_hit("projects")
    snap = metrics.snapshot()
    assert snap["calls"] == 3
    assert snap["errors"] == 1
    assert snap["cache_hits"] == 1
    assert snap["latency_ms_p50"] == 20.0
    assert snap["latency_ms_p95"] == 100.0
    assert snap["per_endpoint"]["GET /projects/{pc}/process-instances"] == {
        "calls": 2,
        "errors": 1,
        "p50": 20.0,
        "p95": 100.0,
    }
    assert snap["per_endpoint"]["GET /projects/list"]["errors"] == 0


def test_reset_starts_afresh():
    metrics = CallStats()
    metrics.record_call("GET /x", 1.0, ok=False)
    metrics.record_cache_hit("k")
    metrics.reset()
    assert metrics.snapshot() == {
        "calls": 0,
        "errors": 0,
        "cache_hits": 0,
        "latency_ms_p50": 0.0,
        "latency_ms_p95": 0.0,
        "per_endpoint": {},
    }


def test_observer_sees_every_record():
    seen = []
    metrics = CallStats(
        observer=lambda endpoint, outcome, seconds: seen.append((endpoint, outcome, seconds))
    )
    metrics.record_call("GET /a", 0.5, ok=True)
    metrics.record_call("GET /a", 0.25, ok=False)
    metrics.record_cache_hit("projects")
    assert seen == [("GET /a", "ok", 0.5), ("GET /a", "error", 0.25), ("projects", "cache_hit", 0.0)]


def test_latency_samples_are_bounded_but_calls_are_not():
    metrics = CallStats()
    for _ in range(MAX_SAMPLES_PER_ENDPOINT + 5):
        metrics.record_call("GET /a", 0.001, ok=True)
    metrics.record_call("GET /a", 9.0, ok=True)
    snap = metrics.snapshot()
    assert snap["calls"] == MAX_SAMPLES_PER_ENDPOINT + 6
    assert snap["latency_ms_p50"] == 1.0

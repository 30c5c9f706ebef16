"""MonitorMetrics counts what the monitor reports, on its own registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from ds_monitor import __version__
from ds_monitor.ds.calls import CallStats
from ds_monitor.telemetry import MonitorMetrics


@pytest.fixture
def metrics() -> MonitorMetrics:
    return MonitorMetrics(clock=lambda: 1_750_000_000.0)


def value(metrics: MonitorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_each_instance_has_its_own_registry():
    first, second = MonitorMetrics(), MonitorMetrics()
    first.calls_saved(3)
    assert first.registry is not second.registry
    assert value(first, "ds_monitor_calls_saved_by_schedule_total") == 3
    assert value(second, "ds_monitor_calls_saved_by_schedule_total") == 0


def test_uses_the_registry_passed_in():
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.failures_detected(2)
    assert metrics.registry is registry
    assert registry.get_sample_value("ds_monitor_failures_detected_total") == 2


def test_both_sweep_results_are_exported_before_any_sweep(metrics):
    assert value(metrics, "ds_monitor_sweeps_total", result="ok") == 0
    assert value(metrics, "ds_monitor_sweeps_total", result="failed") == 0
    assert value(metrics, "ds_monitor_last_successful_sweep_timestamp_seconds") == 0
    assert value(metrics, "ds_monitor_build_info", version=__version__) == 1


def test_sweeps_track_the_failure_streak_and_the_last_success(metrics):
    metrics.sweep_finished(ok=False, seconds=0.4)
    metrics.sweep_finished(ok=False, seconds=0.6)
    assert value(metrics, "ds_monitor_consecutive_failed_sweeps") == 2
    assert value(metrics, "ds_monitor_last_successful_sweep_timestamp_seconds") == 0

    metrics.sweep_finished(ok=True, seconds=2.0)
    assert value(metrics, "ds_monitor_consecutive_failed_sweeps") == 0
    assert value(metrics, "ds_monitor_last_successful_sweep_timestamp_seconds") == 1_750_000_000.0
    assert value(metrics, "ds_monitor_sweeps_total", result="failed") == 2
    assert value(metrics, "ds_monitor_sweeps_total", result="ok") == 1
    assert value(metrics, "ds_monitor_sweep_duration_seconds_count") == 3
    assert value(metrics, "ds_monitor_sweep_duration_seconds_sum") == pytest.approx(3.0)
    assert value(metrics, "ds_monitor_sweep_duration_seconds_bucket", le="0.5") == 1


def test_ds_calls_follow_the_call_stats_through_its_observer(metrics):
    api = CallStats(observer=metrics.ds_call)
    endpoint = "GET /projects/{pc}/process-instances"
    api.record_call(endpoint, 0.02, ok=True)
    api.record_call(endpoint, 0.3, ok=False)
    api.record_cache_hit("GET /projects")

    assert value(metrics, "ds_monitor_ds_calls_total", endpoint=endpoint, outcome="ok") == 1
    assert value(metrics, "ds_monitor_ds_calls_total", endpoint=endpoint, outcome="error") == 1
    assert value(metrics, "ds_monitor_ds_calls_total", endpoint="GET /projects", outcome="cache_hit") == 1
    assert value(metrics, "ds_monitor_ds_call_duration_seconds_count", endpoint=endpoint) == 2
    assert value(metrics, "ds_monitor_ds_call_duration_seconds_sum", endpoint=endpoint) == pytest.approx(0.32)
    # A cache hit is not a DS call: it must not drag the latency histogram towards zero.
    assert value(metrics, "ds_monitor_ds_call_duration_seconds_count", endpoint="GET /projects") is None


def test_report_rows_are_counted_by_label(metrics):
    metrics.recovery("triggered")
    metrics.recovery("triggered")
    metrics.recovery("rejected")
    metrics.notification("dingtalk", "sent")
    metrics.notification("email", "failed")
    metrics.state_file_error("recovery_state.json")
    metrics.calls_saved(0)
    metrics.calls_saved(7)
    metrics.failures_detected(4)

    assert value(metrics, "ds_monitor_recoveries_total", result="triggered") == 2
    assert value(metrics, "ds_monitor_recoveries_total", result="rejected") == 1
    assert value(metrics, "ds_monitor_notifications_total", channel="dingtalk", result="sent") == 1
    assert value(metrics, "ds_monitor_notifications_total", channel="email", result="failed") == 1
    assert value(metrics, "ds_monitor_state_file_errors_total", file="recovery_state.json") == 1
    assert value(metrics, "ds_monitor_calls_saved_by_schedule_total") == 7
    assert value(metrics, "ds_monitor_failures_detected_total") == 4

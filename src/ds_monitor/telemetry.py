"""Prometheus metrics of the running monitor, served on ``/metrics``.

Everything lives on a :class:`~prometheus_client.CollectorRegistry` handed in (or created per
instance), never on prometheus_client's global registry, so two monitors in one process, or two
tests, never collide. The monitor reports what happened; this module only counts it. The one
clock read (the timestamp of the last successful sweep) goes through an injectable ``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ds_monitor import __version__
from ds_monitor.sweep.report import SweepReport

# A sweep runs from well under a second (everything skipped by schedule) up to monitor.timeout
# (300 s by default); the buckets cover that range with the resolution an operator alerts on.
SWEEP_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# One DS call: a local DS answers in milliseconds, a loaded one in seconds; 30 s is the default timeout.
DS_CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

SWEEP_OK = "ok"
SWEEP_FAILED = "failed"
# CallStats reports cache hits through the same observer, with no latency worth recording.
CACHE_HIT = "cache_hit"


class MonitorMetrics:
    """Counters, histograms and gauges of one monitor process.

    ``ds_call`` has the ``CallStats(observer=...)`` signature, so the DS client's call figures
    flow here without the client knowing about Prometheus.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.time):
        self.registry = registry if registry is not None else CollectorRegistry()
        self._clock = clock

        def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, documentation, labels, registry=self.registry)

        self._sweeps = counter("ds_monitor_sweeps", "Sweeps finished, by result (ok or failed).", ("result",))
        # Both results exist from the start, so rate() and alerts see a 0 rather than no series.
        for result in (SWEEP_OK, SWEEP_FAILED):
            self._sweeps.labels(result=result)
        self._sweep_duration = Histogram(
            "ds_monitor_sweep_duration_seconds", "Wall time of one sweep.",
            buckets=SWEEP_BUCKETS, registry=self.registry)
        self._last_success = Gauge(
            "ds_monitor_last_successful_sweep_timestamp_seconds",
            "Unix time at which the last successful sweep finished (0 = none yet).", registry=self.registry)
        self._failed_streak = Gauge(
            "ds_monitor_consecutive_failed_sweeps", "Failed sweeps since the last successful one.",
            registry=self.registry)
        self._ds_calls = counter(
            "ds_monitor_ds_calls", "DS API calls by endpoint and outcome (ok, error, cache_hit).",
            ("endpoint", "outcome"))
        self._ds_latency = Histogram(
            "ds_monitor_ds_call_duration_seconds", "Wall time of one DS API call, retries included.",
            ("endpoint",), buckets=DS_CALL_BUCKETS, registry=self.registry)
        self._calls_saved = counter(
            "ds_monitor_calls_saved_by_schedule",
            "DS calls skipped because no schedule made a look necessary.")
        self._failures = counter(
            "ds_monitor_failures_detected",
            "Failed workflow instances found in the window, summed over sweeps.")
        self._recoveries = counter(
            "ds_monitor_recoveries", "Recovery decisions and attempts by result.", ("result",))
        self._notifications = counter(
            "ds_monitor_notifications", "Notifications by channel and result (sent, suppressed, failed).",
            ("channel", "result"))
        self._sweep_errors = counter(
            "ds_monitor_sweep_errors", "Failed sweeps by reason (ds_unreachable, token_rejected, internal_error, ...).",
            ("reason",))
        self._project_read_errors = counter(
            "ds_monitor_project_read_errors", "Sweeps in which a project's listings could not be read, by project.",
            ("project",))
        self._heartbeats = counter(
            "ds_monitor_heartbeats", "Heartbeat pings by result (ok, failed, skipped while one was in flight).",
            ("result",))
        self._state_file_errors = counter(
            "ds_monitor_state_file_errors", "State files found corrupt or unreadable, by file.", ("file",))
        # 1 on the replica that acts (the leader, or the single process without coordination).
        self._leader = Gauge("ds_monitor_leader", "1 while this process is the one that sweeps and acts, else 0.",
                             registry=self.registry)
        build_info = Gauge("ds_monitor_build_info", "Always 1; the version label says which ds-monitor runs.",
                           ("version",), registry=self.registry)
        build_info.labels(version=__version__).set(1)

    def sweep_finished(self, *, ok: bool, seconds: float) -> None:
        """Count one sweep attempt and its duration; track the last success and the failure streak."""
        self._sweeps.labels(result=SWEEP_OK if ok else SWEEP_FAILED).inc()
        self._sweep_duration.observe(seconds)
        if ok:
            self._failed_streak.set(0)
            self._last_success.set(self._clock())
        else:
            self._failed_streak.inc()

    def sweep_report(self, report: SweepReport, *, seconds: float) -> None:
        """Count one sweep from its report: outcome, duration, and each row by its label."""
        self.sweep_finished(ok=report.ok, seconds=seconds)
        if report.error_reason:
            self.sweep_error(report.error_reason)
        for row in report.unreadable_projects:
            self.project_unreadable(row.name)
        self.failures_detected(len(report.failed_instances))
        self.calls_saved(report.api.get("saved_by_schedule", 0))
        for row in report.recoveries:
            self.recovery(row.result)
        for row in report.notifications:
            self.notification(row.channel, row.result)

    def sweep_error(self, reason: str) -> None:
        """Count one failed sweep under its reason (``"internal error"`` becomes ``internal_error``)."""
        self._sweep_errors.labels(reason=reason.replace(" ", "_")).inc()

    def project_unreadable(self, project: str) -> None:
        """Count one sweep in which ``project`` could not be read."""
        self._project_read_errors.labels(project=project).inc()

    def ds_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        """Count one DS call (``outcome`` ok / error / cache_hit); real calls also record their latency."""
        self._ds_calls.labels(endpoint=endpoint, outcome=outcome).inc()
        if outcome != CACHE_HIT:
            self._ds_latency.labels(endpoint=endpoint).observe(seconds)

    def calls_saved(self, n: int) -> None:
        """Add the DS calls one sweep saved thanks to schedule awareness."""
        self._calls_saved.inc(n)

    def failures_detected(self, n: int) -> None:
        """Add the failed instances one sweep found in its window."""
        self._failures.inc(n)

    def recovery(self, result: str) -> None:
        """Count one recovery row of a sweep report (triggered, rejected, skipped_limit, ...)."""
        self._recoveries.labels(result=result).inc()

    def notification(self, channel: str, result: str) -> None:
        """Count one notification row of a sweep report (sent, suppressed, failed)."""
        self._notifications.labels(channel=channel, result=result).inc()

    def heartbeat(self, result: str) -> None:
        """Count one heartbeat ping (ok, failed, skipped)."""
        self._heartbeats.labels(result=result).inc()

    def state_file_error(self, file: str) -> None:
        """Count one state file that had to be quarantined or could not be read (``file`` = its name)."""
        self._state_file_errors.labels(file=file).inc()

    def leading(self, is_leader: bool) -> None:
        """Set ``ds_monitor_leader``: 1 on the leader (or a single process), 0 on a standby."""
        self._leader.set(1 if is_leader else 0)

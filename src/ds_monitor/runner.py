"""The ``run`` loop: sweep, wait on an event (not ``sleep``), honour signals, serve health.

Signal handlers only set flags: SIGTERM/SIGINT ask the loop to stop after the current step (the
monitor checks the flag between projects and recoveries, so shutdown takes about a second), and
SIGHUP asks for the config file to be reloaded before the next sweep. An invalid new config keeps
the old one running.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from ds_monitor import __version__
from ds_monitor.clock import utc_now
from ds_monitor.config import LoadedConfig
from ds_monitor.errors import MonitorError
from ds_monitor.monitor import INTERNAL_ERROR, SweepReport, describe_failure_reason
from ds_monitor.state import exclusive_run

log = logging.getLogger("ds_monitor.runner")



def startup_line(loaded: LoadedConfig) -> str:
    """One line an operator can grep for: version, DS URL (never the token), projects, channels."""
    cfg = loaded.config
    projects = ", ".join(p.name for p in cfg.projects) or "all visible"
    notification = cfg.notification
    channels = [
        name
        for name, channel in (
            ("dingtalk", notification.dingtalk),
            ("wework", notification.wework),
            ("email", notification.email),
        )
        if channel.enabled
    ]
    return (
        f"ds-monitor {__version__} starting: DS {cfg.dolphinscheduler.api_url} "
        f"(api_version {cfg.dolphinscheduler.api_version}), projects: {projects}, "
        f"channels: {', '.join(channels) or 'none'}, interval {cfg.monitor.check_interval}s"
    )


class Runner:
    """Owns the monitor for the lifetime of ``python main.py run``."""

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        reload: Callable[[], LoadedConfig],
        build: Callable[..., object],
        http_port: int | None = None,
        once: bool = False,
        log_level: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.loaded = loaded
        self.reload = reload
        self.build = build
        self.http_port = loaded.config.monitor.http_port if http_port is None else http_port
        self.once = once
        self.clock = clock
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()

    def request_stop(self, *_args) -> None:
        self.stop_event.set()

    def request_reload(self, *_args) -> None:
        self.reload_event.set()
        # Wake the loop so the reload happens now rather than after the interval.
        self.stop_event.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self.request_reload)

    def run(self) -> int:
        """Loop until stopped; return the process exit code. One ``run`` per state directory."""
        with exclusive_run(self.loaded.config.state_dir):
            return self._run()

    def _run(self) -> int:
        from ds_monitor.http_endpoint import Health, HealthServer
        from ds_monitor.status import collect_status
        from ds_monitor.telemetry import MonitorMetrics

        self._install_signals()
        log.info("%s", startup_line(self.loaded))
        telemetry = MonitorMetrics()
        monitor = self._build(telemetry)
        health = Health(
            check_interval=self.loaded.config.monitor.check_interval,
            started_at=self.clock(),
            sweep_budget=self.loaded.config.monitor.timeout,
        )
        server = None
        if self.http_port:
            server = HealthServer(
                self.loaded.config.monitor.http_host,
                self.http_port,
                health=health,
                metrics=telemetry,
                status=lambda: collect_status(self.loaded.config, self.clock()),
                clock=self.clock,
            )
            server.start()
            log.info(
                "health endpoint on http://%s:%d (/healthz /readyz /metrics /status)",
                self.loaded.config.monitor.http_host,
                server.port,
            )
        try:
            while True:
                report = self._sweep(monitor, telemetry)
                health.sweep_attempted(self.clock(), report.ok, describe_failure_reason(report))
                self._log_summary(report)
                if self.once:
                    return 0 if report.complete else 1
                if self._wait(self.loaded.config.monitor.check_interval):
                    break
                if self.reload_event.is_set():
                    monitor = self._reload(monitor, telemetry, health)
            log.info("stopping: state flushed, exiting")
            return 0
        finally:
            monitor.close()
            if server is not None:
                server.stop()

    def _sweep(self, monitor, telemetry) -> SweepReport:
        """One sweep on the loop's clock. The monitor reports its own bugs as a failed sweep; this is
        the last line of defence for one in the reporting itself, so the loop always goes on."""
        now = self.clock()
        try:
            return monitor.sweep(now)
        except Exception as err:  # noqa: BLE001 - the daemon outlives its own bugs (spec 7)
            log.exception("sweep failed with an internal error; the loop goes on at the next interval")
            telemetry.sweep_error(INTERNAL_ERROR)
            return SweepReport(
                started_at=now,
                finished_at=self.clock(),
                error=f"{INTERNAL_ERROR} ({type(err).__name__}): {err}",
                error_reason=INTERNAL_ERROR,
            )

    def _build(self, telemetry):
        monitor = self.build(self.loaded, telemetry=telemetry)
        monitor.stop_requested = self._stop_requested
        return monitor

    def _stop_requested(self) -> bool:
        return self.stop_event.is_set() and not self.reload_event.is_set()

    def _wait(self, seconds: float) -> bool:
        """Wait for the next sweep; True when a stop (not a reload) was requested."""
        self.stop_event.wait(seconds)
        if self.reload_event.is_set():
            self.stop_event.clear()
            return False
        return self.stop_event.is_set()

    def _reload(self, monitor, telemetry, health):
        self.reload_event.clear()
        try:
            loaded = self.reload()
        except MonitorError as err:
            log.error("config reload failed, keeping the running configuration: %s", err)
            return monitor
        monitor.close()
        self.loaded = loaded
        health.check_interval = loaded.config.monitor.check_interval
        health.sweep_budget = loaded.config.monitor.timeout
        log.info("configuration reloaded: %s", startup_line(loaded))
        return self._build(telemetry)

    @staticmethod
    def _log_summary(report) -> None:
        if not report.ok:
            return
        log.info(
            "sweep done: %d projects queried, %d failed in window, %d over threshold, %d recoveries triggered, "
            "%d missed, %d stuck, %d projects unreadable, %d DS calls (%d saved by schedule)",
            report.projects_scanned,
            len(report.failed_instances),
            len(report.threshold_exceeded),
            sum(1 for row in report.recoveries if row["result"] == "triggered"),
            len(report.missed_runs),
            len(report.stuck_runs),
            len(report.unreadable_projects),
            report.api.get("calls", 0),
            report.api.get("saved_by_schedule", 0),
        )

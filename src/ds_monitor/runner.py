"""The ``run`` loop: sweep, wait on an event (not ``sleep``), honour signals, serve health.

Signal handlers only set flags: SIGTERM/SIGINT ask the loop to stop after the current step (the
monitor checks the flag between projects and recoveries, so shutdown takes about a second), and
SIGHUP asks for the config file to be reloaded before the next sweep. An invalid new config keeps
the old one running.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ds_monitor import __version__
from ds_monitor.config import Config, LoadedConfig
from ds_monitor.errors import INTERNAL_ERROR, CoordinationError, MonitorError, ReportedFailure, describe_bug
from ds_monitor.monitor import Monitor
from ds_monitor.redaction import mask_url
from ds_monitor.state.files import exclusive_run
from ds_monitor.sweep import render
from ds_monitor.sweep.health import describe_failure_reason
from ds_monitor.sweep.report import SweepReport

if TYPE_CHECKING:
    from ds_monitor.coordination import Coordinator
    from ds_monitor.telemetry import MonitorMetrics

log = logging.getLogger("ds_monitor.runner")

# A standby waits for the leader's election node to go in slices this long, so a stop is prompt.
CONTEND_SLICE = 1.0
# Reconnecting to an unreachable ZooKeeper at start: first wait, and the longest.
CONNECT_RETRY = (1.0, 30.0)



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
        f"ds-monitor {__version__} starting: DS {mask_url(cfg.dolphinscheduler.api_url)} "
        f"(api_version {cfg.dolphinscheduler.api_version}), projects: {projects}, "
        f"channels: {', '.join(channels) or 'none'}, interval {cfg.monitor.check_interval}s"
    )


def _reload_refusal(running: Config, new: Config) -> str | None:
    """Why ``new`` cannot replace ``running`` in this process, or None.

    ``run`` holds its lifetime lock in ``state_dir``; following a new ``state_dir`` would leave the
    lock on the old one, so a second daemon would be accepted on the new one. Moving the lock
    atomically is not possible with flock (release, then take, leaves a gap), so it is refused.
    """
    if os.path.abspath(running.state_dir) != os.path.abspath(new.state_dir):
        return (
            f"state_dir changed from {running.state_dir} to {new.state_dir}; the run lock stays on the old "
            "directory, so restart ds-monitor to move to the new one"
        )
    if running.coordination != new.coordination:
        # A replica cannot switch its state backend or election mid-run without acting twice.
        return "coordination.* changes need a restart"
    return None


class Runner:
    """Owns the monitor for the lifetime of ``python main.py run``.

    Wired by the composition root (:func:`ds_monitor.app.run`): ``build`` makes a monitor for a
    loaded configuration (again after each reload), ``telemetry`` outlives those monitors,
    ``clock`` gives the ``now`` of every sweep, and ``coordinator`` is this replica's ZooKeeper
    session and election (spec 11), or None for a single process holding the state_dir lock.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        reload: Callable[[], LoadedConfig],
        build: Callable[[LoadedConfig], Monitor],
        telemetry: MonitorMetrics,
        clock: Callable[[], datetime],
        coordinator: Coordinator | None = None,
        http_port: int | None = None,
        once: bool = False,
    ):
        self.loaded = loaded
        self.reload = reload
        self.build = build
        self.telemetry = telemetry
        self.clock = clock
        self.coordinator = coordinator
        self.http_port = loaded.config.monitor.http_port if http_port is None else http_port
        self.once = once
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self._standby_logged = False

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

    def run(self) -> None:
        """Loop until stopped. With ``once``, an incomplete sweep raises :class:`ReportedFailure`
        (exit 1; the summary and the errors are already logged).

        One ``run`` per state directory; with ZooKeeper any number, of which the elected one acts.
        """
        if self.coordinator is not None:
            self._run()
            return
        with exclusive_run(self.loaded.config.state_dir):
            self._run()

    def _run(self) -> None:
        from ds_monitor.http_endpoint import Health, HealthServer
        from ds_monitor.status import collect_status

        self._install_signals()
        log.info("%s", startup_line(self.loaded))
        monitor = self._build()
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
                metrics=self.telemetry,
                status=lambda: collect_status(self.loaded.config, self.clock(), replica=self.coordinator),
                clock=self.clock,
            )
            server.start()
            log.info(
                "health endpoint on http://%s:%d (/healthz /readyz /metrics /status)",
                self.loaded.config.monitor.http_host,
                server.port,
            )
        try:
            if self.coordinator is not None and not self._connect(health):
                log.info("stopping before ZooKeeper answered")
                return
            while True:
                if self._leading(health):
                    if self.coordinator is not None:
                        monitor.role = self.coordinator.role
                    report = self._sweep(monitor)
                    health.sweep_attempted(self.clock(), report.ok, describe_failure_reason(report))
                    self._log_summary(report)
                    if self.once:
                        if not report.complete:
                            raise ReportedFailure("the sweep could not complete or could not read every project")
                        return
                elif self.once:
                    return
                if self._wait(self.loaded.config.monitor.check_interval):
                    break
                if self.reload_event.is_set():
                    monitor = self._reload(monitor, health)
            log.info("stopping: state flushed, exiting")
        finally:
            monitor.close()
            if server is not None:
                server.stop()

    def _sweep(self, monitor: Monitor) -> SweepReport:
        """One sweep on the loop's clock. The monitor reports its own bugs as a failed sweep; this is
        the last line of defence for one in the reporting itself, so the loop always goes on."""
        now = self.clock()
        try:
            return monitor.sweep(now)
        except Exception as err:  # noqa: BLE001 - the daemon outlives its own bugs (spec 7)
            log.exception("sweep failed with an internal error; the loop goes on at the next interval")
            self.telemetry.sweep_error(INTERNAL_ERROR)
            return SweepReport(
                started_at=now,
                finished_at=self.clock(),
                error=describe_bug(err),
                error_reason=INTERNAL_ERROR,
            )

    def _build(self) -> Monitor:
        monitor = self.build(self.loaded)
        monitor.stop_requested = self._stop_requested
        return monitor

    def _stop_requested(self) -> bool:
        return self.stop_event.is_set() and not self.reload_event.is_set()

    def _wait(self, seconds: float) -> bool:
        """Wait for the next sweep; True when a stop (not a reload) was requested.

        A connected standby spends the wait contending, so it leads as soon as the leader's
        session ends instead of at its next tick.
        """
        coordinator = self.coordinator
        if coordinator is not None and coordinator.connected and not coordinator.is_leader:
            self._contend(seconds)
        else:
            self.stop_event.wait(seconds)
        if self.reload_event.is_set():
            self.stop_event.clear()
            return False
        return self.stop_event.is_set()

    def _contend(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            began = time.monotonic()
            try:
                if self.coordinator.try_lead(timeout=min(CONTEND_SLICE, left)):
                    return
            except CoordinationError as err:
                log.debug("%s", err)
            # try_lead returns at once while the session is down: wait out the slice, never spin.
            self.stop_event.wait(max(0.0, min(CONTEND_SLICE, left) - (time.monotonic() - began)))

    def _connect(self, health) -> bool:
        """Open the ZooKeeper session, retrying with backoff; False when a stop came first."""
        delay = CONNECT_RETRY[0]
        while True:
            try:
                self.coordinator.start()
                return True
            except CoordinationError as err:
                log.error("%s; retrying in %g s (no sweep, no action meanwhile)", err, delay)
                health.standby_checked(self.clock(), problem=str(err), leader=None)
            if self.stop_event.wait(delay) and not self.reload_event.is_set():
                return False
            self.stop_event.clear()
            self.reload_event.clear()
            delay = min(delay * 2, CONNECT_RETRY[1])

    def _leading(self, health) -> bool:
        """Whether this process sweeps now: always without coordination, else only as the leader."""
        if self.coordinator is None:
            self.telemetry.leading(True)
            return True
        problem = ""
        try:
            leads = self.coordinator.try_lead()
        except CoordinationError as err:
            leads, problem = False, str(err)
        self.telemetry.leading(leads)
        if leads:
            health.leading(self.coordinator.identity)
            self._standby_logged = False
            return True
        if not problem and not self.coordinator.connected:
            problem = "no ZooKeeper session (reconnecting)"
        leader = self.coordinator.leader() if self.coordinator.connected else None
        health.standby_checked(self.clock(), problem=problem, leader=leader)
        if not self._standby_logged:
            self._standby_logged = True
            log.info("standby: %s leads; this replica acts and sends nothing until it leads", leader or "nobody")
        return False

    def _reload(self, monitor: Monitor, health) -> Monitor:
        self.reload_event.clear()
        try:
            loaded = self.reload()
        except MonitorError as err:
            log.error("config reload failed, keeping the running configuration: %s", err)
            return monitor
        refusal = _reload_refusal(self.loaded.config, loaded.config)
        if refusal:
            log.error("config reload refused, keeping the running configuration: %s", refusal)
            return monitor
        monitor.close()
        self.loaded = loaded
        health.check_interval = loaded.config.monitor.check_interval
        health.sweep_budget = loaded.config.monitor.timeout
        log.info("configuration reloaded: %s", startup_line(loaded))
        return self._build()

    @staticmethod
    def _log_summary(report: SweepReport) -> None:
        if report.ok:
            log.info("%s", render.summary(report))

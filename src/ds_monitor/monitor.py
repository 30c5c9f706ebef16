"""One sweep of the monitor, as named steps (spec sections 3 and 7).

select (which projects and workflows are watched) -> plan (which projects need an instance query,
by schedule) -> fetch (one instance list per such project) -> triage (failures in the window,
systemic definitions, missed and stuck runs) -> diagnose (failed tasks and failure class) ->
announce the failures -> recover -> follow up earlier recoveries -> persist (outbox, marks,
health) -> deliver the outbox.

Each step is a module of :mod:`ds_monitor.sweep`; this module runs them in order, under the state
lock, and keeps what lives across the sweeps of a ``run``: health, warnings already given, the
worker pool.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

from ds_monitor.config import Config, secret_values
from ds_monitor.ds.calls import CallStats
from ds_monitor.ds.protocol import DSApi
from ds_monitor.errors import AccessError, MonitorError, SweepInterrupted, WatchingNothing, describe_bug
from ds_monitor.notify import NotificationManager
from ds_monitor.recovery.action import RecoveryHandler
from ds_monitor.recovery.decisions import RecoveryPolicy
from ds_monitor.recovery.journal import Journal
from ds_monitor.schedule import ScheduleTracker, TrackerSettings
from ds_monitor.state import RECOVERY, SCHEDULE, ReadOnlyStore, Store
from ds_monitor.sweep import health as sweep_health
from ds_monitor.sweep.announce import Announcer
from ds_monitor.sweep.diagnose import diagnose
from ds_monitor.sweep.events import EventMaker
from ds_monitor.sweep.fetch import Unreadable, fetch_instances
from ds_monitor.sweep.follow_up import follow_up
from ds_monitor.sweep.health import SweepHealth, fail
from ds_monitor.sweep.persist import BLIND, DONE, FAILED, INTERRUPTED, Decisions, persist
from ds_monitor.sweep.plan import plan
from ds_monitor.sweep.recover import recover, rules_of, withhold_silenced
from ds_monitor.sweep.report import FailedTaskRow, SweepReport
from ds_monitor.sweep.select import select
from ds_monitor.sweep.triage import triage_projects

log = logging.getLogger("ds_monitor.monitor")

# Announced before the recovery step: once DS runs an instance again, a restart after a crash
# there would find no failure left to announce.
EARLY_KINDS = frozenset({"failure_detected", "threshold_exceeded"})
# Enough to overlap DS latency across projects without hammering the API server.
MAX_PARALLEL_PROJECTS = 8


class Monitor:
    """Runs sweeps against one DS; keeps the selection warnings and health across sweeps of a ``run``."""

    def __init__(
        self,
        config: Config,
        client: DSApi,
        store: Store,
        notifier: NotificationManager,
        *,
        calls: CallStats,
        telemetry=None,
        dry_run: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        heartbeat=None,
    ):
        self.config = config
        self.client = client
        self.store = ReadOnlyStore(store) if dry_run else store
        self.notifier = notifier
        self.calls = calls
        self.telemetry = telemetry
        self.dry_run = dry_run
        self.monotonic = monotonic
        # A dry run is not the monitor doing its job: it must not tell the dead-man's switch it is.
        self.heartbeat = None if dry_run else heartbeat
        self.tracker = ScheduleTracker(TrackerSettings.from_config(config.monitor))
        retry = config.retry
        self.recovery = RecoveryHandler(
            client,
            lambda journal: self.store.save(RECOVERY, journal),
            RecoveryPolicy(
                max_attempts=retry.max_recovery_attempts, auto_recovery=retry.auto_recovery, dry_run=dry_run
            ),
            window=timedelta(hours=config.monitor.time_window_hours),
            recovery_interval=timedelta(seconds=retry.recovery_interval),
        )
        self.announcer = Announcer(config, self.store, notifier, dry_run=dry_run)
        self._secrets = secret_values(config)
        self.health = SweepHealth()
        # Failed sweeps whose health could not be saved (the lock or a save failed); added on the next save.
        self._unsaved_failures = 0
        # Created once: starting threads every sweep costs more than the work on small estates.
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_PROJECTS, thread_name_prefix="ds-monitor")
        self.stop_requested: Callable[[], bool] = lambda: False
        # A stop request or a spent sweep budget also cuts the client's retries and backoff short.
        self._deadline: float | None = None
        client.retry_guard = self._retry_guard
        self._warned: set[str] = set()
        self._announced_connection = False
        # This replica's role for the report; the runner updates it as leadership comes and goes.
        self.role = "single"

    def sweep(self, now: datetime) -> SweepReport:
        """One sweep at ``now`` (the caller's clock: the run loop's, a command's, a test's).

        Never raises for DS trouble: the report carries ``error`` and the health event.
        """
        report = SweepReport(started_at=now, role=self.role)
        self.calls.reset()
        started = self.monotonic()
        try:
            with self.store.locked(), _collector_paused():
                decisions, ended = self._attempt(now, report)
                persist(
                    self.store, self.tracker, self.announcer, self.health, decisions, ended,
                    unsaved_failures=self._unsaved_failures, health_saved=self._health_saved, now=now, report=report,
                )
        except AccessError:
            raise  # a state file the monitor may not read or write: the operator's fix, not a failed sweep
        except MonitorError as err:
            # The lock or a save failed: nothing of this sweep can be trusted to be recorded.
            fail(report, err)
            self._unsaved_failures += 1
        undelivered = self.announcer.deliver(now, report)
        if undelivered is not None and report.ok:
            fail(report, undelivered)
            self._unsaved_failures += 1
        if self.heartbeat is not None and report.ok:
            self.heartbeat.beat()
        report.api = self._api_figures(report)
        self._take_store_warnings(report)
        seconds = self.monotonic() - started
        report.finished_at = now + timedelta(seconds=seconds)
        if self.telemetry is not None:
            self.telemetry.sweep_report(report, seconds=seconds)
        return report

    def _attempt(self, now: datetime, report: SweepReport) -> tuple[Decisions | None, str]:
        """The sweep proper, under the lock: its decisions (None if it failed) and how it ended."""
        try:
            return self._steps(now, report), DONE
        except SweepInterrupted:
            report.warnings.append("sweep interrupted by shutdown: state saved, the rest waits for the next start")
            log.info("sweep interrupted by shutdown")
            return None, INTERRUPTED
        except AccessError:
            raise  # a state file the monitor may not read or write: the operator's fix, not a failed sweep
        except MonitorError as err:
            fail(report, err)
            return None, BLIND if isinstance(err, WatchingNothing) else FAILED
        except Exception as err:  # noqa: BLE001 - a bug of ours must not end the daemon (spec 7)
            report.error = describe_bug(err)
            report.error_reason = sweep_health.INTERNAL_ERROR
            log.exception("sweep failed with an internal error; the loop goes on at the next interval")
            return None, FAILED

    def _steps(self, now: datetime, report: SweepReport) -> Decisions:
        cfg = self.config.monitor
        deadline = self._deadline = self.monotonic() + cfg.timeout

        def keep_going() -> bool:
            return not self.stop_requested() and self.monotonic() <= deadline

        self._connected(report)
        unreadable: Unreadable = {}
        estate = select(self.client, self._pool, self.config.projects, report, unreadable, self._warned)
        recovery_state = self.store.load(RECOVERY)
        schedule_state = self.store.load(SCHEDULE)
        busy = Journal.load(recovery_state).busy_definitions()
        to_query = plan(self.tracker, estate, schedule_state, busy, now, report)
        if self.stop_requested():
            raise SweepInterrupted
        query_start = now - timedelta(hours=max(cfg.time_window_hours, cfg.execution_window_hours))
        listing = fetch_instances(self.client, self._pool, to_query, query_start, now, unreadable)
        events = sweep_health.project_events(self.health, estate.projects, unreadable, report)

        names = {p.code: p.name for p in estate.projects}
        definitions = {d.code: d for d in estate.all_definitions()}
        make = EventMaker(self.client, definitions, names)
        found = triage_projects(
            self.tracker, estate, listing, schedule_state, query_start=query_start, now=now,
            window_hours=cfg.time_window_hours, max_failures=cfg.max_failures_for_recovery, make=make, report=report,
        )
        events += found.events
        withhold_silenced(self.announcer.silences_in_force(now), found.candidates, names, make, now, report)
        listed = {i.id: i for instances in listing.values() for i in instances}
        self.announcer.saw(listed.values(), definitions)

        rules = rules_of(self.config, estate)
        memory = diagnose(
            self.client, self._pool, self.config, (inst for _, inst in found.failed), rules, recovery_state,
            announcing=bool(self.notifier.channels), secrets=self._secrets, now=now, keep_going=keep_going,
            report=report,
        )
        for project, inst in found.failed:
            diagnosis = memory.get(inst)
            if diagnosis is not None:
                report.failed_tasks.extend(FailedTaskRow.of(inst.id, task) for task in diagnosis.tasks)
            events.append(make.instance("failure_detected", project, inst, diagnosis))
        early = [event for event in events if event.kind in EARLY_KINDS]
        events = [event for event in events if event.kind not in EARLY_KINDS]
        self.announcer.announce(early, now, report)

        journal, withheld = recover(
            self.recovery, found.candidates, Journal.load(recovery_state), siblings=found.siblings,
            definitions=definitions, rules=rules, memory=memory, pool=self._pool, timeout=cfg.timeout,
            keep_going=keep_going, stop_requested=self.stop_requested,
            save=lambda document: self.store.save(RECOVERY, document), make=make, project_names=names, now=now,
            report=report,
        )
        events += withheld
        journal, followed = follow_up(self.recovery, self.client, journal, listed, memory, make, rules, now)
        events += followed
        return Decisions(events, found.schedule_state, journal.dump(), early)

    def _health_saved(self) -> None:
        self._unsaved_failures = 0

    def _connected(self, report: SweepReport) -> None:
        report.ds_version = self.client.version
        if not self._announced_connection:
            self._announced_connection = True
            log.info("DS %s; dates are read and written in zone %s", report.ds_version, self.client.timezone)

    def _retry_guard(self) -> str | None:
        if self.stop_requested():
            return "shutdown requested"
        if self._deadline is not None and self.monotonic() > self._deadline:
            return f"sweep time budget (monitor.timeout={self.config.monitor.timeout}s) spent"
        return None

    def _take_store_warnings(self, report: SweepReport) -> None:
        """The state store's messages of this sweep into the report; each file it set aside counted."""
        report.warnings.extend(self.store.warnings)
        if self.telemetry is not None:
            for name in self.store.file_errors:
                self.telemetry.state_file_error(name)
        self.store.warnings.clear()
        self.store.file_errors.clear()

    def _api_figures(self, report: SweepReport) -> dict:
        figures = self.calls.snapshot()
        return {
            "calls": figures["calls"],
            "errors": figures["errors"],
            "saved_by_schedule": report.api.get("saved_by_schedule", 0),
            # Of ``calls``: task lists and task logs read to explain failures (spec section 9).
            "task_calls": report.api.get("task_calls", 0),
            "cache_hits": figures["cache_hits"],
            "latency_ms_p50": figures["latency_ms_p50"],
            "latency_ms_p95": figures["latency_ms_p95"],
        }

    def close(self) -> None:
        """Release the DS connection pool and the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        if self.heartbeat is not None:
            self.heartbeat.close()


@contextmanager
def _collector_paused():
    """Keep the cyclic garbage collector out of the block, then collect what the block left young.

    A sweep allocates a few objects per definition; at 100,000 definitions the collector's automatic
    full passes over the whole heap (five or so per sweep) cost a fifth of the sweep's CPU, and
    sweeps create hardly any cycles. After the block one pass over the young generations (what the
    sweep allocated and kept) costs in proportion to the sweep, not to the heap; the automatic full
    passes go on between sweeps as usual.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)

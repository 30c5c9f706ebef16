"""One sweep of the monitor, and the self-health bookkeeping across sweeps (spec sections 3 and 7).

A sweep: projects -> definitions and schedules (cached by the client) -> the schedule tracker picks
the projects worth querying -> one instance-list query per such project (every state, every page)
-> failures filtered to the window and grouped by definition -> threshold -> journaled recovery of
the rest -> follow-up of earlier recoveries -> one grouped notification per channel -> state saved.

The decisions live in pure modules (:mod:`ds_monitor.schedule`, :mod:`ds_monitor.recovery`,
:mod:`ds_monitor.notify`); this module only fetches, hands data over and collects the report.
"""

from __future__ import annotations

import difflib
import gc
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from ds_monitor import digest, maintenance, silences
from ds_monitor.classify import SHIPPED_PATTERNS
from ds_monitor.clock import utc_now
from ds_monitor.config import Config, ProjectSelection, secret_values
from ds_monitor.ds.models import (
    FAILURE,
    Definition,
    Instance,
    Project,
    Schedule,
)
from ds_monitor.ds.protocol import DSApi
from ds_monitor.errors import (
    AccessError,
    DSAuthError,
    DSError,
    DSUnreachable,
    MonitorError,
    StateError,
    WatchingNothing,
)
from ds_monitor.notify import Event, NotificationManager, NotificationResult
from ds_monitor.notify.ratelimit import normalise_state
from ds_monitor.recovery.action import RecoveryHandler
from ds_monitor.recovery.decisions import FollowUp, RecoveryPolicy
from ds_monitor.recovery.journal import Journal
from ds_monitor.recovery.policy import TRANSIENT_ONLY, Rule
from ds_monitor.schedule import ScheduleTracker, TrackerSettings
from ds_monitor.state import (
    DIGEST,
    RATE_LIMIT,
    RECOVERY,
    SCHEDULE,
    SILENCES,
    STATE_FILES,
    ReadOnlyStore,
    Store,
    update_document,
)
from ds_monitor.sweep.report import (
    FailedInstanceRow,
    FailedTaskRow,
    MissedRunRow,
    NotificationRow,
    RecoveryRow,
    SilencedRow,
    StuckRunRow,
    SweepReport,
    ThresholdRow,
    UnreadableProjectRow,
)
from ds_monitor.tasks import MEMORY_KEY, Diagnosis, ExcerptLimits, FailureMemory, TaskReader
from ds_monitor.triage import triage

log = logging.getLogger("ds_monitor.monitor")

UNHEALTHY_AFTER_FAILED_SWEEPS = 3
# Announced before the recovery step (see _sweep).
EARLY_KINDS = frozenset({"failure_detected", "threshold_exceeded"})
# The failure reason of a sweep that met a bug of ours rather than trouble with DS.
INTERNAL_ERROR = "internal error"
# Enough to overlap DS latency across projects without hammering the API server.
MAX_PARALLEL_PROJECTS = 8



@dataclass(frozen=True)
class _Findings:
    """What a sweep decided, saved in order by ``_commit``: the events into the outbox first, then
    the schedule and journal marks that say they were found (a crash between the saves finds them
    again next sweep, and the announcement memory drops the repeat)."""

    events: list[Event]
    schedule_state: dict
    journal: dict
    # Failures already in the outbox: announced before any recovery could change what DS shows.
    announced_early: list[Event] = field(default_factory=list)


class SweepInterrupted(Exception):
    """Shutdown was requested mid-sweep; raised between steps, after state of finished steps is saved."""


@dataclass
class SweepHealth:
    """Consecutive failed sweeps, to raise ``monitor_unhealthy`` once and ``monitor_recovered`` once,
    and the projects that could not be read, to raise ``project_readable`` when one can be again.

    The two counters are persisted with the announcement marks (the ``health`` part of the
    notification state), so an outage is announced once and its end too, across restarts, reloads
    and ``check`` beside ``run``.
    """

    consecutive_failures: int = 0
    unhealthy: bool = False
    unreadable_projects: dict[int, str] = field(default_factory=dict)

    def projects_read(self, unreadable: dict[int, str], readable: set[int]) -> tuple[list[int], list[int]]:
        """Record this sweep's project outcomes; return (newly unreadable, readable again) project codes.

        A project neither read nor failed (not queried this sweep) keeps its last known state.
        """
        new = [code for code in unreadable if code not in self.unreadable_projects]
        back = [code for code in self.unreadable_projects if code in readable]
        for code in back:
            del self.unreadable_projects[code]
        self.unreadable_projects.update(unreadable)
        return new, back

    def restore(self, saved: object) -> None:
        """Take the counters as saved (by an earlier run, or a ``check`` beside this one)."""
        saved = saved if isinstance(saved, dict) else {}
        failures = saved.get("consecutive_failures")
        self.consecutive_failures = failures if isinstance(failures, int) and failures >= 0 else 0
        self.unhealthy = saved.get("unhealthy") is True

    def counters(self) -> dict:
        """The counters to save."""
        return {"consecutive_failures": self.consecutive_failures, "unhealthy": self.unhealthy}

    def record(self, ok: bool, *, at_once: bool = False) -> str | None:
        """Return the monitor event this sweep result causes, if any.

        ``at_once``: a failure that no retry can mend (the configuration watches nothing) is
        announced on its first sweep rather than after three.
        """
        if ok:
            self.consecutive_failures = 0
            if self.unhealthy:
                self.unhealthy = False
                return "monitor_recovered"
            return None
        self.consecutive_failures += 1
        if (at_once or self.consecutive_failures >= UNHEALTHY_AFTER_FAILED_SWEEPS) and not self.unhealthy:
            self.unhealthy = True
            return "monitor_unhealthy"
        return None


@dataclass(frozen=True)
class Estate:
    """The monitored projects, their monitored definitions and their schedules, as fetched this sweep."""

    projects: list[Project]
    definitions: dict[int, list[Definition]]
    schedules: dict[int, list[Schedule]]

    def all_definitions(self) -> list[Definition]:
        return [d for defs in self.definitions.values() for d in defs]

    def all_schedules(self) -> list[Schedule]:
        return [s for scheds in self.schedules.values() for s in scheds]


def describe_failure(err: BaseException) -> str:
    """The short reason shown by /readyz and in the unhealthy message."""
    if isinstance(err, WatchingNothing):
        return str(err)
    if isinstance(err, DSAuthError):
        return "token rejected"
    if isinstance(err, DSUnreachable):
        return "DS unreachable"
    if isinstance(err, DSError):
        return "DS error"
    if not isinstance(err, MonitorError):
        return INTERNAL_ERROR
    return "sweep failed"


def describe_failure_reason(report: SweepReport) -> str:
    return report.error_reason or ""


def select_projects(
    visible: list[Project], wanted: tuple[ProjectSelection, ...]
) -> tuple[list[tuple[Project, ProjectSelection]], list[str]]:
    """Match configured names (or codes) to DS projects; return the matches and one warning per miss."""
    if not wanted:
        return [(p, ProjectSelection(p.name)) for p in visible], []
    by_name = {p.name: p for p in visible}
    by_code = {str(p.code): p for p in visible}
    matched, warnings = [], []
    for selection in wanted:
        project = by_name.get(selection.name) or by_code.get(selection.name)
        if project is None:
            warnings.append(f"project {selection.name!r} not found in DS{_closest(selection.name, by_name)}")
        else:
            matched.append((project, selection))
    return matched, warnings


def watching_nothing(
    matched: list[tuple[Project, ProjectSelection]], selected_definitions: int, misses: list[str]
) -> str | None:
    """Why a selection watches nothing, or None when it watches something.

    A matched project with ``monitor_all`` is watched even while it has no definition (new ones are
    seen); a project that lists workflows is watched only through those that exist.
    """
    if selected_definitions or any(selection.monitor_all for _, selection in matched):
        return None
    if not misses:
        return "watching nothing: the token sees no project in DS"
    return "watching nothing: no configured project or workflow exists in DS (" + "; ".join(misses) + ")"


def select_definitions(
    project: Project, definitions: list[Definition], selection: ProjectSelection
) -> tuple[list[Definition], list[str]]:
    if selection.monitor_all:
        return definitions, []
    by_name = {d.name: d for d in definitions}
    by_code = {str(d.code): d for d in definitions}
    chosen, warnings = [], []
    for name in selection.workflows:
        definition = by_name.get(name) or by_code.get(name)
        if definition is None:
            warnings.append(f"workflow {name!r} not found in project {project.name!r}{_closest(name, by_name)}")
        else:
            chosen.append(definition)
    return chosen, warnings


def _closest(name: str, candidates: dict) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f" (closest: {', '.join(close)})" if close else ""


class Monitor:
    """Runs sweeps against one DS; keeps the selection warnings and health across sweeps of a ``run``."""

    def __init__(
        self,
        config: Config,
        client: DSApi,
        store: Store,
        notifier: NotificationManager,
        *,
        api_metrics,
        telemetry=None,
        dry_run: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        heartbeat=None,
    ):
        self.config = config
        self.client = client
        self.store = ReadOnlyStore(store) if dry_run else store
        self.notifier = notifier
        self.api_metrics = api_metrics
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
        # Instance states and workflow names seen by the last sweep, for the silences' bookkeeping.
        self._seen_states: dict[int, str] = {}
        self._seen_fires: frozenset[tuple[int, datetime]] = frozenset()
        self._workflow_names: dict[int, str] = {}
        # This replica's role for the report; the runner updates it as leadership comes and goes.
        self.role = "single"
        # The first failed sweep of the current streak: the start of an outage, for the inhibition.
        self._failing_since: datetime | None = None

    # -- the sweep ---------------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """One sweep. Never raises for DS trouble: the report carries ``error`` and the health event."""
        now = now or utc_now()
        report = SweepReport(started_at=now, role=self.role)
        self.api_metrics.reset()
        started = self.monotonic()
        try:
            with self.store.locked(), _collector_paused():
                findings, ended = self._attempt(now, report)
                self._commit(findings, ended, now, report)
        except AccessError:
            raise  # a state file the monitor may not read or write: the operator's fix, not a failed sweep
        except MonitorError as err:
            # The lock or a save failed: nothing of this sweep can be trusted to be recorded.
            self._fail(report, err)
            self._unsaved_failures += 1
        if self.notifier.channels and not self.dry_run:
            delivery = self.notifier.deliver(_StateDocument(self.store, RATE_LIMIT), now)
            report.notifications.extend(_result_row(r) for r in delivery.results)
            if delivery.errors and report.ok:
                self._fail(report, StateError("; ".join(delivery.errors)))
                self._unsaved_failures += 1
        if self.heartbeat is not None and report.ok:
            self.heartbeat.beat()
        report.api = self._api_figures(report)
        for warning in self.store.warnings:
            report.warnings.append(warning)
            if self.telemetry is not None:
                for name in STATE_FILES:
                    if name in warning:
                        self.telemetry.state_file_error(name)
        self.store.warnings.clear()
        report.finished_at = now + timedelta(seconds=self.monotonic() - started)
        if self.telemetry is not None:
            self.telemetry.sweep_finished(ok=report.ok, seconds=self.monotonic() - started)
            if report.error_reason:
                self.telemetry.sweep_error(report.error_reason)
            for row in report.unreadable_projects:
                self.telemetry.project_unreadable(row.name)
            self.telemetry.failures_detected(len(report.failed_instances))
            self.telemetry.calls_saved(report.api.get("saved_by_schedule", 0))
            for row in report.recoveries:
                self.telemetry.recovery(row.result)
            for row in report.notifications:
                self.telemetry.notification(row.channel, row.result)
        return report

    def _retry_guard(self) -> str | None:
        if self.stop_requested():
            return "shutdown requested"
        if self._deadline is not None and self.monotonic() > self._deadline:
            return f"sweep time budget (monitor.timeout={self.config.monitor.timeout}s) spent"
        return None

    def _attempt(self, now: datetime, report: SweepReport) -> tuple[_Findings | None, str]:
        """The sweep proper, under the lock: its findings (None if it failed) and how it ended:
        ``done``, ``interrupted`` (shutdown), ``failed`` or ``blind`` (the selection watches nothing)."""
        try:
            return self._sweep(now, report), "done"
        except SweepInterrupted:
            report.warnings.append("sweep interrupted by shutdown: state saved, the rest waits for the next start")
            log.info("sweep interrupted by shutdown")
            return None, "interrupted"
        except AccessError:
            raise  # a state file the monitor may not read or write: the operator's fix, not a failed sweep
        except MonitorError as err:
            self._fail(report, err)
            return None, "blind" if isinstance(err, WatchingNothing) else "failed"
        except Exception as err:  # noqa: BLE001 - a bug of ours must not end the daemon (spec 7)
            report.error = f"{INTERNAL_ERROR} ({type(err).__name__}): {err}"
            report.error_reason = INTERNAL_ERROR
            log.exception("sweep failed with an internal error; the loop goes on at the next interval")
            return None, "failed"

    @staticmethod
    def _fail(report: SweepReport, err: MonitorError) -> None:
        if report.error is None:
            report.error = str(err)
            report.error_reason = describe_failure(err)
        log.error("sweep failed: %s", err)

    def _commit(self, findings: _Findings | None, ended: str, now: datetime, report: SweepReport) -> None:
        """Record the sweep under the lock: its events into the outbox, then the marks, then health.

        Every event goes into the outbox in the same save that marks it announced, before any send
        (spec section 8), and before the schedule and journal marks that say it was found. Health
        is recorded last, so a save that fails on the way makes this sweep a failed one.
        """
        if ended == "interrupted":
            return
        blind = ended == "blind"
        # What this sweep does to the health, as far as known now: the inhibition depends on it.
        held = self._inhibition(report.ok, self._health_change(report.ok, blind), now)
        decided = findings.announced_early + findings.events if findings else []
        if findings is not None:
            try:
                self._announce(findings.events, now, report, held)
                self.store.save(SCHEDULE, self.tracker.forget_stale(findings.schedule_state, now))
                self.store.save(RECOVERY, findings.journal)
            except MonitorError as err:
                self._fail(report, err)

        def record(state: dict) -> tuple[str | None, dict]:
            state = normalise_state(state)
            self.health.restore(state["health"])
            self.health.consecutive_failures += self._unsaved_failures
            kind = self.health.record(report.ok, at_once=blind)
            state["health"] = self.health.counters()
            return kind, state

        kind = update_document(self.store, RATE_LIMIT, record)
        self._unsaved_failures = 0
        if kind is not None:
            # Announced through the outbox like any other event, after the save that records it.
            health_event = self._health_event(kind, report, blind=blind)
            decided.append(health_event)
            self._announce([health_event], now, report, held)
        self._daily_digest(report, decided, now)

    def _health_change(self, ok: bool, blind: bool) -> str | None:
        """The health event this sweep's result would cause, without recording it."""
        probe = SweepHealth()
        probe.restore(normalise_state(self.store.load(RATE_LIMIT))["health"])
        probe.consecutive_failures += self._unsaved_failures
        return probe.record(ok, at_once=blind)

    def _announce(
        self, events: list[Event], now: datetime, report: SweepReport, held=(), *, mute: bool = True
    ) -> None:
        """Mark ``events`` announced and put them in every channel's outbox, in one locked save.

        Silences apply first (unless ``mute`` is off). With no channel enabled nothing is announced,
        so nothing may be marked announced or counted against the rate limit either: enabling a
        channel later must not silence incidents that nobody was told about.
        """
        if mute:
            events = self._mute(events, now, report, held)
        if not events or not self.notifier.channels or self.dry_run:
            return

        def enqueue(state: dict) -> tuple[list[NotificationResult], dict]:
            results, warnings, state = self.notifier.enqueue(events, state, now)
            report.warnings.extend(warnings)
            return results, state

        results = update_document(self.store, RATE_LIMIT, enqueue)
        report.notifications.extend(_result_row(r) for r in results)

    def _health_event(self, kind: str, report: SweepReport, *, blind: bool) -> Event:
        report.events.append(kind)
        detail = report.error or "sweeps succeed again"
        log.warning("%s: %s", kind, detail)
        if kind == "monitor_unhealthy" and not blind:
            detail = f"{UNHEALTHY_AFTER_FAILED_SWEEPS} consecutive sweeps failed ({report.error_reason}): {detail}"
        return Event(kind=kind, detail=detail)

    def _sweep(self, now: datetime, report: SweepReport) -> _Findings:
        deadline = self._deadline = self.monotonic() + self.config.monitor.timeout
        cfg = self.config.monitor
        report.ds_version = self.client.version
        if not self._announced_connection:
            self._announced_connection = True
            log.info("DS %s; dates are read and written in zone %s", report.ds_version, self.client.timezone)
        unreadable: dict[int, tuple[Project, str]] = {}
        estate = self._fetch_estate(report, unreadable)
        report.definitions_total = sum(len(d) for d in estate.definitions.values())

        recovery_state = self.store.load(RECOVERY)
        schedule_state = self.store.load(SCHEDULE)
        busy = Journal.load(recovery_state).busy_definitions()
        plan = self.tracker.plan(
            estate.all_definitions(), estate.all_schedules(), schedule_state, now, busy_definitions=busy
        )
        if log.isEnabledFor(logging.DEBUG):
            for code, reason in plan.skipped.items():
                log.debug("definition %s not looked at: %s", code, reason)
        to_query = [p for p in estate.projects if p.code in plan.projects_to_query]
        report.projects_scanned = len(to_query)
        queried_defs = [d for p in to_query for d in estate.definitions[p.code]]
        report.definitions_checked = len(queried_defs)
        report.definitions_skipped_by_schedule = report.definitions_total - report.definitions_checked
        report.api["saved_by_schedule"] = plan.calls_saved

        window = timedelta(hours=cfg.time_window_hours)
        query_start = now - max(window, timedelta(hours=cfg.execution_window_hours))
        if self.stop_requested():
            raise SweepInterrupted
        instances_by_project = self._fetch_instances(to_query, query_start, now, unreadable)
        to_query = [p for p in to_query if p.code in instances_by_project]
        events: list[Event] = self._project_health(estate, unreadable, report)

        names = {p.code: p.name for p in estate.projects}
        def_by_code = {d.code: d for d in estate.all_definitions()}
        rules = self._rules(estate)
        self.recovery.limits = {
            code: rule.max_attempts
            for code, rule in rules.items()
            if rule.max_attempts != self.config.retry.max_recovery_attempts
        }
        failed: list[tuple[Project, Instance]] = []
        candidates_by_project: dict[int, list[Instance]] = {}
        siblings_by_def: dict[int, list[Instance]] = defaultdict(list)
        for project in to_query:
            instances = instances_by_project[project.code]
            monitored = {d.code for d in estate.definitions[project.code]}
            mine = [i for i in instances if i.definition_code in monitored]
            for inst in mine:
                siblings_by_def[inst.definition_code].append(inst)
            missed, stuck, schedule_state = self.tracker.observe(
                project.code,
                estate.definitions[project.code],
                estate.schedules[project.code],
                mine,
                query_start,
                schedule_state,
                now,
            )
            for run in missed:
                report.missed_runs.append(MissedRunRow(project.code, run.definition_code, run.fire_time))
                events.append(
                    Event(
                        kind="missed_run",
                        project_code=project.code,
                        project_name=project.name,
                        definition_code=run.definition_code,
                        definition_name=run.definition_name,
                        fire_time=run.fire_time,
                        detail=f"no instance for the {run.fire_time.isoformat()} fire",
                    )
                )
            for run in stuck:
                report.stuck_runs.append(
                    StuckRunRow(project.code, run.definition_code, run.instance_id, run.start_time)
                )
                events.append(
                    Event(
                        kind="stuck_running",
                        project_code=project.code,
                        project_name=project.name,
                        definition_code=run.definition_code,
                        definition_name=run.definition_name,
                        instance_id=run.instance_id,
                        instance_name=run.instance_name,
                        state=run.state,
                        start_time=run.start_time,
                        detail=run.reason,
                        ui_url=self.client.instance_ui_url(project.code, run.instance_id, run.definition_code),
                    )
                )

            found = triage(mine, now=now, window=window, max_failures=cfg.max_failures_for_recovery)
            report.outside_window += found.outside_window
            for inst in found.failures:
                report.failed_instances.append(
                    FailedInstanceRow(
                        project.code, inst.definition_code, inst.id, inst.name, inst.state, inst.start_time
                    )
                )
                failed.append((project, inst))
            for def_code, count in found.systemic.items():
                report.threshold_exceeded.append(ThresholdRow(project.code, def_code, count))
                events.append(
                    Event(
                        kind="threshold_exceeded",
                        project_code=project.code,
                        project_name=project.name,
                        definition_code=def_code,
                        definition_name=_name(def_by_code, def_code),
                        failures=count,
                        detail=f"{count} failures in {cfg.time_window_hours:g} h: systemic, not recovered",
                    )
                )
            candidates_by_project[project.code] = found.candidates
        self._withhold_silenced(candidates_by_project, names, def_by_code, now, report)
        # What this sweep saw, for the silences' bookkeeping (muting starts below).
        listed = {i.id: i for instances in instances_by_project.values() for i in instances}
        self._seen_states = {i.id: i.state for i in listed.values()}
        self._seen_fires = frozenset(
            (i.definition_code, i.schedule_time.astimezone(timezone.utc)) for i in listed.values() if i.schedule_time
        )
        self._workflow_names = {code: d.name for code, d in def_by_code.items()}

        memory = self._diagnose(failed, rules, recovery_state, now, deadline, report)
        for project, inst in failed:
            diagnosis = memory.get(inst)
            if diagnosis is not None:
                report.failed_tasks.extend(FailedTaskRow.of(inst.id, task) for task in diagnosis.tasks)
            events.append(self._instance_event("failure_detected", project, def_by_code, inst, diagnosis))
        # Failures go into the outbox before any recover call: once DS runs the instance again, a
        # restart after a crash here would find no failure left to announce.
        early = [event for event in events if event.kind in EARLY_KINDS]
        events = [event for event in events if event.kind not in EARLY_KINDS]
        self._announce(early, now, report)
        recovery_state = self._recover(
            candidates_by_project,
            siblings_by_def,
            recovery_state,
            now,
            deadline,
            names,
            def_by_code,
            report,
            events,
            rules=rules,
            memory=memory,
        )
        journal = self._follow_up(recovery_state, now, names, def_by_code, events, listed, memory)
        return _Findings(events, schedule_state, journal, early)

    # -- steps -------------------------------------------------------------------------------------

    def _rules(self, estate: Estate) -> dict[int, Rule]:
        """The recovery policy rule of every monitored definition, by definition code."""
        names = {p.code: p.name for p in estate.projects}
        settings = self.config.recovery
        return {
            d.code: settings.rule_for(
                names.get(d.project_code, ""),
                d.name,
                project_code=d.project_code,
                workflow_code=d.code,
                max_attempts=self.config.retry.max_recovery_attempts,
            )
            for d in estate.all_definitions()
        }

    def _diagnose(
        self,
        failed: list[tuple[Project, Instance]],
        rules: dict[int, Rule],
        recovery_state: dict,
        now: datetime,
        deadline: float,
        report: SweepReport,
    ) -> FailureMemory:
        """Read the failed tasks of each failure attempt not diagnosed yet, once (spec section 9).

        Only when the failure will be announced (a channel is enabled) or its recovery depends on
        the failure class (``recover: transient``); the result is kept in the recovery state.
        """
        memory = FailureMemory.load(recovery_state)
        wanted = [
            inst
            for _, inst in failed
            if memory.get(inst) is None
            and (
                bool(self.notifier.channels)
                or (inst.state == FAILURE and rules.get(inst.definition_code, Rule()).recover == TRANSIENT_ONLY)
            )
        ]
        task_log = self.config.notification.task_log
        reader = TaskReader(
            self.client,
            limits=ExcerptLimits(task_log.enabled, task_log.max_lines, task_log.max_bytes),
            patterns=self.config.recovery.classify + SHIPPED_PATTERNS,
            secrets=self._secrets,
        )
        for diagnosis in reader.read_all(
            wanted, executor=self._pool, keep_going=lambda: not self.stop_requested() and self.monotonic() <= deadline
        ):
            memory.put(diagnosis, now)
        report.api["task_calls"] = reader.calls
        recovery_state[MEMORY_KEY] = memory.dump(now, timedelta(hours=self.config.monitor.time_window_hours))
        return memory

    def _fetch_estate(self, report: SweepReport, unreadable: dict[int, tuple[Project, str]]) -> Estate:
        matched, warnings = select_projects(self.client.list_projects(), self.config.projects)

        def fetch(pair: tuple[Project, ProjectSelection]):
            project, selection = pair
            definitions, misses = select_definitions(project, self.client.list_definitions(project.code), selection)
            schedules = self.client.list_schedules(project.code) if definitions else []
            return definitions, schedules, misses

        estate = Estate([], {}, {})
        for project, (definitions, schedules, misses) in self._each_project(fetch, matched, unreadable):
            warnings.extend(misses)
            estate.projects.append(project)
            estate.definitions[project.code] = definitions
            codes = {d.code for d in definitions}
            estate.schedules[project.code] = [s for s in schedules if s.definition_code in codes]
        for warning in warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                log.warning("%s", warning)
                report.warnings.append(warning)
        # An unreadable project may hold the selected workflows: only a fully read selection is judged.
        blind = None if unreadable else watching_nothing(matched, len(estate.all_definitions()), warnings)
        if blind:
            # The next sweep must ask DS again, not a cached listing, to see the project appear.
            self.client.invalidate_cache()
            raise WatchingNothing(blind)
        return estate

    def _fetch_instances(
        self, projects: list[Project], start: datetime, end: datetime, unreadable: dict[int, tuple[Project, str]]
    ) -> dict[int, list[Instance]]:
        def fetch(project: Project):
            return self.client.list_instances(project.code, start_from=start, start_to=end)

        return {project.code: instances for project, instances in self._each_project(fetch, projects, unreadable)}

    def _each_project(self, func, items: list, unreadable: dict[int, tuple[Project, str]]) -> list[tuple]:
        """``(project, func(item))`` for each item (a project, or a pair starting with one), in parallel.

        Each project is a unit of work (spec section 3): a project whose call fails, after the
        client's retries, is recorded in ``unreadable`` with the reason and left out, so the others
        are still swept. A rejected token is not one project's problem: it fails the whole sweep.
        """

        def guarded(item):
            project = item[0] if isinstance(item, tuple) else item
            try:
                return project, func(item), None
            except DSAuthError:
                raise
            except DSError as err:
                return project, None, str(err)
            except Exception as err:  # noqa: BLE001 - a bug met in one project's data stays in that project
                log.exception("internal error while reading project %s", project.name)
                return project, None, f"{INTERNAL_ERROR} ({type(err).__name__}): {err}"

        results = []
        for project, value, reason in self._parallel(guarded, items):
            if reason is None:
                results.append((project, value))
            else:
                log.error("project %s (%s) cannot be read: %s", project.name, project.code, reason)
                unreadable[project.code] = (project, reason)
        return results

    def _parallel(self, func, items: list) -> list:
        if len(items) <= 1:
            return [func(item) for item in items]
        return list(self._pool.map(func, items))

    def close(self) -> None:
        """Release the DS connection pool and the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        if self.heartbeat is not None:
            self.heartbeat.close()

    def _project_health(
        self, estate: Estate, unreadable: dict[int, tuple[Project, str]], report: SweepReport
    ) -> list[Event]:
        """Report unreadable projects; ``project_unreadable`` when one turns unreadable, ``project_readable``
        when it is read again. When no selected project could be read at all, the sweep has failed."""
        for code, (project, reason) in unreadable.items():
            report.unreadable_projects.append(UnreadableProjectRow(code, project.name, reason))
        readable = {p.code for p in estate.projects if p.code not in unreadable}
        new, back = self.health.projects_read({code: reason for code, (_, reason) in unreadable.items()}, readable)
        names = {p.code: p.name for p in estate.projects} | {code: p.name for code, (p, _) in unreadable.items()}
        events = [
            Event(kind="project_unreadable", project_code=code, project_name=names[code], detail=unreadable[code][1])
            for code in new
        ]
        events += [
            Event(kind="project_readable", project_code=code, project_name=names.get(code, ""), detail="read again")
            for code in back
        ]
        if unreadable and not readable:
            first = next(iter(unreadable.values()))[1]
            report.error = f"no selected project could be read ({len(unreadable)} unreadable; first: {first})"
            report.error_reason = "no project readable"
        return events

    def _recover(
        self,
        candidates_by_project,
        siblings_by_def,
        state,
        now,
        deadline,
        names,
        def_by_code,
        report: SweepReport,
        events: list[Event],
        *,
        rules: dict[int, Rule],
        memory: FailureMemory,
    ) -> Journal:
        """The recovery step (all its policy lives in ds_monitor.recovery); its rows, events and warnings."""
        step = self.recovery.recover_candidates(
            candidates_by_project, Journal.load(state), now=now, siblings=siblings_by_def, definitions=def_by_code,
            rules=rules, diagnosis_of=memory.get, executor=self._pool, timeout=self.config.monitor.timeout,
            keep_going=lambda: not self.stop_requested() and self.monotonic() <= deadline,
        )
        if self.stop_requested():
            self.store.save(RECOVERY, step.journal.dump())
            raise SweepInterrupted
        for held in step.withheld:
            project = Project(held.project_code, names.get(held.project_code, ""))
            event = self._instance_event("recovery_withheld", project, def_by_code, held.instance, held.diagnosis)
            events.append(replace(event, attempt=held.attempts_used + 1, max_attempts=held.max_attempts,
                                  detail=held.detail))
        for o in step.outcomes:
            report.recoveries.append(RecoveryRow(o.instance_id, o.attempt, o.result, o.detail))
        for warning in step.warnings:
            log.warning("%s", warning)
            report.warnings.append(warning)
        return step.journal

    def _follow_up(
        self,
        journal: Journal,
        now: datetime,
        names,
        def_by_code,
        events: list[Event],
        listed: dict[int, Instance],
        memory: FailureMemory,
    ) -> dict:
        def get_instance(project_code: int, instance_id: int) -> Instance:
            # This sweep's listing is fresh enough to see how a recovery ended; older ones are re-read.
            return listed.get(instance_id) or self.client.get_instance(project_code, instance_id)

        follow_ups, journal = self.recovery.follow_up(get_instance, journal, now)
        for item in follow_ups:
            event = self._follow_up_event(item, names, def_by_code)
            diagnosis = memory.latest(item.instance_id) if item.kind != "recovery_succeeded" else None
            events.append(_with_diagnosis(event, diagnosis))
        return journal.dump()

    def _follow_up_event(self, item: FollowUp, names, def_by_code) -> Event:
        return Event(
            kind=item.kind,
            project_code=item.project_code,
            project_name=names.get(item.project_code, ""),
            definition_code=item.definition_code,
            definition_name=_name(def_by_code, item.definition_code),
            instance_id=item.instance_id,
            state=item.state,
            attempt=item.attempt,
            max_attempts=item.max_attempts,
            detail=item.detail,
            ui_url=self.client.instance_ui_url(item.project_code, item.instance_id, item.definition_code),
        )

    def _instance_event(
        self, kind: str, project: Project, def_by_code, inst: Instance, diagnosis: Diagnosis | None = None
    ) -> Event:
        return _with_diagnosis(self._bare_instance_event(kind, project, def_by_code, inst), diagnosis)

    def _bare_instance_event(self, kind: str, project: Project, def_by_code, inst: Instance) -> Event:
        return Event(
            kind=kind,
            project_code=project.code,
            project_name=project.name,
            definition_code=inst.definition_code,
            definition_name=_name(def_by_code, inst.definition_code),
            instance_id=inst.id,
            instance_name=inst.name,
            state=inst.state,
            start_time=inst.start_time,
            end_time=inst.end_time,
            ui_url=self.client.instance_ui_url(project.code, inst.id, inst.definition_code),
        )

    def _withhold_silenced(self, candidates_by_project, names, def_by_code, now, report: SweepReport) -> None:
        """Drop the recovery candidates an active ``--no-recover`` silence covers (report: ``silenced``)."""
        state = silences.merge(self.store.load(SILENCES), maintenance.active_silences(self.config.maintenance, now))
        active = [s for s in silences.load(state) if s.no_recover and s.active(now)]
        if not active:
            return
        for project_code, candidates in candidates_by_project.items():
            kept = []
            for inst in candidates:
                silence = silences.withholding(
                    active, names.get(project_code, ""), _name(def_by_code, inst.definition_code), now
                )
                if silence is None:
                    kept.append(inst)
                    continue
                report.recoveries.append(
                    RecoveryRow(
                        inst.id,
                        0,
                        "silenced",
                        f"silence {silence.id} withholds recoveries until {silence.end.isoformat()}: {silence.reason}",
                    )
                )
            candidates_by_project[project_code] = kept

    def _daily_digest(self, report: SweepReport, decided: list[Event], now: datetime) -> None:
        """Tally the sweep for the daily digest and, once a day at ``notification.digest.at``, send it.

        The day is claimed in the state before the send, so a crash or a restart never sends two; the
        digest goes as its own message, past the silences and the rate limit.
        """
        settings = self.config.notification.digest
        if not settings.enabled or self.dry_run:
            return
        try:
            with self.store.locked():
                state = digest.record(self.store.load(DIGEST), report, decided, now)
                day = digest.due(state, settings, now) if self.notifier.channels else None
                if day is not None:
                    state = digest.claim(state, day)
                self.store.save(DIGEST, state)
        except MonitorError as err:
            report.warnings.append(f"daily digest not updated: {err}")
            log.error("daily digest not updated: %s", err)
            return
        if day is not None:
            log.info("sending the daily digest for %s", day)
            # Past the silences; the rate limit never holds a digest back.
            self._announce([digest.build(state, day, now)], now, report, mute=False)

    def _inhibition(self, ok: bool, health_event: str | None, now: datetime) -> list[silences.Silence]:
        """When DS is back after ``monitor_unhealthy``, the silence that holds what the outage may explain."""
        if not ok:
            if self._failing_since is None:
                self._failing_since = now
            return []
        start, self._failing_since = self._failing_since, None
        if health_event != "monitor_recovered" or start is None:
            return []
        cfg = self.config.monitor
        hold = max(timedelta(minutes=cfg.missed_run_grace_minutes), timedelta(seconds=2 * cfg.check_interval))
        return [silences.inhibition(start, now, hold)]

    def _mute(
        self, events: list[Event], now: datetime, report: SweepReport, held: list[silences.Silence] = ()
    ) -> list[Event]:
        """Hide what active silences cover and release the incidents of silences that ended.

        Read every sweep, so a silence added by ``silence add`` beside a running daemon counts from
        the next sweep on; an active maintenance window is written in as one more silence.
        Fail-loud: if the silences cannot be read, every event goes out.
        """
        try:
            with self.store.locked():
                state = self.store.load(SILENCES)
                muting = silences.apply(
                    events,
                    silences.merge(state, maintenance.active_silences(self.config.maintenance, now) + list(held)),
                    now,
                    workflow_names=self._workflow_names,
                    instance_states=self._seen_states,
                    seen_fires=self._seen_fires,
                )
                if muting.state.get("silences") != state.get("silences", []):
                    self.store.save(SILENCES, muting.state)
        except MonitorError as err:
            report.warnings.append(f"silences not applied: {err}")
            log.error("silences not applied: %s", err)
            return events
        report.silenced.extend(SilencedRow(**row) for row in muting.silenced)
        for silence_id in muting.released:
            log.info("silence %s ended; the incidents it hid that are still open are announced now", silence_id)
        return muting.send

    def _api_figures(self, report: SweepReport) -> dict:
        figures = self.api_metrics.snapshot()
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


def _with_diagnosis(event: Event, diagnosis: Diagnosis | None) -> Event:
    """``event`` naming the failed tasks, their log excerpts and the failure class."""
    if diagnosis is None:
        return event
    return replace(
        event,
        failure_class=diagnosis.klass,
        failure_line=diagnosis.line or diagnosis.reason,
        failed_tasks=tuple(task.message_fields() for task in diagnosis.tasks),
    )


class _StateDocument:
    """One state file as the notifier's :class:`~ds_monitor.notify.manager.StateDocument`."""

    def __init__(self, store: Store, name: str):
        self._store = store
        self._name = name

    def update(self, change):
        return update_document(self._store, self._name, change)


def _result_row(result: NotificationResult) -> NotificationRow:
    return NotificationRow(result.channel, result.event, result.result)


def _name(def_by_code: dict[int, Definition], code: int) -> str:
    definition = def_by_code.get(code)
    return definition.name if definition else str(code)

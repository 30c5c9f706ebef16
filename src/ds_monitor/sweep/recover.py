"""The recovery step of a sweep: which candidates a silence withholds, then the recovery domain's
one call (:meth:`ds_monitor.recovery.action.RecoveryHandler.recover_candidates`), reported."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime

from ds_monitor import silences
from ds_monitor.config import Config
from ds_monitor.ds.models import Definition, Instance, Project
from ds_monitor.errors import SweepInterrupted
from ds_monitor.notify import Event
from ds_monitor.recovery.action import RecoveryHandler
from ds_monitor.recovery.journal import Journal
from ds_monitor.recovery.policy import Rule
from ds_monitor.sweep.events import EventMaker
from ds_monitor.sweep.report import RecoveryRow, SweepReport
from ds_monitor.sweep.select import Estate
from ds_monitor.tasks import FailureMemory

log = logging.getLogger("ds_monitor.monitor")


def rules_of(config: Config, estate: Estate) -> dict[int, Rule]:
    """The recovery policy rule of every monitored definition, by definition code."""
    names = {p.code: p.name for p in estate.projects}
    return {
        d.code: config.recovery.rule_for(
            names.get(d.project_code, ""),
            d.name,
            project_code=d.project_code,
            workflow_code=d.code,
            max_attempts=config.retry.max_recovery_attempts,
        )
        for d in estate.all_definitions()
    }


def withhold_silenced(
    active: list[silences.Silence],
    candidates: dict[int, list[Instance]],
    project_names: Mapping[int, str],
    make: EventMaker,
    now: datetime,
    report: SweepReport,
) -> None:
    """Drop the recovery candidates an active ``--no-recover`` silence covers (reported as ``silenced``)."""
    withholding = [s for s in active if s.no_recover and s.active(now)]
    if not withholding:
        return
    for project_code, instances in candidates.items():
        kept = []
        for inst in instances:
            silence = silences.withholding(
                withholding, project_names.get(project_code, ""), make.workflow_name(inst.definition_code), now
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
        candidates[project_code] = kept


def recover(
    handler: RecoveryHandler,
    candidates: dict[int, list[Instance]],
    journal: Journal,
    *,
    siblings: Mapping[int, Sequence[Instance]],
    definitions: Mapping[int, Definition],
    rules: dict[int, Rule],
    memory: FailureMemory,
    pool: Executor,
    timeout: float,
    keep_going: Callable[[], bool],
    stop_requested: Callable[[], bool],
    save: Callable[[dict], None],
    make: EventMaker,
    project_names: Mapping[int, str],
    now: datetime,
    report: SweepReport,
) -> tuple[Journal, list[Event]]:
    """Recover what the policy lets through; the new journal and the ``recovery_withheld`` events.

    On a shutdown request the journal is saved (it records the calls made) and the sweep stops here.
    """
    step = handler.recover_candidates(
        candidates,
        journal,
        now=now,
        siblings=siblings,
        definitions=definitions,
        rules=rules,
        diagnosis_of=memory.get,
        executor=pool,
        timeout=timeout,
        keep_going=keep_going,
    )
    if stop_requested():
        save(step.journal.dump())
        raise SweepInterrupted
    events = []
    for held in step.withheld:
        project = Project(held.project_code, project_names.get(held.project_code, ""))
        event = make.instance("recovery_withheld", project, held.instance, held.diagnosis)
        hold = held.hold
        events.append(
            replace(
                event,
                attempt=held.attempts_used + 1,
                max_attempts=held.max_attempts,
                reason=hold.mode,
                policy=hold.pattern,
                evidence=hold.evidence,
            )
        )
    report.recoveries.extend(RecoveryRow(o.instance_id, o.attempt, o.result, o.detail) for o in step.outcomes)
    for warning in step.warnings:
        log.warning("%s", warning)
        report.warnings.append(warning)
    return step.journal, events

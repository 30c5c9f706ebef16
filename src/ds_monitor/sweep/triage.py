"""Which failures count, which are systemic, which may be recovered; the triage step.

Spec section 3, steps 3-5: a failure counts when its instance started within the window; a
definition with more counted failures than ``max_failures`` is systemic (notify, never recover);
the FAILURE instances of the other definitions are recovery candidates. STOP, KILL and
NEED_FAULT_TOLERANCE are reported but never recovered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ds_monitor.ds.models import FAILURE, REPORTED_FAILURE_STATES, Instance, Project
from ds_monitor.notify import Event
from ds_monitor.schedule import ScheduleTracker
from ds_monitor.sweep.events import EventMaker
from ds_monitor.sweep.report import FailedInstanceRow, MissedRunRow, StuckRunRow, SweepReport, ThresholdRow
from ds_monitor.sweep.select import Estate


@dataclass(frozen=True)
class Triage:
    failures: list[Instance]  # reported failures inside the window, oldest first
    outside_window: int  # reported failures that started before the window
    systemic: dict[int, int]  # definition code -> failures in the window, for those over the threshold
    candidates: list[Instance]  # FAILURE instances of non-systemic definitions, oldest first


def triage(instances: Iterable[Instance], *, now: datetime, window: timedelta, max_failures: int) -> Triage:
    """Split one project's instances into counted failures, systemic definitions and candidates (pure)."""
    reported = [i for i in instances if i.state in REPORTED_FAILURE_STATES]
    # An instance without a start time cannot be placed outside the window: count it (fail-open).
    inside = sorted(
        (i for i in reported if i.start_time is None or i.start_time >= now - window),
        key=lambda i: (i.start_time or now, i.id),
    )
    by_definition: dict[int, list[Instance]] = defaultdict(list)
    for instance in inside:
        by_definition[instance.definition_code].append(instance)
    systemic = {code: len(found) for code, found in by_definition.items() if len(found) > max_failures}
    candidates = [i for i in inside if i.state == FAILURE and i.definition_code not in systemic]
    return Triage(inside, len(reported) - len(inside), systemic, candidates)


@dataclass
class Findings:
    """What the triage step found across the queried projects."""

    schedule_state: dict  # the schedule memory with this sweep's observations
    failed: list[tuple[Project, Instance]] = field(default_factory=list)
    candidates: dict[int, list[Instance]] = field(default_factory=dict)  # recovery candidates by project code
    siblings: dict[int, list[Instance]] = field(default_factory=lambda: defaultdict(list))  # by definition code
    events: list[Event] = field(default_factory=list)


def triage_projects(
    tracker: ScheduleTracker,
    estate: Estate,
    listing: dict[int, list[Instance]],
    schedule_state: dict,
    *,
    query_start: datetime,
    now: datetime,
    window_hours: float,
    max_failures: int,
    make: EventMaker,
    report: SweepReport,
) -> Findings:
    """Per queried project: missed and stuck runs (schedule tracker), failures in the window,
    systemic definitions and recovery candidates; each reported and, but for plain failures (the
    diagnose step names their tasks first), raised as an event."""
    window = timedelta(hours=window_hours)
    found = Findings(schedule_state)
    for project in estate.projects:
        if project.code not in listing:
            continue
        monitored = {d.code for d in estate.definitions[project.code]}
        mine = [i for i in listing[project.code] if i.definition_code in monitored]
        for inst in mine:
            found.siblings[inst.definition_code].append(inst)
        missed, stuck, found.schedule_state = tracker.observe(
            project.code,
            estate.definitions[project.code],
            estate.schedules[project.code],
            mine,
            query_start,
            found.schedule_state,
            now,
        )
        for run in missed:
            report.missed_runs.append(MissedRunRow(project.code, run.definition_code, run.fire_time))
            found.events.append(make.missed_run(project, run))
        for run in stuck:
            report.stuck_runs.append(StuckRunRow(project.code, run.definition_code, run.instance_id, run.start_time))
            found.events.append(make.stuck_run(project, run))

        split = triage(mine, now=now, window=window, max_failures=max_failures)
        report.outside_window += split.outside_window
        for inst in split.failures:
            report.failed_instances.append(
                FailedInstanceRow(project.code, inst.definition_code, inst.id, inst.name, inst.state, inst.start_time)
            )
            found.failed.append((project, inst))
        for definition_code, count in split.systemic.items():
            report.threshold_exceeded.append(ThresholdRow(project.code, definition_code, count))
            found.events.append(make.threshold(project, definition_code, count, window))
        found.candidates[project.code] = split.candidates
    return found

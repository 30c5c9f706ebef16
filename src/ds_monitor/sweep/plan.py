"""Which projects are worth an instance query this sweep (spec section 4); the plan step."""

from __future__ import annotations

import logging
from datetime import datetime

from ds_monitor.ds.models import Project
from ds_monitor.schedule import ScheduleTracker
from ds_monitor.sweep.report import SweepReport
from ds_monitor.sweep.select import Estate

log = logging.getLogger("ds_monitor.monitor")


def plan(
    tracker: ScheduleTracker,
    estate: Estate,
    schedule_state: dict,
    busy_definitions: frozenset[int],
    now: datetime,
    report: SweepReport,
) -> list[Project]:
    """The projects to query: those with a definition the schedule tracker wants looked at (a recovery
    under way counts as such), counted in the report with the calls the others save."""
    decision = tracker.plan(
        estate.all_definitions(), estate.all_schedules(), schedule_state, now, busy_definitions=busy_definitions
    )
    if log.isEnabledFor(logging.DEBUG):
        for code, reason in decision.skipped.items():
            log.debug("definition %s not looked at: %s", code, reason)
    to_query = [p for p in estate.projects if p.code in decision.projects_to_query]
    report.projects_scanned = len(to_query)
    report.definitions_checked = sum(len(estate.definitions[p.code]) for p in to_query)
    report.definitions_skipped_by_schedule = report.definitions_total - report.definitions_checked
    report.api["saved_by_schedule"] = decision.calls_saved
    return to_query

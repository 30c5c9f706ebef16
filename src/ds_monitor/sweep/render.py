"""The sweep report for people: the one place its wording lives.

Three views of one :class:`~ds_monitor.sweep.report.SweepReport`: :func:`table` (``check``),
:func:`brief` (the demo's narration) and :func:`summary` (the ``run`` log line after each sweep).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from ds_monitor.sweep.report import FailedTaskRow, SweepReport


def table(report: SweepReport) -> str:
    """Everything the sweep saw and did, a line each (``check`` without ``--json``)."""
    lines = [
        f"sweep {report.started_at.isoformat()}  DS {report.ds_version or '?'}",
        f"  projects queried: {report.projects_scanned}   definitions: {report.definitions_total} "
        f"(checked {report.definitions_checked}, skipped by schedule {report.definitions_skipped_by_schedule})",
        f"  failed instances in window: {len(report.failed_instances)}   outside window: {report.outside_window}",
    ]
    tasks_of: dict[int, list[FailedTaskRow]] = {}
    for task in report.failed_tasks:
        tasks_of.setdefault(task.instance_id, []).append(task)
    for row in report.failed_instances:
        lines.append(f"    - #{row.instance_id} {row.name} {row.state} started {_iso(row.start_time)}")
        for task in tasks_of.get(row.instance_id, ()):
            lines.append(f"      failed task {task.name} ({task.type}) on {task.host or '?'}: {task.klass}")
    for row in report.threshold_exceeded:
        lines.append(
            f"  systemic (over threshold, not recovered): definition {row.definition_code} "
            f"with {row.failures} failures"
        )
    for row in report.recoveries:
        lines.append(f"  recovery #{row.instance_id} attempt {row.attempt}: {row.result} {row.detail}".rstrip())
    for row in report.missed_runs:
        lines.append(f"  missed run: definition {row.definition_code} fire {_iso(row.fire_time)}")
    for row in report.stuck_runs:
        lines.append(f"  stuck run: instance #{row.instance_id} started {_iso(row.start_time)}")
    for row in report.unreadable_projects:
        lines.append(f"  project {row.name} ({row.project_code}) cannot be read: {row.reason}")
    for row in report.silenced:
        lines.append(f"  silenced by {row.silence_id}: {row.event} {row.incident_key}")
    for row in report.notifications:
        lines.append(f"  notification {row.channel} {row.event}: {row.result}")
    api = report.api
    lines.append(
        f"  DS calls: {api.get('calls', 0)} (errors {api.get('errors', 0)}, cache hits "
        f"{api.get('cache_hits', 0)}, saved by schedule {api.get('saved_by_schedule', 0)}, "
        f"task lists and logs {api.get('task_calls', 0)}, "
        f"p50 {api.get('latency_ms_p50', 0)} ms, p95 {api.get('latency_ms_p95', 0)} ms)"
    )
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    if report.error:
        lines.append(f"  sweep failed: {report.error}")
    return "\n".join(lines)


def brief(report: SweepReport) -> str:
    """What the sweep found and did, for the demo's narration (no sweep metadata beyond one line)."""
    if report.error:
        return f"  sweep failed: {report.error}\n"
    lines = [
        f"  DS {report.ds_version}: queried {report.projects_scanned} projects, "
        f"{report.definitions_checked}/{report.definitions_total} workflows looked at "
        f"({report.definitions_skipped_by_schedule} skipped by schedule), {report.api['calls']} DS calls"
    ]
    lines += [f"  found    #{row.instance_id} {row.name} {row.state}" for row in report.failed_instances]
    lines += [
        f"  task     #{row.instance_id} {row.name} ({row.type}) failed: {row.klass}" for row in report.failed_tasks
    ]
    lines += [
        f"  systemic definition {row.definition_code}: {row.failures} failures in the window, notify only"
        for row in report.threshold_exceeded
    ]
    lines += [
        f"  recovery #{row.instance_id}: {row.result}{f' (attempt {row.attempt})' if row.attempt else ''} {row.detail}"
        for row in report.recoveries
    ]
    lines += [
        f"  missed   definition {row.definition_code}: no run for {_iso(row.fire_time)}" for row in report.missed_runs
    ]
    lines += [f"  stuck    #{row.instance_id} running since {_iso(row.start_time)}" for row in report.stuck_runs]
    lines += [
        f"  silenced {row.event} of {row.incident_key} (silence {row.silence_id})" for row in report.silenced
    ]
    sent = Counter(row.result for row in report.notifications)
    if sent:
        lines.append("  notified: " + ", ".join(f"{n} {result}" for result, n in sorted(sent.items())))
    return "".join(line + "\n" for line in lines)


def summary(report: SweepReport) -> str:
    """The one log line of a sweep that completed (``run``)."""
    return (
        f"sweep done: {report.projects_scanned} projects queried, {len(report.failed_instances)} failed in window, "
        f"{len(report.threshold_exceeded)} over threshold, {report.triggered()} recoveries triggered, "
        f"{len(report.missed_runs)} missed, {len(report.stuck_runs)} stuck, "
        f"{len(report.unreadable_projects)} projects unreadable, {report.api.get('calls', 0)} DS calls "
        f"({report.api.get('saved_by_schedule', 0)} saved by schedule)"
    )


def _iso(value: datetime | None) -> str | None:
    # As the report JSON shows it (``None`` for an instance DS has not started).
    return value.isoformat() if value else None

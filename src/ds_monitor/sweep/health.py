"""The monitor's own health across sweeps: failed sweeps, unreadable projects, and their events (spec section 7).

``monitor_unhealthy`` is raised once after three failed sweeps in a row (at once when the
configuration watches nothing), ``monitor_recovered`` once when a sweep succeeds again;
``project_unreadable`` once when a project cannot be read, ``project_readable`` when it can again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ds_monitor.ds.models import Project
from ds_monitor.errors import INTERNAL_ERROR, DSAuthError, DSError, DSUnreachable, MonitorError, WatchingNothing
from ds_monitor.notify import Event
from ds_monitor.sweep.report import SweepReport, UnreadableProjectRow

log = logging.getLogger("ds_monitor.monitor")

UNHEALTHY_AFTER_FAILED_SWEEPS = 3


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


def fail(report: SweepReport, err: MonitorError) -> None:
    """Mark the sweep failed by ``err`` (the first failure names the sweep's error)."""
    if report.error is None:
        report.error = str(err)
        report.error_reason = describe_failure(err)
    log.error("sweep failed: %s", err)


def health_event(kind: str, report: SweepReport, *, blind: bool) -> Event:
    """The ``monitor_unhealthy`` / ``monitor_recovered`` event of this sweep; a blind monitor (watching
    nothing) is announced at once, not after failed sweeps in a row."""
    report.events.append(kind)
    log.warning("%s: %s", kind, report.error or "sweeps succeed again")
    if kind != "monitor_unhealthy":
        return Event(kind=kind)
    return Event(
        kind=kind,
        failed_sweeps=None if blind else UNHEALTHY_AFTER_FAILED_SWEEPS,
        error_reason=report.error_reason or "",
        error=report.error or "",
    )


def project_events(
    health: SweepHealth, projects: list[Project], unreadable: dict[int, tuple[Project, str]], report: SweepReport
) -> list[Event]:
    """Report unreadable projects; ``project_unreadable`` when one turns unreadable, ``project_readable``
    when it is read again. When no selected project could be read at all, the sweep has failed."""
    for code, (project, reason) in unreadable.items():
        report.unreadable_projects.append(UnreadableProjectRow(code, project.name, reason))
    readable = {p.code for p in projects if p.code not in unreadable}
    new, back = health.projects_read({code: reason for code, (_, reason) in unreadable.items()}, readable)
    names = {p.code: p.name for p in projects} | {code: p.name for code, (p, _) in unreadable.items()}
    events = [
        Event(kind="project_unreadable", project_code=code, project_name=names[code], error=unreadable[code][1])
        for code in new
    ]
    events += [
        Event(kind="project_readable", project_code=code, project_name=names.get(code, ""))
        for code in back
    ]
    if unreadable and not readable:
        first = next(iter(unreadable.values()))[1]
        report.error = f"no selected project could be read ({len(unreadable)} unreadable; first: {first})"
        report.error_reason = "no project readable"
    return events

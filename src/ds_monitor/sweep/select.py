"""Which projects and workflows are watched: the configured selection matched to what DS shows; the select step.

Also used by ``config check`` and ``explain``, which show the same matching the sweep does.
"""

from __future__ import annotations

import difflib
import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from ds_monitor.config import ProjectSelection
from ds_monitor.ds.models import Definition, Project, Schedule
from ds_monitor.ds.protocol import DSApi
from ds_monitor.errors import WatchingNothing
from ds_monitor.sweep.fetch import Unreadable, each_project
from ds_monitor.sweep.report import SweepReport

log = logging.getLogger("ds_monitor.monitor")


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


def _closest(name: str, candidates: dict) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f" (closest: {', '.join(close)})" if close else ""


def select(
    client: DSApi,
    pool: Executor,
    wanted: tuple[ProjectSelection, ...],
    report: SweepReport,
    unreadable: Unreadable,
    warned: set[str],
) -> Estate:
    """The watched estate: projects, their selected definitions and those definitions' schedules.

    A selection warning (a configured name DS does not have) is logged and reported once per run
    (``warned`` remembers them). Raises :class:`WatchingNothing` when the selection, fully read,
    matches nothing.
    """
    matched, warnings = select_projects(client.list_projects(), wanted)

    def fetch(pair: tuple[Project, ProjectSelection]):
        project, selection = pair
        definitions, misses = select_definitions(project, client.list_definitions(project.code), selection)
        schedules = client.list_schedules(project.code) if definitions else []
        return definitions, schedules, misses

    estate = Estate([], {}, {})
    for project, (definitions, schedules, misses) in each_project(pool, fetch, matched, unreadable):
        warnings.extend(misses)
        estate.projects.append(project)
        estate.definitions[project.code] = definitions
        codes = {d.code for d in definitions}
        estate.schedules[project.code] = [s for s in schedules if s.definition_code in codes]
    for warning in warnings:
        if warning not in warned:
            warned.add(warning)
            log.warning("%s", warning)
            report.warnings.append(warning)
    report.definitions_total = sum(len(d) for d in estate.definitions.values())
    # An unreadable project may hold the selected workflows: only a fully read selection is judged.
    blind = None if unreadable else watching_nothing(matched, report.definitions_total, warnings)
    if blind:
        # The next sweep must ask DS again, not a cached listing, to see the project appear.
        client.invalidate_cache()
        raise WatchingNothing(blind)
    return estate

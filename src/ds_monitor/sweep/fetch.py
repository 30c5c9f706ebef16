"""Reading DS project by project, each project a unit of work (spec section 3); the fetch step.

A project whose call fails, after the client's retries, is recorded as unreadable with the reason
and left out, so the others are still swept. A rejected token is not one project's problem: it
fails the whole sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import TypeVar

from ds_monitor.ds.models import Instance, Project
from ds_monitor.ds.protocol import DSApi
from ds_monitor.errors import DSAuthError, DSError, describe_bug

log = logging.getLogger("ds_monitor.monitor")

# What could not be read this sweep: project code -> (project, reason).
Unreadable = dict[int, tuple[Project, str]]
Item = TypeVar("Item")
Value = TypeVar("Value")


def each_project(
    pool: Executor, func: Callable[[Item], Value], items: list[Item], unreadable: Unreadable
) -> list[tuple[Project, Value]]:
    """``(project, func(item))`` for each item (a project, or a pair starting with one), in parallel;
    the projects that fail go into ``unreadable``."""

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
            return project, None, describe_bug(err)

    # One project needs no thread hand-off.
    outcomes = [guarded(item) for item in items] if len(items) <= 1 else list(pool.map(guarded, items))
    results = []
    for project, value, reason in outcomes:
        if reason is None:
            results.append((project, value))
        else:
            log.error("project %s (%s) cannot be read: %s", project.name, project.code, reason)
            unreadable[project.code] = (project, reason)
    return results


def fetch_instances(
    client: DSApi,
    pool: Executor,
    projects: list[Project],
    start: datetime,
    end: datetime,
    unreadable: Unreadable,
) -> dict[int, list[Instance]]:
    """Every instance of each project started in ``[start, end]`` (all states, all pages), by project code."""

    def fetch(project: Project) -> list[Instance]:
        return client.list_instances(project.code, start_from=start, start_to=end)

    return {project.code: instances for project, instances in each_project(pool, fetch, projects, unreadable)}

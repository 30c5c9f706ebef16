"""Recurring maintenance windows (spec section 10): Quartz cron in a zone, for a duration.

A pure module. A window's occurrence is the span [F, F + duration) after each fire time F of its
cron expression in its zone (our own Quartz module, :mod:`ds_monitor.cron`, the one that judges DS
schedules). While an occurrence lasts, the window acts as a silence over its project globs: the
monitor writes that occurrence into ``silences.json`` as a silence with the id
``maintenance:<name>@<start>``, so it is recorded, listed, reported and released exactly like one
made by ``silence add`` (and ``silence expire`` can end it early). ``recover: false`` withholds
recoveries, like ``--no-recover``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ds_monitor import cron
from ds_monitor.config import MaintenanceWindow
from ds_monitor.silences import Silence
from ds_monitor.zones import parse_zone

ID_PREFIX = "maintenance:"


@dataclass(frozen=True)
class Occurrence:
    window: MaintenanceWindow
    start: datetime
    end: datetime

    @property
    def silence_id(self) -> str:
        return f"{ID_PREFIX}{self.window.name}@{self.start.isoformat()}"

    def to_dict(self) -> dict:
        return {
            "name": self.window.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "projects": list(self.window.projects),
            "recover": self.window.recover,
        }


def current(window: MaintenanceWindow, now: datetime) -> Occurrence | None:
    """The occurrence of ``window`` that contains ``now``, if any."""
    expression = cron.parse(window.cron)
    duration = timedelta(minutes=window.duration_minutes)
    # the config keeps the zone as written (config show prints it) and has already checked it parses
    fire = expression.previous_fire(now, parse_zone(window.timezone))
    if fire is None or now >= fire + duration:
        return None
    return Occurrence(window, fire, fire + duration)


def upcoming(window: MaintenanceWindow, now: datetime) -> Occurrence | None:
    """The next occurrence that starts after ``now``."""
    fire = cron.parse(window.cron).next_fire(now, parse_zone(window.timezone))
    if fire is None:
        return None
    return Occurrence(window, fire, fire + timedelta(minutes=window.duration_minutes))


def active_silences(windows: tuple[MaintenanceWindow, ...], now: datetime) -> list[Silence]:
    """The silences the windows open at ``now``, to be merged into ``silences.json`` once each."""
    found = []
    for window in windows:
        occurrence = current(window, now)
        if occurrence is None:
            continue
        found.append(
            Silence(
                id=occurrence.silence_id,
                reason=f"maintenance window {window.name}",
                starts_at=occurrence.start,
                ends_at=occurrence.end,
                created_at=now,
                projects=window.projects,
                no_recover=not window.recover,
            )
        )
    return found


def overview(windows: tuple[MaintenanceWindow, ...], now: datetime, project: str | None = None) -> list[dict]:
    """For ``status`` and ``explain``: each window (covering ``project`` if given), active and next."""
    from fnmatch import fnmatchcase

    rows = []
    for window in windows:
        if project is not None and not any(fnmatchcase(project, glob) for glob in window.projects):
            continue
        active = current(window, now)
        following = upcoming(window, now)
        rows.append(
            {
                "name": window.name,
                "projects": ", ".join(window.projects),
                "recover": window.recover,
                "active_until": active.end.isoformat() if active else None,
                "next_start": following.start.isoformat() if following else None,
            }
        )
    return rows

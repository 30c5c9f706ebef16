"""Routes: which channel hears about which event (``notification.routes``). Pure: no I/O, no clock.

The table is read top to bottom; the first route whose filters all match an event decides its
channels, unless that route says ``continue: true``, in which case its channels are added and the
next routes are tried as well. A filter is a list of globs (``finance*``) over the project's name or
code, the workflow's name or code, or the event kinds; an empty filter matches anything, and an
event without a project or workflow (the monitor's own health) matches no project or workflow filter.

Fail-open: without routes every channel gets every event, and an event that no route matches goes
to every channel too, so a gap in the table never silences anything. End the table with a route
without filters to send the rest somewhere specific.

A route names channels by section (``dingtalk``: every DingTalk robot, named or not) or by the
name of a named entry (``team-a``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from ds_monitor.config import CHANNEL_SECTIONS, NotificationConfig, Route
from ds_monitor.notify.events import Event


def declared_channels(config: NotificationConfig) -> dict[str, tuple[str, bool]]:
    """Every channel of the configuration: name -> (section, enabled), in sending order.

    A section written as a single mapping is one channel named after the section; one written as
    a list gives one channel per named entry.
    """
    channels = {}
    for kind in CHANNEL_SECTIONS:
        named = [instance for instance in config.instances if instance.kind == kind]
        if getattr(config, kind).enabled or not named:
            channels[kind] = (kind, getattr(config, kind).enabled)
        for instance in named:
            channels[instance.name] = (kind, instance.config.enabled)
    return channels


def matches(route: Route, event: Event) -> bool:
    """Whether every filter of ``route`` matches ``event``."""
    if route.events and not any(fnmatchcase(event.kind, glob) for glob in route.events):
        return False
    if route.projects and not _any_glob(route.projects, event.project_name, event.project_code or None):
        return False
    if route.workflows and not _any_glob(route.workflows, event.definition_name, event.definition_code):
        return False
    return True


def targets(route: Route, channels: Mapping[str, str]) -> list[str]:
    """The channel names ``route`` reaches; ``channels`` maps each channel name to its section."""
    return [name for name, kind in channels.items() if name in route.channels or kind in route.channels]


def channels_for(event: Event, routes: Sequence[Route], channels: Mapping[str, str]) -> list[str]:
    """The channels that get ``event``, in the order of ``channels``."""
    chosen: set[str] = set()
    matched = False
    for route in routes:
        if matches(route, event):
            matched = True
            chosen.update(targets(route, channels))
            if not route.proceed:
                break
    if not matched:
        return list(channels)
    return [name for name in channels if name in chosen]


def route(events: Sequence[Event], routes: Sequence[Route], channels: Mapping[str, str]) -> dict[str, list[Event]]:
    """Each channel's share of ``events`` (every channel is a key, in order; events keep their order)."""
    shares: dict[str, list[Event]] = {name: [] for name in channels}
    for event in events:
        for name in channels_for(event, routes, channels):
            shares[name].append(event)
    return shares


def describe(routes: Sequence[Route], channels: Mapping[str, str], enabled: set[str]) -> list[str]:
    """The routing table in words, one line per route (for ``config check``)."""
    if not routes:
        return ["(no routes: every channel gets every event)"]
    lines = []
    for number, entry in enumerate(routes, 1):
        when = [
            f"{label} {', '.join(values)}"
            for label, values in (("project", entry.projects), ("workflow", entry.workflows), ("event", entry.events))
            if values
        ]
        reached = targets(entry, channels)
        shown = [name if name in enabled else f"{name} (disabled)" for name in reached]
        then = "continue" if entry.proceed else "stop"
        lines.append(f"{number}. {' and '.join(when) or 'any event'} -> {', '.join(shown)}; {then}")
    lines.append(f"{len(routes) + 1}. no route matched -> every channel")
    return lines


def _any_glob(globs: Sequence[str], name: str, code: int | None) -> bool:
    candidates = [c for c in (name, str(code) if code is not None else "") if c]
    return any(fnmatchcase(candidate, glob) for glob in globs for candidate in candidates)

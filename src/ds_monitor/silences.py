"""Silences (spec section 10): operator-made mutes by project/workflow glob, event kind and time.

A pure module over the content of ``silences.json`` (a plain dict; :mod:`ds_monitor.state` owns the
file): it takes ``now`` and returns decisions and a new dict, and never reads the clock or files.

What a silence does, and why each rule exists:

* It matches an event when the event's project name and workflow name match its globs (``--all``
  matches everything, the monitor's own events included), the event kind is one of its kinds (none
  given = every kind), and ``starts_at <= now < end``. The end is ``ends_at``, or ``expired_at`` when
  an operator ended it early.
* A matching event is recorded, not sent: it is kept in the silence's ``hidden`` map (the latest
  event of each incident), and appears once in the sweep report's ``silenced`` list, the first time
  the silence hides that event. The monitor re-creates some events on every sweep (a failure stays
  a failure while it is in the window); reporting them again each sweep would bury the real news.
* ``no_recover`` also withholds recoveries of matching instances (a maintenance that takes DS down
  on purpose must not have its failures "fixed" behind the operator's back).
* When the silence ends, the incidents it hid that are still open are announced once: the newest
  hidden event of each open incident goes to the notifier (whose own memory makes it once across
  restarts), and the silence is marked ``released``. An incident is closed when its newest event
  closes it (a recovery that succeeded, the monitor healthy again) or when its instance was last
  seen in a state that is neither a failure nor running.
* Silences that ended more than seven days ago are pruned.

State (``silences.json``)::

    {"version": 1,
     "silences": [{"id": "3f9a1c2e", "projects": ["etl*"], "workflow": "*_daily" | null,
                   "events": ["missed_run", ...], "no_recover": false, "reason": "...",
                   "created_at": "<iso>", "starts_at": "<iso>", "ends_at": "<iso>", "expired_at": null,
                   "released_at": null,
                   "hidden": {"<incident key>": {"event": {...Event.to_dict()}, "closed": false, "at": "<iso>"}}}]}
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase

from ds_monitor.ds.models import ACTIVE_STATES, REPORTED_FAILURE_STATES
from ds_monitor.errors import ConfigError
from ds_monitor.notify.events import EVENT_KINDS, Event
from ds_monitor.timestamps import parse_stamp

STATE_VERSION = 1
RETENTION = timedelta(days=7)
# `silence list` shows silences that ended within this span after the active ones.
RECENTLY_ENDED = timedelta(days=1)
# Kinds whose arrival means the incident is over: nothing is left to announce when the silence ends.
CLOSING_KINDS = frozenset({"recovery_succeeded", "monitor_recovered", "project_readable"})
_DURATION = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Silence:
    """One silence, typed; no ``projects`` and no ``workflow`` means everything (``--all``)."""

    id: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    projects: tuple[str, ...] = ()
    workflow: str | None = None
    events: tuple[str, ...] = ()
    no_recover: bool = False
    expired_at: datetime | None = None
    released_at: datetime | None = None
    hidden: dict = field(default_factory=dict, compare=False)

    @property
    def end(self) -> datetime:
        """When it stops (or stopped) muting: the planned end, or the early expiry."""
        return min(self.ends_at, self.expired_at) if self.expired_at else self.ends_at

    @property
    def scope(self) -> str:
        """Human words for what it covers, e.g. ``project etl*, workflow *_daily, events missed_run``."""
        if self.everything:
            parts = ["everything"]
        else:
            parts = [f"project {' | '.join(self.projects) or '*'}"]
            if self.workflow is not None:
                parts.append(f"workflow {self.workflow}")
        if self.events:
            parts.append("events " + ", ".join(self.events))
        if self.no_recover:
            parts.append("no recovery")
        return ", ".join(parts)

    @property
    def everything(self) -> bool:
        return not self.projects and self.workflow is None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.end

    def covers(self, project: str, workflow: str, kind: str | None = None) -> bool:
        """Whether the scope (not the time) matches a project/workflow name and, if given, an event kind."""
        return self.covers_project(project) and self.covers_workflow(workflow, kind)

    def covers_project(self, project: str) -> bool:
        if self.everything:
            return True
        if not project:  # the monitor's own events: only ``--all`` mutes them
            return False
        return any(fnmatchcase(project, glob) for glob in self.projects or ("*",))

    def covers_workflow(self, workflow: str, kind: str | None = None) -> bool:
        """The rest of :meth:`covers`, for a project already known to be covered."""
        if kind is not None and self.events and kind not in self.events:
            return False
        return self.everything or fnmatchcase(workflow, self.workflow or "*")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "projects": list(self.projects),
            "workflow": self.workflow,
            "events": list(self.events),
            "no_recover": self.no_recover,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "expired_at": self.expired_at.isoformat() if self.expired_at else None,
            "released_at": self.released_at.isoformat() if self.released_at else None,
            "hidden": copy.deepcopy(self.hidden),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Silence:
        """Raises ValueError/KeyError/TypeError on a malformed entry (the caller skips it)."""
        starts, ends, created = (parse_stamp(data[k]) for k in ("starts_at", "ends_at", "created_at"))
        if starts is None or ends is None or created is None:
            raise ValueError("silence without valid times")
        events = tuple(str(k) for k in data.get("events") or ())
        hidden = data.get("hidden") or {}
        if not isinstance(hidden, dict):
            raise ValueError("hidden is not a mapping")
        return cls(
            id=str(data["id"]),
            reason=str(data.get("reason", "")),
            starts_at=starts,
            ends_at=ends,
            created_at=created,
            projects=tuple(str(p) for p in data.get("projects") or ()),
            workflow=data.get("workflow"),
            events=events,
            no_recover=bool(data.get("no_recover", False)),
            expired_at=parse_stamp(data.get("expired_at")),
            released_at=parse_stamp(data.get("released_at")),
            hidden=hidden,
        )


# -- the document ------------------------------------------------------------------------------------


def load(state: dict) -> list[Silence]:
    """The silences of a ``silences.json`` content; malformed entries are dropped (never crash a sweep)."""
    found = []
    for entry in state.get("silences", []) if isinstance(state, dict) else []:
        try:
            found.append(Silence.from_dict(entry))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return found


def dump(silences: list[Silence]) -> dict:
    return {"version": STATE_VERSION, "silences": [s.to_dict() for s in silences]}


def merge(state: dict, scheduled: list[Silence]) -> dict:
    """The document with the ``scheduled`` silences added once each, by id: maintenance occurrences
    and the inhibition after an outage, which the monitor opens itself.

    One already written (even one an operator expired early) is left as it is.
    """
    silences = load(state)
    known = {s.id for s in silences}
    added = [s for s in scheduled if s.id not in known]
    return dump(silences + added) if added else state


def prune(silences: list[Silence], now: datetime) -> list[Silence]:
    """Drop silences that ended more than :data:`RETENTION` ago (released ones only: nothing is lost)."""
    return [s for s in silences if not (s.end <= now - RETENTION and s.released_at is not None)]


def add(state: dict, silence: Silence, now: datetime) -> dict:
    """The document with ``silence`` added (and old ones pruned)."""
    return dump(prune(load(state), now) + [silence])


def expire(state: dict, silence_id: str, now: datetime) -> tuple[dict, Silence]:
    """End a silence now. Raises ConfigError for an unknown id (a usage error: exit 2)."""
    silences = load(state)
    for index, silence in enumerate(silences):
        if silence.id == silence_id:
            if silence.end > now:
                silence = replace(silence, expired_at=now)
                silences[index] = silence
            return dump(silences), silence
    known = ", ".join(s.id for s in silences if s.active(now)) or "none active"
    raise ConfigError(f"silence {silence_id!r} not found (active: {known})")


def listing(state: dict, now: datetime) -> list[Silence]:
    """What ``silence list`` shows: active (and future) ones by end, then those ended within a day."""
    silences = load(state)
    current = sorted((s for s in silences if s.end > now), key=lambda s: (s.end, s.id))
    recent = sorted(
        (s for s in silences if now - RECENTLY_ENDED <= s.end <= now), key=lambda s: s.end, reverse=True
    )
    return current + recent


def describe(silence: Silence, now: datetime) -> dict:
    """A JSON-ready row for ``silence list --json`` and ``status``."""
    if silence.active(now):
        condition = "active"
    elif silence.starts_at > now:
        condition = "pending"
    else:
        condition = "expired" if silence.expired_at and silence.expired_at < silence.ends_at else "ended"
    return {
        "id": silence.id,
        "state": condition,
        "scope": silence.scope,
        "starts_at": silence.starts_at.isoformat(timespec="seconds"),
        "ends_at": silence.end.isoformat(timespec="seconds"),
        "reason": silence.reason,
        "hidden": len(silence.hidden),
    }


def new_silence(
    *,
    silence_id: str,
    now: datetime,
    until: datetime,
    reason: str,
    projects: tuple[str, ...] = (),
    workflow: str | None = None,
    events: tuple[str, ...] = (),
    no_recover: bool = False,
) -> Silence:
    """Validate the operator's input and build the silence; every problem is a ConfigError (exit 2)."""
    if until.tzinfo is None:
        raise ConfigError("silence end must carry a time zone")
    if until <= now:
        raise ConfigError(f"--until {until.isoformat()} is not in the future")
    if not reason.strip():
        raise ConfigError("--reason must say why (it is shown with every hidden incident)")
    if workflow is not None and not projects:
        raise ConfigError("--workflow needs --project (use --project '*' for every project)")
    unknown = [k for k in events if k not in EVENT_KINDS]
    if unknown:
        raise ConfigError(f"--event {unknown[0]!r} is not an event kind; expected one of {', '.join(EVENT_KINDS)}")
    return Silence(
        id=silence_id,
        reason=reason.strip(),
        starts_at=now,
        ends_at=until,
        created_at=now,
        projects=tuple(projects),
        workflow=workflow,
        events=tuple(dict.fromkeys(events)),
        no_recover=no_recover,
    )


def parse_duration(text: str) -> timedelta:
    """``2h``, ``90m``, ``1h30m``, ``1d``, ``45s``, ``2w`` -> timedelta; ConfigError otherwise."""
    cleaned = text.strip().replace(" ", "")
    if not cleaned or _DURATION.sub("", cleaned):
        raise ConfigError(f"--for {text!r} is not a duration such as 2h, 90m, 1h30m or 1d")
    seconds = sum(int(n) * _UNIT_SECONDS[unit.lower()] for n, unit in _DURATION.findall(cleaned))
    if seconds <= 0:
        raise ConfigError(f"--for {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


# -- applying them in a sweep ------------------------------------------------------------------------


@dataclass(frozen=True)
class Muting:
    """The outcome of :func:`apply` for one dispatch."""

    send: list[Event]  # what goes to the notifier: unmuted events plus released hidden incidents
    silenced: list[dict]  # report rows, one per newly hidden event: silence_id, event, incident_key
    released: list[str]  # ids of silences that ended and were released now
    state: dict


def apply(
    events: list[Event],
    state: dict,
    now: datetime,
    *,
    workflow_names: dict[int, str] | None = None,
    instance_states: dict[int, str] | None = None,
    seen_fires: frozenset[tuple[int, datetime]] = frozenset(),
) -> Muting:
    """Hide matching events, update hidden incidents, release silences that ended; see the module doc.

    ``workflow_names`` (definition code -> name) fills in an event that carries only a code;
    ``instance_states`` (instance id -> state seen this sweep) closes incidents whose run is over;
    ``seen_fires`` ((definition code, UTC fire time) of the runs seen this sweep) closes missed runs
    whose run turned up late.
    """
    names = workflow_names or {}
    seen_states = instance_states or {}
    silences = load(state)
    matcher = _Matcher(silences, names, now)
    send: list[Event] = []
    silenced: list[dict] = []
    for event in events:
        silence = matcher.find(event)
        if silence is None:
            send.append(event)
            continue
        key = event.incident_key
        entry = silence.hidden.get(key)
        if entry is None or entry.get("event", {}).get("kind") != event.kind or _attempt(entry) != event.attempt:
            silenced.append({"silence_id": silence.id, "event": event.kind, "incident_key": key})
        silence.hidden[key] = {"event": event.to_dict(), "closed": event.kind in CLOSING_KINDS, "at": now.isoformat()}
    # An event that closes an incident closes it in every silence that hid it, muted or not.
    for event in events:
        if event.kind in CLOSING_KINDS:
            for silence in silences:
                if event.incident_key in silence.hidden:
                    silence.hidden[event.incident_key]["closed"] = True
    released: list[str] = []
    announced: list[Event] = []
    for index, silence in enumerate(silences):
        if silence.released_at is not None or silence.active(now) or silence.starts_at > now:
            continue
        for key, entry in silence.hidden.items():
            if not _still_open(entry, seen_states, seen_fires):
                continue
            try:
                hidden = Event.from_dict(entry["event"])
            except (KeyError, TypeError, ValueError):
                continue
            successor = matcher.find(hidden)
            if successor is not None:  # still muted by another silence: it is released with that one
                successor.hidden.setdefault(key, entry)
                continue
            # Late because of the silence: the message says which held it, and until when.
            announced.append(
                replace(hidden, silence_id=silence.id, silence_reason=silence.reason, silence_end=silence.end)
            )
        silences[index] = replace(silence, released_at=now)
        released.append(silence.id)
    # Released first: when the sweep re-creates the same event, the copy that says why it is late wins.
    return Muting(send=announced + send, silenced=silenced, released=released, state=dump(prune(silences, now)))


# What an outage of DS (or of the monitor's view of it) can explain: no run where one was due, or a run
# that seems to hang because its end was never seen.
OUTAGE_KINDS = ("missed_run", "stuck_running")
INHIBITION_PREFIX = "inhibit:"


def inhibition(outage_start: datetime, back_at: datetime, hold: timedelta) -> Silence:
    """Hold the missed and stuck runs found when DS is back after ``monitor_unhealthy`` (spec section 10).

    The first sweeps after an outage see every fire of the outage without a run and every run whose
    end they did not see; DS may still start the late runs, or the runs may long have ended. So these
    events are held for ``hold`` and then judged again, like the incidents of a silence that ends:
    announced once if the run is still missing or still active, dropped if it turned up or ended.
    """
    return Silence(
        id=f"{INHIBITION_PREFIX}{back_at.isoformat(timespec='seconds')}",
        reason=(
            f"monitor_unhealthy from {outage_start.isoformat(timespec='seconds')} to "
            f"{back_at.isoformat(timespec='seconds')}: missed and stuck runs judged again"
        ),
        starts_at=outage_start,
        ends_at=back_at + hold,
        created_at=back_at,
        events=OUTAGE_KINDS,
    )


def withholding(
    silences: list[Silence], project: str, workflow: str, now: datetime
) -> Silence | None:
    """The active ``no_recover`` silence that withholds recoveries of this workflow, if any."""
    return next(
        (s for s in silences if s.no_recover and s.active(now) and s.covers(project, workflow)), None
    )


class _Matcher:
    """Finds the first active silence covering an event; project globs are matched once per project,
    so a sweep's thousands of events cost far less than events x silences glob matches."""

    def __init__(self, silences: list[Silence], names: dict[int, str], now: datetime):
        self._active = [s for s in silences if s.active(now)]
        self._names = names
        self._by_project: dict[str, list[Silence]] = {}

    def find(self, event: Event) -> Silence | None:
        project = event.project_name
        if project not in self._by_project:
            self._by_project[project] = [s for s in self._active if s.covers_project(project)]
        workflow = event.definition_name or self._names.get(event.definition_code or 0, "")
        return next((s for s in self._by_project[project] if s.covers_workflow(workflow, event.kind)), None)


def _still_open(entry: dict, seen_states: dict[int, str], seen_fires: frozenset[tuple[int, datetime]]) -> bool:
    if not isinstance(entry, dict) or entry.get("closed"):
        return False
    fire = parse_stamp((entry.get("event") or {}).get("fire_time"))
    if fire is not None and (entry["event"].get("definition_code"), fire.astimezone(timezone.utc)) in seen_fires:
        return False
    instance_id = (entry.get("event") or {}).get("instance_id")
    state = seen_states.get(instance_id) if instance_id is not None else None
    return state is None or state in REPORTED_FAILURE_STATES or state in ACTIVE_STATES


def _attempt(entry: dict) -> int | None:
    return (entry.get("event") or {}).get("attempt")


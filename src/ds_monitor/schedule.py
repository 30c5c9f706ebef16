"""Schedule awareness (spec section 4): which workflow definitions need a look now, missed and stuck runs.

A pure module: it takes the definitions, schedules and instances the DS client fetched, the tracker's
own state (a JSON-able dict, the content of ``schedule_state.json``) and ``now``; it returns
decisions and a new state. It never reads the clock, files or the network.

The rules, exactly as implemented (the spec's words, with the readings chosen where they leave room):

**Looks** (``ScheduleTracker.plan``), first match wins:

1. Optimisation off, or ``max_unchecked`` of 0: every definition needs a look on every sweep.
2. A recovery of the definition is in flight (the caller's ``busy_definitions``), or one of its
   instances was active (``ACTIVE_STATES``) at its last look: look on every sweep until it ends
   (an instance already reported stuck excepted: it falls back to the bound, as it may hang for days).
3. No usable record of a previous look, or the last look is ``max_unchecked`` old or older: look.
   This bound applies to every definition, scheduled or not, and nothing suspends it: it is what
   makes the spec's promise hold that no failure stays undetected for more than ``max_unchecked``
   plus one sweep interval.
4. A definition with an online schedule: each fire time F (evaluated in the schedule's
   ``timezoneId``, within its start/end time) opens an execution window [F, F + ``execution_window``)
   in real elapsed time (DST changes do not stretch or shrink it). While any fire's window is open
   and the run of that fire (``instance.schedule_time == F``) has not been seen ending, look on
   every sweep. A fire whose run was seen succeeding asks for no more looks: its window is closed
   for good (the intent stated in the task: "once the run of this fire succeeded, stop looking";
   re-opening the window when the success grows older than the cooldown, as a literal reading of
   the spec sentence would, only re-checks a run known to be done). A run seen ending otherwise
   (FAILURE, STOP, KILL) closes the window too: that look reported it, and a recovery of it makes
   the definition busy (rule 2) until the recovery ends. Without this, one failed run kept its
   whole project queried on every sweep for the full window, which erased most of the savings on a
   real fleet. A fire with no run at all keeps its window open: Quartz may still start it late.
   ``success_cooldown`` is the span during which the closing success is cited as the reason for
   skipping ("succeeded at 02:10, cooldown until 02:40"); after it the definition is explicitly on
   the ``max_unchecked`` bound alone. It never suspends the bound of rule 3: letting a fresh success
   silence the bound would break the detection promise whenever the cooldown is longer than the
   bound (the defaults are 30 and 15 minutes).
5. Any doubt is a look (fail-open): a crontab the Quartz parser rejects, an empty or unknown
   ``timezoneId``, a schedule that fires too often to enumerate, unreadable state.
6. Otherwise skip, with the reason and when the next look will be due (next fire or the bound).

A project is queried when any of its definitions needs a look, and that query covers all of them:
``LookPlan.looks`` therefore lists every definition of a queried project (those without a reason
of their own as "covered by the query of project N"), ``LookPlan.skipped`` only the definitions of
projects left out, and ``calls_saved`` counts the projects left out.

**Missed run** (``observe``): a fire F of an online schedule that has not ended, with
F <= now - ``missed_run_grace``, no instance of the definition whose ``schedule_time`` is F, and F
strictly after both the start of the instance window the caller queried and the moment the schedule
came into force: DS's ``updateTime`` of the schedule (so fires from before the monitor's first start
or a state loss count), or the moment the tracker first saw it online when it saw the definition
without an online schedule after that edit (a mere switch online leaves ``updateTime`` alone) or
when DS gives no edit time. Each fire is judged once; a miss is reported once.

**Stuck run** (``observe``): an instance in ``ACTIVE_STATES`` of a definition whose online schedule
has not ended, that is still active ``execution_window`` after its start, or at or after the first
fire of its schedule strictly after its start. Reported once per instance. Definitions without an
online schedule (manual, API, sub-workflow, or a schedule taken offline or past its end) get
neither: both notions are defined by the schedule.

**State** (``schedule_state.json``)::

    {"version": 1,
     "definitions": {"<definition code>": {
        "project_code": 1, "name": "etl_daily",
        "last_checked": "<UTC ISO>",               # the last query of its project
        "schedule_key": "...", "schedule_since": "<UTC ISO>",   # the online schedule and when first seen
        "offline_seen_at": "<UTC ISO>",            # last seen without an online schedule: see _in_force_since
        "successes": {"<fire, UTC ISO>": "<success end, UTC ISO>"},
        "ended": {"<fire, UTC ISO>": "<end of a run that did not succeed, UTC ISO>"},
        "active": {"<instance id>": {"state": "RUNNING_EXECUTION", "start_time": "<UTC ISO>"}},
        "missed_scanned_until": "<UTC ISO>",       # fires up to here have been judged
        "missed": {"<fire, UTC ISO>": "<reported at>"},
        "stuck": {"<instance id>": "<reported at>"},
        "next_look": "<UTC ISO>", "next_look_reason": "..."}}}   # for ``status``

Entries older than ``state_retention`` (7 days past the instance window) are pruned, and so are
definitions not checked for that long (deleted or no longer monitored).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from itertools import islice

from ds_monitor import cron
from ds_monitor.config import MonitorConfig
from ds_monitor.ds.models import ACTIVE_STATES, SUCCESS_STATES, Definition, Instance, Schedule
from ds_monitor.errors import ConfigError
from ds_monitor.timestamps import is_future, parse_past, parse_stamp

STATE_VERSION = 1

# A schedule firing more often than this within one execution window (e.g. every second) is not
# enumerated: it is looked at on every sweep, which is what its windows would ask for anyway.
MAX_FIRES_PER_WINDOW = 1000
# Upper bound of fires judged for missed runs in one observation of one schedule.
MAX_FIRES_PER_SCAN = 10_000

UTC = timezone.utc
_RETENTION_PAST_WINDOW = timedelta(days=7)
_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class TrackerSettings:
    """The knobs of section 4, as durations."""

    enabled: bool = True
    execution_window: timedelta = timedelta(hours=4)
    success_cooldown: timedelta = timedelta(minutes=30)
    max_unchecked: timedelta = timedelta(minutes=15)
    missed_run_grace: timedelta = timedelta(minutes=30)
    state_retention: timedelta = timedelta(hours=24) + _RETENTION_PAST_WINDOW

    @classmethod
    def from_config(cls, monitor: MonitorConfig) -> TrackerSettings:
        window_hours = max(monitor.time_window_hours, monitor.execution_window_hours)
        return cls(
            enabled=monitor.enable_schedule_optimization,
            execution_window=timedelta(hours=monitor.execution_window_hours),
            success_cooldown=timedelta(minutes=monitor.success_cooldown_minutes),
            max_unchecked=timedelta(minutes=monitor.max_unchecked_minutes),
            missed_run_grace=timedelta(minutes=monitor.missed_run_grace_minutes),
            state_retention=timedelta(hours=window_hours) + _RETENTION_PAST_WINDOW,
        )


@dataclass(frozen=True)
class LookPlan:
    """What one sweep should query. ``looks``/``skipped`` map a definition code to the reason."""

    looks: dict[int, str]
    skipped: dict[int, str]
    projects_to_query: frozenset[int]
    calls_saved: int


@dataclass(frozen=True)
class MissedRun:
    project_code: int
    definition_code: int
    definition_name: str
    fire_time: datetime


@dataclass(frozen=True)
class StuckRun:
    project_code: int
    definition_code: int
    definition_name: str
    instance_id: int
    instance_name: str
    start_time: datetime
    state: str = ""
    # Why it is stuck, one of the two: it ran past the execution window, or the next fire arrived.
    window: timedelta | None = None
    next_fire: datetime | None = None


@dataclass(frozen=True)
class _Decision:
    """One definition's verdict at ``now``; ``next_look`` is when it is next due (``now`` if due)."""

    look: bool
    reason: str
    next_look: datetime | None


class ScheduleTracker:
    """Decides which definitions need a look and detects missed and stuck runs (see the module doc)."""

    def __init__(self, settings: TrackerSettings):
        self.settings = settings
        # Parsed crontabs by text, parse errors included, so a bad crontab is parsed once.
        self._expressions: dict[str, cron.CronExpression | ConfigError] = {}

    # ------------------------------------------------------------------------------------------
    # Looks
    # ------------------------------------------------------------------------------------------

    def plan(self, definitions: list[Definition], schedules: list[Schedule], state: dict, now: datetime,
             *, busy_definitions: frozenset[int] = frozenset()) -> LookPlan:
        """Which definitions need a look at ``now`` and which projects must therefore be queried."""
        entries = _entries(state)
        online = _online_by_definition(schedules)
        own: dict[int, _Decision] = {
            d.code: self._decide(d.code, online.get(d.code, []), entries.get(str(d.code)), now,
                                 busy_definitions)
            for d in definitions
        }
        projects_to_query = frozenset(d.project_code for d in definitions if own[d.code].look)
        looks: dict[int, str] = {}
        skipped: dict[int, str] = {}
        for d in definitions:
            decision = own[d.code]
            if decision.look:
                looks[d.code] = decision.reason
            elif d.project_code in projects_to_query:
                looks[d.code] = f"covered by the query of project {d.project_code}"
            else:
                skipped[d.code] = decision.reason
        all_projects = {d.project_code for d in definitions}
        return LookPlan(looks=looks, skipped=skipped, projects_to_query=projects_to_query,
                        calls_saved=len(all_projects - projects_to_query))

    def explain(self, definition: Definition, schedule: Schedule | None, state: dict, now: datetime) -> str:
        """One line for ``status`` and troubleshooting: whether the definition needs a look now, and why."""
        schedules = [schedule] if schedule is not None and schedule.online else []
        decision = self._decide(definition.code, schedules, _entries(state).get(str(definition.code)), now,
                                frozenset())
        verdict = "look" if decision.look else "skip"
        return f"{definition.name} ({definition.code}): {verdict}: {decision.reason}"

    def _decide(self, code: int, schedules: list[Schedule], entry: dict | None, now: datetime,
                busy: frozenset[int]) -> _Decision:
        settings = self.settings
        if not settings.enabled:
            return _Decision(True, "schedule optimisation is off", now)
        if settings.max_unchecked <= timedelta(0):
            return _Decision(True, "max_unchecked_minutes is 0: every sweep", now)
        if code in busy:
            return _Decision(True, "a recovery is in flight", now)
        if not isinstance(entry, dict):
            return _Decision(True, "not checked yet", now)
        # An instance already reported stuck no longer asks for every sweep: it may hang for days.
        stuck = _read(entry, "stuck")
        active = [key for key in _read(entry, "active") if key not in stuck]
        if active:
            first_id = min(active, key=lambda key: (len(key), key))  # numeric order of digit strings
            return _Decision(True, f"instance {first_id} was active at the last look", now)
        last_checked = parse_stamp(entry.get("last_checked"))
        if last_checked is None:
            return _Decision(True, "no valid last_checked in state", now)
        if is_future(last_checked, now):
            return _Decision(True, f"last_checked {_show(last_checked, now)} is in the future "
                                   "(clock stepped back?): doubt, so a look", now)
        bound_due = last_checked + settings.max_unchecked
        if now >= bound_due:
            return _Decision(True, f"unchecked since {_show(last_checked, now)} "
                                   f"(bound {_minutes(settings.max_unchecked)})", now)
        if not schedules:
            return _Decision(False, f"no online schedule; bound look at {_show(bound_due, now)}", bound_due)
        reasons = []
        next_look = bound_due
        for schedule in schedules:
            decision = self._decide_by_schedule(schedule, entry, now)
            if decision.look:
                return decision
            reasons.append(decision.reason)
            if decision.next_look is not None and decision.next_look < next_look:
                next_look = decision.next_look
        reasons.append(f"bound look at {_show(bound_due, now)}")
        return _Decision(False, "; ".join(reasons), next_look)

    def _decide_by_schedule(self, schedule: Schedule, entry: dict, now: datetime) -> _Decision:
        """Rule 4 for one online schedule; a look whenever the schedule cannot be evaluated."""
        settings = self.settings
        expression = self._expression(schedule)
        if isinstance(expression, ConfigError):
            return _Decision(True, f"cannot evaluate schedule {schedule.id}: {expression}", now)
        zone = schedule.tz
        upper = _utc(now) if schedule.end_time is None else min(_utc(now), _utc(schedule.end_time))
        try:
            fires = _fires(expression, _fire_lower_bound(schedule, _utc(now) - settings.execution_window),
                           upper, zone, MAX_FIRES_PER_WINDOW)
            next_fire = _next_fire_within(expression, schedule, now, zone)
        except ConfigError as err:
            return _Decision(True, f"cannot evaluate schedule {schedule.id}: {err}", now)
        if fires is None:
            return _Decision(True, f"schedule {schedule.id} fires more than {MAX_FIRES_PER_WINDOW} times "
                                   "in one execution window", now)
        successes = _read(entry, "successes")
        settled = {**_read(entry, "ended"), **successes}
        for fire in fires:
            if _key(fire) not in settled:
                window_end = _utc(fire) + settings.execution_window
                return _Decision(True, f"execution window of the {_show(fire)} fire "
                                       f"(until {_show(window_end, fire)}), no success seen yet", now)
        parts = []
        if fires:
            latest = fires[-1]
            succeeded = parse_past(successes.get(_key(latest)), now)
            if _key(latest) not in successes:
                parts.append(f"{_show(latest)} fire's run ended without success (reported)")
            elif succeeded is not None and now < succeeded + settings.success_cooldown:
                parts.append(f"{_show(latest)} fire succeeded at {_show(succeeded, latest)}, cooldown until "
                             f"{_show(succeeded + settings.success_cooldown, latest)}")
            else:
                parts.append(f"{_show(latest)} fire succeeded")
        if next_fire is not None:
            parts.append(f"next fire {_show(next_fire)}")
        elif schedule.end_time is not None and schedule.end_time < now:
            parts.append(f"schedule {schedule.id} ended {_show(schedule.end_time)}")
        else:
            parts.append(f"schedule {schedule.id} fires no more")
        return _Decision(False, "; ".join(parts), next_fire)

    # ------------------------------------------------------------------------------------------
    # Observation: after a project's instance query
    # ------------------------------------------------------------------------------------------

    def observe(self, project_code: int, definitions: list[Definition], schedules: list[Schedule],
                instances: list[Instance], window_start: datetime, state: dict,
                now: datetime) -> tuple[list[MissedRun], list[StuckRun], dict]:
        """Record a query of project ``project_code`` and return newly detected missed and stuck runs.

        ``instances`` are the project's instances of every state whose start time lies in
        ``[window_start, now]``. Every definition of the project counts as checked at ``now``.
        ``state`` is updated in place and returned (a malformed one is replaced by a new state):
        copying all entries for each project would cost projects x definitions per sweep. Entries
        are replaced, never modified, so an entry read before the call keeps its old values.
        """
        new_state = _own(state)
        entries = new_state["definitions"]
        checked = _iso(now)
        online = _online_by_definition(schedules)
        by_definition: dict[int, list[Instance]] = defaultdict(list)
        for instance in instances:
            by_definition[instance.definition_code].append(instance)
        missed: list[MissedRun] = []
        stuck: list[StuckRun] = []
        for definition in definitions:
            # Copy-on-write: entries of other projects are shared with the caller's state, untouched;
            # this one is copied here and its tables by _table when written.
            entry = entries.get(str(definition.code))
            entry = entries[str(definition.code)] = dict(entry) if isinstance(entry, dict) else {}
            own_schedules = [s for s in online.get(definition.code, []) if not _ended(s, now)]
            mine = by_definition.get(definition.code, [])
            entry["project_code"] = project_code
            entry["name"] = definition.name
            entry["last_checked"] = checked
            _record_schedule(entry, own_schedules, now)
            _record_runs(entry, mine, now)
            for schedule in own_schedules:
                missed.extend(self._find_missed(definition, project_code, schedule, entry, mine,
                                                window_start, now))
            if own_schedules:
                stuck.extend(self._find_stuck(definition, project_code, own_schedules[0], entry, mine, now))
            decision = self._decide(definition.code, online.get(definition.code, []), entry, now, frozenset())
            entry["next_look"] = _iso(decision.next_look) if decision.next_look is not None else None
            entry["next_look_reason"] = decision.reason
            self._prune_entry(entry, now)
        return missed, stuck, new_state

    def forget_stale(self, state: dict, now: datetime) -> dict:
        """The state without definitions not checked within the retention (deleted, or no longer
        monitored). Once per sweep, after every project's :meth:`observe`: it reads every entry."""
        entries = dict(_entries(state))
        _drop_forgotten(entries, _utc(now) - self.settings.state_retention)
        return {"version": STATE_VERSION, "definitions": entries}

    def _find_missed(self, definition: Definition, project_code: int, schedule: Schedule, entry: dict,
                     instances: list[Instance], window_start: datetime, now: datetime) -> list[MissedRun]:
        expression = self._expression(schedule)
        if isinstance(expression, ConfigError):
            return []
        # Never judge a fire twice, never one from before the schedule was in force, never one whose
        # instance could have started before the queried window (it would not be listed).
        lower = max(window_start,
                    _in_force_since(schedule, entry, now),
                    parse_past(entry.get("missed_scanned_until"), now) or window_start)
        lower = _fire_lower_bound(schedule, lower)
        upper = _utc(now) - self.settings.missed_run_grace
        if schedule.end_time is not None:
            upper = min(upper, _utc(schedule.end_time))
        if upper <= lower:
            return []
        try:
            fires = _fires(expression, lower, upper, schedule.tz, MAX_FIRES_PER_SCAN)
        except ConfigError:
            return []
        entry["missed_scanned_until"] = _iso(upper)
        if fires is None:
            return []
        seen_fires = {_key(i.schedule_time) for i in instances if i.schedule_time is not None}
        reported = _table(entry, "missed")
        found = []
        for fire in fires:
            key = _key(fire)
            if key in seen_fires or key in reported:
                continue
            reported[key] = _iso(now)
            found.append(MissedRun(project_code=project_code, definition_code=definition.code,
                                   definition_name=definition.name, fire_time=fire))
        return found

    def _find_stuck(self, definition: Definition, project_code: int, schedule: Schedule, entry: dict,
                    instances: list[Instance], now: datetime) -> list[StuckRun]:
        expression = self._expression(schedule)
        reported = _table(entry, "stuck")
        found = []
        for instance in instances:
            if instance.state not in ACTIVE_STATES or instance.start_time is None:
                continue
            if str(instance.id) in reported:
                continue
            why = self._stuck_why(instance.start_time, schedule, expression, now)
            if why is None:
                continue
            window, next_fire = why
            reported[str(instance.id)] = _iso(now)
            found.append(StuckRun(project_code=project_code, definition_code=definition.code,
                                  definition_name=definition.name, instance_id=instance.id,
                                  instance_name=instance.name, start_time=instance.start_time,
                                  state=instance.state, window=window, next_fire=next_fire))
        return found

    def _stuck_why(self, started: datetime, schedule: Schedule, expression: cron.CronExpression | ConfigError,
                   now: datetime) -> tuple[timedelta | None, datetime | None] | None:
        """Why a run started at ``started`` is stuck: (the execution window it ran past, None) or
        (None, the next fire that arrived); None when it is not."""
        window = self.settings.execution_window
        if now >= _utc(started) + window:
            return window, None
        if isinstance(expression, ConfigError):
            return None
        try:
            next_fire = _next_fire_within(expression, schedule, started, schedule.tz)
        except ConfigError:
            return None
        if next_fire is not None and next_fire <= now:
            return None, next_fire
        return None

    # ------------------------------------------------------------------------------------------
    # Helpers that need the settings or the expression cache
    # ------------------------------------------------------------------------------------------

    def _expression(self, schedule: Schedule) -> cron.CronExpression | ConfigError:
        """The parsed crontab, or the error that says why it cannot be used (a missing zone included)."""
        if schedule.tz is None:
            # DS would use the master JVM's zone, which the monitor cannot know.
            if schedule.timezone_id:
                return ConfigError(f"schedule {schedule.id} has an unknown timezoneId {schedule.timezone_id!r}")
            return ConfigError(f"schedule {schedule.id} has no timezoneId")
        if schedule.crontab not in self._expressions:
            try:
                self._expressions[schedule.crontab] = cron.parse(schedule.crontab)
            except ConfigError as err:
                self._expressions[schedule.crontab] = err
        return self._expressions[schedule.crontab]

    def _prune_entry(self, entry: dict, now: datetime) -> None:
        """Forget fires and reports older than the retention; a stuck report lives while its instance runs.

        Tables are copied (by ``_table``) only when something is dropped: most entries have nothing
        to prune, and a 100,000-definition state must not be copied table by table every sweep.
        """
        horizon = _utc(now) - self.settings.state_retention
        for name in ("successes", "ended", "missed"):
            stale = [k for k in _read(entry, name) if (parse_stamp(k) or horizon) <= horizon]
            if stale:
                fires = _table(entry, name)
                for key in stale:
                    del fires[key]
        active = _read(entry, "active")
        stale = [
            key
            for key, reported_at in _read(entry, "stuck").items()
            if key not in active and (parse_stamp(reported_at) or horizon) <= horizon
        ]
        if stale:
            stuck = _table(entry, "stuck")
            for key in stale:
                del stuck[key]


def schedule_status(state: dict, now: datetime) -> list[dict]:
    """Rows for ``status``: per definition, the last look, the next look and what was reported."""
    rows = []
    for code, entry in _entries(state).items():
        if not isinstance(entry, dict):
            continue
        next_look = parse_stamp(entry.get("next_look"))
        last_checked = parse_stamp(entry.get("last_checked"))
        if last_checked is not None and is_future(last_checked, now):
            next_look = None  # the tracker looks at a definition whose last look lies in the future
        rows.append({
            "definition_code": int(code) if code.isdigit() else code,
            "project_code": entry.get("project_code"),
            "name": entry.get("name", ""),
            "last_checked": _show(last_checked, now) if last_checked else None,
            "next_look": "due" if next_look is None or next_look <= now else _show(next_look, now),
            "reason": entry.get("next_look_reason", ""),
            "missed_reported": len(_read(entry, "missed")),
            "stuck_reported": len(_read(entry, "stuck")),
        })
    rows.sort(key=lambda row: (str(row["project_code"]), str(row["definition_code"])))
    return rows


# ----------------------------------------------------------------------------------------------
# Module helpers (pure)
# ----------------------------------------------------------------------------------------------

def _online_by_definition(schedules: Iterable[Schedule]) -> dict[int, list[Schedule]]:
    grouped: dict[int, list[Schedule]] = defaultdict(list)
    for schedule in schedules:
        if schedule.online:
            grouped[schedule.definition_code].append(schedule)
    return grouped


def _ended(schedule: Schedule, now: datetime) -> bool:
    return schedule.end_time is not None and schedule.end_time < now


def _fires(expression: cron.CronExpression, lower: datetime, upper: datetime, zone: tzinfo,
           limit: int) -> list[datetime] | None:
    """Fire times in (lower, upper], or None when there are more than ``limit``."""
    if upper <= lower:
        return []
    fires = list(islice(expression.fires_between(lower, upper, zone), limit + 1))
    return None if len(fires) > limit else fires


def _fire_lower_bound(schedule: Schedule, lower: datetime) -> datetime:
    """``lower`` for ``fires_between`` (exclusive), moved so a fire exactly at the start time counts."""
    if schedule.start_time is not None:
        before_start = _utc(schedule.start_time) - _JUST_BEFORE
        if before_start > lower:
            return before_start
    return lower


def _next_fire_within(expression: cron.CronExpression, schedule: Schedule, after: datetime,
                      zone: tzinfo) -> datetime | None:
    """The first fire strictly after ``after`` and not before the start time, or None past the end time."""
    if schedule.start_time is not None and schedule.start_time > after:
        after = _utc(schedule.start_time) - _JUST_BEFORE
    fire = expression.next_fire(after, zone)
    if fire is None or (schedule.end_time is not None and _utc(fire) > _utc(schedule.end_time)):
        return None
    return fire


def _in_force_since(schedule: Schedule, entry: dict, now: datetime) -> datetime:
    """Since when ``schedule`` has been able to fire: fires before that cannot have been missed.

    DS's own ``updateTime`` (``createTime`` if absent) says when the schedule was last created or
    edited, so fires from before the monitor's first start (or a state loss) are judged too. DS does
    not touch ``updateTime`` when a schedule is merely switched online: if the tracker saw the
    definition without an online schedule after that edit, the schedule was switched on since, and
    the moment the tracker first saw it online counts instead. Without an edit time, the tracker's
    first sight is the only safe bound.
    """
    since = parse_past(entry.get("schedule_since"), now) or now
    edited = schedule.update_time or schedule.create_time
    if edited is None:
        return since
    offline = parse_past(entry.get("offline_seen_at"), now)
    if offline is not None and _utc(edited) <= offline:
        return since
    return _utc(edited)


def _record_schedule(entry: dict, schedules: list[Schedule], now: datetime) -> None:
    """Remember which online schedule is in force and since when the tracker has known it."""
    if not schedules:
        entry["offline_seen_at"] = _iso(now)
        entry.pop("schedule_key", None)
        entry.pop("schedule_since", None)
        entry.pop("missed_scanned_until", None)
        return
    key = " | ".join(sorted(
        f"{s.crontab} {s.timezone_id} {_iso(s.start_time) if s.start_time else '-'} "
        f"{_iso(s.end_time) if s.end_time else '-'}" for s in schedules))
    if entry.get("schedule_key") != key or parse_past(entry.get("schedule_since"), now) is None:
        # A new or changed schedule: DS does not replay the fires before it, so neither do we.
        entry["schedule_key"] = key
        entry["schedule_since"] = _iso(now)
        entry.pop("missed_scanned_until", None)


def _record_runs(entry: dict, instances: list[Instance], now: datetime) -> None:
    """Ended runs per fire (kept) and the instances active right now (replaced: this look saw them all)."""
    active: dict[str, dict] = {}
    if not instances:
        entry["active"] = active
        return
    successes = _table(entry, "successes")
    ended = _table(entry, "ended")
    for instance in instances:
        if instance.state in SUCCESS_STATES and instance.schedule_time is not None:
            successes.setdefault(_key(instance.schedule_time), _iso(instance.end_time or now))
        elif instance.state not in ACTIVE_STATES and instance.schedule_time is not None:
            ended.setdefault(_key(instance.schedule_time), _iso(instance.end_time or now))
        elif instance.state in ACTIVE_STATES:
            active[str(instance.id)] = {
                "state": instance.state,
                "start_time": _iso(instance.start_time) if instance.start_time else None,
            }
    entry["active"] = active


def _entries(state: object) -> dict:
    """The per-definition entries of a state; none for a malformed state or one of another version
    (it starts afresh: every definition is looked at and no schedule is judged before it is seen again)."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return {}
    entries = state.get("definitions")
    return entries if isinstance(entries, dict) else {}


def _own(state: object) -> dict:
    """``state`` itself when it is a well-formed current state, else a new empty one."""
    if isinstance(state, dict) and state.get("version") == STATE_VERSION and isinstance(state.get("definitions"), dict):
        return state
    return {"version": STATE_VERSION, "definitions": {}}


def _drop_forgotten(entries: dict, horizon: datetime) -> None:
    """Remove definitions not checked since ``horizon`` (deleted, or no longer monitored)."""
    for code in list(entries):
        entry = entries[code]
        last_checked = parse_stamp(entry.get("last_checked")) if isinstance(entry, dict) else None
        if last_checked is None or last_checked < horizon:
            del entries[code]


def _read(entry: dict, name: str) -> dict:
    """``entry[name]`` if it is a dict, else an empty one (for reading only)."""
    value = entry.get(name)
    return value if isinstance(value, dict) else {}


def _table(entry: dict, name: str) -> dict:
    """A copy of ``entry[name]`` to write to, put in its place (malformed = empty).

    The copy is what keeps :meth:`ScheduleTracker.observe` from touching its input: entries are
    copied shallowly, so every write to a nested table goes through here."""
    value = entry.get(name)
    value = entry[name] = dict(value) if isinstance(value, dict) else {}
    return value


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC: adding a timedelta to a zoned datetime is wall-clock arithmetic, which a DST
    change would stretch or shrink; in UTC it is elapsed time."""
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat()


def _key(fire: datetime) -> str:
    """A fire time as a state key: UTC, whole seconds (DS schedule times carry no fraction)."""
    return _iso(fire.replace(microsecond=0))


def _show(moment: datetime, like: datetime | None = None) -> str:
    """``moment`` to the minute (seconds when present), in the zone of ``like`` (default its own)."""
    if like is not None and like.tzinfo is not None:
        moment = moment.astimezone(like.tzinfo)
    timespec = "minutes" if moment.second == 0 and moment.microsecond == 0 else "seconds"
    return moment.isoformat(timespec=timespec)


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"

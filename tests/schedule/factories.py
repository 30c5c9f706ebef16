"""Builders shared by the schedule tests: models with sensible defaults and an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from ds_monitor.ds.models import ONLINE, Definition, Instance, Schedule
from ds_monitor.schedule import ScheduleTracker, TrackerSettings
from ds_monitor.zones import parse_zone

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROJECT = 100
DAILY_0200 = "0 0 2 * * ? *"
HOURLY = "0 0 * * * ? *"


def at(text: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    """An aware datetime from ``YYYY-MM-DD HH:MM[:SS]`` wall-clock time in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def definition(code: int = 1, project_code: int = PROJECT, name: str | None = None) -> Definition:
    return Definition(code=code, name=name or f"wf_{code}", project_code=project_code)


def schedule(definition_code: int = 1, crontab: str = DAILY_0200, timezone_id: str = "Asia/Shanghai",
             release_state: str = ONLINE, start_time: datetime | None = None,
             end_time: datetime | None = None) -> Schedule:
    return Schedule(id=definition_code * 10, definition_code=definition_code, crontab=crontab,
                    timezone_id=timezone_id, release_state=release_state,
                    start_time=start_time or at("2020-01-01 00:00"),
                    end_time=end_time or at("2099-01-01 00:00"), tz=_zone(timezone_id))


def _zone(name: str) -> tzinfo | None:
    """What the client's edge makes of a ``timezoneId``: a tzinfo, or None for an empty or unknown one."""
    try:
        return parse_zone(name)
    except ValueError:
        return None


def instance(instance_id: int, state: str, start_time: datetime, *, definition_code: int = 1,
             schedule_time: datetime | None = None, end_time: datetime | None = None) -> Instance:
    return Instance(id=instance_id, definition_code=definition_code,
                    name=f"wf_{definition_code}-{instance_id}", state=state, project_code=PROJECT,
                    start_time=start_time, end_time=end_time, schedule_time=schedule_time,
                    command_type="SCHEDULER" if schedule_time else "START_PROCESS")


def settings(**overrides: object) -> TrackerSettings:
    """Test settings: a 2 h execution window (as in the task's examples) unless overridden."""
    values: dict[str, object] = {
        "execution_window": timedelta(hours=2),
        "success_cooldown": timedelta(minutes=30),
        "max_unchecked": timedelta(minutes=15),
        "missed_run_grace": timedelta(minutes=30),
    }
    values.update(overrides)
    return TrackerSettings(**values)  # type: ignore[arg-type]


def tracker(**overrides: object) -> ScheduleTracker:
    return ScheduleTracker(settings(**overrides))


def checked_state(tracker_: ScheduleTracker, last_checked: datetime, *, definitions=None, schedules=(),
                  instances=(), window: timedelta = timedelta(hours=24)) -> dict:
    """The state after one query of the project at ``last_checked``."""
    defs = definitions or [definition()]
    _, _, state = tracker_.observe(PROJECT, defs, list(schedules), list(instances), last_checked - window,
                                   {}, last_checked)
    return state


def sweep_times(start: datetime, end: datetime, step: timedelta = timedelta(minutes=5)) -> list[datetime]:
    """Sweep instants in [start, end), stepped in elapsed (UTC) time."""
    times = []
    moment = start.astimezone(timezone.utc)
    while moment < end:
        times.append(moment)
        moment += step
    return times


def simulate(tracker_: ScheduleTracker, definitions: list[Definition], schedules: list[Schedule],
             start: datetime, end: datetime, *, instances_at=lambda now: [], state: dict | None = None,
             step: timedelta = timedelta(minutes=5), window: timedelta = timedelta(hours=24)):
    """Sweeps every ``step`` from ``start`` to ``end``, querying the project when the plan says so.

    ``instances_at(now)`` is what DS would list at ``now``. Returns the sweeps as
    ``(now, looked, reason of definition 1)``, every missed and stuck run, and the final state.
    """
    state = {} if state is None else state
    sweeps, missed, stuck = [], [], []
    first_code = definitions[0].code
    for now in sweep_times(start, end, step):
        plan = tracker_.plan(definitions, schedules, state, now)
        looked = PROJECT in plan.projects_to_query
        reason = plan.looks.get(first_code) or plan.skipped.get(first_code)
        sweeps.append((now, looked, reason))
        if looked:
            new_missed, new_stuck, state = tracker_.observe(
                PROJECT, definitions, schedules, instances_at(now), now - window, state, now)
            missed.extend((now, run) for run in new_missed)
            stuck.extend((now, run) for run in new_stuck)
    return sweeps, missed, stuck, state


def look_times(sweeps) -> list[datetime]:
    return [now for now, looked, _ in sweeps if looked]

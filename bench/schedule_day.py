"""A simulated day of schedule-aware sweeps: how many project queries the ScheduleTracker saves, and
what that costs in detection delay.

Pure simulation: the clock is a variable, DS is a list of runs in memory (no HTTP, no sleeps). A fleet
of daily, hourly and manual workflow definitions runs for a warm-up day and a measured day; failures,
fires without an instance and hung instances are injected at random times with a fixed seed. Each
sweep plans with the tracker, "queries" the chosen projects (every instance started in the last
24 hours, as the monitor does) and lets the tracker observe the result.

Printed per ``max_unchecked`` setting (and with the optimisation off): project queries in the
measured day, how many fewer than with the optimisation off, the worst delay between a failure and
the sweep that saw it (which must stay within ``max_unchecked`` plus one interval), failures never
seen, and missed and stuck runs found against those injected.

    python bench/schedule_day.py [--seed N] [--definitions N] [--projects N] [--interval MIN]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ds_monitor import cron  # noqa: E402
from ds_monitor.ds.models import (  # noqa: E402
    COMMAND_RECOVER_FAILED,
    FAILURE,
    ONLINE,
    RUNNING_EXECUTION,
    SUCCESS,
    Definition,
    Instance,
    Schedule,
)
from ds_monitor.schedule import ScheduleTracker, TrackerSettings  # noqa: E402

UTC = timezone.utc
ZONE = "Asia/Shanghai"  # every schedule's timezoneId
TZ = ZoneInfo(ZONE)  # what the DS client's parse_zone makes of it
DAY0 = datetime(2026, 11, 22, tzinfo=UTC)  # warm-up day
DAY1 = DAY0 + timedelta(days=1)  # measured day
END = DAY1 + timedelta(days=1)
TAIL = timedelta(hours=2)  # keep sweeping after the measured day so late detections count
LIST_WINDOW = timedelta(hours=24)
TARGET_FEWER = 0.80

FAILURE_RATE = 0.03
# Runs by hand or by API fail more often, and often within a minute (bad parameters): these are the
# failures only the max_unchecked bound catches, so they decide the worst detection delay.
MANUAL_FAILURE_RATE = 0.25
MISSED_FIRE_RATE = 0.005
HANG_RATE = 0.002


@dataclass(frozen=True)
class Run:
    """One workflow instance as the simulated DS runs it; ``end`` None = hangs forever."""

    id: int
    definition: Definition
    start: datetime
    end: datetime | None
    final_state: str
    schedule_time: datetime | None

    def seen_at(self, now: datetime, recovery: tuple[datetime, datetime] | None) -> Instance:
        """The instance as DS lists it at ``now``; ``recovery`` = (restart, success) once recovered."""
        if recovery is not None and now >= recovery[0]:
            finished = now >= recovery[1]
            state, end = (SUCCESS, recovery[1]) if finished else (RUNNING_EXECUTION, None)
            command = COMMAND_RECOVER_FAILED
        else:
            finished = self.end is not None and self.end <= now
            state = self.final_state if finished else RUNNING_EXECUTION
            end = self.end if finished else None
            command = "SCHEDULER" if self.schedule_time else "START_PROCESS"
        return Instance(id=self.id, definition_code=self.definition.code,
                        name=f"{self.definition.name}-{self.id}", state=state,
                        project_code=self.definition.project_code, start_time=self.start, end_time=end,
                        schedule_time=self.schedule_time, command_type=command)


@dataclass
class Fleet:
    definitions: list[Definition]
    schedules: list[Schedule]
    runs_by_project: dict[int, list[Run]]
    missed_fires: list[tuple[int, datetime]]  # (definition code, fire) without an instance
    kinds: dict[str, int]


def build_fleet(rng: random.Random, n_definitions: int, n_projects: int, hourly_share: float,
                manual_share: float) -> Fleet:
    definitions, schedules = [], []
    runs_by_project: dict[int, list[Run]] = {p: [] for p in range(1, n_projects + 1)}
    missed_fires: list[tuple[int, datetime]] = []
    kinds = {"daily": 0, "hourly": 0, "manual": 0}
    next_id = iter(range(1, 10**9))

    def add_run(definition: Definition, start: datetime, minutes: tuple[float, float],
                schedule_time: datetime | None, failure_rate: float = FAILURE_RATE):
        duration = timedelta(minutes=rng.uniform(*minutes))
        roll = rng.random()
        if roll < HANG_RATE:
            end, state = None, RUNNING_EXECUTION
        elif roll < HANG_RATE + failure_rate:
            end, state = start + duration, FAILURE
        else:
            end, state = start + duration, SUCCESS
        runs_by_project[definition.project_code].append(
            Run(next(next_id), definition, start, end, state, schedule_time))

    for code in range(1, n_definitions + 1):
        project = (code - 1) % n_projects + 1
        definition = Definition(code=code, name=f"wf_{code}", project_code=project)
        definitions.append(definition)
        roll = rng.random()
        if roll < manual_share:
            kinds["manual"] += 1
            for _ in range(2 * rng.randint(1, 6)):  # over both days
                start = DAY0 + timedelta(seconds=rng.uniform(0, (END - DAY0).total_seconds()))
                add_run(definition, start, (0.2, 30), None, MANUAL_FAILURE_RATE)
            continue
        if roll < manual_share + hourly_share:
            kinds["hourly"] += 1
            # Most hourly jobs keep the DS UI's default minute 0.
            crontab, minutes = f"0 {rng.choice([0, 0, 0, 30])} * * * ? *", (1, 10)
        else:
            kinds["daily"] += 1
            crontab, minutes = f"0 {rng.choice(range(0, 60, 5))} {rng.randint(0, 23)} * * ? *", (5, 45)
        schedules.append(Schedule(id=code, definition_code=code, crontab=crontab, timezone_id=ZONE, tz=TZ,
                                  release_state=ONLINE, start_time=DAY0 - timedelta(days=30),
                                  end_time=DAY0 + timedelta(days=3650)))
        for fire in cron.parse(crontab).fires_between(DAY0, END + TAIL, TZ):
            if rng.random() < MISSED_FIRE_RATE:
                missed_fires.append((code, fire))
                continue
            add_run(definition, fire + timedelta(seconds=rng.uniform(1, 20)), minutes, fire)
    return Fleet(definitions, schedules, runs_by_project, missed_fires, kinds)


@dataclass
class Outcome:
    queries: int = 0
    worst_failure_delay: timedelta = timedelta(0)
    failures: int = 0
    undetected: int = 0
    missed_expected: int = 0
    missed_found: int = 0
    worst_missed_delay: timedelta = timedelta(0)
    stuck_expected: int = 0
    stuck_found: int = 0
    plan_seconds: float = 0.0
    sweeps: int = 0


def simulate(fleet: Fleet, settings: TrackerSettings, interval: timedelta, seed: int) -> Outcome:
    rng = random.Random(seed)
    tracker = ScheduleTracker(settings)
    state: dict = {}
    outcome = Outcome()
    failure_seen: dict[int, datetime] = {}
    # The monitor recovers a failure when it sees it; the recovered run succeeds a few minutes later.
    recoveries: dict[int, tuple[datetime, datetime]] = {}
    in_flight: dict[int, int] = {}  # instance id -> definition code, until its success is seen
    missed_seen: dict[tuple[int, datetime], datetime] = {}
    stuck_seen: set[int] = set()
    by_project = {p: [d for d in fleet.definitions if d.project_code == p] for p in fleet.runs_by_project}
    now = DAY0
    while now < END + TAIL:
        started = time.perf_counter()
        plan = tracker.plan(fleet.definitions, fleet.schedules, state, now,
                            busy_definitions=frozenset(in_flight.values()))
        outcome.plan_seconds += time.perf_counter() - started
        outcome.sweeps += 1
        if DAY1 <= now < END:
            outcome.queries += len(plan.projects_to_query)
        for project in sorted(plan.projects_to_query):
            listed = [run.seen_at(now, recoveries.get(run.id)) for run in fleet.runs_by_project[project]
                      if now - LIST_WINDOW <= run.start <= now]
            for inst in listed:
                if inst.state == FAILURE and inst.id not in failure_seen:
                    failure_seen[inst.id] = now
                    restart = now + timedelta(seconds=10)
                    recoveries[inst.id] = (restart, restart + timedelta(minutes=rng.uniform(1, 15)))
                    in_flight[inst.id] = inst.definition_code
                elif inst.state == SUCCESS:
                    in_flight.pop(inst.id, None)
            missed, stuck, state = tracker.observe(project, by_project[project], fleet.schedules, listed,
                                                   now - LIST_WINDOW, state, now)
            for run in missed:
                missed_seen.setdefault((run.definition_code, run.fire_time), now)
            stuck_seen.update(run.instance_id for run in stuck)
        now += interval

    crontabs = {s.definition_code: s.crontab for s in fleet.schedules}
    for runs in fleet.runs_by_project.values():
        for run in runs:
            if run.final_state == FAILURE and run.end is not None and DAY1 <= run.end < END:
                outcome.failures += 1
                seen = failure_seen.get(run.id)
                if seen is None:
                    outcome.undetected += 1
                else:
                    outcome.worst_failure_delay = max(outcome.worst_failure_delay, seen - run.end)
            if run.end is None and run.schedule_time is not None and DAY1 <= run.start < END:
                # Due when the execution window after its start ends or its next fire comes,
                # whichever is first; count it only if that falls inside the simulation.
                crontab = crontabs[run.definition.code]
                next_fire = cron.parse(crontab).next_fire(run.start, TZ)
                due = min(run.start + settings.execution_window, next_fire)
                if due + interval <= END + TAIL:
                    outcome.stuck_expected += 1
                    outcome.stuck_found += run.id in stuck_seen
    for code, fire in fleet.missed_fires:
        if DAY1 <= fire < END:
            outcome.missed_expected += 1
            seen = missed_seen.get((code, fire))
            if seen is not None:
                outcome.missed_found += 1
                outcome.worst_missed_delay = max(outcome.worst_missed_delay,
                                                 seen - (fire + settings.missed_run_grace))
    return outcome


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.3g} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--definitions", type=int, default=200)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--hourly-share", type=float, default=0.25, help="share of hourly definitions")
    parser.add_argument("--manual-share", type=float, default=0.15, help="share of unscheduled definitions")
    parser.add_argument("--interval", type=float, default=5, help="minutes between sweeps")
    parser.add_argument("--max-unchecked", type=float, nargs="+", default=[15, 30, 60],
                        help="max_unchecked_minutes values to compare")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    fleet = build_fleet(rng, args.definitions, args.projects, args.hourly_share, args.manual_share)
    interval = timedelta(minutes=args.interval)
    base = TrackerSettings()  # spec defaults: window 4 h, cooldown 30 min, grace 30 min
    runs = sum(len(r) for r in fleet.runs_by_project.values())
    print(f"fleet: {args.definitions} definitions in {args.projects} projects "
          f"({fleet.kinds['daily']} daily, {fleet.kinds['hourly']} hourly, {fleet.kinds['manual']} manual), "
          f"{runs} runs over two days, seed {args.seed}")
    print(f"sweep every {_minutes(interval)}; execution window {_minutes(base.execution_window)}, "
          f"cooldown {_minutes(base.success_cooldown)}, missed-run grace {_minutes(base.missed_run_grace)}; "
          f"measured day {DAY1.date()} (UTC), after a warm-up day")

    off = simulate(fleet, TrackerSettings(enabled=False), interval, args.seed)
    header = (f"{'max_unchecked':>13} {'queries':>8} {'fewer':>7} {'worst delay':>12} {'limit':>9} "
              f"{'undetected':>10} {'missed runs':>11} {'stuck runs':>10} {'plan ms':>8}")
    print()
    print(header)
    rows = [("off", off, None)]
    for minutes in args.max_unchecked:
        settings = TrackerSettings(max_unchecked=timedelta(minutes=minutes))
        outcome = simulate(fleet, settings, interval, args.seed)
        rows.append((_minutes(settings.max_unchecked), outcome, settings))
    verdicts = []
    for label, outcome, settings in rows:
        fewer = 1 - outcome.queries / off.queries
        limit = settings.max_unchecked + interval if settings else interval
        print(f"{label:>13} {outcome.queries:>8} {fewer:>7.1%} {_minutes(outcome.worst_failure_delay):>12} "
              f"{_minutes(limit):>9} {outcome.undetected:>10} "
              f"{f'{outcome.missed_found}/{outcome.missed_expected}':>11} "
              f"{f'{outcome.stuck_found}/{outcome.stuck_expected}':>10} "
              f"{1000 * outcome.plan_seconds / outcome.sweeps:>8.2f}")
        if settings is not None:
            verdicts.append((label, fewer, outcome.worst_failure_delay <= limit and outcome.undetected == 0))
    print()
    print(f"failures injected in the measured day: {off.failures}; worst missed-run report after its grace: "
          f"{_minutes(max(o.worst_missed_delay for _, o, _ in rows))}")
    for label, fewer, in_bound in verdicts:
        print(f"max_unchecked {label}: {fewer:.1%} fewer project queries "
              f"({'meets' if fewer >= TARGET_FEWER else 'below'} the {TARGET_FEWER:.0%} target), detection "
              f"{'within' if in_bound else 'OUTSIDE'} max_unchecked + one interval")
    return 0 if all(in_bound for _, _, in_bound in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())

"""A simulated day against the DS double: shared by ``bench/schedule_day_e2e.py`` and the day test.

200 definitions in 10 projects (daily and hourly schedules in several zones, some manual-only),
DS's scheduler played by :class:`~bench.scheduler.SimulatedScheduler`, failures
and manual runs at random times from a fixed seed, and the real monitor sweeping every 5 minutes
on an injected clock. Records when each failure became visible and when a sweep first reported it.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from bench.scheduler import SimulatedScheduler
from ds_monitor.app import build_monitor
from ds_monitor.config import Config, DolphinSchedulerConfig, MonitorConfig, RetryConfig
from ds_monitor.simulator import DSSimulator

TOKEN = "day-token"
DAY_START = datetime(2026, 3, 7, 0, 0, tzinfo=timezone.utc)
ZONES = ("Asia/Shanghai", "UTC", "America/New_York", "Europe/Berlin")


@dataclass
class DayResult:
    sweeps: int = 0
    ds_calls: int = 0
    failures: int = 0
    detection_delays: list[timedelta] = field(default_factory=list)
    undetected: list[int] = field(default_factory=list)

    @property
    def worst_delay(self) -> timedelta:
        return max(self.detection_delays, default=timedelta(0))


def run_day(
    *,
    optimise: bool,
    seed: int = 7,
    definitions: int = 200,
    projects: int = 10,
    interval: timedelta = timedelta(minutes=5),
    hours: int = 24,
    failure_rate: float = 0.05,
    manual_runs: int = 40,
    max_unchecked_minutes: float = 15,
) -> DayResult:
    rng = random.Random(seed)
    clock = _Clock(DAY_START)
    result = DayResult()
    with (
        tempfile.TemporaryDirectory() as state_dir,
        DSSimulator(version="3.2", token=TOKEN, clock=clock) as sim,
    ):
        codes = _estate(sim, rng, definitions, projects)
        scheduler = SimulatedScheduler(
            sim, DAY_START, outcome=lambda code, fire: "FAILURE" if rng.random() < failure_rate else "SUCCESS"
        )
        manual = sorted(
            (
                DAY_START + timedelta(seconds=rng.randrange(hours * 3600)),
                rng.choice(codes),
                "FAILURE" if rng.random() < 0.3 else "SUCCESS",
            )
            for _ in range(manual_runs)
        )
        config = Config(
            dolphinscheduler=DolphinSchedulerConfig(api_url=sim.url, token=TOKEN),
            monitor=MonitorConfig(
                check_interval=int(interval.total_seconds()),
                enable_schedule_optimization=optimise,
                max_unchecked_minutes=max_unchecked_minutes,
                max_failures_for_recovery=1000,
            ),
            retry=RetryConfig(auto_recovery=False),
            state_dir=state_dir,
        )
        monitor = build_monitor(config, clock=lambda: clock.now, senders=[])
        first_seen: dict[int, datetime] = {}
        end = DAY_START + timedelta(hours=hours)
        while clock.now < end:
            clock.now += interval
            while manual and manual[0][0] <= clock.now:
                at, code, state = manual.pop(0)
                scheduler.run_manually(code, at, state)
            scheduler.advance(clock.now)
            report = monitor.sweep(clock.now)
            result.sweeps += 1
            result.ds_calls += report.api["calls"]
            for row in report.failed_instances:
                first_seen.setdefault(row.instance_id, clock.now)
        monitor.close()
        for instance_id, _, _, final in scheduler.created:
            if final != "FAILURE":
                continue
            failed_at = sim.store.instances[instance_id].end_time
            if failed_at is None or failed_at > end - interval:
                continue  # ended after the last sweep could see it
            result.failures += 1
            if instance_id in first_seen:
                result.detection_delays.append(first_seen[instance_id] - failed_at)
            else:
                result.undetected.append(instance_id)
    return result


class _Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _estate(sim: DSSimulator, rng: random.Random, definitions: int, projects: int) -> list[int]:
    codes = []
    project_codes = [sim.add_project(f"project-{p}") for p in range(projects)]
    for n in range(definitions):
        code = sim.add_definition(project_codes[n % projects], f"wf-{n:03d}")
        codes.append(code)
        kind = rng.random()
        zone = rng.choice(ZONES)
        if kind < 0.6:
            sim.add_schedule(code, f"0 {rng.randrange(60)} {rng.randrange(24)} * * ? *", timezone_id=zone)
        elif kind < 0.9:
            sim.add_schedule(code, f"0 {rng.randrange(60)} * * * ? *", timezone_id=zone)
    return codes

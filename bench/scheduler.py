"""The simulated DS scheduler: starts workflow instances at the fire times of online schedules.

DS's own Quartz scheduler creates one instance per fire (``scheduleTime`` = the fire time,
``commandType`` SCHEDULER) while the schedule is online and between its start and end time. This
plays that part for a simulated day: the caller advances a clock, and each fire that has passed
becomes an instance that runs for a while and then ends the way ``outcome`` says. ``misfire`` lets
a test drop a fire, as Quartz does under load, to produce a missed run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ds_monitor import cron
from ds_monitor.errors import ConfigError
from ds_monitor.simulator import DSSimulator
from ds_monitor.zones import parse_zone

Outcome = Callable[[int, datetime], str]


@dataclass
class _Running:
    instance_id: int
    ends_at: datetime
    final_state: str


class SimulatedScheduler:
    """Turns passed fire times into instances; ``advance(now)`` is called once per simulated step."""

    def __init__(
        self,
        sim: DSSimulator,
        start: datetime,
        *,
        outcome: Outcome,
        run_for: timedelta = timedelta(minutes=3),
        start_delay: timedelta = timedelta(seconds=5),
        misfire: Callable[[int, datetime], bool] = lambda code, fire: False,
    ):
        self.sim = sim
        self.outcome = outcome
        self.run_for = run_for
        self.start_delay = start_delay
        self.misfire = misfire
        self.last = start
        self.running: list[_Running] = []
        self.created: list[
            tuple[int, int, datetime, str]
        ] = []  # (instance id, definition, fire, final state)

    def advance(self, now: datetime) -> None:
        """Start the instances of every fire in (last advance, now] and end those whose run is over."""
        for schedule in list(self.sim.store.schedules.values()):
            if schedule.release_state != "ONLINE":
                continue
            try:
                expression = cron.parse(schedule.crontab)
            except ConfigError:
                continue  # a crontab Quartz refuses never fires
            # the simulator's store only takes zones ZoneInfo knows, so this parses
            fires = list(expression.fires_between(self.last, now, parse_zone(schedule.timezone_id)))
            for fire in fires:
                if not schedule.start_time <= fire <= schedule.end_time:
                    continue
                if self.misfire(schedule.definition_code, fire):
                    continue
                self._start(schedule.definition_code, fire)
        self._finish(now)
        self.last = now

    def run_manually(self, definition_code: int, at: datetime, final_state: str) -> int:
        """A manual (or API) run started at ``at``: no ``scheduleTime``."""
        instance = self.sim.add_instance(
            definition_code, state="RUNNING_EXECUTION", start_time=at, command_type="START_PROCESS"
        )
        self.running.append(_Running(instance, at + self.run_for, final_state))
        self.created.append((instance, definition_code, at, final_state))
        return instance

    def _start(self, definition_code: int, fire: datetime) -> None:
        final = self.outcome(definition_code, fire)
        started = fire + self.start_delay
        instance = self.sim.add_instance(
            definition_code,
            state="RUNNING_EXECUTION",
            start_time=started,
            schedule_time=fire,
            command_type="SCHEDULER",
        )
        self.running.append(_Running(instance, started + self.run_for, final))
        self.created.append((instance, definition_code, fire, final))

    def _finish(self, now: datetime) -> None:
        still = []
        for run in self.running:
            if run.ends_at <= now:
                self.sim.finish_instance(run.instance_id, run.final_state, end_time=run.ends_at)
            else:
                still.append(run)
        self.running = still

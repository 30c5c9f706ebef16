"""Typed DolphinScheduler objects, parsed once at the client's edge.

Nothing past the DS client sees a raw dict or a date string: every datetime here is timezone-aware
(DS prints naive wall-clock times in the token user's zone; the client attaches that zone).
States are compared by name, never by number: DS numbers mean different things across versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

# Workflow instance states by name (ds-api.md section 5.1).
SUBMITTED_SUCCESS = "SUBMITTED_SUCCESS"
RUNNING_EXECUTION = "RUNNING_EXECUTION"
READY_PAUSE = "READY_PAUSE"
PAUSE = "PAUSE"
READY_STOP = "READY_STOP"
STOP = "STOP"
FAILURE = "FAILURE"
SUCCESS = "SUCCESS"
NEED_FAULT_TOLERANCE = "NEED_FAULT_TOLERANCE"
KILL = "KILL"
FORCED_SUCCESS = "FORCED_SUCCESS"

# Reported as failures (spec section 3); only FAILURE is ever recovered.
REPORTED_FAILURE_STATES = frozenset({FAILURE, STOP, KILL, NEED_FAULT_TOLERANCE})
RECOVERABLE_STATES = frozenset({FAILURE})
SUCCESS_STATES = frozenset({SUCCESS, FORCED_SUCCESS})
# Not finished yet: submitted, queued, running, waiting, being paused or stopped.
ACTIVE_STATES = frozenset(
    {
        SUBMITTED_SUCCESS,
        RUNNING_EXECUTION,
        READY_PAUSE,
        READY_STOP,
        "WAITING_THREAD",
        "WAITING_DEPEND",
        "DELAY_EXECUTION",
        "SERIAL_WAIT",
        "READY_BLOCK",
        "DISPATCH",
        "WAIT_TO_RUN",
        "FAILOVER",
    }
)

# commandType values that matter to the monitor.
COMMAND_COMPLEMENT_DATA = "COMPLEMENT_DATA"
COMMAND_RECOVER_FAILED = "START_FAILURE_TASK_PROCESS"

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"


@dataclass(frozen=True)
class Project:
    code: int
    name: str


@dataclass(frozen=True)
class Definition:
    code: int
    name: str
    project_code: int
    version: int = 1
    release_state: str = ONLINE
    update_time: datetime | None = None


@dataclass(frozen=True)
class Schedule:
    """A cron schedule. ``start_time``/``end_time`` are aware, in ``timezone_id`` (ds-api.md 7.2).

    ``tz`` is ``timezone_id`` parsed at the client's edge; None when DS sent an empty or unknown
    zone (DS then fires in its master's zone, which the monitor cannot know).
    """

    id: int
    definition_code: int
    crontab: str
    timezone_id: str
    release_state: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    tz: tzinfo | None = None
    # When the schedule was created and last edited (DS does not touch updateTime when a schedule is
    # only switched online or offline); None when DS did not say.
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def online(self) -> bool:
        return self.release_state == ONLINE


@dataclass(frozen=True)
class Instance:
    """A workflow instance. Dates are aware; ``schedule_time`` is None for manual runs."""

    id: int
    definition_code: int
    name: str
    state: str
    project_code: int = 0
    definition_version: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    schedule_time: datetime | None = None
    run_times: int = 1
    command_type: str = ""
    host: str = ""

    @property
    def is_backfill(self) -> bool:
        return self.command_type == COMMAND_COMPLEMENT_DATA


# Task states that mean "this task failed" (ds-api.md 5.2; KILL is separate but ends a run too).
FAILED_TASK_STATES = frozenset({FAILURE, NEED_FAULT_TOLERANCE, KILL})


@dataclass(frozen=True)
class TaskInstance:
    """One task run of a workflow instance (the latest attempt: DS lists only flag=YES rows).

    ``host`` is the worker (``""`` before dispatch); ``retries``/``max_retries`` are DS's
    ``retryTimes``/``maxRetryTimes``; ``task_code`` names the task definition.
    """

    id: int
    name: str
    task_type: str
    state: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    host: str = ""
    retries: int = 0
    max_retries: int = 0
    task_code: int = 0

    @property
    def failed(self) -> bool:
        return self.state in FAILED_TASK_STATES


@dataclass(frozen=True)
class TaskLog:
    """One page of a task's worker log: its lines and how many lines DS counted."""

    lines: tuple[str, ...]
    line_count: int

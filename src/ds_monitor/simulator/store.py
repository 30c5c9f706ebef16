"""The simulated DolphinScheduler estate: records, indexes, and the DS semantics that change them.

The store knows nothing about HTTP or JSON. It answers queries with records (already filtered and
ordered the way the DS mappers order them) and performs the execute actions of ds-api.md 4.7,
raising :class:`~.statuses.BusinessError` exactly where the emulated version refuses. Queued
commands model ``t_ds_command``; :meth:`Store.master_pickup` plays the master that consumes them.

Thread safety: every public method takes ``self.lock`` (re-entrant), and the HTTP layer holds the
same lock while it renders, so a response is one consistent snapshot.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from .statuses import TEXTS, BusinessError, internal_error, refuse
from .versions import (
    COMMAND_ACTIONS,
    REFUSE_50006,
    REFUSE_50015,
    Version,
)

Clock = Callable[[], datetime]

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
MASTER_HOST = "127.0.0.1:5678"
# The one DS user behind every token; an admin unless projects are denied to it.
USER_ID = 1
USER_NAME = "admin"
WORKER_HOST = "127.0.0.1:1234"
# Task states START_FAILURE_TASK_PROCESS re-runs (ds-api.md 4.7).
_RERUN_TASK_STATES = frozenset({"FAILURE", "NEED_FAULT_TOLERANCE", "KILL"})
# Workflow end states a task can share when the run ends (a task has no READY_* or BLOCK states).
_TASK_END_STATES = frozenset({"SUCCESS", "FAILURE", "STOP", "KILL", "FORCED_SUCCESS", "NEED_FAULT_TOLERANCE"})
# dev's ServiceException wording per refused action (ds-api.md 4.7, 3.3 column).
_DEV_REFUSAL_PHRASE = {
    "START_FAILURE_TASK_PROCESS": "can not be recovered",
    "REPEAT_RUNNING": "cannot repeat running",
    "RECOVER_SUSPENDED_PROCESS": "cannot recovery",
    "STOP": "can not stop",
    "PAUSE": "can not pause",
}


@dataclass
class ProjectRecord:
    code: int
    name: str
    id: int
    create_time: datetime
    description: str = ""


@dataclass
class DefinitionRecord:
    code: int
    name: str
    id: int
    project_code: int
    version: int
    release_state: str
    create_time: datetime
    update_time: datetime
    description: str = ""


@dataclass
class ScheduleRecord:
    """``start_time``/``end_time`` are the instants the user meant, read as wall-clock in ``timezone_id``."""

    id: int
    definition_code: int
    project_code: int
    crontab: str
    timezone_id: str
    start_time: datetime
    end_time: datetime
    release_state: str
    create_time: datetime
    update_time: datetime


@dataclass
class InstanceRecord:
    id: int
    definition_code: int
    project_code: int
    definition_version: int
    name: str
    state: str
    start_time: datetime
    end_time: datetime | None
    schedule_time: datetime | None
    command_type: str
    run_times: int
    host: str
    executor_name: str
    is_sub_process: bool
    restart_time: datetime | None = None
    queued_commands: list[str] = field(default_factory=list)
    consumed_commands: list[str] = field(default_factory=list)


@dataclass
class TaskRecord:
    id: int
    instance_id: int
    name: str
    task_code: int
    task_type: str
    state: str
    submit_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    host: str | None  # None: not dispatched to a worker yet (DS stores a null host)
    retry_times: int = 0
    max_retry_times: int = 0
    valid: bool = True  # DS flag=YES; superseded attempts are flag=NO and never listed
    log_lines: list[str] = field(default_factory=list)  # what the worker's log file holds


@dataclass
class Command:
    """A row of ``t_ds_command``. ``submitted`` is set when 3.3 already moved the instance on."""

    instance_id: int
    command_type: str
    submitted: bool = False


@dataclass(frozen=True)
class StartWindow:
    """A start-time filter for the instance list, already reduced to this version's rules."""

    lower: datetime | None = None
    upper: datetime | None = None
    lower_exclusive: bool = False
    matches_nothing: bool = False

    def contains(self, moment: datetime) -> bool:
        if self.matches_nothing:
            return False
        if self.lower is not None and (moment <= self.lower if self.lower_exclusive else moment < self.lower):
            return False
        return self.upper is None or moment <= self.upper


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


class Store:
    """In-memory DS estate for one emulated version."""

    def __init__(self, version: Version, clock: Clock, server_zone: ZoneInfo) -> None:
        self.version = version
        self.clock = clock
        self.server_zone = server_zone
        self.user_zone: ZoneInfo | None = None
        self.master_available = True
        self.denied_projects: set[int] = set()
        self.lock = threading.RLock()
        self.tokens: dict[str, datetime | None] = {}
        self.projects: dict[int, ProjectRecord] = {}
        self.definitions: dict[int, DefinitionRecord] = {}
        self.schedules: dict[int, ScheduleRecord] = {}
        self.instances: dict[int, InstanceRecord] = {}
        self.tasks: dict[int, TaskRecord] = {}
        self.commands: list[Command] = []
        self._definitions_by_project: dict[int, list[int]] = {}
        self._schedule_by_definition: dict[int, int] = {}
        self._schedules_by_project: dict[int, list[int]] = {}
        self._instances_by_project: dict[int, list[int]] = {}
        self._instances_by_definition: dict[int, list[int]] = {}
        self._tasks_by_instance: dict[int, list[int]] = {}
        self._pending_stops: list[int] = []
        # 13-digit codes like DS's snowflake codes; plain counters for database ids.
        self._codes = itertools.count(1_234_567_890_123)
        self._row_ids = {kind: itertools.count(1) for kind in ("project", "definition", "schedule", "task")}
        self._instance_ids = itertools.count(1)

    # ----------------------------------------------------------------- zones and tokens

    @property
    def zone(self) -> ZoneInfo:
        """The zone DS formats and parses dates in: the token user's, else the server JVM's."""
        return self.user_zone or self.server_zone

    def add_token(self, token: str, expires_at: datetime | None = None) -> None:
        _require_aware("expires_at", expires_at)
        with self.lock:
            self.tokens[token] = expires_at

    def expire_token(self, token: str) -> None:
        with self.lock:
            if token not in self.tokens:
                raise KeyError(f"unknown token {token!r}")
            self.tokens[token] = self.clock()

    def token_valid(self, token: str | None) -> bool:
        """``queryUserByToken``: the token exists and ``expire_time > now``."""
        with self.lock:
            if token is None or token not in self.tokens:
                return False
            expires = self.tokens[token]
            return expires is None or expires > self.clock()

    # ----------------------------------------------------------------- building the estate

    def add_project(self, name: str, code: int | None = None) -> int:
        with self.lock:
            code = next(self._codes) if code is None else code
            if code in self.projects:
                raise ValueError(f"project code {code} already exists")
            self.projects[code] = ProjectRecord(code, name, next(self._row_ids["project"]), self.clock())
            self._definitions_by_project[code] = []
            self._schedules_by_project[code] = []
            self._instances_by_project[code] = []
            return code

    def add_definition(
        self,
        project_code: int,
        name: str,
        *,
        release_state: str = ONLINE,
        version: int = 1,
        code: int | None = None,
        update_time: datetime | None = None,
    ) -> int:
        _require_aware("update_time", update_time)
        if release_state not in (ONLINE, OFFLINE):
            raise ValueError(f"release_state must be ONLINE or OFFLINE, got {release_state!r}")
        with self.lock:
            self._project(project_code)
            code = next(self._codes) if code is None else code
            if code in self.definitions:
                raise ValueError(f"definition code {code} already exists")
            updated = update_time or self.clock()
            self.definitions[code] = DefinitionRecord(
                code, name, next(self._row_ids["definition"]), project_code, version, release_state,
                create_time=updated, update_time=updated,
            )  # fmt: skip
            self._definitions_by_project[project_code].append(code)
            self._instances_by_definition[code] = []
            return code

    def add_schedule(
        self,
        definition_code: int,
        crontab: str,
        *,
        timezone_id: str,
        start_time: datetime | None,
        end_time: datetime | None,
        release_state: str,
        create_time: datetime | None = None,
        update_time: datetime | None = None,
    ) -> int:
        _require_aware("start_time", start_time)
        _require_aware("end_time", end_time)
        _require_aware("create_time", create_time)
        _require_aware("update_time", update_time)
        if len(crontab.split()) not in (6, 7):
            raise ValueError(f"crontab {crontab!r} is not a Quartz expression (6 or 7 fields)")
        zone = ZoneInfo(timezone_id)
        with self.lock:
            definition = self._definition(definition_code)
            if definition_code in self._schedule_by_definition:
                raise ValueError(f"definition {definition_code} already has a schedule (DS allows one)")
            schedule = ScheduleRecord(
                id=next(self._row_ids["schedule"]),
                definition_code=definition_code,
                project_code=definition.project_code,
                crontab=crontab,
                timezone_id=timezone_id,
                start_time=start_time or datetime(2024, 1, 1, tzinfo=zone),
                end_time=end_time or datetime(2124, 1, 1, tzinfo=zone),
                release_state=release_state,
                create_time=create_time or self.clock(),
                update_time=update_time or create_time or self.clock(),
            )
            self.schedules[schedule.id] = schedule
            self._schedule_by_definition[definition_code] = schedule.id
            self._schedules_by_project[definition.project_code].append(schedule.id)
            return schedule.id

    def add_instance(
        self,
        definition_code: int,
        *,
        state: str,
        start_time: datetime,
        end_time: datetime | None,
        schedule_time: datetime | None,
        command_type: str,
        run_times: int,
        name: str | None,
        host: str,
        executor_name: str,
        is_sub_process: bool,
        instance_id: int | None,
    ) -> int:
        for label, value in (
            ("start_time", start_time),
            ("end_time", end_time),
            ("schedule_time", schedule_time),
        ):
            _require_aware(label, value)
        self._check_state(state)
        with self.lock:
            definition = self._definition(definition_code)
            instance_id = next(self._instance_ids) if instance_id is None else instance_id
            if instance_id in self.instances:
                raise ValueError(f"instance id {instance_id} already exists")
            stamp = start_time.astimezone(self.server_zone).strftime("%Y%m%d%H%M%S%f")[:17]
            self.instances[instance_id] = InstanceRecord(
                id=instance_id,
                definition_code=definition_code,
                project_code=definition.project_code,
                definition_version=definition.version,
                name=name or f"{definition.name}-{definition.version}-{stamp}",
                state=state,
                start_time=start_time,
                end_time=end_time,
                schedule_time=schedule_time,
                command_type=command_type,
                run_times=run_times,
                host=host,
                executor_name=executor_name,
                is_sub_process=is_sub_process,
            )
            self._instances_by_project[definition.project_code].append(instance_id)
            self._instances_by_definition[definition_code].append(instance_id)
            self._tasks_by_instance[instance_id] = []
            return instance_id

    def add_task(
        self,
        instance_id: int,
        name: str,
        *,
        state: str,
        task_type: str,
        start_time: datetime | None,
        end_time: datetime | None,
        host: str | None,
        retry_times: int = 0,
        max_retry_times: int = 0,
        log: str = "",
    ) -> int:
        _require_aware("start_time", start_time)
        _require_aware("end_time", end_time)
        with self.lock:
            self._instance(instance_id)
            task = TaskRecord(
                id=next(self._row_ids["task"]),
                instance_id=instance_id,
                name=name,
                task_code=next(self._codes),
                task_type=task_type,
                state=state,
                submit_time=start_time,
                start_time=start_time,
                end_time=end_time,
                host=host,
                retry_times=retry_times,
                max_retry_times=max_retry_times,
                log_lines=log.splitlines(),
            )
            self.tasks[task.id] = task
            self._tasks_by_instance[instance_id].append(task.id)
            return task.id

    def set_task_log(self, task_id: int, log: str) -> None:
        """Replace what the worker's log file of ``task_id`` holds."""
        with self.lock:
            self._task(task_id).log_lines = log.splitlines()

    def set_instance_state(self, instance_id: int, state: str, end_time: datetime | None = None) -> None:
        _require_aware("end_time", end_time)
        self._check_state(state)
        with self.lock:
            instance = self._instance(instance_id)
            instance.state = state
            if end_time is not None:
                instance.end_time = end_time

    def set_definition_release_state(self, definition_code: int, state: str) -> None:
        if state not in (ONLINE, OFFLINE):
            raise ValueError(f"release state must be ONLINE or OFFLINE, got {state!r}")
        with self.lock:
            self._definition(definition_code).release_state = state

    def snapshot(self, instance_id: int) -> dict:
        """A copy of one instance's fields as the test sees them (aware datetimes, not strings)."""
        with self.lock:
            i = self._instance(instance_id)
            return {
                "id": i.id,
                "name": i.name,
                "definition_code": i.definition_code,
                "project_code": i.project_code,
                "state": i.state,
                "run_times": i.run_times,
                "command_type": i.command_type,
                "start_time": i.start_time,
                "end_time": i.end_time,
                "restart_time": i.restart_time,
                "schedule_time": i.schedule_time,
                "host": i.host,
                "queued_commands": list(i.queued_commands),
                "consumed_commands": list(i.consumed_commands),
            }

    # ----------------------------------------------------------------- queries (API side)

    def require_project(
        self, code: int, missing_code: int, *, raw_permission_text: bool = False
    ) -> ProjectRecord:
        """The project if the user may use it; else 30002 or the endpoint's "missing" code (10018/10190)."""
        project = self.projects.get(code)
        if project is None:
            raise refuse(self.version, missing_code, "")  # 10018 prints an empty {0}
        if code in self.denied_projects:
            if raw_permission_text:
                raise BusinessError(30002, TEXTS[30002])
            raise refuse(self.version, 30002, USER_NAME, code)
        return project

    def search_projects(self, search: str | None) -> list[ProjectRecord]:
        """Projects the user may see, newest first."""
        rows = [
            p
            for p in self.projects.values()
            if p.code not in self.denied_projects and _like(search, p.name, p.description)
        ]
        return sorted(rows, key=lambda p: (p.create_time, p.id), reverse=True)

    def definition_count(self, project_code: int) -> int:
        return len(self._definitions_by_project[project_code])

    def running_count(self, project_code: int) -> int:
        return sum(
            1
            for i in self._instances_by_project[project_code]
            if self.instances[i].state == "RUNNING_EXECUTION"
        )

    def project_definitions(self, project_code: int) -> list[DefinitionRecord]:
        return [self.definitions[c] for c in self._definitions_by_project[project_code]]

    def search_definitions(
        self, project_code: int, search: str | None, *, user_id: int | None = None
    ) -> list[DefinitionRecord]:
        """The paged list's rows: ``update_time desc`` (3.0: schedule release state first)."""
        if user_id and user_id != USER_ID:
            return []  # every definition belongs to the one simulated user
        rows = [d for d in self.project_definitions(project_code) if _like(search, d.name, d.description)]
        if self.version.is_30:
            rank = {ONLINE: 1, OFFLINE: 0}

            def key(d: DefinitionRecord) -> tuple:
                schedule = self.schedule_of(d.code)
                return (rank[schedule.release_state] if schedule else -1, d.update_time, d.id)

            return sorted(rows, key=key, reverse=True)
        return sorted(rows, key=lambda d: (d.update_time, d.id), reverse=True)

    def schedule_of(self, definition_code: int) -> ScheduleRecord | None:
        schedule_id = self._schedule_by_definition.get(definition_code)
        return None if schedule_id is None else self.schedules[schedule_id]

    def project_definition(self, project_code: int, code: int) -> DefinitionRecord:
        definition = self.definitions.get(code)
        if definition is None or definition.project_code != project_code:
            raise refuse(self.version, 50003, code)
        return definition

    def search_schedules(
        self, project_code: int, definition_code: int | None, search: str | None
    ) -> list[ScheduleRecord]:
        if definition_code:
            self.project_definition(project_code, definition_code)
            schedule = self.schedule_of(definition_code)
            candidates = [schedule] if schedule else []
        else:
            candidates = self.project_schedules(project_code)
        rows = [s for s in candidates if _like(search, self.definitions[s.definition_code].name)]
        return sorted(rows, key=lambda s: (s.create_time, s.id), reverse=True)

    def project_schedules(self, project_code: int) -> list[ScheduleRecord]:
        return [self.schedules[s] for s in self._schedules_by_project[project_code]]

    def search_instances(
        self,
        project_code: int,
        *,
        definition_code: int,
        search: str | None,
        state: str | None,
        host: str | None,
        executor_name: str | None,
        window: StartWindow,
    ) -> list[InstanceRecord]:
        """``queryProcessInstanceListPaging``: top-level only, ``start_time desc, end_time desc``."""
        if definition_code:
            ids = [
                i
                for i in self._instances_by_definition.get(definition_code, ())
                if self.instances[i].project_code == project_code
            ]
        else:
            ids = self._instances_by_project[project_code]
        rows = []
        for instance_id in ids:
            i = self.instances[instance_id]
            if (
                not i.is_sub_process
                and (state is None or i.state == state)
                and _like(search, i.name)
                and _like(host, i.host)
                and (executor_name is None or i.executor_name == executor_name)
                and window.contains(i.start_time)
            ):
                rows.append(i)
        return sorted(rows, key=lambda i: (i.start_time, i.end_time or _EPOCH, i.id), reverse=True)

    def project_instance(self, project_code: int, instance_id: int, *, missing_code: int) -> InstanceRecord:
        """One instance seen through project ``project_code`` (ds-api.md 4.5/4.6 error codes)."""
        instance = self.instances.get(instance_id)
        if instance is None:
            if missing_code == 50001:
                raise refuse(self.version, 50001, instance_id)
            raise refuse(self.version, missing_code)
        if instance.project_code != project_code:
            raise refuse(self.version, 50003, instance_id)
        return instance

    def task_log(self, task_id: int, skip: int, limit: int) -> tuple[TaskRecord, list[str]]:
        """``LoggerServiceImpl.queryLog``: 10008 for an unknown task, 10191 before it has a worker."""
        task = self.tasks.get(task_id)
        if task is None:
            raise refuse(self.version, 10008)
        if task.host is None:
            raise refuse(self.version, 10191)
        return task, task.log_lines[max(skip, 0) : max(skip, 0) + max(limit, 0)]

    def valid_tasks(self, instance_id: int) -> list[TaskRecord]:
        """``findValidTaskListByProcessId``: flag=YES only, ``start_time desc``."""
        rows = [self.tasks[t] for t in self._tasks_by_instance[instance_id] if self.tasks[t].valid]
        return sorted(rows, key=lambda t: (t.start_time or _EPOCH, t.id), reverse=True)

    # ----------------------------------------------------------------- execute and the master

    def execute(self, project_code: int, instance_id: int, execute_type: str) -> None:
        """``POST /executors/execute`` after parameter parsing: checks in DS order, then acts."""
        with self.lock:
            v = self.version
            self.require_project(project_code, 10190)
            if not v.workflow_family and not self.master_available:
                raise refuse(v, 10025)
            instance = self.instances.get(instance_id)
            if instance is None:
                raise refuse(v, 50001, instance_id)
            self._check_definition_for_execute(project_code, instance, execute_type)
            if instance.state not in v.allowed_from.get(execute_type, frozenset()):
                raise self._state_refusal(instance, execute_type)
            if v.workflow_family and not self.master_available:
                raise internal_error("no master server available")
            if execute_type in COMMAND_ACTIONS:
                self._queue_command(instance, execute_type)
            else:
                self._request_stop_or_pause(instance, execute_type)

    def master_pickup(self) -> int:
        """Let the master consume every queued command; settle requested stops and pauses.

        Returns the number of commands consumed (stop/pause settling is not counted).
        """
        with self.lock:
            now = self.clock()
            queued, self.commands = self.commands, []
            for command in queued:
                self._run_command(command, now)
            pending, self._pending_stops = self._pending_stops, []
            for instance_id in pending:
                instance = self.instances[instance_id]
                settled = {"READY_STOP": "STOP", "READY_PAUSE": "PAUSE"}.get(instance.state)
                if settled is not None:
                    instance.state = settled
                    instance.end_time = now
            return len(queued)

    def finish_instance(
        self, instance_id: int, state: str, end_time: datetime | None, task_log: str | None = None
    ) -> None:
        """End a run; its unfinished tasks end in the same state (``task_log`` becomes their log)."""
        _require_aware("end_time", end_time)
        self._check_state(state)
        with self.lock:
            instance = self._instance(instance_id)
            instance.state = state
            instance.end_time = end_time or self.clock()
            for task_id in self._tasks_by_instance[instance_id]:
                task = self.tasks[task_id]
                if task.valid and task.end_time is None:
                    task.state = state if state in _TASK_END_STATES else task.state
                    task.end_time = instance.end_time
                    if task_log is not None:
                        task.log_lines = task_log.splitlines()

    # ----------------------------------------------------------------- internals

    def _check_definition_for_execute(self, project_code: int, instance: InstanceRecord, action: str) -> None:
        v = self.version
        if v.workflow_family:
            return  # dev checks the instance's own project only
        if v.refusal == REFUSE_50015:
            if instance.project_code != project_code:
                raise refuse(v, 50015)
            return
        if action in ("STOP", "PAUSE"):
            return
        definition = self.definitions.get(instance.definition_code)
        if definition is None or definition.project_code != project_code:
            raise refuse(v, 50003, instance.definition_code)
        if v.offline_definition_blocks and definition.release_state != ONLINE:
            raise refuse(v, 50004, definition.code, instance.definition_version)

    def _state_refusal(self, instance: InstanceRecord, action: str) -> BusinessError:
        v = self.version
        if v.refusal == REFUSE_50006:
            return refuse(v, 50006, instance.name, v.state_text(instance.state), action)
        if v.refusal == REFUSE_50015:
            return refuse(v, 50015)
        phrase = _DEV_REFUSAL_PHRASE.get(action)
        if phrase is None:
            return internal_error(f"Unsupported executeType: {action}")
        return internal_error(f"The workflow instance: {instance.name} status is {instance.state}, {phrase}")

    def _queue_command(self, instance: InstanceRecord, action: str) -> None:
        v = self.version
        if v.command_duplicate_guard and instance.queued_commands:
            # String.valueOf(definitionCode) in DS: no MessageFormat grouping here.
            raise refuse(v, 50009, str(instance.definition_code))
        command = Command(instance.id, action)
        if v.submits_synchronously and action != "REPEAT_RUNNING":
            instance.state = "SUBMITTED_SUCCESS"
            instance.command_type = action
            instance.run_times += 1
            instance.restart_time = self.clock()
            instance.end_time = None
            command.submitted = True
        self.commands.append(command)
        instance.queued_commands.append(action)

    def _request_stop_or_pause(self, instance: InstanceRecord, action: str) -> None:
        # dev writes STOP/PAUSE straight into the row for instances no master is running yet.
        direct = {"STOP": ("SERIAL_WAIT", "WAIT_TO_RUN"), "PAUSE": ("SERIAL_WAIT",)}[action]
        if self.version.workflow_family and instance.state in direct:
            instance.state = action
            instance.end_time = self.clock()
            return
        instance.state = "READY_STOP" if action == "STOP" else "READY_PAUSE"
        self._pending_stops.append(instance.id)

    def _run_command(self, command: Command, now: datetime) -> None:
        instance = self.instances[command.instance_id]
        instance.queued_commands.remove(command.command_type)
        instance.consumed_commands.append(command.command_type)
        instance.state = "RUNNING_EXECUTION"
        instance.host = MASTER_HOST
        if command.submitted:
            return  # 3.3 already counted the run when the API call was answered
        instance.command_type = command.command_type
        instance.run_times += 1
        instance.restart_time = now
        if command.command_type == "REPEAT_RUNNING":
            instance.start_time = now
            instance.end_time = None
        elif command.command_type == "START_FAILURE_TASK_PROCESS":
            self._restart_failed_tasks(instance, now)

    def _restart_failed_tasks(self, instance: InstanceRecord, now: datetime) -> None:
        rerun = _RERUN_TASK_STATES | ({"PAUSE"} if self.version.restarts_paused_tasks else set())
        for task_id in list(self._tasks_by_instance[instance.id]):
            task = self.tasks[task_id]
            if task.valid and task.state in rerun:
                task.valid = False
                retry = self.add_task(
                    instance.id, task.name, state="SUBMITTED_SUCCESS", task_type=task.task_type,
                    start_time=now, end_time=None, host=task.host,
                )  # fmt: skip
                self.tasks[retry].task_code = task.task_code

    def _check_state(self, state: str) -> None:
        if state not in self.version.states:
            raise ValueError(f"state {state!r} does not exist in DS {self.version.name}")

    def _project(self, code: int) -> ProjectRecord:
        try:
            return self.projects[code]
        except KeyError:
            raise KeyError(f"no project with code {code}") from None

    def _definition(self, code: int) -> DefinitionRecord:
        try:
            return self.definitions[code]
        except KeyError:
            raise KeyError(f"no definition with code {code}") from None

    def _task(self, task_id: int) -> TaskRecord:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise KeyError(f"no task with id {task_id}") from None

    def _instance(self, instance_id: int) -> InstanceRecord:
        try:
            return self.instances[instance_id]
        except KeyError:
            raise KeyError(f"no instance with id {instance_id}") from None


_EPOCH = datetime.fromtimestamp(0, ZoneInfo("UTC"))


def _like(needle: str | None, *haystacks: str) -> bool:
    """SQL ``LIKE %needle%`` under MySQL's default case-insensitive collation; empty matches all."""
    if not needle:
        return True
    lowered = needle.lower()
    return any(lowered in h.lower() for h in haystacks)

"""The DolphinScheduler wire language: paths, parameter and field names per API family, date format.

DS 3.0-3.2 speak the "process" family (``process-instances``, ``processDefineCode``, ...); 3.3
renamed everything to "workflow" (ds-api.md section 1). This module is the only place that knows
either vocabulary, and the only place that turns a raw DS JSON object into a typed model
(ds_monitor.ds.models), so nothing past the client sees a raw dict or a date string.

Date rules (ds-api.md 6 and 7.2): DS prints naive ``yyyy-MM-dd HH:mm:ss`` in the token user's
zone and reads date filters in that same zone; schedule start/end times are wall-clock in the
schedule's own ``timezoneId``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from typing import Any

from ds_monitor.ds.models import Definition, Instance, Project, Schedule, TaskInstance, TaskLog
from ds_monitor.errors import DSProtocolError
from ds_monitor.zones import parse_zone

SUPPORTED_VERSIONS = ("3.0", "3.1", "3.2", "3.3")
# What "auto" reports for the process family: one probe cannot tell 3.0-3.2 apart, and the client
# only uses behaviour that is valid on all three.
PROCESS_FAMILY_DEFAULT_VERSION = "3.2"
WORKFLOW_FAMILY_VERSION = "3.3"

DS_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# The widest window DS's MySQL DATETIME columns hold; stands in for an open bound, because 3.0.x
# applies the date filter only when both bounds are sent (ds-api.md 4.4).
OPEN_LOWER_BOUND = "1970-01-01 00:00:00"
OPEN_UPPER_BOUND = "9999-12-31 23:59:59"
# 3.0 silently caps pages at 500 rows and shrinks the offset with it (ds-api.md 3).
PAGE_SIZE = 100

# Paths shared by every version (below the ``/dolphinscheduler`` context path in api_url).
USER_INFO_PATH = "/users/get-user-info"
PROJECTS_PATH = "/projects"
SCHEDULES_LIST_PATH = "/projects/{pc}/schedules/list"
EXECUTE_PATH = "/projects/{pc}/executors/execute"
# Task log (ds-api.md 4.8): the same path and parameters on 3.0 through dev.
TASK_LOG_PATH = "/log/detail"
# The web UI (vue-router, web history below /dolphinscheduler/ui/) shows an instance at this route
# in 3.0 through dev; ``code`` (the definition code) lets the page load the DAG directly.
UI_INSTANCE_ROUTE = "/projects/{pc}/workflow/instances/{id}"
# The task-instance list of the UI, filtered to one workflow instance and task name: 3.2 reads
# ``processInstanceId`` and ``taskName`` from the query, dev ``workflowInstanceId`` and ``taskName``
# (``views/projects/task/instance/use-table.ts``); 3.0/3.1 open the unfiltered list.
UI_TASK_ROUTE = "/projects/{pc}/task/instances?{param}={id}&taskName={name}"
# DS ends the head line it puts before a log's first page, and every line, with CRLF.
_LOG_HEAD = re.compile(r"^\[LOG-PATH\]: .*, \[HOST\]: ")

RECOVER_FAILED_NODE = "START_FAILURE_TASK_PROCESS"


@dataclass(frozen=True)
class Dialect:
    """The names one API family uses. Paths are templates with ``{pc}`` (project) and ``{id}``."""

    family: str
    definitions_path: str
    instances_path: str
    instance_path: str
    tasks_path: str
    instance_definition_filter: str
    execute_instance_param: str
    definition_code_field: str
    definition_version_field: str
    ui_instance_query: str


PROCESS = Dialect(
    family="process",
    definitions_path="/projects/{pc}/process-definition",
    instances_path="/projects/{pc}/process-instances",
    instance_path="/projects/{pc}/process-instances/{id}",
    tasks_path="/projects/{pc}/process-instances/{id}/tasks",
    instance_definition_filter="processDefineCode",
    execute_instance_param="processInstanceId",
    definition_code_field="processDefinitionCode",
    definition_version_field="processDefinitionVersion",
    ui_instance_query="processInstanceId",
)

WORKFLOW = Dialect(
    family="workflow",
    definitions_path="/projects/{pc}/workflow-definition",
    instances_path="/projects/{pc}/workflow-instances",
    instance_path="/projects/{pc}/workflow-instances/{id}",
    tasks_path="/projects/{pc}/workflow-instances/{id}/tasks",
    instance_definition_filter="workflowDefinitionCode",
    execute_instance_param="workflowInstanceId",
    definition_code_field="workflowDefinitionCode",
    definition_version_field="workflowDefinitionVersion",
    ui_instance_query="workflowInstanceId",
)

# Probe for the family (ds-api.md 10.1): a JSON envelope here means 3.3+. Project code 0 exists
# nowhere, so a 3.3 server answers a harmless "project not found" envelope.
FAMILY_PROBE_PATH = "/projects/0/workflow-instances"
FAMILY_PROBE_ENDPOINT = "/projects/{pc}/workflow-instances"


def dialect_for(version: str) -> Dialect:
    """The dialect of a supported version string ("3.0" .. "3.3")."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported DolphinScheduler version {version!r}")
    return WORKFLOW if version == WORKFLOW_FAMILY_VERSION else PROCESS


# --- the recover call's answers (ds-api.md 4.7 and 8) ----------------------------------------


class Refusal(Enum):
    """What DS means by an error code on the recover call, or on the instance re-read around it."""

    GONE = "gone"  # the instance does not exist
    DEFINITION_OFFLINE = "definition_offline"
    ALREADY_QUEUED = "already_queued"  # a recover command waits for a master
    NO_MASTER = "no_master"  # transient
    STATE = "state"  # "the state does not allow it": re-read the instance, never parse msg
    OTHER = "other"


# The recover call's refusals per version (ds-api.md 8, "executors/execute" answers). 3.2 has no
# "already queued" guard (it queues a duplicate command); 3.3 answers most refusals with 10000,
# a missing master included, which is therefore taken as a state refusal (re-read, then decide).
RECOVER_REFUSALS: dict[str, dict[int, Refusal]] = {
    "3.0": {50001: Refusal.GONE, 10116: Refusal.GONE, 50004: Refusal.DEFINITION_OFFLINE,
            50009: Refusal.ALREADY_QUEUED, 10025: Refusal.NO_MASTER, 50006: Refusal.STATE},
    "3.1": {50001: Refusal.GONE, 50009: Refusal.ALREADY_QUEUED, 10025: Refusal.NO_MASTER, 50006: Refusal.STATE},
    "3.2": {50001: Refusal.GONE, 10025: Refusal.NO_MASTER, 50015: Refusal.STATE},
    "3.3": {50001: Refusal.GONE, 10000: Refusal.STATE},
}
# Classified across versions: "auto" reports 3.2 for the whole process family (one probe cannot tell
# 3.0-3.2 apart), and no code means two different refusals in two versions.
_REFUSAL_BY_CODE = {code: refusal for codes in RECOVER_REFUSALS.values() for code, refusal in codes.items()}


def recover_refusal(code: int) -> Refusal:
    """What a DS error code on the recover call means (OTHER: a refusal of unknown reason)."""
    return _REFUSAL_BY_CODE.get(code, Refusal.OTHER)


def instance_gone(code: int) -> bool:
    """A re-read of one instance failed because it no longer exists (3.0 answers an unknown id with 10116)."""
    return recover_refusal(code) is Refusal.GONE


def recover_visible_at_once(version: str) -> bool:
    """3.3 moves the instance to SUBMITTED_SUCCESS before it answers a recover call: a call without
    a trace on the next read never arrived. 3.0-3.2 only queue a command for a master."""
    return version == WORKFLOW_FAMILY_VERSION


def recover_repeat_refused(version: str) -> bool:
    """3.0/3.1 refuse a second recover command while one is queued (50009), so asking again is
    harmless there; 3.2 would queue a duplicate."""
    return version in ("3.0", "3.1")


# --- time zones and dates -------------------------------------------------------------------

_DS_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def parse_ds_time(text: str, zone: tzinfo) -> datetime:
    """An aware datetime from DS's naive ``yyyy-MM-dd HH:mm:ss`` printed in ``zone``.

    Raises ValueError for any other format. ``fromisoformat`` is some 20 times faster than
    ``strptime`` (every instance row has three dates); the shape check keeps it exactly as strict.
    """
    if not (isinstance(text, str) and _DS_DATE_SHAPE.fullmatch(text)):
        raise ValueError(f"time data {text!r} does not match format {DS_DATE_FORMAT!r}")
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def format_ds_time(moment: datetime, zone: tzinfo) -> str:
    """``moment`` as the wall-clock string DS reads in ``zone`` (sub-seconds dropped)."""
    if moment.tzinfo is None:
        raise ValueError("a DS date filter needs a timezone-aware datetime")
    return moment.astimezone(zone).strftime(DS_DATE_FORMAT)


def start_date_params(start_from: datetime | None, start_to: datetime | None, zone: tzinfo) -> dict[str, str]:
    """``startDate``/``endDate`` for the instance list, valid on every version (ds-api.md 4.4).

    Both bounds or neither: 3.0.x ignores a lone bound, so an open side gets the widest date DS
    stores. The lower bound goes out one second early because 3.0.0 treats it as exclusive and DS
    dates have no sub-seconds; the caller drops what that adds (see :func:`started_within`).
    """
    if start_from is None and start_to is None:
        return {}
    lower = (
        OPEN_LOWER_BOUND if start_from is None else format_ds_time(start_from - timedelta(seconds=1), zone)
    )
    upper = OPEN_UPPER_BOUND if start_to is None else format_ds_time(start_to, zone)
    return {"startDate": lower, "endDate": upper}


def started_within(start: datetime | None, start_from: datetime | None, start_to: datetime | None) -> bool:
    """Whether an instance start lies in the requested window, both ends inclusive.

    An instance without a start time is kept: DS matched it, and dropping it could hide a failure.
    """
    if start is None:
        return True
    return (start_from is None or start >= start_from) and (start_to is None or start <= start_to)


# --- raw JSON objects -> models ---------------------------------------------------------------


class _Record:
    """Typed access to one raw DS object; a missing or mistyped field is a DSProtocolError.

    ``where`` (the endpoint) goes into the error so an operator can find the offending answer.
    """

    def __init__(self, raw: Any, what: str, where: str):
        if not isinstance(raw, dict):
            raise DSProtocolError(
                f"DS sent {type(raw).__name__} where a {what} object was expected ({where})"
            )
        self._raw = raw
        self._what = what
        self._where = where

    def _fail(self, name: str, problem: str) -> DSProtocolError:
        return DSProtocolError(f"DS {self._what} field {name!r} {problem} ({self._where})")

    def integer(self, name: str, default: int | None = None) -> int:
        value = self._raw.get(name)
        if value is None:
            if default is None:
                raise self._fail(name, "is missing")
            return default
        # Codes are 64-bit: accept exact ints (or their decimal strings), never floats.
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self._fail(name, f"is not an integer: {value!r}")
        try:
            return int(value)
        except ValueError:
            raise self._fail(name, f"is not an integer: {value!r}") from None

    def text(self, name: str, default: str | None = None) -> str:
        value = self._raw.get(name)
        if value is None:
            if default is None:
                raise self._fail(name, "is missing")
            return default
        if not isinstance(value, str):
            raise self._fail(name, f"is not a string: {value!r}")
        return value

    def moment(self, name: str, zone: tzinfo) -> datetime | None:
        value = self._raw.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self._fail(name, f"is not a date string: {value!r}")
        try:
            return parse_ds_time(value, zone)
        except ValueError:
            raise self._fail(name, f"is not yyyy-MM-dd HH:mm:ss: {value!r}") from None


def parse_project(raw: Any, *, where: str) -> Project:
    rec = _Record(raw, "project", where)
    return Project(code=rec.integer("code"), name=rec.text("name"))


def parse_definition(raw: Any, *, project_code: int, zone: tzinfo, where: str) -> Definition:
    rec = _Record(raw, "definition", where)
    return Definition(
        code=rec.integer("code"),
        name=rec.text("name"),
        project_code=rec.integer("projectCode", project_code),
        version=rec.integer("version", 1),
        release_state=rec.text("releaseState", ""),
        update_time=rec.moment("updateTime", zone),
    )


def parse_schedule(raw: Any, dialect: Dialect, *, fallback_zone: tzinfo, where: str) -> Schedule:
    """A schedule with its ``timezoneId`` parsed once, here (ds-api.md 7.2/7.3).

    An empty or unknown ``timezoneId`` (DS then uses the master's zone) leaves ``tz`` None, so the
    schedule tracker treats the schedule as doubtful (fail-open), and reads the start and end
    times in ``fallback_zone``, the zone DS speaks for this token.
    """
    rec = _Record(raw, "schedule", where)
    timezone_id = rec.text("timezoneId", "")
    try:
        zone: tzinfo | None = parse_zone(timezone_id)
    except ValueError:
        zone = None
    return Schedule(
        id=rec.integer("id"),
        definition_code=rec.integer(dialect.definition_code_field),
        crontab=rec.text("crontab"),
        timezone_id=timezone_id,
        release_state=rec.text("releaseState", ""),
        start_time=rec.moment("startTime", zone or fallback_zone),
        end_time=rec.moment("endTime", zone or fallback_zone),
        tz=zone,
        # Jackson-formatted: the zone DS speaks for this token, not the schedule's own (ds-api.md 7.3).
        create_time=rec.moment("createTime", fallback_zone),
        update_time=rec.moment("updateTime", fallback_zone),
    )


def parse_instance(raw: Any, dialect: Dialect, *, project_code: int, zone: tzinfo, where: str) -> Instance:
    """A workflow instance; ``projectCode`` only exists from 3.2, so the queried project fills in."""
    rec = _Record(raw, "instance", where)
    return Instance(
        id=rec.integer("id"),
        definition_code=rec.integer(dialect.definition_code_field),
        name=rec.text("name", ""),
        state=rec.text("state"),
        project_code=rec.integer("projectCode", 0) or project_code,
        definition_version=rec.integer(dialect.definition_version_field, 0),
        start_time=rec.moment("startTime", zone),
        end_time=rec.moment("endTime", zone),
        schedule_time=rec.moment("scheduleTime", zone),
        run_times=rec.integer("runTimes", 1),
        command_type=rec.text("commandType", ""),
        host=rec.text("host", ""),
    )


def parse_task_instance(raw: Any, *, zone: tzinfo, where: str) -> TaskInstance:
    rec = _Record(raw, "task instance", where)
    return TaskInstance(
        id=rec.integer("id"),
        name=rec.text("name", ""),
        task_type=rec.text("taskType", ""),
        state=rec.text("state"),
        start_time=rec.moment("startTime", zone),
        end_time=rec.moment("endTime", zone),
        host=rec.text("host", ""),
        retries=rec.integer("retryTimes", 0),
        max_retries=rec.integer("maxRetryTimes", 0),
        task_code=rec.integer("taskCode", 0),
    )


def parse_task_log(raw: Any, *, first_page: bool, where: str) -> TaskLog:
    """``ResponseTaskLog`` -> lines without DS's head line (first page only) and line endings."""
    rec = _Record(raw, "task log", where)
    message = rec.text("message", "")
    lines = message.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if first_page and lines and _LOG_HEAD.match(lines[0]):
        lines.pop(0)
    return TaskLog(lines=tuple(lines), line_count=rec.integer("lineNum", 0))

"""Store records -> DS JSON objects for one request (ds-api.md sections 3, 4, 6).

A :class:`Renderer` is built per request with the emulated version, the zone dates are printed in
(the token user's, else the server's) and DS's "now" (for the duration of running instances).
Objects are built with the 3.x key names and renamed for the 3.3 family by
:meth:`Version.rename`, so each field list is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from ds_monitor.ds.dialect import format_ds_time

from .store import (
    USER_ID,
    USER_NAME,
    WORKER_HOST,
    DefinitionRecord,
    InstanceRecord,
    ProjectRecord,
    ScheduleRecord,
    Store,
    TaskRecord,
)
from .versions import Version

T = TypeVar("T")

# Columns the 3.0/3.1 instance-list query selects (ds-api.md 4.4); the rest come back null.
_LIST_COLUMNS_30 = frozenset(
    {
        "id",
        "commandType",
        "executorId",
        "processDefinitionVersion",
        "processDefinitionCode",
        "name",
        "state",
        "scheduleTime",
        "startTime",
        "endTime",
        "runTimes",
        "recovery",
        "host",
        "dryRun",
        "nextProcessInstanceId",
        "restartTime",
        "stateHistory",
        # filled by the service or derived getters, not by the select
        "duration",
        "executorName",
        "blocked",
        "complementData",
        "cmdTypeIfComplement",
        "processInstanceStop",
    }
)
# Columns the 3.0/3.1 list leaves out but whose entity fields are Java ``int``s: they print the
# primitive's default 0, never null (ProcessInstance 3.0.6/3.1.9).
_LIST_PRIMITIVE_DEFAULTS_30 = {"maxTryTimes": 0, "timeout": 0, "tenantId": 0}


def envelope(code: int = 0, msg: str = "success", data: Any = None) -> dict:
    """``Result``: ``success``/``failed`` are getters derived from ``code``."""
    return {"code": code, "msg": msg, "data": data, "success": code == 0, "failed": code != 0}


def format_duration(seconds: int) -> str:
    """``DateUtils.format2Duration``: ``1d 2h 5m 10s`` with zero parts left out."""
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts) or "0s"


class Renderer:
    """Renders records of ``store`` as the emulated version prints them. Call under ``store.lock``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.version: Version = store.version
        self.zone: ZoneInfo = store.zone
        self.now = store.clock()

    def date(self, moment: datetime | None) -> str | None:
        """A Date field: wall-clock in the token user's zone (ds-api.md 6.1)."""
        # isoformat with a space is DS_DATE_FORMAT (whole seconds), several times faster than strftime.
        if moment is None:
            return None
        return moment.astimezone(self.zone).replace(microsecond=0, tzinfo=None).isoformat(" ")

    # ----------------------------------------------------------------- paging

    def page(self, rows: Sequence[T], page_no: int, page_size: int, render_row: Callable[[T], dict]) -> dict:
        """``PageInfo`` for the version; only the rows of the page are rendered."""
        v = self.version
        effective = min(page_size, v.page_row_cap) if v.page_row_cap else page_size
        first = (page_no - 1) * effective
        total = len(rows)
        if total % page_size == 0:
            total_page = max(total // page_size, 1)
        else:
            total_page = total // page_size + 1
        info: dict[str, Any] = {
            "totalList": [render_row(r) for r in rows[first : first + effective]],
            "total": total,
            "totalPage": None if v.total_page_null else total_page,
            "pageSize": page_size,
            "currentPage": page_no,
        }
        info[v.page_offset_key] = (page_no - 1) * page_size
        return info

    # ----------------------------------------------------------------- entities

    def user(self) -> dict:
        return {
            "id": USER_ID,
            "userName": USER_NAME,
            "userPassword": "",
            "email": "admin@example.com",
            "phone": "",
            "userType": "ADMIN_USER",
            "tenantId": -1,
            "state": 1,
            "tenantCode": None,
            "queueName": None,
            "alertGroup": None,
            "queue": "",
            "timeZone": self.zone.key,
            "createTime": self.date(_SIMULATOR_EPOCH),
            "updateTime": self.date(_SIMULATOR_EPOCH),
        }

    def project(self, p: ProjectRecord, *, with_counts: bool = False) -> dict:
        obj = {
            "id": p.id,
            "userId": USER_ID,
            "userName": USER_NAME,
            "code": p.code,
            "name": p.name,
            "description": p.description,
            "createTime": self.date(p.create_time),
            "updateTime": self.date(p.create_time),
            "perm": 7 if with_counts else 0,
            "defCount": self.store.definition_count(p.code) if with_counts else 0,
        }
        if not self.version.workflow_family:
            obj["instRunningCount"] = self.store.running_count(p.code) if with_counts else 0
        return obj

    def definition(self, d: DefinitionRecord, *, in_paged_list: bool = False) -> dict:
        """A definition; only the paged list fills ``scheduleReleaseState`` (and 3.2+ ``schedule``)."""
        v = self.version
        schedule = self.store.schedule_of(d.code) if in_paged_list else None
        obj: dict[str, Any] = {
            "id": d.id,
            "code": d.code,
            "name": d.name,
            "version": d.version,
            "releaseState": d.release_state,
            "projectCode": d.project_code,
            "description": d.description,
            "globalParams": "[]",
            "globalParamList": [],
            "globalParamMap": {},
            "createTime": self.date(d.create_time),
            "updateTime": self.date(d.update_time),
            "flag": "YES",
            "userId": USER_ID,
            "userName": USER_NAME,
            "projectName": self.store.projects[d.project_code].name,
            "locations": None,
            "scheduleReleaseState": schedule.release_state if schedule else None,
            "timeout": 0,
            "modifyBy": USER_NAME,
            # An ``Integer`` (null when unset) except in 3.1, where it is an ``int`` (0).
            "warningGroupId": 0 if v.primitive_warning_group_id else None,
            "executionType": "PARALLEL",
        }
        if v.has_tenant_id:
            obj["tenantId"] = -1
            obj["tenantCode"] = "default"
        if v.has_project_code:
            obj["schedule"] = self.schedule_entity(schedule) if schedule else None
        return obj

    def dag_data(self, d: DefinitionRecord) -> dict:
        """``DagData``: what ``GET {definition-base}/{code}`` and ``instance.dagData`` carry."""
        return self.version.rename(
            {"processDefinition": self.definition(d), "processTaskRelationList": [], "taskDefinitionList": []}
        )

    def simple_definition(self, d: DefinitionRecord) -> dict:
        return {"id": d.id, "code": d.code, "name": d.name, "projectCode": d.project_code}

    def schedule_vo(self, s: ScheduleRecord) -> dict:
        """ScheduleVO: start/end printed as the wall-clock entered, i.e. in ``timezoneId`` (7.3)."""
        zone = ZoneInfo(s.timezone_id)
        return self._schedule(
            s,
            format_ds_time(s.start_time, zone),
            format_ds_time(s.end_time, zone),
        )

    def schedule_entity(self, s: ScheduleRecord) -> dict:
        """The raw Schedule embedded by the 3.2+ definition list (7.3).

        The API stored the entered wall-clock as if it were in the server zone; the date serializer
        prints that instant in the token user's zone, so the two views differ when the zones do.
        """
        zone = ZoneInfo(s.timezone_id)
        stored_start = s.start_time.astimezone(zone).replace(tzinfo=self.store.server_zone)
        stored_end = s.end_time.astimezone(zone).replace(tzinfo=self.store.server_zone)
        return self._schedule(s, self.date(stored_start), self.date(stored_end))

    def _schedule(self, s: ScheduleRecord, start: str | None, end: str | None) -> dict:
        definition = self.store.definitions[s.definition_code]
        obj: dict[str, Any] = {
            "id": s.id,
            "processDefinitionCode": s.definition_code,
            "processDefinitionName": definition.name,
            "projectName": self.store.projects[s.project_code].name,
            "definitionDescription": None,
            "startTime": start,
            "endTime": end,
            "timezoneId": s.timezone_id,
            "crontab": s.crontab,
            "failureStrategy": "END",
            "warningType": "NONE",
            "createTime": self.date(s.create_time),
            "updateTime": self.date(s.update_time),
            "userId": USER_ID,
            "userName": USER_NAME,
            "releaseState": s.release_state,
            "warningGroupId": 0,
            "processInstancePriority": "MEDIUM",
            "workerGroup": "default",
            "environmentCode": -1,
        }
        if self.version.has_project_code:
            obj["tenantCode"] = "default"
            obj["environmentName"] = None
        return self.version.rename(obj)

    def instance(self, i: InstanceRecord, *, detail: bool = False) -> dict:
        """An instance; ``detail`` adds dagData/locations (4.5), else the list's column set (4.4)."""
        v = self.version
        end_or_now = i.end_time or self.now
        obj: dict[str, Any] = {
            "id": i.id,
            "processDefinitionCode": i.definition_code,
            "processDefinitionVersion": i.definition_version,
        }
        if v.has_project_code:
            obj["projectCode"] = i.project_code
        obj.update(
            {
                "state": i.state,
                "recovery": "NO",
                "startTime": self.date(i.start_time),
                "endTime": self.date(i.end_time),
                "runTimes": i.run_times,
                "name": i.name,
                "host": i.host,
                "commandType": i.command_type,
                "commandParam": "{}",
                "taskDependType": "TASK_POST",
                "maxTryTimes": 0,
                "failureStrategy": "END",
                "warningType": "NONE",
                "warningGroupId": 0,
                "scheduleTime": self.date(i.schedule_time),
                "commandStartTime": self.date(i.start_time),
                "globalParams": None,
                "dagData": self.dag_data(self.store.definitions[i.definition_code]) if detail else None,
                "executorId": USER_ID,
                "executorName": i.executor_name,
                "tenantCode": "default",
                "queue": None,
                "isSubProcess": "YES" if i.is_sub_process else "NO",
                "historyCmd": i.command_type,
                "dependenceScheduleTimes": None,
                "duration": format_duration(int((end_or_now - i.start_time).total_seconds())),
                "processInstancePriority": "MEDIUM",
                "workerGroup": "default",
                "environmentCode": -1,
                "timeout": 0,
                "varPool": None,
                "nextProcessInstanceId": 0,
                "dryRun": 0,
                "restartTime": self.date(i.restart_time),
                "complementData": i.command_type == "COMPLEMENT_DATA",
                "cmdTypeIfComplement": i.command_type,
                "locations": None,
            }
        )
        if v.has_tenant_id:
            obj["tenantId"] = -1
        if v.has_state_history:
            obj["stateHistory"] = None
        if v.has_project_code:
            obj["testFlag"] = 0
        if v.has_block_fields:
            obj["blocked"] = i.state in ("READY_BLOCK", "BLOCK")
        if v.is_30:
            obj["processInstanceStop"] = i.state in ("STOP", "READY_STOP")
        if v.list_selects_subset and not detail:
            obj = {
                k: (val if k in _LIST_COLUMNS_30 else _LIST_PRIMITIVE_DEFAULTS_30.get(k)) for k, val in obj.items()
            }
        return v.rename(obj)

    def task(self, t: TaskRecord, instance: InstanceRecord) -> dict:
        v = self.version
        end_or_now = t.end_time or self.now
        obj: dict[str, Any] = {
            "id": t.id,
            "name": t.name,
            "taskType": t.task_type,
            "processInstanceId": t.instance_id,
            "processInstanceName": instance.name,
            "taskCode": t.task_code,
            "taskDefinitionVersion": 1,
            "state": t.state,
            "firstSubmitTime": self.date(t.submit_time),
            "submitTime": self.date(t.submit_time),
            "startTime": self.date(t.start_time),
            "endTime": self.date(t.end_time),
            "host": None if t.host is None else (t.host or WORKER_HOST),
            "executePath": None,
            "logPath": f"/opt/ds/worker-server/logs/{instance.definition_code}/{instance.id}/{t.id}.log",
            "retryTimes": t.retry_times,
            "maxRetryTimes": t.max_retry_times,
            "retryInterval": 1,
            "alertFlag": "NO",
            "pid": 0,
            "appLink": None,
            "flag": "YES" if t.valid else "NO",
            "duration": (
                format_duration(int((end_or_now - t.start_time).total_seconds())) if t.start_time else None
            ),
            "taskInstancePriority": "MEDIUM",
            "workerGroup": "default",
            "environmentCode": -1,
            "executorId": USER_ID,
            "executorName": USER_NAME,
            "varPool": None,
            "delayTime": 0,
            "taskParams": "{}",
            "dryRun": 0,
            "taskGroupId": 0,
        }
        if v.has_state_history:  # 3.1.9+
            obj.update({"cpuQuota": -1, "memoryMax": -1, "taskExecuteType": "BATCH"})
        if v.has_project_code:
            obj.update(
                {"projectCode": instance.project_code, "isCache": "NO", "cacheKey": None, "testFlag": 0}
            )
        return v.rename(obj)

    def task_log(self, t: TaskRecord, lines: list[str], skip: int) -> dict:
        """``ResponseTaskLog``: the worker's lines joined by CRLF, after a head line on the first read.

        ``lineNum`` counts the CRLF-separated parts of ``message``, head included, as DS does.
        """
        instance = self.store.instances[t.instance_id]
        text = "".join(line + "\r\n" for line in lines)
        if skip == 0:
            log_path = self.task(t, instance)["logPath"]
            text = f"[LOG-PATH]: {log_path}, [HOST]:  {t.host or WORKER_HOST}\r\n" + text
        return {"lineNum": len(text.split("\r\n")) if text else 0, "message": text}

    def task_list(self, instance: InstanceRecord) -> dict:
        """``{taskList, processInstanceState}``; the state is ``toString()``-rendered (4.6)."""
        tasks = [self.task(t, instance) for t in self.store.valid_tasks(instance.id)]
        return {
            "taskList": tasks,
            self.version.key("processInstanceState"): self.version.state_text(instance.state),
        }


_SIMULATOR_EPOCH = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))

"""The DS REST API below ``/dolphinscheduler``: routing, authentication, parameters, envelopes.

:meth:`Api.handle` turns one parsed :class:`Request` into a :class:`Response` without touching a
socket, so the HTTP server stays a thin shell. What happens where follows DS:

* the login interceptor answers 401 with an empty body before any controller runs;
* Spring parameter binding failures become the controller method's ``@ApiException`` status
  (:func:`~.statuses.handler_error`); ``checkPageParams`` answers 10001; services answer with
  their own statuses (:class:`~.statuses.BusinessError` raised by the store);
* an unknown path is the web UI page: HTTP 200, ``text/html``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ds_monitor.ds.dialect import parse_ds_time

from .render import Renderer, envelope
from .statuses import BusinessError, handler_error, refuse
from .store import StartWindow, Store
from .versions import (
    DATES_BOTH_BOUNDS,
    DATES_INDEPENDENT,
    EXECUTE_TYPES,
    Version,
)

CONTEXT_PATH = "/dolphinscheduler"
UI_PAGE = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    b'<title>DolphinScheduler</title></head><body><div id="app"></div></body></html>'
)
_JAVA_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Request:
    """One HTTP request as the API sees it; ``path`` is below the context path."""

    method: str
    path: str
    params: dict[str, str]
    token: str | None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(payload).encode(), "application/json")


class Params:
    """Spring-style binding of request parameters for one controller method.

    ``error_code`` is the method's ``@ApiException`` status, used for anything Spring cannot bind.
    """

    def __init__(self, values: dict[str, str], version: Version, error_code: int | None) -> None:
        self.values = values
        self.version = version
        self.error_code = error_code

    def _missing(self, name: str, java_type: str) -> BusinessError:
        return self._fail(
            f"Required request parameter '{name}' for method parameter type {java_type} is not present"
        )

    def _fail(self, detail: str) -> BusinessError:
        assert self.error_code is not None, "a method without @ApiException status bound a parameter"
        return handler_error(self.version, self.error_code, detail)

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return value or None

    def integer(self, name: str, *, required: bool = False, java_type: str = "Long") -> int | None:
        return self.convert_int(self.values.get(name), name, required=required, java_type=java_type)

    def convert_int(
        self, raw: str | None, name: str, *, required: bool = True, java_type: str = "Long"
    ) -> int | None:
        if raw is None or raw == "":
            if required:
                raise self._missing(name, java_type)
            return None
        if not _JAVA_INT.fullmatch(raw):
            raise self._fail(
                f"Failed to convert value of type 'java.lang.String' to required type '{java_type}'; "
                f'For input string: "{raw}"'
            )
        return int(raw)

    def enum(
        self, name: str, allowed: frozenset[str], java_type: str, *, required: bool = False
    ) -> str | None:
        raw = self.values.get(name)
        if not raw:
            if required:
                raise self._missing(name, java_type)
            return None
        if raw not in allowed:
            raise self._fail(
                f"Failed to convert value of type 'java.lang.String' to required type '{java_type}'; "
                f"No enum constant {java_type}.{raw}"
            )
        return raw

    def page(self) -> tuple[int, int]:
        """``pageNo``/``pageSize``: bound as Integer, then ``checkPageParams`` (ds-api.md 3)."""
        page_no = self.integer("pageNo", required=True, java_type="Integer")
        page_size = self.integer("pageSize", required=True, java_type="Integer")
        assert page_no is not None and page_size is not None  # required=True raised otherwise
        if page_no <= 0:
            raise refuse(self.version, 10001, "pageNo")
        if page_size <= 0:
            raise refuse(self.version, 10001, "pageSize")
        return page_no, page_size


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    error_code: int | None  # the method's @ApiException status; None: it binds nothing
    handler: Handler


def start_window(version: Version, lower: datetime | None, upper: datetime | None) -> StartWindow:
    """The instance list's date rule for ``version`` (ds-api.md 4.4)."""
    if version.date_filter == DATES_INDEPENDENT:
        return StartWindow(lower, upper)
    if version.date_filter == DATES_BOTH_BOUNDS:
        return StartWindow(lower, upper) if lower and upper else StartWindow()
    # 3.0.0: the filter hangs on startDate; a missing endDate compares with NULL and matches nothing.
    if lower is None:
        return StartWindow()
    if upper is None:
        return StartWindow(matches_nothing=True)
    return StartWindow(lower, upper, lower_exclusive=True)


class Api:
    """Routes and controller methods of one emulated DS version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.version = store.version
        self.execute_types = EXECUTE_TYPES | ({"EXECUTE_TASK"} if self.version.has_project_code else set())
        self.routes = self._routes()

    def _routes(self) -> list[Route]:
        project = r"/projects/(?P<pc>[^/]+)"
        definitions = f"{project}/{self.version.definition_segment}"
        instances = f"{project}/{self.version.instance_segment}"
        table: list[tuple[str, str, int | None, Handler]] = [
            # literal segments first: Spring prefers /projects/list over /projects/{code}
            ("GET", "/users/get-user-info", None, self.user_info),
            ("GET", "/projects", 10049, self.projects_page),
            ("GET", "/projects/list", None, self.projects_all),
            ("GET", "/projects/(?P<code>[^/]+)", 10047, self.project),
            ("GET", definitions, 10122, self.definitions_page),
            ("GET", f"{definitions}/simple-list", 10110, self.definitions_simple),
            ("GET", f"{definitions}/(?P<code>[^/]+)", 10109, self.definition),
            ("GET", f"{project}/schedules", 10080, self.schedules_page),
            ("POST", f"{project}/schedules/list", 10081, self.schedules_all),
            ("GET", instances, 10113, self.instances_page),
            ("GET", f"{instances}/(?P<instance>[^/]+)", 10116, self.instance),
            ("GET", f"{instances}/(?P<instance>[^/]+)/tasks", 10114, self.tasks),
            ("POST", f"{project}/executors/execute", 50015, self.execute),
            ("GET", "/log/detail", 10103, self.task_log),
        ]
        return [Route(method, re.compile(path), code, handler) for method, path, code, handler in table]

    # ----------------------------------------------------------------- dispatch

    def handle(self, request: Request) -> Response:
        route, path_vars, other_method = self._match(request)
        if route is None:
            if other_method:
                return self._method_not_allowed(request)
            if self.version.unknown_path_needs_token and not self.store.token_valid(request.token):
                return Response(401)
            return Response(200, UI_PAGE, "text/html;charset=UTF-8")
        if not self.store.token_valid(request.token):
            return Response(401)
        params = Params(request.params, self.version, route.error_code)
        with self.store.lock:  # one consistent snapshot; JSON encoding happens after release
            try:
                payload = envelope(data=route.handler(params, **path_vars))
            except BusinessError as refusal:
                payload = envelope(refusal.code, refusal.msg)
        return Response.json(payload)

    def _match(self, request: Request) -> tuple[Route | None, dict[str, str], bool]:
        other_method = False
        for route in self.routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method == request.method:
                return route, match.groupdict(), False
            other_method = True
        return None, {}, other_method

    def _method_not_allowed(self, request: Request) -> Response:
        # Spring Boot's default error body: no DS envelope for a method the mapping does not know.
        return Response.json(
            {
                "timestamp": self.store.clock().isoformat(timespec="milliseconds"),
                "status": 405,
                "error": "Method Not Allowed",
                "path": CONTEXT_PATH + request.path,
            },
            status=405,
        )

    # ----------------------------------------------------------------- controller methods

    def user_info(self, params: Params) -> dict:
        return Renderer(self.store).user()

    def projects_page(self, params: Params) -> dict:
        page_no, page_size = params.page()
        rows = self.store.search_projects(params.text("searchVal"))
        renderer = Renderer(self.store)
        return renderer.page(rows, page_no, page_size, lambda p: renderer.project(p, with_counts=True))

    def projects_all(self, params: Params) -> list:
        renderer = Renderer(self.store)
        return [renderer.project(p) for p in self.store.search_projects(None)]

    def project(self, params: Params, code: str) -> dict:
        project_code = params.convert_int(code, "code")
        return Renderer(self.store).project(self.store.require_project(project_code, 10018))

    def definitions_page(self, params: Params, pc: str) -> dict:
        project_code = params.convert_int(pc, "projectCode")
        user_id = params.integer("userId", java_type="Integer")
        page_no, page_size = params.page()
        self.store.require_project(project_code, 10190)
        rows = self.store.search_definitions(project_code, params.text("searchVal"), user_id=user_id)
        renderer = Renderer(self.store)
        return renderer.page(rows, page_no, page_size, lambda d: renderer.definition(d, in_paged_list=True))

    def definitions_simple(self, params: Params, pc: str) -> list:
        project_code = params.convert_int(pc, "projectCode")
        self.store.require_project(project_code, 10190)
        renderer = Renderer(self.store)
        return [renderer.simple_definition(d) for d in self.store.project_definitions(project_code)]

    def definition(self, params: Params, pc: str, code: str) -> dict:
        project_code = params.convert_int(pc, "projectCode")
        definition_code = params.convert_int(code, "code")
        self.store.require_project(project_code, 10190)
        return Renderer(self.store).dag_data(self.store.project_definition(project_code, definition_code))

    def schedules_page(self, params: Params, pc: str) -> dict:
        project_code = params.convert_int(pc, "projectCode")
        definition_code = params.integer(
            self.version.schedule_definition_param, required=self.version.schedule_definition_required
        )
        page_no, page_size = params.page()
        self.store.require_project(project_code, 10018)
        rows = self.store.search_schedules(project_code, definition_code, params.text("searchVal"))
        renderer = Renderer(self.store)
        return renderer.page(rows, page_no, page_size, renderer.schedule_vo)

    def schedules_all(self, params: Params, pc: str) -> list:
        project_code = params.convert_int(pc, "projectCode")
        self.store.require_project(project_code, 10018)
        renderer = Renderer(self.store)
        return [renderer.schedule_vo(s) for s in self.store.project_schedules(project_code)]

    def instances_page(self, params: Params, pc: str) -> dict:
        project_code = params.convert_int(pc, "projectCode")
        definition_code = params.integer(self.version.instance_list_definition_param) or 0
        state = params.enum("stateType", self.version.states, "WorkflowExecutionStatus")
        page_no, page_size = params.page()
        # 3.0/3.1 copy only the status into the list result, so 30002 keeps its raw placeholders
        self.store.require_project(project_code, 10190, raw_permission_text=self.version.list_selects_subset)
        window = start_window(self.version, *self._date_bounds(params))
        rows = self.store.search_instances(
            project_code,
            definition_code=definition_code,
            search=params.text("searchVal"),
            state=state,
            host=params.text("host"),
            executor_name=params.text("executorName"),
            window=window,
        )
        renderer = Renderer(self.store)
        return renderer.page(rows, page_no, page_size, renderer.instance)

    def _date_bounds(self, params: Params) -> tuple[datetime | None, datetime | None]:
        """``checkAndParseDateParameters``: each given bound must parse, in the token user's zone."""
        bounds = []
        for name in ("startDate", "endDate"):
            raw = params.text(name)
            try:
                bounds.append(None if raw is None else parse_ds_time(raw, self.store.zone))
            except ValueError:
                raise refuse(self.version, 10001, "startDate/endDate") from None
        return bounds[0], bounds[1]

    def instance(self, params: Params, pc: str, instance: str) -> dict:
        project_code = params.convert_int(pc, "projectCode")
        instance_id = params.convert_int(instance, "id", java_type="Integer")
        self.store.require_project(project_code, 10190)
        missing = 10116 if self.version.is_30 else 50001
        record = self.store.project_instance(project_code, instance_id, missing_code=missing)
        return Renderer(self.store).instance(record, detail=True)

    def tasks(self, params: Params, pc: str, instance: str) -> dict:
        project_code = params.convert_int(pc, "projectCode")
        instance_id = params.convert_int(instance, "id", java_type="Integer")
        self.store.require_project(project_code, 10190)
        missing = 10114 if self.version.is_30 else 50001
        record = self.store.project_instance(project_code, instance_id, missing_code=missing)
        return Renderer(self.store).task_list(record)

    def task_log(self, params: Params) -> dict:
        """``LoggerController.queryLog``: all three parameters are required Java ints."""
        task_id = params.integer("taskInstanceId", required=True, java_type="int")
        skip = params.integer("skipLineNum", required=True, java_type="int")
        limit = params.integer("limit", required=True, java_type="int")
        assert task_id is not None and skip is not None and limit is not None  # required=True
        task, lines = self.store.task_log(task_id, skip, limit)
        return Renderer(self.store).task_log(task, lines, skip)

    def execute(self, params: Params, pc: str) -> None:
        project_code = params.convert_int(pc, "projectCode")
        instance_id = params.integer(self.version.execute_instance_param, required=True, java_type="Integer")
        execute_type = params.enum("executeType", self.execute_types, "ExecuteType", required=True)
        self.store.execute(project_code, instance_id, execute_type)
        return None

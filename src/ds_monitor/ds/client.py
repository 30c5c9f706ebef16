"""The DolphinScheduler REST client: the one place where ds-monitor talks HTTP to DS.

It owns the pooled session, retries, timeouts, the response envelope, paging, the API family and
the time zone DS speaks for the token. Callers get typed models (ds_monitor.ds.models) and errors
from ds_monitor.errors; no requests/urllib3 exception and no raw JSON leaves this module.

Retry policy (spec section 7): reads are retried with backoff on connection failures, dropped
connections, read timeouts and HTTP 429/500/502/503/504. The recover action is retried only when
the connection could not be opened (it was never sent); once it may have reached DS, a missing or
broken answer becomes :class:`ActionOutcomeUnknown` and the caller re-reads the instance instead.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from ds_monitor.config import DolphinSchedulerConfig
from ds_monitor.ds import dialect as wire
from ds_monitor.ds.cache import TTLCache
from ds_monitor.ds.calls import CallStats
from ds_monitor.ds.models import Definition, Instance, Project, Schedule, TaskInstance, TaskLog
from ds_monitor.errors import (
    ActionOutcomeUnknown,
    ConfigError,
    DSApiError,
    DSAuthError,
    DSProtocolError,
    DSUnreachable,
)
from ds_monitor.redaction import mask_url, strip_userinfo
from ds_monitor.zones import parse_zone

log = logging.getLogger(__name__)
# Passes over a paged listing whose rows are deleted while it is read (see _all_pages).
MAX_PAGING_PASSES = 3

# 500 is included: DS answers business errors as HTTP 200, so a 500 is an unhandled server fault,
# and repeating an idempotent read after one is harmless.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses after which a sent action may or may not have been applied (a proxy or DS itself
# failed while handling it). 401, 404 and 429 are refused before any DS code runs.
AMBIGUOUS_ACTION_STATUSES = frozenset({500, 502, 503, 504})
DEFAULT_MAX_RETRIES = 3
POOL_SIZE = 10
# Longest DS message kept in an error; DS messages are short, stack traces are not.
MAX_MESSAGE_CHARS = 300


def pages_needed(total: int, page_size: int) -> int:
    """How many pages of ``page_size`` hold ``total`` rows (at least one: page 1 is always read)."""
    return max(1, math.ceil(total / page_size))


# How often a backoff wait asks whether to give up (a stop request, a spent sweep budget).
GUARD_POLL_SECONDS = 0.05


class RetriesCutShort(Exception):
    """Internal: a retry was not made because the client's guard said stop (never leaves this module)."""

    def __init__(self, reason: str, last_error: BaseException | None = None, last_status: int | None = None):
        super().__init__(reason, last_error)
        self.reason = reason
        self.last_error = last_error
        self.last_status = last_status


class GuardedRetry(Retry):
    """urllib3's Retry that asks ``guard`` before every retry and during every backoff wait.

    ``guard`` returns why to stop (shutdown requested, the sweep's time budget spent) or None. A
    stop request must not wait for up to four timeouts plus backoff: the container platform kills
    the process after its grace period, mid-sweep.
    """

    guard: Callable[[], str | None] = staticmethod(lambda: None)

    def new(self, **kw: Any) -> GuardedRetry:
        retry = super().new(**kw)
        retry.guard = self.guard
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        reason = self.guard()
        if reason is not None:
            # For a status retry urllib3 hands the last answer back (raise_on_status=False).
            raise MaxRetryError(_pool, url, RetriesCutShort(reason, error))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response=None) -> None:
        until = time.monotonic() + self.get_backoff_time()
        while True:
            reason = self.guard()
            if reason is not None:
                last = self.history[-1] if self.history else None
                raise MaxRetryError(
                    None, None, RetriesCutShort(reason, last and last.error, last and last.status)
                )
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, GUARD_POLL_SECONDS))


def retry_policy(
    *, retries: int, backoff: float, methods: frozenset[str], guard: Callable[[], str | None] | None = None
) -> Retry:
    """urllib3 retries: connection failures for any method, read and status retries for ``methods``.

    ``Retry-After`` is ignored on purpose: a proxy asking for minutes would stall a sweep that has
    a time budget; the next sweep comes anyway. ``guard`` (see :class:`GuardedRetry`) can cut the
    retries and their backoff short.
    """
    policy = GuardedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=methods,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    if guard is not None:
        policy.guard = guard
    return policy


class DSClient:
    """A connection to one DolphinScheduler API for one token.

    The API family (``version``) and the zone DS speaks for the token (``timezone``) are settled
    once, on first use, unless the configuration names them. Projects, definitions and schedules
    are cached for ``cache_ttl_seconds`` (measured on ``monotonic``); instances never are.
    The client owns its HTTP sessions and closes them in :meth:`close`.
    """

    def __init__(
        self,
        config: DolphinSchedulerConfig,
        *,
        calls: CallStats | None = None,
        cache_ttl_seconds: float = 300,
        monotonic: Callable[[], float] = time.monotonic,
        retry_backoff: float = 0.5,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ):
        if config.api_version != "auto" and config.api_version not in wire.SUPPORTED_VERSIONS:
            raise ConfigError(
                f"dolphinscheduler.api_version must be auto or one of {', '.join(wire.SUPPORTED_VERSIONS)},"
                f" got {config.api_version!r}"
            )
        self._config = config
        self._base = config.api_url.rstrip("/")
        self._host = urlsplit(self._base).netloc.rpartition("@")[2]
        # Links go to people (chat messages, reports): never with the API URL's user:password.
        self._ui_base = strip_userinfo(config.ui_url or self._base + "/ui").rstrip("/")
        self.calls = calls if calls is not None else CallStats()
        self._cache = TTLCache(cache_ttl_seconds)
        self._monotonic = monotonic
        self._version: str | None = None if config.api_version == "auto" else config.api_version
        self._zone: tzinfo | None = None
        # The monitor fetches projects in parallel: the first threads must not each ask DS.
        self._learn_lock = threading.RLock()
        if config.server_timezone != "auto":
            try:
                self._zone = parse_zone(config.server_timezone)
            except ValueError as err:
                raise ConfigError(f"dolphinscheduler.server_timezone: {err}") from err

        if not config.verify_ssl:
            log.warning(
                "TLS certificate checks are off for %s (dolphinscheduler.verify_ssl: false)", self._host
            )
        # Set by the monitor: why retries must stop now (shutdown, sweep budget), or None.
        self.retry_guard: Callable[[], str | None] = lambda: None
        guard = lambda: self.retry_guard()  # noqa: E731 - looked up per retry, so it can be set later
        # Two sessions, each built and mounted here once and never changed afterwards: project
        # threads share them, and requests' adapter table is not safe to mutate while in use.
        # Reads and actions: only GETs are retried after the request may have reached DS.
        self._session = _session(
            config.token,
            self._base,
            retry_policy(retries=max_retries, backoff=retry_backoff, methods=frozenset({"GET"}), guard=guard),
        )
        # The schedule listing is a read sent as POST: its own session may repeat it.
        self._read_post_session = _session(
            config.token,
            self._base,
            retry_policy(
                retries=max_retries, backoff=retry_backoff, methods=frozenset({"GET", "POST"}), guard=guard
            ),
        )
        self._cache_lock = threading.Lock()

    # --- settled once per connection ----------------------------------------------------------

    @property
    def version(self) -> str:
        """ "3.0" .. "3.3"; with ``api_version: auto`` one probe decides the family on first use."""
        with self._learn_lock:
            if self._version is None:
                self._version = self._detect_version()
                log.info("DolphinScheduler API family detected: %s", self._version)
        return self._version

    @property
    def timezone(self) -> tzinfo:
        """The zone DS prints dates and reads date filters in for this token (ds-api.md 6.1)."""
        with self._learn_lock:
            if self._zone is None:
                self._zone = self._user_zone(self._call("GET", wire.USER_INFO_PATH))
        return self._zone

    @property
    def _dialect(self) -> wire.Dialect:
        return wire.dialect_for(self.version)

    def check_connection(self) -> None:
        """Prove DS is reachable and accepts the token (one call); learns the zone on the way."""
        user = self._call("GET", wire.USER_INFO_PATH)
        if self._zone is None:
            self._zone = self._user_zone(user)

    # --- listings ------------------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        """Every project the token can see (cached)."""
        where = f"GET {wire.PROJECTS_PATH}/list"

        def fetch() -> tuple[Project, ...]:
            rows = self._expect_list(self._call("GET", wire.PROJECTS_PATH + "/list"), where)
            return tuple(wire.parse_project(row, where=where) for row in rows)

        return list(self._cached(f"GET {wire.PROJECTS_PATH}/list", None, fetch))

    def list_definitions(self, project_code: int) -> list[Definition]:
        """Every workflow definition of a project, all pages (cached)."""
        dialect = self._dialect
        zone = self.timezone
        where = f"GET {dialect.definitions_path.format(pc=project_code)}"

        def fetch() -> tuple[Definition, ...]:
            rows = self._all_pages(dialect.definitions_path, pc=project_code, params={})
            parsed = (
                wire.parse_definition(row, project_code=project_code, zone=zone, where=where) for row in rows
            )
            return tuple(_unique(parsed, key=lambda d: d.code))

        return list(self._cached(f"GET {dialect.definitions_path}", project_code, fetch))

    def list_schedules(self, project_code: int) -> list[Schedule]:
        """Every schedule of a project, online or not (cached); one unpaged call on every version."""
        dialect = self._dialect
        zone = self.timezone
        where = f"POST {wire.SCHEDULES_LIST_PATH.format(pc=project_code)}"

        def fetch() -> tuple[Schedule, ...]:
            answer = self._call("POST", wire.SCHEDULES_LIST_PATH, pc=project_code, read_only=True)
            rows = self._expect_list(answer, where)
            schedules = tuple(wire.parse_schedule(row, dialect, fallback_zone=zone, where=where) for row in rows)
            # Parsed once per fetch (the listing is cached), so this warns once per schedule and cache period.
            for schedule in schedules:
                if schedule.tz is None and schedule.online:
                    log.warning(
                        "schedule %s of project %s has %s: it is looked at on every sweep (fail-open)",
                        schedule.id,
                        project_code,
                        f"an unknown timezoneId {schedule.timezone_id!r}" if schedule.timezone_id else "no timezoneId",
                    )
            return schedules

        return list(self._cached(f"POST {wire.SCHEDULES_LIST_PATH}", project_code, fetch))

    def list_instances(
        self,
        project_code: int,
        *,
        state: str | None = None,
        definition_code: int | None = None,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
    ) -> list[Instance]:
        """Top-level workflow instances of a project, every page, never cached.

        ``state`` is one DS state name; ``start_from``/``start_to`` bound the instance start time,
        both inclusive, and must be timezone-aware. DS orders by start time, newest first.
        """
        dialect = self._dialect
        zone = self.timezone
        params: dict[str, Any] = {}
        if state is not None:
            params["stateType"] = state
        if definition_code is not None:
            params[dialect.instance_definition_filter] = definition_code
        params.update(wire.start_date_params(start_from, start_to, zone))
        where = f"GET {dialect.instances_path.format(pc=project_code)}"
        rows = self._all_pages(dialect.instances_path, pc=project_code, params=params)
        parsed = (
            wire.parse_instance(row, dialect, project_code=project_code, zone=zone, where=where)
            for row in rows
        )
        return [
            instance
            for instance in _unique(parsed, key=lambda i: i.id)
            if wire.started_within(instance.start_time, start_from, start_to)
        ]

    def get_instance(self, project_code: int, instance_id: int) -> Instance:
        """One workflow instance, fresh from DS."""
        dialect = self._dialect
        zone = self.timezone
        data = self._call("GET", dialect.instance_path, pc=project_code, id=instance_id)
        where = f"GET {dialect.instance_path.format(pc=project_code, id=instance_id)}"
        return wire.parse_instance(data, dialect, project_code=project_code, zone=zone, where=where)

    def list_task_instances(self, project_code: int, instance_id: int) -> list[TaskInstance]:
        """The valid (latest-attempt) task instances of a workflow instance."""
        dialect = self._dialect
        zone = self.timezone
        data = self._call("GET", dialect.tasks_path, pc=project_code, id=instance_id)
        where = f"GET {dialect.tasks_path.format(pc=project_code, id=instance_id)}"
        if not isinstance(data, dict):
            raise DSProtocolError(f"DS task list is not an object ({where})")
        rows = self._expect_list(data.get("taskList"), where)
        return [wire.parse_task_instance(row, zone=zone, where=where) for row in rows]

    def task_log(self, task_id: int, *, skip_lines: int, limit: int) -> TaskLog:
        """``limit`` lines of a task's worker log from line ``skip_lines`` (DS's head line dropped).

        DS answers 10008 for an unknown task and 10191 before the task has a worker (DSApiError).
        """
        where = f"GET {wire.TASK_LOG_PATH}"
        data = self._call(
            "GET",
            wire.TASK_LOG_PATH,
            params={"taskInstanceId": task_id, "skipLineNum": skip_lines, "limit": limit},
        )
        return wire.parse_task_log(data, first_page=skip_lines == 0, where=where)

    # --- the action --------------------------------------------------------------------------

    def recover_failed_node(self, project_code: int, instance_id: int) -> None:
        """Ask DS to re-run a failed instance from its failed tasks ("recover from failed node").

        Raises DSApiError when DS refuses (branch on ``code``), ActionOutcomeUnknown when the
        request may have reached DS but no usable answer came back. Never retried after sending.
        """
        dialect = self._dialect
        self._call(
            "POST",
            wire.EXECUTE_PATH,
            pc=project_code,
            form={dialect.execute_instance_param: instance_id, "executeType": wire.RECOVER_FAILED_NODE},
            action=f"recover of instance {instance_id}",
        )

    # --- helpers for callers -----------------------------------------------------------------

    def instance_ui_url(self, project_code: int, instance_id: int, definition_code: int | None = None) -> str:
        """Link to the instance page in the DS web UI (no call to DS)."""
        base = self._ui_base
        link = base + wire.UI_INSTANCE_ROUTE.format(pc=project_code, id=instance_id)
        return link if definition_code is None else f"{link}?code={definition_code}"

    def task_ui_url(self, project_code: int, instance_id: int, task_name: str) -> str:
        """Link to one workflow instance's tasks of that name in the DS web UI (no call to DS)."""
        route = wire.UI_TASK_ROUTE.format(
            pc=project_code, param=self._dialect.ui_instance_query, id=instance_id, name=quote(task_name)
        )
        return self._ui_base + route

    def invalidate_cache(self) -> None:
        """Forget cached projects, definitions and schedules; the next listing asks DS."""
        with self._cache_lock:
            self._cache.clear()

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()
        self._read_post_session.close()

    def __enter__(self) -> DSClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------

    def _cached(self, endpoint: str, project_code: int | None, fetch: Callable[[], tuple]) -> tuple:
        """``fetch()`` unless a fresh answer of ``endpoint`` for this project is cached.

        Hits are recorded under the templated endpoint, like calls, so metric labels stay few.
        """
        key = (endpoint, project_code)
        with self._cache_lock:
            hit, value = self._cache.get(key, self._monotonic())
        if hit:
            self.calls.record_cache_hit(endpoint)
            return value
        value = fetch()
        with self._cache_lock:
            self._cache.put(key, value, self._monotonic())
        return value

    def _detect_version(self) -> str:
        """One harmless GET (ds-api.md 10.1): a JSON envelope means 3.3, HTML or 404 the process family."""
        endpoint = f"GET {wire.FAMILY_PROBE_ENDPOINT}"
        where = f"GET {wire.FAMILY_PROBE_PATH}"
        with self._measured(endpoint):
            response = self._send(
                self._session, "GET", self._base + wire.FAMILY_PROBE_PATH, where, {"pageNo": 1, "pageSize": 1}
            )
            if response.status_code == 404 or (response.status_code == 200 and _looks_like_html(response)):
                return wire.PROCESS_FAMILY_DEFAULT_VERSION
            try:
                self._envelope_data(response, where, action=None)
            except DSApiError:
                pass  # "project 0 not found" is the expected answer of a 3.3 server
            return wire.WORKFLOW_FAMILY_VERSION

    def _user_zone(self, user: Any) -> tzinfo:
        where = f"GET {wire.USER_INFO_PATH}"
        if not isinstance(user, dict):
            raise DSProtocolError(f"DS user info is not an object ({where})")
        name = user.get("timeZone")
        if not name:
            # DS fills in its JVM zone when the user has none; an empty answer leaves UTC, the
            # JVM default of the stock start scripts (ds-api.md 6.1).
            log.warning("DS named no time zone for this token's user; assuming UTC")
            return parse_zone("UTC")
        try:
            return parse_zone(str(name))
        except ValueError as err:
            raise DSProtocolError(f"DS user time zone: {err} ({where})") from err

    def _all_pages(self, template: str, *, pc: int, params: dict[str, Any]) -> list[Any]:
        """Rows of every page, counted from ``total`` (totalPage is null on 3.2.1; pageNo is an offset).

        Offset paging over a list that changes underneath: an added row shifts rows to later pages
        (followed, duplicates are dropped later), a deleted one shifts rows to earlier pages, so a row
        can slip past the boundary unread. When ``total`` fell between two pages the listing is read
        again, and after MAX_PAGING_PASSES unsettled passes every row seen in any pass is kept:
        a row that vanished is harmless (recovery re-reads it), one never read is a missed failure.
        """
        seen: list[Any] = []
        for _ in range(MAX_PAGING_PASSES):
            rows, settled = self._one_pass(template, pc=pc, params=params)
            if settled:
                return rows
            seen.extend(rows)
            log.debug("rows deleted while paging GET %s: reading the listing again", template.format(pc=pc))
        return seen

    def _one_pass(self, template: str, *, pc: int, params: dict[str, Any]) -> tuple[list[Any], bool]:
        """(rows of every page, True unless ``total`` fell while the pages were read)."""
        where = f"GET {template.format(pc=pc)}"
        rows: list[Any] = []
        page_no, pages = 1, 1
        totals: list[int] = []
        while page_no <= pages:
            data = self._call(
                "GET", template, pc=pc, params={**params, "pageNo": page_no, "pageSize": wire.PAGE_SIZE}
            )
            if not isinstance(data, dict):
                raise DSProtocolError(f"DS page is not an object ({where})")
            total = data.get("total")
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise DSProtocolError(f"DS page has no valid 'total': {total!r} ({where})")
            totals.append(total)
            page_rows = self._expect_list(data.get("totalList"), where)
            rows.extend(page_rows)
            if not page_rows:
                break  # fewer rows remain than the first total promised
            # Rows added while paging raise the total; follow them (duplicates are dropped later).
            pages = max(pages, pages_needed(total, wire.PAGE_SIZE))
            page_no += 1
        return rows, totals == sorted(totals)

    @staticmethod
    def _expect_list(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise DSProtocolError(f"DS sent {type(value).__name__} where a list was expected ({where})")
        return value

    def _url(self, template: str, *, pc: int | None = None, id: int | None = None) -> str:
        return self._base + template.format(pc=pc, id=id)

    def _call(
        self,
        method: str,
        template: str,
        *,
        pc: int | None = None,
        id: int | None = None,
        params: dict[str, Any] | None = None,
        form: dict[str, Any] | None = None,
        action: str | None = None,
        read_only: bool = False,
    ) -> Any:
        """One API call: returns the envelope's ``data`` or raises a ds_monitor error.

        ``read_only`` marks a POST that only reads, so it may be retried like a GET.
        """
        path = template.format(pc=pc, id=id)
        where = f"{method} {path}"
        session = self._read_post_session if read_only else self._session
        with self._measured(f"{method} {template}"):
            response = self._send(session, method, self._base + path, where, params, form=form, action=action)
            return self._envelope_data(response, where, action=action)

    @contextmanager
    def _measured(self, endpoint: str) -> Iterator[None]:
        started = self._monotonic()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.calls.record_call(endpoint, self._monotonic() - started, ok)

    def _send(
        self,
        session: requests.Session,
        method: str,
        url: str,
        where: str,
        params: dict[str, Any] | None,
        *,
        form: dict[str, Any] | None = None,
        action: str | None = None,
    ) -> requests.Response:
        timeout = self._config.timeout_seconds
        try:
            # verify goes on every request: a session-level False loses to REQUESTS_CA_BUNDLE.
            response = session.request(
                method, url, params=params, data=form, timeout=timeout, verify=self._config.verify_ssl
            )
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as err:
            raise ConfigError(f"dolphinscheduler.api_url is not a usable URL: {mask_url(self._base)!r}") from err
        except requests.exceptions.RequestException as err:
            raise self._transport_error(err, where, action) from err
        log.debug("%s -> HTTP %s", where, response.status_code)
        return response

    def _transport_error(
        self, err: requests.exceptions.RequestException, where: str, action: str | None
    ) -> Exception:
        reason = _describe(err, self._config.timeout_seconds)
        if action is not None and _may_have_been_sent(err):
            return ActionOutcomeUnknown(
                f"{action} may have reached DS but no answer came ({reason}) on {where};"
                " re-read the instance before trying again"
            )
        if isinstance(
            err, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
        ):
            return DSProtocolError(f"DS answer was cut off ({reason}) on {where}")
        return DSUnreachable(f"DS at {self._host} unreachable: {reason} on {where}")

    def _envelope_data(self, response: requests.Response, where: str, *, action: str | None) -> Any:
        status = response.status_code
        if status == 401:
            raise DSAuthError(f"DS rejected the token (HTTP 401) on {where}")
        if status != 200:
            if action is not None and status in AMBIGUOUS_ACTION_STATUSES:
                raise ActionOutcomeUnknown(
                    f"{action} may have reached DS but it answered HTTP {status} on {where};"
                    " re-read the instance before trying again"
                )
            hint = {429: " (rate limited)", 404: " (no such API path: check api_url and api_version)"}
            raise DSProtocolError(
                f"DS answered HTTP {status}{hint.get(status, '')} on {where}", http_status=status
            )
        if _looks_like_html(response):
            raise DSProtocolError(
                f"DS answered an HTML page instead of JSON (HTTP 200) on {where}:"
                " api_url does not point at the DS API, or this DS version has no such path",
                http_status=status,
            )
        body = response.content
        try:
            document = json.loads(body)
        except ValueError as err:
            if action is not None:
                raise ActionOutcomeUnknown(
                    f"{action} may have reached DS but its answer was not JSON on {where};"
                    " re-read the instance before trying again"
                ) from err
            raise DSProtocolError(
                f"DS answered malformed or truncated JSON (HTTP 200, {len(body)} bytes) on {where}",
                http_status=status,
            ) from err
        code = document.get("code") if isinstance(document, dict) else None
        if isinstance(code, bool) or not isinstance(code, int):
            raise DSProtocolError(f"DS answer has no envelope code (HTTP 200) on {where}", http_status=status)
        if code != 0:
            raise DSApiError(code, _one_line(document.get("msg")), endpoint=where)
        return document.get("data")


def _session(token: str, base: str, retries: Retry) -> requests.Session:
    """A pooled session carrying the token, with ``retries`` for every URL under ``base``."""
    session = requests.Session()
    session.headers["token"] = token
    session.mount(base + "/", HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE, max_retries=retries))
    return session


def _unique(items: Iterable[Any], *, key: Callable[[Any], Any]) -> list[Any]:
    """First occurrence of each key: rows shift between pages when DS data changes mid-listing."""
    seen: set[Any] = set()
    kept = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return kept


def _looks_like_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or response.content.lstrip()[:1] == b"<"


def _one_line(message: Any) -> str:
    text = " ".join(str(message or "").split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and everything it wraps (requests and urllib3 nest errors in args and ``reason``)."""
    pending = [err]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(e for e in nested if isinstance(e, BaseException))


def _may_have_been_sent(err: requests.exceptions.RequestException) -> bool:
    """False only when the connection never opened (refused, DNS, connect timeout, TLS handshake)."""
    if isinstance(err, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(err, requests.exceptions.ConnectionError):
        for cause in _causes(err):
            reason = cause.reason if isinstance(cause, MaxRetryError) else None
            if isinstance(reason, RetriesCutShort):
                reason = reason.last_error
            if isinstance(reason, NewConnectionError | ConnectTimeoutError):
                return False
    return True


def _describe(err: requests.exceptions.RequestException, timeout: float) -> str:
    """A few words for an operator; never the request headers (they carry the token)."""
    causes = list(_causes(err))
    cut = next((c for c in causes if isinstance(c, RetriesCutShort)), None)
    if cut is not None:
        if cut.last_error is not None:
            before = _describe(requests.exceptions.ConnectionError(cut.last_error), timeout)
        else:
            before = f"HTTP {cut.last_status}" if cut.last_status else "failed"
        return f"{before}; not retried: {cut.reason}"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return f"connect timed out after {timeout:g}s"
    # urllib3 wraps a read timeout that exhausted the retries in MaxRetryError, which requests
    # then raises as a plain ConnectionError.
    if isinstance(err, requests.exceptions.ReadTimeout) or any(
        isinstance(c, ReadTimeoutError) for c in causes
    ):
        return f"no answer within {timeout:g}s"
    if isinstance(err, requests.exceptions.SSLError):
        ssl_reasons = [c.reason for c in causes if isinstance(c, ssl.SSLError) and c.reason]
        return "TLS handshake failed" + (f" ({ssl_reasons[0]})" if ssl_reasons else "")
    if any(isinstance(c, NameResolutionError) for c in causes):
        return "host name not found"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, NewConnectionError) for c in causes):
        return "cannot open a connection"
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return "connection closed mid-answer"
    if isinstance(err, requests.exceptions.ConnectionError):
        return "connection dropped without an answer"
    return type(err).__name__

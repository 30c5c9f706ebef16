"""DSSimulator: a DolphinScheduler API server on 127.0.0.1 for tests, the demo and the benches.

Typical use::

    with DSSimulator(version="3.2") as sim:
        project = sim.add_project("demo")
        definition = sim.add_definition(project, "etl_daily")
        failed = sim.add_instance(definition, state="FAILURE", start_time=an_aware_datetime)
        ...  # point the client at sim.url with header token: sim.token
        sim.master_pickup()  # the master consumes queued recover commands

The estate (projects, definitions, schedules, instances, tasks) is built through the ``add_*``
methods; the HTTP side answers exactly like the emulated version (see :mod:`.versions`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from ds_monitor.clock import utc_now

from .api import CONTEXT_PATH, Api
from .faults import FaultPlan, RateLimiter
from .server import RecordedCall, SimulatorServer
from .store import MASTER_HOST, ONLINE, Store
from .versions import get_version


class DSSimulator:
    """A faithful DS REST double for one version (``"3.0"``, ``"3.1"``, ``"3.2"``, ``"3.2.0"`` ... ``"3.3"``).

    ``clock`` is "DS now": it stamps restart times, command pickups, token expiry and the
    duration of running instances. Attributes meant to be changed by the test while it runs:
    ``latency`` (seconds added to every request), ``rate_limit_qps`` (None = off, like DS),
    ``auto_master`` (drain the command queue right after each execute answer and before every
    request) and ``master_available`` (False: execute answers "no master", 10025 / 10000).
    """

    def __init__(
        self,
        version: str = "3.2",
        token: str = "test-token",
        user_timezone: str | None = None,
        server_timezone: str = "UTC",
        clock: Callable[[], datetime] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.version = get_version(version)
        self.token = token
        self.clock = clock or utc_now
        self.store = Store(self.version, self.clock, ZoneInfo(server_timezone))
        self.store.add_token(token)
        self.set_user_timezone(user_timezone)
        self.api = Api(self.store)
        self.faults = FaultPlan()
        self.rate_limiter = RateLimiter()
        self.latency = 0.0
        self.rate_limit_qps: float | None = None
        self.auto_master = False
        self.stopping = threading.Event()
        self.url: str | None = None
        self._address = (host, port)
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._calls: list[RecordedCall] = []
        self._calls_lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> str:
        """Serve in a daemon thread; returns ``url`` (``http://127.0.0.1:PORT/dolphinscheduler``)."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self.stopping.clear()
        self._server = SimulatorServer(self._address, self)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}{CONTEXT_PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_until_stopped, name="ds-simulator", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving: wake sleeping requests, cut keep-alive connections, free the port."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.request_stop()
        if self._thread is not None:
            self._thread.join()
        self._server.server_close()
        self._server = None
        self._thread = None

    def __enter__(self) -> DSSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- the estate

    def add_project(self, name: str, code: int | None = None) -> int:
        """A project; returns its 13-digit code."""
        return self.store.add_project(name, code)

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
        """A workflow definition; ``update_time`` (default now) orders the paged list. Returns its code."""
        return self.store.add_definition(
            project_code,
            name,
            release_state=release_state,
            version=version,
            code=code,
            update_time=update_time,
        )

    def add_schedule(
        self,
        definition_code: int,
        crontab: str,
        *,
        timezone_id: str = "Asia/Shanghai",
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        release_state: str = ONLINE,
        create_time: datetime | None = None,
        update_time: datetime | None = None,
    ) -> int:
        """The (single) schedule of a definition; Quartz ``crontab``. Returns the schedule id.

        ``start_time``/``end_time`` default to 2024-01-01 and 2124-01-01 in ``timezone_id``;
        ``create_time`` to the simulator's now, ``update_time`` to ``create_time``.
        """
        return self.store.add_schedule(
            definition_code,
            crontab,
            timezone_id=timezone_id,
            start_time=start_time,
            end_time=end_time,
            release_state=release_state,
            create_time=create_time,
            update_time=update_time,
        )

    def add_instance(
        self,
        definition_code: int,
        *,
        state: str = "FAILURE",
        start_time: datetime,
        end_time: datetime | None = None,
        schedule_time: datetime | None = None,
        command_type: str = "SCHEDULER",
        run_times: int = 1,
        name: str | None = None,
        host: str = MASTER_HOST,
        executor_name: str = "admin",
        is_sub_process: bool = False,
        instance_id: int | None = None,
    ) -> int:
        """A workflow instance of ``definition_code`` (aware datetimes); returns its id.

        ``state`` must exist in the emulated version. Sub-workflow instances are never listed.
        """
        return self.store.add_instance(
            definition_code,
            state=state,
            start_time=start_time,
            end_time=end_time,
            schedule_time=schedule_time,
            command_type=command_type,
            run_times=run_times,
            name=name,
            host=host,
            executor_name=executor_name,
            is_sub_process=is_sub_process,
            instance_id=instance_id,
        )

    def add_task(
        self,
        instance_id: int,
        name: str,
        *,
        state: str = "FAILURE",
        task_type: str = "SHELL",
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        host: str | None = "",
        retry_times: int = 0,
        max_retry_times: int = 0,
        log: str = "",
    ) -> int:
        """A task instance of ``instance_id``; returns its id.

        ``host`` "" is the simulated worker; None means not dispatched yet (its log answers 10191).
        ``log`` is what its worker log file holds, served by ``GET /log/detail``.
        """
        return self.store.add_task(
            instance_id,
            name,
            state=state,
            task_type=task_type,
            start_time=start_time,
            end_time=end_time,
            host=host,
            retry_times=retry_times,
            max_retry_times=max_retry_times,
            log=log,
        )

    def set_task_log(self, task_id: int, log: str) -> None:
        """Replace the worker log of ``task_id`` (lines split on newlines)."""
        self.store.set_task_log(task_id, log)

    def get_instance(self, instance_id: int) -> dict:
        """Snapshot of one instance: id, name, definition_code, project_code, state, run_times,
        command_type, start_time, end_time, restart_time, schedule_time, host,
        queued_commands (not yet picked up), consumed_commands (picked up, oldest first)."""
        return self.store.snapshot(instance_id)

    def set_instance_state(self, instance_id: int, state: str, *, end_time: datetime | None = None) -> None:
        self.store.set_instance_state(instance_id, state, end_time)

    def finish_instance(
        self,
        instance_id: int,
        state: str = "SUCCESS",
        end_time: datetime | None = None,
        *,
        task_log: str | None = None,
    ) -> None:
        """End a run: ``state`` and ``end_time`` (default: the clock's now). Its unfinished tasks end
        in the same state, with ``task_log`` as their log when given (a failed re-run's reason)."""
        self.store.finish_instance(instance_id, state, end_time, task_log)

    def set_definition_release_state(self, definition_code: int, state: str) -> None:
        self.store.set_definition_release_state(definition_code, state)

    def master_pickup(self) -> int:
        """The master consumes every queued command (ds-api.md 4.7); returns how many.

        START_FAILURE_TASK_PROCESS / RECOVER_SUSPENDED_PROCESS: RUNNING_EXECUTION, commandType set,
        runTimes+1, restartTime=now, start/end kept, failed tasks re-submitted. REPEAT_RUNNING also
        sets startTime=now and clears endTime. 3.3 recovers were already counted at the API call.
        Pending READY_STOP/READY_PAUSE instances settle to STOP/PAUSE (not counted).
        """
        return self.store.master_pickup()

    def set_project_permission(self, project_code: int, allowed: bool) -> None:
        """Deny (or grant again) the token user a project: hidden from lists, 30002 elsewhere."""
        with self.store.lock:
            (self.store.denied_projects.discard if allowed else self.store.denied_projects.add)(project_code)

    @property
    def master_available(self) -> bool:
        return self.store.master_available

    @master_available.setter
    def master_available(self, available: bool) -> None:
        self.store.master_available = available

    # ----------------------------------------------------------------- users and tokens

    def set_user_timezone(self, zone: str | None) -> None:
        """The token user's zone (None: the server zone applies), for JSON dates and date filters."""
        self.store.user_zone = None if zone is None else ZoneInfo(zone)

    def add_token(self, token: str, expires_at: datetime | None = None) -> None:
        """Another valid access token (never expiring unless ``expires_at`` is given)."""
        self.store.add_token(token, expires_at)

    def expire_token(self, token: str | None = None) -> None:
        """Let ``token`` (default: the constructor's) expire now; requests with it get 401."""
        self.store.expire_token(token or self.token)

    # ----------------------------------------------------------------- faults and calls

    def inject(
        self,
        kind: str,
        *,
        path_contains: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        delay: float | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail as ``kind`` (see ``faults.FAULT_KINDS``).

        ``times=None`` keeps the fault until :meth:`clear_faults`.
        """
        self.faults.add(kind, path_contains=path_contains, method=method, times=times, delay=delay)

    def clear_faults(self) -> None:
        self.faults.clear()

    def record(self, method: str, path: str, params: dict[str, str]) -> RecordedCall:
        """Register an arriving request (called by the server); its status is filled in on answer."""
        call = RecordedCall(method, path, params, 0, self.clock())
        with self._calls_lock:
            self._calls.append(call)
        return call

    @property
    def calls(self) -> list[RecordedCall]:
        """Requests received so far, oldest first (a copy)."""
        with self._calls_lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()

    def count_calls(self, method: str | None = None, path_contains: str | None = None) -> int:
        return sum(
            1
            for call in self.calls
            if (method is None or call.method == method.upper())
            and (path_contains is None or path_contains in call.path)
        )

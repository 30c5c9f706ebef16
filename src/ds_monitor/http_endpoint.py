"""The operator's HTTP window on a running monitor: ``/healthz``, ``/readyz``, ``/metrics``, ``/status``.

A stdlib :class:`~http.server.ThreadingHTTPServer` in a daemon thread, so nothing here can stall
a sweep and no dependency is added. Liveness and readiness answer different questions:
``/healthz`` says the run loop still ticks (a container platform restarts the process when it
does not), whatever DS does; ``/readyz`` says the last sweep got through (DS reachable, token
accepted), which is what an alert on "the monitor is blind" wants.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client.exposition import choose_encoder

from ds_monitor import __version__
from ds_monitor.errors import ConfigError, MonitorError
from ds_monitor.telemetry import MonitorMetrics

log = logging.getLogger("ds_monitor.http")

# The loop is called dead when no sweep attempt ended for this many check intervals.
LIVENESS_INTERVALS = 3
# How long a client may take to send its request before its connection is dropped.
REQUEST_TIMEOUT_SECONDS = 5.0
# serve_forever checks for shutdown this often; it bounds how long stop() waits.
POLL_SECONDS = 0.05


@dataclass
class Health:
    """What the run loop last achieved, shared between the loop (writer) and the server (reader).

    ``started_at`` is when the loop started; until a first sweep attempt ends it stands in for
    one, so a slow first sweep is not reported dead. ``sweep_budget`` (seconds, usually
    ``monitor.timeout``) is added to the liveness limit, so a long but legitimate sweep is not
    mistaken for a stuck loop; 0 keeps the plain "3 intervals" rule.
    """

    check_interval: float
    started_at: datetime
    sweep_budget: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _last_attempt_at: datetime | None = field(default=None, init=False)
    _last_ok: bool | None = field(default=None, init=False)
    _last_reason: str = field(default="", init=False)
    # With coordination: "leader" or "standby" and who leads; "single" = no coordination.
    _role: str = field(default="single", init=False)
    _leader: str | None = field(default=None, init=False)
    _standby_problem: str = field(default="", init=False)

    def __post_init__(self) -> None:
        _require_aware(self.started_at, "started_at")

    def sweep_attempted(self, now: datetime, ok: bool, reason: str = "") -> None:
        """Record the end of a sweep attempt; ``reason`` says why it failed (``"DS unreachable"``)."""
        _require_aware(now, "now")
        with self._lock:
            self._last_attempt_at = now
            self._last_ok = ok
            self._last_reason = "" if ok else (reason or "last sweep failed")

    def leading(self, leader: str) -> None:
        """This replica leads (coordination): readiness follows its sweeps again."""
        with self._lock:
            self._role, self._leader = "leader", leader

    def standby_checked(self, now: datetime, *, problem: str, leader: str | None) -> None:
        """A standby's tick: the loop is alive; it is ready while ``problem`` is empty (session healthy)."""
        _require_aware(now, "now")
        with self._lock:
            self._last_attempt_at = now
            self._role, self._leader, self._standby_problem = "standby", leader, problem

    def role_fields(self) -> dict:
        """What ``/readyz`` adds with coordination: this replica's role and the leader."""
        with self._lock:
            return {} if self._role == "single" else {"role": self._role, "leader": self._leader}

    def liveness(self, now: datetime) -> tuple[bool, str]:
        """``(True, "")`` while the last sweep attempt (or the start) is recent enough, else why not."""
        _require_aware(now, "now")
        limit = LIVENESS_INTERVALS * self.check_interval + self.sweep_budget
        with self._lock:
            last = self._last_attempt_at
        if last is None:
            since, what = self.started_at, "the loop started"
        else:
            since, what = last, "the last sweep attempt"
        age = (now - since).total_seconds()
        if age <= limit:
            return True, ""
        return False, f"{what} was {age:.0f}s ago (limit {limit:.0f}s): the run loop is stuck"

    def readiness(self) -> tuple[bool, str]:
        """``(True, "")`` only when the last sweep succeeded (or this is a healthy standby), else the reason."""
        with self._lock:
            if self._role == "standby":
                return not self._standby_problem, self._standby_problem
            if self._last_ok is None:
                return False, "no sweep has finished yet"
            return self._last_ok, self._last_reason


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


class HealthServer:
    """Serves the four routes on ``host:port`` from a daemon thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        health: Health,
        metrics: MonitorMetrics,
        status: Callable[[], dict],
        clock: Callable[[], datetime],
    ):
        self.host = host
        self.requested_port = port
        self.health = health
        self.metrics = metrics
        self.status = status
        self.clock = clock
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (differs from the requested one when that was 0)."""
        if self._server is None:
            raise RuntimeError("HealthServer.port is known only after start()")
        return self._server.server_address[1]

    def start(self) -> None:
        """Bind and serve in the background; a port that cannot be bound is a configuration error."""
        try:
            self._server = _Server((self.host, self.requested_port), _Handler, app=self)
        except OSError as err:
            where = f"{self.host}:{self.requested_port}"
            raise ConfigError(f"monitor.http_port: cannot listen on {where}: {err.strerror or err}") from err
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_SECONDS},
            name="ds-monitor-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; requests still in flight finish on their daemon threads."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def route(self, path: str, accept: str) -> tuple[int, str, bytes]:
        """Answer one GET: ``(HTTP status, content type, body)``."""
        if path == "/healthz":
            alive, reason = self.health.liveness(self.clock())
            return _json(HTTPStatus.OK, {"status": "ok"}) if alive else _json(
                HTTPStatus.SERVICE_UNAVAILABLE, {"status": "unhealthy", "reason": reason})
        if path == "/readyz":
            ready, reason = self.health.readiness()
            roles = self.health.role_fields()
            return _json(HTTPStatus.OK, {"status": "ready", **roles}) if ready else _json(
                HTTPStatus.SERVICE_UNAVAILABLE, {"status": "not ready", "reason": reason, **roles})
        if path == "/metrics":
            # Negotiated like prometheus_client's own handler: the classic text format unless the
            # scraper asks for OpenMetrics.
            encoder, content_type = choose_encoder(accept)
            return HTTPStatus.OK, content_type, encoder(self.metrics.registry)
        if path == "/status":
            try:
                return _json(HTTPStatus.OK, self.status())
            except MonitorError as err:
                log.warning("/status failed: %s", err)
                return _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(err)})
        return _json(HTTPStatus.NOT_FOUND,
                     {"error": f"no route {path}; try /healthz /readyz /metrics /status"})


def _json(status: HTTPStatus, payload: dict) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload, ensure_ascii=False).encode("utf-8")


class _Server(ThreadingHTTPServer):
    # (Inherited, stated because stop() relies on it.) Daemon request threads are not joined on
    # close, so a slow or idle client cannot hold up shutdown.
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, app: HealthServer):
        self.app = app
        super().__init__(address, handler)

    def handle_error(self, request, client_address) -> None:
        # socketserver prints these to stderr; a client that hangs up early is not worth more than DEBUG.
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"ds-monitor/{__version__}"
    # Do not advertise the Python version to whoever can reach the port.
    sys_version = ""
    timeout = REQUEST_TIMEOUT_SECONDS

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        try:
            status, content_type, body = self.server.app.route(urlsplit(self.path).path,
                                                               self.headers.get("Accept", ""))
        except Exception:  # noqa: BLE001 - a bug in one route must not kill the server thread
            log.exception("error serving %s", self.path)
            status, content_type, body = _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature fixed by http.server
        # Health checks hit this every few seconds; access lines belong at DEBUG, not on stderr.
        log.debug("%s %s", self.address_string(), format % args)

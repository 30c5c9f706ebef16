"""The HTTP shell of the DS double: sockets, keep-alive, latency, faults, rate limit, call recording.

Everything DS-specific is decided by :class:`~.api.Api`; this module only moves bytes and plays
the network and proxy failures injected through :class:`~.faults.FaultPlan`. Sleeps (latency,
``timeout`` faults) happen outside the store lock and wake up at once when the simulator stops.
"""

from __future__ import annotations

import selectors
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from .api import CONTEXT_PATH, Api, Request, Response
from .faults import FaultPlan, RateLimiter


class Served(Protocol):
    """What the HTTP side needs of the simulator (``DSSimulator``), so the server never imports it back."""

    api: Api
    faults: FaultPlan
    rate_limiter: RateLimiter
    rate_limit_qps: float | None
    latency: float
    auto_master: bool
    stopping: threading.Event

    def record(self, method: str, path: str, params: dict[str, str]) -> RecordedCall: ...

    def master_pickup(self) -> int: ...


@dataclass
class RecordedCall:
    """One request the double received. ``status`` is 0 while unanswered or when never answered."""

    method: str
    path: str  # below the context path, e.g. "/projects/123/process-instances"
    params: dict[str, str]
    status: int
    at: datetime


class SimulatorServer(ThreadingHTTPServer):
    """A threaded server that stops at once and cuts its open keep-alive connections on close.

    ``serve_forever`` notices a shutdown only at its next poll (a sizeable delay when a test suite
    starts hundreds of servers); here a socketpair wakes the accept loop instead.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], simulator: Served) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closing = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, _Handler)

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`request_stop`."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._closing.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self and not self._closing.is_set():
                        self._handle_request_noblock()

    def request_stop(self) -> None:
        self._closing.set()
        self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        """Close the listening socket, the wake-up pair and every open client connection."""
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the peer closed it already

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)


def _first_values(query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(key, value)  # request.getParameter(): the first value wins
    return values


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Tomcat; requests sessions reuse connections
    # Headers and body leave in separate writes; with Nagle on, delayed ACKs add ~40 ms per answer.
    disable_nagle_algorithm = True
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the calls are recorded on the simulator instead of printed."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        sim = self.server.simulator
        url = urlsplit(self.path)
        params = _first_values(url.query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            for key, value in _first_values(body.decode("utf-8", "replace")).items():
                params.setdefault(key, value)
        inside_context = url.path.startswith(CONTEXT_PATH + "/")
        path = url.path[len(CONTEXT_PATH) :] if inside_context else url.path
        call = sim.record(self.command, path, params)

        if not inside_context:
            return self._send(call, Response(404))
        if not sim.rate_limiter.allow(sim.rate_limit_qps):
            return self._send(call, Response(429))
        if sim.auto_master:
            sim.master_pickup()
        fault = sim.faults.take(self.command, path)
        delay = sim.latency + (fault.wait_seconds if fault else 0.0)
        if delay > 0 and sim.stopping.wait(delay):
            return self._drop(call)  # the simulator is stopping: abandon the request
        if fault and fault.replaces_answer:
            canned = fault.canned_response(CONTEXT_PATH + path, call.at)
            return self._drop(call) if canned is None else self._send(call, canned)

        response = sim.api.handle(Request(self.command, path, params, self.headers.get("token")))
        if fault and fault.kind == "drop_after_apply":
            self._drop(call)
        elif fault and fault.kind == "truncated_json":
            self._send(call, response, truncate=True)
        else:
            self._send(call, response)
        if sim.auto_master and self.command == "POST" and path.endswith("/executors/execute"):
            sim.master_pickup()

    def _send(self, call: RecordedCall, response: Response, *, truncate: bool = False) -> None:
        call.status = response.status  # before writing: the client may look as soon as it has the answer
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2] if truncate else response.body)
        if truncate:
            self.close_connection = True

    def _drop(self, call: RecordedCall) -> None:
        self.close_connection = True
        call.status = 0  # never answered

"""The HTTP plumbing shared by the robot doubles: a real server, request recording, fault injection.

Faults model what the real services (or the network in front of them) do on a bad day:
``("status", 502)``, ``("html",)``, ``("redirect",)`` (DingTalk's block page), ``("hang",)`` (no
answer until :meth:`RobotDouble.release` or the client's read timeout), ``("close",)`` (drop the
connection), ``("invalid_json",)`` and ``("busy",)`` (errcode -1). ``fail_times`` limits a fault
to the next N requests, so retries can be observed.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """A non-JSON or non-200 answer, for services that speak HTTP status codes (Slack, plain webhooks)."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    raw_query: str
    headers: dict
    body: bytes
    client_ip: str

    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))


class RobotDouble(ABC):
    """A chat robot service: subclasses implement :meth:`answer` with the real service's rules."""

    def __init__(self, clock: Callable[[], float] | None = None):
        self.clock = clock or time.time
        self.requests: list[RecordedRequest] = []
        self.accepted: list[dict] = []
        self.fault: tuple | None = None
        self.fail_times: int | None = None
        self.received = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def release(self) -> None:
        """Let requests held by the ``hang`` fault proceed."""
        self._release.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    @abstractmethod
    def answer(self, request: RecordedRequest) -> dict | Reply:
        """The real service's answer to ``request``: a dict is JSON with HTTP 200 (the robots' way)."""

    @staticmethod
    def errcode(code: int, msg: str) -> dict:
        return {"errcode": code, "errmsg": msg}

    def _take_fault(self) -> tuple | None:
        with self._lock:
            if self.fault is None:
                return None
            fault = self.fault
            if self.fail_times is not None:
                self.fail_times -= 1
                if self.fail_times <= 0:
                    self.fault, self.fail_times = None, None
            return fault

    def _handler_class(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    parts.path,
                    parts.query,
                    dict(self.headers),
                    self.rfile.read(length),
                    self.client_address[0],
                )
                with double._lock:
                    double.requests.append(request)
                double.received.set()
                fault = double._take_fault()
                if fault is not None:
                    kind = fault[0]
                    if kind == "status":
                        return self._reply(fault[1], b"upstream trouble", "text/plain")
                    if kind == "html":
                        return self._reply(200, b"<html><body>maintenance</body></html>", "text/html")
                    if kind == "redirect":
                        self.send_response(302)
                        self.send_header("Location", "https://example.invalid/blocked")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    if kind == "hang":
                        double._release.wait(30)
                    if kind == "close":
                        self.close_connection = True
                        return None
                    if kind == "invalid_json":
                        return self._reply(200, b"{not json", "application/json")
                    if kind == "busy":
                        return self._json(RobotDouble.errcode(-1, "system busy"))
                with double._lock:
                    answer = double.answer(request)
                if isinstance(answer, Reply):
                    return self._reply(answer.status, answer.body, answer.content_type, answer.headers)
                return self._json(answer)

            def _json(self, payload: dict):
                return self._reply(200, json.dumps(payload).encode(), "application/json")

            def _reply(self, status: int, body: bytes, content_type: str, headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its read timeout): nothing left to answer

        return Handler

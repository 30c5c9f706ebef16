"""Injected transport faults and the optional rate limiter of the DS double.

Faults model what sits between the monitor and DS (proxies, networks, overloaded servers), not DS
business refusals, which the store produces by itself. A fault matches requests by method and by
a substring of the path below the context path; each matching request consumes one use.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from .api import Response

# kind -> what the server does with a matching request
FAULT_KINDS: dict[str, str] = {
    "latency": "wait `delay` seconds, then answer normally",
    "timeout": "wait `delay` seconds (default 5), then answer normally; the client has usually given up",
    "http_500": "HTTP 500 with Spring Boot's JSON error body; the request is not processed",
    "http_502": "HTTP 502 with a proxy's HTML page; the request is not processed",
    "http_503": "HTTP 503 with a proxy's HTML page; the request is not processed",
    "http_504": "HTTP 504 with a proxy's HTML page; the request is not processed",
    "http_429": "HTTP 429 with an empty body, like DS's rate limiter; the request is not processed",
    "drop": "close the connection without any response; the request is not processed",
    "malformed_json": "HTTP 200 application/json whose body is not valid JSON; not processed",
    "truncated_json": "process the request, announce the full Content-Length, send half, close",
    "html": "HTTP 200 text/html (a login or UI page); the request is not processed",
    "token_rejected": "HTTP 401 with an empty body; the request is not processed",
    "drop_after_apply": "process the request (e.g. queue the recover command), then close unanswered",
}
DEFAULT_TIMEOUT_DELAY = 5.0
# Kinds whose answer replaces the API's: the request never reaches DS.
_REPLACES_ANSWER = frozenset(
    {
        "http_500",
        "http_502",
        "http_503",
        "http_504",
        "http_429",
        "drop",
        "malformed_json",
        "html",
        "token_rejected",
    }
)
_PROXY_PAGE = "<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
_GATEWAY_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass
class Fault:
    kind: str
    path_contains: str | None
    method: str | None
    remaining: int | None  # None: until cleared
    delay: float | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )

    @property
    def wait_seconds(self) -> float:
        """How long the server stalls before answering for this fault."""
        if self.kind == "timeout":
            return DEFAULT_TIMEOUT_DELAY if self.delay is None else self.delay
        if self.kind == "latency":
            return self.delay or 0.0
        return 0.0

    @property
    def replaces_answer(self) -> bool:
        return self.kind in _REPLACES_ANSWER

    def canned_response(self, full_path: str, at: datetime) -> Response | None:
        """The answer sent instead of the API's (for ``replaces_answer`` kinds); None: close unanswered."""
        if self.kind == "drop":
            return None
        if self.kind == "http_429":
            return Response(429)
        if self.kind == "token_rejected":
            return Response(401)
        if self.kind == "http_500":  # Spring Boot's default error body, not a DS envelope
            error = {"timestamp": at.isoformat(timespec="milliseconds"), "status": 500,
                     "error": "Internal Server Error", "path": full_path}  # fmt: skip
            return Response.json(error, status=500)
        if self.kind in ("http_502", "http_503", "http_504"):  # a reverse proxy's page
            status = int(self.kind.removeprefix("http_"))
            page = _PROXY_PAGE.format(title=f"{status} {_GATEWAY_REASONS[status]}")
            return Response(status, page.encode(), "text/html")
        if self.kind == "html":  # e.g. a single-sign-on page in front of DS
            return Response(
                200, _PROXY_PAGE.format(title="Please sign in").encode(), "text/html;charset=UTF-8"
            )
        # malformed_json: a complete answer whose body does not parse
        return Response(
            200, json.dumps({"code": 0, "msg": "success"}).encode()[:-1] + b',"data":[}', "application/json"
        )


class FaultPlan:
    """The injected faults, consumed first-injected-first by matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        kind: str,
        *,
        path_contains: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        delay: float | None = None,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times}")
        if kind == "latency" and delay is None:
            raise ValueError("a latency fault needs delay=<seconds>")
        with self._lock:
            self._faults.append(Fault(kind, path_contains, method and method.upper(), times, delay))

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class RateLimiter:
    """A token bucket like DS's (Guava) global limiter: ``qps`` permits per second, burst of ``qps``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._qps: float | None = None
        self._tokens = 0.0
        self._last = 0.0

    def allow(self, qps: float | None) -> bool:
        """Take a permit at the current rate setting; always True when ``qps`` is None."""
        if qps is None:
            return True
        with self._lock:
            now = time.monotonic()
            if qps != self._qps:  # the setting changed: start with a full bucket
                self._qps, self._tokens, self._last = qps, float(qps), now
            self._tokens = min(float(qps), self._tokens + (now - self._last) * qps)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

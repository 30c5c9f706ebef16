"""The health endpoint over real HTTP on 127.0.0.1, with an injected clock."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email.message import Message

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from ds_monitor.errors import ConfigError, StateError
from ds_monitor.http_endpoint import Health, HealthServer
from ds_monitor.telemetry import MonitorMetrics

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
INTERVAL = 60.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Endpoint:
    """A started HealthServer plus the parts a test pokes at."""

    def __init__(self, *, sweep_budget: float = 0.0, status=None):
        self.clock = Clock(T0)
        self.health = Health(check_interval=INTERVAL, started_at=T0, sweep_budget=sweep_budget)
        self.metrics = MonitorMetrics()
        self.status_payload = {"generated_at": T0.isoformat(), "recovery": [], "warnings": []}
        self.server = HealthServer("127.0.0.1", 0, health=self.health, metrics=self.metrics,
                                   status=status or (lambda: self.status_payload), clock=self.clock)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def get_json(self, path: str) -> tuple[int, dict]:
        status, headers, body = self.get(path)
        assert headers["Content-Type"] == "application/json"
        return status, json.loads(body)


@contextmanager
def started(endpoint: Endpoint) -> Iterator[Endpoint]:
    endpoint.server.start()
    try:
        yield endpoint
    finally:
        endpoint.server.stop()


@pytest.fixture
def ep() -> Iterator[Endpoint]:
    with started(Endpoint()) as endpoint:
        yield endpoint


# --- /healthz: alive while a sweep attempt ended within 3 intervals (+ the sweep budget) ---------------

@pytest.mark.parametrize(
    ("last_attempt_after_start", "sweep_budget", "seconds_since", "alive"),
    [
        pytest.param(None, 0, 179, True, id="no-sweep-yet-just-before-3-intervals"),
        pytest.param(None, 0, 180, True, id="no-sweep-yet-at-3-intervals"),
        pytest.param(None, 0, 181, False, id="no-sweep-yet-just-after-3-intervals"),
        pytest.param(100, 0, 179, True, id="after-sweep-just-before"),
        pytest.param(100, 0, 180, True, id="after-sweep-at"),
        pytest.param(100, 0, 181, False, id="after-sweep-just-after"),
        pytest.param(100, 300, 480, True, id="with-sweep-budget-at-limit"),
        pytest.param(100, 300, 481, False, id="with-sweep-budget-just-after"),
    ],
)
def test_healthz_follows_the_last_sweep_attempt(last_attempt_after_start, sweep_budget, seconds_since, alive):
    with started(Endpoint(sweep_budget=sweep_budget)) as ep:
        since = T0
        if last_attempt_after_start is not None:
            since = T0 + timedelta(seconds=last_attempt_after_start)
            # A failed sweep still proves the loop ticks: liveness ignores what DS does.
            ep.health.sweep_attempted(since, ok=False, reason="DS unreachable")
        ep.clock.now = since + timedelta(seconds=seconds_since)

        status, body = ep.get_json("/healthz")

        if alive:
            assert (status, body) == (200, {"status": "ok"})
        else:
            assert status == 503
            assert body["status"] == "unhealthy"
            assert f"{seconds_since}s ago" in body["reason"]
            assert "\n" not in body["reason"]


def test_healthz_recovers_when_the_loop_ticks_again(ep):
    ep.clock.now = T0 + timedelta(seconds=500)
    assert ep.get_json("/healthz")[0] == 503
    ep.health.sweep_attempted(ep.clock.now, ok=True)
    assert ep.get_json("/healthz") == (200, {"status": "ok"})


def test_healthz_limit_follows_a_reloaded_interval(ep):
    ep.clock.now = T0 + timedelta(seconds=200)
    assert ep.get_json("/healthz")[0] == 503
    ep.health.check_interval = 120.0
    assert ep.get_json("/healthz")[0] == 200


# --- /readyz: ready only when the last sweep succeeded ------------------------------------------------

@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        pytest.param([], (503, {"status": "not ready", "reason": "no sweep has finished yet"}),
                     id="no-sweep"),
        pytest.param([(False, "DS unreachable")], (503, {"status": "not ready", "reason": "DS unreachable"}),
                     id="ds-unreachable"),
        pytest.param([(True, ""), (False, "token rejected")],
                     (503, {"status": "not ready", "reason": "token rejected"}), id="ok-then-token-rejected"),
        pytest.param([(False, "")], (503, {"status": "not ready", "reason": "last sweep failed"}),
                     id="failed-without-reason"),
        pytest.param([(False, "DS unreachable"), (True, "")], (200, {"status": "ready"}),
                     id="failed-then-ok"),
    ],
)
def test_readyz_reflects_the_last_sweep(ep, attempts, expected):
    for minute, (ok, reason) in enumerate(attempts):
        ep.health.sweep_attempted(T0 + timedelta(minutes=minute), ok=ok, reason=reason)
    assert ep.get_json("/readyz") == expected


# --- /metrics ----------------------------------------------------------------------------------------

def test_metrics_exposes_the_counters_in_prometheus_text_format(ep):
    ep.metrics.sweep_finished(ok=True, seconds=1.5)
    ep.metrics.sweep_finished(ok=False, seconds=0.2)
    ep.metrics.ds_call("GET /projects", "ok", 0.05)
    ep.metrics.recovery("triggered")
    ep.metrics.notification("wework", "sent")

    status, headers, body = ep.get("/metrics")

    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode("utf-8"))
        for sample in family.samples
    }
    assert samples[("ds_monitor_sweeps_total", (("result", "ok"),))] == 1
    assert samples[("ds_monitor_sweeps_total", (("result", "failed"),))] == 1
    assert samples[("ds_monitor_consecutive_failed_sweeps", ())] == 1
    assert samples[("ds_monitor_sweep_duration_seconds_count", ())] == 2
    assert samples[("ds_monitor_ds_calls_total", (("endpoint", "GET /projects"), ("outcome", "ok")))] == 1
    assert samples[("ds_monitor_recoveries_total", (("result", "triggered"),))] == 1
    assert samples[("ds_monitor_notifications_total", (("channel", "wework"), ("result", "sent")))] == 1


def test_metrics_speaks_openmetrics_when_the_scraper_asks(ep):
    ep.metrics.calls_saved(5)
    status, headers, body = ep.get("/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    families = {family.name: family for family in parse_openmetrics(body.decode("utf-8"))}
    assert families["ds_monitor_calls_saved_by_schedule"].samples[0].value == 5


# --- /status and everything else -----------------------------------------------------------------------

def test_status_serves_the_status_json(ep):
    ep.status_payload["recovery"] = [{"instance_id": 42, "attempts": 1}]
    assert ep.get_json("/status") == (200, ep.status_payload)


def test_status_error_is_a_one_line_500():
    def broken_status() -> dict:
        raise StateError("logs/recovery_state.json: permission denied")

    with started(Endpoint(status=broken_status)) as ep:
        assert ep.get_json("/status") == (500, {"error": "logs/recovery_state.json: permission denied"})


def test_a_bug_in_a_route_answers_500_and_the_server_keeps_serving():
    def buggy_status() -> dict:
        raise KeyError("recovery")

    with started(Endpoint(status=buggy_status)) as ep:
        assert ep.get_json("/status") == (500, {"error": "internal error"})
        assert ep.get_json("/healthz")[0] == 200


@pytest.mark.parametrize("path", ["/", "/health", "/metrics/extra", "/HEALTHZ"], ids=str)
def test_unknown_paths_are_404(ep, path):
    status, body = ep.get_json(path)
    assert status == 404
    assert path in body["error"]


def test_query_strings_do_not_change_the_route(ep):
    assert ep.get_json("/healthz?verbose=1") == (200, {"status": "ok"})


def test_access_lines_go_to_debug_logging_not_stderr(ep, capfd, caplog):
    caplog.set_level(logging.DEBUG, logger="ds_monitor.http")
    ep.get("/healthz")
    ep.get("/nowhere")
    assert capfd.readouterr().err == ""
    access = [r.getMessage() for r in caplog.records if r.name == "ds_monitor.http"]
    assert any("GET /healthz" in line and "200" in line for line in access)
    assert any("GET /nowhere" in line and "404" in line for line in access)


# --- lifecycle ----------------------------------------------------------------------------------------

def test_stop_does_not_wait_for_a_client_that_never_sends_its_request():
    endpoint = Endpoint()
    endpoint.server.start()
    port = endpoint.server.port
    # An idle connection parks a handler thread in a blocking read for REQUEST_TIMEOUT_SECONDS.
    idle = socket.create_connection(("127.0.0.1", port))
    try:
        assert endpoint.get_json("/healthz")[0] == 200
        stopper = threading.Thread(target=endpoint.server.stop)
        stopper.start()
        # A hang guard well below the 5 s request timeout, not a speed measurement.
        stopper.join(timeout=3)
        assert not stopper.is_alive(), "stop() waited for the idle client"
    finally:
        idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_stop_before_start_and_twice_is_harmless():
    endpoint = Endpoint()
    endpoint.server.stop()
    endpoint.server.start()
    endpoint.server.stop()
    endpoint.server.stop()


def test_port_is_unknown_before_start():
    with pytest.raises(RuntimeError, match="after start"):
        _ = Endpoint().server.port


def test_a_port_in_use_is_a_config_error_naming_the_key():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        endpoint = Endpoint()
        endpoint.server.requested_port = port
        with pytest.raises(ConfigError, match=rf"monitor\.http_port: cannot listen on 127\.0\.0\.1:{port}"):
            endpoint.server.start()


@pytest.mark.parametrize("call", ["constructor", "sweep_attempted", "liveness"])
def test_naive_datetimes_are_refused(call):
    naive = datetime(2026, 3, 1, 8, 0)  # noqa: DTZ001 - the point of the test
    if call == "constructor":
        with pytest.raises(ValueError, match="started_at must be a timezone-aware"):
            Health(check_interval=INTERVAL, started_at=naive)
        return
    health = Health(check_interval=INTERVAL, started_at=T0)
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        getattr(health, call)(naive, **({"ok": True} if call == "sweep_attempted" else {}))

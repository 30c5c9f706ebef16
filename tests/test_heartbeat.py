"""The heartbeat (spec section 10): one background GET per good sweep, counted, never blocking, URL masked."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ds_monitor.app import build_monitor
from ds_monitor.heartbeat import Heartbeat
from ds_monitor.redaction import mask_url_path

SECRET_PATH = "/ping/5f1c0d9e-secret-uuid"


class PingService:
    """A dead-man's-switch double: counts GETs, answers ``status``, can hold answers until released."""

    def __init__(self, status: int = 200):
        self.status = status
        self.paths: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.arrived = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                service.paths.append(self.path)
                service.arrived.set()
                service.release.wait(10)
                self.send_response(service.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    started = PingService()
    yield started
    started.close()


def test_a_beat_pings_once_and_counts_ok(service):
    results = []
    beat = Heartbeat(service.url, on_result=results.append)
    beat.beat()
    beat.close()
    assert service.paths == [SECRET_PATH]
    assert results == ["ok"]


def test_a_slow_service_never_blocks_and_a_second_beat_is_skipped(service):
    results = []
    service.release.clear()
    beat = Heartbeat(service.url, on_result=results.append)
    beat.beat()  # returns at once although the service holds its answer
    assert service.arrived.wait(5)
    beat.beat()
    assert results == ["skipped"]
    service.release.set()
    beat.close()
    assert results == ["skipped", "ok"]
    assert len(service.paths) == 1


@pytest.mark.parametrize("status", [404, 503])
def test_an_error_answer_is_logged_without_the_secret_and_counted(service, status, caplog):
    service.status = status
    results = []
    beat = Heartbeat(service.url, on_result=results.append)
    with caplog.at_level(logging.DEBUG, logger="ds_monitor.heartbeat"):
        beat.beat()
        beat.close()
    assert results == ["failed"]
    assert f"HTTP {status}" in caplog.text
    assert "secret-uuid" not in caplog.text


def test_an_unreachable_service_is_counted_and_the_url_stays_hidden(caplog):
    results = []
    # Port 9 on localhost: nothing listens there, the connection is refused at once.
    beat = Heartbeat(f"http://user:pw@127.0.0.1:9{SECRET_PATH}", on_result=results.append, timeout=2)
    with caplog.at_level(logging.DEBUG, logger="ds_monitor.heartbeat"):
        beat.beat()
        beat.close()
    assert results == ["failed"]
    assert "secret-uuid" not in caplog.text and "pw" not in caplog.text


def test_the_url_shown_keeps_only_scheme_and_host():
    assert mask_url_path("https://user:pw@hc-ping.com/abc-123?x=1") == "https://hc-ping.com/***"
    assert mask_url_path("http://kuma:3001/api/push/Xy12?status=up") == "http://kuma:3001/***"


def test_a_good_sweep_pings_and_a_failed_one_does_not(make_ds_sim, tmp_path, service):
    from dataclasses import replace

    from ds_monitor.telemetry import MonitorMetrics
    from tests.sweep.e2e import NOW, TOKEN, make_config

    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    sim.add_definition(sim.add_project("data-platform"), "daily_etl_job")
    config = make_config(sim, tmp_path, monitor={"heartbeat_url": service.url})
    telemetry = MonitorMetrics()
    monitor = build_monitor(config, clock=lambda: NOW, senders=[], telemetry=telemetry, retry_backoff=0.0)
    assert monitor.sweep(NOW).ok
    monitor.close()
    assert service.paths == [SECRET_PATH]
    assert telemetry.registry.get_sample_value("ds_monitor_heartbeats_total", {"result": "ok"}) == 1

    bad_token = replace(config, dolphinscheduler=replace(config.dolphinscheduler, token="wrong"))
    monitor = build_monitor(bad_token, clock=lambda: NOW, senders=[], retry_backoff=0.0)
    assert not monitor.sweep(NOW).ok
    monitor.close()
    assert service.paths == [SECRET_PATH]


def test_the_url_is_masked_in_config_check_values():
    from ds_monitor.config import load_config

    loaded = load_config(None, environ={"DS_MONITOR__HEARTBEAT_URL": "https://hc-ping.com/5f1c0d9e-secret-uuid"},
                         dotenv_path=None)
    shown = dict((key, value) for key, value, _ in loaded.effective_values())["monitor.heartbeat_url"]
    assert "secret-uuid" not in shown
    assert "/5f1c0d9e-secret-uuid" in loaded.secret_values()

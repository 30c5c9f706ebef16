"""A stop request or a spent sweep budget cuts DS retries and backoff short (issue 15 item 4).

SIGTERM while DS hangs used to take four timeouts plus backoff, longer than the 45 s grace Docker and
systemd give before SIGKILL; monitor.timeout did not bound the retries of one call either.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from ds_monitor.config import DolphinSchedulerConfig
from ds_monitor.ds.client import DSClient
from ds_monitor.errors import DSProtocolError, DSUnreachable
from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor

INSTANCES = "process-instances"


@pytest.fixture
def sim(make_ds_sim):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    sim.add_definition(sim.add_project("p"), "wf")
    return sim


def client(sim, *, backoff: float = 0.0) -> DSClient:
    config = DolphinSchedulerConfig(api_url=sim.url, token=TOKEN, api_version="3.2", server_timezone="UTC")
    return DSClient(config, retry_backoff=backoff, max_retries=3)


@pytest.mark.parametrize(("kind", "error", "message"), [
    ("drop", DSUnreachable, "connection dropped without an answer; not retried: shutdown requested"),
    ("http_503", DSProtocolError, "HTTP 503"),
])
def test_no_retry_after_a_stop_request(sim, kind, error, message):
    ds = client(sim)
    project = ds.list_projects()[0].code
    sim.inject(kind, path_contains=INSTANCES, times=None)
    ds.retry_guard = lambda: "shutdown requested" if sim.count_calls(path_contains=INSTANCES) else None
    with pytest.raises(error, match=message):
        ds.list_instances(project)
    ds.close()
    assert sim.count_calls(path_contains=INSTANCES) == 1


def test_a_stop_request_ends_the_backoff_wait(sim):
    ds = client(sim, backoff=60)  # the second retry would wait 120 s
    project = ds.list_projects()[0].code
    sim.inject("drop", path_contains=INSTANCES, times=None)
    stop = threading.Event()
    ds.retry_guard = lambda: "shutdown requested" if stop.is_set() else None
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    with pytest.raises(DSUnreachable, match="not retried: shutdown requested"):
        ds.list_instances(project)
    timer.cancel()
    ds.close()
    assert sim.count_calls(path_contains=INSTANCES) <= 2


def test_the_sweep_budget_bounds_retries(sim, tmp_path):
    config = make_config(sim, tmp_path)
    config = replace(config, monitor=replace(config.monitor, timeout=5, max_unchecked_minutes=0))
    monitor = make_monitor(config)
    ticks = iter(range(0, 10_000, 10))  # every reading of the clock is 10 s later: the budget is spent at once
    monitor.monotonic = lambda: next(ticks)
    sim.inject("http_503", path_contains=INSTANCES, times=None)
    report = monitor.sweep(NOW)
    monitor.close()
    assert not report.ok and "HTTP 503" in report.error
    assert sim.count_calls(path_contains=INSTANCES) == 1


def test_the_monitor_tells_its_client_about_a_stop_request(sim, tmp_path):
    monitor = make_monitor(make_config(sim, tmp_path))
    assert monitor.client.retry_guard() is None
    monitor.stop_requested = lambda: True
    assert monitor.client.retry_guard() == "shutdown requested"
    monitor.close()

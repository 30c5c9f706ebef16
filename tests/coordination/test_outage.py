"""ZooKeeper unreachable, at start or later: clear errors, retries, and no act without the session (spec 11)."""

from __future__ import annotations

import logging
import threading

import pytest

from ds_monitor.clock import utc_now
from ds_monitor.config import ZooKeeperConfig, load_config
from ds_monitor.coordination import Coordinator
from ds_monitor.errors import NotLeader
from ds_monitor.runner import Runner
from ds_monitor.state import RECOVERY
from ds_monitor.state.zookeeper import ZooKeeperStore
from ds_monitor.telemetry import MonitorMetrics

from .replicas import wait_for
from .zkserver import ZooKeeperServer, free_port


@pytest.fixture
def own_zookeeper(tmp_path):
    """A server of this test alone: it is stopped and started again on the same port and data."""
    server = ZooKeeperServer(tmp_path / "zk")
    server.start()
    yield server
    server.stop()


def test_a_leader_without_its_server_acts_on_nothing_and_resumes_when_it_returns(own_zookeeper):
    # A session longer than the outage: the same session survives it, as with a ZooKeeper restart.
    # The outage lasts as long as the JVM takes to start again: seconds on a loaded machine.
    cfg = ZooKeeperConfig(hosts=own_zookeeper.hosts, root="/outage", session_timeout_seconds=20)
    leader = Coordinator(cfg, identity="a")
    leader.start()
    try:
        assert leader.try_lead()
        store = ZooKeeperStore(leader)
        store.save(RECOVERY, {"n": 1})
        own_zookeeper.stop()
        wait_for(lambda: not leader.connected, what="the connection is suspended")
        assert leader.role == "standby"
        with pytest.raises(NotLeader):
            leader.fence()
        with pytest.raises(NotLeader):
            store.save(RECOVERY, {"n": 2})
        own_zookeeper.start()
        wait_for(lambda: leader.is_leader, timeout=30, what="the session is back")
        leader.fence()
        assert store.load(RECOVERY)["n"] == 1
        store.save(RECOVERY, {"n": 3})
    finally:
        leader.close()


def test_run_without_zookeeper_logs_a_clear_error_and_retries_until_stopped(caplog):
    env = {
        "DS_TOKEN": "t",
        "DS_COORDINATION__BACKEND": "zookeeper",
        "DS_COORDINATION__ZOOKEEPER__HOSTS": f"127.0.0.1:{free_port()}",
        "DS_COORDINATION__ZOOKEEPER__SESSION_TIMEOUT_SECONDS": "1",
    }
    loaded = load_config(None, environ=env, dotenv_path=None)
    built = []

    def build(_loaded):
        monitor = _NeverSweeps()
        built.append(monitor)
        return monitor

    coordinator = Coordinator(loaded.config.coordination.zookeeper)
    runner = Runner(
        loaded,
        reload=lambda: loaded,
        build=build,
        telemetry=MonitorMetrics(),
        clock=utc_now,
        coordinator=coordinator,
        http_port=0,
    )
    result = []
    try:
        with caplog.at_level(logging.ERROR, logger="ds_monitor.runner"):
            thread = threading.Thread(target=lambda: result.append(runner.run()))
            thread.start()
            wait_for(lambda: sum("unreachable" in r.getMessage() for r in caplog.records) >= 2, what="two attempts")
            runner.request_stop()
            thread.join(timeout=10)
    finally:
        coordinator.close()
    assert result == [None]  # run() returned: stopped, no error
    assert "retrying in" in caplog.records[0].getMessage()
    assert built and not built[0].swept


class _NeverSweeps:
    """A monitor that records whether the loop asked it to sweep (it must not, without ZooKeeper)."""

    def __init__(self):
        self.swept = False
        self.stop_requested = None
        self.role = "single"

    def sweep(self, now):
        self.swept = True
        raise AssertionError("swept without a ZooKeeper session")

    def close(self):
        pass


def test_a_reload_cannot_switch_the_coordination_backend(caplog):
    before = load_config(None, environ={"DS_TOKEN": "t"}, dotenv_path=None)
    zookeeper = {"DS_COORDINATION__BACKEND": "zookeeper", "DS_COORDINATION__ZOOKEEPER__HOSTS": "zk:2181"}
    after = load_config(None, environ={"DS_TOKEN": "t", **zookeeper}, dotenv_path=None)
    running = _NeverSweeps()
    runner = Runner(
        before,
        reload=lambda: after,
        build=lambda _: _NeverSweeps(),
        telemetry=MonitorMetrics(),
        clock=utc_now,
        http_port=0,
    )
    with caplog.at_level(logging.ERROR, logger="ds_monitor.runner"):
        assert runner._reload(running, health=None) is running
    assert runner.loaded is before
    assert "coordination.* changes need a restart" in caplog.text

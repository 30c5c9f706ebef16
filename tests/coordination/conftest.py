from __future__ import annotations

import uuid

import pytest

from ds_monitor.config import ZooKeeperConfig
from ds_monitor.coordination import Coordinator

from .zkserver import ZooKeeperServer


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory):
    """One real ZooKeeper for the whole session (starting a JVM costs about a second)."""
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def zk_config(zookeeper) -> ZooKeeperConfig:
    """A root of its own per test, so tests share the server but not the state."""
    return ZooKeeperConfig(hosts=zookeeper.hosts, root=f"/t-{uuid.uuid4().hex[:12]}", session_timeout_seconds=2)


@pytest.fixture
def make_coordinator(zk_config):
    started: list[Coordinator] = []

    def make(identity: str, cfg: ZooKeeperConfig | None = None) -> Coordinator:
        coordinator = Coordinator(cfg or zk_config, identity=identity)
        coordinator.start()
        started.append(coordinator)
        return coordinator

    yield make
    for coordinator in started:
        coordinator.close()

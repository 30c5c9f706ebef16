"""Shared fixtures: the DolphinScheduler double, started on 127.0.0.1 and stopped after the test,
``python main.py`` run in-process, and a real ZooKeeper (tests/coordination and the ZooKeeper state
store in tests/state)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ds_monitor import cli
from ds_monitor.clock import utc_now
from ds_monitor.config import ZooKeeperConfig
from ds_monitor.coordination import Coordinator
from ds_monitor.simulator import DSSimulator
from tests.coordination.zkserver import ZooKeeperServer


@pytest.fixture
def make_ds_sim() -> Iterator[Callable[..., DSSimulator]]:
    """Factory: ``make_ds_sim(version="3.3", **kwargs)`` returns a started simulator."""
    started: list[DSSimulator] = []

    def make(version: str = "3.2", **kwargs: object) -> DSSimulator:
        sim = DSSimulator(version=version, **kwargs)  # type: ignore[arg-type]
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def ds_sim(make_ds_sim: Callable[..., DSSimulator]) -> DSSimulator:
    """A started DS 3.2 simulator with token ``test-token``."""
    return make_ds_sim("3.2")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo what an in-process CLI run did to logging (its handlers write to this test's captured
    streams, which are closed once the test ends)."""
    loggers = [logging.getLogger(), logging.getLogger("ds_monitor"), logging.getLogger("urllib3")]
    levels = [logger.level for logger in loggers]
    yield
    root = loggers[0]
    for handler in list(root.handlers):
        if getattr(handler, "_ds_monitor", False):
            root.removeHandler(handler)
            handler.close()
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


class _Entry:
    """What ``CliRunner.invoke`` calls: the CLI entry of ``main.py`` (:func:`ds_monitor.cli.main`,
    which maps errors to lines and exit codes), on the test's clock."""

    name = "main.py"

    def __init__(self, clock: Callable[[], datetime]):
        self.clock = clock

    def main(self, args: Sequence[str], prog_name: str, **_extra: object) -> None:
        cli.main(list(args), clock=self.clock)


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``run_cli(*args, env={...}, clock=..., cwd=...)``: ``python main.py ARGS`` in-process.

    As a fresh process would see it: no ``DS_*`` variable of the caller's environment (only
    ``env``), the working directory ``cwd`` (default ``tmp_path``, so no stray ``.env`` or
    ``config/config.yaml`` is read). Give ``clock`` whenever the test pins a date; the default is
    the wall clock, as in a real process. The result has ``exit_code``, ``stdout`` and ``stderr``.
    """

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        cwd: Path | None = None,
    ) -> Result:
        monkeypatch.chdir(cwd or tmp_path)
        environ: dict[str, str | None] = {name: None for name in os.environ if name.startswith("DS_")}
        environ.update(env or {})
        return CliRunner().invoke(_Entry(clock), list(args), env=environ, catch_exceptions=False)

    return run


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

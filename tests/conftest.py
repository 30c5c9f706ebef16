"""Shared fixtures: the DolphinScheduler double, started on 127.0.0.1 and stopped after the test."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from ds_monitor.simulator import DSSimulator


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
def _drop_cli_log_handlers() -> Iterator[None]:
    """A command run in-process installs ds-monitor's log handlers on the root logger; later tests must not
    inherit them (they would print to a stream captured for another test)."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_ds_monitor", False)]:
        root.removeHandler(handler)
        handler.close()

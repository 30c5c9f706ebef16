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

"""Helpers for end-to-end tests: a real monitor, real client and state files against the DS double."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ds_monitor.app import build_monitor
from ds_monitor.config import Config, DolphinSchedulerConfig, MonitorConfig, RetryConfig
from ds_monitor.monitor import Monitor

TOKEN = "test-token"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def sim_env(sim, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The settings of a monitor watching ``sim`` as environment variables (the daemon tests'
    settings: a sweep a second, every workflow looked at), state and log under tmp_path."""
    return {
        "DS_API_URL": sim.url,
        "DS_TOKEN": TOKEN,
        "DS_STATE_DIR": str(tmp_path / "state"),
        "DS_LOGGING__FILE": str(tmp_path / "monitor.log"),
        "DS_CHECK_INTERVAL": "1",
        "DS_RETRY__RECOVERY_INTERVAL": "0",
        "DS_MONITOR__MAX_UNCHECKED_MINUTES": "0",
        "DS_MAX_FAILURES_FOR_RECOVERY": "5",
        **extra,
    }


class RecordingSender:
    """A channel that keeps every digest it is given."""

    limits = None

    def __init__(self, name: str = "dingtalk"):
        self.name = name
        self.destination = f"memory:{name}"
        self.digests = []

    def send(self, digest) -> str:
        self.digests.append(digest)
        return "recorded"


def make_config(sim, state_dir, *, monitor: dict | None = None, retry: dict | None = None) -> Config:
    return Config(
        dolphinscheduler=DolphinSchedulerConfig(api_url=sim.url, token=TOKEN, timeout_seconds=5),
        monitor=replace(MonitorConfig(), **(monitor or {})),
        retry=replace(RetryConfig(recovery_interval=0), **(retry or {})),
        state_dir=str(state_dir),
    )


def make_monitor(config: Config, *, senders=None, dry_run: bool = False, clock=lambda: NOW) -> Monitor:
    """A monitor with no retry backoff (fast tests) and, unless given, no notification channels.

    Each test passes its sweeps their ``now``; the state store's clock (its ``saved_at`` stamps, and
    what counts as saved in the future) is the tests' ``NOW`` unless given.
    """
    return build_monitor(
        config,
        clock=clock,
        senders=senders if senders is not None else [],
        dry_run=dry_run,
        retry_backoff=0.0,
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)

"""deploy/ds-monitor.service agrees with how the monitor runs: command, signals, exit codes, paths."""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from pathlib import Path, PurePosixPath

import pytest

from ds_monitor.config import Config, DolphinSchedulerConfig
from ds_monitor.errors import ConfigError

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "ds-monitor.service"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value given (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{key} outside any section"
        sections[current][key.strip()].append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]


def one(service: dict[str, list[str]], key: str) -> str:
    values = service[key]
    assert len(values) == 1, f"{key}: expected one value, found {values}"
    return values[0]


def test_starts_the_run_loop_from_the_checkout_venv(service):
    workdir = PurePosixPath(one(service, "WorkingDirectory"))
    argv = shlex.split(one(service, "ExecStart"))
    assert workdir.is_absolute()
    assert PurePosixPath(argv[0]).parent.parent.parent == workdir  # <workdir>/.venv/bin/python
    assert argv[1:] == ["main.py", "run"]
    assert one(service, "Type") == "simple"


def test_runs_as_a_dedicated_user_with_secrets_from_an_environment_file(service):
    assert one(service, "User") not in ("root", "0")
    assert PurePosixPath(one(service, "EnvironmentFile").lstrip("-")).is_absolute()


def test_signals_match_the_run_loop(service):
    assert one(service, "KillSignal") == "SIGTERM"
    # The loop reloads its configuration on SIGHUP.
    assert "-HUP $MAINPID" in one(service, "ExecReload")
    assert int(one(service, "TimeoutStopSec")) > DolphinSchedulerConfig().timeout_seconds


def test_restarts_on_failure_but_not_on_a_configuration_error(service):
    assert one(service, "Restart") == "on-failure"
    assert str(ConfigError.exit_code) in one(service, "RestartPreventExitStatus").split()


def test_hardening_leaves_the_state_directory_writable(service):
    assert one(service, "NoNewPrivileges") == "yes"
    assert one(service, "ProtectSystem") == "strict"
    writable = one(service, "ReadWritePaths").split()
    workdir = PurePosixPath(one(service, "WorkingDirectory"))
    defaults = Config()
    assert str(workdir / defaults.state_dir) in writable, "state files could not be written"
    log_dir = workdir / PurePosixPath(defaults.logging.file).parent
    assert str(log_dir) in writable, "the log file could not be written"
    assert re.fullmatch(r"0[0-7]{3}", one(service, "UMask"))

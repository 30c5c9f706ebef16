"""CLI behaviour that needs no running monitor: config check, cron, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DS_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=base,
        cwd=cwd or ROOT,
    )


def test_config_check_names_unknown_projects_and_workflows_with_closest_matches(ds_sim, tmp_path):
    project = ds_sim.add_project("data-platform")
    ds_sim.add_definition(project, "daily_etl_job")
    config = tmp_path / "config.yaml"
    config.write_text(
        "projects:\n  data-platfrom: {monitor_all: true}\n"
        "  data-platform:\n    workflows: [daily_etl_jbo, daily_etl_job]\n",
        encoding="utf-8",
    )
    result = run(
        "config",
        "check",
        "-c",
        str(config),
        env={"DS_API_URL": ds_sim.url, "DS_TOKEN": "test-token"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: project 'data-platfrom' not found in DS (closest: data-platform)" in result.stdout
    assert (
        "warning: workflow 'daily_etl_jbo' not found in project 'data-platform' (closest: daily_etl_job)"
        in result.stdout
    )
    assert "test-token" not in result.stdout + result.stderr
    assert "dolphinscheduler.token" in result.stdout and "***  [env:DS_TOKEN]" in result.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (
            ("cron", "0 0 2 * * ?", "--tz", "Asia/Shanghai", "-n", "2", "--from", "2026-03-01T00:00"),
            0,
            "2026-03-01T02:00:00+08:00\n2026-03-02T02:00:00+08:00\n",
        ),
        (("cron", "0 0 2 * * 0"), 2, "day-of-week"),
        (("cron", "0 0 2 * * ?", "--from", "yesterday"), 2, "--from: 'yesterday' is not an ISO-8601"),
        (("config", "check", "-c", "missing.yaml"), 2, "config file missing.yaml does not exist"),
        (("check",), 2, "dolphinscheduler.token is empty"),
        (("bogus",), 2, "No such command"),
    ],
    ids=["cron-ok", "cron-invalid", "cron-bad-from", "missing-config", "no-token", "unknown-command"],
)
def test_exit_codes_and_one_line_errors(tmp_path, args, code, message):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert message in (result.stdout if code == 0 else result.stderr)
    assert "Traceback" not in result.stderr


def test_ds_unreachable_is_exit_1_with_the_cause(tmp_path):
    result = run(
        "check",
        env={
            "DS_API_URL": "http://127.0.0.1:1/dolphinscheduler",
            "DS_TOKEN": "t0ken-value",
            "DS_STATE_DIR": str(tmp_path),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "unreachable" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "t0ken-value" not in result.stdout + result.stderr

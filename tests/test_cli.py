"""CLI behaviour that needs no running monitor: config check, cron, exit codes, no tracebacks.

In-process (the ``run_cli`` fixture: click's CliRunner around ``cli.main``), except the smoke tests
at the end, which start ``python main.py`` for real: the entry script and the process exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.runner.test_process_safety import EXECUTE, seed_failures
from tests.sweep.e2e import TOKEN, sim_env

ROOT = Path(__file__).resolve().parents[1]


def test_config_check_names_unknown_projects_and_workflows_with_closest_matches(ds_sim, tmp_path, run_cli):
    project = ds_sim.add_project("data-platform")
    ds_sim.add_definition(project, "daily_etl_job")
    config = tmp_path / "config.yaml"
    config.write_text(
        "projects:\n  data-platfrom: {monitor_all: true}\n"
        "  data-platform:\n    workflows: [daily_etl_jbo, daily_etl_job]\n",
        encoding="utf-8",
    )
    result = run_cli("config", "check", "-c", str(config), env={"DS_API_URL": ds_sim.url, "DS_TOKEN": "test-token"})
    assert result.exit_code == 0, result.stderr
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
        (("silence", "add", "--all", "--reason", "x"), 2, "give either --for DURATION or --until ISO"),
    ],
    ids=["cron-ok", "cron-invalid", "cron-bad-from", "missing-config", "no-token", "unknown-command", "usage"],
)
def test_exit_codes_and_one_line_errors(run_cli, args, code, message):
    result = run_cli(*args)
    assert result.exit_code == code, result.stderr
    assert message in (result.stdout if code == 0 else result.stderr)
    assert "Traceback" not in result.stderr


def test_ds_unreachable_is_exit_1_with_the_cause(tmp_path, run_cli):
    result = run_cli(
        "check",
        env={
            "DS_API_URL": "http://127.0.0.1:1/dolphinscheduler",
            "DS_TOKEN": "t0ken-value",
            "DS_STATE_DIR": str(tmp_path),
        },
    )
    assert result.exit_code == 1
    assert "unreachable" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "t0ken-value" not in result.stdout + result.stderr


@pytest.fixture
def refusing_hook():
    """A webhook that answers every POST with HTTP 403 (a refusal no retry can change)."""

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_failed_test_message_is_exit_1_and_the_channel_line_says_why(tmp_path, run_cli, refusing_hook):
    """`notify test`: the per-channel lines are the whole story; the exit code adds no `error:` line."""
    config = tmp_path / "config.yaml"
    config.write_text(f"notification:\n  webhook:\n    enabled: true\n    url: {refusing_hook}\n", encoding="utf-8")
    result = run_cli("notify", "test", "-c", str(config))
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("webhook: FAILED: ") and "HTTP 403" in result.stdout
    assert "error:" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "America/New York"], ids=repr)
def test_cron_names_an_unknown_zone_and_exits_2(run_cli, zone):
    result = run_cli("cron", "0 0 2 * * ?", "--tz", zone)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f'error: unknown time zone "{zone}"']


def test_a_bug_is_an_internal_error_line_and_exit_1(run_cli, monkeypatch):
    """An exception outside the error family: one line naming its type, a hint, never a traceback."""
    import ds_monitor.cron

    def planted(*_args, **_kwargs):
        raise ZeroDivisionError("planted bug")

    monkeypatch.setattr(ds_monitor.cron, "next_fire_times", planted)
    result = run_cli("cron", "0 0 2 * * ?")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "internal error (ZeroDivisionError): planted bug",
        "run again with --log-level DEBUG for the traceback",
    ]


def test_a_rejected_token_is_exit_1_and_a_bad_env_value_exit_2_each_one_line(make_ds_sim, tmp_path, run_cli):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    result = run_cli("check", env=sim_env(sim, tmp_path, DS_TOKEN="wrong-token"))
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "401" in result.stderr or "token" in result.stderr.lower()
    assert "wrong-token" not in result.stderr + result.stdout

    result = run_cli("check", env=sim_env(sim, tmp_path, DS_CHECK_INTERVAL="often"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: environment variable DS_CHECK_INTERVAL: expected a number, got 'often'"
    ]


def test_check_json_prints_only_the_report_on_stdout(make_ds_sim, tmp_path, run_cli):
    sim = make_ds_sim(version="3.3", token=TOKEN)
    ids = seed_failures(sim, 3)
    result = run_cli("check", "--dry-run", "--json", env=sim_env(sim, tmp_path))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ds_version"] == "3.3"
    assert sorted(r["instance_id"] for r in report["failed_instances"]) == sorted(ids)
    assert {r["result"] for r in report["recoveries"]} == {"dry_run"}
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 0


# -- smoke: the real entry script, as operators and init systems run it ------------------------------


def run_main(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DS_")}, **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )


@pytest.mark.parametrize(
    "args, code, stream, text",
    [
        (("cron", "0 0 2 * * ?", "--from", "2026-03-01T00:00", "-n", "1"), 0, "stdout", "2026-03-01T02:00:00+00:00\n"),
        (("check",), 2, "stderr", "error: dolphinscheduler.token is empty"),
    ],
    ids=["exit-0", "exit-2"],
)
def test_main_py_exits_with_the_code(tmp_path, args, code, stream, text):
    result = run_main(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert text in getattr(result, stream)
    assert "Traceback" not in result.stderr


def test_run_once_exits_1_when_its_sweep_fails(make_ds_sim, tmp_path):
    """`run --once` (a real process: the loop installs signal handlers): the failed sweep is logged,
    the exit code says so, and no `error:` line repeats it."""
    sim = make_ds_sim(version="3.2", token=TOKEN)
    result = run_main("run", "--once", cwd=tmp_path, env=sim_env(sim, tmp_path, DS_TOKEN="wrong-token"))
    assert result.returncode == 1, result.stderr
    assert "sweep failed: DS rejected the token (HTTP 401)" in result.stderr
    assert not any(line.startswith("error:") for line in result.stderr.splitlines())
    assert "Traceback" not in result.stderr

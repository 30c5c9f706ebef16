"""A real ``python main.py run`` process: SIGKILL at random moments, SIGTERM mid-sweep, status (in-process) while it
writes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ds_monitor.ds.models import FAILURE
from tests.sweep.e2e import TOKEN, sim_env

ROOT = Path(__file__).resolve().parents[2]
EXECUTE = "executors/execute"
STATE_FILES = ("recovery_state.json", "notification_rate_limit.json", "schedule_state.json")


def monitor_env(sim, tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment for a ``run`` child, its own DS_ settings replaced by the test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DS_")}
    return env | sim_env(sim, tmp_path, PYTHONUNBUFFERED="1", **extra)


def start_run(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def seed_failures(sim, count: int) -> list[int]:
    now = datetime.now(timezone.utc)
    ids = []
    for p in range(3):
        project = sim.add_project(f"project-{p}")
        for d in range(count // 3):
            definition = sim.add_definition(project, f"wf-{p}-{d}")
            start = now - timedelta(minutes=20 + d)
            ids.append(
                sim.add_instance(
                    definition,
                    state=FAILURE,
                    start_time=start,
                    end_time=start + timedelta(minutes=1),
                    command_type="START_PROCESS",
                )
            )
    return ids


def assert_state_files_valid(state_dir: Path) -> None:
    for name in STATE_FILES:
        path = state_dir / name
        if path.exists():
            json.loads(path.read_text(encoding="utf-8"))
    assert not list(state_dir.glob("*.corrupt-*"))


@pytest.mark.slow
def test_sigkill_at_random_moments_never_recovers_twice(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    ids = seed_failures(sim, 12)
    # Slow answers on the action widen the window between the journaled intent and DS's answer,
    # so many kills land exactly there.
    sim.inject("latency", path_contains=EXECUTE, method="POST", times=None, delay=0.15)
    env = monitor_env(sim, tmp_path)
    rng = random.Random(20261123)
    kills = 0
    deadline = time.monotonic() + 45
    while kills < 30 and time.monotonic() < deadline:
        proc = start_run(env, tmp_path)
        time.sleep(rng.uniform(0.3, 1.2))
        proc.kill()
        proc.communicate(timeout=10)
        kills += 1
    assert kills >= 30
    proc = start_run(env, tmp_path)  # one clean run to let every instance be reached
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)

    executes = [c for c in sim.calls if c.method == "POST" and EXECUTE in c.path]
    per_instance: dict[str, int] = {}
    for call in executes:
        key = call.params.get("processInstanceId")
        per_instance[key] = per_instance.get(key, 0) + 1
    doubles = {k: n for k, n in per_instance.items() if n > 1}
    assert doubles == {}, f"double recoveries: {doubles}"
    # A kill between the journaled intent and the request leaves "unknown": on 3.2 nobody can tell
    # it from a queued command, so it waits (spec 3.5: never a second command blindly).
    journal = json.loads((tmp_path / "state" / "recovery_state.json").read_text())["instances"]
    waiting = {k for k, r in journal.items() if r["status"] == "unknown" and r["last_result"] == "intent"}
    assert set(per_instance) | waiting == {str(i) for i in ids}
    assert_state_files_valid(tmp_path / "state")


@pytest.mark.slow
def test_sigterm_mid_sweep_exits_zero_quickly_with_valid_state(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    seed_failures(sim, 6)
    sim.latency = 0.2  # every call is slow, so the signal arrives in the middle of a sweep
    proc = start_run(monitor_env(sim, tmp_path), tmp_path)
    time.sleep(1.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    waited = time.monotonic() - sent
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert waited < 3, f"took {waited:.1f} s to stop"
    assert_state_files_valid(tmp_path / "state")


def test_status_never_sees_a_torn_file_while_run_writes(make_ds_sim, tmp_path, run_cli):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    seed_failures(sim, 6)
    sim.auto_master = True
    proc = start_run(monitor_env(sim, tmp_path), tmp_path)
    try:
        failures = []
        seen = 0
        # Before run creates state_dir, status rightly warns that it does not exist.
        while not (tmp_path / "state").is_dir() and proc.poll() is None:
            time.sleep(0.05)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            # status in-process (on the wall clock, as the daemon), reading what the daemon process writes
            result = run_cli("status", "--json", env=monitor_env(sim, tmp_path))
            if result.exit_code != 0:
                failures.append(result.stderr)
                continue
            status = json.loads(result.stdout)
            seen += len(status["recovery"])
            failures.extend(w for w in status["warnings"])
        assert failures == []
        assert seen > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)

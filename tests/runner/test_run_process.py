"""`python main.py run` as operators run it: HTTP endpoint during the loop, SIGHUP reload, startup line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ds_monitor.ds.models import FAILURE

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except urllib.error.URLError:
        return 0, "not listening yet"


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def start(tmp_path: Path, sim, config_text: str = "", *extra: str) -> subprocess.Popen:
    config = tmp_path / "config.yaml"
    config.write_text(config_text or "monitor:\n  check_interval: 1\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DS_")}
    env.update(
        {
            "DS_API_URL": sim.url,
            "DS_TOKEN": TOKEN,
            "DS_STATE_DIR": str(tmp_path / "state"),
            "DS_LOGGING__FILE": str(tmp_path / "monitor.log"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "run", "-c", str(config), *extra],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return out, err


def test_health_metrics_and_status_over_http_during_run(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    project = sim.add_project("data-platform")
    definition = sim.add_definition(project, "daily_etl_job")
    now = datetime.now(timezone.utc)
    sim.add_instance(definition, state=FAILURE, start_time=now - timedelta(minutes=30))
    port = free_port()
    proc = start(tmp_path, sim, "", "--http-port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(f"{base}/readyz")[0] == 200)
        assert get(f"{base}/healthz")[0] == 200
        status, text = get(f"{base}/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        sweeps = {
            s.labels["result"]: s.value
            for s in families["ds_monitor_sweeps"].samples
            if s.name == "ds_monitor_sweeps_total"
        }
        assert sweeps["ok"] >= 1
        assert (
            sum(s.value for s in families["ds_monitor_recoveries"].samples if s.name == "ds_monitor_recoveries_total")
            >= 1
        )
        assert any(
            s.labels.get("endpoint", "").startswith("GET /projects") for s in families["ds_monitor_ds_calls"].samples
        )
        status, body = get(f"{base}/status")
        assert status == 200
        assert json.loads(body)["recovery"][0]["instance_id"] >= 1
        # DS goes away: the loop keeps ticking (healthz) but is no longer ready (readyz).
        sim.inject("token_rejected", times=None)
        code, reason = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(f"{base}/readyz")))
        assert "token rejected" in reason
        assert get(f"{base}/healthz")[0] == 200
    finally:
        _, err = stop(proc)
    assert "Traceback" not in err
    assert TOKEN not in (tmp_path / "monitor.log").read_text()


def test_sighup_reloads_config_and_keeps_the_old_one_when_invalid(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    sim.add_project("p")
    proc = start(tmp_path, sim)
    config = tmp_path / "config.yaml"
    log = tmp_path / "monitor.log"
    try:
        wait_for(lambda: log.exists() and "sweep done" in log.read_text())
        assert "ds-monitor" in log.read_text() and "starting: DS http://127.0.0.1" in log.read_text()
        config.write_text("monitor:\n  check_interval: [broken\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reload failed, keeping the running configuration" in log.read_text())
        config.write_text("monitor:\n  check_interval: 2\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in log.read_text() and "interval 2s" in log.read_text())
        assert proc.poll() is None
    finally:
        stop(proc)


def test_a_second_run_on_the_same_state_dir_is_refused(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    sim.add_project("p")
    first = start(tmp_path, sim)
    try:
        wait_for(lambda: (tmp_path / "monitor.log").exists() and "sweep done" in (tmp_path / "monitor.log").read_text())
        second = start(tmp_path, sim)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert f"another `ds-monitor run` (pid {first.pid}) already uses state_dir" in err
        assert "Traceback" not in err
    finally:
        stop(first)

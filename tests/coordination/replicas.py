"""`python main.py run` replicas on one ZooKeeper, as an operator runs them (for tests and the kill bench)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .zkserver import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token"
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0123456789ab"


def replica_env(*, sim_url: str, zk_hosts: str, zk_root: str, wecom_url: str, session_timeout: float = 2) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DS_")}
    env.update(
        {
            "DS_API_URL": sim_url,
            "DS_TOKEN": TOKEN,
            "DS_COORDINATION__BACKEND": "zookeeper",
            "DS_COORDINATION__ZOOKEEPER__HOSTS": zk_hosts,
            "DS_COORDINATION__ZOOKEEPER__ROOT": zk_root,
            "DS_COORDINATION__ZOOKEEPER__SESSION_TIMEOUT_SECONDS": str(session_timeout),
            "DS_MONITOR__CHECK_INTERVAL": "1",
            "DS_MONITOR__MAX_UNCHECKED_MINUTES": "0",  # look at every definition every sweep
            "DS_RETRY__RECOVERY_INTERVAL": "0",
            "DS_WEWORK_ENABLED": "true",
            "DS_WEWORK_WEBHOOK": wecom_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Replica:
    """One `run` process with its own working directory, log and HTTP port."""

    def __init__(self, name: str, workdir: Path, env: dict):
        self.name = name
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "DS_STATE_DIR": str(self.workdir / "state"),
                    "DS_LOGGING__FILE": str(self.workdir / "monitor.log")}
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> Replica:
        self.port = free_port()
        with open(self.workdir / "stderr.log", "ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "main.py"), "run", "--http-port", str(self.port)],
                env=self.env, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def readyz(self) -> dict:
        return self.get_json("/readyz")

    def get_json(self, route: str) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{route}", timeout=2) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            return json.loads(err.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}

    def leader_gauge(self) -> float | None:
        """The value of ``ds_monitor_leader`` on this replica's /metrics."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return None
        values = [line.split()[1] for line in text.splitlines() if line.startswith("ds_monitor_leader ")]
        return float(values[0]) if values else None

    def role(self) -> str | None:
        return self.readyz().get("role")

    def log(self) -> str:
        path = self.workdir / "monitor.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout:g} s")

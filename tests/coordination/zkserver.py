"""A real standalone ZooKeeper for tests and benches: the Debian package ``zookeeper``'s jar.

``.ci/run`` installs the package when it is missing. The server runs in its own process on a free
port with a temporary data directory; a short tick (200 ms) lets tests use session timeouts of a
second or two (ZooKeeper negotiates sessions within 2 to 20 ticks).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
TICK_MS = 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ZooKeeperServer:
    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        java = shutil.which("java")
        if java is None or not Path("/usr/share/java/zookeeper.jar").exists():
            raise RuntimeError("ZooKeeper is not installed: apt-get install zookeeper (.ci/run does it)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [java, "-Xmx256m", "-cp", CLASSPATH, MAIN, str(self.port), str(self.data_dir), str(TICK_MS)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "server.log", "ab"),  # noqa: SIM115 - owned by the child
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.process.returncode}; see {self.data_dir}/server.log")
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ZooKeeper did not answer on {self.hosts} within {timeout:g} s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"srvr")  # four-letter word allowed by default
                return b"Mode" in conn.recv(1024)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.process = None

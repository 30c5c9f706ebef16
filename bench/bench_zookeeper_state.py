"""State in ZooKeeper for a 10,000-definition estate: node sizes, and sweep time against the files.

Runs a real standalone ZooKeeper (Debian package ``zookeeper``) and the DS simulator in this
process: 50 projects x 200 definitions, 100 instances per project of which 2 failed (each in its
own definition). Three sweeps with the state in ZooKeeper (as the leader), three with files.
Prints, per state document, its JSON size, its compressed size, its chunks and the largest node,
then the sweep wall times of both backends. Asserts nothing.

    python bench/bench_zookeeper_state.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.coordination.zkserver import ZooKeeperServer  # noqa: E402

from ds_monitor.app import build_monitor  # noqa: E402
from ds_monitor.clock import utc_now  # noqa: E402
from ds_monitor.config import (  # noqa: E402
    Config,
    CoordinationConfig,
    DolphinSchedulerConfig,
    MonitorConfig,
    RetryConfig,
    ZooKeeperConfig,
)
from ds_monitor.coordination import Coordinator  # noqa: E402
from ds_monitor.simulator import DSSimulator  # noqa: E402
from ds_monitor.state import STATE_FILES  # noqa: E402
from ds_monitor.state.format import encode_document  # noqa: E402
from ds_monitor.state.zookeeper import CHUNK_BYTES, ZooKeeperStore  # noqa: E402

TOKEN = "bench-token"
PROJECTS, DEFINITIONS, INSTANCES, FAILED = 50, 200, 100, 2


def build_estate(now: datetime) -> DSSimulator:
    sim = DSSimulator(version="3.2", token=TOKEN)
    for p in range(PROJECTS):
        project = sim.add_project(f"project-{p:02d}")
        codes = [sim.add_definition(project, f"workflow-{p:02d}-{d:03d}") for d in range(DEFINITIONS)]
        for i in range(INSTANCES):
            start = now - timedelta(minutes=5 + i)
            state = "FAILURE" if i < FAILED else "SUCCESS"
            sim.add_instance(codes[i], state=state, start_time=start, end_time=start + timedelta(minutes=1))
    sim.start()
    return sim


def sweeps(monitor, count: int) -> list[float]:
    walls = []
    for _ in range(count):
        began = time.perf_counter()
        report = monitor.sweep(utc_now())
        walls.append(time.perf_counter() - began)
        if not report.ok:
            raise SystemExit(f"sweep failed: {report.error}")
    monitor.close()
    return walls


def main() -> None:
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        server = ZooKeeperServer(Path(tmp) / "zk")
        server.start()
        sim = build_estate(now)
        try:
            config = Config(
                dolphinscheduler=DolphinSchedulerConfig(api_url=sim.url, token=TOKEN),
                monitor=MonitorConfig(max_unchecked_minutes=0),
                retry=RetryConfig(recovery_interval=0),
                state_dir=str(Path(tmp) / "files"),
                coordination=CoordinationConfig(
                    backend="zookeeper", zookeeper=ZooKeeperConfig(hosts=server.hosts, root="/bench")
                ),
            )
            coordinator = Coordinator(config.coordination.zookeeper, identity="bench")
            coordinator.start()
            coordinator.try_lead()
            zk_walls = sweeps(build_monitor(config, clock=utc_now, senders=[], coordinator=coordinator), 3)
            print(f"estate: {PROJECTS * DEFINITIONS} definitions, {PROJECTS * INSTANCES} instances, "
                  f"{PROJECTS * FAILED} failed; chunk size {CHUNK_BYTES // 1024} KB, ZooKeeper node limit 1024 KB")
            print(f"{'document':<32}{'JSON':>10}{'stored':>10}{'chunks':>8}{'largest node':>14}")
            store = ZooKeeperStore(coordinator, writable=False)
            for name in STATE_FILES:
                document = store.load(name)
                if not coordinator.client.exists(f"/bench/state/{name}"):
                    print(f"{name:<32}{'(not written in this bench)':>42}")
                    continue
                manifest_raw, manifest_stat = coordinator.client.get(f"/bench/state/{name}")
                manifest = json.loads(manifest_raw)
                folder = f"/bench/chunks/{name}"
                sizes = [coordinator.client.get(f"{folder}/{c}")[1].dataLength
                         for c in coordinator.client.get_children(folder)]
                largest = max([*sizes, manifest_stat.dataLength])
                print(f"{name:<32}{len(encode_document(name, document)) / 1024:>8.0f}KB"
                      f"{manifest['bytes'] / 1024:>8.0f}KB{manifest['chunks']:>8}{largest / 1024:>12.0f}KB")
            coordinator.close()
            files_config = replace(config, coordination=CoordinationConfig())
            file_walls = sweeps(build_monitor(files_config, clock=utc_now, senders=[]), 3)
            print("sweep wall (s)      first  second  third")
            print("state in ZooKeeper  " + "  ".join(f"{w:5.2f}" for w in zk_walls))
            print("state in files      " + "  ".join(f"{w:5.2f}" for w in file_walls))
        finally:
            sim.stop()
            server.stop()


if __name__ == "__main__":
    main()

"""What explaining failures costs: DS calls and wall time of the failed-task and log reads.

Estate: 10 projects, 100 failed instances (one per definition), each with 2 failed tasks whose
logs hold ``--log-lines`` lines (read in pages of 1,000), 20 ms injected latency per DS call.
Three monitors sweep the same estate: task logs off, task logs on (first sweep: every failure is
read, in parallel), and the same monitor again (second sweep: nothing is read again).

    python bench/task_logs.py
    python bench/task_logs.py --failed 300 --log-lines 2500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ds_monitor.app import build_monitor  # noqa: E402
from ds_monitor.config import (  # noqa: E402
    Config,
    DolphinSchedulerConfig,
    MonitorConfig,
    NotificationConfig,
    RetryConfig,
    TaskLogConfig,
)
from ds_monitor.simulator import DSSimulator  # noqa: E402

TOKEN = "bench-token"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


class NullSender:
    """A channel that accepts everything (so failures count as announced)."""

    name = "null"
    destination = "memory:null"
    limits = None

    def send(self, digest) -> str:
        return "accepted"


def seed(sim: DSSimulator, projects: int, failed: int, log_lines: int) -> None:
    log = "\n".join(f"[INFO] step {n}" for n in range(log_lines - 1)) + "\nERROR 1146: Table 'x' doesn't exist"
    codes = [sim.add_project(f"project-{p:02d}") for p in range(projects)]
    for n in range(failed):
        definition = sim.add_definition(codes[n % projects], f"wf-{n:03d}")
        start = NOW - timedelta(minutes=30 + n % 60)
        instance = sim.add_instance(
            definition, state="FAILURE", start_time=start, end_time=start + timedelta(minutes=3),
            command_type="START_PROCESS",
        )  # fmt: skip
        for task in ("extract", "load"):
            sim.add_task(instance, task, start_time=start, end_time=start + timedelta(minutes=2), log=log)


def monitor(sim: DSSimulator, state_dir: str, *, enabled: bool):
    config = Config(
        dolphinscheduler=DolphinSchedulerConfig(api_url=sim.url, token=TOKEN, timeout_seconds=30),
        # auto_recovery off: only the reads are measured, not the recover calls.
        monitor=MonitorConfig(max_failures_for_recovery=1000),
        retry=RetryConfig(recovery_interval=0, auto_recovery=False),
        state_dir=state_dir,
        notification=replace(NotificationConfig(), task_log=TaskLogConfig(enabled=enabled)),
    )
    return build_monitor(config, clock=lambda: NOW, senders=[NullSender()], retry_backoff=0.0)


def sweep(label: str, mon, sim: DSSimulator, now: datetime) -> None:
    sim.clear_calls()
    started = time.perf_counter()
    report = mon.sweep(now)
    wall = time.perf_counter() - started
    logs = sim.count_calls(path_contains="/log/detail")
    lists = sim.count_calls(path_contains="/tasks")
    print(
        f"{label:<28} wall {wall:6.2f} s   DS calls {report.api['calls']:5d}   task_calls {report.api['task_calls']:5d}"
        f" (task lists {lists}, log pages {logs})   failed_tasks rows {len(report.failed_tasks)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--failed", type=int, default=100)
    parser.add_argument("--log-lines", type=int, default=1500)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    with DSSimulator(version="3.2", token=TOKEN, clock=lambda: NOW) as sim, tempfile.TemporaryDirectory() as tmp:
        seed(sim, args.projects, args.failed, args.log_lines)
        sim.latency = args.latency_ms / 1000
        print(
            f"{args.failed} failed instances x 2 failed tasks, {args.log_lines}-line logs, "
            f"{args.latency_ms:g} ms per DS call"
        )
        off = monitor(sim, f"{tmp}/off", enabled=False)
        on = monitor(sim, f"{tmp}/on", enabled=True)
        try:
            sweep("task_log.enabled: false", off, sim, NOW)
            sweep("task logs, first sweep", on, sim, NOW)
            # past max_unchecked_minutes, so every failure is looked at again (and not read again)
            sweep("task logs, second sweep", on, sim, NOW + timedelta(minutes=16))
        finally:
            off.close()
            on.close()


if __name__ == "__main__":
    main()

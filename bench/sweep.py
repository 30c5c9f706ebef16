"""Sweep benchmark: DS calls, wall and CPU seconds, RSS of the monitor against a large estate.

The DS simulator runs in a child process so the figures are the monitor's alone. Default estate:
50 projects x 200 definitions = 10,000 definitions, 5,000 instances in the window of which 100
failed (each in its own definition, spread over the projects), 20 ms injected latency per DS call.
Cold and warm sweeps run with schedule optimisation off (every project queried: the worst case);
then a steady, ``run``-like loop of 30 sweeps a minute apart with it on; then RSS over many sweeps.

    python bench/sweep.py                                  # 10,000 definitions
    python bench/sweep.py --projects 500 --sweeps 0        # 100,000 definitions, no RSS run
    python bench/sweep.py --sweeps 50                      # a shorter RSS run
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ds_monitor.app import build_monitor  # noqa: E402
from ds_monitor.clock import utc_now  # noqa: E402
from ds_monitor.config import Config, DolphinSchedulerConfig, MonitorConfig, RetryConfig  # noqa: E402

TOKEN = "bench-token"
STEADY_SWEEPS = 30
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def serve(conn, projects: int, definitions: int, instances: int, failed: int, latency: float) -> None:
    """Child process: build the estate, serve it, report the URL, then call counts on request."""
    from ds_monitor.simulator import DSSimulator

    sim = DSSimulator(version="3.2", token=TOKEN)
    per_project = instances // projects
    for p in range(projects):
        project = sim.add_project(f"project-{p:02d}")
        codes = [sim.add_definition(project, f"wf-{p:02d}-{d:03d}") for d in range(definitions)]
        # Project p holds the failures numbered p, p + projects, ...: all of them, however many projects.
        failures_here = len(range(p, failed, projects))
        for i in range(per_project):
            start = NOW - timedelta(minutes=5 + (i * 7) % (20 * 60))
            fail = i < failures_here
            sim.add_instance(
                codes[i % definitions],
                state="FAILURE" if fail else "SUCCESS",
                start_time=start,
                end_time=start + timedelta(minutes=3),
                command_type="START_PROCESS",
            )
    sim.latency = latency
    sim.start()
    conn.send(sim.url)
    while True:
        message = conn.recv()
        if message == "stop":
            break
        conn.send(len(sim.calls))
        sim.clear_calls()
    sim.stop()


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--definitions", type=int, default=200)
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--failed", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--sweeps", type=int, default=500, help="sweeps for the RSS growth figure")
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=serve,
        args=(child, args.projects, args.definitions, args.instances, args.failed, args.latency_ms / 1000),
        daemon=True,
    )
    server.start()
    url = parent.recv()

    def ds_calls() -> int:
        parent.send("count")
        return parent.recv()

    with tempfile.TemporaryDirectory() as state_dir:
        config = Config(
            dolphinscheduler=DolphinSchedulerConfig(api_url=url, token=TOKEN),
            monitor=MonitorConfig(enable_schedule_optimization=False, max_failures_for_recovery=1),
            retry=RetryConfig(recovery_interval=0),
            state_dir=state_dir,
        )
        monitor = build_monitor(config, clock=utc_now, senders=[])
        ds_calls()
        print(
            f"estate: {args.projects} projects x {args.definitions} definitions, {args.instances} instances in "
            f"the window, {args.failed} failed; {args.latency_ms:g} ms latency per DS call"
        )
        for label, offset in (("cold cache", 0), ("warm cache", 1), ("warm cache", 2)):
            cpu, wall = time.process_time(), time.perf_counter()
            report = monitor.sweep(NOW + timedelta(minutes=offset))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            actions = sum(1 for r in report.recoveries if r.result == "triggered")
            print(
                f"{label:10}  DS calls {ds_calls():5d}  (recoveries triggered {actions:3d}, cache hits "
                f"{report.api['cache_hits']:4d})  wall {wall:5.2f} s  CPU {cpu:5.2f} s  "
                f"failed seen {len(report.failed_instances)}  ok {report.ok}"
            )
        pages = -(-args.instances // args.projects // 100) * args.projects
        print(f"target warm calls <= projects + actions + pages = {args.projects} + actions + {pages}")
        steady = build_monitor(replace(config, monitor=replace(config.monitor, enable_schedule_optimization=True)),
                               clock=utc_now, senders=[])
        calls, cpus, walls = [], [], []
        for n in range(STEADY_SWEEPS):
            cpu, wall = time.process_time(), time.perf_counter()
            steady.sweep(NOW + timedelta(minutes=3 + n))
            cpus.append(time.process_time() - cpu)
            walls.append(time.perf_counter() - wall)
            calls.append(ds_calls())
        steady.close()
        print(
            f"steady loop, schedule optimisation on, {STEADY_SWEEPS} sweeps 1 min apart: DS calls "
            f"{sum(calls)} (per sweep min {min(calls)} / mean {sum(calls) / len(calls):.0f} / max {max(calls)}), "
            f"CPU per sweep mean {sum(cpus) / len(cpus):.2f} s max {max(cpus):.2f} s, "
            f"wall mean {sum(walls) / len(walls):.2f} s"
        )
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB")

        start_rss = rss_mb()
        begin = time.perf_counter()
        for n in range(args.sweeps):
            monitor.sweep(NOW + timedelta(minutes=3 + STEADY_SWEEPS + n))
        print(
            f"RSS over {args.sweeps} more sweeps: {start_rss:.1f} MB -> {rss_mb():.1f} MB "
            f"(growth {rss_mb() - start_rss:+.1f} MB), {(time.perf_counter() - begin) / max(args.sweeps, 1):.2f} s "
            "per sweep"
        )
        monitor.close()
    parent.send("stop")
    server.join(timeout=10)


if __name__ == "__main__":
    main()

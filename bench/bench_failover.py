"""Kill study (issue 10): two `run` replicas, failures arriving over time, the leader SIGKILLed often.

A real standalone ZooKeeper (Debian package ``zookeeper``, 200 ms ticks), the DS simulator and a
WeCom robot double run in this process; the replicas are real ``python main.py run`` processes
with ``session_timeout_seconds`` 2 and ``check_interval`` 1. Each round adds a failure (on its
own workflow, so none is systemic), waits a random 0-2 s, SIGKILLs the current leader at whatever
it is doing, measures how long until the other replica reports itself leader on /readyz, and
restarts the killed one. At the end it waits until every failure has been recovered and prints:
takeover min / median / max, recover calls per failure (must be exactly 1), and messages per
incident on the channel (1 expected; a kill between a send and the save of the notification
memory can repeat one: spec 8 allows a repeat only from a crash inside one channel's send).

    python bench/bench_failover.py            # 22 kills
    python bench/bench_failover.py --kills 40
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.coordination.replicas import TOKEN, WECOM_KEY, Replica, replica_env, wait_for  # noqa: E402
from tests.coordination.zkserver import ZooKeeperServer  # noqa: E402
from tests.notify.doubles.wecom import WeComDouble  # noqa: E402

from ds_monitor.clock import utc_now  # noqa: E402
from ds_monitor.simulator import DSSimulator  # noqa: E402

SESSION_TIMEOUT = 2.0


def leader_of(replicas: list[Replica]) -> Replica | None:
    leaders = [r for r in replicas if r.process.poll() is None and r.role() == "leader"]
    return leaders[0] if len(leaders) == 1 else None


def recovered(calls) -> Counter:
    """Recover calls per instance id, from the simulator's request log."""
    return Counter(
        int(call.params.get("processInstanceId", 0)) for call in calls
        if call.method == "POST" and "executors/execute" in call.path
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=22)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        server = ZooKeeperServer(Path(tmp) / "zk")
        server.start()
        sim = DSSimulator(version="3.2", token=TOKEN)
        sim.start()
        wecom = WeComDouble([WECOM_KEY], per_minute=100_000)
        project = sim.add_project("data-platform")
        env = replica_env(sim_url=sim.url, zk_hosts=server.hosts, zk_root="/kill-study",
                          wecom_url=wecom.webhook(WECOM_KEY), session_timeout=SESSION_TIMEOUT)
        replicas = [Replica(name, Path(tmp), env).start() for name in ("a", "b")]
        failures: dict[int, str] = {}
        takeovers: list[float] = []
        try:
            for round_ in range(args.kills):
                leader = wait_for(lambda: leader_of(replicas), timeout=30, what="one leader")
                standby = next(r for r in replicas if r is not leader)
                wait_for(lambda s=standby: s.role() == "standby", timeout=30, what="a standby")
                name = f"incident-{round_:03d}"
                start = utc_now() - timedelta(minutes=5)
                definition = sim.add_definition(project, f"etl_{round_:03d}")
                failures[sim.add_instance(definition, state="FAILURE", start_time=start, end_time=start,
                                          name=name)] = name
                time.sleep(rng.uniform(0, 2))
                leader.kill()
                killed_at = time.monotonic()
                wait_for(lambda s=standby: s.role() == "leader", timeout=30, what="takeover")
                takeovers.append(time.monotonic() - killed_at)
                leader.start()
                print(f"kill {round_ + 1:>2}: {leader.name} killed, {standby.name} led after {takeovers[-1]:.2f} s",
                      flush=True)
            wait_for(lambda: set(failures) <= set(recovered(sim.calls)), timeout=60, what="every failure recovered")
            time.sleep(3)  # a few more sweeps: anything repeated would show now
        finally:
            for replica in replicas:
                replica.stop()
            sim_calls = sim.calls
            messages = [json.dumps(body, ensure_ascii=False) for body in wecom.accepted]
            sim.stop()
            wecom.close()
            server.stop()

    recoveries = recovered(sim_calls)
    per_incident = Counter({name: sum(name in text for text in messages) for name in failures.values()})
    print()
    print(f"kills: {len(takeovers)}; session timeout {SESSION_TIMEOUT:g} s, check interval 1 s")
    print(f"takeover after SIGKILL (s): min {min(takeovers):.2f}  median {statistics.median(takeovers):.2f}  "
          f"max {max(takeovers):.2f}")
    print(f"failures: {len(failures)}; recovered: {sum(1 for i in failures if recoveries[i] >= 1)}; "
          f"double recoveries: {sum(1 for i in failures if recoveries[i] > 1)}")
    print(f"messages per incident (wework): {dict(sorted(Counter(per_incident.values()).items()))} "
          f"(count of messages -> incidents)")


if __name__ == "__main__":
    main()

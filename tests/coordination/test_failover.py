"""Two `run` replicas on a real ZooKeeper: fencing of a paused leader, takeover after a kill (spec 11).

One scenario, to keep the suite fast (each replica is a Python process and the session timeout is
2 s): A leads and recovers a first failure; A is frozen (SIGSTOP) in the middle of a sweep that
has seen a second failure; B takes over and recovers it; A is resumed and must neither call DS nor
send; then B is killed (SIGKILL), A takes over and recovers a third failure. Every failure is
recovered exactly once and announced in exactly one message. The kill study with 20+ kills and
the takeover times is bench/bench_failover.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ds_monitor.clock import utc_now
from ds_monitor.ds.models import FAILURE
from tests.notify.doubles.wecom import WeComDouble

from .replicas import TOKEN, WECOM_KEY, Replica, replica_env, wait_for

EXECUTE = "executors/execute"


@pytest.fixture
def wecom():
    double = WeComDouble([WECOM_KEY], per_minute=1000)
    yield double
    double.close()


def test_a_paused_leader_is_fenced_and_a_killed_leader_is_replaced(make_ds_sim, zk_config, wecom, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN)
    project = sim.add_project("data-platform")
    definitions = [sim.add_definition(project, f"etl_{n}") for n in range(3)]
    env = replica_env(sim_url=sim.url, zk_hosts=zk_config.hosts, zk_root=zk_config.root,
                      wecom_url=wecom.webhook(WECOM_KEY))
    a, b = Replica("a", tmp_path, env), Replica("b", tmp_path, env)

    def fail(n: int) -> int:
        start = utc_now() - timedelta(minutes=5)
        return sim.add_instance(definitions[n], state=FAILURE, start_time=start, end_time=start,
                                name=f"incident-{n}")

    def messages_about(n: int) -> int:
        return sum(f"incident-{n}" in json.dumps(body, ensure_ascii=False) for body in wecom.accepted)

    try:
        a.start()
        wait_for(lambda: a.role() == "leader", what="A leads")
        b.start()
        wait_for(lambda: b.role() == "standby", what="B is a standby")
        assert b.readyz()["status"] == "ready" and b.readyz()["leader"].endswith(f":{a.pid}")
        assert (a.leader_gauge(), b.leader_gauge()) == (1.0, 0.0)
        coordination = b.get_json("/status")["coordination"]
        assert coordination["role"] == "standby" and coordination["leader"].endswith(f":{a.pid}")

        fail(0)
        wait_for(lambda: sim.count_calls("POST", EXECUTE) == 1, what="A recovers the first failure")

        # Freeze A inside the sweep that re-reads the second failure, before it can recover it.
        sim.inject("latency", path_contains="process-instances/", method="GET", delay=0.5, times=None)
        second = fail(1)
        wait_for(lambda: sim.count_calls("GET", f"process-instances/{second}"), what="A re-reads the failure")
        a.pause()
        sim.clear_faults()
        wait_for(lambda: b.role() == "leader", timeout=10, what="B takes over from the frozen A")
        wait_for(lambda: sim.count_calls("POST", EXECUTE) == 2, what="B recovers the second failure")
        wait_for(lambda: messages_about(1) == 1, what="B announces it")

        a.resume()
        wait_for(lambda: a.role() == "standby", what="the resumed A steps back")
        wait_for(lambda: "no longer the leader" in a.log() or "ZooKeeper session lost" in a.log(),
                 what="A logs the lost leadership")

        b.kill()
        wait_for(lambda: a.role() == "leader", timeout=10, what="A takes over from the killed B")
        fail(2)
        wait_for(lambda: sim.count_calls("POST", EXECUTE) == 3, what="A recovers the third failure")
        wait_for(lambda: messages_about(2) == 1, what="A announces it")
        # Two more sweeps of A: nothing is recovered or announced again.
        sweeps = a.log().count("sweep done")
        wait_for(lambda: a.log().count("sweep done") >= sweeps + 2, what="two more sweeps")
    finally:
        b.stop()
        code = a.stop()
    assert code == 0
    assert sim.count_calls("POST", EXECUTE) == 3
    assert [messages_about(n) for n in range(3)] == [1, 1, 1]
    assert "Traceback" not in a.log() + b.log()

"""The ZooKeeper state backend against a real ZooKeeper: same contract as the file store, plus CAS and fencing."""

from __future__ import annotations

import json
import random

import pytest

from ds_monitor.errors import NotLeader, StateError
from ds_monitor.state import RATE_LIMIT, RECOVERY, SCHEDULE, STATE_FILES
from ds_monitor.state.zookeeper import CHUNK_BYTES, ZooKeeperStore


@pytest.fixture
def leader(make_coordinator):
    coordinator = make_coordinator("replica-a")
    assert coordinator.try_lead()
    return coordinator


def test_every_state_document_round_trips_and_absent_is_empty(leader):
    store = ZooKeeperStore(leader)
    assert store.load(RECOVERY) == {}
    for i, name in enumerate(STATE_FILES):
        store.save(name, {"entries": {"k": i}, "text": "中文"})
    fresh = ZooKeeperStore(leader)
    for i, name in enumerate(STATE_FILES):
        assert fresh.load(name) == {"version": 1, "entries": {"k": i}, "text": "中文"}
    assert fresh.snapshot()[SCHEDULE]["entries"] == {"k": STATE_FILES.index(SCHEDULE)}


def test_unknown_document_name_is_refused(leader):
    with pytest.raises(ValueError, match="unknown state document"):
        ZooKeeperStore(leader).save("other.json", {})


def test_a_large_estate_is_chunked_far_below_the_node_limit_and_old_chunks_go(leader):
    store = ZooKeeperStore(leader)
    rng = random.Random(7)
    # 10,000 definitions with random (incompressible) tokens: the worst case for compression.
    big = {"definitions": {str(10**12 + i): {"token": f"{rng.getrandbits(256):064x}", "n": i} for i in range(10_000)}}
    store.save(SCHEDULE, big)
    store.save(SCHEDULE, {**big, "extra": 1})
    chunks = f"{leader.root}/chunks/{SCHEDULE}"
    children = leader.client.get_children(chunks)
    assert len(children) > 1, "the test document must need several chunks"
    assert len({child.split("-")[0] for child in children}) == 1, "the old generation was not removed"
    sizes = [leader.client.get(f"{chunks}/{child}")[1].dataLength for child in children]
    assert max(sizes) <= CHUNK_BYTES
    manifest = leader.client.get(f"{leader.root}/state/{SCHEDULE}")[1]
    assert manifest.dataLength < 1024
    assert ZooKeeperStore(leader).load(SCHEDULE)["extra"] == 1


def test_compare_and_set_refuses_to_overwrite_a_change_made_since_the_read(leader):
    first, second = ZooKeeperStore(leader), ZooKeeperStore(leader)
    first.save(RECOVERY, {"n": 1})
    assert second.load(RECOVERY)["n"] == 1
    first.save(RECOVERY, {"n": 2})
    with pytest.raises(StateError, match="compare-and-set"):
        second.save(RECOVERY, {"n": 3})
    assert second.load(RECOVERY)["n"] == 2  # after reading again it may write
    second.save(RECOVERY, {"n": 3})
    assert ZooKeeperStore(leader).load(RECOVERY)["n"] == 3


def test_an_unchanged_document_is_not_rewritten(leader):
    store = ZooKeeperStore(leader)
    store.save(RATE_LIMIT, {"a": 1})
    before = leader.client.get(f"{leader.root}/state/{RATE_LIMIT}")[1].version
    store.save(RATE_LIMIT, {"a": 1})
    assert leader.client.get(f"{leader.root}/state/{RATE_LIMIT}")[1].version == before


def test_a_standby_and_a_read_only_store_write_nothing(leader, make_coordinator):
    standby = make_coordinator("replica-b")
    assert not standby.try_lead()
    with pytest.raises(NotLeader):
        ZooKeeperStore(standby).save(RECOVERY, {"n": 1})
    with pytest.raises(NotLeader):
        with ZooKeeperStore(standby).locked():
            pass
    with pytest.raises(NotLeader):
        ZooKeeperStore(leader, writable=False).save(RECOVERY, {"n": 1})
    assert ZooKeeperStore(standby, writable=False).load(RECOVERY) == {}
    assert standby.leader() == "replica-a"


def test_the_server_refuses_a_write_once_the_election_node_is_gone(leader):
    """Even if the process still believes it leads, the transaction's check fails on the server."""
    store = ZooKeeperStore(leader)
    store.save(RECOVERY, {"n": 1})
    leader.client.delete(leader.leader_node())  # what ZooKeeper does when the session expires
    with pytest.raises(NotLeader):
        store.save(RECOVERY, {"n": 2})
    assert not leader.is_leader
    assert ZooKeeperStore(leader, writable=False).load(RECOVERY)["n"] == 1


def test_the_fence_fails_without_the_election_node(leader):
    leader.fence()
    leader.client.delete(leader.leader_node())
    with pytest.raises(NotLeader, match="leadership lost"):
        leader.fence()


def test_a_corrupt_document_is_set_aside_and_starts_empty(leader):
    store = ZooKeeperStore(leader)
    store.save(SCHEDULE, {"n": 1})
    path = f"{leader.root}/state/{SCHEDULE}"
    manifest = json.loads(leader.client.get(path)[0])
    leader.client.set(path, json.dumps({**manifest, "sha256": "0" * 64}).encode())
    assert ZooKeeperStore(leader, writable=False).snapshot()[SCHEDULE] == {}
    fresh = ZooKeeperStore(leader)
    assert fresh.load(SCHEDULE) == {}
    assert "checksum mismatch" in fresh.warnings[0]
    assert leader.client.get_children(f"{leader.root}/corrupt")
    fresh.save(SCHEDULE, {"n": 2})
    assert ZooKeeperStore(leader).load(SCHEDULE)["n"] == 2


def test_a_newer_format_is_refused_not_overwritten(leader):
    store = ZooKeeperStore(leader)
    store.save(RECOVERY, {"version": 99, "n": 1})
    with pytest.raises(StateError, match="newer ds-monitor"):
        ZooKeeperStore(leader).load(RECOVERY)


def test_a_document_saved_in_the_future_is_reported_once_like_a_file(leader):
    from datetime import timedelta

    from ds_monitor.clock import utc_now

    ahead = ZooKeeperStore(leader, clock=lambda: utc_now() + timedelta(hours=2))
    ahead.save(SCHEDULE, {"n": 1})
    store = ZooKeeperStore(leader)
    assert store.load(SCHEDULE) == {"version": 1, "n": 1}  # the stamp is the store's, not the content's
    store.load(SCHEDULE)
    assert len(store.warnings) == 1 and "ahead of this host's clock" in store.warnings[0]


def test_writes_from_parallel_threads_of_one_store_never_conflict(leader):
    from concurrent.futures import ThreadPoolExecutor

    store = ZooKeeperStore(leader)
    store.load(RECOVERY)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: store.save(RECOVERY, {"n": n}), range(40)))
    assert ZooKeeperStore(leader).load(RECOVERY)["n"] in range(40)


def test_both_backends_have_the_one_store_interface(leader, tmp_path):
    from ds_monitor.state import Store
    from ds_monitor.state.files import StateStore

    assert isinstance(ZooKeeperStore(leader), Store)
    assert isinstance(StateStore(tmp_path), Store)

"""StateStore: versioned atomic JSON files, quarantine of corrupt files, the inter-process lock."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ds_monitor.errors import ConfigError, StateError
from ds_monitor.state import DIGEST, RATE_LIMIT, RECOVERY, SCHEDULE, SILENCES, STATE_FILES
from ds_monitor.state.files import StateStore

SRC = str(Path(__file__).resolve().parents[2] / "src")
FIXED = datetime(2024, 6, 1, 2, 3, 4, tzinfo=timezone.utc)


def store_at(path: Path, **kwargs) -> StateStore:
    return StateStore(path, clock=lambda: FIXED, **kwargs)


def run_python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        **kwargs,
    )


# -- files and versions ---------------------------------------------------------------------------


def test_missing_file_loads_empty(tmp_path):
    assert store_at(tmp_path).load(RECOVERY) == {}


def test_round_trip_adds_version(tmp_path):
    store = store_at(tmp_path)
    store.save(SCHEDULE, {"seen": {"1": "2024-06-01T00:00:00+00:00"}})
    assert store.load(SCHEDULE) == {"version": 1, "seen": {"1": "2024-06-01T00:00:00+00:00"}}
    assert json.loads((tmp_path / SCHEDULE).read_text())["version"] == 1


def test_save_keeps_a_given_version(tmp_path):
    store = store_at(tmp_path)
    store.save(RATE_LIMIT, {"version": 1, "rate": {}})
    assert store.load(RATE_LIMIT) == {"version": 1, "rate": {}}


def test_unversioned_file_is_migrated(tmp_path):
    (tmp_path / RECOVERY).write_text('{"instances": {}}')
    assert store_at(tmp_path).load(RECOVERY) == {"version": 1, "instances": {}}


def test_newer_version_is_refused_not_overwritten(tmp_path):
    (tmp_path / RECOVERY).write_text('{"version": 7}')
    with pytest.raises(
        StateError, match=r"version 7, written by a newer ds-monitor \(this one reads up to 1\)"
    ):
        store_at(tmp_path).load(RECOVERY)
    assert (tmp_path / RECOVERY).read_text() == '{"version": 7}'


def test_creates_the_state_dir(tmp_path):
    StateStore(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize(
    "state_dir, reason",
    [
        pytest.param("taken", "File exists", id="state_dir-is-a-file"),
        pytest.param("taken/state", "Not a directory", id="parent-is-a-file"),
    ],
)
def test_unusable_state_dir_is_a_configuration_error(tmp_path, state_dir, reason):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ConfigError) as caught:
        StateStore(tmp_path / state_dir)
    assert str(caught.value) == f"state_dir {tmp_path / state_dir} cannot be created: {reason}"
    assert caught.value.exit_code == 2


def test_unknown_file_name_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="unknown state document"):
        store_at(tmp_path).load("other.json")


# -- quarantine -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"version": 1, "instances": {', id="truncated-json"),
        pytest.param(b"\xff\xfe\x00garbage", id="binary"),
        pytest.param(b"[1, 2, 3]", id="json-list"),
        pytest.param(b'{"version": "one"}', id="version-not-int"),
        pytest.param(b"", id="empty-file"),
    ],
)
def test_corrupt_file_is_moved_aside_and_only_it_starts_empty(tmp_path, caplog, content):
    store = store_at(tmp_path)
    store.save(SCHEDULE, {"keep": 1})
    store.save(RATE_LIMIT, {"keep": 2})
    (tmp_path / RECOVERY).write_bytes(content)

    with caplog.at_level(logging.WARNING, logger="ds_monitor.state"):
        assert store.load(RECOVERY) == {}

    aside = tmp_path / f"{RECOVERY}.corrupt-20240601T020304Z"
    assert aside.read_bytes() == content
    assert not (tmp_path / RECOVERY).exists()
    assert store.load(SCHEDULE) == {"version": 1, "keep": 1}
    assert store.load(RATE_LIMIT) == {"version": 1, "keep": 2}
    assert len(store.warnings) == 1 and aside.name in store.warnings[0]
    assert any(aside.name in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_unreadable_file_is_moved_aside(tmp_path):
    (tmp_path / SCHEDULE).mkdir()  # reading a directory fails like an unreadable file
    store = store_at(tmp_path)
    assert store.load(SCHEDULE) == {}
    assert (tmp_path / f"{SCHEDULE}.corrupt-20240601T020304Z").is_dir()
    assert "unreadable" in store.warnings[0]


def test_two_quarantines_in_one_second_keep_both(tmp_path):
    store = store_at(tmp_path)
    for text in ("first", "second"):
        (tmp_path / RECOVERY).write_text(text)
        store.load(RECOVERY)
    assert (tmp_path / f"{RECOVERY}.corrupt-20240601T020304Z").read_text() == "first"
    assert (tmp_path / f"{RECOVERY}.corrupt-20240601T020304Z-1").read_text() == "second"


# -- atomic writes --------------------------------------------------------------------------------


def test_failed_replace_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    store = store_at(tmp_path)
    store.save(RECOVERY, {"n": 1})

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StateError, match=r"cannot write .*recovery_state.json: No space left on device"):
        store.save(RECOVERY, {"n": 2})
    monkeypatch.undo()
    assert store.load(RECOVERY) == {"version": 1, "n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECOVERY]


def test_content_that_is_not_json_is_refused_before_touching_the_file(tmp_path):
    store = store_at(tmp_path)
    store.save(RECOVERY, {"n": 1})
    with pytest.raises(StateError, match="not JSON"):
        store.save(RECOVERY, {"when": FIXED})
    assert store.load(RECOVERY) == {"version": 1, "n": 1}


READER = """
import json, sys
from pathlib import Path
path = Path(sys.argv[1])
print("ready", flush=True)
reads = torn = 0
while not Path(sys.argv[2]).exists():
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        continue
    reads += 1
    try:
        doc = json.loads(raw)
        if doc["blob"] != "x" * doc["size"]:
            torn += 1
    except (ValueError, KeyError):
        torn += 1
print(reads, torn, flush=True)
"""


def test_a_reader_process_never_sees_a_torn_file(tmp_path):
    store = store_at(tmp_path)
    store.save(SCHEDULE, {"size": 1, "blob": "x"})
    stop = tmp_path / "stop"
    reader = run_python(READER, str(tmp_path / SCHEDULE), str(stop))
    assert reader.stdout.readline().strip() == "ready"
    for i in range(60):
        size = 20_000 + 3_000 * (i % 7)  # sizes vary so a torn write would show as a mismatch
        store.save(SCHEDULE, {"size": size, "blob": "x" * size})
    stop.write_text("")
    reads, torn = map(int, reader.communicate(timeout=10)[0].split())
    assert reads > 0
    assert torn == 0


# -- locking --------------------------------------------------------------------------------------


def test_second_store_cannot_take_the_lock(tmp_path):
    holder = store_at(tmp_path)
    other = store_at(tmp_path, lock_timeout=0.1)
    with holder.locked():
        with pytest.raises(StateError) as caught:
            with other.locked():
                pass
    assert str(caught.value) == (
        f"another ds-monitor (pid {os.getpid()}) holds the state lock in {tmp_path} (waited 0.1 s)"
    )
    with other.locked():  # released on exit
        pass


HOLDER = """
import sys
from ds_monitor.state.files import StateStore
with StateStore(sys.argv[1]).locked():
    print("held", flush=True)
    sys.stdin.read()
"""


def test_lock_held_by_another_process(tmp_path):
    holder = run_python(HOLDER, str(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            StateError, match=rf"another ds-monitor \(pid {holder.pid}\) holds the state lock in"
        ):
            with store_at(tmp_path, lock_timeout=0.1).locked():
                pass
    finally:
        holder.communicate("", timeout=10)
    with store_at(tmp_path, lock_timeout=0.1).locked():
        pass


def test_lock_is_reentrant_within_one_store(tmp_path):
    store = store_at(tmp_path, lock_timeout=0.1)
    with store.locked():
        with store.locked():
            store.save(RECOVERY, {"n": 1})
        # still held by the outer block
        with pytest.raises(StateError):
            with store_at(tmp_path, lock_timeout=0.05).locked():
                pass


def test_snapshot_reads_all_files_without_waiting_for_a_sweep(tmp_path):
    writer = store_at(tmp_path)
    writer.save(RECOVERY, {"instances": {}})
    writer.save(RATE_LIMIT, {"rate": {}})
    reader = store_at(tmp_path)
    with writer.locked():
        started = time.monotonic()
        files = reader.snapshot()
        waited = time.monotonic() - started
    assert files == {
        RECOVERY: {"version": 1, "instances": {}},
        RATE_LIMIT: {"version": 1, "rate": {}},
        SCHEDULE: {},
        SILENCES: {},
        DIGEST: {},
    }
    assert waited < writer.lock_timeout


def test_snapshot_never_moves_a_corrupt_file(tmp_path):
    (tmp_path / RECOVERY).write_text("{broken")
    store = store_at(tmp_path)
    files = store.snapshot()
    assert files[RECOVERY] == {}
    assert (tmp_path / RECOVERY).read_text() == "{broken"
    assert "is unusable" in store.warnings[0]
    assert set(files) == set(STATE_FILES)

"""Permission problems are the operator's to fix: exit 2 naming the path and its owner (issue 15 item 3).

The suite may run as root, which no chmod stops, so the denial is injected at the OS call; the
paths, owners and modes in the messages are the real ones.
"""

from __future__ import annotations

import errno
import logging
import pwd
from pathlib import Path

import pytest

from ds_monitor.errors import AccessError
from ds_monitor.state import RECOVERY
from ds_monitor.state.files import StateStore
from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor

JOURNAL = '{"version": 1, "instances": {}}'


def deny(monkeypatch, cls, method: str, path: Path) -> None:
    """Make ``cls.method`` raise EACCES for ``path`` (and behave normally for every other path)."""
    original = getattr(cls, method)

    def guarded(self, *args, **kwargs):
        if Path(getattr(self, "baseFilename", self)) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, guarded)


@pytest.fixture
def check(make_ds_sim, tmp_path, run_cli):
    """``check()``: one ``check`` in-process against a small estate; returns (exit code, stdout + stderr)."""
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    sim.add_definition(sim.add_project("p"), "wf")
    env = {
        "DS_API_URL": sim.url,
        "DS_TOKEN": TOKEN,
        "DS_STATE_DIR": str(tmp_path / "state"),
        "DS_LOGGING__FILE": str(tmp_path / "logs" / "monitor.log"),
    }

    def run() -> tuple[int, str]:
        result = run_cli("check", env=env, clock=lambda: NOW)
        return result.exit_code, result.stdout + result.stderr

    return run


def owner_of(path: Path) -> str:
    return pwd.getpwuid(path.stat().st_uid).pw_name


def test_an_unreadable_journal_is_never_quarantined_and_stops_the_sweep(make_ds_sim, tmp_path, monkeypatch):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    sim.add_definition(sim.add_project("p"), "wf")
    journal = tmp_path / RECOVERY
    journal.write_text(JOURNAL, encoding="utf-8")
    deny(monkeypatch, Path, "read_bytes", journal)
    monitor = make_monitor(make_config(sim, tmp_path))
    with pytest.raises(AccessError) as raised:
        monitor.sweep(NOW)
    monitor.close()
    assert str(journal) in str(raised.value) and f"owner {owner_of(journal)}" in str(raised.value)
    assert journal.read_text(encoding="utf-8") == JOURNAL
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_check_exits_2_naming_the_journal_and_its_owner(check, tmp_path, monkeypatch):
    journal = tmp_path / "state" / RECOVERY
    journal.parent.mkdir()
    journal.write_text(JOURNAL, encoding="utf-8")
    deny(monkeypatch, Path, "read_bytes", journal)
    code, output = check()
    assert code == 2, output
    assert f"error: state file {journal}: Permission denied (owner {owner_of(journal)}" in output
    assert "internal error" not in output
    assert not list(journal.parent.glob("*.corrupt-*"))


def test_a_log_file_owned_by_someone_else_is_exit_2(check, tmp_path, monkeypatch):
    log_file = tmp_path / "logs" / "monitor.log"
    deny(monkeypatch, logging.FileHandler, "_open", log_file)
    code, output = check()
    assert code == 2, output
    assert f"error: logging.file {log_file}: Permission denied (owner of {log_file.parent}" in output


def test_a_log_path_that_is_a_directory_is_exit_2(check, tmp_path, monkeypatch):
    (tmp_path / "logs" / "monitor.log").mkdir(parents=True)
    code, output = check()
    assert code == 2, output
    assert "logging.file" in output and "monitor.log" in output and "internal error" not in output


def test_a_state_dir_that_cannot_be_created_is_exit_2(check, tmp_path, monkeypatch):
    state_dir = tmp_path / "state"
    deny(monkeypatch, Path, "mkdir", state_dir)
    code, output = check()
    assert code == 2, output
    assert f"error: state_dir {state_dir}: Permission denied (owner of {tmp_path}" in output


def test_status_reads_past_an_unreadable_file_with_a_warning(tmp_path, monkeypatch):
    journal = tmp_path / RECOVERY
    journal.write_text(JOURNAL, encoding="utf-8")
    deny(monkeypatch, Path, "read_bytes", journal)
    store = StateStore(tmp_path)
    assert store.snapshot()[RECOVERY] == {}
    assert "Permission denied" in store.warnings[0] and journal.exists()

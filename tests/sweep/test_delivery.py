"""The delivery guarantee (spec section 8), crash point by crash point, in-process against the DS double.

A "crash" is an exception no layer catches (``Crash`` is a BaseException, like the SIGKILL the
process study uses): whatever the state files hold at that moment is what the next process
starts from. Every test then builds a fresh monitor on the same state directory, as a restart does.
"""

from __future__ import annotations

import json
import threading

import pytest

from ds_monitor.ds.models import FAILURE
from ds_monitor.errors import StateError
from ds_monitor.notify.manager import NotificationManager
from ds_monitor.state import RATE_LIMIT
from ds_monitor.state.files import StateStore
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes


class Crash(BaseException):
    """The process dies here."""


@pytest.fixture
def sim(make_ds_sim):
    return make_ds_sim(version="3.2", token=TOKEN)


def failures(sim, count=2):
    project = sim.add_project("data-platform")
    ids = []
    for n in range(count):
        definition = sim.add_definition(project, f"etl_{n}")
        start = NOW - minutes(30 + n)
        ids.append(
            sim.add_instance(
                definition, state=FAILURE, start_time=start, end_time=start + minutes(5), command_type="START_PROCESS"
            )
        )
    return ids


def told(sender) -> list[tuple[str, str]]:
    """(kind, instance) of every item a channel received, in order."""
    return [(item.kind, dict(item.facts).get("Instance", "").split(" ")[0]) for d in sender.digests for item in d.items]


def owed(tmp_path, channel) -> list[str]:
    state = json.loads((tmp_path / RATE_LIMIT).read_text())
    return [item["key"] for item in state["outbox"].get(channel, {}).get("items", [])]


class CrashingSender(RecordingSender):
    """Takes the message, then the process dies before anything can record that."""

    def send(self, digest):
        super().send(digest)
        raise Crash


def test_a_crash_before_any_send_loses_nothing(sim, tmp_path, monkeypatch):
    ids = failures(sim)
    config = make_config(sim, tmp_path)
    ding, mail = RecordingSender("dingtalk"), RecordingSender("email")

    def die(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(NotificationManager, "deliver", die)
    with pytest.raises(Crash):
        make_monitor(config, senders=[ding, mail]).sweep(NOW)
    assert ding.digests == [] and mail.digests == []
    assert len(owed(tmp_path, "dingtalk")) == len(owed(tmp_path, "email")) == 4  # 2 failures + 2 recoveries

    monkeypatch.undo()
    report = make_monitor(config, senders=[ding, mail]).sweep(NOW + minutes(1))
    assert report.ok, report.error
    expected = {(kind, str(i)) for i in ids for kind in ("failure_detected", "recovery_triggered")}
    assert set(told(ding)) == set(told(mail)) == expected
    assert len(told(ding)) == len(told(mail)) == 4
    assert owed(tmp_path, "dingtalk") == owed(tmp_path, "email") == []


def test_a_crash_inside_one_channels_send_repeats_that_channel_only_once(sim, tmp_path):
    failures(sim)
    config = make_config(sim, tmp_path)
    ding, mail = RecordingSender("dingtalk"), CrashingSender("email")
    # DingTalk answers first and is recorded; e-mail takes the message and the process dies.
    with pytest.raises(Crash):
        make_monitor(config, senders=[ding, mail]).sweep(NOW)
    assert owed(tmp_path, "dingtalk") == [] and len(owed(tmp_path, "email")) == 4

    mail_again = RecordingSender("email")
    report = make_monitor(config, senders=[ding, mail_again]).sweep(NOW + minutes(1))
    assert report.ok, report.error
    assert len(ding.digests) == 1  # nothing repeated on the channel that had answered
    assert told(mail_again) == told(mail)  # the crashed channel's one message, once more
    report = make_monitor(config, senders=[ding, mail_again]).sweep(NOW + minutes(2))
    assert len(ding.digests) == 1 and len(mail_again.digests) == 1


def test_a_failed_save_after_a_send_fails_the_sweep_and_never_resends(sim, tmp_path, monkeypatch):
    failures(sim, count=1)
    ding = RecordingSender("dingtalk")
    monitor = make_monitor(make_config(sim, tmp_path), senders=[ding])
    real_save = StateStore.save
    broken = {"done": False}

    def full_disk_for_the_answer(store, name, data):
        # The first save after the channel took the message is the one recording its answer.
        if name == RATE_LIMIT and ding.digests and not broken["done"]:
            broken["done"] = True
            raise StateError(f"cannot write {name}: No space left on device")
        real_save(store, name, data)

    monkeypatch.setattr(StateStore, "save", full_disk_for_the_answer)
    report = monitor.sweep(NOW)
    assert broken["done"] and not report.ok and "No space left" in report.error
    assert len(ding.digests) == 1
    assert len(owed(tmp_path, "dingtalk")) == 2  # on disk it still looks unsent ...

    for n in range(1, 4):  # ... but this process knows better: no spam, the record is repaired
        assert monitor.sweep(NOW + minutes(n)).ok
    assert len(ding.digests) == 1 and owed(tmp_path, "dingtalk") == []


def test_three_failed_saves_are_an_unhealthy_monitor(sim, tmp_path, monkeypatch):
    failures(sim, count=1)
    ding = RecordingSender("dingtalk")
    monitor = make_monitor(make_config(sim, tmp_path), senders=[ding])
    assert monitor.sweep(NOW).ok
    real_save = StateStore.save
    broken = {"on": True}

    def schedule_file_unwritable(store, name, data):
        if broken["on"] and name == "schedule_state.json":
            raise StateError(f"cannot write {name}: No space left on device")
        real_save(store, name, data)

    monkeypatch.setattr(StateStore, "save", schedule_file_unwritable)
    reports = [monitor.sweep(NOW + minutes(n)) for n in range(1, 4)]
    assert [r.ok for r in reports] == [False, False, False]
    assert [r.events for r in reports] == [[], [], ["monitor_unhealthy"]]
    broken["on"] = False
    assert monitor.sweep(NOW + minutes(4)).events == ["monitor_recovered"]


def test_outages_are_announced_once_each_across_restarts(sim, tmp_path):
    failures(sim, count=1)
    config = make_config(sim, tmp_path)
    ding = RecordingSender("dingtalk")

    def restarted():
        return make_monitor(config, senders=[ding])

    sim.inject("token_rejected", times=None)
    events = [restarted().sweep(NOW + minutes(n)).events for n in range(4)]
    assert events == [[], [], ["monitor_unhealthy"], []]
    sim.clear_faults()
    assert restarted().sweep(NOW + minutes(5)).events == ["monitor_recovered"]
    sim.inject("token_rejected", times=None)
    events = [restarted().sweep(NOW + minutes(6 + n)).events for n in range(3)]
    assert events == [[], [], ["monitor_unhealthy"]]
    kinds = [item.kind for d in ding.digests for item in d.items]
    assert kinds.count("monitor_unhealthy") == 2 and kinds.count("monitor_recovered") == 1


class HeldSender(RecordingSender):
    """Holds its send until released, so a second process can try the same channel meanwhile."""

    def __init__(self, name):
        super().__init__(name)
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, digest):
        self.entered.set()
        self.release.wait(10)
        return super().send(digest)


def test_check_beside_run_never_sends_the_same_items_twice(sim, tmp_path, monkeypatch):
    failures(sim, count=1)
    config = make_config(sim, tmp_path)
    held, other = HeldSender("dingtalk"), RecordingSender("dingtalk")
    run = make_monitor(config, senders=[held])
    worker = threading.Thread(target=run.sweep, args=(NOW,))
    worker.start()
    assert held.entered.wait(10)
    # A second process: another owner of the claim (this process would take its own claim over).
    monkeypatch.setattr("ds_monitor.notify.outbox.this_owner", lambda: "elsewhere:1:check")
    check = make_monitor(config, senders=[other]).sweep(NOW + minutes(1))
    monkeypatch.undo()
    held.release.set()
    worker.join(10)
    assert check.ok, check.error
    assert other.digests == [] and len(held.digests) == 1
    assert owed(tmp_path, "dingtalk") == []

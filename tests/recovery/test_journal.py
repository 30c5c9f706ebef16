"""The recovery journal: one tolerant load, one dump that writes what the journal file has always held."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from ds_monitor.ds.models import SUCCESS
from ds_monitor.recovery.decisions import recovery_status
from ds_monitor.recovery.journal import Journal
from ds_monitor.state import RECOVERY
from ds_monitor.state.files import StateStore
from tests.recovery.helpers import DC, NOW, raw_record


def test_prune_drops_entries_a_week_past_the_window():
    window = timedelta(hours=24)
    old = raw_record("succeeded", last_at=NOW - window - timedelta(days=7, seconds=1))
    young = {**raw_record("succeeded", last_at=NOW - window - timedelta(days=7)), "instance_id": 2}
    unannounced = {
        **old,
        "instance_id": 3,
        "announce": [{"kind": "recovery_succeeded", "attempt": 1, "state": SUCCESS, "detail": ""}],
    }
    state = {"instances": {"4711": old, "2": young, "3": unannounced}}
    assert sorted(Journal.load(state).pruned(NOW, window).records) == [2, 3]


def test_malformed_entries_are_dropped_with_a_warning(caplog):
    good = raw_record("pending")
    state = {
        "version": 1,
        "instances": {
            "4711": good,
            "1": {"instance_id": "x"},
            "2": [],
            "3": {**good, "instance_id": 3, "last_at": "2024-06-01T02:00:00"},
            "5": {**good, "instance_id": 5, "announce": [{"kind": "recovery_failed"}]},
        },
    }
    with caplog.at_level(logging.WARNING, logger="ds_monitor.recovery"):
        journal = Journal.load(state)
    assert list(journal.records) == [4711]
    assert len(caplog.records) == 4
    assert Journal.load({"instances": []}).dump() == {"instances": {}}
    assert Journal.load(None).dump() == {"instances": {}}


def test_recovery_status_rows():
    state = {
        "instances": {
            "4711": raw_record("pending", hold=NOW - timedelta(minutes=1), last_at=NOW - timedelta(minutes=31)),
            "2": {**raw_record("succeeded", detail="ended SUCCESS", hold=None), "instance_id": 2},
        }
    }
    rows = recovery_status(Journal.load(state), NOW)
    assert rows == [
        {
            "instance_id": 2,
            "definition_code": DC,
            "attempts": 1,
            "last_result": "triggered",
            "last_at": "2024-06-01T02:55:00+00:00",
            "outcome": "succeeded: ended SUCCESS",
        },
        {
            "instance_id": 4711,
            "definition_code": DC,
            "attempts": 1,
            "last_result": "triggered",
            "last_at": "2024-06-01T02:29:00+00:00",
            "outcome": "pending, not started since 2024-06-01T02:59:00+00:00 (recovery_not_started): not sent "
            "again, a person decides",
        },
    ]
    assert recovery_status(Journal.load({}), NOW) == []


def test_busy_definitions_and_last_call_come_from_the_journal():
    def raw_record(instance_id, status, project, at):
        return {
            "instance_id": instance_id,
            "project_code": project,
            "definition_code": instance_id * 10,
            "attempts": 1,
            "run_times_before": 1,
            "status": status,
            "last_at": at,
        }

    state = {
        "version": 1,
        "instances": {
            "1": raw_record(1, "pending", 7, "2026-11-23T10:00:00+00:00"),
            "2": raw_record(2, "succeeded", 7, "2026-11-23T11:00:00+00:00"),
            "3": raw_record(3, "running", 8, "2026-11-23T09:00:00+00:00"),
        },
    }
    journal = Journal.load(state)
    assert journal.busy_definitions() == frozenset({10, 30})
    assert journal.last_call_in_project(7) == datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)
    assert journal.last_call_in_project(9) is None
    assert Journal.load({}).busy_definitions() == frozenset()


def test_dump_writes_the_document_it_loaded():
    """Files and ZooKeeper nodes written before the records were typed read back and save unchanged."""
    document = {
        "failures": {"4711": {"diagnosis": {"klass": "transient"}}},
        "version": 1,
        "instances": {
            "4711": {
                **raw_record("pending"),
                "announce": [{"kind": "recovery_triggered", "attempt": 1, "state": "FAILURE", "detail": "accepted"}],
            },
            "2": {**raw_record("succeeded", hold=None), "instance_id": 2},
        },
    }
    assert Journal.load(document).dump() == document


def test_a_follow_up_keeps_its_facts_and_an_older_one_its_sentence():
    """Announcements hold facts for the builder; one an older version saved brings its sentence."""
    late = {"kind": "recovery_triggered", "attempt": 1, "state": "RUNNING_EXECUTION", "detail": "",
            "called_at": "2024-06-01T02:00:00+00:00"}
    older = {"kind": "recovery_succeeded", "attempt": 1, "state": SUCCESS, "detail": "ended SUCCESS"}
    document = {"instances": {"4711": {**raw_record("running"), "announce": [late, older]}}}
    journal = Journal.load(document)
    first, second = journal.get(4711).announce
    assert first.called_at == datetime(2024, 6, 1, 2, 0, tzinfo=timezone.utc) and first.detail == ""
    assert second.called_at is None and second.detail == "ended SUCCESS"
    assert journal.dump() == document


def test_missing_optional_keys_get_their_defaults():
    bare = {k: v for k, v in raw_record("pending").items() if k not in ("hold_until", "detail", "state", "announce")}
    [record] = Journal.load({"instances": {"4711": bare}}).dump()["instances"].values()
    assert record == {**bare, "hold_until": None, "last_result": "triggered", "detail": "", "state": "", "announce": []}


def test_the_store_stamps_the_version_of_a_journal_that_had_none(tmp_path):
    store = StateStore(tmp_path)
    store.save(RECOVERY, Journal.load({}).dump())
    assert json.loads((tmp_path / RECOVERY).read_text())["version"] == 1
    assert Journal.load(store.load(RECOVERY)).dump() == {"version": 1, "instances": {}}

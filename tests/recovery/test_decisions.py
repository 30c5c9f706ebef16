"""Recovery decisions (pure): attempt accounting, the guards before a recover call, how a recovery ended."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ds_monitor.ds.models import (
    COMMAND_COMPLEMENT_DATA,
    COMMAND_RECOVER_FAILED,
    FAILURE,
    RUNNING_EXECUTION,
    STOP,
    SUBMITTED_SUCCESS,
    SUCCESS,
)
from ds_monitor.recovery.decisions import (
    RecoveryPolicy,
    attempts_so_far,
    decide,
    has_newer_active,
    interval_defers,
    settle,
)
from ds_monitor.recovery.journal import Journal
from tests.recovery.helpers import NOW, PC, T0, failed, record

# -- attempts_so_far ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rec, instance, expected",
    [
        pytest.param(None, failed(), 0, id="fresh-failure"),
        pytest.param(
            record("failed", attempts=2),
            failed(run_times=3, command_type=COMMAND_RECOVER_FAILED),
            2,
            id="journal-and-ds-agree",
        ),
        pytest.param(None, failed(run_times=3, command_type=COMMAND_RECOVER_FAILED), 2, id="journal-lost-ds-counts"),
        pytest.param(
            record("failed", attempts=1),
            failed(run_times=4, command_type=COMMAND_RECOVER_FAILED),
            3,
            id="someone-else-recovered-too",
        ),
        pytest.param(record("unknown", attempts=2), failed(run_times=1), 2, id="journal-counts-unconfirmed-calls"),
        pytest.param(None, failed(run_times=5, command_type="REPEAT_RUNNING"), 0, id="manual-rerun-starts-afresh"),
    ],
)
def test_attempts_so_far(rec, instance, expected):
    assert attempts_so_far(rec, instance) == expected


# -- decide ---------------------------------------------------------------------------------------

POLICY = RecoveryPolicy(max_attempts=3)


@pytest.mark.parametrize(
    "instance, rec, kwargs, expected",
    [
        pytest.param(failed(), None, {}, ("recover", "attempt 1 of 3"), id="fresh-failure"),
        pytest.param(
            failed(state=RUNNING_EXECUTION),
            None,
            {},
            ("skipped_state", "state is RUNNING_EXECUTION (someone else acted)"),
            id="left-failure-someone-else",
        ),
        pytest.param(
            failed(state=RUNNING_EXECUTION, run_times=2),
            record("running"),
            {},
            ("skipped_state", "state is RUNNING_EXECUTION (our recovery is under way)"),
            id="left-failure-ours",
        ),
        pytest.param(
            failed(state=SUCCESS),
            None,
            {},
            ("skipped_state", "state is SUCCESS (someone else acted)"),
            id="succeeded-meanwhile",
        ),
        pytest.param(
            failed(command_type=COMMAND_COMPLEMENT_DATA),
            None,
            {},
            ("skipped_state", "backfill (COMPLEMENT_DATA): never recovered automatically"),
            id="backfill",
        ),
        pytest.param(
            failed(),
            record("pending"),
            {},
            (
                "skipped_state",
                "recovery pending since 2024-06-01T02:55:00+00:00: DS has not taken the command "
                "up yet (runTimes still 1); not asked again before 2024-06-01T03:30:00+00:00",
            ),
            id="pending-runtimes-unmoved",
        ),
        pytest.param(
            failed(),
            record("pending", hold=NOW),
            {},
            (
                "skipped_state",
                "recovery_not_started: DS accepted the recover command at 2024-06-01T02:55:00+00:00 but no "
                "master has started it (runTimes still 1); not sent again: check the DS masters, then recover by hand",
            ),
            id="pending-timeout-passed",
        ),
        pytest.param(
            failed(run_times=2, command_type=COMMAND_RECOVER_FAILED),
            record("pending"),
            {},
            ("recover", "attempt 2 of 3"),
            id="pending-runtimes-moved-failed-again",
        ),
        pytest.param(
            failed(),
            record("unknown"),
            {},
            (
                "skipped_state",
                "recovery call at 2024-06-01T02:55:00+00:00 may have reached DS (no answer "
                "recorded); waiting for the instance to show it, at most until "
                "2024-06-01T03:30:00+00:00",
            ),
            id="unknown-outcome-unmoved",
        ),
        pytest.param(
            failed(),
            record("rejected", attempts=0, detail="the workflow definition is offline (DS 50004: x)"),
            {},
            (
                "skipped_state",
                "DS refused at 2024-06-01T02:55:00+00:00 (the workflow definition is offline "
                "(DS 50004: x)); next try after 2024-06-01T03:30:00+00:00",
            ),
            id="rejected-held",
        ),
        pytest.param(
            failed(),
            record("rejected", attempts=0, hold=None),
            {},
            ("recover", "attempt 1 of 3"),
            id="rejected-transient-retried",
        ),
        pytest.param(
            failed(),
            None,
            {"newer_active": True},
            ("skipped_state", "a newer instance of this workflow is running or queued"),
            id="newer-instance-active",
        ),
        pytest.param(
            failed(),
            None,
            {"definition_online": False},
            ("skipped_state", "the workflow definition is offline"),
            id="definition-offline",
        ),
        pytest.param(
            failed(), None, {"definition_online": True}, ("recover", "attempt 1 of 3"), id="definition-online"
        ),
        pytest.param(
            failed(run_times=4, command_type=COMMAND_RECOVER_FAILED),
            record("failed", attempts=3),
            {},
            ("skipped_limit", "3 of 3 recovery attempts used"),
            id="limit-from-journal",
        ),
        pytest.param(
            failed(run_times=4, command_type=COMMAND_RECOVER_FAILED),
            None,
            {},
            ("skipped_limit", "3 of 3 recovery attempts used"),
            id="limit-from-ds-journal-lost",
        ),
        pytest.param(
            failed(run_times=3, command_type=COMMAND_RECOVER_FAILED),
            None,
            {},
            ("recover", "attempt 3 of 3"),
            id="last-attempt-from-ds",
        ),
        pytest.param(
            failed(),
            None,
            {"policy": RecoveryPolicy(dry_run=True)},
            ("dry_run", "dry run: would recover (attempt 1 of 3)"),
            id="dry-run",
        ),
        pytest.param(
            failed(),
            None,
            {"policy": RecoveryPolicy(auto_recovery=False)},
            ("dry_run", "auto_recovery is off: would recover (attempt 1 of 3)"),
            id="auto-recovery-off",
        ),
        pytest.param(
            failed(run_times=4, command_type=COMMAND_RECOVER_FAILED),
            None,
            {"policy": RecoveryPolicy(dry_run=True)},
            ("skipped_limit", "3 of 3 recovery attempts used"),
            id="dry-run-still-applies-guards",
        ),
    ],
)
def test_decide(instance, rec, kwargs, expected):
    args = {"newer_active": False, "definition_online": None, "policy": POLICY, "now": NOW, **kwargs}
    assert decide(instance, rec, **args) == expected


# -- settle ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rec, instance, status, kind, unchanged",
    [
        pytest.param(record("pending"), failed(), "pending", None, True, id="pending-unmoved"),
        pytest.param(
            record("pending"),
            failed(state=RUNNING_EXECUTION, run_times=2),
            "running",
            None,
            False,
            id="master-took-it",
        ),
        pytest.param(
            record("pending"),
            failed(state=SUBMITTED_SUCCESS, run_times=2),
            "running",
            None,
            False,
            id="v3.3-submitted-at-once",
        ),
        pytest.param(
            record("unknown"),
            failed(state=RUNNING_EXECUTION, run_times=2),
            "running",
            "recovery_triggered",  # not announced while nobody knew; now DS shows it
            False,
            id="unknown-confirmed",
        ),
        pytest.param(
            record("running", state=RUNNING_EXECUTION),
            failed(state=SUCCESS, run_times=2),
            "succeeded",
            "recovery_succeeded",
            False,
            id="succeeded",
        ),
        pytest.param(
            record("running"),
            failed(run_times=2, command_type=COMMAND_RECOVER_FAILED),
            "failed",
            "recovery_failed",
            False,
            id="failed-again",
        ),
        pytest.param(
            record("pending"),
            failed(run_times=2, command_type=COMMAND_RECOVER_FAILED),
            "failed",
            "recovery_failed",
            False,
            id="failed-before-we-saw-it-run",
        ),
        pytest.param(
            record("running", attempts=3),
            failed(run_times=4, command_type=COMMAND_RECOVER_FAILED),
            "exhausted",
            "recovery_exhausted",
            False,
            id="exhausted",
        ),
        pytest.param(
            record("running"),
            failed(state=STOP, run_times=2),
            "failed",
            "recovery_failed",
            False,
            id="stopped-by-someone",
        ),
        pytest.param(
            record("succeeded"),
            failed(state=FAILURE, run_times=3),
            "succeeded",
            None,
            True,
            id="ended-is-final",
        ),
    ],
)
def test_settle(rec, instance, status, kind, unchanged):
    settled = settle(rec, instance, max_attempts=3)
    assert settled.status == status
    assert [a.kind for a in settled.announce] == ([kind] if kind else [])
    assert (settled is rec) == unchanged
    # Only a call that had no answer is named: the message says DS took that call up after all.
    called = rec.last_at if rec.status == "unknown" else None
    assert [a.called_at for a in settled.announce] == ([called] if kind else [])


# -- the step's guards over the listing and the journal --------------------------------------------


@pytest.mark.parametrize(
    "sibling, expected",
    [
        pytest.param(failed(2, state=RUNNING_EXECUTION, start=T0 + timedelta(minutes=1)), True, id="newer-running"),
        pytest.param(failed(2, state=RUNNING_EXECUTION, start=T0 - timedelta(minutes=1)), False, id="older-running"),
        pytest.param(failed(2, state=RUNNING_EXECUTION, start=None), False, id="running-without-start"),
        pytest.param(failed(2, start=T0 + timedelta(minutes=1)), False, id="newer-but-failed"),
        pytest.param(failed(state=RUNNING_EXECUTION), False, id="itself"),
    ],
)
def test_has_newer_active(sibling, expected):
    assert has_newer_active(failed(), [sibling]) is expected


@pytest.mark.parametrize(
    "last_at, interval, expected",
    [
        pytest.param(NOW - timedelta(seconds=29), timedelta(seconds=30), True, id="just-inside"),
        pytest.param(NOW - timedelta(seconds=30), timedelta(seconds=30), False, id="at-the-interval"),
        pytest.param(NOW + timedelta(hours=5), timedelta(seconds=30), True, id="future-stamp-defers-once"),
        pytest.param(NOW, timedelta(0), False, id="no-interval"),
    ],
)
def test_interval_defers(last_at, interval, expected):
    journal = Journal({4711: record("succeeded", last_at=last_at)})
    assert interval_defers(journal, PC, NOW, interval) is expected
    assert interval_defers(journal, PC + 1, NOW, interval) is False

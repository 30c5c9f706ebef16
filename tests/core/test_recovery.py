"""Recovery: the pure guards (tables), then the journaled handler against a small fake DS."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor.ds.models import (
    COMMAND_COMPLEMENT_DATA,
    COMMAND_RECOVER_FAILED,
    FAILURE,
    RUNNING_EXECUTION,
    STOP,
    SUBMITTED_SUCCESS,
    SUCCESS,
    Instance,
)
from ds_monitor.errors import ActionOutcomeUnknown, DSApiError, DSAuthError, DSUnreachable
from ds_monitor.recovery import (
    FollowUp,
    RecoveryHandler,
    RecoveryPolicy,
    attempts_so_far,
    decide,
    normalise_journal,
    prune_journal,
    recovery_status,
    settle,
)
from ds_monitor.state import RECOVERY, StateStore

PC = 100
DC = 20
T0 = datetime(2024, 6, 1, 2, 0, tzinfo=timezone.utc)
NOW = datetime(2024, 6, 1, 3, 0, tzinfo=timezone.utc)
TIMEOUT = timedelta(minutes=30)



def follow_up(handler, read, state, now):
    """Follow-ups as the monitor takes them: the journal is saved once they are in the outbox."""
    follow, journal = handler.follow_up(read, state, now)
    handler.store.save(RECOVERY, journal)
    return follow, journal


def ended(follow):
    """The follow-ups that tell how a recovery ended (the accepted call's announcement left out)."""
    return [f for f in follow if f.kind != "recovery_triggered"]

def failed(
    instance_id: int = 4711,
    *,
    run_times: int = 1,
    command_type: str = "SCHEDULER",
    start: datetime | None = T0,
    state: str = FAILURE,
    dc: int = DC,
) -> Instance:
    return Instance(
        id=instance_id,
        definition_code=dc,
        name=f"etl-{instance_id}",
        state=state,
        project_code=PC,
        start_time=start,
        run_times=run_times,
        command_type=command_type,
    )


def record(
    status: str,
    *,
    attempts: int = 1,
    run_times_before: int = 1,
    hold: datetime | None = NOW + TIMEOUT,
    last_at: datetime = NOW - timedelta(minutes=5),
    detail: str = "",
    state: str = FAILURE,
) -> dict:
    return {
        "instance_id": 4711,
        "project_code": PC,
        "definition_code": DC,
        "attempts": attempts,
        "status": status,
        "run_times_before": run_times_before,
        "hold_until": hold.isoformat() if hold else None,
        "last_at": last_at.isoformat(),
        "last_result": "triggered",
        "detail": detail,
        "state": state,
        "announce": [],
    }


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
    assert settled["status"] == status
    assert [a["kind"] for a in settled["announce"]] == ([kind] if kind else [])
    assert (settled is rec) == unchanged


# -- the handler against a fake DS ----------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process dying: nothing after the raise runs."""


class FakeDS:
    """The recover call as DS ``version`` answers it (ds-api.md 4.7); instances live in ``instances``."""

    def __init__(self, version: str = "3.2", *instances: Instance):
        self.version = version
        self.instances = {i.id: i for i in instances}
        self.queued: list[int] = []  # commands waiting for a master (3.0-3.2)
        self.calls: list[int] = []
        self.refuse: dict[int, tuple[DSApiError, str | None]] = {}
        self.no_answer = False  # apply, then lose the answer
        self.drop_request = False  # lose the request before DS sees it
        self.on_call = None
        self.crash_after_apply = False

    def get_instance(self, project_code: int, instance_id: int) -> Instance:
        if instance_id not in self.instances:
            raise DSApiError(50001, f"process instance {instance_id} does not exist")
        return self.instances[instance_id]

    def recover_failed_node(self, project_code: int, instance_id: int) -> None:
        self.calls.append(instance_id)
        if self.on_call:
            self.on_call(instance_id)
        if self.drop_request:
            raise ActionOutcomeUnknown("read timed out")
        if instance_id in self.refuse:
            err, new_state = self.refuse[instance_id]
            if new_state:
                self.set(instance_id, state=new_state, run_times=self.instances[instance_id].run_times + 1)
            raise err
        inst = self.instances[instance_id]
        if inst.state != FAILURE:
            raise DSApiError({"3.2": 50015, "3.3": 10000}.get(self.version, 50006), "state does not allow it")
        if self.version in ("3.0", "3.1") and instance_id in self.queued:
            raise DSApiError(50009, f"process instance {inst.definition_code} is executing the command, please wait")
        if self.version == "3.3":
            self.set(
                instance_id,
                state=SUBMITTED_SUCCESS,
                run_times=inst.run_times + 1,
                command_type=COMMAND_RECOVER_FAILED,
            )
        else:
            self.queued.append(instance_id)
        if self.crash_after_apply:
            raise Crash
        if self.no_answer:
            raise ActionOutcomeUnknown("connection reset after sending")

    def set(self, instance_id: int, **changes) -> None:
        self.instances[instance_id] = dataclasses.replace(self.instances[instance_id], **changes)

    def master_pickup(self) -> None:
        for instance_id in self.queued:
            inst = self.instances[instance_id]
            self.set(
                instance_id,
                state=RUNNING_EXECUTION,
                run_times=inst.run_times + 1,
                command_type=COMMAND_RECOVER_FAILED,
            )
        self.queued.clear()


class CrashingStore(StateStore):
    """Dies on the n-th save (1 = the intent, 2 = the answer)."""

    def __init__(self, path, crash_on_save: int):
        super().__init__(path)
        self.crash_on_save = crash_on_save
        self.saves = 0

    def save(self, name, data):
        self.saves += 1
        if self.saves == self.crash_on_save:
            raise Crash
        super().save(name, data)


def handler_for(ds: FakeDS, tmp_path, *, store: StateStore | None = None, **policy) -> RecoveryHandler:
    return RecoveryHandler(ds, store or StateStore(tmp_path), RecoveryPolicy(**policy), pending_timeout=TIMEOUT)


def sweep(handler: RecoveryHandler, ds: FakeDS, now: datetime, *ids: int, state: dict | None = None, newer=()):
    """One recovery step as the monitor runs it: state from disk, every id a candidate."""
    state = handler.store.load(RECOVERY) if state is None else state
    return handler.recover(
        PC, [ds.instances[i] for i in ids or ds.instances], newer_active=set(newer), now=now, state=state
    )


def journal_on_disk(tmp_path) -> dict:
    return json.loads((tmp_path / RECOVERY).read_text())["instances"]


def test_intent_is_on_disk_before_the_call(tmp_path):
    ds = FakeDS("3.2", failed())
    seen = []
    ds.on_call = lambda _id: seen.append(journal_on_disk(tmp_path)["4711"])
    outcomes, state = sweep(handler_for(ds, tmp_path), ds, NOW)

    assert seen[0]["status"] == "unknown" and seen[0]["last_result"] == "intent"
    assert seen[0]["attempts"] == 1 and seen[0]["run_times_before"] == 1
    assert [(o.instance_id, o.attempt, o.result) for o in outcomes] == [(4711, 1, "triggered")]
    assert outcomes[0].definition_code == DC and outcomes[0].project_code == PC
    assert journal_on_disk(tmp_path)["4711"]["status"] == "pending"
    assert state["instances"]["4711"]["status"] == "pending"


def test_candidates_are_recovered_oldest_first(tmp_path):
    ds = FakeDS(
        "3.2",
        failed(1, start=T0 + timedelta(minutes=5), dc=1),
        failed(2, start=None, dc=2),
        failed(3, start=T0, dc=3),
    )
    outcomes, _ = sweep(handler_for(ds, tmp_path), ds, NOW, 1, 2, 3)
    assert ds.calls == [3, 1, 2]
    assert [o.instance_id for o in outcomes] == [3, 1, 2]


@pytest.mark.parametrize(
    "code, state_after, detail, status, held",
    [
        pytest.param(50004, None, "the workflow definition is offline (DS 50004", "rejected", True, id="50004-offline"),
        pytest.param(
            50006,
            None,
            "the instance's state does not allow it (DS 50006",
            "rejected",
            True,
            id="50006-still-failure",
        ),
        pytest.param(
            50006,
            RUNNING_EXECUTION,
            "state is now RUNNING_EXECUTION: someone else acted (DS 50006",
            "rejected",
            False,
            id="50006-someone-else-acted",
        ),
        pytest.param(50015, RUNNING_EXECUTION, "someone else acted (DS 50015", "rejected", False, id="50015-v3.2"),
        pytest.param(10000, SUBMITTED_SUCCESS, "someone else acted (DS 10000", "rejected", False, id="10000-v3.3"),
        pytest.param(
            50009,
            None,
            "a recover command is already queued for it, wait (DS 50009",
            "rejected",
            True,
            id="50009-in-progress",
        ),
        pytest.param(50001, None, "instance no longer exists (DS 50001", "gone", False, id="50001-gone"),
        pytest.param(10025, None, "no master server is running (DS 10025", "rejected", False, id="10025-transient"),
        pytest.param(30002, None, "DS refused (DS 30002", "rejected", True, id="30002-other"),
    ],
)
def test_refusal_is_rejected_not_success(tmp_path, code, state_after, detail, status, held):
    ds = FakeDS("3.2", failed())
    ds.refuse[4711] = (DSApiError(code, "message from DS"), state_after)
    outcomes, _ = sweep(handler_for(ds, tmp_path), ds, NOW)

    assert [(o.attempt, o.result) for o in outcomes] == [(1, "rejected")]
    assert detail in outcomes[0].detail
    entry = journal_on_disk(tmp_path)["4711"]
    assert entry["status"] == status
    assert entry["attempts"] == 0  # DS did nothing
    assert (entry["hold_until"] is not None) == held


@pytest.mark.parametrize(
    "code, calls_again",
    [
        pytest.param(10025, True, id="transient-retried-next-sweep"),
        pytest.param(50004, False, id="permanent-waits-for-timeout"),
        pytest.param(50009, False, id="queued-waits"),
    ],
)
def test_after_a_refusal(tmp_path, code, calls_again):
    ds = FakeDS("3.1", failed())
    ds.refuse[4711] = (DSApiError(code, "no"), None)
    handler = handler_for(ds, tmp_path)
    sweep(handler, ds, NOW)
    outcomes, _ = sweep(handler, ds, NOW + timedelta(minutes=1))
    assert len(ds.calls) == (2 if calls_again else 1)
    del ds.refuse[4711]
    outcomes, _ = sweep(handler, ds, NOW + TIMEOUT)
    assert outcomes[0].result == "triggered" and outcomes[0].attempt == 1


def test_no_answer_is_never_repeated_until_the_instance_shows_it(tmp_path):
    ds = FakeDS("3.2", failed())
    ds.no_answer = True
    handler = handler_for(ds, tmp_path)
    outcomes, _ = sweep(handler, ds, NOW)
    assert outcomes[0].result == "unknown" and "no answer from DS" in outcomes[0].detail
    assert journal_on_disk(tmp_path)["4711"]["status"] == "unknown"
    assert journal_on_disk(tmp_path)["4711"]["announce"] == []  # never "Recovery triggered" for an unknown

    ds.no_answer = False
    outcomes, _ = sweep(handler, ds, NOW + timedelta(minutes=10))
    assert outcomes[0].result == "skipped_state" and "may have reached DS" in outcomes[0].detail
    assert ds.calls == [4711]

    ds.master_pickup()  # the lost call had reached DS after all
    follow, state = follow_up(handler, ds.get_instance, handler.store.load(RECOVERY), NOW + timedelta(minutes=11))
    assert [(f.kind, f.attempt) for f in follow] == [("recovery_triggered", 1)]
    assert state["instances"]["4711"]["status"] == "running"
    ds.set(4711, state=FAILURE)
    follow, _ = follow_up(handler, ds.get_instance, handler.store.load(RECOVERY), NOW + timedelta(minutes=20))
    assert [(f.kind, f.attempt) for f in follow if f.kind != "recovery_triggered"] == [("recovery_failed", 1)]
    outcomes, _ = sweep(handler, ds, NOW + timedelta(minutes=21))
    assert (outcomes[0].attempt, outcomes[0].result) == (2, "triggered")


@pytest.mark.parametrize(
    ("version", "again"),
    [("3.1", (2, "triggered")), ("3.2", (1, "skipped_state")), ("3.3", (1, "triggered"))],
)
def test_a_lost_request_is_asked_again_only_where_ds_can_tell(tmp_path, version, again):
    """3.3 shows an accepted call at once: no trace on the next read means it never arrived, and the
    attempt is given back. 3.0/3.1 refuse a repeat while a command is queued: asking again after the
    hold is harmless. 3.2 can neither: a person decides (recovery_not_started)."""
    ds = FakeDS(version, failed())
    ds.drop_request = True
    handler = handler_for(ds, tmp_path)
    outcomes, _ = sweep(handler, ds, NOW)
    assert outcomes[0].result == "unknown"
    ds.drop_request = False
    soon = NOW + timedelta(minutes=1)
    outcomes, _ = sweep(handler, ds, soon) if version == "3.3" else sweep(handler, ds, NOW + TIMEOUT)
    assert (outcomes[0].attempt, outcomes[0].result) == again
    if version == "3.2":
        assert outcomes[0].detail.startswith("recovery_not_started") and ds.calls == [4711]
    else:
        assert ds.calls == [4711, 4711]


def test_a_request_refused_at_connect_time_is_not_an_attempt(tmp_path):
    ds = FakeDS("3.2", failed())
    ds.on_call = lambda _id: (_ for _ in ()).throw(DSUnreachable("connection refused"))
    handler = handler_for(ds, tmp_path)
    outcomes, _ = sweep(handler, ds, NOW)
    assert (outcomes[0].attempt, outcomes[0].result) == (0, "skipped_state") and "not sent" in outcomes[0].detail
    assert journal_on_disk(tmp_path)["4711"]["attempts"] == 0
    ds.on_call = None
    outcomes, _ = sweep(handler, ds, NOW + timedelta(minutes=1))
    assert (outcomes[0].attempt, outcomes[0].result) == (1, "triggered")


def crash_before_intent(ds, tmp_path):
    return CrashingStore(tmp_path, crash_on_save=1)


def crash_after_intent(ds, tmp_path):
    def die(_id):
        raise Crash

    ds.on_call = die
    return StateStore(tmp_path)


def crash_after_call(ds, tmp_path):
    ds.crash_after_apply = True
    return StateStore(tmp_path)


def crash_saving_answer(ds, tmp_path):
    return CrashingStore(tmp_path, crash_on_save=2)


@pytest.mark.parametrize(
    "arrange, ds_acted",
    [
        pytest.param(crash_before_intent, False, id="before-intent"),
        pytest.param(crash_after_intent, False, id="after-intent-before-call"),
        pytest.param(crash_after_call, True, id="after-call-before-answer"),
        pytest.param(crash_saving_answer, True, id="while-saving-the-answer"),
    ],
)
@pytest.mark.parametrize("version", ["3.1", "3.2", "3.3"])
def test_a_restart_after_a_crash_never_recovers_twice(tmp_path, arrange, ds_acted, version):
    ds = FakeDS(version, failed())
    crashing = arrange(ds, tmp_path)
    with pytest.raises(Crash):
        sweep(handler_for(ds, tmp_path, store=crashing, max_attempts=2), ds, NOW)
    assert ds.calls == ([] if arrange is crash_before_intent else [4711])
    ds.on_call, ds.crash_after_apply = None, False

    # A fresh process on the same state directory.
    restarted = handler_for(ds, tmp_path, max_attempts=2)
    calls_before = len(ds.calls)
    outcomes, _ = sweep(restarted, ds, NOW + timedelta(minutes=1))
    if arrange is crash_before_intent:
        assert (outcomes[0].attempt, outcomes[0].result) == (1, "triggered")
        return
    if version == "3.3" and not ds_acted:
        # 3.3 shows a call it took at once: no trace means it never arrived; made now, as attempt 1.
        assert (outcomes[0].attempt, outcomes[0].result) == (1, "triggered")
        assert len(ds.calls) == calls_before + 1
        return
    assert len(ds.calls) == calls_before, "a call that may have happened was repeated"
    assert outcomes[0].result == "skipped_state"

    if ds_acted:
        ds.master_pickup()
        ds.set(4711, state=FAILURE)
        follow, _ = follow_up(restarted, ds.get_instance, restarted.store.load(RECOVERY), NOW + timedelta(minutes=5))
        assert [(f.kind, f.attempt) for f in follow if f.kind != "recovery_triggered"] == [("recovery_failed", 1)]
    outcomes, _ = sweep(restarted, ds, NOW + TIMEOUT + timedelta(minutes=1))
    if version == "3.2" and not ds_acted:
        # 3.2 cannot tell a call that never arrived from a queued command: never sent again.
        assert outcomes[0].result == "skipped_state" and outcomes[0].detail.startswith("recovery_not_started")
        assert len(ds.calls) == calls_before
        return
    assert (outcomes[0].attempt, outcomes[0].result) == (2, "triggered")
    ds.master_pickup()
    ds.set(4711, state=FAILURE)
    follow, _ = follow_up(restarted, ds.get_instance, restarted.store.load(RECOVERY), NOW + timedelta(hours=2))
    assert [(f.kind, f.attempt) for f in follow if f.kind != "recovery_triggered"] == [("recovery_exhausted", 2)]
    outcomes, _ = sweep(restarted, ds, NOW + timedelta(hours=3))
    assert outcomes[0].result == "skipped_limit"
    assert len(ds.calls) == 2  # never more than max_attempts calls that may have acted


def test_v32_duplicate_command_is_never_queued_while_pending(tmp_path):
    ds = FakeDS("3.2", failed())
    handler = handler_for(ds, tmp_path)
    sweep(handler, ds, NOW)
    for minute in range(1, 6):  # no master takes the command; DS 3.2 would accept a duplicate
        outcomes, _ = sweep(handler, ds, NOW + timedelta(minutes=minute))
        assert outcomes[0].result == "skipped_state"
        assert outcomes[0].detail.startswith("recovery pending since 2024-06-01T03:00:00+00:00")
    assert ds.queued == [4711] and ds.calls == [4711]
    ds.master_pickup()
    follow, state = follow_up(handler, ds.get_instance, handler.store.load(RECOVERY), NOW + timedelta(minutes=6))
    assert ended(follow) == [] and state["instances"]["4711"]["status"] == "running"


@pytest.mark.parametrize("version", ["3.1", "3.2"])
def test_an_accepted_command_not_started_is_never_sent_again(tmp_path, version):
    """No master takes the command (3.0-3.2 queue it): past the hold the outcome says so, and a
    second command, which would run the instance twice once a master comes, is never sent."""
    ds = FakeDS(version, failed())
    handler = handler_for(ds, tmp_path)
    sweep(handler, ds, NOW)
    for minutes in (31, 90, 600):
        outcomes, _ = sweep(handler, ds, NOW + timedelta(minutes=minutes))
        assert outcomes[0].result == "skipped_state" and outcomes[0].detail.startswith("recovery_not_started")
    assert ds.calls == [4711]
    [row] = recovery_status(handler.store.load(RECOVERY), NOW + timedelta(hours=10))
    assert "not started since" in row["outcome"]


def test_v33_submitted_at_once_then_succeeded_reported_once(tmp_path):
    ds = FakeDS("3.3", failed())
    handler = handler_for(ds, tmp_path)
    _, state = sweep(handler, ds, NOW)
    assert ds.instances[4711].state == SUBMITTED_SUCCESS
    follow, state = follow_up(handler, ds.get_instance, state, NOW)
    assert ended(follow) == [] and state["instances"]["4711"]["status"] == "running"

    outcomes, state = sweep(handler, ds, NOW + timedelta(minutes=1), state=state)  # a stale candidate list
    assert outcomes[0].detail == "state is SUBMITTED_SUCCESS (our recovery is under way)"
    ds.set(4711, state=SUCCESS)
    follow, state = follow_up(handler, ds.get_instance, state, NOW + timedelta(minutes=2))
    assert follow == [
        FollowUp(
            instance_id=4711,
            project_code=PC,
            definition_code=DC,
            kind="recovery_succeeded",
            attempt=1,
            max_attempts=3,
            state=SUCCESS,
            detail="ended SUCCESS",
        )
    ]
    assert follow_up(handler, ds.get_instance, state, NOW + timedelta(minutes=3))[0] == []
    assert ds.calls == [4711]


def test_failure_seen_by_recover_first_is_still_followed_up(tmp_path):
    ds = FakeDS("3.2", failed())
    handler = handler_for(ds, tmp_path)
    _, state = sweep(handler, ds, NOW)
    ds.master_pickup()
    ds.set(4711, state=FAILURE)
    outcomes, state = sweep(handler, ds, NOW + timedelta(minutes=5), state=state)
    assert (outcomes[0].attempt, outcomes[0].result) == (2, "triggered")
    follow, state = follow_up(handler, ds.get_instance, state, NOW + timedelta(minutes=5))
    assert [(f.kind, f.attempt) for f in follow if f.kind != "recovery_triggered"] == [("recovery_failed", 1)]
    assert follow_up(handler, ds.get_instance, state, NOW + timedelta(minutes=6))[0] == []


def test_journal_lost_limit_comes_from_ds(tmp_path):
    ds = FakeDS("3.2", failed(run_times=3, command_type=COMMAND_RECOVER_FAILED))
    outcomes, _ = sweep(handler_for(ds, tmp_path, max_attempts=2), ds, NOW)
    assert (outcomes[0].attempt, outcomes[0].result) == (2, "skipped_limit")
    assert ds.calls == []


def test_dry_run_neither_calls_nor_journals(tmp_path):
    ds = FakeDS("3.2", failed())
    outcomes, state = sweep(handler_for(ds, tmp_path, dry_run=True), ds, NOW)
    assert (outcomes[0].attempt, outcomes[0].result) == (1, "dry_run")
    assert ds.calls == [] and state["instances"] == {}
    assert not (tmp_path / RECOVERY).exists()


def test_token_rejected_on_the_call_restores_the_journal(tmp_path):
    ds = FakeDS("3.2", failed())
    ds.refuse[4711] = (DSAuthError("HTTP 401"), None)
    with pytest.raises(DSAuthError):
        sweep(handler_for(ds, tmp_path), ds, NOW)
    assert journal_on_disk(tmp_path) == {}


def test_candidate_deleted_before_the_re_read(tmp_path):
    ds = FakeDS("3.2", failed())
    handler = handler_for(ds, tmp_path)
    candidate = ds.instances.pop(4711)
    outcomes, _ = handler.recover(PC, [candidate], newer_active=set(), now=NOW, state={})
    assert outcomes[0].result == "skipped_state" and "no longer exists in DS (DS 50001)" in outcomes[0].detail
    assert ds.calls == []


def test_guards_from_the_monitor_are_applied(tmp_path):
    ds = FakeDS("3.2", failed(1, dc=1), failed(2, dc=2))
    handler = handler_for(ds, tmp_path)
    outcomes, _ = handler.recover(
        PC, list(ds.instances.values()), newer_active={1}, now=NOW, state={}, definition_online={2: False}
    )
    assert [(o.instance_id, o.result) for o in outcomes] == [(1, "skipped_state"), (2, "skipped_state")]
    assert ds.calls == []


def test_follow_up_of_a_deleted_instance_and_of_a_read_error(tmp_path):
    ds = FakeDS("3.2", failed(1), failed(2))
    handler = handler_for(ds, tmp_path)
    _, state = sweep(handler, ds, NOW)
    del ds.instances[1]

    def read(project_code, instance_id):
        if instance_id == 2:
            raise DSApiError(10116, "query process instance by id error")  # 3.0's unknown id
        return ds.get_instance(project_code, instance_id)

    follow, state = follow_up(handler, read, state, NOW)
    assert ended(follow) == []
    assert state["instances"]["1"]["status"] == "gone"
    assert state["instances"]["2"]["status"] == "gone"


def test_follow_up_keeps_following_after_a_transient_error(tmp_path):
    ds = FakeDS("3.2", failed())
    handler = handler_for(ds, tmp_path)
    _, state = sweep(handler, ds, NOW)

    def read(project_code, instance_id):
        raise DSApiError(10113, "query process instance list paging error")

    follow, state = follow_up(handler, read, state, NOW)
    assert ended(follow) == [] and state["instances"]["4711"]["status"] == "pending"


# -- journal housekeeping -------------------------------------------------------------------------


def test_prune_drops_entries_a_week_past_the_window():
    window = timedelta(hours=24)
    old = record("succeeded", last_at=NOW - window - timedelta(days=7, seconds=1))
    young = {**record("succeeded", last_at=NOW - window - timedelta(days=7)), "instance_id": 2}
    unannounced = {
        **old,
        "instance_id": 3,
        "announce": [{"kind": "recovery_succeeded", "attempt": 1, "state": SUCCESS, "detail": ""}],
    }
    state = {"instances": {"4711": old, "2": young, "3": unannounced}}
    assert sorted(prune_journal(state, NOW, window)["instances"]) == ["2", "3"]


def test_malformed_entries_are_dropped_with_a_warning(caplog):
    good = record("pending")
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
        journal = normalise_journal(state)
    assert list(journal["instances"]) == ["4711"]
    assert len(caplog.records) == 4
    assert normalise_journal({"instances": []}) == {"version": 1, "instances": {}}


def test_recovery_status_rows():
    state = {
        "instances": {
            "4711": record("pending", hold=NOW - timedelta(minutes=1), last_at=NOW - timedelta(minutes=31)),
            "2": {**record("succeeded", detail="ended SUCCESS", hold=None), "instance_id": 2},
        }
    }
    rows = recovery_status(state, NOW)
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
    assert recovery_status({}, NOW) == []


def test_busy_definitions_and_last_call_come_from_the_journal():
    from datetime import datetime, timezone

    from ds_monitor.recovery import busy_definitions, last_call_in_project

    def record(instance_id, status, project, at):
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
            "1": record(1, "pending", 7, "2026-11-23T10:00:00+00:00"),
            "2": record(2, "succeeded", 7, "2026-11-23T11:00:00+00:00"),
            "3": record(3, "running", 8, "2026-11-23T09:00:00+00:00"),
        },
    }
    assert busy_definitions(state) == frozenset({10, 30})
    assert last_call_in_project(state, 7) == datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)
    assert last_call_in_project(state, 9) is None
    assert busy_definitions({}) == frozenset()

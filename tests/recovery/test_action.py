"""The journaled recover action against a small fake DS: intent before the call, refusals, crashes."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import pytest

from ds_monitor.ds.models import (
    COMMAND_RECOVER_FAILED,
    FAILURE,
    OFFLINE,
    RUNNING_EXECUTION,
    SUBMITTED_SUCCESS,
    SUCCESS,
    Definition,
    Instance,
)
from ds_monitor.errors import ActionOutcomeUnknown, DSApiError, DSAuthError, DSUnreachable
from ds_monitor.recovery.decisions import FollowUp, RecoveryPolicy, recovery_status
from ds_monitor.recovery.journal import Journal
from ds_monitor.recovery.policy import Rule
from ds_monitor.state import RECOVERY
from ds_monitor.state.files import StateStore
from tests.recovery.helpers import DC, NOW, PC, T0, TIMEOUT, Handler, failed, follow_up, saved


def ended(follow):
    """The follow-ups that tell how a recovery ended (the accepted call's announcement left out)."""
    return [f for f in follow if f.kind != "recovery_triggered"]


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


def handler_for(ds: FakeDS, tmp_path, *, store: StateStore | None = None, **policy) -> Handler:
    return Handler(ds, store or StateStore(tmp_path), RecoveryPolicy(**policy), pending_timeout=TIMEOUT)


def sweep(handler: Handler, ds: FakeDS, now: datetime, *ids: int, state: Journal | None = None):
    """One recovery step as the monitor runs it: the journal from disk, every id a candidate."""
    journal = saved(handler) if state is None else state
    step = handler.recover_candidates({PC: [ds.instances[i] for i in ids or ds.instances]}, journal, now=now)
    return step.outcomes, step.journal


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
    assert state.get(4711).status == "pending"


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
    follow, state = follow_up(handler, ds.get_instance, saved(handler), NOW + timedelta(minutes=11))
    assert [(f.kind, f.attempt) for f in follow] == [("recovery_triggered", 1)]
    assert state.get(4711).status == "running"
    ds.set(4711, state=FAILURE)
    follow, _ = follow_up(handler, ds.get_instance, saved(handler), NOW + timedelta(minutes=20))
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
        follow, _ = follow_up(restarted, ds.get_instance, saved(restarted), NOW + timedelta(minutes=5))
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
    follow, _ = follow_up(restarted, ds.get_instance, saved(restarted), NOW + timedelta(hours=2))
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
    follow, state = follow_up(handler, ds.get_instance, saved(handler), NOW + timedelta(minutes=6))
    assert ended(follow) == [] and state.get(4711).status == "running"


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
    [row] = recovery_status(saved(handler), NOW + timedelta(hours=10))
    assert "not started since" in row["outcome"]


def test_v33_submitted_at_once_then_succeeded_reported_once(tmp_path):
    ds = FakeDS("3.3", failed())
    handler = handler_for(ds, tmp_path)
    _, state = sweep(handler, ds, NOW)
    assert ds.instances[4711].state == SUBMITTED_SUCCESS
    follow, state = follow_up(handler, ds.get_instance, state, NOW)
    assert ended(follow) == [] and state.get(4711).status == "running"

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
    assert ds.calls == [] and state.records == {}
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
    outcomes = handler.recover_candidates({PC: [candidate]}, Journal(), now=NOW).outcomes
    assert outcomes[0].result == "skipped_state" and "no longer exists in DS (DS 50001)" in outcomes[0].detail
    assert ds.calls == []


def test_guards_from_the_listing_are_applied(tmp_path):
    """A newer run of the same workflow (in this sweep's listing) and an offline definition."""
    ds = FakeDS("3.2", failed(1, dc=1), failed(2, dc=2))
    newer = failed(3, dc=1, state=RUNNING_EXECUTION, start=T0 + timedelta(hours=1))
    handler = handler_for(ds, tmp_path)
    step = handler.recover_candidates(
        {PC: list(ds.instances.values())},
        Journal(),
        now=NOW,
        siblings={1: [ds.instances[1], newer], 2: [ds.instances[2]]},
        definitions={1: Definition(1, "etl", PC), 2: Definition(2, "report", PC, release_state=OFFLINE)},
    )
    assert [(o.instance_id, o.result, o.detail) for o in step.outcomes] == [
        (1, "skipped_state", "a newer instance of this workflow is running or queued"),
        (2, "skipped_state", "the workflow definition is offline"),
    ]
    assert ds.calls == []


def test_policy_and_interval_are_applied_before_any_call(tmp_path):
    """The recovery policy holds back (and announces) before the interval defers; deferred ones keep their rows."""
    ds = FakeDS("3.2", failed(1, dc=1), failed(2, dc=2), failed(3, dc=3))
    handler = handler_for(ds, tmp_path)
    handler.recovery_interval = timedelta(minutes=10)
    earlier = handler.recover_candidates({PC: [ds.instances[3]]}, Journal(), now=NOW - timedelta(minutes=5))
    never = Rule("finance/*", recover="never", max_attempts=3)
    step = handler.recover_candidates(
        {PC: [ds.instances[1], ds.instances[2]]}, earlier.journal, now=NOW, rules={1: never}
    )
    assert [(o.instance_id, o.attempt, o.result, o.detail) for o in step.outcomes] == [
        (2, 0, "skipped_state", "deferred: a recovery in this project is younger than retry.recovery_interval"),
        (1, 0, "skipped_policy", "unknown failure: policy finance/* says recover: never"),
    ]
    assert [(h.instance.id, h.attempts_used, h.max_attempts) for h in step.withheld] == [(1, 0, 3)]
    assert ds.calls == [3] and step.warnings == []


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
    assert state.get(1).status == "gone"
    assert state.get(2).status == "gone"


def test_follow_up_keeps_following_after_a_transient_error(tmp_path):
    ds = FakeDS("3.2", failed())
    handler = handler_for(ds, tmp_path)
    _, state = sweep(handler, ds, NOW)

    def read(project_code, instance_id):
        raise DSApiError(10113, "query process instance list paging error")

    follow, state = follow_up(handler, read, state, NOW)
    assert ended(follow) == [] and state.get(4711).status == "pending"

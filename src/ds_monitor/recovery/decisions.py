"""The pure decisions of recovery: what to call, what the journal says afterwards, how a recovery ended.

Every function here takes the instance as DS shows it now, our journal record and ``now``, and
returns a verdict or a new record; none reads the clock, the network or a file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ds_monitor.ds.dialect import Refusal, recover_repeat_refused, recover_visible_at_once
from ds_monitor.ds.models import ACTIVE_STATES, COMMAND_RECOVER_FAILED, FAILURE, SUCCESS_STATES, Instance
from ds_monitor.recovery.journal import (
    IN_FLIGHT,
    RECOVERY_EXHAUSTED,
    RECOVERY_FAILED,
    RECOVERY_SUCCEEDED,
    RECOVERY_TRIGGERED,
    STATUS_EXHAUSTED,
    STATUS_FAILED,
    STATUS_GONE,
    STATUS_NOT_SENT,
    STATUS_PENDING,
    STATUS_REJECTED,
    STATUS_RUNNING,
    STATUS_SUCCEEDED,
    STATUS_UNKNOWN,
    Announcement,
    InstanceRecord,
    Journal,
)
from ds_monitor.recovery.policy import Hold, Rule, gate

if TYPE_CHECKING:
    from ds_monitor.tasks import Diagnosis

# Results of one candidate in a sweep (spec section 6 "recoveries"); RECOVER is decide()'s go-ahead.
RECOVER = "recover"
TRIGGERED = "triggered"
UNKNOWN = "unknown"  # the call got no answer: DS may or may not have taken it (spec section 6)
REJECTED = "rejected"
SKIPPED_LIMIT = "skipped_limit"
SKIPPED_STATE = "skipped_state"
SKIPPED_POLICY = "skipped_policy"
DRY_RUN = "dry_run"

# The detail that starts a "the command was never started" outcome: a person decides (issue 16).
NOT_STARTED = "recovery_not_started"
# A backfill is never recovered, so no deferral (recovery_interval, one per project) may be reported for it.
BACKFILL_DETAIL = "backfill (COMPLEMENT_DATA): never recovered automatically"
# retry.recovery_interval: the project's first recovery of this sweep was triggered, or its latest
# call is younger than the interval.
DEFERRED_IN_SWEEP = "deferred: one recovery per project per retry.recovery_interval"
DEFERRED_BY_INTERVAL = "deferred: a recovery in this project is younger than retry.recovery_interval"


@dataclass(frozen=True)
class RecoveryPolicy:
    """The ``retry`` configuration as the recovery decisions need it."""

    max_attempts: int = 3
    auto_recovery: bool = True
    dry_run: bool = False


@dataclass(frozen=True)
class RecoveryOutcome:
    """One row of the sweep report's ``recoveries``."""

    instance_id: int
    attempt: int
    result: str  # triggered | unknown | rejected | skipped_limit | skipped_state | skipped_policy | dry_run
    detail: str = ""
    project_code: int = 0
    definition_code: int = 0


@dataclass(frozen=True)
class FollowUp:
    """How a recovery triggered earlier ended, seen on a later sweep (reported once)."""

    instance_id: int
    project_code: int
    definition_code: int
    kind: str  # recovery_triggered | recovery_succeeded | recovery_failed | recovery_exhausted
    attempt: int
    max_attempts: int
    state: str
    called_at: datetime | None = None  # a triggered recovery whose call had no answer: that call
    detail: str = ""  # the sentence a journal saved by an older version holds


@dataclass(frozen=True)
class Held:
    """A candidate the recovery policy holds back: ``withheld`` (announce once) or just waiting (backoff)."""

    project_code: int
    instance: Instance
    hold: Hold
    diagnosis: Diagnosis | None
    attempts_used: int
    max_attempts: int | None  # the policy rule's, for the announcement

    def outcome(self) -> RecoveryOutcome:
        return RecoveryOutcome(
            instance_id=self.instance.id,
            attempt=self.attempts_used,
            result=SKIPPED_POLICY,
            detail=self.hold.detail,
            project_code=self.project_code,
            definition_code=self.instance.definition_code,
        )


def has_newer_active(instance: Instance, siblings: Sequence[Instance]) -> bool:
    """A newer run of the same definition is queued or running: recovering the old one would race it."""
    started = instance.start_time
    return any(
        other.id != instance.id
        and other.state in ACTIVE_STATES
        and (started is None or (other.start_time is not None and other.start_time > started))
        for other in siblings
    )


def hold_back(
    project_code: int,
    candidates: Sequence[Instance],
    journal: Journal,
    *,
    rules: Mapping[int, Rule],
    diagnosis_of: Callable[[Instance], Diagnosis | None],
    max_attempts_of: Callable[[int], int],
    now: datetime,
) -> tuple[list[Instance], list[Held]]:
    """Split candidates into those the recovery policy lets through and those it holds back.

    A recovery already under way is never held back here: the journal follows it.
    """
    passed, held = [], []
    for inst in candidates:
        record = journal.get(inst.id)
        if record:
            # As the recovery step will see it: a recovery that ended in failure is not in flight.
            record = settle(record, inst, max_attempts=max_attempts_of(inst.definition_code))
            if record.status in IN_FLIGHT:
                passed.append(inst)
                continue
        diagnosis = diagnosis_of(inst)
        used = attempts_so_far(record, inst)
        rule = rules.get(inst.definition_code, Rule())
        hold = gate(
            rule,
            klass=diagnosis.klass if diagnosis else "unknown",
            line=diagnosis.line if diagnosis else "",
            attempts_used=used,
            last_failure=inst.end_time,
            now=now,
        )
        if hold is None:
            passed.append(inst)
        else:
            held.append(Held(project_code, inst, hold, diagnosis, used, rule.max_attempts))
    return passed, held


def interval_defers(journal: Journal, project_code: int, now: datetime, interval: timedelta) -> bool:
    """The project's latest recover call is younger than ``retry.recovery_interval``: wait for a later sweep.

    A call stamped in the future (clock stepped back) defers for one interval, not until then.
    """
    if not interval:
        return False
    last = journal.last_call_in_project(project_code)
    return last is not None and now - min(last, now) < interval


def deferred(project_code: int, instance: Instance) -> RecoveryOutcome:
    """The outcome of a candidate :func:`interval_defers` holds: a backfill says it is never recovered."""
    return RecoveryOutcome(
        instance_id=instance.id,
        attempt=0,
        result=SKIPPED_STATE,
        detail=BACKFILL_DETAIL if instance.is_backfill else DEFERRED_BY_INTERVAL,
        project_code=project_code,
        definition_code=instance.definition_code,
    )


def attempts_so_far(record: InstanceRecord | None, instance: Instance) -> int:
    """Recoveries of this instance so far: our journal, or DS's own count if that is higher.

    DS counts every run in ``runTimes``; when the latest command was a recovery, all runs after the
    first are counted as recoveries (conservative: a manual rerun in between counts too). That keeps
    the limit even when the journal was lost.
    """
    journal = record.attempts if record else 0
    from_ds = instance.run_times - 1 if instance.command_type == COMMAND_RECOVER_FAILED else 0
    return max(journal, from_ds, 0)


def decide(
    instance: Instance,
    record: InstanceRecord | None,
    *,
    newer_active: bool,
    definition_online: bool | None,
    policy: RecoveryPolicy,
    now: datetime,
    ds_version: str = "",
) -> tuple[str, str]:
    """``(RECOVER, detail)`` or ``(result, reason)`` for a freshly re-read candidate.

    ``definition_online`` None means "not known" (no guard); ``newer_active`` means a newer instance
    of the same definition is running or queued.
    """
    if instance.state != FAILURE:
        actor = "our recovery is under way" if record and record.status in IN_FLIGHT else "someone else acted"
        return SKIPPED_STATE, f"state is {instance.state} ({actor})"
    if instance.is_backfill:
        return SKIPPED_STATE, BACKFILL_DETAIL
    waiting = _waiting_reason(record, instance, now, ds_version)
    if waiting:
        return SKIPPED_STATE, waiting
    if newer_active:
        return SKIPPED_STATE, "a newer instance of this workflow is running or queued"
    if definition_online is False:
        return SKIPPED_STATE, "the workflow definition is offline"
    used = attempts_so_far(record, instance)
    if used >= policy.max_attempts:
        return SKIPPED_LIMIT, f"{used} of {policy.max_attempts} recovery attempts used"
    plan = f"attempt {used + 1} of {policy.max_attempts}"
    if policy.dry_run:
        return DRY_RUN, f"dry run: would recover ({plan})"
    if not policy.auto_recovery:
        return DRY_RUN, f"auto_recovery is off: would recover ({plan})"
    return RECOVER, plan


def _waiting_reason(record: InstanceRecord | None, instance: Instance, now: datetime, ds_version: str) -> str | None:
    """Why an earlier call still forbids a new one, or None. Only an unmoved ``runTimes`` holds.

    A command DS accepted is never sent again while ``runTimes`` has not moved, however long a
    master takes (a second one would run the instance twice once masters catch up): past the hold
    the outcome says ``recovery_not_started`` and a person decides. The same holds for a call
    without an answer, except where DS itself refuses a repeat (3.0/3.1).
    """
    if not record or record.hold_until is None:
        return None
    if instance.run_times > record.run_times_before:
        return None
    since, until = record.last_at.isoformat(), record.hold_until.isoformat()
    held = now < record.hold_until
    if record.status == STATUS_PENDING:
        if held:
            return (
                f"recovery pending since {since}: DS has not taken the command up yet "
                f"(runTimes still {instance.run_times}); not asked again before {until}"
            )
        return (
            f"{NOT_STARTED}: DS accepted the recover command at {since} but no master has started it "
            f"(runTimes still {instance.run_times}); not sent again: check the DS masters, then recover by hand"
        )
    if record.status == STATUS_UNKNOWN:
        if held:
            return (
                f"recovery call at {since} may have reached DS (no answer recorded); "
                f"waiting for the instance to show it, at most until {until}"
            )
        if recover_repeat_refused(ds_version):
            return None
        return (
            f"{NOT_STARTED}: the recover call at {since} got no answer and DS shows no sign of it "
            f"(runTimes still {instance.run_times}); DS may hold it queued, so it is not sent again: "
            "check DS's command queue, then recover by hand"
        )
    if record.status == STATUS_REJECTED and held:
        return f"DS refused at {since} ({record.detail}); next try after {until}"
    return None


def settle(record: InstanceRecord, instance: Instance, *, max_attempts: int, ds_version: str = "") -> InstanceRecord:
    """The journal record after looking at the instance again; the same object if nothing changed.

    An in-flight recovery counts as taken up once ``runTimes`` moved or the state left FAILURE
    (3.3 answers with SUBMITTED_SUCCESS at once). When it ends, a follow-up is queued in ``announce``.
    A call without an answer is resolved here: taken up, it is announced as triggered now; on 3.3,
    no trace means it never arrived, and the attempt it was counted as is given back.
    """
    if record.status not in IN_FLIGHT:
        return record
    before = record.run_times_before
    if instance.run_times <= before and instance.state == FAILURE:
        if record.status == STATUS_UNKNOWN and recover_visible_at_once(ds_version):
            return replace(
                record,
                status=STATUS_NOT_SENT,
                attempts=max(record.attempts - 1, 0),
                hold_until=None,
                last_result=STATUS_NOT_SENT,
                detail=f"the call of {record.last_at.isoformat()} never reached DS {ds_version}: "
                "the instance shows no trace",
            )
        return record
    announce = record.announce
    if record.status == STATUS_UNKNOWN:
        # The call had no answer, so nothing announced it; now DS shows it was taken.
        announce += (
            Announcement(RECOVERY_TRIGGERED, record.attempts, instance.state, called_at=record.last_at),
        )
    if instance.state in ACTIVE_STATES:
        if record.status == STATUS_RUNNING and record.state == instance.state:
            return record
        return replace(
            record,
            announce=announce,
            status=STATUS_RUNNING,
            state=instance.state,
            last_result=TRIGGERED,
            hold_until=None,
            detail=f"DS took it up: {instance.state}, runTimes {before} -> {instance.run_times}",
        )
    attempt = attempts_so_far(record, instance)
    if instance.state in SUCCESS_STATES:
        status, kind, detail = STATUS_SUCCEEDED, RECOVERY_SUCCEEDED, f"ended {instance.state}"
    elif attempt >= max_attempts:
        status, kind = STATUS_EXHAUSTED, RECOVERY_EXHAUSTED
        detail = f"ended {instance.state} after {attempt} of {max_attempts} attempts: no more automatic recovery"
    else:
        status, kind = STATUS_FAILED, RECOVERY_FAILED
        detail = f"ended {instance.state} (attempt {attempt} of {max_attempts})"
    return replace(
        record,
        status=status,
        state=instance.state,
        attempts=attempt,
        hold_until=None,
        last_result=TRIGGERED,
        detail=detail,
        announce=(*announce, Announcement(kind, attempt, instance.state)),
    )


def intent(
    instance: Instance, project_code: int, *, attempt: int, plan: str, hold_until: datetime, now: datetime,
    record: InstanceRecord | None,
) -> InstanceRecord:
    """The record saved before the recover call: counted as an attempt whose outcome is unknown."""
    return InstanceRecord(
        instance_id=instance.id,
        project_code=project_code,
        definition_code=instance.definition_code,
        attempts=attempt,
        status=STATUS_UNKNOWN,
        run_times_before=instance.run_times,
        hold_until=hold_until,
        last_at=now,
        last_result="intent",
        detail=f"calling DS: {plan}",
        state=instance.state,
        announce=record.announce if record else (),
    )


def accepted(intended: InstanceRecord, detail: str) -> InstanceRecord:
    """DS accepted the call: pending until a master takes it up, announced as triggered."""
    return replace(
        intended,
        status=STATUS_PENDING,
        last_result=TRIGGERED,
        detail=detail,
        announce=(*intended.announce, Announcement(RECOVERY_TRIGGERED, intended.attempts, intended.state)),
    )


def refused(intended: InstanceRecord, refusal: Refusal, said: str, *, state_now: str | None) -> InstanceRecord:
    """The record after DS refused the call: DS did nothing, so the attempt is given back.

    The intent's hold stays unless the refusal is transient or final. ``state_now`` is the
    instance's state re-read after a STATE refusal (None: not read or not known).
    """
    rejected = replace(intended, attempts=intended.attempts - 1, status=STATUS_REJECTED, last_result=REJECTED)
    if refusal is Refusal.GONE:
        return replace(
            rejected, status=STATUS_GONE, hold_until=None, detail=f"instance no longer exists ({said})"
        )
    if refusal is Refusal.NO_MASTER:
        return replace(
            rejected,
            hold_until=None,
            detail=f"no master server is running ({said}): transient, tried again next sweep",
        )
    if refusal is Refusal.ALREADY_QUEUED:
        return replace(rejected, detail=f"a recover command is already queued for it, wait ({said})")
    if refusal is Refusal.DEFINITION_OFFLINE:
        return replace(rejected, detail=f"the workflow definition is offline ({said})")
    if refusal is Refusal.STATE:
        if state_now is not None and state_now != FAILURE:
            detail = f"state is now {state_now}: someone else acted ({said})"
            return replace(rejected, hold_until=None, state=state_now, detail=detail)
        return replace(rejected, detail=f"the instance's state does not allow it ({said})")
    return replace(rejected, detail=f"DS refused ({said})")


def not_sent(intended: InstanceRecord, detail: str) -> InstanceRecord:
    """The call never left (refused at connect time): no attempt, tried again next sweep."""
    return replace(
        intended,
        attempts=intended.attempts - 1,
        status=STATUS_NOT_SENT,
        hold_until=None,
        last_result=STATUS_NOT_SENT,
        detail=detail,
    )


def gone(record: InstanceRecord, code: int) -> InstanceRecord:
    return replace(record, status=STATUS_GONE, hold_until=None, detail=f"instance no longer exists (DS {code})")


def oldest_first(instance: Instance) -> tuple:
    # Instances without a start time sort last; ids break ties so the order is stable.
    started = instance.start_time
    return (started is None, started.timestamp() if started else 0.0, instance.id)


def recovery_status(journal: Journal, now: datetime) -> list[dict]:
    """Rows for ``status``: one per journaled instance, the latest activity first."""
    records = sorted(journal.records.values(), key=lambda r: (r.last_at, r.instance_id), reverse=True)
    return [
        {
            "instance_id": record.instance_id,
            "definition_code": record.definition_code,
            "attempts": record.attempts,
            "last_result": record.last_result,
            "last_at": record.last_at.isoformat(),
            "outcome": _describe(record, now),
        }
        for record in records
    ]


def _describe(record: InstanceRecord, now: datetime) -> str:
    status, detail, hold = record.status, record.detail, record.hold_until
    if status == STATUS_PENDING and hold and now >= hold:
        return f"{status}, not started since {hold.isoformat()} ({NOT_STARTED}): not sent again, a person decides"
    if status == STATUS_UNKNOWN and hold and now >= hold:
        return (
            f"{status}, no trace since {hold.isoformat()}: asked again where DS refuses a repeat (3.0/3.1), "
            f"else {NOT_STARTED} and a person decides"
        )
    return f"{status}: {detail}" if detail else status

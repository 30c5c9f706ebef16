"""Recovery of failed workflow instances ("recover from failed node"): pure guards, journaled action.

The pure part (:func:`decide`, :func:`attempts_so_far`, :func:`settle`, :func:`prune_journal`,
:func:`recovery_status`) takes the instance as DS shows it now, our journal record and ``now``;
the shell (:class:`RecoveryHandler`) re-reads instances, journals and calls DS.

Why a journal, and why these guards (ds-api.md 4.7 and 10.2): a successful recover call on DS
3.0-3.2 only queues a command; the instance stays FAILURE until a master takes it (then
``runTimes`` + 1 and RUNNING_EXECUTION), and 3.2 queues a second command without complaint. 3.3
moves the instance to SUBMITTED_SUCCESS (``runTimes`` + 1) before answering. So "still FAILURE"
alone cannot tell a new failure from our own recovery waiting for a master: the journal remembers
``runTimes`` before each call, and an instance whose ``runTimes`` has not moved since is *pending*,
never a new failure. A pending recovery is asked again only after ``pending_timeout``.

Journal (``recovery_state.json``, one record per instance id)::

    {"version": 1, "instances": {"4711": {
        "instance_id": 4711, "project_code": 1, "definition_code": 2,
        "attempts": 1,               # recover calls that DS accepted or may have received
        "status": "pending",         # see STATUS_* below
        "run_times_before": 1,       # runTimes right before the latest call
        "hold_until": "<iso>",       # no new call before this unless runTimes moved (or null)
        "last_at": "<iso>",          # the latest call (or intent to call)
        "last_result": "triggered",  # intent | triggered | no_answer | rejected
        "detail": "...", "state": "FAILURE",
        "announce": [{"kind": "recovery_failed", "attempt": 1, "state": "FAILURE", "detail": "..."}]}}}

``announce`` holds announcements (the accepted call's ``recovery_triggered`` and the follow-ups)
saved with the journal change that causes them and not yet in the notification outbox;
``follow_up`` hands each out once and clears it in the journal its caller saves after the outbox.

Crash points — a restarted monitor never recovers the same failure twice and never exceeds
``max_attempts``, because the intent is saved (atomically, :mod:`ds_monitor.state`) before the call:

1. Before the intent is saved: nothing was called and nothing recorded; the restart decides afresh.
2. Intent saved, call not made: the record says ``unknown`` with ``attempts`` already counted. The
   restart treats it exactly like a call without an answer (below). If the call really never
   happened the instance stays FAILURE with the same ``runTimes``; after ``pending_timeout`` it is
   recovered again, and the attempt that never happened still counts: conservative, never over.
3. Call made, answer not recorded: same record as 2. DS acted, so ``runTimes`` moves (3.0-3.2 once
   a master takes the command) or the state leaves FAILURE (3.3 at once): the record becomes
   ``running`` and is followed like any triggered recovery. Until then the instance is pending.
4. Answer recorded: the normal path; a refusal restores ``attempts`` (DS did nothing).
5. ``ActionOutcomeUnknown`` (timeout, connection lost after sending): the same as 3.
6. The journal itself is lost or quarantined: attempts are taken from DS (``commandType``
   START_FAILURE_TASK_PROCESS means ``runTimes - 1`` recoveries so far). A recovery still queued at
   that moment is the one case the monitor cannot see: 3.0/3.1 refuse the repeat with 50009 (we
   then wait), 3.2 would queue a duplicate command.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ds_monitor.ds.models import (
    ACTIVE_STATES,
    COMMAND_RECOVER_FAILED,
    FAILURE,
    SUCCESS_STATES,
    Instance,
)
from ds_monitor.errors import DSApiError, DSAuthError, DSError, DSUnreachable
from ds_monitor.state import CURRENT_VERSION, RECOVERY, Store

log = logging.getLogger("ds_monitor.recovery")

# Results of one candidate in a sweep (spec section 6 "recoveries"); RECOVER is decide()'s go-ahead.
RECOVER = "recover"
TRIGGERED = "triggered"
UNKNOWN = "unknown"  # the call got no answer: DS may or may not have taken it (spec section 6)
REJECTED = "rejected"
SKIPPED_LIMIT = "skipped_limit"
SKIPPED_STATE = "skipped_state"
DRY_RUN = "dry_run"

# Journal statuses.
STATUS_UNKNOWN = "unknown"  # intent saved or no answer: the call may have reached DS
STATUS_PENDING = "pending"  # DS accepted; no master has taken the command yet
STATUS_RUNNING = "running"  # DS took it up (runTimes moved or state left FAILURE); not ended
STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"  # ended without success; may be recovered again within the limit
STATUS_EXHAUSTED = "exhausted"
STATUS_REJECTED = "rejected"  # DS refused; DS did nothing
STATUS_GONE = "gone"  # the instance no longer exists in DS
STATUS_NOT_SENT = "not_sent"  # the call never reached DS (refused at connect time, or 3.3 shows no trace)
STATUSES = frozenset(
    {
        STATUS_NOT_SENT,
        STATUS_UNKNOWN,
        STATUS_PENDING,
        STATUS_RUNNING,
        STATUS_SUCCEEDED,
        STATUS_FAILED,
        STATUS_EXHAUSTED,
        STATUS_REJECTED,
        STATUS_GONE,
    }
)
# Recoveries not yet ended: followed every sweep (and their definitions need a look).
IN_FLIGHT = frozenset({STATUS_UNKNOWN, STATUS_PENDING, STATUS_RUNNING})
AWAITING_PICKUP = frozenset({STATUS_UNKNOWN, STATUS_PENDING})

# Announcement kinds the journal holds until they are in the outbox (spec section 8).
RECOVERY_TRIGGERED = "recovery_triggered"
RECOVERY_SUCCEEDED = "recovery_succeeded"
RECOVERY_FAILED = "recovery_failed"
RECOVERY_EXHAUSTED = "recovery_exhausted"

# DS answers to the recover call (ds-api.md section 8 and 4.7).
CODE_INSTANCE_GONE = frozenset({50001, 10116})  # 10116: 3.0's answer for an unknown id
CODE_DEFINITION_OFFLINE = 50004
CODE_ALREADY_QUEUED = 50009
CODE_NO_MASTER = 10025
# "state does not allow it" in 3.0/3.1 (50006), 3.2 (50015) and 3.3 (10000): re-read, never parse msg.
CODE_STATE_REFUSED = frozenset({50006, 50015, 10000})

# What DS shows of a recover call it took (ds-api.md 4.7): 3.3 moves the instance to
# SUBMITTED_SUCCESS before it answers, so a call without a trace on the next read never arrived;
# 3.0/3.1 refuse a second command while one is queued (50009), so asking again is harmless there.
# 3.2 shows nothing until a master starts the command and queues duplicates: it is never asked twice.
ACCEPT_VISIBLE_AT_ONCE = frozenset({"3.3"})
REPEAT_REFUSED_BY_DS = frozenset({"3.0", "3.1"})
# The detail that starts a "the command was never started" outcome: a person decides (issue 16).
NOT_STARTED = "recovery_not_started"

# Journal entries outlive the failure window by this much (spec section 5).
RETENTION_PAST_WINDOW = timedelta(days=7)


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
    result: str  # triggered | rejected | skipped_limit | skipped_state | dry_run
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
    detail: str = ""


# -- pure decisions --------------------------------------------------------------------------------


def attempts_so_far(record: dict | None, instance: Instance) -> int:
    """Recoveries of this instance so far: our journal, or DS's own count if that is higher.

    DS counts every run in ``runTimes``; when the latest command was a recovery, all runs after the
    first are counted as recoveries (conservative: a manual rerun in between counts too). That keeps
    the limit even when the journal was lost.
    """
    journal = int(record.get("attempts", 0)) if record else 0
    from_ds = instance.run_times - 1 if instance.command_type == COMMAND_RECOVER_FAILED else 0
    return max(journal, from_ds, 0)


# A backfill is never recovered, so no deferral (recovery_interval, one per project) may be reported for it.
BACKFILL_DETAIL = "backfill (COMPLEMENT_DATA): never recovered automatically"


def decide(
    instance: Instance,
    record: dict | None,
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
        actor = (
            "our recovery is under way"
            if record and record.get("status") in IN_FLIGHT
            else "someone else acted"
        )
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


def _waiting_reason(record: dict | None, instance: Instance, now: datetime, ds_version: str) -> str | None:
    """Why an earlier call still forbids a new one, or None. Only an unmoved ``runTimes`` holds.

    A command DS accepted is never sent again while ``runTimes`` has not moved, however long a
    master takes (a second one would run the instance twice once masters catch up): past the hold
    the outcome says ``recovery_not_started`` and a person decides. The same holds for a call
    without an answer, except where DS itself refuses a repeat (3.0/3.1).
    """
    if not record or not record.get("hold_until"):
        return None
    if instance.run_times > record["run_times_before"]:
        return None
    since, until = record["last_at"], record["hold_until"]
    held = now < _parse(until)
    status = record["status"]
    if status == STATUS_PENDING:
        if held:
            return (
                f"recovery pending since {since}: DS has not taken the command up yet "
                f"(runTimes still {instance.run_times}); not asked again before {until}"
            )
        return (
            f"{NOT_STARTED}: DS accepted the recover command at {since} but no master has started it "
            f"(runTimes still {instance.run_times}); not sent again: check the DS masters, then recover by hand"
        )
    if status == STATUS_UNKNOWN:
        if held:
            return (
                f"recovery call at {since} may have reached DS (no answer recorded); "
                f"waiting for the instance to show it, at most until {until}"
            )
        if ds_version in REPEAT_REFUSED_BY_DS:
            return None
        return (
            f"{NOT_STARTED}: the recover call at {since} got no answer and DS shows no sign of it "
            f"(runTimes still {instance.run_times}); DS may hold it queued, so it is not sent again: "
            "check DS's command queue, then recover by hand"
        )
    if status == STATUS_REJECTED and held:
        return f"DS refused at {since} ({record.get('detail', '')}); next try after {until}"
    return None


def settle(record: dict, instance: Instance, *, max_attempts: int, ds_version: str = "") -> dict:
    """The journal record after looking at the instance again; the same object if nothing changed.

    An in-flight recovery counts as taken up once ``runTimes`` moved or the state left FAILURE
    (3.3 answers with SUBMITTED_SUCCESS at once). When it ends, a follow-up is queued in ``announce``.
    A call without an answer is resolved here: taken up, it is announced as triggered now; on 3.3,
    no trace means it never arrived, and the attempt it was counted as is given back.
    """
    if record["status"] not in IN_FLIGHT:
        return record
    before = record["run_times_before"]
    if instance.run_times <= before and instance.state == FAILURE:
        if record["status"] == STATUS_UNKNOWN and ds_version in ACCEPT_VISIBLE_AT_ONCE:
            return {
                **record,
                "status": STATUS_NOT_SENT,
                "attempts": max(record["attempts"] - 1, 0),
                "hold_until": None,
                "last_result": STATUS_NOT_SENT,
                "detail": (
                    f"the call of {record['last_at']} never reached DS {ds_version}: the instance shows no trace"
                ),
            }
        return record
    announce = list(record.get("announce", []))
    if record["status"] == STATUS_UNKNOWN:
        # The call had no answer, so nothing announced it; now DS shows it was taken.
        announce.append(
            {
                "kind": RECOVERY_TRIGGERED,
                "attempt": record["attempts"],
                "state": instance.state,
                "detail": f"DS took up the recover call of {record['last_at']} that had no answer",
            }
        )
    if instance.state in ACTIVE_STATES:
        if record["status"] == STATUS_RUNNING and record.get("state") == instance.state:
            return record
        return {
            **record,
            "announce": announce,
            "status": STATUS_RUNNING,
            "state": instance.state,
            "last_result": TRIGGERED,
            "hold_until": None,
            "detail": f"DS took it up: {instance.state}, runTimes {before} -> {instance.run_times}",
        }
    attempt = attempts_so_far(record, instance)
    if instance.state in SUCCESS_STATES:
        status, kind, detail = STATUS_SUCCEEDED, RECOVERY_SUCCEEDED, f"ended {instance.state}"
    elif attempt >= max_attempts:
        status, kind = STATUS_EXHAUSTED, RECOVERY_EXHAUSTED
        detail = (
            f"ended {instance.state} after {attempt} of {max_attempts} attempts: no more automatic recovery"
        )
    else:
        status, kind = STATUS_FAILED, RECOVERY_FAILED
        detail = f"ended {instance.state} (attempt {attempt} of {max_attempts})"
    announce.append({"kind": kind, "attempt": attempt, "state": instance.state, "detail": detail})
    return {
        **record,
        "status": status,
        "state": instance.state,
        "attempts": attempt,
        "hold_until": None,
        "last_result": TRIGGERED,
        "detail": detail,
        "announce": announce,
    }


def normalise_journal(state: dict | None) -> dict:
    """A deep copy of the journal with only well-formed records (a malformed one is logged and dropped).

    Other top-level keys belong to other modules (``failures``: ds_monitor.tasks) and are kept.
    """
    others = {k: copy.deepcopy(v) for k, v in state.items() if k not in ("version", "instances")} if isinstance(
        state, dict
    ) else {}
    journal = {**others, "version": CURRENT_VERSION, "instances": {}}
    instances = state.get("instances") if isinstance(state, dict) else None
    if not isinstance(instances, dict):
        return journal
    for key, record in instances.items():
        problem = _record_problem(record)
        if problem:
            log.warning("recovery journal entry %s ignored: %s", key, problem)
            continue
        clean = {
            "hold_until": None,
            "last_result": "",
            "detail": "",
            "state": "",
            "announce": [],
            **copy.deepcopy(record),
        }
        journal["instances"][str(record["instance_id"])] = clean
    return journal


def _record_problem(record: object) -> str | None:
    if not isinstance(record, dict):
        return "not an object"
    for key in ("instance_id", "project_code", "definition_code", "attempts", "run_times_before"):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{key!r} is {value!r}, not an integer"
    if record.get("status") not in STATUSES:
        return f"unknown status {record.get('status')!r}"
    for key in ("last_at", "hold_until"):
        value = record.get(key)
        if value is None and key == "hold_until":
            continue
        try:
            _parse(value)
        except (TypeError, ValueError):
            return f"{key!r} is {value!r}, not an ISO date-time with offset"
    announce = record.get("announce", [])
    if not isinstance(announce, list) or not all(_is_announcement(item) for item in announce):
        return "'announce' is not a list of follow-ups"
    return None


def _is_announcement(item: object) -> bool:
    return (
        isinstance(item, dict)
        and item.get("kind") in (RECOVERY_TRIGGERED, RECOVERY_SUCCEEDED, RECOVERY_FAILED, RECOVERY_EXHAUSTED)
        and isinstance(item.get("attempt"), int)
        and isinstance(item.get("state"), str)
    )


def prune_journal(state: dict, now: datetime, window: timedelta) -> dict:
    """Drop records whose latest call is older than the window plus seven days (and nothing to announce).

    Such an instance started before the window, so it is never a candidate again.
    """
    cutoff = now - window - RETENTION_PAST_WINDOW
    kept = {
        key: record
        for key, record in state["instances"].items()
        if record.get("announce") or _parse(record["last_at"]) >= cutoff
    }
    return {**state, "instances": kept}


def busy_definitions(state: dict) -> frozenset[int]:
    """Definitions with a recovery triggered and not yet ended: they need a look every sweep."""
    journal = normalise_journal(state)
    return frozenset(r["definition_code"] for r in journal["instances"].values() if r["status"] in IN_FLIGHT)


def last_call_in_project(state: dict, project_code: int) -> datetime | None:
    """When this monitor last asked DS to recover an instance of the project (``recovery_interval``)."""
    journal = normalise_journal(state)
    times = [
        _parse(r["last_at"])
        for r in journal["instances"].values()
        if r["project_code"] == project_code and r.get("last_at")
    ]
    return max(times, default=None)


def recovery_status(state: dict, now: datetime) -> list[dict]:
    """Rows for ``status``: one per journaled instance, the latest activity first."""
    journal = normalise_journal(state)
    rows = [
        {
            "instance_id": record["instance_id"],
            "definition_code": record["definition_code"],
            "attempts": record["attempts"],
            "last_result": record["last_result"],
            "last_at": record["last_at"],
            "outcome": _describe(record, now),
        }
        for record in journal["instances"].values()
    ]
    return sorted(rows, key=lambda row: (_parse(row["last_at"]), row["instance_id"]), reverse=True)


def _describe(record: dict, now: datetime) -> str:
    status, detail = record["status"], record["detail"]
    hold = record["hold_until"]
    if status == STATUS_PENDING and hold and now >= _parse(hold):
        return f"{status}, not started since {hold} ({NOT_STARTED}): not sent again, a person decides"
    if status == STATUS_UNKNOWN and hold and now >= _parse(hold):
        return (
            f"{status}, no trace since {hold}: asked again where DS refuses a repeat (3.0/3.1), "
            f"else {NOT_STARTED} and a person decides"
        )
    return f"{status}: {detail}" if detail else status


def _gone(record: dict, code: int) -> dict:
    return {
        **record,
        "status": STATUS_GONE,
        "hold_until": None,
        "detail": f"instance no longer exists (DS {code})",
    }


def _oldest_first(instance: Instance) -> tuple:
    # Instances without a start time sort last; ids break ties so the order is stable.
    started = instance.start_time
    return (started is None, started.timestamp() if started else 0.0, instance.id)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment


# -- the journaled action --------------------------------------------------------------------------


class RecoveryHandler:
    """Re-reads, journals and calls DS for recoveries; follows them until they end.

    ``client`` needs ``get_instance(project_code, instance_id)`` and
    ``recover_failed_node(project_code, instance_id)``. Every journal change is saved through
    ``store`` before the next DS call, so the caller must hold ``store.locked()``.
    """

    def __init__(
        self,
        client,
        store: Store,
        policy: RecoveryPolicy,
        *,
        pending_timeout: timedelta = timedelta(minutes=30),
        window: timedelta = timedelta(hours=24),
    ):
        self.client = client
        self.store = store
        self.policy = policy
        self.pending_timeout = pending_timeout
        self.window = window
        # max_attempts per definition code where a recovery policy rule differs from ``policy``'s;
        # set by the monitor each sweep.
        self.limits: Mapping[int, int] = {}
        # Guards the shared journal when projects are recovered in parallel (recover_all).
        self._lock = threading.RLock()

    def _policy(self, definition_code: int) -> RecoveryPolicy:
        limit = self.limits.get(definition_code)
        return self.policy if limit is None else replace(self.policy, max_attempts=limit)

    def _ds_version(self) -> str:
        return str(getattr(self.client, "version", "") or "")

    def recover(
        self,
        project_code: int,
        candidates: list[Instance],
        *,
        newer_active: set[int],
        now: datetime,
        state: dict,
        definition_online: Mapping[int, bool] | None = None,
    ) -> tuple[list[RecoveryOutcome], dict]:
        """Recover the FAILURE ``candidates`` of one project, oldest first; return outcomes and journal."""
        return self.recover_all([(project_code, candidates, newer_active)], now=now, state=state,
                                definition_online=definition_online)

    def recover_all(
        self,
        batches: Sequence[tuple[int, list[Instance], set[int]]],
        *,
        now: datetime,
        state: dict,
        definition_online: Mapping[int, bool] | None = None,
        executor: Executor | None = None,
        keep_going: Callable[[], bool] = lambda: True,
        one_per_project: bool = False,
    ) -> tuple[list[RecoveryOutcome], dict]:
        """Recover several projects' candidates, projects in parallel, each project's oldest first.

        ``one_per_project`` (``retry.recovery_interval``): after a project's first triggered
        recovery its remaining candidates are deferred to a later sweep. Candidates the guards turn
        down do not use the slot, so a backfill failure cannot block the real ones behind it.

        ``batches`` holds (project_code, candidates, ids with a newer active run). With an
        ``executor`` the projects run in its threads, else one after the other. All threads share
        one journal; every change to it and every save happens under one lock, so each intent is on
        disk before its DS call whatever the other threads do. ``keep_going`` is asked before each
        candidate (shutdown); candidates not reached are left out of the outcomes.
        """
        journal = normalise_journal(state)

        def run(batch: tuple[int, list[Instance], set[int]]) -> list[RecoveryOutcome]:
            project_code, candidates, newer_active = batch
            outcomes: list[RecoveryOutcome] = []
            for candidate in sorted(candidates, key=_oldest_first):
                if not keep_going():
                    break
                if one_per_project and not candidate.is_backfill and any(o.result == TRIGGERED for o in outcomes):
                    record = journal["instances"].get(str(candidate.id))
                    outcomes.append(RecoveryOutcome(
                        instance_id=candidate.id, attempt=attempts_so_far(record, candidate), result=SKIPPED_STATE,
                        detail="deferred: one recovery per project per retry.recovery_interval",
                        project_code=project_code, definition_code=candidate.definition_code))
                    continue
                online = definition_online.get(candidate.definition_code) if definition_online else None
                outcomes.append(self._recover_one(
                    project_code, candidate, candidate.id in newer_active, online, now, journal
                ))
            return outcomes

        if executor is None or len(batches) <= 1:
            results = [run(batch) for batch in batches]
        else:
            results = list(executor.map(run, batches))
        return [outcome for outcomes in results for outcome in outcomes], journal

    def _recover_one(
        self,
        project_code: int,
        candidate: Instance,
        newer_active: bool,
        online: bool | None,
        now: datetime,
        journal: dict,
    ) -> RecoveryOutcome:
        key = str(candidate.id)
        entries = journal["instances"]

        def outcome(attempt: int, result: str, detail: str) -> RecoveryOutcome:
            return RecoveryOutcome(
                instance_id=candidate.id,
                attempt=attempt,
                result=result,
                detail=detail,
                project_code=project_code,
                definition_code=candidate.definition_code,
            )

        record = entries.get(key)
        policy = self._policy(candidate.definition_code)
        if record:
            settled = settle(record, candidate, max_attempts=policy.max_attempts, ds_version=self._ds_version())
            if settled is not record:
                record = self._set(journal, settled)
        # The listing is seconds old: when it already rules the recovery out (pending, limit,
        # backfill, newer run), re-reading would cost a DS call per candidate and sweep for nothing.
        verdict, detail = decide(
            candidate, record, newer_active=newer_active, definition_online=online, policy=policy, now=now,
            ds_version=self._ds_version(),
        )
        if verdict not in (RECOVER, DRY_RUN):
            return outcome(attempts_so_far(record, candidate), verdict, detail)
        try:
            fresh = self.client.get_instance(project_code, candidate.id)
        except DSApiError as err:
            if err.code in CODE_INSTANCE_GONE:
                if record:
                    self._put(journal, _gone(record, err.code))
                return outcome(
                    attempts_so_far(record, candidate),
                    SKIPPED_STATE,
                    f"instance no longer exists in DS (DS {err.code})",
                )
            return outcome(attempts_so_far(record, candidate), SKIPPED_STATE, f"re-read failed: {err}")

        if record:
            settled = settle(record, fresh, max_attempts=policy.max_attempts, ds_version=self._ds_version())
            if settled is not record:
                record = self._set(journal, settled)
        verdict, detail = decide(
            fresh, record, newer_active=newer_active, definition_online=online, policy=policy, now=now,
            ds_version=self._ds_version(),
        )
        used = attempts_so_far(record, fresh)
        if verdict == DRY_RUN:
            return outcome(used + 1, verdict, detail)
        if verdict != RECOVER:
            return outcome(used, verdict, detail)

        attempt = used + 1
        intent = {
            "instance_id": fresh.id,
            "project_code": project_code,
            "definition_code": fresh.definition_code,
            "attempts": attempt,
            "status": STATUS_UNKNOWN,
            "run_times_before": fresh.run_times,
            "hold_until": _iso(now + self.pending_timeout),
            "last_at": _iso(now),
            "last_result": "intent",
            "detail": f"calling DS: {detail}",
            "state": fresh.state,
            "announce": record.get("announce", []) if record else [],
        }
        self._put(journal, intent)  # saved before the call: the crash-safety of the whole journal
        try:
            self.client.recover_failed_node(project_code, fresh.id)
        except DSApiError as err:
            refused = self._refusal(project_code, fresh.id, err, {**intent, "attempts": used}, now)
            self._put(journal, refused)
            return outcome(attempt, REJECTED, refused["detail"])
        except DSAuthError:
            # 401 comes from the token check before any action: DS did nothing.
            if record:
                self._put(journal, record)
            else:
                self._drop(journal, key)
            raise
        except DSUnreachable as err:
            # Refused at connect time, DNS, TLS before the request: it never left, DS did nothing.
            detail = f"not sent ({err}): DS did nothing; tried again next sweep"
            self._put(
                journal,
                {**intent, "attempts": used, "status": STATUS_NOT_SENT, "hold_until": None,
                 "last_result": STATUS_NOT_SENT, "detail": detail},
            )
            return outcome(used, SKIPPED_STATE, detail)
        except DSError as err:
            # ActionOutcomeUnknown and friends: the call may have reached DS. Never call again blindly:
            # the next sweep re-reads the instance first. Not announced until it shows what happened.
            detail = f"no answer from DS ({err}); checking next sweep"
            self._put(journal, {**intent, "last_result": "no_answer", "detail": detail})
            return outcome(attempt, UNKNOWN, detail)
        detail = f"DS accepted the recover command ({detail})"
        announce = [
            *intent["announce"],
            {"kind": RECOVERY_TRIGGERED, "attempt": attempt, "state": fresh.state, "detail": detail},
        ]
        accepted = {**intent, "status": STATUS_PENDING, "last_result": TRIGGERED, "detail": detail}
        self._put(journal, {**accepted, "announce": announce})
        return outcome(attempt, TRIGGERED, detail)

    def _refusal(
        self, project_code: int, instance_id: int, err: DSApiError, record: dict, now: datetime
    ) -> dict:
        """The journal record after DS refused the call (``record`` has its attempts restored)."""
        hold = _iso(now + self.pending_timeout)
        rejected = {**record, "status": STATUS_REJECTED, "last_result": REJECTED}
        said = f"DS {err.code}: {err.msg}"
        if err.code in CODE_INSTANCE_GONE:
            return {
                **rejected,
                "status": STATUS_GONE,
                "hold_until": None,
                "detail": f"instance no longer exists ({said})",
            }
        if err.code == CODE_NO_MASTER:
            return {
                **rejected,
                "hold_until": None,
                "detail": f"no master server is running ({said}): transient, tried again next sweep",
            }
        if err.code == CODE_ALREADY_QUEUED:
            return {
                **rejected,
                "hold_until": hold,
                "detail": f"a recover command is already queued for it, wait ({said})",
            }
        if err.code == CODE_DEFINITION_OFFLINE:
            return {**rejected, "hold_until": hold, "detail": f"the workflow definition is offline ({said})"}
        if err.code in CODE_STATE_REFUSED:
            state = self._state_now(project_code, instance_id)
            if state is not None and state != FAILURE:
                return {
                    **rejected,
                    "hold_until": None,
                    "state": state,
                    "detail": f"state is now {state}: someone else acted ({said})",
                }
            return {
                **rejected,
                "hold_until": hold,
                "detail": f"the instance's state does not allow it ({said})",
            }
        return {**rejected, "hold_until": hold, "detail": f"DS refused ({said})"}

    def _state_now(self, project_code: int, instance_id: int) -> str | None:
        try:
            return self.client.get_instance(project_code, instance_id).state
        except DSApiError as err:
            log.warning("re-read of instance %s after a refusal failed: %s", instance_id, err)
            return None

    def follow_up(
        self, get_instance: Callable[[int, int], Instance], state: dict, now: datetime
    ) -> tuple[list[FollowUp], dict]:
        """Re-read every recovery not yet ended; hand out each announcement once, with the journal.

        The caller saves the journal only after the announcements are in the outbox: until then a
        crash leaves them here, to be handed out again.
        """
        journal = normalise_journal(state)
        for key in sorted(journal["instances"], key=int):
            record = journal["instances"][key]
            if record["status"] not in IN_FLIGHT:
                continue
            try:
                instance = get_instance(record["project_code"], record["instance_id"])
            except DSApiError as err:
                if err.code in CODE_INSTANCE_GONE:
                    self._put(journal, _gone(record, err.code))
                else:
                    log.warning("cannot follow the recovery of instance %s: %s", key, err)
                continue
            # Derived from what DS shows, so it is saved once below rather than per record.
            journal["instances"][key] = settle(
                record,
                instance,
                max_attempts=self._policy(record["definition_code"]).max_attempts,
                ds_version=self._ds_version(),
            )

        follow_ups = []
        for key in sorted(journal["instances"], key=int):
            record = journal["instances"][key]
            for item in record["announce"]:
                follow_ups.append(
                    FollowUp(
                        instance_id=record["instance_id"],
                        project_code=record["project_code"],
                        definition_code=record["definition_code"],
                        kind=item["kind"],
                        attempt=item["attempt"],
                        max_attempts=self._policy(record["definition_code"]).max_attempts,
                        state=item["state"],
                        detail=item.get("detail", ""),
                    )
                )
            if record["announce"]:
                journal["instances"][key] = {**record, "announce": []}
        return follow_ups, prune_journal(journal, now, self.window)

    def _set(self, journal: dict, record: dict) -> dict:
        """Change a record in memory only (derived facts; saved with the next intent or at the end)."""
        with self._lock:
            journal["instances"][str(record["instance_id"])] = record
        return record

    def _put(self, journal: dict, record: dict) -> dict:
        with self._lock:
            journal["instances"][str(record["instance_id"])] = record
            self.store.save(RECOVERY, journal)
        return record

    def _drop(self, journal: dict, key: str) -> None:
        with self._lock:
            journal["instances"].pop(key, None)
            self.store.save(RECOVERY, journal)

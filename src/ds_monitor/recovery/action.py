"""The journaled recover action: re-read the instance, journal the intent, call DS, follow up.

Why a journal, and why these guards (ds-api.md 4.7 and 10.2): a successful recover call on DS
3.0-3.2 only queues a command; the instance stays FAILURE until a master takes it (then
``runTimes`` + 1 and RUNNING_EXECUTION), and 3.2 queues a second command without complaint. 3.3
moves the instance to SUBMITTED_SUCCESS (``runTimes`` + 1) before answering. So "still FAILURE"
alone cannot tell a new failure from our own recovery waiting for a master: the journal
(:mod:`ds_monitor.recovery.journal`) remembers ``runTimes`` before each call, and an instance whose
``runTimes`` has not moved since is *pending*, never a new failure. A pending recovery is asked
again only after ``pending_timeout``.

Crash points — a restarted monitor never recovers the same failure twice and never exceeds
``max_attempts``, because the intent is saved (atomically, by the caller's ``save``) before the call:

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

``follow_up`` hands each announcement out once and clears it in the journal its caller saves after
the notification outbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ds_monitor.ds.dialect import Refusal, instance_gone, recover_refusal
from ds_monitor.ds.models import ONLINE, Definition, Instance
from ds_monitor.errors import DSApiError, DSAuthError, DSError, DSUnreachable
from ds_monitor.recovery import decisions
from ds_monitor.recovery.decisions import (
    DEFERRED_IN_SWEEP,
    DRY_RUN,
    NOT_STARTED,
    RECOVER,
    REJECTED,
    SKIPPED_STATE,
    TRIGGERED,
    UNKNOWN,
    FollowUp,
    Held,
    RecoveryOutcome,
    RecoveryPolicy,
    attempts_so_far,
    decide,
    deferred,
    has_newer_active,
    hold_back,
    interval_defers,
    oldest_first,
    settle,
)
from ds_monitor.recovery.journal import IN_FLIGHT, InstanceRecord, Journal
from ds_monitor.recovery.policy import Rule

if TYPE_CHECKING:
    from ds_monitor.tasks import Diagnosis

log = logging.getLogger("ds_monitor.recovery")


@dataclass(frozen=True)
class RecoveryStep:
    """What the recovery step of a sweep did: report rows, announcements to make, warnings, the new journal."""

    outcomes: list[RecoveryOutcome]  # the sweep report's ``recoveries``, in order
    withheld: list[Held]  # held back by the policy and announced (``recovery_withheld``)
    warnings: list[str]
    journal: Journal


class RecoveryHandler:
    """Re-reads, journals and calls DS for recoveries; follows them until they end.

    ``client`` needs ``get_instance(project_code, instance_id)`` and
    ``recover_failed_node(project_code, instance_id)``. ``save`` stores a journal document; every
    journal change is saved through it before the next DS call, so the caller must hold the state
    lock for the whole step.
    """

    def __init__(
        self,
        client,
        save: Callable[[dict], None],
        policy: RecoveryPolicy,
        *,
        pending_timeout: timedelta = timedelta(minutes=30),
        window: timedelta = timedelta(hours=24),
        recovery_interval: timedelta = timedelta(0),
    ):
        self.client = client
        self.save = save
        self.policy = policy
        self.pending_timeout = pending_timeout
        self.window = window
        self.recovery_interval = recovery_interval
        # Guards the shared journal when projects are recovered in parallel (_recover_batches).
        self._lock = threading.RLock()

    def _policy(self, definition_code: int, rules: Mapping[int, Rule]) -> RecoveryPolicy:
        """``policy`` with the attempt limit of the definition's recovery policy rule, if it has one."""
        rule = rules.get(definition_code)
        if rule is None or rule.max_attempts == self.policy.max_attempts:
            return self.policy
        return replace(self.policy, max_attempts=rule.max_attempts)

    def _ds_version(self) -> str:
        return str(getattr(self.client, "version", "") or "")

    def recover_candidates(
        self,
        candidates_by_project: Mapping[int, Sequence[Instance]],
        journal: Journal,
        *,
        now: datetime,
        siblings: Mapping[int, Sequence[Instance]] | None = None,
        definitions: Mapping[int, Definition] | None = None,
        rules: Mapping[int, Rule] | None = None,
        diagnosis_of: Callable[[Instance], Diagnosis | None] = lambda _: None,
        executor: Executor | None = None,
        keep_going: Callable[[], bool] = lambda: True,
        timeout: float = 0.0,
    ) -> RecoveryStep:
        """The recovery step of a sweep: policy, ``retry.recovery_interval``, guards, then the recover calls.

        Per project: the recovery policy holds candidates back (``skipped_policy``; ``withheld`` ones
        are announced), a project whose latest call is younger than the interval waits for a later
        sweep, and the rest are recovered oldest first, projects in parallel with an ``executor``.
        ``siblings`` holds this sweep's listed instances per definition code (a newer active run
        guards an older failure), ``definitions`` the monitored definitions (an offline one is not
        recovered), ``rules`` the policy rule per definition code. ``keep_going`` is asked before
        each candidate; when it stops the step early, ``timeout`` (``monitor.timeout``) is named in
        the warning. ``journal`` is not changed: the step returns the new one.
        """
        siblings = siblings or {}
        rules = rules or {}
        batches, waiting, held_back = [], [], []
        for project_code, candidates in candidates_by_project.items():
            passed, held = hold_back(
                project_code, candidates, journal, rules=rules, diagnosis_of=diagnosis_of,
                max_attempts_of=lambda code: self._policy(code, rules).max_attempts, now=now,
            )
            held_back.extend(held)
            if not passed:
                continue
            if interval_defers(journal, project_code, now, self.recovery_interval):
                waiting.extend(deferred(project_code, inst) for inst in passed)
                continue
            newer = {i.id for i in passed if has_newer_active(i, siblings.get(i.definition_code, ()))}
            batches.append((project_code, passed, newer))

        online = {code: d.release_state == ONLINE for code, d in definitions.items()} if definitions else None
        outcomes, journal = self._recover_batches(
            batches, now=now, journal=journal, rules=rules, definition_online=online, executor=executor,
            keep_going=keep_going,
        )
        warnings = []
        reached = {o.instance_id for o in outcomes}
        if any(i.id not in reached for _, candidates, _ in batches for i in candidates):
            warnings.append(f"sweep time budget (monitor.timeout={timeout}s) spent: recovery deferred")
        outcomes += waiting
        outcomes += [held.outcome() for held in held_back]
        # A person decides: said every sweep until someone does.
        warnings += [f"instance {o.instance_id}: {o.detail}" for o in outcomes if o.detail.startswith(NOT_STARTED)]
        return RecoveryStep(outcomes, [held for held in held_back if held.hold.withheld], warnings, journal)

    def _recover_batches(
        self,
        batches: Sequence[tuple[int, list[Instance], set[int]]],
        *,
        now: datetime,
        journal: Journal,
        rules: Mapping[int, Rule],
        definition_online: Mapping[int, bool] | None,
        executor: Executor | None,
        keep_going: Callable[[], bool],
    ) -> tuple[list[RecoveryOutcome], Journal]:
        """Recover several projects' candidates, projects in parallel, each project's oldest first.

        ``retry.recovery_interval``: after a project's first triggered recovery its remaining
        candidates are deferred to a later sweep. Candidates the guards turn down do not use the
        slot, so a backfill failure cannot block the real ones behind it.

        ``batches`` holds (project_code, candidates, ids with a newer active run). With an
        ``executor`` the projects run in its threads, else one after the other. All threads share
        one journal (a copy of ``journal``, returned); every change to it and every save happens
        under one lock, so each intent is saved before its DS call whatever the other threads do.
        Candidates not reached (``keep_going`` said stop) are left out of the outcomes.
        """
        journal = journal.copy()
        one_per_project = bool(self.recovery_interval)

        def run(batch: tuple[int, list[Instance], set[int]]) -> list[RecoveryOutcome]:
            project_code, candidates, newer_active = batch
            outcomes: list[RecoveryOutcome] = []
            for candidate in sorted(candidates, key=oldest_first):
                if not keep_going():
                    break
                if one_per_project and not candidate.is_backfill and any(o.result == TRIGGERED for o in outcomes):
                    outcomes.append(RecoveryOutcome(
                        instance_id=candidate.id, attempt=attempts_so_far(journal.get(candidate.id), candidate),
                        result=SKIPPED_STATE, detail=DEFERRED_IN_SWEEP,
                        project_code=project_code, definition_code=candidate.definition_code))
                    continue
                online = definition_online.get(candidate.definition_code) if definition_online else None
                outcomes.append(self._recover_one(
                    project_code, candidate, candidate.id in newer_active, online, now, journal, rules
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
        journal: Journal,
        rules: Mapping[int, Rule],
    ) -> RecoveryOutcome:
        def outcome(attempt: int, result: str, detail: str) -> RecoveryOutcome:
            return RecoveryOutcome(
                instance_id=candidate.id,
                attempt=attempt,
                result=result,
                detail=detail,
                project_code=project_code,
                definition_code=candidate.definition_code,
            )

        record = journal.get(candidate.id)
        policy = self._policy(candidate.definition_code, rules)
        if record:
            record = self._settle(journal, record, candidate, policy)
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
            if instance_gone(err.code):
                if record:
                    self._put(journal, decisions.gone(record, err.code))
                return outcome(
                    attempts_so_far(record, candidate),
                    SKIPPED_STATE,
                    f"instance no longer exists in DS (DS {err.code})",
                )
            return outcome(attempts_so_far(record, candidate), SKIPPED_STATE, f"re-read failed: {err}")

        if record:
            record = self._settle(journal, record, fresh, policy)
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
        intent = decisions.intent(
            fresh, project_code, attempt=attempt, plan=detail, hold_until=now + self.pending_timeout, now=now,
            record=record,
        )
        self._put(journal, intent)  # saved before the call: the crash-safety of the whole journal
        try:
            self.client.recover_failed_node(project_code, fresh.id)
        except DSApiError as err:
            refusal = recover_refusal(err.code)
            state_now = self._state_now(project_code, fresh.id) if refusal is Refusal.STATE else None
            rejected = decisions.refused(intent, refusal, f"DS {err.code}: {err.msg}", state_now=state_now)
            self._put(journal, rejected)
            return outcome(attempt, REJECTED, rejected.detail)
        except DSAuthError:
            # 401 comes from the token check before any action: DS did nothing.
            if record:
                self._put(journal, record)
            else:
                self._drop(journal, fresh.id)
            raise
        except DSUnreachable as err:
            # Refused at connect time, DNS, TLS before the request: it never left, DS did nothing.
            detail = f"not sent ({err}): DS did nothing; tried again next sweep"
            self._put(journal, decisions.not_sent(intent, detail))
            return outcome(used, SKIPPED_STATE, detail)
        except DSError as err:
            # ActionOutcomeUnknown and friends: the call may have reached DS. Never call again blindly:
            # the next sweep re-reads the instance first. Not announced until it shows what happened.
            detail = f"no answer from DS ({err}); checking next sweep"
            self._put(journal, replace(intent, last_result="no_answer", detail=detail))
            return outcome(attempt, UNKNOWN, detail)
        detail = f"DS accepted the recover command ({detail})"
        self._put(journal, decisions.accepted(intent, detail))
        return outcome(attempt, TRIGGERED, detail)

    def _settle(
        self, journal: Journal, record: InstanceRecord, instance: Instance, policy: RecoveryPolicy
    ) -> InstanceRecord:
        """The record settled against ``instance``; changed in memory only (derived facts, saved
        with the next intent or at the end)."""
        settled = settle(record, instance, max_attempts=policy.max_attempts, ds_version=self._ds_version())
        if settled is not record:
            with self._lock:
                journal.put(settled)
        return settled

    def _state_now(self, project_code: int, instance_id: int) -> str | None:
        try:
            return self.client.get_instance(project_code, instance_id).state
        except DSApiError as err:
            log.warning("re-read of instance %s after a refusal failed: %s", instance_id, err)
            return None

    def follow_up(
        self,
        get_instance: Callable[[int, int], Instance],
        journal: Journal,
        now: datetime,
        rules: Mapping[int, Rule] | None = None,
    ) -> tuple[list[FollowUp], Journal]:
        """Re-read every recovery not yet ended; hand out each announcement once, with the new journal.

        The caller saves the journal only after the announcements are in the outbox: until then a
        crash leaves them in the saved one, to be handed out again.
        """
        rules = rules or {}
        journal = journal.copy()
        for instance_id in sorted(journal.records):
            record = journal.records[instance_id]
            if record.status not in IN_FLIGHT:
                continue
            try:
                instance = get_instance(record.project_code, record.instance_id)
            except DSApiError as err:
                if instance_gone(err.code):
                    self._put(journal, decisions.gone(record, err.code))
                else:
                    log.warning("cannot follow the recovery of instance %s: %s", instance_id, err)
                continue
            # Derived from what DS shows, so it is saved once by the caller rather than per record.
            journal.put(
                settle(
                    record,
                    instance,
                    max_attempts=self._policy(record.definition_code, rules).max_attempts,
                    ds_version=self._ds_version(),
                )
            )

        follow_ups = []
        for instance_id in sorted(journal.records):
            record = journal.records[instance_id]
            max_attempts = self._policy(record.definition_code, rules).max_attempts
            follow_ups.extend(
                FollowUp(
                    instance_id=record.instance_id,
                    project_code=record.project_code,
                    definition_code=record.definition_code,
                    kind=item.kind,
                    attempt=item.attempt,
                    max_attempts=max_attempts,
                    state=item.state,
                    called_at=item.called_at,
                    detail=item.detail,
                )
                for item in record.announce
            )
            if record.announce:
                journal.put(replace(record, announce=()))
        return follow_ups, journal.pruned(now, self.window)

    def _put(self, journal: Journal, record: InstanceRecord) -> None:
        with self._lock:
            journal.put(record)
            self.save(journal.dump())

    def _drop(self, journal: Journal, instance_id: int) -> None:
        with self._lock:
            journal.drop(instance_id)
            self.save(journal.dump())

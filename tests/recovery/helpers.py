"""Instances and journal records shared by the recovery tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ds_monitor.ds.models import FAILURE, Instance
from ds_monitor.recovery.action import RecoveryHandler
from ds_monitor.recovery.decisions import RecoveryPolicy
from ds_monitor.recovery.journal import InstanceRecord, Journal
from ds_monitor.state import RECOVERY
from ds_monitor.state.files import StateStore

PC = 100
DC = 20
T0 = datetime(2024, 6, 1, 2, 0, tzinfo=timezone.utc)
NOW = datetime(2024, 6, 1, 3, 0, tzinfo=timezone.utc)
TIMEOUT = timedelta(minutes=30)


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


def raw_record(
    status: str,
    *,
    attempts: int = 1,
    run_times_before: int = 1,
    hold: datetime | None = NOW + TIMEOUT,
    last_at: datetime = NOW - timedelta(minutes=5),
    detail: str = "",
    state: str = FAILURE,
) -> dict:
    """One journal record as the journal file holds it."""
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


def record(status: str, **kwargs) -> InstanceRecord:
    """The same record, typed."""
    return InstanceRecord.load(raw_record(status, **kwargs))


class Handler(RecoveryHandler):
    """The handler as the monitor wires it: every journal save goes to ``store``."""

    def __init__(self, client, store: StateStore, policy: RecoveryPolicy, **kwargs):
        super().__init__(client, lambda document: store.save(RECOVERY, document), policy, **kwargs)
        self.store = store


def saved(handler: Handler) -> Journal:
    """The journal as the next sweep loads it."""
    return Journal.load(handler.store.load(RECOVERY))


def follow_up(handler: Handler, read, journal: Journal, now):
    """Follow-ups as the monitor takes them: the journal is saved once they are in the outbox."""
    follow, journal = handler.follow_up(read, journal, now)
    handler.store.save(RECOVERY, journal.dump())
    return follow, journal

"""How earlier recoveries ended (spec section 5); the follow-up step."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ds_monitor.ds.models import Instance
from ds_monitor.ds.protocol import DSApi
from ds_monitor.notify import Event
from ds_monitor.recovery.action import RecoveryHandler
from ds_monitor.recovery.journal import Journal
from ds_monitor.recovery.policy import Rule
from ds_monitor.sweep.events import EventMaker
from ds_monitor.tasks import FailureMemory


def follow_up(
    handler: RecoveryHandler,
    client: DSApi,
    journal: Journal,
    listed: Mapping[int, Instance],
    memory: FailureMemory,
    make: EventMaker,
    rules: Mapping[int, Rule],
    now: datetime,
) -> tuple[Journal, list[Event]]:
    """The journal with each recovery's end recorded, and an event per end (or per overdue start).

    A recovery that failed again is announced with what failed this time, when that is known.
    """

    def get_instance(project_code: int, instance_id: int) -> Instance:
        # This sweep's listing is fresh enough to see how a recovery ended; older ones are re-read.
        return listed.get(instance_id) or client.get_instance(project_code, instance_id)

    items, journal = handler.follow_up(get_instance, journal, now, rules)
    events = [
        make.follow_up(item, memory.latest(item.instance_id) if item.kind != "recovery_succeeded" else None)
        for item in items
    ]
    return journal, events

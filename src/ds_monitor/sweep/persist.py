"""Recording a sweep, in the order that makes a crash harmless (spec section 8); the persist step.

The events go into the outbox in the same save that marks them announced, before the schedule and
journal marks that say they were found: a crash between the saves finds them again next sweep,
and the announcement memory drops the repeat. Health is recorded last, so a save that fails on
the way makes the sweep a failed one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ds_monitor.errors import MonitorError
from ds_monitor.notify import Event
from ds_monitor.notify.ratelimit import normalise_state
from ds_monitor.schedule import ScheduleTracker
from ds_monitor.state import RATE_LIMIT, RECOVERY, SCHEDULE, Store, update_document
from ds_monitor.sweep.announce import Announcer
from ds_monitor.sweep.health import SweepHealth, fail, health_event
from ds_monitor.sweep.report import SweepReport

# How a sweep ended (Monitor._attempt): its findings are recorded unless it was interrupted.
DONE, INTERRUPTED, FAILED, BLIND = "done", "interrupted", "failed", "blind"


@dataclass(frozen=True)
class Decisions:
    """What a sweep decided, saved in order by :func:`persist`."""

    events: list[Event]
    schedule_state: dict
    journal: dict
    # Failures already in the outbox: announced before any recovery could change what DS shows.
    announced_early: list[Event] = field(default_factory=list)


def persist(
    store: Store,
    tracker: ScheduleTracker,
    announcer: Announcer,
    health: SweepHealth,
    decisions: Decisions | None,
    ended: str,
    *,
    unsaved_failures: int,
    health_saved: Callable[[], None],
    now: datetime,
    report: SweepReport,
) -> None:
    """Record the sweep under the lock: its events into the outbox, then the marks, then health.

    ``unsaved_failures``: earlier failed sweeps whose health could not be saved, added now;
    ``health_saved`` is called once they are (a failure after that counts only this sweep).
    """
    if ended == INTERRUPTED:
        return
    blind = ended == BLIND
    # What this sweep does to the health, as far as known now: the inhibition depends on it.
    probe = SweepHealth()
    probe.restore(normalise_state(store.load(RATE_LIMIT))["health"])
    probe.consecutive_failures += unsaved_failures
    held = announcer.inhibition(report.ok, probe.record(report.ok, at_once=blind), now)
    decided = decisions.announced_early + decisions.events if decisions else []
    if decisions is not None:
        try:
            announcer.announce(decisions.events, now, report, held)
            store.save(SCHEDULE, tracker.forget_stale(decisions.schedule_state, now))
            store.save(RECOVERY, decisions.journal)
        except MonitorError as err:
            fail(report, err)

    def record(state: dict) -> tuple[str | None, dict]:
        state = normalise_state(state)
        health.restore(state["health"])
        health.consecutive_failures += unsaved_failures
        kind = health.record(report.ok, at_once=blind)
        state["health"] = health.counters()
        return kind, state

    kind = update_document(store, RATE_LIMIT, record)
    health_saved()
    if kind is not None:
        # Announced through the outbox like any other event, after the save that records it.
        event = health_event(kind, report, blind=blind)
        decided.append(event)
        announcer.announce([event], now, report, held)
    announcer.daily_digest(report, decided, now)

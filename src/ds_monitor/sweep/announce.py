"""Telling people: silences and maintenance windows, the outbox, the outage inhibition and the
daily digest (spec sections 8 and 10); the notify step of a sweep.

Every event goes into each channel's outbox in the same locked save that marks it announced; the
sends happen after the sweep, from the outbox (:meth:`Announcer.deliver`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone

from ds_monitor import digest, maintenance, silences
from ds_monitor.config import Config
from ds_monitor.ds.models import Definition, Instance
from ds_monitor.errors import MonitorError, StateError
from ds_monitor.notify import Event, NotificationManager, NotificationResult
from ds_monitor.state import DIGEST, RATE_LIMIT, SILENCES, Store, update_document
from ds_monitor.sweep.report import NotificationRow, SilencedRow, SweepReport

log = logging.getLogger("ds_monitor.monitor")


class Announcer:
    """Puts a sweep's events through the silences into the outbox, and delivers the outbox.

    Remembers across sweeps what the silences' bookkeeping needs (the instances and fires the last
    sweep saw, the workflow names) and when the current outage began (for the inhibition).
    """

    def __init__(self, config: Config, store: Store, notifier: NotificationManager, *, dry_run: bool):
        self.config = config
        self.store = store
        self.notifier = notifier
        self.dry_run = dry_run
        self._seen_states: dict[int, str] = {}
        self._seen_fires: frozenset[tuple[int, datetime]] = frozenset()
        self._workflow_names: dict[int, str] = {}
        # The first failed sweep of the current streak: the start of an outage, for the inhibition.
        self._failing_since: datetime | None = None

    def saw(self, listed: Iterable[Instance], definitions: Mapping[int, Definition]) -> None:
        """What this sweep saw, for the silences' bookkeeping (muting starts after this)."""
        listed = list(listed)
        self._seen_states = {i.id: i.state for i in listed}
        self._seen_fires = frozenset(
            (i.definition_code, i.schedule_time.astimezone(timezone.utc)) for i in listed if i.schedule_time
        )
        self._workflow_names = {code: d.name for code, d in definitions.items()}

    def silences_in_force(self, now: datetime) -> list[silences.Silence]:
        """The silences of ``silence add`` and the active maintenance windows."""
        state = silences.merge(self.store.load(SILENCES), maintenance.active_silences(self.config.maintenance, now))
        return silences.load(state)

    def announce(
        self,
        events: list[Event],
        now: datetime,
        report: SweepReport,
        held: Iterable[silences.Silence] = (),
        *,
        mute: bool = True,
    ) -> None:
        """Mark ``events`` announced and put them in every channel's outbox, in one locked save.

        Silences apply first (unless ``mute`` is off), and ``held`` ones with them. With no channel
        enabled nothing is announced, so nothing may be marked announced or counted against the
        rate limit either: enabling a channel later must not silence incidents nobody was told about.
        """
        if mute:
            events = self._mute(events, now, report, list(held))
        if not events or not self.notifier.channels or self.dry_run:
            return

        def enqueue(state: dict) -> tuple[list[NotificationResult], dict]:
            results, warnings, state = self.notifier.enqueue(events, state, now)
            report.warnings.extend(warnings)
            return results, state

        results = update_document(self.store, RATE_LIMIT, enqueue)
        report.notifications.extend(_row(r) for r in results)

    def deliver(self, now: datetime, report: SweepReport) -> StateError | None:
        """Send what the outboxes owe; the error to fail the sweep with when a delivery could not be recorded."""
        if not self.notifier.channels or self.dry_run:
            return None
        delivery = self.notifier.deliver(_StateDocument(self.store, RATE_LIMIT), now)
        report.notifications.extend(_row(r) for r in delivery.results)
        return StateError("; ".join(delivery.errors)) if delivery.errors else None

    def inhibition(self, ok: bool, health_event: str | None, now: datetime) -> list[silences.Silence]:
        """When DS is back after ``monitor_unhealthy``, the silence that holds what the outage may explain."""
        if not ok:
            if self._failing_since is None:
                self._failing_since = now
            return []
        start, self._failing_since = self._failing_since, None
        if health_event != "monitor_recovered" or start is None:
            return []
        cfg = self.config.monitor
        hold = max(timedelta(minutes=cfg.missed_run_grace_minutes), timedelta(seconds=2 * cfg.check_interval))
        return [silences.inhibition(start, now, hold)]

    def daily_digest(self, report: SweepReport, decided: list[Event], now: datetime) -> None:
        """Tally the sweep for the daily digest and, once a day at ``notification.digest.at``, send it.

        The day is claimed in the state before the send, so a crash or a restart never sends two; the
        digest goes as its own message, past the silences and the rate limit.
        """
        settings = self.config.notification.digest
        if not settings.enabled or self.dry_run:
            return
        try:
            with self.store.locked():
                state = digest.record(self.store.load(DIGEST), report, decided, now)
                day = digest.due(state, settings, now) if self.notifier.channels else None
                if day is not None:
                    state = digest.claim(state, day)
                self.store.save(DIGEST, state)
        except MonitorError as err:
            report.warnings.append(f"daily digest not updated: {err}")
            log.error("daily digest not updated: %s", err)
            return
        if day is not None:
            log.info("sending the daily digest for %s", day)
            # Past the silences; the rate limit never holds a digest back.
            self.announce([digest.build(state, day, now)], now, report, mute=False)

    def _mute(
        self, events: list[Event], now: datetime, report: SweepReport, held: list[silences.Silence]
    ) -> list[Event]:
        """Hide what active silences cover and release the incidents of silences that ended.

        Read every sweep, so a silence added by ``silence add`` beside a running daemon counts from
        the next sweep on; an active maintenance window is written in as one more silence.
        Fail-loud: if the silences cannot be read, every event goes out.
        """
        try:
            with self.store.locked():
                state = self.store.load(SILENCES)
                muting = silences.apply(
                    events,
                    silences.merge(state, maintenance.active_silences(self.config.maintenance, now) + held),
                    now,
                    workflow_names=self._workflow_names,
                    instance_states=self._seen_states,
                    seen_fires=self._seen_fires,
                )
                if muting.state.get("silences") != state.get("silences", []):
                    self.store.save(SILENCES, muting.state)
        except MonitorError as err:
            report.warnings.append(f"silences not applied: {err}")
            log.error("silences not applied: %s", err)
            return events
        report.silenced.extend(SilencedRow(**row) for row in muting.silenced)
        for silence_id in muting.released:
            log.info("silence %s ended; the incidents it hid that are still open are announced now", silence_id)
        return muting.send


class _StateDocument:
    """One state file as the notifier's :class:`~ds_monitor.notify.manager.StateDocument`."""

    def __init__(self, store: Store, name: str):
        self._store = store
        self._name = name

    def update(self, change):
        return update_document(self._store, self._name, change)


def _row(result: NotificationResult) -> NotificationRow:
    return NotificationRow(result.channel, result.event, result.result)

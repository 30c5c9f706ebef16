"""The notification shell: from one sweep's events to one grouped message per channel.

The decisions are pure and live elsewhere (memory and product rate limit in
:mod:`~ds_monitor.notify.ratelimit`, robot pacing in :mod:`~ds_monitor.notify.transport`, wording
in :mod:`~ds_monitor.notify.builder`); this module wires them to the senders. Channels are sent
concurrently, so a slow or failing channel delays the others by nothing beyond its own timeout, and
a failed send is recorded and reported, never raised into the monitor's loop.

Transient failures (connection errors, timeouts, rate limits) are retried briefly inside the
dispatch and then carried in the state, to go out with the next dispatch's message on that channel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from ds_monitor.config import NotificationConfig
from ds_monitor.errors import NotifyError
from ds_monitor.notify.alertmanager import AlertmanagerSender
from ds_monitor.notify.builder import Digest, build_digest, build_test_digest
from ds_monitor.notify.dingtalk import DingTalkSender
from ds_monitor.notify.events import Event
from ds_monitor.notify.feishu import FeishuSender
from ds_monitor.notify.generic import GenericWebhookSender
from ds_monitor.notify.mail import EmailSender
from ds_monitor.notify.ratelimit import Admission, admit
from ds_monitor.notify.routes import channels_for, declared_channels
from ds_monitor.notify.slack import SlackSender
from ds_monitor.notify.transport import TransportLimiter, TransportLimits
from ds_monitor.notify.webhook import redact
from ds_monitor.notify.wecom import WeComSender
from ds_monitor.timestamps import parse_stamp

log = logging.getLogger("ds_monitor.notify")

# Waits shorter than this are slept through; longer ones defer the message to the next dispatch.
MAX_PACING_SECONDS = 5.0
RETRY_BACKOFF_SECONDS = (0.5, 1.5)
# Carried events per channel; beyond that the oldest are dropped (an outage must not grow the state).
MAX_PENDING_PER_CHANNEL = 200
_TRANSIENT_CODES = frozenset({"timeout", "deferred"})


class Sender(Protocol):
    """What the manager needs from a channel sender."""

    name: str
    destination: str
    limits: TransportLimits | None

    def send(self, digest: Digest) -> str: ...


@dataclass(frozen=True)
class NotificationResult:
    """One event's fate on one channel, as the sweep report shows it."""

    channel: str
    event: str
    result: str  # "sent" | "suppressed" | "failed"
    incident_key: str = ""
    detail: str = ""


@dataclass(frozen=True)
class _Outcome:
    detail: str = ""
    error: NotifyError | None = None
    attempts: int = 0


@dataclass
class _Owed:
    """An admitted event some channels still have to deliver; persisted in the state's ``pending``."""

    event: Event
    since: datetime
    # Messages of the event's rate key suppressed before it, told once, with the first event of its key.
    suppressed_before: int = 0
    channels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Plan:
    """One channel's share of a dispatch: what it owes, and how long its robot asks us to wait."""

    sender: Sender
    owed: list[_Owed]
    wait: float


_SENDER_CLASSES = {
    "dingtalk": DingTalkSender,
    "wework": WeComSender,
    "email": EmailSender,
    "webhook": GenericWebhookSender,
    "slack": SlackSender,
    "feishu": FeishuSender,
    "alertmanager": AlertmanagerSender,
}


def build_senders(config: NotificationConfig) -> list[Sender]:
    """One sender per enabled channel, named entries included, in the order of ``declared_channels``."""
    configs = {kind: getattr(config, kind) for kind in _SENDER_CLASSES}
    configs.update({instance.name: instance.config for instance in config.instances})
    senders: list[Sender] = []
    for name, (kind, enabled) in declared_channels(config).items():
        if enabled:
            sender = _SENDER_CLASSES[kind](configs[name])
            # The channel's name in results, outboxes and routes; its kind stays the class's.
            sender.name = name
            senders.append(sender)
    return senders


class NotificationManager:
    """Deduplicates, rate-limits, groups and sends one dispatch's events to every enabled channel."""

    def __init__(
        self,
        config: NotificationConfig,
        *,
        senders: list | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._config = config
        self._senders: list[Sender] = build_senders(config) if senders is None else list(senders)
        self._sleep = sleep

    @property
    def channels(self) -> list[str]:
        """The names of the channels this manager sends to."""
        return [sender.name for sender in self._senders]

    def _channel_kinds(self) -> dict[str, str]:
        """Each sender's channel name -> its section, for the routes (a test's sender is its own section)."""
        declared = declared_channels(self._config)
        return {sender.name: declared.get(sender.name, (sender.name, True))[0] for sender in self._senders}

    def dispatch(
        self, events: list[Event], state: dict, now: datetime, *, dry_run: bool = False
    ) -> tuple[list[NotificationResult], dict]:
        """Announce ``events``; returns one result per (channel, event) and the new state dict.

        ``state`` is the content of ``notification_rate_limit.json`` (``{}`` at first). A dry run
        sends nothing, reports nothing and leaves the state as it was.
        """
        if dry_run:
            return [], state
        admission, state = admit(events, state, now, self._config.rate_limit)
        carried = _load_pending(state["pending"], now - timedelta(hours=self._config.rate_limit.window_hours))
        fresh = _fresh_owed(admission, now)
        limiter = TransportLimiter(state["transport"])

        channels, table = self._channel_kinds(), self._config.routes
        syncs = [sender for sender in self._senders if _keeps_state(sender)]
        results = [
            NotificationResult(name, event.kind, "suppressed", event.incident_key, f"rate limit for {event.rate_key}")
            for event in admission.suppressed
            for name in channels_for(event, table, channels)
            if name not in {sync.name for sync in syncs}
        ]
        routed = {item.event.announcement_key: channels_for(item.event, table, channels) for item in fresh}
        plans = []
        for sender in self._senders:
            if _keeps_state(sender):
                continue
            owed = [item for item in carried if sender.name in item.channels]
            owed += [item for item in fresh if sender.name in routed[item.event.announcement_key]]
            if owed:
                wait = limiter.wait_seconds(sender.destination, sender.limits, now) if sender.limits else 0.0
                plans.append(_Plan(sender, owed, wait))
        # What the state-keeping channels (Alertmanager) hear: every fresh event, suppressed ones too,
        # since a suppressed recovery still resolves its alert.
        new = {e.announcement_key for e in admission.admitted} | {e.announcement_key for e in admission.suppressed}
        fresh_events = [event for event in events if event.announcement_key in new]
        memories = state.setdefault("alertmanager", {})
        with ThreadPoolExecutor(max_workers=max(1, len(syncs))) as pool:
            syncing = {
                sync.name: pool.submit(
                    _sync,
                    sync,
                    [event for event in fresh_events if sync.name in channels_for(event, table, channels)],
                    memories.get(sync.name),
                    now,
                    timedelta(hours=self._config.rate_limit.window_hours),
                )
                for sync in syncs
            }
            outcomes = self._run([plan for plan in plans if plan.wait <= MAX_PACING_SECONDS], now)
        for name, future in syncing.items():
            memories[name], rows = future.result()
            results.extend(rows)

        still_owed = {item.event.announcement_key: replace(item, channels=[]) for item in carried + fresh}
        for plan in plans:
            outcome = outcomes.get(id(plan)) or _deferred(plan, now)
            if plan.sender.limits and outcome.attempts:
                sent_at = now + timedelta(seconds=plan.wait)
                for _ in range(outcome.attempts):
                    limiter.record_send(plan.sender.destination, plan.sender.limits, sent_at)
                if outcome.error is not None:
                    limiter.record_refusal(
                        plan.sender.destination, outcome.error.code, plan.sender.limits, now
                    )
            results.extend(_report(plan, outcome))
            if outcome.error is not None and _transient(outcome.error, plan.sender):
                for item in plan.owed:
                    still_owed[item.event.announcement_key].channels.append(plan.sender.name)

        state["pending"] = _dump_pending(still_owed.values())
        state["transport"] = limiter.to_dict(now)
        return results, state

    def _run(self, plans: list[_Plan], now: datetime) -> dict[int, _Outcome]:
        """Send every plan's digest, one thread per channel; outcomes by ``id(plan)``."""
        if not plans:
            return {}
        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            futures = {
                id(plan): pool.submit(
                    _deliver, plan.sender, _digest(plan.owed, now), sleep=self._sleep, pace=plan.wait
                )
                for plan in plans
            }
            return {key: future.result() for key, future in futures.items()}


def _keeps_state(sender: Sender) -> bool:
    """A channel that mirrors the open incidents (Alertmanager) instead of sending messages."""
    return callable(getattr(sender, "sync", None))


def _sync(
    sender, events: list[Event], memory: dict | None, now: datetime, forget_after: timedelta
) -> tuple[dict | None, list[NotificationResult]]:
    """One state-keeping channel's turn: (its new memory, a result row per event it heard); never raises."""
    try:
        memory, error = sender.sync(events, memory, now, forget_after)
    except Exception as err:  # a sender bug must not take the monitor's loop down
        log.exception("notification via %s crashed", sender.name)
        error = NotifyError(
            f"{sender.name}: unexpected {type(err).__name__}: {redact(str(err))}", retryable=False, code="bug"
        )
    result, detail = ("sent", "") if error is None else ("failed", str(error))
    return memory, [NotificationResult(sender.name, e.kind, result, e.incident_key, detail) for e in events]


def _report(plan: _Plan, outcome: _Outcome) -> list[NotificationResult]:
    name, events = plan.sender.name, [item.event for item in plan.owed]
    if outcome.error is None:
        log.info(
            "notification sent via %s: %d event(s)%s",
            name,
            len(events),
            f" ({outcome.detail})" if outcome.detail else "",
        )
        return [NotificationResult(name, e.kind, "sent", e.incident_key, outcome.detail) for e in events]
    log.warning("notification via %s failed: %s", name, outcome.error)
    return [NotificationResult(name, e.kind, "failed", e.incident_key, str(outcome.error)) for e in events]


def _digest(owed: list[_Owed], now: datetime) -> Digest:
    suppressed: dict[str, int] = {}
    for item in owed:
        if item.suppressed_before:
            key = item.event.rate_key
            suppressed[key] = suppressed.get(key, 0) + item.suppressed_before
    return build_digest([item.event for item in owed], suppressed, now)


def _deferred(plan: _Plan, now: datetime) -> _Outcome:
    until = (now + timedelta(seconds=plan.wait)).isoformat(timespec="seconds")
    message = (
        f"{plan.sender.name}: deferred to a later dispatch: the robot's rate limit allows the next "
        f"message at {until}"
    )
    return _Outcome(error=NotifyError(message, retryable=False, code="deferred"))


def _fresh_owed(admission: Admission, now: datetime) -> list[_Owed]:
    told: set[str] = set()
    owed = []
    for event in admission.admitted:
        first_of_key = event.rate_key not in told
        told.add(event.rate_key)
        count = admission.suppressed_before.get(event.rate_key, 0) if first_of_key else 0
        owed.append(_Owed(event, now, count))
    return owed


def send_test_messages(
    config: NotificationConfig, now: datetime, *, senders: Sequence[Sender] | None = None
) -> list[tuple[str, bool, str]]:
    """``notify test``: one test message per enabled channel; (channel, ok, "sent" or the exact error)."""
    senders = build_senders(config) if senders is None else list(senders)
    digest = build_test_digest(now)
    with ThreadPoolExecutor(max_workers=max(1, len(senders))) as pool:
        outcomes = list(pool.map(lambda sender: _deliver(sender, digest, sleep=time.sleep), senders))
    return [
        (sender.name, outcome.error is None, "sent" if outcome.error is None else str(outcome.error))
        for sender, outcome in zip(senders, outcomes, strict=True)
    ]


def _deliver(
    sender: Sender, digest: Digest, *, sleep: Callable[[float], None], pace: float = 0.0
) -> _Outcome:
    """Send one digest, retrying retryable failures after a short backoff; never raises."""
    if pace > 0:
        sleep(pace)
    attempts = 0
    while True:
        attempts += 1
        try:
            return _Outcome(detail=sender.send(digest), attempts=attempts)
        except NotifyError as err:
            if not err.retryable or attempts > len(RETRY_BACKOFF_SECONDS):
                return _Outcome(error=err, attempts=attempts)
            delay = RETRY_BACKOFF_SECONDS[attempts - 1]
            log.info("notification via %s failed, retrying in %g s: %s", sender.name, delay, err)
            sleep(delay)
        except Exception as err:  # a sender bug must not take the monitor's loop down
            log.exception("notification via %s crashed", sender.name)
            error = NotifyError(
                f"{sender.name}: unexpected {type(err).__name__}: {redact(str(err))}",
                retryable=False,
                code="bug",
            )
            return _Outcome(error=error, attempts=attempts)


def _transient(error: NotifyError, sender: Sender) -> bool:
    """Worth carrying to the next dispatch: the same message may well go through later."""
    if error.retryable or error.code in _TRANSIENT_CODES:
        return True
    if isinstance(error.code, int):
        rate_limited = sender.limits is not None and error.code in sender.limits.block_seconds
        return rate_limited or 300 <= error.code < 400
    return False


def _load_pending(raw: object, oldest: datetime) -> list[_Owed]:
    """Carried items younger than ``oldest`` (the rate window); unreadable items are dropped."""
    items = []
    for entry in raw if isinstance(raw, list) else []:
        try:
            since = parse_stamp(entry["since"])
            item = _Owed(
                Event.from_dict(entry["event"]),
                since,
                int(entry.get("suppressed_before", 0)),
                [str(c) for c in entry["channels"]],
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if since is not None and since > oldest and item.channels:
            items.append(item)
    return items


def _dump_pending(items) -> list[dict]:
    """The newest carried items, at most MAX_PENDING_PER_CHANNEL per channel, oldest first."""
    per_channel: dict[str, int] = {}
    out = []
    for item in sorted((i for i in items if i.channels), key=lambda i: i.since, reverse=True):
        channels = [c for c in item.channels if per_channel.get(c, 0) < MAX_PENDING_PER_CHANNEL]
        for channel in channels:
            per_channel[channel] = per_channel.get(channel, 0) + 1
        if channels:
            out.append(
                {
                    "event": item.event.to_dict(),
                    "channels": channels,
                    "since": item.since.isoformat(),
                    "suppressed_before": item.suppressed_before,
                }
            )
    out.reverse()
    return out

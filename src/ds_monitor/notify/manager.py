"""The notification shell: from one sweep's events to one grouped message per channel.

The decisions are pure and live elsewhere (memory and product rate limit in
:mod:`~ds_monitor.notify.ratelimit`, the per-channel outbox in :mod:`~ds_monitor.notify.outbox`,
robot pacing in :mod:`~ds_monitor.notify.pacer`, wording in :mod:`~ds_monitor.notify.builder`);
this module wires them to the senders in two steps (spec section 8, delivery guarantee):

1. :meth:`NotificationManager.enqueue`, inside the caller's locked save: drop what was announced,
   apply the rate limit, put the admitted events in every channel's outbox and mark them announced,
   all in the one document the caller then saves. Nothing is sent yet.
2. :meth:`NotificationManager.deliver`, after that save: claim each channel's owed items under the
   lock, send every channel concurrently without the lock (``status`` and ``check`` never wait on a
   slow SMTP server), and record each channel's answer under the lock right after that answer.

Transient failures (connection errors, timeouts, rate limits, a proxy's HTML page) are retried
briefly inside the send when the message cannot have gone out, then stay owed for the next
delivery; items left out of a message to fit a channel's size limit stay owed too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from ds_monitor.config import NotificationConfig
from ds_monitor.errors import MonitorError, NotifyError
from ds_monitor.notify import outbox
from ds_monitor.notify.alertmanager import AlertmanagerSender
from ds_monitor.notify.builder import Digest, Sent, build_digest, build_test_digest
from ds_monitor.notify.dingtalk import DingTalkSender
from ds_monitor.notify.events import Event
from ds_monitor.notify.feishu import FeishuSender
from ds_monitor.notify.generic import GenericWebhookSender
from ds_monitor.notify.mail import EmailSender
from ds_monitor.notify.outbox import OutboxItem
from ds_monitor.notify.pacer import PaceLimits, Pacer
from ds_monitor.notify.ratelimit import RETENTION_PAST_WINDOW, Admission, admit, normalise_state
from ds_monitor.notify.routes import channels_for, declared_channels
from ds_monitor.notify.slack import SlackSender
from ds_monitor.notify.wecom import WeComSender
from ds_monitor.redaction import redact

log = logging.getLogger("ds_monitor.notify")

# Waits shorter than this are slept through; longer ones leave the items owed for a later delivery.
MAX_PACING_SECONDS = 5.0
RETRY_BACKOFF_SECONDS = (0.5, 1.5)
# Failures after which the message may have been delivered: never retried at once, owed for later
# (at-least-once: a repeat is possible, a loss is not).
_MAYBE_DELIVERED_CODES = frozenset({"timeout", "no_answer"})

T = TypeVar("T")


class Sender(Protocol):
    """What the manager needs from a channel sender.

    ``send`` returns a :class:`Sent` (or a plain note when the sender never leaves items out) and
    raises :class:`NotifyError` when the channel did not take the message.
    """

    name: str
    destination: str
    limits: PaceLimits | None

    def send(self, digest: Digest) -> Sent | str: ...


class StateDocument(Protocol):
    """The notification state document under the state lock.

    ``update(change)`` takes the lock, loads the document, calls ``change(document)`` which returns
    ``(result, new document)``, saves the new document and returns ``result``; it raises
    :class:`MonitorError` when the lock or the save fails.
    """

    def update(self, change: Callable[[dict], tuple[T, dict]]) -> T: ...


@dataclass(frozen=True)
class NotificationResult:
    """One event's fate on one channel, as the sweep report shows it."""

    channel: str
    event: str
    result: str  # "sent" | "suppressed" | "failed"
    incident_key: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Delivery:
    """What one :meth:`NotificationManager.deliver` did: a row per (channel, event) and the errors
    that kept an answer from being recorded (a failed save: the sweep failed)."""

    results: list[NotificationResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Outcome:
    sent: Sent | None = None
    error: NotifyError | None = None
    attempts: int = 0
    memory: dict | None = None  # a state-keeping channel's new memory


@dataclass(frozen=True)
class _Plan:
    """One channel's share of a delivery: the items it claimed, and how long its robot asks us to wait."""

    sender: Sender
    items: list[OutboxItem]
    wait: float
    memory: dict | None = None  # a state-keeping channel's memory when claimed


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
    """Deduplicates, rate-limits and queues events; delivers each channel's outbox."""

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
        # Answers a channel gave whose recording failed (the save raised): applied before the next
        # claim, so a sent message never looks unsent to this process. (channel -> (keys, refusal))
        self._unrecorded: dict[str, list[tuple[list[str], str | None]]] = {}

    @property
    def channels(self) -> list[str]:
        """The names of the channels this manager sends to."""
        return [sender.name for sender in self._senders]

    def _channel_kinds(self) -> dict[str, str]:
        """Each sender's channel name -> its section, for the routes (a test's sender is its own section)."""
        declared = declared_channels(self._config)
        return {sender.name: declared.get(sender.name, (sender.name, True))[0] for sender in self._senders}

    def enqueue(
        self, events: list[Event], state: dict, now: datetime
    ) -> tuple[list[NotificationResult], list[str], dict]:
        """Admit ``events`` and put them in every channel's outbox; returns (rows for the suppressed
        events, warnings, the new state). The caller saves the state under its lock, then delivers.

        ``state`` is the content of ``notification_rate_limit.json`` (``{}`` at first).
        """
        admission, state = admit(events, state, now, self._config.rate_limit)
        channels, table = self._channel_kinds(), self._config.routes
        syncs = {sender.name for sender in self._senders if _keeps_state(sender)}
        results = [
            NotificationResult(name, event.kind, "suppressed", event.incident_key, f"rate limit for {event.rate_key}")
            for event in admission.suppressed
            for name in channels_for(event, table, channels)
            if name not in syncs
        ]
        items = _items(admission, now)
        # A state-keeping channel (Alertmanager) hears suppressed events too: a suppressed recovery
        # still resolves its alert.
        heard = items + [OutboxItem(event.announcement_key, event, now) for event in admission.suppressed]
        routed = {item.key: channels_for(item.event, table, channels) for item in heard}
        warnings = []
        for name in self.channels:
            share = heard if name in syncs else items
            warnings += outbox.put(state, name, [item for item in share if name in routed[item.key]])
        return results, warnings, state

    def deliver(self, document: StateDocument, now: datetime) -> Delivery:
        """Send what every channel owes, one thread per channel; never raises for a channel or a save."""
        delivery = Delivery()
        try:
            plans = document.update(lambda state: self._claim(state, now, delivery.results))
        except MonitorError as err:
            delivery.errors.append(f"notifications not sent: {err}")
            log.error("notifications not sent: %s", err)
            return delivery
        if not plans:
            return delivery

        forget_after = timedelta(hours=self._config.rate_limit.window_hours)

        def run(plan: _Plan) -> tuple[_Outcome, str | None]:
            if _keeps_state(plan.sender):
                outcome = _sync(plan.sender, [item.event for item in plan.items], plan.memory, now, forget_after)
            else:
                outcome = _deliver(plan.sender, _digest(plan.items, now), sleep=self._sleep, pace=plan.wait)
            try:
                # Right after this channel's own answer: a crash later repeats nothing of it.
                document.update(lambda state: (None, self._record(state, plan, outcome, now)))
            except MonitorError as err:
                return outcome, str(err)
            return outcome, None

        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            answers = list(pool.map(run, plans))
        for plan, (outcome, error) in zip(plans, answers, strict=True):
            delivery.results.extend(_report(plan, outcome))
            if error is not None:
                name = plan.sender.name
                self._unrecorded.setdefault(name, []).append(_settlement(plan, outcome))
                message = f"the answer of {name} could not be recorded: {error}"
                log.error("%s", message)
                delivery.errors.append(message)
        return delivery

    def _claim(self, state: dict, now: datetime, results: list[NotificationResult]) -> tuple[list[_Plan], dict]:
        state = normalise_state(state)
        for name, settlements in self._unrecorded.items():
            for keys, refusal in settlements:
                outbox.settle(state, name, keys, refused=refusal, now=now)
        self._unrecorded = {}
        horizon = now - timedelta(hours=self._config.rate_limit.window_hours) - RETENTION_PAST_WINDOW
        outbox.prune(state, horizon)
        pacer = Pacer(state["transport"])
        memories = state["alertmanager"]
        plans = []
        for sender in self._senders:
            items = outbox.owed(state, sender.name)
            syncing = _keeps_state(sender)
            if not items and not syncing:  # a state-keeping channel also re-posts what is still open
                continue
            other = outbox.claimed_by_other(state, sender.name, now)
            if other is not None:
                log.info("%s: %d item(s) left to %s, which is sending to it now", sender.name, len(items), other)
                continue
            if syncing:
                outbox.claim(state, sender.name, [item.key for item in items], now)
                plans.append(_Plan(sender, items, 0.0, memory=memories.get(sender.name)))
                continue
            wait = pacer.wait_seconds(sender.destination, sender.limits, now) if sender.limits else 0.0
            if wait > MAX_PACING_SECONDS:
                results.extend(_deferred(sender, items, now, wait))
                continue
            outbox.claim(state, sender.name, [item.key for item in items], now)
            plans.append(_Plan(sender, items, wait))
        return plans, state

    def _record(self, state: dict, plan: _Plan, outcome: _Outcome, now: datetime) -> dict:
        """The state after ``plan``'s channel answered: delivered or refused items leave its outbox."""
        state = normalise_state(state)
        sender = plan.sender
        if sender.limits and outcome.attempts:
            pacer = Pacer(state["transport"])
            sent_at = now + timedelta(seconds=plan.wait)
            for _ in range(outcome.attempts):
                pacer.record_send(sender.destination, sender.limits, sent_at)
            if outcome.error is not None:
                pacer.record_refusal(sender.destination, outcome.error.code, sender.limits, now)
            state["transport"] = pacer.to_dict(now)
        if _keeps_state(sender):
            # The memory now holds the events, and it posts again while anything is due.
            state["alertmanager"][sender.name] = outcome.memory
            outbox.settle(state, sender.name, [item.key for item in plan.items], now=now)
            return state
        keys, refusal = _settlement(plan, outcome)
        outbox.settle(state, sender.name, keys, refused=refusal, now=now)
        return state


def _keeps_state(sender: Sender) -> bool:
    """A channel that mirrors the open incidents (Alertmanager) instead of sending messages."""
    return callable(getattr(sender, "sync", None))


def _sync(sender, events: list[Event], memory: dict | None, now: datetime, forget_after: timedelta) -> _Outcome:
    """One state-keeping channel's turn: its new memory and the failure, if any; never raises."""
    try:
        memory, error = sender.sync(events, memory, now, forget_after)
    except Exception as err:  # a sender bug must not take the monitor's loop down
        log.exception("notification via %s crashed", sender.name)
        error = NotifyError(
            f"{sender.name}: unexpected {type(err).__name__}: {redact(str(err))}", retryable=False, code="bug"
        )
    return _Outcome(error=error, memory=memory, sent=Sent() if error is None else None)


def _settlement(plan: _Plan, outcome: _Outcome) -> tuple[list[str], str | None]:
    """(keys that leave the outbox, the refusal to record or None) for one channel's answer."""
    if outcome.error is None:
        return [item.key for item in _delivered(plan, outcome)], None
    if _transient(outcome.error, plan.sender):
        return [], None
    return [item.key for item in plan.items], str(outcome.error)


def _delivered(plan: _Plan, outcome: _Outcome) -> list[OutboxItem]:
    """The items that went out: the digest lists them in order and a size limit cuts from the end."""
    omitted = outcome.sent.omitted if outcome.sent else 0
    return plan.items[: len(plan.items) - omitted]


def _report(plan: _Plan, outcome: _Outcome) -> list[NotificationResult]:
    name = plan.sender.name
    if _keeps_state(plan.sender):
        result, detail = ("sent", "") if outcome.error is None else ("failed", str(outcome.error))
        return [NotificationResult(name, i.event.kind, result, i.event.incident_key, detail) for i in plan.items]
    if outcome.error is None:
        went = _delivered(plan, outcome)
        note = outcome.sent.note if outcome.sent else ""
        log.info("notification sent via %s: %d event(s)%s", name, len(went), f" ({note})" if note else "")
        rows = [NotificationResult(name, i.event.kind, "sent", i.event.incident_key, note) for i in went]
        owed = "left out to fit the channel's size limit; still owed, goes with the next message"
        rows += [
            NotificationResult(name, i.event.kind, "failed", i.event.incident_key, owed)
            for i in plan.items[len(went):]
        ]
        return rows
    kept = " (still owed, tried again next sweep)" if _transient(outcome.error, plan.sender) else ""
    log.warning("notification via %s failed: %s%s", name, outcome.error, kept)
    return [
        NotificationResult(name, i.event.kind, "failed", i.event.incident_key, f"{outcome.error}{kept}")
        for i in plan.items
    ]


def _digest(items: list[OutboxItem], now: datetime) -> Digest:
    suppressed: dict[str, int] = {}
    for item in items:
        if item.suppressed_before:
            key = item.event.rate_key
            suppressed[key] = suppressed.get(key, 0) + item.suppressed_before
    return build_digest([item.event for item in items], suppressed, now)


def _deferred(sender: Sender, items: list[OutboxItem], now: datetime, wait: float) -> list[NotificationResult]:
    until = (now + timedelta(seconds=wait)).isoformat(timespec="seconds")
    detail = (
        f"{sender.name}: deferred to a later dispatch: the robot's rate limit allows the next "
        f"message at {until}"
    )
    log.info("%s", detail)
    return [NotificationResult(sender.name, i.event.kind, "failed", i.event.incident_key, detail) for i in items]


def _items(admission: Admission, now: datetime) -> list[OutboxItem]:
    told: set[str] = set()
    items = []
    for event in admission.admitted:
        first_of_key = event.rate_key not in told
        told.add(event.rate_key)
        count = admission.suppressed_before.get(event.rate_key, 0) if first_of_key else 0
        items.append(OutboxItem(event.announcement_key, event, now, count))
    return items


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
            answer = sender.send(digest)
            sent = answer if isinstance(answer, Sent) else Sent(note=answer or "")
            return _Outcome(sent=sent, attempts=attempts)
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
    """Worth keeping owed for the next delivery: the same message may well go through later."""
    if error.retryable or error.code in _MAYBE_DELIVERED_CODES:
        return True
    if isinstance(error.code, int):
        rate_limited = sender.limits is not None and error.code in sender.limits.block_seconds
        return rate_limited or 300 <= error.code < 400
    return False

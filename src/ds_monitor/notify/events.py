"""What the monitor tells the notification layer: one :class:`Event` per thing worth announcing.

An event names its incident with a stable key, so a follow-up (the second recovery attempt, the
recovery's success) is recognisable as the same incident, and so the same announcement is never
made twice, across sweeps and restarts (spec section 8).

An event carries facts, never sentences: why it happened is a reason code and typed fields, and
the message builder (:func:`ds_monitor.notify.builder.describe`) alone words them. Text fields hold
data shown as is: a DS error, an operator's silence reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta

from ds_monitor.timestamps import read_stamp

EVENT_KINDS = (
    "failure_detected",
    "threshold_exceeded",
    "recovery_triggered",
    "recovery_succeeded",
    "recovery_failed",
    "recovery_exhausted",
    "recovery_withheld",
    "missed_run",
    "stuck_running",
    "project_unreadable",
    "project_readable",
    "monitor_unhealthy",
    "monitor_recovered",
    "digest",
)
NEVER_SUPPRESSED = {"recovery_exhausted", "monitor_unhealthy", "monitor_recovered", "digest"}
# The daily digest: one incident per day (its ``fire_time``), rate-limited by nothing.
DIGEST_KIND = "digest"
# Events about the monitor itself: rate-limited and keyed "per monitor", not per workflow definition.
MONITOR_KINDS = frozenset({"monitor_unhealthy", "monitor_recovered"})
MONITOR_KEY = "monitor"
# Events about one project as a whole (its listings cannot be read): keyed per project, rate-limited
# with the monitor's own events (spec section 3).
PROJECT_KINDS = frozenset({"project_unreadable", "project_readable"})

# Why a recovery is withheld (recovery_withheld's ``reason``): the policy rule's ``recover`` mode,
# as spelt in the configuration (recovery.policy.NEVER, TRANSIENT_ONLY).
WITHHELD_NEVER = "never"
WITHHELD_TRANSIENT_ONLY = "transient"

_DATETIME_FIELDS = ("start_time", "end_time", "fire_time", "next_fire", "called_at", "silence_end")


@dataclass(frozen=True)
class DailyFigures:
    """The daily digest's figures (spec section 10): the 24 hours up to the event's ``fire_time``."""

    day: str  # the local date the digest is for
    since: datetime
    failures: int  # failed incidents (definition and instance) first seen in the 24 hours
    workflows: int  # the workflows they belong to
    triggered: int  # recoveries triggered
    succeeded: int  # recoveries that ended in success
    failed: int  # recoveries that ended in failure
    flakiest: tuple[tuple[str, int], ...]  # ("project/workflow", failures) over 7 days, most first
    missed: int
    stuck: int
    suppressed: int  # messages the rate limit held back
    silenced: int
    ds_calls: int

    def to_dict(self) -> dict:
        return {**asdict(self), "since": self.since.isoformat(), "flakiest": [list(f) for f in self.flakiest]}

    @classmethod
    def from_dict(cls, data: dict) -> DailyFigures:
        values = {f.name: data[f.name] for f in fields(cls)}
        values["since"] = read_stamp(values["since"])
        values["flakiest"] = tuple((str(name), int(count)) for name, count in values["flakiest"])
        return cls(**values)


@dataclass(frozen=True)
class Event:
    """One announcement-worthy fact about a workflow (or about the monitor), as the monitor saw it."""

    kind: str
    project_code: int = 0
    project_name: str = ""
    definition_code: int | None = None
    definition_name: str = ""
    instance_id: int | None = None
    instance_name: str = ""
    state: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    fire_time: datetime | None = None
    attempt: int | None = None
    max_attempts: int | None = None
    failures: int | None = None
    ds_error: str = ""
    ui_url: str = ""
    # Why, as facts for the builder to word (each used by the kinds named):
    # threshold_exceeded: the failure window; stuck_running: the execution window it ran past.
    window: timedelta | None = None
    # stuck_running: the next scheduled fire that arrived while it still ran.
    next_fire: datetime | None = None
    # monitor_unhealthy: the failed sweeps in a row (None: announced at once, no retry can mend it),
    # the short reason ("DS unreachable") and the sweep's error; project_unreadable: the read error.
    failed_sweeps: int | None = None
    error_reason: str = ""
    error: str = ""
    # recovery_triggered: the recover call that had no answer, which DS has now taken up.
    called_at: datetime | None = None
    # recovery_withheld: the rule's mode (WITHHELD_*), its pattern, and the log line that decided
    # the failure class (the class itself is ``failure_class``, "unknown" when empty).
    reason: str = ""
    policy: str = ""
    evidence: str = ""
    # The silence that held the event back until it ended (the event is late because of it);
    # the reason is the operator's text.
    silence_id: str = ""
    silence_reason: str = ""
    silence_end: datetime | None = None
    # The whole sentence, as an older version worded it before saving the event in the outbox
    # or a silence; shown as is. Events made now leave it empty.
    detail: str = ""
    # digest: the figures.
    figures: DailyFigures | None = None
    # The digest's figures as an older version worded them, (label, value) lines shown as is.
    facts: tuple[tuple[str, str], ...] = ()
    # Why it failed (spec section 9): the failure class, the log line that decided it, and one
    # mapping per failed task (name, type, host, retries, max_retries, duration_seconds,
    # log_excerpt, ui_url), as ds_monitor.tasks.FailedTask.message_fields gives them.
    failure_class: str = ""
    failure_line: str = ""
    failed_tasks: tuple[dict, ...] = field(default=(), hash=False)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; expected one of {', '.join(EVENT_KINDS)}")
        for name in _DATETIME_FIELDS:
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"Event.{name} must be timezone-aware, got {value!r}")

    @property
    def incident_key(self) -> str:
        """The incident this event belongs to; every follow-up of that incident carries the same key.

        ``"<def>:<inst>"`` for an instance, ``"<def>@<fire time>"`` for a missed run, ``"<def>"`` for a
        definition-wide fact (threshold), ``"project:<code>"`` for a project that cannot be read,
        ``"monitor"`` for the monitor's own health.
        """
        if self.kind in MONITOR_KINDS:
            return MONITOR_KEY
        if self.kind in PROJECT_KINDS:
            return f"project:{self.project_code}"
        if self.kind == DIGEST_KIND:
            return f"digest@{self.fire_time.isoformat() if self.fire_time else ''}"
        definition = str(self.definition_code)
        if self.instance_id is not None:
            return f"{definition}:{self.instance_id}"
        if self.fire_time is not None:
            return f"{definition}@{self.fire_time.isoformat()}"
        return definition

    @property
    def rate_key(self) -> str:
        """The product rate limit's bucket: one per workflow definition, one for the monitor itself."""
        if self.kind in MONITOR_KINDS or self.kind in PROJECT_KINDS:
            return MONITOR_KEY
        if self.kind == DIGEST_KIND:
            return DIGEST_KIND
        return f"def:{self.definition_code}"

    @property
    def announcement_key(self) -> str:
        """What "announced once" means: the incident, the kind, and the attempt number if any."""
        key = f"{self.incident_key}|{self.kind}"
        return key if self.attempt is None else f"{key}#{self.attempt}"

    def to_dict(self) -> dict:
        """A JSON-ready copy (datetimes as ISO-8601 with offset), for events carried in the state."""
        data = asdict(self)
        for name in _DATETIME_FIELDS:
            if data[name] is not None:
                data[name] = data[name].isoformat()
        if self.window is not None:
            data["window"] = self.window.total_seconds()
        if self.figures is not None:
            data["figures"] = self.figures.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Event:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older state files still load."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in _DATETIME_FIELDS:
            if values.get(name) is not None:
                values[name] = read_stamp(values[name])
        if values.get("window") is not None:
            values["window"] = timedelta(seconds=values["window"])
        if values.get("figures") is not None:
            values["figures"] = DailyFigures.from_dict(values["figures"])
        values["facts"] = tuple((str(label), str(value)) for label, value in values.get("facts") or ())
        values["failed_tasks"] = tuple(values.get("failed_tasks") or ())
        return cls(**values)

"""What the monitor tells the notification layer: one :class:`Event` per thing worth announcing.

An event names its incident with a stable key, so a follow-up (the second recovery attempt, the
recovery's success) is recognisable as the same incident, and so the same announcement is never
made twice, across sweeps and restarts (spec section 8).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime

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

_DATETIME_FIELDS = ("start_time", "end_time", "fire_time")


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
    detail: str = ""
    # Extra (label, value) lines, for the digest's figures.
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
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Event:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older state files still load."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in _DATETIME_FIELDS:
            if values.get(name) is not None:
                values[name] = read_stamp(values[name])
        values["facts"] = tuple((str(label), str(value)) for label, value in values.get("facts") or ())
        values["failed_tasks"] = tuple(values.get("failed_tasks") or ())
        return cls(**values)

"""What one sweep saw and did: the typed sweep report and its rows (spec section 6).

Each list of the report holds rows of one type; :meth:`SweepReport.to_dict` is the report JSON
(``check --json``), with datetimes as ISO 8601 strings and a field renamed where Python's grammar
forbids the spec's name (``class``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime

from ds_monitor.tasks import FailedTask


@dataclass(frozen=True)
class FailedInstanceRow:
    project_code: int
    definition_code: int
    instance_id: int
    name: str
    state: str
    start_time: datetime | None


@dataclass(frozen=True)
class ThresholdRow:
    """A definition over ``max_failures_for_recovery``: systemic, announced, not recovered."""

    project_code: int
    definition_code: int
    failures: int


@dataclass(frozen=True)
class RecoveryRow:
    instance_id: int
    attempt: int
    result: str
    detail: str


@dataclass(frozen=True)
class FailedTaskRow:
    """A failed task as the report shows it: the task's own fields, in the spec's order, and its instance."""

    instance_id: int
    task_id: int
    name: str
    type: str
    state: str
    host: str
    retries: int
    max_retries: int
    duration_seconds: int | None
    klass: str = field(metadata={"json": "class"})
    log_excerpt: str

    @classmethod
    def of(cls, instance_id: int, task: FailedTask) -> FailedTaskRow:
        # Every field but the instance has the task's name for it: copied by name, not listed twice.
        shown = {f.name: getattr(task, f.name) for f in fields(cls) if f.name != "instance_id"}
        return cls(instance_id=instance_id, **shown)


@dataclass(frozen=True)
class MissedRunRow:
    project_code: int
    definition_code: int
    fire_time: datetime


@dataclass(frozen=True)
class StuckRunRow:
    project_code: int
    definition_code: int
    instance_id: int
    start_time: datetime | None


@dataclass(frozen=True)
class UnreadableProjectRow:
    project_code: int
    name: str
    reason: str


@dataclass(frozen=True)
class SilencedRow:
    silence_id: str
    event: str
    incident_key: str


@dataclass(frozen=True)
class NotificationRow:
    channel: str
    event: str
    result: str


@dataclass
class SweepReport:
    """What one sweep saw and did; ``to_dict`` is the JSON of spec section 6 (plus ``error``/``events``)."""

    started_at: datetime
    finished_at: datetime | None = None
    ds_version: str = ""
    projects_scanned: int = 0
    definitions_total: int = 0
    definitions_checked: int = 0
    definitions_skipped_by_schedule: int = 0
    failed_instances: list[FailedInstanceRow] = field(default_factory=list)
    outside_window: int = 0
    threshold_exceeded: list[ThresholdRow] = field(default_factory=list)
    recoveries: list[RecoveryRow] = field(default_factory=list)
    failed_tasks: list[FailedTaskRow] = field(default_factory=list)
    missed_runs: list[MissedRunRow] = field(default_factory=list)
    stuck_runs: list[StuckRunRow] = field(default_factory=list)
    unreadable_projects: list[UnreadableProjectRow] = field(default_factory=list)
    silenced: list[SilencedRow] = field(default_factory=list)
    notifications: list[NotificationRow] = field(default_factory=list)
    # The DS call figures (spec section 6 ``api``): calls, errors, cache hits, latencies, savings.
    api: dict = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_reason: str | None = None
    role: str = "single"  # single | leader | standby (coordination.SINGLE / LEADER_ROLE / STANDBY)

    @property
    def ok(self) -> bool:
        """The sweep completed (some projects may still have been unreadable: see :attr:`complete`)."""
        return self.error is None

    @property
    def complete(self) -> bool:
        """The sweep completed and read every selected project (``check`` exits 0 only then)."""
        return self.ok and not self.unreadable_projects

    def triggered(self) -> int:
        """How many recover calls DS accepted this sweep."""
        return sum(1 for row in self.recoveries if row.result == "triggered")

    def to_dict(self) -> dict:
        return _jsonable(self)


def _jsonable(value):
    """``value`` as JSON types: rows become objects under their spec names, datetimes ISO strings."""
    if is_dataclass(value):
        return {f.metadata.get("json", f.name): _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value

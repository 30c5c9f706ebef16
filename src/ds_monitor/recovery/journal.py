"""The recovery journal as typed records: one :class:`Journal` document, one :class:`InstanceRecord` per instance.

Stored as ``recovery_state.json`` (or its ZooKeeper node) by the state store, which owns the file
format (``version``, ``saved_at``); this module owns the content and is its only reader and writer::

    {"version": 1, "instances": {"4711": {
        "instance_id": 4711, "project_code": 1, "definition_code": 2,
        "attempts": 1,               # recover calls that DS accepted or may have received
        "status": "pending",         # see STATUS_* below
        "run_times_before": 1,       # runTimes right before the latest call
        "hold_until": "<iso>",       # no new call before this unless runTimes moved (or null)
        "last_at": "<iso>",          # the latest call (or intent to call)
        "last_result": "triggered",  # intent | triggered | no_answer | rejected | not_sent
        "detail": "...", "state": "FAILURE",
        "announce": [{"kind": "recovery_failed", "attempt": 1, "state": "FAILURE", "detail": ""}]}},
     "failures": {...}}              # other top-level keys belong to other modules (ds_monitor.tasks)

``announce`` holds announcements (the accepted call's ``recovery_triggered`` and the follow-ups)
saved with the journal change that causes them and not yet in the notification outbox. They hold
facts (a ``recovery_triggered`` whose call had no answer adds ``"called_at": "<iso>"``); the message
builder words them. A ``detail`` sentence comes only from a journal an older version saved.

:meth:`Journal.load` is tolerant: a malformed record is logged and dropped, missing optional keys
get their defaults; :meth:`Journal.dump` writes the keys above, so files and ZooKeeper nodes written
before the records were typed read back unchanged.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ds_monitor.timestamps import parse_stamp

log = logging.getLogger("ds_monitor.recovery")

# Journal statuses.
STATUS_UNKNOWN = "unknown"  # intent saved or no answer: the call may have reached DS
STATUS_PENDING = "pending"  # DS accepted; no master has taken the command yet
STATUS_RUNNING = "running"  # DS took it up (runTimes moved or state left FAILURE); not ended
STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"  # ended without success; may be recovered again within the limit
STATUS_EXHAUSTED = "exhausted"
STATUS_REJECTED = "rejected"  # DS refused; DS did nothing
STATUS_GONE = "gone"  # the instance no longer exists in DS
STATUS_NOT_SENT = "not_sent"  # the call never reached DS (refused at connect time, or 3.3 shows no trace)
STATUSES = frozenset(
    {
        STATUS_NOT_SENT,
        STATUS_UNKNOWN,
        STATUS_PENDING,
        STATUS_RUNNING,
        STATUS_SUCCEEDED,
        STATUS_FAILED,
        STATUS_EXHAUSTED,
        STATUS_REJECTED,
        STATUS_GONE,
    }
)
# Recoveries not yet ended: followed every sweep (and their definitions need a look).
IN_FLIGHT = frozenset({STATUS_UNKNOWN, STATUS_PENDING, STATUS_RUNNING})

# Announcement kinds the journal holds until they are in the outbox (spec section 8).
RECOVERY_TRIGGERED = "recovery_triggered"
RECOVERY_SUCCEEDED = "recovery_succeeded"
RECOVERY_FAILED = "recovery_failed"
RECOVERY_EXHAUSTED = "recovery_exhausted"
ANNOUNCEMENT_KINDS = frozenset({RECOVERY_TRIGGERED, RECOVERY_SUCCEEDED, RECOVERY_FAILED, RECOVERY_EXHAUSTED})

# Journal entries outlive the failure window by this much (spec section 5).
RETENTION_PAST_WINDOW = timedelta(days=7)

_INTEGER_KEYS = ("instance_id", "project_code", "definition_code", "attempts", "run_times_before")


@dataclass(frozen=True)
class Announcement:
    """A follow-up saved with the journal change that causes it, handed out once; facts only, the
    message builder words them."""

    kind: str  # recovery_triggered | recovery_succeeded | recovery_failed | recovery_exhausted
    attempt: int
    state: str
    # recovery_triggered only: the recover call that had no answer and that DS has now taken up.
    called_at: datetime | None = None
    # The sentence an older version saved with the follow-up; shown as is. Empty for new ones.
    detail: str = ""

    def dump(self) -> dict:
        data = {"kind": self.kind, "attempt": self.attempt, "state": self.state, "detail": self.detail}
        if self.called_at is not None:
            data["called_at"] = self.called_at.isoformat()
        return data


@dataclass(frozen=True)
class InstanceRecord:
    """What the monitor did about one failed instance, and what it still has to announce."""

    instance_id: int
    project_code: int
    definition_code: int
    attempts: int
    status: str
    run_times_before: int
    last_at: datetime
    hold_until: datetime | None = None
    last_result: str = ""
    detail: str = ""
    state: str = ""
    announce: tuple[Announcement, ...] = ()

    def dump(self) -> dict:
        return {
            "instance_id": self.instance_id,
            "project_code": self.project_code,
            "definition_code": self.definition_code,
            "attempts": self.attempts,
            "status": self.status,
            "run_times_before": self.run_times_before,
            "hold_until": self.hold_until.isoformat() if self.hold_until else None,
            "last_at": self.last_at.isoformat(),
            "last_result": self.last_result,
            "detail": self.detail,
            "state": self.state,
            "announce": [item.dump() for item in self.announce],
        }

    @classmethod
    def load(cls, raw: object) -> InstanceRecord:
        """The record stored as ``raw``; ValueError saying what is wrong with it."""
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        for key in _INTEGER_KEYS:
            value = raw.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key!r} is {value!r}, not an integer")
        if raw.get("status") not in STATUSES:
            raise ValueError(f"unknown status {raw.get('status')!r}")
        announce = raw.get("announce", [])
        if not isinstance(announce, list) or not all(_is_announcement(item) for item in announce):
            raise ValueError("'announce' is not a list of follow-ups")
        hold_until = raw.get("hold_until")
        return cls(
            instance_id=raw["instance_id"],
            project_code=raw["project_code"],
            definition_code=raw["definition_code"],
            attempts=raw["attempts"],
            status=raw["status"],
            run_times_before=raw["run_times_before"],
            last_at=_moment(raw, "last_at"),
            hold_until=None if hold_until is None else _moment(raw, "hold_until"),
            last_result=_text(raw, "last_result"),
            detail=_text(raw, "detail"),
            state=_text(raw, "state"),
            announce=tuple(
                Announcement(
                    item["kind"],
                    item["attempt"],
                    item["state"],
                    called_at=None if item.get("called_at") is None else _moment(item, "called_at"),
                    detail=_text(item, "detail"),
                )
                for item in announce
            ),
        )


@dataclass
class Journal:
    """The journal document: records by instance id, plus the top-level keys other modules own.

    Records are immutable; a change replaces the record (:meth:`put`). ``version`` is the store's
    format stamp as loaded (None when the document had none: the store adds it when saving).
    """

    records: dict[int, InstanceRecord] = field(default_factory=dict)
    others: dict = field(default_factory=dict)
    version: int | None = None

    @classmethod
    def load(cls, document: Mapping | None) -> Journal:
        """The journal in a stored document, with only well-formed records (a malformed one is logged and dropped)."""
        if not isinstance(document, Mapping):
            return cls()
        version = document.get("version")
        journal = cls(
            others={k: copy.deepcopy(v) for k, v in document.items() if k not in ("version", "instances")},
            version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        )
        instances = document.get("instances")
        if not isinstance(instances, dict):
            return journal
        for key, raw in instances.items():
            try:
                record = InstanceRecord.load(raw)
            except ValueError as err:
                log.warning("recovery journal entry %s ignored: %s", key, err)
                continue
            journal.records[record.instance_id] = record
        return journal

    def dump(self) -> dict:
        """The document to store: the other modules' keys first, then ``version`` and ``instances``."""
        stamp = {} if self.version is None else {"version": self.version}
        instances = {str(instance_id): record.dump() for instance_id, record in self.records.items()}
        return {**self.others, **stamp, "instances": instances}

    def copy(self) -> Journal:
        """A journal whose records can change without changing this one's (records are immutable)."""
        return Journal(dict(self.records), self.others, self.version)

    def get(self, instance_id: int) -> InstanceRecord | None:
        return self.records.get(instance_id)

    def put(self, record: InstanceRecord) -> None:
        self.records[record.instance_id] = record

    def drop(self, instance_id: int) -> None:
        self.records.pop(instance_id, None)

    def pruned(self, now: datetime, window: timedelta) -> Journal:
        """Without records whose latest call is older than the window plus seven days (and nothing to announce).

        Such an instance started before the window, so it is never a candidate again.
        """
        cutoff = now - window - RETENTION_PAST_WINDOW
        kept = {key: r for key, r in self.records.items() if r.announce or r.last_at >= cutoff}
        return Journal(kept, self.others, self.version)

    def busy_definitions(self) -> frozenset[int]:
        """Definitions with a recovery triggered and not yet ended: they need a look every sweep."""
        return frozenset(r.definition_code for r in self.records.values() if r.status in IN_FLIGHT)

    def last_call_in_project(self, project_code: int) -> datetime | None:
        """When this monitor last asked DS to recover an instance of the project (``recovery_interval``)."""
        return max((r.last_at for r in self.records.values() if r.project_code == project_code), default=None)


def _is_announcement(item: object) -> bool:
    return (
        isinstance(item, dict)
        and item.get("kind") in ANNOUNCEMENT_KINDS
        and isinstance(item.get("attempt"), int)
        and isinstance(item.get("state"), str)
    )


def _text(raw: dict, key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _moment(raw: dict, key: str) -> datetime:
    value = raw.get(key)
    moment = parse_stamp(value)
    if moment is None:
        raise ValueError(f"{key!r} is {value!r}, not an ISO date-time with offset")
    return moment

"""Where the monitor's memory is kept and how (spec sections 5 and 11): one package.

The state is the documents of :data:`DOCUMENTS` (the one list of them: file, owner, content), each
a JSON object with a top-level ``"version"``.

The package owns the stored form, not the content: the content modules read and write plain
dicts and do their own pruning.

* this module: the documents, the :class:`Store` interface every backend offers, the
  read-only view (``check --dry-run``) and the one read-modify-write (:func:`update_document`);
* :mod:`.format`: the bytes of a document (version, migrations, the ``saved_at`` stamp), the
  same in every backend;
* :mod:`.files`: the JSON files of ``state_dir`` (lock, atomic write, quarantine);
* :mod:`.zookeeper`: the same documents under ``coordination.zookeeper.root`` (chunks,
  compare-and-set, fenced writes);
* :mod:`.backends`: which store a command uses, and ``state export`` / ``state import``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@dataclass(frozen=True)
class Document:
    """One state document of :data:`DOCUMENTS`."""

    file: str  # its file in state_dir, its node under <root>/state, its key in a `state export`
    owner: str  # the module that reads its content (tolerantly, normalising) and writes it
    holds: str  # what it remembers


RECOVERY = "recovery_state.json"
RATE_LIMIT = "notification_rate_limit.json"
SCHEDULE = "schedule_state.json"
SILENCES = "silences.json"
DIGEST = "digest_state.json"

# Every document the monitor keeps. A new document is one row here; both stores, status, `state
# export` and `state import` then carry it.
DOCUMENTS = (
    Document(RECOVERY, "ds_monitor.recovery.journal",
             "the recovery journal: attempts per failed instance; and the failures announced (ds_monitor.tasks)"),
    Document(RATE_LIMIT, "ds_monitor.notify.ratelimit",
             "incidents announced, rate windows, the channels' outbox (ds_monitor.notify.outbox), the senders' health"),
    Document(SCHEDULE, "ds_monitor.schedule",
             "what the schedule tracker has looked at: last looks, fires judged, missed and stuck runs reported"),
    Document(SILENCES, "ds_monitor.silences", "the operators' silences and what they hid"),
    Document(DIGEST, "ds_monitor.digest", "hourly tallies for the daily digest and the day last sent"),
)
STATE_FILES = tuple(document.file for document in DOCUMENTS)


def known(name: str) -> str:
    """``name`` if it names a state document; a ValueError otherwise (a caller's bug, never the user's)."""
    if name not in STATE_FILES:
        raise ValueError(f"unknown state document {name!r}; expected one of {', '.join(STATE_FILES)}")
    return name

# How long a sweep waits for the state lock (a file lock, or ZooKeeper's per-store thread lock).
DEFAULT_LOCK_TIMEOUT = 5.0


@runtime_checkable
class Store(Protocol):
    """The one interface of the state backends: :class:`~ds_monitor.state.files.StateStore` (files
    in ``state_dir``) and :class:`~ds_monitor.state.zookeeper.ZooKeeperStore` (``coordination.backend:
    zookeeper``).

    ``load``/``save`` take a name of ``STATE_FILES``; ``locked`` is held while a sweep reads and
    writes; ``snapshot`` never writes; ``warnings`` collects quarantine and clock messages;
    ``file_errors`` the names of the documents found unusable and set aside (the
    ``ds_monitor_state_file_errors_total`` metric): a clock warning is not one.
    """

    warnings: list[str]
    file_errors: list[str]

    def load(self, name: str) -> dict: ...

    def save(self, name: str, data: dict) -> None: ...

    def locked(self) -> AbstractContextManager[None]: ...

    def snapshot(self) -> dict[str, dict]: ...


class ReadOnlyStore:
    """A view of a :class:`Store` that reads and locks like it but never writes.

    ``check --dry-run`` works on this: it must not mark runs as checked, missed runs as reported or
    follow-ups as announced, or the real run after it would skip them.
    """

    def __init__(self, store: Store):
        self._store = store
        self.warnings = store.warnings
        self.file_errors = store.file_errors

    def load(self, name: str) -> dict:
        return self._store.load(name)

    def locked(self) -> AbstractContextManager[None]:
        return self._store.locked()

    def snapshot(self) -> dict[str, dict]:
        return self._store.snapshot()

    def save(self, name: str, data: dict) -> None:
        """Nothing is written."""


def update_document(store: Store, name: str, change: Callable[[dict], tuple[T, dict]]) -> T:
    """Read-modify-write ``name`` of any store under its lock; ``change(content)`` returns
    ``(result, new content)``. The decision and its record are one step, so two processes never
    both act on one reading (a read-only store runs the change and writes nothing)."""
    with store.locked():
        result, data = change(store.load(name))
        store.save(name, data)
    return result

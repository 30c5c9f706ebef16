"""The state documents in ZooKeeper (``coordination.backend: zookeeper``, spec sections 5 and 11).

Same interface as :class:`ds_monitor.state.files.StateStore` (``load``, ``save``, ``locked``,
``snapshot``, ``warnings``), same bytes per document (:func:`ds_monitor.state.format.encode_document`),
and it carries whatever document the state package names: this module knows no layout.

Layout under ``root``::

    state/<name>               manifest: {"generation", "chunks", "sha256", "content", "bytes"}; its znode
                               version is the document's version for compare-and-set
    chunks/<name>/<gen>-<i>    the zlib-compressed document cut into pieces of CHUNK_BYTES

Why:

* ZooKeeper refuses nodes over 1 MB (``jute.maxbuffer``) and slows down well before. A document is
  compressed (JSON of a 10,000-definition estate shrinks about tenfold) and cut into 256 KB chunks,
  so no node comes near the limit whatever the estate's size (``bench/bench_zookeeper_state.py``).
* A write is atomic for readers: the new generation's chunks are created first, then the manifest
  is switched in ONE transaction that also checks our election node (the fence) and the manifest's
  version (compare-and-set). A crash leaves the old manifest and orphan chunks, removed by the next
  write; a deposed leader's transaction fails on the server, whatever the process believed.
* A reader that finds a chunk gone (a write switched generations meanwhile) reads again.
* An unchanged document is not rewritten: most sweeps change little, and ZooKeeper's log is shared
  with DolphinScheduler's own registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from kazoo.exceptions import (
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError

from ds_monitor.clock import utc_now
from ds_monitor.coordination import Coordinator, describe_error
from ds_monitor.errors import CoordinationError, NotLeader, StateError
from ds_monitor.state import DEFAULT_LOCK_TIMEOUT, STATE_FILES, known
from ds_monitor.state.format import CorruptState, decode_document, encode_document, pop_saved_at

# The logger keeps the name it had before the state package: operators filter their logs on it.
log = logging.getLogger("ds_monitor.zkstore")

CHUNK_BYTES = 256 * 1024
# A reader racing a writer retries; more misses than this in a row means the chunks are really gone.
READ_ATTEMPTS = 5
CORRUPT = "corrupt"
CHUNKS = "chunks"


@dataclass(frozen=True)
class _Seen:
    """What this store last read or wrote of one document: the base of its next compare-and-set."""

    version: int | None  # znode version of the manifest; None = the document does not exist
    content: str | None  # digest of the document without its saved_at stamp: unchanged = not rewritten


class ZooKeeperStore:
    """The state documents of one ``root``.

    ``writable`` and ``fenced`` (the default): the leader's store, every write checked against its
    election node. ``fenced=False``: an operator's command that must write beside a running leader
    (``silence add``); its writes are compare-and-set only, so neither side overwrites the other.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        writable: bool = True,
        fenced: bool = True,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.coordinator = coordinator
        self.client = coordinator.client
        self.root = coordinator.root
        self.writable = writable
        self.fenced = fenced
        self.lock_timeout = lock_timeout
        self.clock = clock
        self.location = f"zookeeper {coordinator.hosts} {coordinator.root}"
        self.warnings: list[str] = []
        self.file_errors: list[str] = []
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._seen: dict[str, _Seen] = {}
        # Documents already reported as saved in the future (see state.pop_saved_at).
        self._future_reported: set[str] = set()
        self._seen_lock = threading.Lock()
        # One write at a time per store: parallel recoveries save the journal from worker threads,
        # and two writes from one version would make the second fail its own compare-and-set.
        self._write_lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------------

    def load(self, name: str) -> dict:
        """The content of ``name``; ``{}`` if absent. A corrupt document is set aside and ``{}`` returned."""
        known(name)
        try:
            data = self._read(name)
        except CorruptState as reason:
            self._quarantine(name, str(reason))
            return {}
        self._check_saved_at(name, data, log_it=True)
        return data

    def snapshot(self) -> dict[str, dict]:
        """Every document for ``status``: never writes; a corrupt one is reported in ``warnings``, shown empty."""
        documents: dict[str, dict] = {}
        for name in STATE_FILES:
            try:
                documents[name] = self._read(name)
                self._check_saved_at(name, documents[name], log_it=False)
            except CorruptState as reason:
                self.warnings.append(f"state document {self._manifest(name)} is unusable ({reason}); shown empty")
                documents[name] = {}
        return documents

    def _check_saved_at(self, name: str, data: dict, *, log_it: bool) -> None:
        where = f"state document {self._manifest(name)}"
        message = pop_saved_at(where, data, self.clock(), self._future_reported, name)
        if message is None:
            return
        if log_it:
            log.warning("%s", message)
        self.warnings.append(message)

    def _read(self, name: str) -> dict:
        for _ in range(READ_ATTEMPTS):
            try:
                raw, seen = self._read_raw(name)
            except NoNodeError:
                continue  # a chunk vanished: a write switched generations while we read; read again
            except (KazooTimeoutError, KazooException) as err:
                where = self._manifest(name)
                raise CoordinationError(f"cannot read {where} from ZooKeeper: {describe_error(err)}") from err
            with self._seen_lock:
                self._seen[name] = seen
            if raw is None:
                return {}
            return decode_document(raw, f"state document {self._manifest(name)}")
        raise CorruptState(f"its chunks kept disappearing over {READ_ATTEMPTS} reads")

    def _read_raw(self, name: str) -> tuple[bytes | None, _Seen]:
        try:
            data, stat = self.client.get(self._manifest(name))
        except NoNodeError:
            return None, _Seen(None, None)
        seen = _Seen(stat.version, None)
        try:
            manifest = json.loads(data)
            generation, count, digest = manifest["generation"], int(manifest["chunks"]), str(manifest["sha256"])
        except (ValueError, TypeError, KeyError) as err:
            self._remember_unusable(name, seen)
            raise CorruptState(f"manifest is not readable: {err}") from err
        payload = b"".join(self.client.get(self._chunk(name, generation, i))[0] for i in range(count))
        seen = _Seen(stat.version, manifest.get("content"))
        if hashlib.sha256(payload).hexdigest() != digest:
            self._remember_unusable(name, seen)
            raise CorruptState("checksum mismatch")
        try:
            return zlib.decompress(payload), seen
        except zlib.error as err:
            self._remember_unusable(name, seen)
            raise CorruptState(f"not zlib data: {err}") from err

    def _remember_unusable(self, name: str, seen: _Seen) -> None:
        # The next save replaces the unusable version instead of failing its compare-and-set.
        with self._seen_lock:
            self._seen[name] = _Seen(seen.version, None)

    def _quarantine(self, name: str, reason: str) -> None:
        """Keep the evidence under ``root/corrupt`` (leader only) and start this document empty."""
        self.file_errors.append(name)
        message = f"state document {self._manifest(name)} was corrupt ({reason}); starting empty"
        if self.writable:
            stamp = self.clock().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            target = f"{self.root}/{CORRUPT}/{name}.corrupt-{stamp}"
            try:
                data, _ = self.client.get(self._manifest(name))
                if self.fenced:
                    self.coordinator.fence()
                self.client.create(target, data[: CHUNK_BYTES], makepath=True, sequence=True)
                message += f"; its manifest is kept at {target}*"
            except (KazooTimeoutError, KazooException) as err:
                message += f"; could not keep a copy: {describe_error(err)}"
        log.warning("%s", message)
        self.warnings.append(message)

    # -- writing -----------------------------------------------------------------------------------

    def save(self, name: str, data: dict) -> None:
        """Replace ``name`` with ``data`` in one fenced compare-and-set transaction."""
        known(name)
        if not self.writable:
            raise NotLeader(f"not writing {name}: this store is read-only (not the leader)")
        with self._write_lock:
            self._save(name, data)

    def _save(self, name: str, data: dict) -> None:
        content = hashlib.sha256(encode_document(name, data)).hexdigest()
        with self._seen_lock:
            seen = self._seen.get(name)
        if seen is None:
            seen = self._current(name)
        if seen.content == content:
            return
        payload = zlib.compress(encode_document(name, data, saved_at=self.clock()), 6)
        digest = hashlib.sha256(payload).hexdigest()
        node = self.coordinator.leader_node() if self.fenced else None
        generation = uuid.uuid4().hex[:16]
        pieces = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
        manifest = json.dumps(
            {"generation": generation, "chunks": len(pieces), "sha256": digest, "content": content,
             "bytes": len(payload)}
        ).encode()
        try:
            for i, piece in enumerate(pieces):
                self.client.create(self._chunk(name, generation, i), piece, makepath=True)
            transaction = self.client.transaction()
            if node is not None:
                transaction.check(node, -1)
            if seen.version is None:
                transaction.create(self._manifest(name), manifest)
            else:
                transaction.set_data(self._manifest(name), manifest, version=seen.version)
            results = transaction.commit()
        except SessionExpiredError as err:
            # An expired session's requests are refused whole: nothing was written (orphan chunks
            # are removed by the next leader's write of this document).
            self.coordinator.lost_leadership("the ZooKeeper session expired")
            raise NotLeader(f"not writing {name}: this replica's ZooKeeper session expired") from err
        except (KazooTimeoutError, KazooException) as err:
            # The commit may or may not have been applied: forget the version, the next load re-reads.
            with self._seen_lock:
                self._seen.pop(name, None)
            raise NotLeader(f"not sure {name} was written to ZooKeeper ({describe_error(err)})") from err
        fence_result, write_result = results if node is not None else (True, results[0])
        # A failed transaction marks the op that failed with its error and the others as rolled back.
        if isinstance(fence_result, Exception) and not isinstance(fence_result, RolledBackError):
            self._drop_generation(name, generation)
            self.coordinator.lost_leadership(f"ZooKeeper refused the write of {name}: our election node is gone")
            raise NotLeader(f"not writing {name}: this replica is no longer the leader")
        if isinstance(write_result, Exception):
            self._drop_generation(name, generation)
            with self._seen_lock:
                self._seen.pop(name, None)
            if isinstance(write_result, (BadVersionError, NodeExistsError)):
                raise StateError(
                    f"{self._manifest(name)} was changed by another writer since this replica read it; "
                    "not overwriting (compare-and-set)"
                )
            raise CoordinationError(f"cannot write {self._manifest(name)}: {describe_error(write_result)}")
        version = write_result.version if hasattr(write_result, "version") else 0  # set_data: a stat; create: a path
        with self._seen_lock:
            self._seen[name] = _Seen(version, content)
        self._drop_other_generations(name, keep=generation)

    def _current(self, name: str) -> _Seen:
        """The manifest's version for a save that did not load first (``state import``)."""
        try:
            _, stat = self.client.get(self._manifest(name))
        except NoNodeError:
            return _Seen(None, None)
        except (KazooTimeoutError, KazooException) as err:
            raise CoordinationError(
                f"cannot read {self._manifest(name)} from ZooKeeper: {describe_error(err)}"
            ) from err
        return _Seen(stat.version, None)

    def _drop_generation(self, name: str, generation: str) -> None:
        self._delete_children(name, lambda child: child.startswith(generation + "-"))

    def _drop_other_generations(self, name: str, *, keep: str) -> None:
        # Also removes orphans of a writer that crashed between its chunks and its manifest.
        self._delete_children(name, lambda child: not child.startswith(keep + "-"))

    def _delete_children(self, name: str, doomed: Callable[[str], bool]) -> None:
        folder = f"{self.root}/{CHUNKS}/{name}"
        try:
            for child in self.client.get_children(folder):
                if doomed(child):
                    self.client.delete(f"{folder}/{child}")
        except NoNodeError:
            pass
        except (KazooTimeoutError, KazooException) as err:
            log.debug("old chunks of %s not removed yet (the next write retries): %s", name, describe_error(err))

    # -- locking -----------------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise this process's threads; on the leader's store, pass the fence on the way in.

        Other replicas are kept out by the election, not by this lock; the fence here stops a
        deposed leader before it reads state to act on.
        """
        if not self._thread_lock.acquire(timeout=self.lock_timeout):
            raise StateError(f"another thread of this ds-monitor holds the state lock of {self.location}")
        try:
            if self._depth == 0 and self.writable and self.fenced:
                self.coordinator.fence()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
        finally:
            self._thread_lock.release()

    # -- paths -------------------------------------------------------------------------------------

    def _manifest(self, name: str) -> str:
        return f"{self.coordinator.state_path}/{name}"

    def _chunk(self, name: str, generation: str, index: int) -> str:
        return f"{self.root}/{CHUNKS}/{name}/{generation}-{index:04d}"

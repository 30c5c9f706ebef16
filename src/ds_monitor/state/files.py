"""The state documents as JSON files in ``state_dir`` (``coordination.backend: none``).

Why each mechanism exists:

* Atomic writes (temp file in the same directory, fsync, ``os.replace``, fsync of the directory):
  a crash or a power cut leaves the old file or the new one, never half of each. The recovery
  journal's promise "never recover the same failure twice" rests on this.
* An exclusive ``flock`` on ``state_dir/.lock`` while a sweep reads-modifies-writes, so a second
  ``run``/``check`` on the same directory waits a few seconds and then stops with a clear error
  instead of interleaving its journal with ours.
* ``snapshot`` (for ``status``) needs no lock to be safe: files are only ever renamed into place.
  It takes a shared lock briefly for a consistent set of files, and reads anyway if a sweep is busy.
* A corrupt or unreadable file is moved aside as ``NAME.corrupt-<UTC timestamp>`` and only that
  file starts empty; the move keeps the evidence and stops the same file failing every sweep.
* A file saved in the future warns once (:func:`ds_monitor.state.format.pop_saved_at`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ds_monitor.access import access_error
from ds_monitor.clock import utc_now
from ds_monitor.errors import AccessError, ConfigError, StateError
from ds_monitor.state import DEFAULT_LOCK_TIMEOUT, STATE_FILES, known
from ds_monitor.state.format import CorruptState, decode_document, encode_document, pop_saved_at

# The logger keeps the name it had before the state package: operators filter their logs on it.
log = logging.getLogger("ds_monitor.state")

LOCK_FILE = ".lock"
# status must answer promptly even while a sweep holds the lock; renames keep files whole anyway.
SNAPSHOT_LOCK_WAIT = 0.5
_LOCK_POLL = 0.02


class StateStore:
    """Reads and writes the state files of one ``state_dir``; see the module docstring for why."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        clock: Callable[[], datetime] = utc_now,
        create: bool = True,
    ):
        """``create=False`` (for ``status``): the directory must exist and nothing is ever created in it."""
        self.state_dir = Path(state_dir)
        self.lock_timeout = lock_timeout
        self.clock = clock
        # Quarantine messages of this process; the caller reports and clears them.
        self.warnings: list[str] = []
        self.file_errors: list[str] = []
        # Files already reported as saved in the future, so a stepped-back clock warns once per file.
        self._future_reported: set[str] = set()
        try:
            if create:
                self.state_dir.mkdir(parents=True, exist_ok=True)
        except PermissionError as err:
            raise access_error("state_dir", self.state_dir, err) from err
        except OSError as err:
            raise ConfigError(f"state_dir {self.state_dir} cannot be created: {err.strerror or err}") from err
        # Threads of one process share this object; flock alone would not keep them apart
        # (the lock belongs to the open file, which they would share), so a thread lock does.
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        self._lock_fd: int | None = None

    # -- reading -----------------------------------------------------------------------------------

    def load(self, name: str) -> dict:
        """The content of ``name``; ``{}`` if absent. A corrupt file is quarantined and ``{}`` returned."""
        path = self._path(name)
        try:
            data = self._read(path)
        except FileNotFoundError:
            return {}
        except CorruptState as reason:
            self._quarantine(path, str(reason))
            return {}
        self._check_saved_at(path, data, log_it=True)
        return data

    def snapshot(self) -> dict[str, dict]:
        """All the files for ``status``: never writes, never waits more than half a second.

        A corrupt file is reported in ``warnings`` (the next sweep moves it aside) and shown empty.
        """
        fd = None
        try:
            fd = self._open_lock_file(create=False)
            self._flock(fd, fcntl.LOCK_SH, SNAPSHOT_LOCK_WAIT)
        except (StateError, AccessError) as err:
            log.debug("reading the state files without the lock: %s", err)
        try:
            files: dict[str, dict] = {}
            for name in STATE_FILES:
                try:
                    files[name] = self._read(self._path(name))
                    self._check_saved_at(self._path(name), files[name], log_it=False)
                except FileNotFoundError:
                    files[name] = {}
                except (CorruptState, StateError, AccessError) as reason:
                    self.warnings.append(f"state file {self._path(name)} is unusable ({reason}); shown empty")
                    files[name] = {}
            return files
        finally:
            if fd is not None:
                os.close(fd)  # also releases the shared lock if we got it

    def _read(self, path: Path) -> dict:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise
        except PermissionError as err:
            # Unreadable is not corrupt: moving it aside would lose what it holds (a journal's attempts).
            raise access_error("state file", path, err) from err
        except OSError as err:
            raise CorruptState(f"unreadable: {err.strerror or err}") from err
        return decode_document(raw, f"state file {path}")

    def _check_saved_at(self, path: Path, data: dict, *, log_it: bool) -> None:
        """Warn (once per file) when ``data`` was saved in the future; the stamp is the store's, not the content's."""
        message = pop_saved_at(f"state file {path}", data, self.clock(), self._future_reported, path.name)
        if message is None:
            return
        if log_it:
            log.warning("%s", message)
        self.warnings.append(message)

    def _quarantine(self, path: Path, reason: str) -> None:
        self.file_errors.append(path.name)
        stamp = self.clock().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        suffix = 1
        while target.exists():
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{suffix}")
            suffix += 1
        try:
            os.replace(path, target)
        except PermissionError as err:
            raise access_error("state_dir", self.state_dir, err) from err
        except OSError as err:
            raise StateError(
                f"state file {path} is corrupt ({reason}) and cannot be moved aside: {err.strerror or err}"
            ) from err
        message = f"state file {path} was corrupt ({reason}); moved aside to {target.name}, starting empty"
        log.warning("%s", message)
        self.warnings.append(message)

    # -- writing -----------------------------------------------------------------------------------

    def save(self, name: str, data: dict) -> None:
        """Replace ``name`` atomically with ``data`` (a ``version`` is added if missing)."""
        path = self._path(name)
        raw = encode_document(str(path), data, saved_at=self.clock())
        tmp_name = None
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.state_dir)
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
            tmp_name = None
            self._fsync_dir()
        except PermissionError as err:
            raise access_error("state file", path, err) from err
        except OSError as err:
            raise StateError(f"cannot write {path}: {err.strerror or err}") from err
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except FileNotFoundError:
                    pass

    def _fsync_dir(self) -> None:
        # Makes the rename itself durable; without it a power cut can bring the old file back.
        fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- locking -----------------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive state lock (re-entrant within this store) while a sweep writes.

        Raises StateError naming the directory if another process keeps it for ``lock_timeout``.
        """
        if not self._thread_lock.acquire(timeout=self.lock_timeout):
            raise StateError(f"another thread of this ds-monitor holds the state lock in {self.state_dir}")
        try:
            if self._lock_depth == 0:
                fd = self._open_lock_file()
                try:
                    self._flock(fd, fcntl.LOCK_EX, self.lock_timeout)
                    self._write_owner(fd)
                except BaseException:
                    os.close(fd)
                    raise
                self._lock_fd = fd
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None
        finally:
            self._thread_lock.release()

    def _open_lock_file(self, *, create: bool = True) -> int:
        """The lock file, opened for a lock; readers (``create=False``) never create it nor need to write it."""
        path = self.state_dir / LOCK_FILE
        try:
            if not create:
                return os.open(path, os.O_RDONLY)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError as err:
            raise access_error("state lock", self.state_dir / LOCK_FILE, err) from err
        except OSError as err:
            raise StateError(
                f"cannot open the state lock {self.state_dir / LOCK_FILE}: {err.strerror or err}"
            ) from err

    def _flock(self, fd: int, mode: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(_LOCK_POLL)
        owner = self._read_owner(fd)
        raise StateError(
            f"another ds-monitor{owner} holds the state lock in {self.state_dir} (waited {timeout:g} s)"
        )

    @staticmethod
    def _write_owner(fd: int) -> None:
        # Only for the contention message; the lock itself is the flock, not this content.
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as err:
            log.debug("cannot note our pid in the state lock file: %s", err)

    @staticmethod
    def _read_owner(fd: int) -> str:
        try:
            pid = os.pread(fd, 32, 0).decode().strip()
        except (OSError, UnicodeDecodeError):
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""

    def _path(self, name: str) -> Path:
        return self.state_dir / known(name)


@contextmanager
def exclusive_run(state_dir: str | Path) -> Iterator[None]:
    """Held by ``run`` for its lifetime: a second daemon on the same state files is refused.

    The per-sweep lock keeps ``check`` and ``status`` safe beside a running daemon; two daemons
    would each sweep between the other's sweeps and double every notification.
    """
    path = Path(state_dir) / ".run.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
    except PermissionError as err:
        raise access_error("run lock", path, err) from err
    except OSError as err:
        raise ConfigError(f"state_dir {state_dir}: cannot open the run lock {path}: {err.strerror or err}") from err
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise StateError(
                f"another `ds-monitor run` (pid {owner}) already uses state_dir {state_dir}; "
                "stop it or give this one its own state_dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()

"""Which state backend a command uses (``coordination.backend``), and moving state between backends.

``none``: the JSON files of ``state_dir`` (:class:`ds_monitor.state.files.StateStore`).
``zookeeper``: the same documents under ``coordination.zookeeper.root``
(:class:`ds_monitor.state.zookeeper.ZooKeeperStore`), written only by the replica that leads.

``state export`` / ``state import`` (spec section 1) carry every document in one JSON file, so
state moves from files to ZooKeeper, back, or to another host.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ds_monitor.config import Config
from ds_monitor.errors import ConfigError, CoordinationError, StateError
from ds_monitor.state import STATE_FILES, Store
from ds_monitor.state.files import StateStore

if TYPE_CHECKING:
    from ds_monitor.coordination import Coordinator

EXPORT_FORMAT = "ds-monitor-state"
EXPORT_VERSION = 1


def uses_zookeeper(config: Config) -> bool:
    return config.coordination.backend == "zookeeper"


def location(config: Config) -> str:
    """Where the state lives, for humans (never a secret: ZooKeeper hosts carry no credentials here)."""
    if uses_zookeeper(config):
        zk = config.coordination.zookeeper
        return f"zookeeper {zk.hosts} {zk.root}"
    return f"state_dir {config.state_dir}"


@contextmanager
def zookeeper_session(config: Config, *, lead: bool, refusal: str) -> Iterator[Coordinator]:
    """A ZooKeeper session for one command; with ``lead`` the command must win the election first.

    A running leader keeps the command out (``refusal`` says what to do instead): two writers, or a
    command acting beside the daemon, would be exactly the double action the election prevents.
    """
    from ds_monitor.coordination import Coordinator  # kazoo loads only for the commands that use ZooKeeper

    coordinator = Coordinator(config.coordination.zookeeper)
    coordinator.start()
    try:
        if lead and not coordinator.try_lead():
            raise CoordinationError(f"replica {coordinator.leader() or '?'} leads under {coordinator.root}: {refusal}")
        yield coordinator
    finally:
        coordinator.close()


@contextmanager
def command_store(config: Config, *, write: bool = False, lead: bool = True, **options) -> Iterator[Store]:
    """The store of a one-shot command (``status``, ``state export/import``, ``silence``).

    ``write`` with ``lead`` (``state import``) must win the election; ``lead=False`` (``silence
    add``) writes beside a running leader with compare-and-set only. ``options`` (``lock_timeout``,
    ``clock``) go to the store.
    """
    if not uses_zookeeper(config):
        yield StateStore(config.state_dir, **options)
        return
    from ds_monitor.state.zookeeper import ZooKeeperStore

    refusal = "stop every `run` replica before writing the state"
    with zookeeper_session(config, lead=write and lead, refusal=refusal) as zk:
        yield ZooKeeperStore(zk, writable=write, fenced=lead, **options)


@contextmanager
def check_replica(config: Config, *, dry_run: bool) -> Iterator[Coordinator | None]:
    """The coordinator of a ``check`` (None without ZooKeeper); spec 11: it acts only as the leader.

    ``--dry-run`` reads without contending; otherwise the check must win the election.
    """
    if not uses_zookeeper(config):
        yield None
        return
    refusal = "`check` acts only as the leader; use --dry-run to look without acting"
    with zookeeper_session(config, lead=not dry_run, refusal=refusal) as coordinator:
        yield coordinator


def export_state(store: Store, now: datetime) -> dict:
    """Every state document of ``store`` in one JSON object."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": now.isoformat(),
        "documents": store.snapshot(),
    }


def read_export(path: str) -> dict[str, dict]:
    """The documents of an export file; a file that is not one is a usage error naming the path."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ConfigError(f"{path}: not a ds-monitor state export (no \"format\": \"{EXPORT_FORMAT}\")")
    if data.get("version") != EXPORT_VERSION:
        raise ConfigError(f"{path}: export version {data.get('version')!r}; this ds-monitor reads {EXPORT_VERSION}")
    documents = data.get("documents")
    if not isinstance(documents, dict):
        raise ConfigError(f"{path}: \"documents\" must be an object")
    for name, document in documents.items():
        if name not in STATE_FILES:
            raise ConfigError(f"{path}: unknown state document {name!r} (known: {', '.join(STATE_FILES)})")
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: document {name} must be an object")
    return documents


def import_state(store: Store, documents: dict[str, dict]) -> list[str]:
    """Replace each document of the export in ``store``; the ones the export lacks are left alone.

    An empty document (absent where it was exported) empties the target, and creates nothing there.
    """
    written = []
    with store.locked():
        for name, document in documents.items():
            if document or store.load(name):
                store.save(name, document)
                written.append(name)
    return written


def write_export(path: str, data: dict) -> None:
    try:
        Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as err:
        raise StateError(f"cannot write {path}: {err.strerror or err}") from err

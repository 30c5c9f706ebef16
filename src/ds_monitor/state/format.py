"""The stored form of a state document, the same bytes in every backend (files and ZooKeeper).

* Every document is a JSON object with a top-level ``"version"``; an older one is migrated on
  read, a newer one refused (rewriting it would destroy what a newer monitor relies on).
* Every save stamps ``saved_at``. A document saved "in the future" means the clock was stepped
  back, a VM snapshot restored or the state copied from a host whose clock runs ahead: one warning
  per document says so, and the content modules read its future times as doubt
  (:mod:`ds_monitor.timestamps`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from ds_monitor.errors import StateError
from ds_monitor.timestamps import is_future, parse_stamp

CURRENT_VERSION = 1


def _from_unversioned(data: dict) -> dict:
    """Version 0 = a file without ``version`` (hand-made or from the seed monitor).

    The content modules ignore keys they do not know and check the shape of the ones they do,
    so stamping the version is the whole migration.
    """
    return {**data, "version": 1}


# MIGRATIONS[n] turns a file of version n into version n + 1; a format change adds one entry.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _from_unversioned}


class CorruptState(Exception):
    """Internal: a stored document's bytes are not a state document (never leaves the state stores)."""


def decode_document(raw: bytes, where: str) -> dict:
    """A stored document's bytes as a dict of the current version (files and ZooKeeper alike).

    Raises CorruptState for bytes that are not a state document, StateError for a newer format.
    """
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptState(f"not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise CorruptState(f"a JSON {type(data).__name__}, not an object")
    version = data.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise CorruptState(f"'version' is {version!r}, not a non-negative integer")
    if version > CURRENT_VERSION:
        # Rewriting a newer format would destroy what a newer monitor relies on: refuse.
        raise StateError(
            f"{where} has version {version}, written by a newer ds-monitor "
            f"(this one reads up to {CURRENT_VERSION})"
        )
    while version < CURRENT_VERSION:
        data = MIGRATIONS[version](data)
        version = data["version"]
    return data


def encode_document(name: str, data: dict, *, saved_at: datetime | None = None) -> bytes:
    """The stored form of a document: JSON with a ``version`` (added if missing) and the ``saved_at`` stamp."""
    document = {**data} if "version" in data else {"version": CURRENT_VERSION, **data}
    if saved_at is not None:
        document["saved_at"] = saved_at.isoformat()
    try:
        # Compact: with an indent, json falls back to its pure-Python encoder, 10x slower on a
        # 100,000-definition schedule state. `python -m json.tool FILE` pretty-prints it.
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise StateError(f"cannot write {name}: content is not JSON ({err})") from err


def pop_saved_at(where: str, data: dict, now: datetime, reported: set[str], key: str) -> str | None:
    """Remove the store's ``saved_at`` stamp from ``data``; a warning if it lies in the future.

    Once per ``key`` (kept in ``reported``) until a save in the present clears it, so a stepped-back
    clock warns once per document rather than every sweep.
    """
    saved_at = parse_stamp(data.pop("saved_at", None))
    if saved_at is None or not is_future(saved_at, now):
        reported.discard(key)
        return None
    if key in reported:
        return None
    reported.add(key)
    ahead = round((saved_at - now).total_seconds() / 60)
    return (
        f"{where} was saved at {saved_at.isoformat()}, {ahead} min ahead of this host's clock "
        "(clock stepped back, VM snapshot restored, or state from another host): its times from the "
        "future count as unknown, so the monitor looks rather than skips"
    )

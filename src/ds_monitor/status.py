"""``status``: recovery, rate-limit, schedule and silence state read from the state store, never from DS.

Safe while ``run`` is writing: the store renames complete files into place, so a reader sees the
old or the new file, never a torn one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ds_monitor.config import Config
from ds_monitor.maintenance import overview
from ds_monitor.notify import rate_limit_status
from ds_monitor.notify.outbox import outbox_status
from ds_monitor.recovery.decisions import recovery_status
from ds_monitor.recovery.journal import Journal
from ds_monitor.schedule import schedule_status
from ds_monitor.silences import describe, listing
from ds_monitor.state import RATE_LIMIT, RECOVERY, SCHEDULE, SILENCES
from ds_monitor.state.backends import command_store, location, uses_zookeeper
from ds_monitor.tasks import failures_status

# What reading a hand-edited or foreign document of the right JSON type but the wrong shape raises.
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, ValueError, IndexError)


def collect_status(config: Config, now: datetime, *, replica=None) -> dict:
    """The JSON of ``status --json`` and of the HTTP ``/status`` endpoint.

    ``replica`` is the running replica's :class:`~ds_monitor.coordination.Coordinator` (``run``'s
    ``/status``); the ``status`` command opens its own ZooKeeper session and is an observer. With
    state files, nothing is created (a mistyped ``state_dir`` must not become a new empty one).
    """
    if replica is not None:
        from ds_monitor.state.zookeeper import ZooKeeperStore

        store = ZooKeeperStore(replica, writable=False)
        return _status(config, now, store, {"role": replica.role, "leader": replica.leader()})
    if uses_zookeeper(config):
        with command_store(config) as store:
            return _status(config, now, store, {"role": "observer", "leader": store.coordinator.leader()})
    single = {"role": "single", "leader": None}
    if not Path(config.state_dir).is_dir():
        return _status(config, now, None, single)
    with command_store(config, create=False) as store:
        return _status(config, now, store, single)


def _status(config: Config, now: datetime, store, coordination: dict) -> dict:
    """The status document; a file of an unexpected shape is shown empty with a warning naming it."""
    warnings: list[str] = []
    if store is None:
        files: dict = {}
        warnings.append(f"state_dir {config.state_dir} does not exist: nothing recorded yet, or a mistyped path")
    else:
        files = store.snapshot()
        warnings.extend(store.warnings)

    def section(name: str, build: Callable[[dict], list[dict]]) -> list[dict]:
        try:
            return build(files.get(name, {}))
        except _SHAPE_ERRORS as err:
            warnings.append(
                f"state file {name} in {location(config)} has an unexpected shape "
                f"({type(err).__name__}: {err}); shown empty"
            )
            return []

    return {
        "generated_at": now.isoformat(),
        "state_dir": config.state_dir,
        "state": location(config),
        "coordination": {"backend": config.coordination.backend, **coordination},
        "recovery": section(RECOVERY, lambda doc: recovery_status(Journal.load(doc), now)),
        "failures": section(RECOVERY, failures_status),
        "rate_limit": section(RATE_LIMIT, lambda doc: rate_limit_status(doc, now, config.notification.rate_limit)),
        "outbox": section(RATE_LIMIT, outbox_status),
        "schedule": section(SCHEDULE, lambda doc: schedule_status(doc, now)),
        "silences": section(SILENCES, lambda doc: [describe(s, now) for s in listing(doc, now)]),
        "maintenance": overview(config.maintenance, now),
        "warnings": warnings,
    }


def render_table(title: str, rows: list[dict]) -> str:
    """A plain text table; columns are the keys of the first row."""
    if not rows:
        return f"{title}: (none)"
    columns = list(rows[0])
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = [f"{title}:", "  " + "  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines.append("  " + "  ".join("-" * w for w in widths))
    lines.extend("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(lines)


def render_status(status: dict) -> str:
    parts = [
        f"state in {status['state']} at {status['generated_at']}",
        render_table("recovery", status["recovery"]),
        render_table("failed tasks", status["failures"]),
        render_table("rate limit", status["rate_limit"]),
        render_table("outbox (messages a channel still owes)", status["outbox"]),
        render_table("schedule", status["schedule"]),
        render_table("silences", status["silences"]),
        render_table("maintenance windows", status["maintenance"]),
    ]
    coordination = status["coordination"]
    if coordination["backend"] != "none":
        parts.insert(1, f"role: {coordination['role']}; leader: {coordination['leader'] or 'none'}")
    parts.extend(f"warning: {w}" for w in status["warnings"])
    return "\n\n".join(parts)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)

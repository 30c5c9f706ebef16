"""``status``: recovery, rate-limit, schedule and silence state read from the state store, never from DS.

Safe while ``run`` is writing: the store renames complete files into place, so a reader sees the
old or the new file, never a torn one.
"""

from __future__ import annotations

from datetime import datetime

from ds_monitor.backends import command_store, location, uses_zookeeper
from ds_monitor.config import Config
from ds_monitor.maintenance import overview
from ds_monitor.notify import rate_limit_status
from ds_monitor.notify.outbox import outbox_status
from ds_monitor.recovery import recovery_status
from ds_monitor.schedule import schedule_status
from ds_monitor.silences import describe, listing
from ds_monitor.state import RATE_LIMIT, RECOVERY, SCHEDULE, SILENCES
from ds_monitor.tasks import failures_status


def collect_status(config: Config, now: datetime, *, replica=None) -> dict:
    """The JSON of ``status --json`` and of the HTTP ``/status`` endpoint.

    ``replica`` is the running replica's :class:`~ds_monitor.coordination.Coordinator` (``run``'s
    ``/status``); the ``status`` command opens its own ZooKeeper session and is an observer.
    """
    if replica is not None:
        from ds_monitor.zkstore import ZooKeeperStore

        store = ZooKeeperStore(replica, writable=False)
        return _status(config, now, store, {"role": replica.role, "leader": replica.leader()})
    with command_store(config) as store:
        if uses_zookeeper(config):
            return _status(config, now, store, {"role": "observer", "leader": store.coordinator.leader()})
        return _status(config, now, store, {"role": "single", "leader": None})


def _status(config: Config, now: datetime, store, coordination: dict) -> dict:
    files = store.snapshot()
    return {
        "generated_at": now.isoformat(),
        "state_dir": config.state_dir,
        "state": location(config),
        "coordination": {"backend": config.coordination.backend, **coordination},
        "recovery": recovery_status(files.get(RECOVERY, {}), now),
        "failures": failures_status(files.get(RECOVERY, {})),
        "rate_limit": rate_limit_status(files.get(RATE_LIMIT, {}), now, config.notification.rate_limit),
        "outbox": outbox_status(files.get(RATE_LIMIT, {})),
        "schedule": schedule_status(files.get(SCHEDULE, {}), now),
        "silences": [describe(s, now) for s in listing(files.get(SILENCES, {}), now)],
        "maintenance": overview(config.maintenance, now),
        "warnings": list(store.warnings),
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

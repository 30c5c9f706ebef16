"""``status``: recovery, rate-limit, schedule and silence state read from the state files, never from DS.

Safe while ``run`` is writing: the store renames complete files into place, so a reader sees the
old or the new file, never a torn one.
"""

from __future__ import annotations

from datetime import datetime

from ds_monitor.config import Config
from ds_monitor.notify import rate_limit_status
from ds_monitor.recovery import recovery_status
from ds_monitor.schedule import schedule_status
from ds_monitor.silences import describe, listing
from ds_monitor.state import RATE_LIMIT, RECOVERY, SCHEDULE, SILENCES, StateStore


def collect_status(config: Config, now: datetime) -> dict:
    """The JSON of ``status --json`` and of the HTTP ``/status`` endpoint."""
    store = StateStore(config.state_dir)
    files = store.snapshot()
    return {
        "generated_at": now.isoformat(),
        "state_dir": config.state_dir,
        "recovery": recovery_status(files.get(RECOVERY, {}), now),
        "rate_limit": rate_limit_status(files.get(RATE_LIMIT, {}), now, config.notification.rate_limit),
        "schedule": schedule_status(files.get(SCHEDULE, {}), now),
        "silences": [describe(s, now) for s in listing(files.get(SILENCES, {}), now)],
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
        f"state in {status['state_dir']} at {status['generated_at']}",
        render_table("recovery", status["recovery"]),
        render_table("rate limit", status["rate_limit"]),
        render_table("schedule", status["schedule"]),
        render_table("silences", status["silences"]),
    ]
    parts.extend(f"warning: {w}" for w in status["warnings"])
    return "\n\n".join(parts)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)

"""Permission problems on the files the operator controls: say whose they are, never "internal error".

A log file or state directory created by root (``sudo python main.py check`` once) or a volume
mounted with the wrong owner is an operator's fix, not a bug and not a DS outage: exit 2, one line
naming the path, its owner and mode, and the user the monitor runs as. An unreadable state file is
never taken for a corrupt one: moving it aside would lose the recovery journal.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from ds_monitor.errors import AccessError


def access_error(what: str, path: str | Path, err: OSError) -> AccessError:
    """``what`` (e.g. ``state file``) at ``path`` cannot be used because of ``err``, with who owns it."""
    path = Path(path)
    return AccessError(
        f"{what} {path}: {err.strerror or err} ({_ownership(path)}; ds-monitor runs as {_user(os.geteuid())}): "
        "fix the ownership or permissions, or configure another path"
    )


def _ownership(path: Path) -> str:
    """Owner and mode of ``path``, or of its nearest existing parent when it does not exist yet."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        info = probe.stat()
    except OSError:
        return "owner unknown"
    where = "" if probe == path else f" of {probe}"
    return f"owner{where} {_user(info.st_uid)}, mode {stat.filemode(info.st_mode)}"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"

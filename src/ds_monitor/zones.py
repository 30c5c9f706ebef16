"""Time zones by the names DolphinScheduler and operators use: the one parser of zone names.

DS takes zones from Java's ``ZoneId``: IANA names (``Asia/Shanghai``, ``Etc/GMT-8``), ``Z``/``UTC``/
``GMT``, and fixed offsets with or without a prefix (``GMT+8``, ``GMT+08:00``, ``UTC+8``, ``+08:00``).
Every zone the monitor reads (a schedule's ``timezoneId``, DS's user zone, configuration, ``cron
--tz``) goes through :func:`parse_zone`, so one name can never be valid in one place and unknown in
another. Pure.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_UTC_NAMES = frozenset({"Z", "UTC", "GMT", "UT"})
_OFFSET_ZONE = re.compile(r"^(?:GMT|UTC|UT)?([+-])(\d{1,2})(?::?(\d{2}))?$")
# Java's ZoneOffset accepts offsets up to 18 hours either way.
_MAX_OFFSET = timedelta(hours=18)


@functools.lru_cache(maxsize=512)
def parse_zone(name: str) -> tzinfo:
    """The tzinfo a zone name stands for; ValueError naming the zone when it is none DS would accept."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise ValueError(f"empty time zone {name!r}")
    if text in _UTC_NAMES:
        return ZoneInfo("UTC")
    match = _OFFSET_ZONE.match(text)
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if offset > _MAX_OFFSET:
            raise ValueError(f"time zone offset out of range: {name!r}")
        return timezone(-offset if sign == "-" else offset, text)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err

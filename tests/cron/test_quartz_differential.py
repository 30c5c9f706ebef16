"""ds_monitor.cron against org.quartz.CronExpression itself, from data Quartz generated.

tests/cron/data/quartz_expected.json.gz is written by scripts/quartz/generate.py (see there to
rerun): 500+ expressions (DS's typical schedules and random ones covering L, L-n, W, LW, nL, n#k,
names, steps and years) x 4 zones x 16 start instants around DST changes, month ends, a leap day
and a year end, each with Quartz's next 5 fire times; plus expressions Quartz rejects, and the
few it accepts that this module rejects on purpose. No Java is needed to run these tests.
"""

import gzip
import json
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

from ds_monitor.cron import CronError, parse
from ds_monitor.zones import parse_zone

DATA = Path(__file__).parent / "data" / "quartz_expected.json.gz"
ONE_SECOND = timedelta(seconds=1)
ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Europe/Berlin"]  # the data's keys: Java zone ids


@cache
def quartz() -> dict:
    with gzip.open(DATA, "rt", encoding="utf-8") as data:
        return json.load(data)


def starts() -> list[datetime]:
    return [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in quartz()["starts"]]


def instant(epoch_seconds: int | None) -> datetime | None:
    return None if epoch_seconds is None else datetime.fromtimestamp(epoch_seconds, timezone.utc)


def test_data_covers_what_it_should():
    data = quartz()
    assert data["zones"] == ZONES
    assert len(data["valid"]) >= 500
    assert len(data["invalid"]) >= 50
    features = ["L", "L-", "W", "LW", "#", "/", "-", ",", "MON", "JAN"]
    missing = [f for f in features if not any(f in v["expression"].upper() for v in data["valid"])]
    assert not missing
    assert sum(len(v["expression"].split()) == 7 for v in data["valid"]) >= 50


def test_every_expression_quartz_accepts_parses():
    problems = []
    for case in quartz()["valid"]:
        try:
            parse(case["expression"])
        except CronError as err:
            problems.append(str(err))
    assert not problems, "\n".join(problems)


def test_every_expression_quartz_rejects_is_rejected():
    accepted = []
    for case in quartz()["invalid"]:
        try:
            parse(case["expression"])
        except CronError:
            continue
        accepted.append(f"{case['expression']!r} (Quartz: {case['quartz_error']})")
    assert not accepted, "accepted although Quartz rejects:\n" + "\n".join(accepted)


@pytest.mark.parametrize("case", quartz()["lenient"], ids=lambda case: case["expression"])
def test_junk_quartz_tolerates_is_rejected(case):
    assert not case["quartz"].startswith("ERR")  # Quartz really accepts it (or breaks on it later)
    with pytest.raises(CronError):
        parse(case["expression"])


@pytest.mark.parametrize("name", ZONES)
def test_next_fire_times_match_quartz(name):
    zone = parse_zone(name)  # read as the DS client reads a schedule's timezoneId
    mismatches = []
    for case in quartz()["valid"]:
        cron = parse(case["expression"])
        for start, expected in zip(starts(), case["fires"][name], strict=True):
            got, t = [], start
            for _ in expected:
                t = cron.next_fire(t, zone) if t is not None else None
                got.append(t)
            want = [instant(e) for e in expected]
            if got != want:
                mismatches.append(
                    f"{case['expression']!r} after {start:%Y-%m-%dT%H:%M:%SZ}:\n"
                    f"  quartz {[w.isoformat() if w else None for w in want]}\n"
                    f"  ours   {[g.isoformat() if g else None for g in got]}"
                )
    assert not mismatches, f"{len(mismatches)} mismatches, first ones:\n" + "\n".join(mismatches[:10])


def restart_only_fire(cron, fire: datetime, zone: tzinfo) -> bool:
    """An nW fire Quartz gives when started in its month but skips when coming from the month before."""
    day_of_month = cron.expression.split()[3].upper()
    nearest_weekday = "W" in day_of_month and "L" not in day_of_month
    return nearest_weekday and cron.next_fire(fire - ONE_SECOND, zone) == fire


@pytest.mark.parametrize("name", ZONES)
def test_previous_fire_agrees_with_quartz_fire_chains(name):
    """Between two successive Quartz fires f1 < f2, previous_fire gives f1 (at f1 and just before f2)."""
    zone = parse_zone(name)
    problems = []
    for case in quartz()["valid"]:
        cron = parse(case["expression"])
        for chain in case["fires"][name]:
            fires = [instant(e) for e in chain if e is not None]
            for earlier, later in pairwise(fires):
                at_fire = cron.previous_fire(earlier, zone)
                before_next = cron.previous_fire(later - ONE_SECOND, zone)
                if at_fire != earlier:
                    problems.append(f"{case['expression']!r} previous_fire({earlier}) = {at_fire}")
                if before_next != earlier and not (
                    earlier < before_next < later and restart_only_fire(cron, before_next, zone)
                ):
                    problems.append(
                        f"{case['expression']!r} previous_fire({later} - 1s) = {before_next}, "
                        f"Quartz fired {earlier} then {later}"
                    )
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:10])

"""Fire times in real zones: DST gaps and overlaps the way Quartz resolves them, previous_fire, API edges.

Every expected value for a DST case here was checked against org.quartz.CronExpression 2.3.2
(scripts/quartz/QuartzOracle.java); the full differential run is test_quartz_differential.py.
"""

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ds_monitor.cron import CronExpression, next_fire_times, parse

ONE_SECOND = timedelta(seconds=1)
UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso(fires: list[datetime]) -> list[str]:
    return [f.isoformat() for f in fires]


@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"),
    [
        pytest.param(
            "0 30 2 * * ?",
            "America/New_York",
            "2024-03-09T12:00:00-05:00",
            ["2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"],
            id="gap-new-york-daily-0230-skipped",
        ),
        pytest.param(
            "0 30 2 * * ?",
            "America/New_York",
            "2025-03-08T12:00:00-05:00",
            ["2025-03-10T02:30:00-04:00", "2025-03-11T02:30:00-04:00"],
            id="gap-new-york-2025",
        ),
        pytest.param(
            "0 30 2 * * ?",
            "Europe/Berlin",
            "2025-03-29T12:00:00+01:00",
            ["2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00"],
            id="gap-berlin-daily-0230-skipped",
        ),
        pytest.param(
            "0 0 * * * ?",
            "America/New_York",
            "2024-03-10T00:30:00-05:00",
            ["2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"],
            id="gap-new-york-hourly",
        ),
        pytest.param(
            "0 45 2,3 * * ?",
            "America/New_York",
            "2024-03-10T00:30:00-05:00",
            ["2024-03-10T03:45:00-04:00", "2024-03-11T02:45:00-04:00"],
            id="gap-new-york-two-hours",
        ),
        pytest.param(
            "0 */30 * * * ?",
            "Europe/Berlin",
            "2025-03-30T01:00:00+01:00",
            ["2025-03-30T01:30:00+01:00", "2025-03-30T03:00:00+02:00"],
            id="gap-berlin-half-hourly",
        ),
        pytest.param(
            "0 30 1 * * ?",
            "America/New_York",
            "2024-11-02T12:00:00-04:00",
            ["2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"],
            id="overlap-new-york-daily-0130-once",
        ),
        pytest.param(
            "0 30 1 * * ?",
            "America/New_York",
            "2025-11-01T12:00:00-04:00",
            ["2025-11-02T01:30:00-05:00", "2025-11-03T01:30:00-05:00"],
            id="overlap-new-york-2025",
        ),
        pytest.param(
            "0 30 2 * * ?",
            "Europe/Berlin",
            "2025-10-25T12:00:00+02:00",
            ["2025-10-26T02:30:00+01:00", "2025-10-27T02:30:00+01:00"],
            id="overlap-berlin-daily-0230-once",
        ),
        pytest.param(
            "0 0 * * * ?",
            "America/New_York",
            "2024-11-02T23:30:00-04:00",
            ["2024-11-03T00:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"],
            id="overlap-new-york-hourly-fires-second-pass-only",
        ),
        pytest.param(
            "0 0 * * * ? *",
            "Europe/Berlin",
            "2025-10-26T01:30:00+02:00",
            ["2025-10-26T02:00:00+01:00", "2025-10-26T03:00:00+01:00"],
            id="overlap-berlin-hourly",
        ),
        pytest.param(
            "0 */20 * * * ?",
            "America/New_York",
            "2024-11-03T00:30:00-04:00",
            ["2024-11-03T00:40:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T01:20:00-05:00"],
            id="overlap-new-york-every-20-min",
        ),
        pytest.param(
            "0 30 1 * * ?",
            "America/New_York",
            "2024-11-03T01:10:00-04:00",
            ["2024-11-03T01:30:00-05:00"],
            id="start-in-first-pass-before-fire",
        ),
        pytest.param(
            "0 30 1 * * ?",
            "America/New_York",
            "2024-11-03T01:40:00-04:00",
            ["2024-11-04T01:30:00-05:00"],
            id="start-in-first-pass-after-fire-skips-second-pass",
        ),
        pytest.param(
            "0 0 2 * * ? *",
            "Asia/Shanghai",
            "2025-01-01T00:00:00+08:00",
            ["2025-01-01T02:00:00+08:00", "2025-01-02T02:00:00+08:00"],
            id="shanghai-2am-is-18h-utc",
        ),
    ],
)
def test_dst_cases_match_quartz(expression, zone, start, expected):
    assert iso(next_fire_times(expression, ZoneInfo(zone), at(start), len(expected))) == expected


def test_results_show_the_zone_wall_clock_with_its_offset():
    fire = parse("0 0 2 * * ? *").next_fire(at("2025-01-01T00:00:00+00:00"), ZoneInfo("Asia/Shanghai"))
    assert (fire.hour, fire.utcoffset()) == (2, timedelta(hours=8))
    assert fire == at("2025-01-01T18:00:00+00:00")


def test_fall_back_fire_equals_the_same_instant_in_another_zone():
    """A ZoneInfo datetime in a repeated hour compares unequal across zones (PEP 495); ours do not."""
    fire = parse("0 30 1 * * ?").next_fire(at("2024-11-02T12:00:00-04:00"), ZoneInfo("America/New_York"))
    assert fire == at("2024-11-03T06:30:00+00:00")
    assert fire + timedelta(hours=1) == at("2024-11-03T07:30:00+00:00")


def test_any_tzinfo_is_a_zone():
    """Fixed offsets too: parse_zone reads DS's ``GMT+8`` as one."""
    cron = parse("0 0 2 * * ?")
    start = at("2025-01-01T00:00:00+00:00")
    assert cron.next_fire(start, UTC) == at("2025-01-01T02:00:00+00:00")
    assert cron.next_fire(start, timezone(timedelta(hours=8), "GMT+8")) == at("2025-01-01T18:00:00+00:00")


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        pytest.param("2025-01-01T01:59:59.999999+00:00", "2025-01-01T02:00:00+00:00", id="just-before"),
        pytest.param("2025-01-01T02:00:00+00:00", "2025-01-02T02:00:00+00:00", id="at-fire-is-excluded"),
        pytest.param("2025-01-01T02:00:00.000001+00:00", "2025-01-02T02:00:00+00:00", id="just-after"),
        pytest.param("2025-01-01T10:00:00+08:00", "2025-01-02T02:00:00+00:00", id="other-offset"),
    ],
)
def test_next_fire_is_strictly_after(after, expected):
    assert parse("0 0 2 * * ?").next_fire(at(after), UTC) == at(expected)


@pytest.mark.parametrize(
    ("expression", "zone", "instant", "expected"),
    [
        pytest.param(
            "0 0 2 * * ?",
            "UTC",
            "2025-01-05T02:00:00+00:00",
            "2025-01-05T02:00:00+00:00",
            id="at-fire-included",
        ),
        pytest.param(
            "0 0 2 * * ?",
            "UTC",
            "2025-01-05T02:00:00.5+00:00",
            "2025-01-05T02:00:00+00:00",
            id="fraction-after",
        ),
        pytest.param(
            "0 0 2 * * ?",
            "UTC",
            "2025-01-05T01:59:59.999+00:00",
            "2025-01-04T02:00:00+00:00",
            id="just-before",
        ),
        pytest.param(
            "0 0 2 * * ? *",
            "Asia/Shanghai",
            "2025-01-01T17:59:59+00:00",
            "2025-01-01T02:00:00+08:00",
            id="shanghai",
        ),
        pytest.param(
            "0 0 0 L * ?", "UTC", "2025-03-15T00:00:00+00:00", "2025-02-28T00:00:00+00:00", id="last-day"
        ),
        pytest.param(
            "0 0 10 ? * FRI#3", "UTC", "2025-03-01T00:00:00+00:00", "2025-02-21T10:00:00+00:00", id="nth"
        ),
        pytest.param(
            "0 0 0 LW * ?", "UTC", "2025-06-01T00:00:00+00:00", "2025-05-30T00:00:00+00:00", id="last-weekday"
        ),
        pytest.param(
            "0 30 8 ? * MON-FRI *",
            "Europe/Berlin",
            "2025-01-06T07:29:59+00:00",
            "2025-01-03T08:30:00+01:00",
            id="weekend-in-between",
        ),
        pytest.param(
            "0 0 0 1 1 ? 2020-2024",
            "UTC",
            "2025-06-01T00:00:00+00:00",
            "2024-01-01T00:00:00+00:00",
            id="year-range-over",
        ),
        pytest.param(
            "0 30 2 * * ?",
            "America/New_York",
            "2024-03-10T12:00:00-04:00",
            "2024-03-09T02:30:00-05:00",
            id="gap-day-has-no-fire",
        ),
        pytest.param(
            "0 30 1 * * ?",
            "America/New_York",
            "2024-11-03T01:45:00-04:00",
            "2024-11-02T01:30:00-04:00",
            id="first-pass-fire-is-later",
        ),
        pytest.param(
            "0 30 1 * * ?",
            "America/New_York",
            "2024-11-03T01:45:00-05:00",
            "2024-11-03T01:30:00-05:00",
            id="second-pass",
        ),
        pytest.param(
            "0 0 * * * ?",
            "America/New_York",
            "2024-11-03T01:30:00-04:00",
            "2024-11-03T00:00:00-04:00",
            id="hourly-first-pass-not-a-fire",
        ),
        pytest.param(
            "0 0 * * * ?",
            "America/New_York",
            "2024-11-03T01:30:00-05:00",
            "2024-11-03T01:00:00-05:00",
            id="hourly-second-pass",
        ),
        pytest.param(
            "0 0 * * * ?",
            "Europe/Berlin",
            "2025-03-30T03:30:00+02:00",
            "2025-03-30T03:00:00+02:00",
            id="after-gap",
        ),
    ],
)
def test_previous_fire(expression, zone, instant, expected):
    assert parse(expression).previous_fire(at(instant), ZoneInfo(zone)) == at(expected)


def test_previous_fire_none_before_the_first_year():
    assert parse("0 0 0 1 1 ? 2026").previous_fire(at("2025-06-01T00:00:00+00:00"), UTC) is None


PROPERTY_EXPRESSIONS = [
    "0 0 2 * * ? *",
    "0 0 * * * ?",
    "0 */5 * * * ?",
    "0 30 8 ? * MON-FRI *",
    "0 30 1 * * ?",
    "0 30 2 * * ?",
    "*/20 * 1-3 * * ?",
    "0 0 0 L * ?",
    "0 0 12 L-3W * ?",
    "0 0 0 ? * 6L",
    "0 0 10 ? * 2#5",
    "0 0 0 15W * ?",
    "0 0 0 31W * ?",
    "0 15 22-2 ? * SAT,SUN",
    "0 0 0 29 2 ?",
    "30 59 23 31 12 ? 2024-2030",
]
PROPERTY_ZONES = [ZoneInfo(name) for name in ("America/New_York", "Europe/Berlin", "Asia/Shanghai", "UTC")]


def random_instants(seed: int, count: int) -> list[datetime]:
    """Instants spread over 2024-2028, half of them within a day of a New York or Berlin DST change."""
    rng = random.Random(seed)
    changes = [
        at(t)
        for t in (
            "2024-03-10T07:00:00+00:00",
            "2024-11-03T06:00:00+00:00",
            "2025-03-30T01:00:00+00:00",
            "2025-10-26T01:00:00+00:00",
        )
    ]
    instants = []
    for i in range(count):
        if i % 2:
            base = rng.choice(changes) + timedelta(seconds=rng.randint(-86400, 86400))
        else:
            base = at("2024-01-01T00:00:00+00:00") + timedelta(seconds=rng.randint(0, 5 * 365 * 86400))
        instants.append(base + timedelta(microseconds=rng.choice([0, 0, 1, 500000])))
    return instants


@pytest.mark.parametrize("zone", PROPERTY_ZONES, ids=str)
def test_previous_and_next_fire_are_consistent(zone):
    """prev(next(t)) == next(t), and no fire lies between prev(t) and t."""
    problems = []
    for expression in PROPERTY_EXPRESSIONS:
        cron = parse(expression)
        for t in random_instants(len(expression), 60):
            following = cron.next_fire(t, zone)
            if following is not None and cron.previous_fire(following, zone) != following:
                problems.append(f"{expression!r} prev(next({t})) = {cron.previous_fire(following, zone)}")
            before = cron.previous_fire(t, zone)
            if before is not None and not (before <= t < cron.next_fire(before, zone)):
                problems.append(
                    f"{expression!r} prev({t}) = {before}, next of it {cron.next_fire(before, zone)}"
                )
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("zone", PROPERTY_ZONES, ids=str)
def test_previous_fire_is_the_last_fire_a_forward_walk_finds(zone):
    """Brute force: walk next_fire from three days before t; the last fire <= t must be prev(t)."""
    problems = []
    for expression in [
        "0 0 2 * * ? *",
        "0 0 * * * ?",
        "0 30 1 * * ?",
        "0 30 2 * * ?",
        "*/20 * 1-3 * * ?",
        "0 15 22-2 ? * SAT,SUN",
        "0 */7 * * * ?",
    ]:
        cron = parse(expression)
        for t in random_instants(7, 30):
            walk, last = t - timedelta(days=3), None
            while (walk := cron.next_fire(walk, zone)) <= t:
                last = walk
            if last is not None and cron.previous_fire(t, zone) != last:
                problems.append(
                    f"{expression!r} at {t}: walk {last}, previous_fire {cron.previous_fire(t, zone)}"
                )
    assert not problems, "\n".join(problems[:20])


def test_fires_between_is_open_at_start_and_closed_at_end():
    cron = parse("0 0 */6 * * ?")
    fires = list(cron.fires_between(at("2025-01-01T00:00:00+00:00"), at("2025-01-02T00:00:00+00:00"), UTC))
    assert iso(fires) == [
        "2025-01-01T06:00:00+00:00",
        "2025-01-01T12:00:00+00:00",
        "2025-01-01T18:00:00+00:00",
        "2025-01-02T00:00:00+00:00",
    ]


def test_fires_between_crosses_the_new_york_fall_back():
    fires = parse("0 0 * * * ?").fires_between(
        at("2024-11-03T00:30:00-04:00"), at("2024-11-03T02:30:00-05:00"), ZoneInfo("America/New_York")
    )
    assert iso(fires) == ["2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"]


def test_next_fire_times_stops_when_the_years_run_out():
    fires = next_fire_times("0 0 0 1 1 ? 2025-2026", UTC, at("2024-06-01T00:00:00+00:00"), 5)
    assert iso(fires) == ["2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"]
    assert parse("0 0 0 1 1 ? 2025-2026").next_fire(at("2026-06-01T00:00:00+00:00"), UTC) is None


def test_next_fire_times_count_zero():
    assert next_fire_times("0 0 2 * * ?", UTC, at("2025-01-01T00:00:00+00:00"), 0) == []


@pytest.mark.parametrize("method", ["next_fire", "previous_fire"])
def test_naive_datetimes_are_refused(method):
    cron: CronExpression = parse("0 0 2 * * ?")
    naive = datetime(2025, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(cron, method)(naive, UTC)

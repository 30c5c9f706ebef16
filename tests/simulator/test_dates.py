"""Date rendering and startDate/endDate filters in the token user's zone (ds-api.md 4.4, 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .support import T0, data_of, error_of, instance_list


def _three_instances(sim):
    """Instances starting at T0-1h, T0 and T0+1h (T0 = 2024-06-01 02:00 UTC)."""
    project = sim.add_project("demo")
    definition = sim.add_definition(project, "etl")
    ids = {
        label: sim.add_instance(definition, start_time=T0 + timedelta(hours=offset))
        for label, offset in (("before", -1), ("at", 0), ("after", 1))
    }
    return project, ids


def _labels(sim, project, ids, **params):
    rows = data_of(instance_list(sim, project, **params))["totalList"]
    by_id = {v: k for k, v in ids.items()}
    return {by_id[row["id"]] for row in rows}


@pytest.mark.parametrize(
    ("user_zone", "server_zone", "start_text"),
    [
        (None, "UTC", "2024-06-01 02:00:00"),
        (None, "Asia/Shanghai", "2024-06-01 10:00:00"),
        ("America/New_York", "Asia/Shanghai", "2024-05-31 22:00:00"),
    ],
    ids=["server-utc", "server-shanghai", "user-new-york-wins"],
)
def test_json_dates_are_in_the_effective_zone(make_ds_sim, user_zone, server_zone, start_text):
    sim = make_ds_sim("3.2", user_timezone=user_zone, server_timezone=server_zone)
    project, ids = _three_instances(sim)

    rows = data_of(instance_list(sim, project))["totalList"]

    assert {r["id"]: r["startTime"] for r in rows}[ids["at"]] == start_text


@pytest.mark.parametrize("version", ["3.1", "3.2", "3.3"])
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"startDate": "2024-06-01 02:00:00"}, {"at", "after"}),
        ({"endDate": "2024-06-01 02:00:00"}, {"before", "at"}),
        ({"startDate": "2024-06-01 02:00:00", "endDate": "2024-06-01 02:00:00"}, {"at"}),
        ({"startDate": "2024-06-01 02:00:01"}, {"after"}),
    ],
    ids=["lower-inclusive", "upper-inclusive", "both-on-the-instant", "just-after"],
)
def test_3_1_plus_bounds_are_independent_and_inclusive(make_ds_sim, version, params, expected):
    sim = make_ds_sim(version)
    project, ids = _three_instances(sim)

    assert _labels(sim, project, ids, **params) == expected


@pytest.mark.parametrize(
    ("version", "params", "expected"),
    [
        ("3.0", {"startDate": "2024-06-01 02:00:00"}, {"before", "at", "after"}),
        ("3.0", {"endDate": "2024-06-01 02:00:00"}, {"before", "at", "after"}),
        ("3.0", {"startDate": "2024-06-01 02:00:00", "endDate": "2024-06-01 03:00:00"}, {"at", "after"}),
        ("3.0.0", {"startDate": "2024-06-01 02:00:00", "endDate": "2024-06-01 03:00:00"}, {"after"}),
        ("3.0.0", {"startDate": "2024-06-01 02:00:00"}, set()),
        ("3.0.0", {"endDate": "2024-06-01 02:00:00"}, {"before", "at", "after"}),
    ],
    ids=[
        "3.0-lower-alone-ignored",
        "3.0-upper-alone-ignored",
        "3.0-both-inclusive",
        "3.0.0-lower-exclusive",
        "3.0.0-missing-end-matches-nothing",
        "3.0.0-upper-alone-ignored",
    ],
)
def test_3_0_needs_both_bounds(make_ds_sim, version, params, expected):
    sim = make_ds_sim(version)
    project, ids = _three_instances(sim)

    assert _labels(sim, project, ids, **params) == expected


@pytest.mark.parametrize(
    ("user_zone", "server_zone", "start_date", "expected"),
    [
        (None, "UTC", "2024-06-01 02:00:00", {"at", "after"}),
        (None, "Asia/Shanghai", "2024-06-01 10:00:00", {"at", "after"}),
        ("Asia/Shanghai", "UTC", "2024-06-01 10:00:00", {"at", "after"}),
        ("Asia/Shanghai", "UTC", "2024-06-01 02:00:00", {"before", "at", "after"}),
    ],
    ids=["server-utc", "server-shanghai", "user-shanghai", "utc-text-read-as-shanghai"],
)
def test_filter_wall_clock_is_read_in_the_effective_zone(
    make_ds_sim, user_zone, server_zone, start_date, expected
):
    sim = make_ds_sim("3.2", user_timezone=user_zone, server_timezone=server_zone)
    project, ids = _three_instances(sim)

    assert _labels(sim, project, ids, startDate=start_date) == expected


@pytest.mark.parametrize(
    "bad",
    ["2024-06-01", "2024-06-01T02:00:00", "2024-06-01 02:00", "2024-06-01 02:00:00Z", "2024-13-01 00:00:00"],
    ids=["date-only", "iso-t", "no-seconds", "zone-suffix", "month-13"],
)
@pytest.mark.parametrize("param", ["startDate", "endDate"])
def test_unparseable_dates_are_10001(ds_sim, bad, param):
    project, _ = _three_instances(ds_sim)

    assert error_of(instance_list(ds_sim, project, **{param: bad})) == (
        10001,
        "request parameter startDate/endDate is not valid",
    )


def test_3_0_still_parses_a_lone_bound(make_ds_sim):
    sim = make_ds_sim("3.0")
    project, _ = _three_instances(sim)

    assert error_of(instance_list(sim, project, startDate="yesterday"))[0] == 10001

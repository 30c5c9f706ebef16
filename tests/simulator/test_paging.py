"""PageInfo shapes per version and the 3.0 silent 500-row cap (ds-api.md section 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .support import T0, data_of, get, instance_list


def _seed_instances(sim, count):
    project = sim.add_project("demo")
    definition = sim.add_definition(project, "etl")
    for minute in range(count):
        sim.add_instance(definition, start_time=T0 + timedelta(minutes=minute))
    return project


@pytest.mark.parametrize(
    ("version", "keys", "offset_key", "total_page"),
    [
        ("3.0", {"start"}, "start", 3),
        ("3.1", {"start"}, "start", 3),
        ("3.2.0", {"start"}, "start", 3),
        ("3.2.1", {"pageNo"}, "pageNo", None),
        ("3.2.2", {"pageNo"}, "pageNo", 3),
        ("3.2", {"pageNo"}, "pageNo", 3),
        ("3.3", {"pageNo"}, "pageNo", 3),
    ],
    ids=["3.0", "3.1", "3.2.0", "3.2.1", "3.2.2", "3.2", "3.3"],
)
def test_page_info_shape(make_ds_sim, version, keys, offset_key, total_page):
    sim = make_ds_sim(version)
    project = _seed_instances(sim, 25)

    page = data_of(instance_list(sim, project, pageNo=2, pageSize=10))

    assert set(page) == {"totalList", "total", "totalPage", "pageSize", "currentPage"} | keys
    assert (page["total"], page["totalPage"], page["pageSize"], page["currentPage"]) == (
        25,
        total_page,
        10,
        2,
    )
    assert page[offset_key] == 10  # an offset, never the page number
    assert len(page["totalList"]) == 10


@pytest.mark.parametrize(
    ("total", "page_size", "total_page"),
    [(0, 10, 1), (10, 10, 1), (11, 10, 2), (20, 10, 2)],
    ids=["empty-is-one-page", "exact", "one-over", "two-exact"],
)
def test_total_page_is_computed_like_ds(make_ds_sim, total, page_size, total_page):
    sim = make_ds_sim("3.2")
    project = _seed_instances(sim, total)

    assert data_of(instance_list(sim, project, pageNo=1, pageSize=page_size))["totalPage"] == total_page


def test_page_past_the_end_is_empty(ds_sim):
    project = _seed_instances(ds_sim, 3)

    page = data_of(instance_list(ds_sim, project, pageNo=5, pageSize=10))

    assert (page["totalList"], page["total"]) == ([], 3)


def test_3_0_caps_pages_at_500_rows_and_shrinks_the_offset(make_ds_sim):
    sim = make_ds_sim("3.0")
    project = _seed_instances(sim, 1200)

    first = data_of(instance_list(sim, project, pageNo=1, pageSize=1000))
    second = data_of(instance_list(sim, project, pageNo=2, pageSize=1000))

    assert (len(first["totalList"]), first["pageSize"], first["total"], first["totalPage"]) == (
        500,
        1000,
        1200,
        2,
    )
    assert second["start"] == 1000  # echoed from the request, not the real offset (500)
    newest_first = [T0 + timedelta(minutes=m) for m in reversed(range(1200))]
    expected_second = [t.strftime("%Y-%m-%d %H:%M:%S") for t in newest_first[500:1000]]
    assert [row["startTime"] for row in second["totalList"]] == expected_second


def test_3_1_has_no_cap(make_ds_sim):
    sim = make_ds_sim("3.1")
    project = _seed_instances(sim, 700)

    assert len(data_of(instance_list(sim, project, pageNo=1, pageSize=1000))["totalList"]) == 700


def test_3_0_cap_applies_to_every_paged_endpoint(make_ds_sim):
    sim = make_ds_sim("3.0")
    project = sim.add_project("demo")
    for n in range(501):
        sim.add_definition(project, f"def-{n}")

    page = data_of(get(sim, f"/projects/{project}/process-definition", pageNo=1, pageSize=600))

    assert (len(page["totalList"]), page["total"]) == (500, 501)

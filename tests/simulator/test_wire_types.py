"""Field types that third-party clients generated from the DS release tags check strictly.

Java primitives (``int``, ``long``) can never be null on the wire; boxed types (``Integer``) can.
Written out from the entities at the tags: ProcessDefinition.warningGroupId is ``Integer`` in
3.0.6, 3.2.2 and dev but ``int`` in 3.1.9; ProcessInstance.maxTryTimes/timeout/tenantId are ``int``
in 3.0.6 and 3.1.9, so the 3.0/3.1 instance list (which selects only some columns) prints 0 for them;
3.2.2 and dev instances have no tenantId at all.
"""

from __future__ import annotations

import pytest

from .support import ALL_VERSIONS, data_of, dialect, estate, get, instance_list


@pytest.mark.parametrize(("version", "expected"), [("3.0", None), ("3.1", 0), ("3.2", None), ("3.3", None)])
def test_definition_warning_group_id(make_ds_sim, version, expected):
    sim = make_ds_sim(version)
    project, _, _ = estate(sim)

    [row] = data_of(get(sim, f"/projects/{project}/{dialect(version)['definitions']}", pageNo=1, pageSize=10))[
        "totalList"
    ]

    assert row["warningGroupId"] == expected and not isinstance(row["warningGroupId"], bool)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_instance_int_fields_are_never_null(make_ds_sim, version):
    sim = make_ds_sim(version)
    project, _, instance = estate(sim)

    listed = data_of(instance_list(sim, project))["totalList"][0]
    detail = data_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/{instance}"))

    for row in (listed, detail):
        for key in ("maxTryTimes", "timeout", "runTimes", "dryRun"):
            assert isinstance(row[key], int) and not isinstance(row[key], bool), (key, row[key])
        # ProcessInstance.tenantId (int) exists in 3.0/3.1 only; 3.2 and dev keep tenantCode alone.
        assert isinstance(row.get("tenantId"), int) if version in ("3.0", "3.1") else "tenantId" not in row

"""Read endpoints on both API generations: projects, definitions, schedules, instances, tasks."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .support import ALL_VERSIONS, T0, data_of, dialect, error_of, estate, get, instance_list, post

# --------------------------------------------------------------------------- projects


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_projects_paged_list_search_and_counts(make_ds_sim, version):
    sim = make_ds_sim(version)
    alpha = sim.add_project("alpha")
    sim.add_project("beta")
    sim.add_definition(alpha, "one")
    sim.add_definition(alpha, "two")

    everything = data_of(get(sim, "/projects", pageNo=1, pageSize=10))
    found = data_of(get(sim, "/projects", pageNo=1, pageSize=10, searchVal="ALP"))

    assert [p["name"] for p in everything["totalList"]] == ["beta", "alpha"]  # newest first
    assert [(p["code"], p["defCount"]) for p in found["totalList"]] == [(alpha, 2)]
    assert ("instRunningCount" in found["totalList"][0]) is (version != "3.3")


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_project_list_and_by_code(make_ds_sim, version):
    sim = make_ds_sim(version)
    code = sim.add_project("alpha")

    assert [p["code"] for p in data_of(get(sim, "/projects/list"))] == [code]
    assert data_of(get(sim, f"/projects/{code}"))["name"] == "alpha"
    assert error_of(get(sim, "/projects/42")) == (10018, "project  not found ")


def test_project_codes_are_13_digit_and_can_be_chosen(ds_sim):
    generated = ds_sim.add_project("generated")
    chosen = ds_sim.add_project("chosen", code=9_876_543_210_987)

    assert len(str(generated)) == 13
    assert data_of(get(ds_sim, f"/projects/{chosen}"))["code"] == 9_876_543_210_987


# --------------------------------------------------------------------------- definitions


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_definition_paged_list_order_search_and_schedule(make_ds_sim, version):
    sim = make_ds_sim(version)
    project = sim.add_project("demo")
    older = sim.add_definition(project, "older", update_time=T0)
    newer = sim.add_definition(project, "newer_report", update_time=T0 + timedelta(hours=1))
    sim.add_schedule(older, "0 0 2 * * ? *", release_state="OFFLINE")
    base = f"/projects/{project}/{dialect(version)['definitions']}"

    page = data_of(get(sim, base, pageNo=1, pageSize=10))
    searched = data_of(get(sim, base, pageNo=1, pageSize=10, searchVal="report"))

    by_code = {d["code"]: d for d in page["totalList"]}
    assert [d["code"] for d in searched["totalList"]] == [newer]
    assert by_code[older]["scheduleReleaseState"] == "OFFLINE"
    assert by_code[newer]["scheduleReleaseState"] is None
    if version in ("3.2", "3.3"):
        assert by_code[older]["schedule"]["crontab"] == "0 0 2 * * ? *"
        assert by_code[newer]["schedule"] is None
    else:
        assert "schedule" not in by_code[older]
    if version == "3.0":  # 3.0 orders by schedule release state first (any schedule beats none)
        assert [d["code"] for d in page["totalList"]] == [older, newer]
    else:
        assert [d["code"] for d in page["totalList"]] == [newer, older]


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_definition_simple_list_and_by_code(make_ds_sim, version):
    sim = make_ds_sim(version)
    project = sim.add_project("demo")
    other = sim.add_project("other")
    code = sim.add_definition(project, "etl", version=3, release_state="OFFLINE")
    foreign = sim.add_definition(other, "theirs")
    base = f"/projects/{project}/{dialect(version)['definitions']}"
    wrapper = "workflowDefinition" if version == "3.3" else "processDefinition"

    simple = data_of(get(sim, f"{base}/simple-list"))
    dag = data_of(get(sim, f"{base}/{code}"))

    assert simple == [{"id": 1, "code": code, "name": "etl", "projectCode": project}]
    assert set(dag) == {wrapper, wrapper.replace("Definition", "TaskRelationList"), "taskDefinitionList"}
    assert (dag[wrapper]["version"], dag[wrapper]["releaseState"]) == (3, "OFFLINE")
    assert error_of(get(sim, f"{base}/{foreign}"))[0] == 50003
    assert error_of(get(sim, f"/projects/42/{dialect(version)['definitions']}/simple-list"))[0] == 10190


def test_unknown_definition_message_groups_the_code(ds_sim):
    project = ds_sim.add_project("demo")

    code, msg = error_of(get(ds_sim, f"/projects/{project}/process-definition/1234567"))

    assert (code, msg) == (50003, "process definition 1,234,567 does not exist")


# --------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("version", "param", "required"),
    [
        ("3.0", "processDefinitionCode", True),
        ("3.1", "processDefinitionCode", True),
        ("3.2", "processDefinitionCode", False),
        ("3.3", "workflowDefinitionCode", False),
    ],
    ids=["3.0", "3.1", "3.2", "3.3"],
)
def test_schedule_paged_list_definition_param(make_ds_sim, version, param, required):
    sim = make_ds_sim(version)
    project = sim.add_project("demo")
    first = sim.add_definition(project, "first")
    second = sim.add_definition(project, "second")
    sim.add_schedule(first, "0 0 2 * * ? *")
    sim.add_schedule(second, "0 30 * * * ? *")
    key = dialect(version)["definition_code_key"]
    path = f"/projects/{project}/schedules"

    filtered = data_of(get(sim, path, pageNo=1, pageSize=10, **{param: first}))
    unfiltered = get(sim, path, pageNo=1, pageSize=10)

    assert [s[key] for s in filtered["totalList"]] == [first]
    if required:
        assert error_of(unfiltered) == (10080, "query schedule list paging error")
    else:
        assert {s[key] for s in data_of(unfiltered)["totalList"]} == {first, second}
    assert error_of(get(sim, path, pageNo=1, pageSize=10, **{param: 99}))[0] == 50003
    assert error_of(get(sim, "/projects/42/schedules", pageNo=1, pageSize=10, **{param: first}))[0] == 10018


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_schedule_list_post_returns_all(make_ds_sim, version):
    sim = make_ds_sim(version)
    project = sim.add_project("demo")
    for name in ("a", "b", "c"):
        sim.add_schedule(sim.add_definition(project, name), "0 0 * * * ? *")

    schedules = data_of(post(sim, f"/projects/{project}/schedules/list"))

    assert len(schedules) == 3
    assert {s["timezoneId"] for s in schedules} == {"Asia/Shanghai"}


def test_schedule_times_vo_in_schedule_zone_entity_in_user_zone(make_ds_sim):
    """ds-api.md 7.3: the VO reproduces the entered wall-clock; the embedded entity shifts by user zone."""
    sim = make_ds_sim("3.2", user_timezone="Asia/Tokyo", server_timezone="UTC")
    project = sim.add_project("demo")
    code = sim.add_definition(project, "etl")
    shanghai = ZoneInfo("Asia/Shanghai")
    sim.add_schedule(code, "0 0 2 * * ? *", timezone_id="Asia/Shanghai",
                     start_time=datetime(2024, 1, 1, tzinfo=shanghai),
                     end_time=datetime(2030, 1, 1, tzinfo=shanghai))  # fmt: skip

    vo = data_of(get(sim, f"/projects/{project}/schedules", pageNo=1, pageSize=10))["totalList"][0]
    entity = data_of(get(sim, f"/projects/{project}/process-definition", pageNo=1, pageSize=10))["totalList"][
        0
    ]["schedule"]

    assert (vo["startTime"], vo["endTime"]) == ("2024-01-01 00:00:00", "2030-01-01 00:00:00")
    # stored as 00:00 in the UTC server zone, printed in Tokyo (+9)
    assert entity["startTime"] == "2024-01-01 09:00:00"


def test_one_schedule_per_definition(ds_sim):
    code = ds_sim.add_definition(ds_sim.add_project("demo"), "etl")
    ds_sim.add_schedule(code, "0 0 * * * ? *")

    with pytest.raises(ValueError, match="already has a schedule"):
        ds_sim.add_schedule(code, "0 0 * * * ? *")


# --------------------------------------------------------------------------- instances


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_instance_list_fields_per_version(make_ds_sim, version):
    sim = make_ds_sim(version)
    project, definition, instance = estate(sim)

    row = data_of(instance_list(sim, project))["totalList"][0]

    key = dialect(version)["definition_code_key"]
    assert (row["id"], row[key], row["state"], row["runTimes"]) == (instance, definition, "FAILURE", 1)
    assert (row["startTime"], row["endTime"], row["duration"]) == (
        "2024-06-01 02:00:00",
        "2024-06-01 02:05:00",
        "5m",
    )
    assert ("projectCode" in row) is (version in ("3.2", "3.3"))
    assert ("isSubWorkflow" in row) is (version == "3.3")
    if version in ("3.0", "3.1"):  # the list selects a subset of columns; the rest is null
        assert row["failureStrategy"] is None and row["host"] == "127.0.0.1:5678"
    else:
        assert row["failureStrategy"] == "END"


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_instance_list_filters(make_ds_sim, version):
    sim = make_ds_sim(version)
    project = sim.add_project("demo")
    etl = sim.add_definition(project, "etl")
    report = sim.add_definition(project, "report")
    failed = sim.add_instance(etl, state="FAILURE", start_time=T0, host="10.0.0.1:5678")
    ok = sim.add_instance(etl, state="SUCCESS", start_time=T0, host="10.0.0.2:5678")
    other = sim.add_instance(report, state="FAILURE", start_time=T0, name="report-special")
    sim.add_instance(etl, state="FAILURE", start_time=T0, is_sub_process=True)
    definition_param = dialect(version)["instance_list_definition_param"]

    def ids(**params):
        return {row["id"] for row in data_of(instance_list(sim, project, **params))["totalList"]}

    assert ids() == {failed, ok, other}  # the sub-workflow instance is never listed
    assert ids(stateType="FAILURE") == {failed, other}
    assert ids(**{definition_param: etl}) == {failed, ok}
    assert ids(searchVal="special") == {other}
    assert ids(host="10.0.0.2") == {ok}
    assert ids(executorName="nobody") == set()


def test_wrong_family_definition_param_is_ignored(make_ds_sim):
    sim = make_ds_sim("3.3")
    project, definition, instance = estate(sim)
    sim.add_instance(sim.add_definition(project, "other"), start_time=T0)

    rows = data_of(instance_list(sim, project, processDefineCode=definition))["totalList"]

    assert len(rows) == 2


def test_instance_list_order_is_start_then_end_desc(ds_sim):
    project = ds_sim.add_project("demo")
    code = ds_sim.add_definition(project, "etl")
    early = ds_sim.add_instance(code, start_time=T0, end_time=T0 + timedelta(minutes=1))
    late_short = ds_sim.add_instance(
        code, start_time=T0 + timedelta(hours=1), end_time=T0 + timedelta(hours=1)
    )
    late_long = ds_sim.add_instance(
        code, start_time=T0 + timedelta(hours=1), end_time=T0 + timedelta(hours=2)
    )

    rows = data_of(instance_list(ds_sim, project))["totalList"]

    assert [r["id"] for r in rows] == [late_long, late_short, early]


@pytest.mark.parametrize(
    ("version", "bad_state"),
    [("3.0", "FAILED"), ("3.1", "NEED_FAULT_TOLERANCE"), ("3.2", "6"), ("3.3", "WAIT_TO_RUN")],
    ids=["3.0-typo", "3.1-3.0-only-state", "3.2-number", "3.3-removed-state"],
)
def test_invalid_state_type_is_10113(make_ds_sim, version, bad_state):
    sim = make_ds_sim(version)
    project, _, _ = estate(sim)

    assert error_of(instance_list(sim, project, stateType=bad_state))[0] == 10113


def test_3_0_lists_its_own_states(make_ds_sim):
    sim = make_ds_sim("3.0")
    project, definition, _ = estate(sim)
    tolerant = sim.add_instance(definition, state="NEED_FAULT_TOLERANCE", start_time=T0)

    rows = data_of(instance_list(sim, project, stateType="NEED_FAULT_TOLERANCE"))["totalList"]

    assert [r["id"] for r in rows] == [tolerant]


def test_states_unknown_to_the_version_cannot_be_seeded(make_ds_sim):
    sim = make_ds_sim("3.3")
    definition = sim.add_definition(sim.add_project("demo"), "etl")

    with pytest.raises(ValueError, match="NEED_FAULT_TOLERANCE"):
        sim.add_instance(definition, state="NEED_FAULT_TOLERANCE", start_time=T0)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"pageNo": 0}, (10001, "request parameter pageNo is not valid")),
        ({"pageSize": -5}, (10001, "request parameter pageSize is not valid")),
        ({"pageNo": ""}, (10113, "query process instance list paging error")),
        ({"pageSize": "ten"}, (10113, "query process instance list paging error")),
    ],
    ids=["pageNo-zero", "pageSize-negative", "pageNo-missing", "pageSize-not-a-number"],
)
def test_instance_list_page_param_errors(ds_sim, params, expected):
    project, _, _ = estate(ds_sim)

    assert error_of(instance_list(ds_sim, project, **params)) == expected


def test_dev_appends_the_spring_message_to_handler_errors(make_ds_sim):
    sim = make_ds_sim("3.3")
    project, _, _ = estate(sim)

    code, msg = error_of(instance_list(sim, project, pageNo=""))

    assert code == 10113
    assert msg.startswith("query workflow instance list paging error:Required request parameter 'pageNo'")


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_instance_list_unknown_project_is_10190(make_ds_sim, version):
    sim = make_ds_sim(version)

    assert error_of(instance_list(sim, 42)) == (10190, "This project was not found. Please refresh page.")


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_one_instance_has_dag_data_and_locations(make_ds_sim, version):
    sim = make_ds_sim(version)
    project, definition, instance = estate(sim)
    wrapper = "workflowDefinition" if version == "3.3" else "processDefinition"

    one = data_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/{instance}"))

    assert one["id"] == instance and "locations" in one
    assert one["dagData"][wrapper]["code"] == definition
    assert one["failureStrategy"] == "END"  # the detail is never the 3.0/3.1 column subset


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.0", (10116, "query process instance by id error")),
        ("3.1", (50001, "process instance 1,234 does not exist")),
        ("3.2", (50001, "process instance 1,234 does not exist")),
        ("3.3", (50001, "workflow instance 1,234 does not exist")),
    ],
    ids=["3.0", "3.1", "3.2", "3.3"],
)
def test_unknown_instance_id(make_ds_sim, version, expected):
    sim = make_ds_sim(version)
    project, _, _ = estate(sim)

    assert error_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/1234")) == expected


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_instance_of_another_project_is_50003_with_the_instance_id(make_ds_sim, version):
    sim = make_ds_sim(version)
    _, _, instance = estate(sim)
    other = sim.add_project("other")

    code, msg = error_of(get(sim, f"/projects/{other}/{dialect(version)['instances']}/{instance}"))

    assert code == 50003
    assert msg.endswith(f"definition {instance} does not exist")


# --------------------------------------------------------------------------- tasks


@pytest.mark.parametrize(
    ("version", "state_key", "state_text"),
    [
        ("3.0", "processInstanceState", "FAILURE"),
        ("3.1", "processInstanceState", "WorkflowExecutionStatus{code=6, desc='failure'}"),
        ("3.2", "processInstanceState", "WorkflowExecutionStatus{code=6, desc='failure'}"),
        ("3.3", "workflowInstanceState", "FAILURE"),
    ],
    ids=["3.0", "3.1", "3.2", "3.3"],
)
def test_task_list_shape_and_state_rendering(make_ds_sim, version, state_key, state_text):
    sim = make_ds_sim(version)
    project, _, instance = estate(sim)
    first = sim.add_task(
        instance, "extract", state="SUCCESS", start_time=T0, end_time=T0 + timedelta(minutes=1)
    )
    second = sim.add_task(instance, "load", state="FAILURE", start_time=T0 + timedelta(minutes=1))

    data = data_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/{instance}/tasks"))

    assert set(data) == {"taskList", state_key}
    assert data[state_key] == state_text
    assert [t["id"] for t in data["taskList"]] == [second, first]  # start_time desc
    instance_key = "workflowInstanceId" if version == "3.3" else "processInstanceId"
    assert data["taskList"][0][instance_key] == instance


@pytest.mark.parametrize(
    ("version", "code"), [("3.0", 10114), ("3.1", 50001), ("3.3", 50001)], ids=["3.0", "3.1", "3.3"]
)
def test_tasks_of_unknown_instance(make_ds_sim, version, code):
    sim = make_ds_sim(version)
    project, _, _ = estate(sim)

    assert error_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/999/tasks"))[0] == code


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    ("version", "raw_placeholders"),
    [("3.0", True), ("3.1", True), ("3.2", False), ("3.3", False)],
    ids=["3.0-raw", "3.1-raw", "3.2", "3.3"],
)
def test_denied_project_is_hidden_and_answers_30002(make_ds_sim, version, raw_placeholders):
    sim = make_ds_sim(version)
    project, _, instance = estate(sim)
    sim.set_project_permission(project, False)
    if raw_placeholders:
        msg = "user {0} is not has project {1} permission"
    else:
        msg = f"user admin is not has project {project:,} permission"

    assert data_of(get(sim, "/projects/list")) == []
    assert error_of(instance_list(sim, project)) == (30002, msg)
    assert error_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/{instance}"))[0] == 30002

    sim.set_project_permission(project, True)
    assert data_of(instance_list(sim, project))["total"] == 1


def test_definition_list_user_filter(ds_sim):
    project = ds_sim.add_project("demo")
    ds_sim.add_definition(project, "etl")
    path = f"/projects/{project}/process-definition"

    assert data_of(get(ds_sim, path, pageNo=1, pageSize=10, userId=1))["total"] == 1
    assert data_of(get(ds_sim, path, pageNo=1, pageSize=10, userId=2))["total"] == 0

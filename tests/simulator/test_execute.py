"""POST /executors/execute semantics, refusal codes per version, and the simulated master (ds-api.md 4.7)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .support import (
    ALL_VERSIONS,
    PROCESS_VERSIONS,
    T0,
    data_of,
    dialect,
    error_of,
    estate,
    execute,
    get,
    post,
)

NOW = T0 + timedelta(days=1)
RECOVER = "START_FAILURE_TASK_PROCESS"


@pytest.fixture
def make_sim(make_ds_sim):
    """Simulators whose DS clock is fixed at NOW."""
    return lambda version: make_ds_sim(version, clock=lambda: NOW)


@pytest.mark.parametrize("version", PROCESS_VERSIONS)
def test_3_0_to_3_2_recover_queues_and_leaves_the_state(make_sim, version):
    sim = make_sim(version)
    project, _, instance = estate(sim)

    assert data_of(execute(sim, project, instance, RECOVER)) is None

    seen = sim.get_instance(instance)
    assert (seen["state"], seen["run_times"], seen["queued_commands"]) == ("FAILURE", 1, [RECOVER])


@pytest.mark.parametrize("version", PROCESS_VERSIONS)
def test_master_pickup_runs_the_recover(make_sim, version):
    sim = make_sim(version)
    project, _, instance = estate(sim)
    execute(sim, project, instance, RECOVER)

    assert sim.master_pickup() == 1

    seen = sim.get_instance(instance)
    assert (seen["state"], seen["command_type"], seen["run_times"]) == ("RUNNING_EXECUTION", RECOVER, 2)
    assert (seen["restart_time"], seen["start_time"]) == (NOW, T0)
    assert seen["end_time"] == T0 + timedelta(minutes=5)  # 3.0-3.2 keep the old endTime while running
    assert (seen["queued_commands"], seen["consumed_commands"]) == ([], [RECOVER])
    assert sim.master_pickup() == 0


def test_3_3_recover_submits_synchronously(make_sim):
    sim = make_sim("3.3")
    project, _, instance = estate(sim)

    assert data_of(execute(sim, project, instance, RECOVER)) is None

    seen = sim.get_instance(instance)
    assert (seen["state"], seen["run_times"], seen["restart_time"], seen["end_time"]) == (
        "SUBMITTED_SUCCESS", 2, NOW, None
    )  # fmt: skip
    assert sim.master_pickup() == 1
    seen = sim.get_instance(instance)
    assert (seen["state"], seen["run_times"]) == ("RUNNING_EXECUTION", 2)


@pytest.mark.parametrize(
    ("version", "second_answer"),
    [("3.0", 50009), ("3.1", 50009), ("3.2", 0), ("3.3", 10000)],
    ids=["3.0-guard", "3.1-guard", "3.2-no-guard", "3.3-state-moved-on"],
)
def test_second_recover_while_queued(make_sim, version, second_answer):
    sim = make_sim(version)
    project, definition, instance = estate(sim)
    execute(sim, project, instance, RECOVER)

    body = execute(sim, project, instance, RECOVER).json()

    assert body["code"] == second_answer
    if second_answer == 50009:  # the argument is the definition code, passed as a string: no grouping
        assert body["msg"] == f"process instance {definition} is executing the command, please wait ..."
    expected_queue = [RECOVER, RECOVER] if second_answer == 0 else [RECOVER]
    assert sim.get_instance(instance)["queued_commands"] == expected_queue


def test_3_2_duplicate_commands_are_each_run_by_the_master(make_sim):
    sim = make_sim("3.2")
    project, _, instance = estate(sim)
    execute(sim, project, instance, RECOVER)
    execute(sim, project, instance, RECOVER)

    assert sim.master_pickup() == 2
    assert sim.get_instance(instance)["run_times"] == 3


@pytest.mark.parametrize(
    ("version", "code", "msg"),
    [
        (
            "3.0",
            50006,
            "the status of process instance {name} is RUNNING_EXECUTION,Cannot perform {action} operation",
        ),
        (
            "3.1",
            50006,
            "the status of process instance {name} is WorkflowExecutionStatus{{code=1, desc='running'}},"
            "Cannot perform {action} operation",
        ),
        ("3.2", 50015, "execute process instance error"),
        (
            "3.3",
            10000,
            "Internal Server Error: The workflow instance: {name} status is RUNNING_EXECUTION, "
            "can not be recovered",
        ),
    ],
    ids=["3.0", "3.1", "3.2", "3.3"],
)
def test_recover_of_a_running_instance_is_refused(make_sim, version, code, msg):
    sim = make_sim(version)
    project, _, instance = estate(sim, state="RUNNING_EXECUTION")
    name = sim.get_instance(instance)["name"]

    assert error_of(execute(sim, project, instance, RECOVER)) == (code, msg.format(name=name, action=RECOVER))
    assert sim.get_instance(instance)["queued_commands"] == []


@pytest.mark.parametrize(
    ("state", "code"), [("NEED_FAULT_TOLERANCE", 0), ("KILL", 50006)], ids=["fault-tolerance", "kill"]
)
def test_3_0_recovers_from_need_fault_tolerance_too(make_sim, state, code):
    sim = make_sim("3.0")
    project, _, instance = estate(sim, state=state)

    assert execute(sim, project, instance, RECOVER).json()["code"] == code


@pytest.mark.parametrize(
    ("version", "code"),
    [("3.0", 50004), ("3.1", 0), ("3.2", 0), ("3.3", 0)],
    ids=["3.0", "3.1", "3.2", "3.3"],
)
def test_offline_definition_blocks_recover_only_on_3_0(make_sim, version, code):
    sim = make_sim(version)
    project, definition, instance = estate(sim)
    sim.set_definition_release_state(definition, "OFFLINE")

    body = execute(sim, project, instance, RECOVER).json()

    assert body["code"] == code
    if code == 50004:
        assert body["msg"] == f"process definition {definition:,} process version 1 not online"


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unknown_instance_is_50001_with_grouped_id(make_sim, version):
    sim = make_sim(version)
    project, _, _ = estate(sim)
    noun = "workflow" if version == "3.3" else "process"

    assert error_of(execute(sim, project, 123456, RECOVER)) == (
        50001,
        f"{noun} instance 123,456 does not exist",
    )


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(
    "execute_type", ["", "RECOVER", "3", "EXECUTE_TASK_X"], ids=["missing", "unknown", "number", "typo"]
)
def test_bad_execute_type_is_50015(make_sim, version, execute_type):
    sim = make_sim(version)
    project, _, instance = estate(sim)

    code, msg = error_of(execute(sim, project, instance, execute_type))

    assert code == 50015
    if version == "3.3":
        assert msg.startswith("execute workflow instance error:")
    else:
        assert msg == "execute process instance error"


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_missing_instance_id_is_50015(make_sim, version):
    sim = make_sim(version)
    project, _, _ = estate(sim)

    assert error_of(post(sim, f"/projects/{project}/executors/execute", executeType=RECOVER))[0] == 50015


def test_old_id_param_on_3_3_is_a_missing_param(make_sim):
    sim = make_sim("3.3")
    project, _, instance = estate(sim)

    response = post(
        sim, f"/projects/{project}/executors/execute", processInstanceId=instance, executeType=RECOVER
    )

    assert error_of(response)[0] == 50015


@pytest.mark.parametrize(
    ("version", "action", "code"),
    [
        ("3.0", RECOVER, 50003),
        ("3.0", "STOP", 0),
        ("3.1", RECOVER, 50003),
        ("3.2", RECOVER, 50015),
        ("3.2", "STOP", 50015),
        ("3.3", RECOVER, 0),
    ],
    ids=[
        "3.0-recover",
        "3.0-stop-unchecked",
        "3.1-recover",
        "3.2-recover",
        "3.2-stop",
        "3.3-own-project-used",
    ],
)
def test_instance_of_another_project(make_sim, version, action, code):
    sim = make_sim(version)
    _, _, instance = estate(sim, state="RUNNING_EXECUTION" if action == "STOP" else "FAILURE")
    other = sim.add_project("other")

    assert execute(sim, other, instance, action).json()["code"] == code


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unknown_project_is_10190(make_sim, version):
    sim = make_sim(version)
    _, _, instance = estate(sim)

    assert error_of(execute(sim, 42, instance, RECOVER))[0] == 10190


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.0", (10025, "master does not exist")),
        ("3.2", (10025, "master does not exist")),
        ("3.3", (10000, "Internal Server Error: no master server available")),
    ],
    ids=["3.0", "3.2", "3.3"],
)
def test_no_master(make_sim, version, expected):
    sim = make_sim(version)
    project, _, instance = estate(sim)
    sim.master_available = False

    assert error_of(execute(sim, project, instance, RECOVER)) == expected


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_repeat_running_gets_a_new_start_time(make_sim, version):
    sim = make_sim(version)
    project, _, instance = estate(sim, state="SUCCESS")

    data_of(execute(sim, project, instance, "REPEAT_RUNNING"))
    assert sim.get_instance(instance)["state"] == "SUCCESS"  # only a command is queued, even on 3.3
    sim.master_pickup()

    seen = sim.get_instance(instance)
    assert (seen["state"], seen["command_type"], seen["run_times"]) == (
        "RUNNING_EXECUTION",
        "REPEAT_RUNNING",
        2,
    )
    assert (seen["start_time"], seen["end_time"]) == (NOW, None)


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(
    ("action", "ready", "final"), [("STOP", "READY_STOP", "STOP"), ("PAUSE", "READY_PAUSE", "PAUSE")]
)
def test_stop_and_pause_are_immediate_then_settled_by_the_master(make_sim, version, action, ready, final):
    sim = make_sim(version)
    project, _, instance = estate(sim, state="RUNNING_EXECUTION")

    data_of(execute(sim, project, instance, action))
    assert sim.get_instance(instance)["state"] == ready

    assert sim.master_pickup() == 0  # not a command
    assert sim.get_instance(instance)["state"] == final


def test_3_3_stops_a_serial_waiting_instance_directly(make_sim):
    sim = make_sim("3.3")
    project, _, instance = estate(sim, state="SERIAL_WAIT")

    data_of(execute(sim, project, instance, "STOP"))

    assert sim.get_instance(instance)["state"] == "STOP"


@pytest.mark.parametrize(
    ("version", "code"), [("3.0", 50006), ("3.1", 50006), ("3.2", 50015), ("3.3", 0)], ids=ALL_VERSIONS
)
def test_stop_while_ready_stop(make_sim, version, code):
    sim = make_sim(version)
    project, _, instance = estate(sim, state="READY_STOP")

    assert execute(sim, project, instance, "STOP").json()["code"] == code


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_recover_suspended_from_pause(make_sim, version):
    sim = make_sim(version)
    project, _, instance = estate(sim, state="PAUSE")

    data_of(execute(sim, project, instance, "RECOVER_SUSPENDED_PROCESS"))
    sim.master_pickup()

    seen = sim.get_instance(instance)
    assert (seen["state"], seen["command_type"], seen["run_times"]) == (
        "RUNNING_EXECUTION", "RECOVER_SUSPENDED_PROCESS", 2
    )  # fmt: skip


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_auto_master_picks_up_before_the_next_read(make_sim, version):
    sim = make_sim(version)
    sim.auto_master = True
    project, _, instance = estate(sim)

    data_of(execute(sim, project, instance, RECOVER))
    one = data_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/{instance}"))

    assert (one["state"], one["runTimes"]) == ("RUNNING_EXECUTION", 2)


def test_recover_resubmits_failed_tasks_and_keeps_successful_ones(make_sim):
    sim = make_sim("3.2")
    project, _, instance = estate(sim)
    done = sim.add_task(instance, "extract", state="SUCCESS", start_time=T0)
    failed = sim.add_task(instance, "load", state="FAILURE", start_time=T0 + timedelta(minutes=1))
    execute(sim, project, instance, RECOVER)
    sim.master_pickup()

    tasks = data_of(get(sim, f"/projects/{project}/process-instances/{instance}/tasks"))["taskList"]

    by_name = {t["name"]: t for t in tasks}
    assert by_name["extract"]["id"] == done
    assert by_name["load"]["id"] != failed and by_name["load"]["state"] == "SUBMITTED_SUCCESS"
    assert len(tasks) == 2  # the failed attempt is flagged NO and hidden


def test_finish_instance_and_set_state(make_sim):
    sim = make_sim("3.2")
    _, _, instance = estate(sim, state="RUNNING_EXECUTION")

    sim.finish_instance(instance)
    assert (sim.get_instance(instance)["state"], sim.get_instance(instance)["end_time"]) == ("SUCCESS", NOW)

    sim.set_instance_state(instance, "FAILURE", end_time=T0)
    assert (sim.get_instance(instance)["state"], sim.get_instance(instance)["end_time"]) == ("FAILURE", T0)

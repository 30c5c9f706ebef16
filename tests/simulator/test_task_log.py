"""``GET /log/detail`` (ds-api.md 4.8) on every version, and task fields the monitor reads (4.6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .support import ALL_VERSIONS, T0, data_of, dialect, error_of, estate, execute, get

LOG = "line one\nline two\nERROR: boom\nline four"


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_log_head_lines_and_paging(make_ds_sim, version):
    sim = make_ds_sim(version)
    _, _, instance = estate(sim)
    task = sim.add_task(instance, "load", start_time=T0, end_time=T0 + timedelta(minutes=1), log=LOG)

    first = data_of(get(sim, "/log/detail", taskInstanceId=task, skipLineNum=0, limit=2))
    rest = data_of(get(sim, "/log/detail", taskInstanceId=task, skipLineNum=2, limit=100))

    assert set(first) == {"lineNum", "message"}
    assert first["message"].startswith("[LOG-PATH]: /opt/ds/worker-server/logs/")
    assert first["message"].endswith("line one\r\nline two\r\n")
    assert first["lineNum"] == len(first["message"].split("\r\n"))
    assert rest["message"] == "ERROR: boom\r\nline four\r\n"  # no head after the first page


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_log_refusals(make_ds_sim, version):
    sim = make_ds_sim(version)
    _, _, instance = estate(sim)
    queued = sim.add_task(instance, "load", state="SUBMITTED_SUCCESS", host=None)

    assert error_of(get(sim, "/log/detail", taskInstanceId=999, skipLineNum=0, limit=10)) == (
        10008,
        "task instance not found",
    )
    assert error_of(get(sim, "/log/detail", taskInstanceId=queued, skipLineNum=0, limit=10)) == (
        10191,
        "task instance host is null",
    )
    assert error_of(get(sim, "/log/detail", taskInstanceId=queued, skipLineNum=0))[0] == 10103


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_task_retries_and_unassigned_host_are_typed_like_ds(make_ds_sim, version):
    sim = make_ds_sim(version)
    project, _, instance = estate(sim)
    sim.add_task(instance, "load", start_time=T0, retry_times=2, max_retry_times=3)
    sim.add_task(instance, "queued", state="SUBMITTED_SUCCESS", host=None)

    tasks = data_of(get(sim, f"/projects/{project}/{dialect(version)['instances']}/{instance}/tasks"))["taskList"]
    by_name = {t["name"]: t for t in tasks}

    assert (by_name["load"]["retryTimes"], by_name["load"]["maxRetryTimes"]) == (2, 3)
    assert by_name["queued"]["host"] is None


def test_failed_rerun_ends_its_tasks_with_the_given_log(ds_sim):
    project, _, instance = estate(ds_sim)
    ds_sim.add_task(instance, "load", start_time=T0, end_time=T0 + timedelta(minutes=1), log="first")

    data_of(execute(ds_sim, project, instance, "START_FAILURE_TASK_PROCESS"))
    ds_sim.master_pickup()
    ds_sim.finish_instance(instance, "FAILURE", task_log="Caused by: java.sql.SQLSyntaxErrorException")

    tasks = data_of(get(ds_sim, f"/projects/{project}/process-instances/{instance}/tasks"))["taskList"]
    log = data_of(get(ds_sim, "/log/detail", taskInstanceId=tasks[0]["id"], skipLineNum=0, limit=10))

    assert [t["state"] for t in tasks] == ["FAILURE"]
    assert log["message"].endswith("Caused by: java.sql.SQLSyntaxErrorException\r\n")

"""HTTP-level contract of the double: auth, envelopes, unknown paths, user info, recording, lifecycle."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
import requests

from ds_monitor.simulator import DSSimulator

from .support import ALL_VERSIONS, T0, data_of, get, instance_list, post


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["missing", "unknown"])
def test_bad_token_is_401_with_empty_body(make_ds_sim, version, token):
    sim = make_ds_sim(version)
    project = sim.add_project("demo")

    response = instance_list(sim, project, token=token)

    assert response.status_code == 401
    assert response.content == b""


def test_expired_token_is_401_and_other_tokens_still_work(ds_sim):
    ds_sim.add_token("second")
    assert data_of(get(ds_sim, "/projects/list")) == []

    ds_sim.expire_token()

    assert get(ds_sim, "/projects/list").status_code == 401
    assert data_of(get(ds_sim, "/projects/list", token="second")) == []


def test_token_expiry_follows_the_injected_clock(make_ds_sim):
    now = [T0]
    sim = make_ds_sim("3.2", clock=lambda: now[0])
    sim.add_token("short", expires_at=T0 + timedelta(hours=1))
    assert get(sim, "/projects/list", token="short").status_code == 200

    now[0] = T0 + timedelta(hours=1)

    assert get(sim, "/projects/list", token="short").status_code == 401


@pytest.mark.parametrize(
    ("version", "token", "status"),
    [
        ("3.0", None, 401),
        ("3.1", None, 401),
        ("3.2", None, 200),
        ("3.3", None, 200),
        ("3.0", "test-token", 200),
        ("3.2", "test-token", 200),
    ],
    ids=["3.0-no-token", "3.1-no-token", "3.2-no-token", "3.3-no-token", "3.0-token", "3.2-token"],
)
def test_unknown_path_is_the_ui_page(make_ds_sim, version, token, status):
    sim = make_ds_sim(version)

    response = get(sim, "/projects/1/no-such-thing", token=token)

    assert response.status_code == status
    if status == 200:
        assert response.headers["Content-Type"].startswith("text/html")
        assert b"<html" in response.content


@pytest.mark.parametrize(
    ("version", "probe_is_json"),
    [("3.0", False), ("3.1", False), ("3.2", False), ("3.3", True)],
    ids=["3.0", "3.1", "3.2", "3.3"],
)
def test_family_probe_from_ds_api_10_1(make_ds_sim, version, probe_is_json):
    sim = make_ds_sim(version)
    project = sim.add_project("demo")

    response = get(sim, f"/projects/{project}/workflow-instances", pageNo=1, pageSize=1)

    assert response.headers["Content-Type"].startswith("application/json") is probe_is_json


def test_other_family_paths_are_unknown(make_ds_sim):
    sim = make_ds_sim("3.3")
    project = sim.add_project("demo")

    response = get(sim, f"/projects/{project}/process-instances", pageNo=1, pageSize=1)

    assert response.headers["Content-Type"].startswith("text/html")


def test_path_outside_the_context_path_is_404(ds_sim):
    response = requests.get(ds_sim.url.replace("/dolphinscheduler", "/api/projects"), timeout=5)

    assert response.status_code == 404


def test_wrong_method_on_a_known_path_is_405(ds_sim):
    project = ds_sim.add_project("demo")

    response = get(ds_sim, f"/projects/{project}/executors/execute")

    assert response.status_code == 405
    assert response.json()["status"] == 405


@pytest.mark.parametrize(
    ("user_zone", "server_zone", "expected"),
    [
        (None, "UTC", "UTC"),
        (None, "Asia/Shanghai", "Asia/Shanghai"),
        ("Europe/Berlin", "UTC", "Europe/Berlin"),
    ],
    ids=["server-default", "server-zone", "user-zone"],
)
def test_user_info_reports_the_effective_zone(make_ds_sim, user_zone, server_zone, expected):
    sim = make_ds_sim("3.2", user_timezone=user_zone, server_timezone=server_zone)

    assert data_of(get(sim, "/users/get-user-info"))["timeZone"] == expected


def test_user_zone_can_change_while_running(ds_sim):
    ds_sim.set_user_timezone("Asia/Tokyo")
    assert data_of(get(ds_sim, "/users/get-user-info"))["timeZone"] == "Asia/Tokyo"

    ds_sim.set_user_timezone(None)

    assert data_of(get(ds_sim, "/users/get-user-info"))["timeZone"] == "UTC"


def test_calls_are_recorded_without_context_path(make_ds_sim):
    fixed = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    sim = make_ds_sim("3.2", clock=lambda: fixed)
    project = sim.add_project("demo")

    instance_list(sim, project, stateType="FAILURE")
    post(sim, f"/projects/{project}/executors/execute", processInstanceId="7", executeType="STOP")
    get(sim, "/projects/list", token=None)

    first, second, third = sim.calls
    assert (first.method, first.path, first.status, first.at) == (
        "GET", f"/projects/{project}/process-instances", 200, fixed
    )  # fmt: skip
    assert first.params == {"stateType": "FAILURE", "pageNo": "1", "pageSize": "50"}
    assert (second.method, second.params) == ("POST", {"processInstanceId": "7", "executeType": "STOP"})
    assert third.status == 401
    assert sim.count_calls() == 3
    assert sim.count_calls(method="GET") == 2
    assert sim.count_calls(path_contains="executors") == 1
    sim.clear_calls()
    assert sim.calls == []


def test_execute_reads_query_string_parameters_too(ds_sim):
    project = ds_sim.add_project("demo")
    definition = ds_sim.add_definition(project, "etl")
    instance = ds_sim.add_instance(definition, state="FAILURE", start_time=T0)

    response = requests.post(
        f"{ds_sim.url}/projects/{project}/executors/execute",
        params={"processInstanceId": instance, "executeType": "START_FAILURE_TASK_PROCESS"},
        headers={"token": "test-token"},
        timeout=5,
    )

    assert data_of(response) is None
    assert ds_sim.get_instance(instance)["queued_commands"] == ["START_FAILURE_TASK_PROCESS"]


def test_keep_alive_session_reuses_one_connection(ds_sim):
    with requests.Session() as session:
        session.headers["token"] = "test-token"
        for _ in range(3):
            assert session.get(ds_sim.url + "/projects/list", timeout=5).status_code == 200


def test_rate_limit_answers_429_with_empty_body(ds_sim):
    ds_sim.rate_limit_qps = 2

    statuses = [get(ds_sim, "/projects/list") for _ in range(4)]

    assert [r.status_code for r in statuses][:2] == [200, 200]
    assert statuses[-1].status_code == 429
    assert statuses[-1].content == b""


def test_rate_limit_is_off_by_default(ds_sim):
    assert all(get(ds_sim, "/projects/list").status_code == 200 for _ in range(20))


def test_stop_frees_the_port_and_is_idempotent():
    sim = DSSimulator()
    url = sim.start()
    port = int(url.split(":")[2].split("/")[0])
    sim.stop()
    sim.stop()

    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def test_context_manager_starts_and_stops():
    with DSSimulator(version="3.3") as sim:
        assert sim.url.startswith("http://127.0.0.1:") and sim.url.endswith("/dolphinscheduler")
        assert data_of(get(sim, "/projects/list")) == []
    with pytest.raises(requests.ConnectionError):
        get(sim, "/projects/list")


@pytest.mark.parametrize("version", ["2.0", "3.4", ""], ids=["old", "new", "empty"])
def test_unknown_version_is_refused(version):
    with pytest.raises(ValueError, match="unsupported DolphinScheduler version"):
        DSSimulator(version=version)

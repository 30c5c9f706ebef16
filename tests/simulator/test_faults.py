"""Injected faults: what the client sees, how faults are matched and consumed, and what gets applied."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from ds_monitor.simulator import FAULT_KINDS

from .support import data_of, estate, execute, get


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("http_500", 500, "application/json"),
        ("http_502", 502, "text/html"),
        ("http_503", 503, "text/html"),
        ("http_504", 504, "text/html"),
        ("html", 200, "text/html"),
    ],
    ids=lambda value: str(value),
)
def test_status_faults(ds_sim, kind, status, content_type):
    ds_sim.inject(kind)

    response = get(ds_sim, "/projects/list")

    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(content_type)
    assert ds_sim.calls[-1].status == status


@pytest.mark.parametrize(("kind", "status"), [("http_429", 429), ("token_rejected", 401)], ids=["429", "401"])
def test_empty_body_faults(ds_sim, kind, status):
    ds_sim.inject(kind)

    response = get(ds_sim, "/projects/list")

    assert (response.status_code, response.content) == (status, b"")


def test_malformed_json_is_a_complete_answer_that_does_not_parse(ds_sim):
    ds_sim.inject("malformed_json")

    response = get(ds_sim, "/projects/list")

    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_truncated_json_breaks_off_mid_body(ds_sim):
    ds_sim.inject("truncated_json")

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(ds_sim, "/users/get-user-info")


def test_drop_closes_without_answer(ds_sim):
    ds_sim.inject("drop")

    with pytest.raises(requests.ConnectionError):
        get(ds_sim, "/projects/list")
    assert ds_sim.calls[-1].status == 0


def test_drop_after_apply_queues_the_command_but_never_answers(ds_sim):
    project, _, instance = estate(ds_sim)
    ds_sim.inject("drop_after_apply", path_contains="/executors/execute", method="POST")

    with pytest.raises(requests.ConnectionError):
        execute(ds_sim, project, instance, "START_FAILURE_TASK_PROCESS")

    assert ds_sim.get_instance(instance)["queued_commands"] == ["START_FAILURE_TASK_PROCESS"]


def test_drop_does_not_apply_the_action(ds_sim):
    project, _, instance = estate(ds_sim)
    ds_sim.inject("drop", path_contains="/executors/execute")

    with pytest.raises(requests.ConnectionError):
        execute(ds_sim, project, instance, "START_FAILURE_TASK_PROCESS")

    assert ds_sim.get_instance(instance)["queued_commands"] == []


def test_timeout_stalls_past_the_client_timeout(ds_sim):
    ds_sim.inject("timeout", delay=0.5)

    with pytest.raises(requests.Timeout):
        requests.get(ds_sim.url + "/projects/list", headers={"token": "test-token"}, timeout=0.1)


def test_latency_fault_delays_then_answers(ds_sim):
    ds_sim.inject("latency", delay=0.05)

    started = time.monotonic()
    data_of(get(ds_sim, "/projects/list"))

    assert time.monotonic() - started >= 0.05


def test_latency_fault_needs_a_delay(ds_sim):
    with pytest.raises(ValueError, match="delay"):
        ds_sim.inject("latency")


def test_stop_wakes_a_request_stalled_by_a_timeout_fault(make_ds_sim):
    sim = make_ds_sim("3.2")
    sim.inject("timeout", delay=30)
    outcome = []
    client = threading.Thread(target=lambda: outcome.append(_try_get(sim)))
    client.start()
    while not sim.calls:
        time.sleep(0.005)

    sim.stop()
    client.join(timeout=5)

    assert not client.is_alive()  # a 30 s stall would still be running
    assert outcome == ["connection error"]


def _try_get(sim):
    try:
        return get(sim, "/projects/list").status_code
    except requests.ConnectionError:
        return "connection error"


def test_faults_are_consumed_one_per_matching_request(ds_sim):
    ds_sim.inject("http_503", times=2)

    statuses = [get(ds_sim, "/projects/list").status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_fault_until_cleared(ds_sim):
    ds_sim.inject("http_502", times=None)
    assert [get(ds_sim, "/projects/list").status_code for _ in range(3)] == [502, 502, 502]

    ds_sim.clear_faults()

    assert get(ds_sim, "/projects/list").status_code == 200


def test_fault_matches_path_and_method(ds_sim):
    ds_sim.inject("http_500", path_contains="/users/", method="get")

    assert get(ds_sim, "/projects/list").status_code == 200
    assert get(ds_sim, "/users/get-user-info").status_code == 500
    assert get(ds_sim, "/users/get-user-info").status_code == 200


def test_faults_apply_in_injection_order(ds_sim):
    ds_sim.inject("http_502")
    ds_sim.inject("http_504")

    assert [get(ds_sim, "/projects/list").status_code for _ in range(3)] == [502, 504, 200]


@pytest.mark.parametrize("times", [0, -1], ids=["zero", "negative"])
def test_bad_fault_arguments_are_refused(ds_sim, times):
    with pytest.raises(ValueError, match="times"):
        ds_sim.inject("drop", times=times)
    with pytest.raises(ValueError, match="unknown fault kind"):
        ds_sim.inject("explode")


def test_every_documented_kind_is_accepted(ds_sim):
    for kind in FAULT_KINDS:
        ds_sim.inject(kind, path_contains="/never", delay=0.01)
    ds_sim.clear_faults()
    assert get(ds_sim, "/never").status_code == 200


def test_base_latency_applies_to_every_request(ds_sim):
    ds_sim.latency = 0.03

    started = time.monotonic()
    get(ds_sim, "/projects/list")
    get(ds_sim, "/projects/list")

    assert time.monotonic() - started >= 0.06

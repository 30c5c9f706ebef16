"""Plain-``requests`` helpers for talking to the DS double the way a client would.

The per-version names below are written out from ds-api.md on purpose (not read from the
simulator's own tables), so the tests check the simulator against the document.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from ds_monitor.simulator import DSSimulator

TOKEN = "test-token"
T0 = datetime(2024, 6, 1, 2, 0, tzinfo=timezone.utc)
PROCESS_VERSIONS = ["3.0", "3.1", "3.2"]
ALL_VERSIONS = ["3.0", "3.1", "3.2", "3.3"]

INSTANCES = {"3.3": "workflow-instances"}
DEFINITIONS = {"3.3": "workflow-definition"}
INSTANCE_LIST_DEFINITION_PARAM = {"3.3": "workflowDefinitionCode"}
EXECUTE_ID_PARAM = {"3.3": "workflowInstanceId"}
DEFINITION_CODE_KEY = {"3.3": "workflowDefinitionCode"}


def dialect(version: str) -> dict[str, str]:
    """Paths and names of ``version`` per ds-api.md section 1."""
    return {
        "instances": INSTANCES.get(version, "process-instances"),
        "definitions": DEFINITIONS.get(version, "process-definition"),
        "instance_list_definition_param": INSTANCE_LIST_DEFINITION_PARAM.get(version, "processDefineCode"),
        "execute_id_param": EXECUTE_ID_PARAM.get(version, "processInstanceId"),
        "definition_code_key": DEFINITION_CODE_KEY.get(version, "processDefinitionCode"),
    }


def get(sim: DSSimulator, path: str, *, token: str | None = TOKEN, **params: Any) -> requests.Response:
    headers = {"token": token} if token else {}
    return requests.get(sim.url + path, params=params, headers=headers, timeout=5)


def post(sim: DSSimulator, path: str, *, token: str | None = TOKEN, **form: Any) -> requests.Response:
    headers = {"token": token} if token else {}
    return requests.post(sim.url + path, data=form, headers=headers, timeout=5)


def data_of(response: requests.Response) -> Any:
    """The ``data`` of a successful envelope (asserting the envelope's shape on the way)."""
    assert response.status_code == 200, response.status_code
    body = response.json()
    assert set(body) == {"code", "msg", "data", "success", "failed"}, body
    assert (body["code"], body["msg"], body["success"], body["failed"]) == (0, "success", True, False), body
    return body["data"]


def error_of(response: requests.Response) -> tuple[int, str]:
    """``(code, msg)`` of a business refusal: HTTP 200, ``data`` null, ``failed`` true."""
    assert response.status_code == 200, response.status_code
    body = response.json()
    assert body["success"] is False and body["failed"] is True and body["data"] is None, body
    return body["code"], body["msg"]


def instance_list(sim: DSSimulator, project: int, **params: Any) -> requests.Response:
    params.setdefault("pageNo", 1)
    params.setdefault("pageSize", 50)
    return get(sim, f"/projects/{project}/{dialect(sim.version.name)['instances']}", **params)


def execute(sim: DSSimulator, project: int, instance_id: int, execute_type: str) -> requests.Response:
    names = dialect(sim.version.name)
    return post(
        sim, f"/projects/{project}/executors/execute", **{names["execute_id_param"]: instance_id},
        executeType=execute_type,
    )  # fmt: skip


def estate(sim: DSSimulator, *, state: str = "FAILURE") -> tuple[int, int, int]:
    """One project, one definition and one finished instance in ``state``: (project, definition, instance)."""
    project = sim.add_project("demo")
    definition = sim.add_definition(project, "etl_daily")
    instance = sim.add_instance(definition, state=state, start_time=T0, end_time=T0 + timedelta(minutes=5))
    return project, definition, instance

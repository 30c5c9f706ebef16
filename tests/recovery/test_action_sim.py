"""Recovery end to end: the real DSClient against the DS double, per emulated version."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor.config import DolphinSchedulerConfig
from ds_monitor.ds.client import DSClient
from ds_monitor.recovery.decisions import RecoveryPolicy
from ds_monitor.state import RECOVERY
from ds_monitor.state.files import StateStore
from tests.recovery.helpers import Handler, follow_up, saved

DS_NOW = datetime(2024, 6, 1, 3, 0, tzinfo=timezone.utc)
TIMEOUT = timedelta(minutes=30)
EXECUTE = "executors/execute"


class Crash(BaseException):
    """Stands for the process dying right after DS applied the call."""


class DyingClient:
    """The real client, but the process dies after the recover call reached DS and before the answer."""

    def __init__(self, client: DSClient):
        self.client = client

    def get_instance(self, project_code, instance_id):
        return self.client.get_instance(project_code, instance_id)

    def recover_failed_node(self, project_code, instance_id):
        self.client.recover_failed_node(project_code, instance_id)
        raise Crash


@pytest.fixture
def estate(make_ds_sim, request):
    """(sim, client, project code, failed instance id) for the version in ``request.param``."""
    version = getattr(request, "param", "3.2")
    sim = make_ds_sim(version, clock=lambda: DS_NOW)
    project = sim.add_project("data-platform")
    definition = sim.add_definition(project, "daily_etl_job")
    instance = sim.add_instance(definition, state="FAILURE", start_time=DS_NOW - timedelta(hours=1))
    config = DolphinSchedulerConfig(
        api_url=sim.url, token=sim.token, api_version=version[:3], server_timezone="UTC", timeout_seconds=2
    )
    client = DSClient(config, retry_backoff=0)
    yield sim, client, project, instance
    client.close()


def handler(client, tmp_path, **policy) -> Handler:
    return Handler(client, StateStore(tmp_path), RecoveryPolicy(**policy), pending_timeout=TIMEOUT)


def sweep(h: Handler, client, project, instance, now):
    candidate = client.get_instance(project, instance)
    outcomes = h.recover_candidates({project: [candidate]}, saved(h), now=now).outcomes
    follow_ups, _ = follow_up(h, client.get_instance, saved(h), now)
    return outcomes, follow_ups


@pytest.mark.parametrize("estate", ["3.2"], indirect=True)
def test_v32_one_command_while_no_master_then_failed_then_succeeded(estate, tmp_path):
    sim, client, project, instance = estate
    h = handler(client, tmp_path)
    outcomes, _ = sweep(h, client, project, instance, DS_NOW)
    assert [(o.attempt, o.result) for o in outcomes] == [(1, "triggered")]
    for minute in (1, 2, 3):
        outcomes, follow = sweep(h, client, project, instance, DS_NOW + timedelta(minutes=minute))
        assert outcomes[0].result == "skipped_state" and "recovery pending since" in outcomes[0].detail
    assert sim.get_instance(instance)["queued_commands"] == ["START_FAILURE_TASK_PROCESS"]
    assert sim.count_calls("POST", EXECUTE) == 1

    sim.master_pickup()
    sim.finish_instance(instance, "FAILURE")
    outcomes, follow = sweep(h, client, project, instance, DS_NOW + timedelta(minutes=10))
    assert [(o.attempt, o.result) for o in outcomes] == [(2, "triggered")]
    assert [(f.kind, f.attempt) for f in follow if f.kind != "recovery_triggered"] == [("recovery_failed", 1)]

    sim.master_pickup()
    sim.finish_instance(instance, "SUCCESS")
    follow, _ = follow_up(h, client.get_instance, saved(h), DS_NOW + timedelta(minutes=20))
    ended = [(f.kind, f.attempt, f.state) for f in follow if f.kind != "recovery_triggered"]
    assert ended == [("recovery_succeeded", 2, "SUCCESS")]
    assert sim.count_calls("POST", EXECUTE) == 2


@pytest.mark.parametrize("estate", ["3.3"], indirect=True)
def test_v33_submitted_success_at_once(estate, tmp_path):
    sim, client, project, instance = estate
    h = handler(client, tmp_path)
    outcomes, follow = sweep(h, client, project, instance, DS_NOW)
    assert outcomes[0].result == "triggered" and [(f.kind, f.attempt) for f in follow] == [("recovery_triggered", 1)]
    assert sim.get_instance(instance)["state"] == "SUBMITTED_SUCCESS"
    assert h.store.load(RECOVERY)["instances"][str(instance)]["status"] == "running"
    outcomes, _ = sweep(h, client, project, instance, DS_NOW + timedelta(minutes=1))
    assert outcomes[0].detail == "state is SUBMITTED_SUCCESS (our recovery is under way)"
    assert sim.count_calls("POST", EXECUTE) == 1


@pytest.mark.parametrize("estate", ["3.0", "3.1", "3.2", "3.3"], indirect=True)
def test_answer_lost_after_apply_is_not_repeated(estate, tmp_path):
    sim, client, project, instance = estate
    sim.inject("drop_after_apply", path_contains=EXECUTE, method="POST")
    h = handler(client, tmp_path)
    outcomes, follow = sweep(h, client, project, instance, DS_NOW)
    assert outcomes[0].result == "unknown" and "no answer from DS" in outcomes[0].detail
    told = [f.kind for f in follow]
    outcomes, follow = sweep(h, client, project, instance, DS_NOW + timedelta(minutes=5))
    assert outcomes[0].result == "skipped_state"
    told += [f.kind for f in follow]
    sim.master_pickup()
    _, follow = sweep(h, client, project, instance, DS_NOW + timedelta(minutes=6))
    told += [f.kind for f in follow]
    assert told == ["recovery_triggered"]  # once DS shows it took the call, never before
    assert h.store.load(RECOVERY)["instances"][str(instance)]["status"] == "running"
    assert sim.count_calls("POST", EXECUTE) == 1


@pytest.mark.parametrize("estate", ["3.1", "3.2", "3.3"], indirect=True)
def test_restart_after_crash_between_call_and_answer(estate, tmp_path):
    sim, client, project, instance = estate
    dying = handler(DyingClient(client), tmp_path)
    with pytest.raises(Crash):
        sweep(dying, client, project, instance, DS_NOW)
    restarted = handler(client, tmp_path)
    outcomes, _ = sweep(restarted, client, project, instance, DS_NOW + timedelta(minutes=1))
    assert outcomes[0].result == "skipped_state"
    assert sim.count_calls("POST", EXECUTE) == 1


@pytest.mark.parametrize("estate", ["3.2"], indirect=True)
def test_no_master_is_rejected_as_transient(estate, tmp_path):
    sim, client, project, instance = estate
    sim.master_available = False
    h = handler(client, tmp_path)
    outcomes, _ = sweep(h, client, project, instance, DS_NOW)
    assert outcomes[0].result == "rejected" and "DS 10025" in outcomes[0].detail
    sim.master_available = True
    outcomes, _ = sweep(h, client, project, instance, DS_NOW + timedelta(minutes=1))
    assert (outcomes[0].attempt, outcomes[0].result) == (1, "triggered")


@pytest.mark.parametrize("estate", ["3.0"], indirect=True)
def test_v30_offline_definition_is_rejected_and_held(estate, tmp_path):
    sim, client, project, instance = estate
    sim.set_definition_release_state(sim.get_instance(instance)["definition_code"], "OFFLINE")
    h = handler(client, tmp_path)
    outcomes, _ = sweep(h, client, project, instance, DS_NOW)
    assert outcomes[0].result == "rejected" and "DS 50004" in outcomes[0].detail
    outcomes, _ = sweep(h, client, project, instance, DS_NOW + timedelta(minutes=1))
    assert outcomes[0].result == "skipped_state" and outcomes[0].detail.startswith("DS refused at")
    assert sim.count_calls("POST", EXECUTE) == 1

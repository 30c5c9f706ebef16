"""`explain` end to end: a real sweep's state, a silence, and the DS double; a handful of DS calls."""

from __future__ import annotations

import json

import pytest

from ds_monitor.ds.models import FAILURE, SUCCESS
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes


@pytest.fixture
def estate(make_ds_sim, tmp_path, run_cli):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    project = sim.add_project("data-platform")
    etl = sim.add_definition(project, "daily_etl_job")
    sim.add_schedule(etl, "0 0 2 * * ? *", timezone_id="Asia/Shanghai")
    sync = sim.add_definition(project, "hourly_sync_task")
    failed = sim.add_instance(
        etl, state=FAILURE, start_time=NOW - minutes(40), end_time=NOW - minutes(35), command_type="SCHEDULER"
    )
    sim.add_instance(sync, state=SUCCESS, start_time=NOW - minutes(20), end_time=NOW - minutes(19))
    sweep = make_monitor(make_config(sim, tmp_path), senders=[RecordingSender()]).sweep(NOW)
    assert sweep.ok, sweep.error

    env = {"DS_API_URL": sim.url, "DS_TOKEN": TOKEN, "DS_STATE_DIR": str(tmp_path)}

    def run(*argv):
        result = run_cli(*argv, env=env, clock=lambda: NOW + minutes(5))
        return result.exit_code, result.stdout, result.stderr

    return sim, etl, failed, run


def test_explain_one_workflow_in_sentences_and_json_with_few_calls(estate):
    sim, etl, failed, run = estate
    code, out, err = run("silence", "add", "--project", "data-*", "--for", "1h", "--reason", "DS upgrade")
    assert code == 0, err
    silence_id = out.strip()
    sim.clear_calls()

    code, out, err = run("explain", "data-platform/daily_etl_job")
    assert code == 0, err
    # Projects, the version probe and the user's zone (once per connection), then definitions,
    # schedules, the window's instances and the failed instance's tasks: seven calls.
    paths = [c.path for c in sim.calls]
    assert len(paths) == 7, paths
    assert paths[-1].endswith(f"/{failed}/tasks"), paths
    assert "Workflow daily_etl_job" in out
    assert "schedule `0 0 2 * * ? *` in Asia/Shanghai" in out
    assert f"Instance #{failed} " in out and "FAILURE" in out
    assert f"Recovery of instance #{failed}: 1 attempt(s)" in out
    assert f"Announced failure_detected for instance #{failed}" in out
    assert f"Announced recovery_triggered (attempt 1) for instance #{failed}" in out
    assert f"Silence {silence_id}" in out and "mutes it now" in out
    assert "The monitor last looked at it at" in out

    code, out, err = run("explain", "data-platform/daily_etl_job", "--json")
    assert code == 0, err
    (item,) = json.loads(out)
    assert item["workflow"]["code"] == etl and item["monitored"] is True
    assert [row["id"] for row in item["instances"]] == [failed]
    assert item["recoveries"][0]["last_result"] == "triggered"
    assert item["silences"][0]["id"] == silence_id
    assert item["failures_in_window"] == 1 and item["systemic"] is False
    assert "failed_tasks" in item["instances"][0]


def test_explain_a_project_explains_each_workflow(estate):
    _, _, _, run = estate
    code, out, err = run("explain", "data-platform", "--json")
    assert code == 0, err
    assert [item["workflow"]["name"] for item in json.loads(out)] == ["daily_etl_job", "hourly_sync_task"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("data-platfrom", "project 'data-platfrom' not found in DS (closest: data-platform)"),
        ("data-platform/daily_etl", "workflow 'daily_etl' not found in project 'data-platform' (closest: daily_etl"),
    ],
    ids=["project", "workflow"],
)
def test_unknown_names_get_the_closest_and_exit_2(estate, target, message):
    _, _, _, run = estate
    code, _, err = run("explain", target)
    assert code == 2
    assert message in err

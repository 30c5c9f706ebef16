"""A monitor whose selection matches nothing in DS says so (issue 15 item 1): never a green blind sweep."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ds_monitor.config import ProjectSelection
from ds_monitor.http_endpoint import Health
from ds_monitor.sweep.health import describe_failure_reason
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes


@pytest.fixture
def sim(make_ds_sim):
    return make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)


def test_sweep_fails_announces_unhealthy_at_once_and_recovers_when_the_project_appears(sim, tmp_path):
    sim.add_project("data-platform")
    config = replace(make_config(sim, tmp_path), projects=(ProjectSelection("data-platfrom"),))
    sender = RecordingSender()
    monitor = make_monitor(config, senders=[sender])

    first = monitor.sweep(NOW)
    assert not first.ok
    assert "watching nothing" in first.error and "'data-platfrom' not found in DS" in first.error
    assert first.events == ["monitor_unhealthy"]
    health = Health(check_interval=60, started_at=NOW)
    health.sweep_attempted(NOW, first.ok, describe_failure_reason(first))
    ready, reason = health.readiness()
    assert not ready and "watching nothing" in reason
    unhealthy = [item for digest in sender.digests for item in digest.items]
    assert [item.kind for item in unhealthy] == ["monitor_unhealthy"]
    assert "data-platfrom" in str(unhealthy[0])

    assert monitor.sweep(NOW + minutes(1)).events == []  # announced once, still failing
    sim.add_project("data-platfrom")
    back = monitor.sweep(NOW + minutes(2))
    assert back.ok, back.error
    assert back.events == ["monitor_recovered"]
    monitor.close()


def test_listed_workflows_that_all_miss_watch_nothing(sim, tmp_path):
    project = sim.add_project("p")
    sim.add_definition(project, "daily")
    config = replace(make_config(sim, tmp_path), projects=(ProjectSelection("p", ("dialy",), monitor_all=False),))
    monitor = make_monitor(config)
    report = monitor.sweep(NOW)
    monitor.close()
    assert not report.ok and "workflow 'dialy' not found in project 'p'" in report.error


def test_an_empty_project_watched_whole_is_something(sim, tmp_path):
    sim.add_project("p")
    config = replace(make_config(sim, tmp_path), projects=(ProjectSelection("p"),))
    monitor = make_monitor(config)
    report = monitor.sweep(NOW)
    monitor.close()
    assert report.ok, report.error


@pytest.mark.parametrize("command", [["config", "check"], ["check"]])
def test_config_check_and_check_exit_1(sim, tmp_path, run_cli, command):
    sim.add_project("data-platform")
    config = tmp_path / "config.yaml"
    config.write_text("projects: [data-platfrom]\n", encoding="utf-8")
    env = {
        "DS_API_URL": sim.url,
        "DS_TOKEN": TOKEN,
        "DS_STATE_DIR": str(tmp_path / "state"),
        "DS_LOGGING__FILE": str(tmp_path / "monitor.log"),
    }
    result = run_cli(*command, "-c", str(config), env=env, clock=lambda: NOW)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "watching nothing" in result.stdout + result.stderr
    assert "configuration OK" not in result.stdout

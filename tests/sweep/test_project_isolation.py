"""Each project is a unit of work (spec sections 3 and 7): one unreadable project never blinds the
others, and a bug met in one sweep never ends the daemon. Real HTTP against the DS double."""

from __future__ import annotations

import json

import pytest

from ds_monitor.ds.models import FAILURE
from ds_monitor.state import RECOVERY
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes

EXECUTE = "executors/execute"


@pytest.fixture
def estate(make_ds_sim):
    """Three projects, each with one fresh failure; returns the simulator and {name: (project, instance)}."""
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    failures = {}
    for name in ("alpha", "broken", "gamma"):
        project = sim.add_project(name)
        definition = sim.add_definition(project, f"{name}_etl")
        start = NOW - minutes(30)
        failures[name] = (project, sim.add_instance(definition, state=FAILURE, start_time=start, end_time=start))
    return sim, failures


def kinds(sender: RecordingSender) -> list[str]:
    return [item.kind for digest in sender.digests for item in digest.items]


@pytest.mark.parametrize(
    ("fault", "path"),
    [
        ("http_500", "process-instances"),
        ("html", "process-instances"),
        ("malformed_json", "process-instances"),
        ("http_500", "process-definition"),
        ("http_502", "schedules"),
    ],
    ids=["instances-500", "instances-html", "instances-bad-json", "definitions-500", "schedules-502"],
)
def test_one_unreadable_project_never_blinds_the_others(estate, tmp_path, fault, path):
    sim, failures = estate
    broken_code, broken_instance = failures["broken"]
    sim.inject(fault, path_contains=f"projects/{broken_code}/{path}", times=None)
    sender = RecordingSender()
    monitor = make_monitor(make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}), senders=[sender])

    report = monitor.sweep(NOW)

    assert report.ok, report.error
    assert not report.complete
    assert [(row.project_code, row.name) for row in report.unreadable_projects] == [(broken_code, "broken")]
    assert report.unreadable_projects[0].reason
    found = {row.instance_id for row in report.failed_instances}
    assert found == {failures["alpha"][1], failures["gamma"][1]}
    recovered = {row.instance_id for row in report.recoveries if row.result == "triggered"}
    assert recovered == {failures["alpha"][1], failures["gamma"][1]}
    assert broken_instance not in recovered
    assert kinds(sender).count("project_unreadable") == 1
    assert kinds(sender).count("failure_detected") == 2


def test_unreadable_is_announced_once_then_readable_again(estate, tmp_path):
    sim, failures = estate
    broken_code, broken_instance = failures["broken"]
    sim.inject("http_500", path_contains=f"projects/{broken_code}/process-instances", times=None)
    sender = RecordingSender()
    monitor = make_monitor(make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}), senders=[sender])

    for n in range(3):
        report = monitor.sweep(NOW + minutes(n))
        assert report.ok and len(report.unreadable_projects) == 1
    assert kinds(sender).count("project_unreadable") == 1

    sim.clear_faults()
    back = monitor.sweep(NOW + minutes(5))
    assert back.complete, back.unreadable_projects
    assert broken_instance in {row.instance_id for row in back.failed_instances}
    assert kinds(sender).count("project_readable") == 1
    unreadable_item = next(i for d in sender.digests for i in d.items if i.kind == "project_unreadable")
    assert ("Project", f"broken ({broken_code})") in unreadable_item.facts


def test_no_readable_project_fails_the_sweep(estate, tmp_path):
    sim, _ = estate
    sim.inject("http_500", path_contains="process-instances", times=None)
    monitor = make_monitor(make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}))

    report = monitor.sweep(NOW)

    assert not report.ok
    assert "no selected project could be read" in report.error
    assert len(report.unreadable_projects) == 3


def test_check_exits_1_when_a_project_cannot_be_read_and_reports_it(estate, tmp_path, run_cli):
    sim, failures = estate
    broken_code, _ = failures["broken"]
    sim.inject("http_500", path_contains=f"projects/{broken_code}/process-instances", times=None)
    env = {
        "DS_API_URL": sim.url,
        "DS_TOKEN": TOKEN,
        "DS_STATE_DIR": str(tmp_path),
        "DS_LOGGING__FILE": "",
        "DS_AUTO_RECOVERY": "false",
    }

    result = run_cli("check", "--json", env=env, clock=lambda: NOW)

    assert result.exit_code == 1
    assert "error:" not in result.stderr  # the report says what failed; no line is added
    report = json.loads(result.stdout)
    assert [row["name"] for row in report["unreadable_projects"]] == ["broken"]
    assert len(report["failed_instances"]) == 2


def test_a_bug_in_one_sweep_is_reported_and_the_next_sweep_goes_on_with_intact_state(
    estate, tmp_path, monkeypatch, caplog
):
    sim, failures = estate
    monitor = make_monitor(make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}))
    first = monitor.sweep(NOW)
    assert first.ok
    journal_before = monitor.store.load(RECOVERY)

    import ds_monitor.sweep.triage as triage_module

    def planted_bug(*args, **kwargs):
        raise RuntimeError("planted bug")

    real_triage = triage_module.triage
    monkeypatch.setattr(triage_module, "triage", planted_bug)
    broken = monitor.sweep(NOW + minutes(1))
    assert not broken.ok
    assert broken.error == "internal error (RuntimeError): planted bug"
    assert "Traceback" in caplog.text and "planted bug" in caplog.text
    assert monitor.store.load(RECOVERY) == journal_before

    monkeypatch.setattr(triage_module, "triage", real_triage)
    later = monitor.sweep(NOW + minutes(2))
    assert later.ok, later.error
    # Nothing was recovered twice: the journal from before the bug still guards every instance.
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 3

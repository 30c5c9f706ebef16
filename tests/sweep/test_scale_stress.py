"""Thread safety at scale (issue 14): 520 projects swept over real HTTP with the production parallelism,
several times in a row, with cold caches, so every project thread reads definitions, schedules and
instances through the shared client at once. Before the client mounted its adapters once at start,
the first sweep of a 500-project estate died of ``OrderedDict mutated during iteration``."""

from __future__ import annotations

from ds_monitor.ds.models import FAILURE, SUCCESS
from ds_monitor.monitor import MAX_PARALLEL_PROJECTS
from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor, minutes

PROJECTS = 520


def test_520_projects_swept_in_parallel_several_times_over_real_http(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    failed = set()
    for p in range(PROJECTS):
        project = sim.add_project(f"project-{p:03d}")
        definition = sim.add_definition(project, f"etl-{p:03d}")
        state = FAILURE if p % 50 == 0 else SUCCESS
        instance = sim.add_instance(definition, state=state, start_time=NOW - minutes(30), end_time=NOW - minutes(25))
        if state == FAILURE:
            failed.add(instance)
    config = make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}, retry={"auto_recovery": False})
    monitor = make_monitor(config)
    assert monitor._pool._max_workers == MAX_PARALLEL_PROJECTS
    try:
        for sweep in range(3):
            monitor.client.invalidate_cache()  # every sweep re-reads definitions and schedules from all threads
            report = monitor.sweep(NOW + minutes(sweep))
            assert report.complete, (report.error, report.unreadable_projects[:3])
            assert report.projects_scanned == PROJECTS
            assert {row.instance_id for row in report.failed_instances} == failed
    finally:
        monitor.close()

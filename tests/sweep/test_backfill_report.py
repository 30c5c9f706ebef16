"""The backfill guard wins over the recovery_interval deferral in the report (issue 15, "Also")."""

from __future__ import annotations

from ds_monitor.ds.models import COMMAND_COMPLEMENT_DATA, FAILURE
from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor, minutes

BACKFILL = "backfill (COMPLEMENT_DATA): never recovered automatically"


def test_a_backfill_is_never_reported_as_deferred(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    project = sim.add_project("p")
    first = sim.add_instance(sim.add_definition(project, "etl"), state=FAILURE, start_time=NOW - minutes(60))
    backfill = sim.add_instance(
        sim.add_definition(project, "backfill"),
        state=FAILURE,
        start_time=NOW - minutes(30),
        command_type=COMMAND_COMPLEMENT_DATA,
    )
    monitor = make_monitor(make_config(sim, tmp_path, retry={"recovery_interval": 300}))
    sweeps = [monitor.sweep(NOW), monitor.sweep(NOW + minutes(1))]
    monitor.close()
    details = [{row.instance_id: row.detail for row in report.recoveries} for report in sweeps]
    assert [d[backfill] for d in details] == [BACKFILL, BACKFILL]
    assert details[1][first].startswith("deferred")  # the real candidate still waits for the interval

"""A run missed before the monitor's first sweep ever is reported once, over HTTP against the DS double:
the schedule's createTime/updateTime come through the client in the token user's zone."""

from __future__ import annotations

from datetime import timedelta

from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor, minutes


def test_first_sweep_reports_a_fire_missed_fifty_minutes_before_and_never_again(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW, user_timezone="Asia/Shanghai")
    project = sim.add_project("data-platform")
    fire = NOW - minutes(50)
    missed = sim.add_definition(project, "daily_etl_job")
    # Edited a minute before the fire; read in the wrong zone (8 h off), the edit would seem to follow it.
    sim.add_schedule(
        missed, f"0 {fire.minute} {fire.hour} * * ? *", timezone_id="UTC", create_time=fire - timedelta(minutes=1)
    )
    # Created after that fire: DS could not have run it, so no alarm.
    late = sim.add_definition(project, "new_job")
    sim.add_schedule(late, f"0 {fire.minute} {fire.hour} * * ? *", timezone_id="UTC", create_time=NOW - minutes(20))
    monitor = make_monitor(make_config(sim, tmp_path))

    first = monitor.sweep(NOW)
    assert first.ok, first.error
    assert [(row.definition_code, row.fire_time) for row in first.missed_runs] == [(missed, fire)]
    later = make_monitor(make_config(sim, tmp_path)).sweep(NOW + minutes(20))  # a restart on the same state
    assert later.ok and later.missed_runs == []

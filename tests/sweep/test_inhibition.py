"""Inhibition (spec section 10): missed and stuck runs found when DS is back after monitor_unhealthy are
held, judged again after the hold, and announced once only if they still hold."""

from __future__ import annotations

from ds_monitor.ds.models import SUCCESS
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_runs_missed_during_an_outage_are_held_and_judged_again(make_ds_sim, tmp_path):
    clock = Clock(NOW)
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=clock)
    project = sim.add_project("data-platform")
    late = sim.add_definition(project, "late_job")  # DS starts its 13:00 run late, after the outage
    lost = sim.add_definition(project, "lost_job")  # its 13:00 run never comes
    for code in (late, lost):
        sim.add_schedule(code, "0 0 13 * * ? *", timezone_id="UTC", create_time=NOW - minutes(30))
    sender = RecordingSender()
    monitor = make_monitor(make_config(sim, tmp_path), senders=[sender])
    assert monitor.sweep(NOW).ok

    sim.inject("token_rejected", times=None)
    outage = [monitor.sweep(NOW + minutes(5 * n)) for n in range(1, 20)]  # 12:05 .. 13:35
    assert [r.events for r in outage].count(["monitor_unhealthy"]) == 1
    sim.clear_faults()

    clock.now = back_at = NOW + minutes(110)  # 13:50: DS is back, both 13:00 runs are missing
    back = monitor.sweep(back_at)
    assert back.ok and back.events == ["monitor_recovered"]
    assert {row.definition_code for row in back.missed_runs} == {late, lost}
    assert {row.event for row in back.silenced} == {"missed_run"}
    assert all(row.silence_id.startswith("inhibit:") for row in back.silenced)
    fire = NOW + minutes(60)
    sim.add_instance(late, state=SUCCESS, start_time=back_at + minutes(2), end_time=back_at + minutes(3),
                     schedule_time=fire)

    # The hold is missed_run_grace_minutes (30) after DS came back; the next sweep after it judges.
    clock.now = NOW + minutes(145)
    judged = monitor.sweep(clock.now)
    assert judged.ok, judged.error
    missed = [item for digest in sender.digests for item in digest.items if item.kind == "missed_run"]
    assert [item.heading for item in missed] == ["Missed scheduled run: lost_job"]
    assert "monitor_unhealthy from" in dict(missed[0].facts)["Detail"]
    monitor.sweep(clock.now + minutes(5))
    assert len([i for d in sender.digests for i in d.items if i.kind == "missed_run"]) == 1

"""The daily digest (spec section 10): due once a day at a local time, figures over 24 h and 7 days,
its own message past silences and the rate limit, once a day across restarts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor import digest, silences
from ds_monitor.config import DigestConfig, NotificationConfig, RateLimitConfig, load_config
from ds_monitor.ds.models import FAILURE
from ds_monitor.errors import ConfigError
from ds_monitor.notify.builder import build_digest
from ds_monitor.notify.events import Event
from ds_monitor.state import SILENCES
from ds_monitor.state.files import StateStore
from ds_monitor.sweep.report import MissedRunRow, NotificationRow, RecoveryRow, SilencedRow, SweepReport
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes

SHANGHAI_NINE = DigestConfig(enabled=True, at="09:00", timezone="Asia/Shanghai")  # 01:00 UTC


def report(calls=0, notifications=(), silenced=0, missed=0, recoveries=()):
    return SweepReport(
        started_at=NOW,
        api={"calls": calls},
        notifications=[NotificationRow("dingtalk", "failure_detected", result) for result in notifications],
        silenced=[SilencedRow("s1", "failure_detected", "instance:1")] * silenced,
        missed_runs=[MissedRunRow(1, 2, NOW)] * missed,
        recoveries=[RecoveryRow(1, 1, result, "") for result in recoveries],
    )


def failure(instance_id, workflow="etl", project="data"):
    return Event(kind="failure_detected", project_name=project, definition_code=hash(workflow) % 1000,
                 definition_name=workflow, instance_id=instance_id)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        ("2026-11-24T00:59:59", None),
        ("2026-11-24T01:00:00", "2026-11-24"),
        ("2026-11-24T15:59:59", "2026-11-24"),
        ("2026-11-24T16:00:00", None),  # 00:00 in Shanghai on the 25th: before 09:00 again
    ],
    ids=["just-before", "at", "same-local-day", "next-local-midnight"],
)
def test_due_at_the_local_time(utc, expected):
    now = datetime.fromisoformat(utc).replace(tzinfo=timezone.utc)
    assert digest.due({}, SHANGHAI_NINE, now) == expected


def test_claimed_day_is_not_due_again_but_the_next_day_is():
    now = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
    state = digest.claim({}, digest.due({}, SHANGHAI_NINE, now))
    assert digest.due(state, SHANGHAI_NINE, now + timedelta(hours=5)) is None
    assert digest.due(state, SHANGHAI_NINE, now + timedelta(days=1)) == "2026-11-25"
    assert digest.due({}, replace(SHANGHAI_NINE, enabled=False), now) is None


def test_figures_over_24_hours_and_the_flakiest_over_7_days():
    state = {}
    # Six days ago: etl failed three times (counts for "failed most", not for the last 24 h).
    old = NOW - timedelta(days=6)
    state = digest.record(state, report(calls=100), [failure(1), failure(2), failure(3)], old)
    # Today: etl fails once more (seen on two sweeps: counted once), sync twice; two recoveries end.
    sweep = report(calls=10, notifications=["suppressed", "sent"], silenced=1, missed=1,
                   recoveries=["triggered", "triggered"])
    events = [failure(4), failure(5, "sync"), failure(6, "sync"),
              Event(kind="recovery_succeeded", definition_code=1, instance_id=4),
              Event(kind="recovery_exhausted", definition_code=2, instance_id=5)]
    state = digest.record(state, sweep, events, NOW - timedelta(hours=2))
    state = digest.record(state, report(calls=5), [failure(4)], NOW - timedelta(hours=1))
    event = digest.build(state, "2026-11-23", NOW)
    assert event.figures.day == "2026-11-23"
    [item] = build_digest([event], {}, NOW).items  # worded by the builder
    facts = dict(item.facts)
    assert facts["Detail"] == "daily digest for 2026-11-23"
    assert facts["Failures"] == "3 in 2 workflow(s)"
    assert facts["Auto-recoveries"] == "2 triggered, 1 succeeded, 50% of the 2 ended succeeded"
    assert facts["Failed most (7 days)"] == "data/etl ×4, data/sync ×2"
    assert (facts["Missed runs"], facts["Messages suppressed"], facts["Events silenced"]) == ("1", "1", "1")
    assert facts["DS calls"] == "15"
    # Eight days on, everything is pruned.
    later = digest.record(state, report(), [], NOW + timedelta(days=8))
    assert later["failures"] == {} and list(later["hours"]) == [(NOW + timedelta(days=8)).strftime("%Y-%m-%dT%H")]


@pytest.mark.parametrize("text", ["9", "25:00", "09:60", "9:5", "nine"])
def test_a_bad_time_is_a_config_error(text):
    with pytest.raises(ConfigError, match="notification.digest.at"):
        load_config(None, environ={"DS_NOTIFICATION__DIGEST__AT": text}, dotenv_path=None)


def test_the_digest_goes_once_a_day_past_silences_and_the_rate_limit(make_ds_sim, tmp_path):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    definition = sim.add_definition(sim.add_project("data-platform"), "daily_etl_job")
    sim.add_instance(definition, state=FAILURE, start_time=NOW - minutes(30), end_time=NOW - minutes(25),
                     command_type="START_PROCESS")
    notification = NotificationConfig(
        rate_limit=RateLimitConfig(max_per_window=1),
        digest=DigestConfig(enabled=True, at="12:30", timezone="UTC"),
    )
    config = replace(make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}), notification=notification)
    sender = RecordingSender()
    monitor = make_monitor(config, senders=[sender])
    assert monitor.sweep(NOW).ok  # announces the failure: the rate limit of that workflow is now used up
    store = StateStore(tmp_path)
    everything = silences.new_silence(silence_id="all", now=NOW, until=NOW + timedelta(days=2), reason="upgrade")
    with store.locked():
        store.save(SILENCES, silences.add({}, everything, NOW))

    def digests():
        return [d for d in sender.digests if d.items and d.items[0].kind == "digest"]

    monitor.sweep(NOW + minutes(29))
    assert digests() == []
    monitor.sweep(NOW + minutes(30))
    (sent,) = digests()
    assert len(sent.items) == 1
    assert dict(sent.items[0].facts)["Failures"] == "1 in 1 workflow(s)"
    # A restart on the same state the same day: no second digest. The next day: one more.
    restarted = make_monitor(config, senders=[sender])
    restarted.sweep(NOW + minutes(35))
    assert len(digests()) == 1
    restarted.sweep(NOW + timedelta(days=1, minutes=30))
    assert len(digests()) == 2

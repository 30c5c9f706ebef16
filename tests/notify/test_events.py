import json
from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor.notify.events import Event

FIRE = datetime(2024, 3, 1, 2, 0, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize(
    ("event", "incident", "rate"),
    [
        (Event("failure_detected", definition_code=11, instance_id=7), "11:7", "def:11"),
        (Event("recovery_triggered", definition_code=11, instance_id=7, attempt=2), "11:7", "def:11"),
        (Event("missed_run", definition_code=11, fire_time=FIRE), "11@2024-03-01T02:00:00+08:00", "def:11"),
        (Event("threshold_exceeded", definition_code=11, failures=4), "11", "def:11"),
        (Event("stuck_running", definition_code=11, instance_id=9), "11:9", "def:11"),
        (Event("monitor_unhealthy", failed_sweeps=3, error_reason="DS error", error="boom"), "monitor", "monitor"),
        (Event("monitor_recovered"), "monitor", "monitor"),
    ],
    ids=["failure", "follow-up", "missed-run", "threshold", "stuck", "unhealthy", "recovered"],
)
def test_incident_and_rate_keys(event, incident, rate):
    assert event.incident_key == incident
    assert event.rate_key == rate


def test_attempts_are_separate_announcements_of_one_incident():
    first = Event("recovery_triggered", definition_code=1, instance_id=2, attempt=1)
    second = Event("recovery_triggered", definition_code=1, instance_id=2, attempt=2)
    assert first.incident_key == second.incident_key
    assert first.announcement_key != second.announcement_key


def test_round_trip_through_dict_keeps_every_field():
    event = Event(
        "recovery_failed",
        project_code=3,
        project_name="p",
        definition_code=1,
        definition_name="etl",
        instance_id=2,
        instance_name="etl-1",
        state="FAILURE",
        start_time=FIRE,
        end_time=FIRE + timedelta(minutes=5),
        attempt=2,
        max_attempts=3,
        ds_error="boom",
        ui_url="http://ds/ui",
        window=timedelta(hours=1.5),
        next_fire=FIRE,
        failed_sweeps=3,
        error_reason="DS error",
        error="boom",
        called_at=FIRE,
        reason="never",
        policy="etl*",
        evidence="ERROR 1064",
        silence_id="s1",
        silence_reason="upgrade",
        silence_end=FIRE,
        detail="x",
    )
    assert Event.from_dict(event.to_dict()) == event
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "exploded"}, "unknown event kind"),
        # a naive datetime on purpose: the event must refuse it
        ({"kind": "failure_detected", "start_time": datetime(2024, 1, 1)}, "timezone-aware"),  # noqa: DTZ001
    ],
    ids=["unknown-kind", "naive-time"],
)
def test_rejects_bad_events(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Event(**kwargs)

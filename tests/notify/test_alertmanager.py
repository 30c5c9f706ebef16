"""Alertmanager channel against the Alertmanager double: one alert per open incident, re-posted, resolved."""

from datetime import timedelta

import pytest

from ds_monitor.config import AlertmanagerConfig, NotificationConfig, RateLimitConfig
from ds_monitor.notify import send_test_messages
from ds_monitor.notify.events import Event
from tests.notify.conftest import T0
from tests.notify.dispatch import Manager
from tests.notify.doubles.alertmanager import AlertmanagerDouble


@pytest.fixture
def am(clock):
    double = AlertmanagerDouble(clock=clock)
    yield double
    double.close()


class Sweeps:
    """Dispatches on a shared fake clock, carrying the state like the monitor does."""

    def __init__(self, double, clock, **limits):
        config = NotificationConfig(
            rate_limit=RateLimitConfig(**limits),
            alertmanager=AlertmanagerConfig(enabled=True, url=double.base_url + "/", resend_minutes=5),
        )
        self.manager = Manager(config, sleep=lambda s: None)
        self.clock, self.state = clock, {}

    def at(self, minutes, events=()):
        now = T0 + timedelta(minutes=minutes)
        self.clock.now = now.timestamp()
        results, self.state = self.manager.dispatch(list(events), self.state, now)
        return results


def failed(instance, kind="failure_detected", definition=11):
    return Event(
        kind,
        project_code=7,
        project_name="finance",
        definition_code=definition,
        definition_name="daily_etl",
        instance_id=instance,
        ds_error="task load failed",
        ui_url=f"http://ds/ui/instances/{instance}",
    )


def test_an_open_incident_is_one_firing_alert_with_stable_labels(am, clock):
    sweeps = Sweeps(am, clock)
    results = sweeps.at(0, [failed(1), failed(2)])
    assert [(r.channel, r.result) for r in results] == [("alertmanager", "sent")] * 2
    firing = am.firing()
    assert set(firing) == {"11:1", "11:2"}  # two instances of one workflow are two alerts
    alert = firing["11:1"]
    assert alert["labels"] == {
        "alertname": "DolphinSchedulerWorkflowFailed",
        "severity": "critical",
        "incident": "11:1",
        "project": "finance",
        "workflow": "daily_etl",
    }
    assert "task load failed" in alert["annotations"]["description"]
    assert alert["generatorURL"] == "http://ds/ui/instances/1"
    assert alert["endsAt"] == (T0 + timedelta(minutes=15)).isoformat()
    # a follow-up of the same incident updates the same alert (same labels), not a new one
    sweeps.at(1, [failed(1, "recovery_triggered")])
    assert len(am.alerts) == 2 and am.firing()["11:1"]["startsAt"] == T0.isoformat()


def test_open_alerts_are_re_posted_every_resend_interval_and_stay_firing(am, clock):
    sweeps = Sweeps(am, clock)
    sweeps.at(0, [failed(1)])
    for minute in range(1, 5):
        sweeps.at(minute)
    assert len(am.posts) == 1  # nothing changed, not yet due
    sweeps.at(5)
    assert len(am.posts) == 2
    for minute in range(6, 31):
        sweeps.at(minute)
    assert len(am.posts) == 7 and "11:1" in am.firing()


def test_recovery_resolves_the_alert_with_ends_at(am, clock):
    sweeps = Sweeps(am, clock)
    sweeps.at(0, [failed(1)])
    results = sweeps.at(3, [failed(1, "recovery_succeeded")])
    assert [r.result for r in results] == ["sent"]
    [resolved] = am.posts[-1]
    assert resolved["endsAt"] == (T0 + timedelta(minutes=3)).isoformat()
    assert am.firing() == {}
    sweeps.at(20)
    assert len(am.posts) == 2  # nothing open: nothing more to say


def test_a_suppressed_recovery_still_resolves(am, clock):
    sweeps = Sweeps(am, clock, max_per_window=1)
    sweeps.at(0, [failed(1)])
    results = sweeps.at(2, [failed(1, "recovery_succeeded")])
    assert [r.result for r in results] == ["sent"] and am.firing() == {}


def test_alertmanager_down_then_back_gets_the_whole_state(am, clock):
    sweeps = Sweeps(am, clock)
    am.fault = ("status", 503)
    results = sweeps.at(0, [failed(1)])
    assert results[0].result == "failed" and "HTTP 503" in results[0].detail
    am.fault = None
    sweeps.at(1, [failed(2)])
    assert set(am.firing()) == {"11:1", "11:2"}


def test_an_incident_nobody_closes_is_resolved_after_the_window(am, clock):
    sweeps = Sweeps(am, clock, window_hours=1)
    sweeps.at(0, [failed(1, "missed_run")])
    assert am.firing()["11:1"]["labels"]["alertname"] == "DolphinSchedulerMissedRun"
    sweeps.at(30)
    sweeps.at(61)
    assert am.firing() == {}


def test_monitor_health_is_an_alert_too(am, clock):
    sweeps = Sweeps(am, clock)
    sweeps.at(0, [Event("monitor_unhealthy", failed_sweeps=3, error_reason="DS error", error="boom")])
    assert am.firing()["monitor"]["labels"]["alertname"] == "DSMonitorUnhealthy"
    sweeps.at(2, [Event("monitor_recovered")])
    assert am.firing() == {}


def test_notify_test_posts_an_alert_that_is_already_resolved(am):
    config = NotificationConfig(alertmanager=AlertmanagerConfig(enabled=True, url=am.base_url))
    assert send_test_messages(config, T0) == [("alertmanager", True, "sent")]
    [[alert]] = am.posts
    assert alert["labels"]["alertname"] == "DSMonitorTest" and am.firing() == {}


def test_a_wrong_url_is_refused_for_good(am, clock):
    config = NotificationConfig(alertmanager=AlertmanagerConfig(enabled=True, url=am.base_url + "/api/v2/alerts"))
    [(name, ok, detail)] = send_test_messages(config, T0)
    assert not ok and "HTTP 404" in detail and "without /api/v2/alerts" in detail


def test_a_deposed_leader_posts_nothing_to_alertmanager(am, clock):
    from ds_monitor.coordination import FencedSender
    from ds_monitor.errors import CoordinationError
    from ds_monitor.notify.alertmanager import AlertmanagerSender

    def fence():
        raise CoordinationError("not the leader any more")

    sender = FencedSender(AlertmanagerSender(AlertmanagerConfig(enabled=True, url=am.base_url)), fence)
    manager = Manager(NotificationConfig(), senders=[sender], sleep=lambda s: None)
    results, state = manager.dispatch([failed(1)], {}, T0)
    assert [r.result for r in results] == ["failed"] and am.requests == []
    assert state["alertmanager"]["alertmanager"] is None  # nothing recorded as posted


def test_the_daily_digest_opens_no_alert(am, clock):
    sweeps = Sweeps(am, clock)
    digest = Event("digest", fire_time=T0, detail="daily digest", facts=(("Failures", "0 in 0 workflow(s)"),))
    sweeps.at(0, [digest, failed(1)])
    assert set(am.firing()) == {"11:1"}

"""Silences, pure (spec section 10): matching, hiding once, release of still-open incidents, pruning."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor import silences
from ds_monitor.ds.models import FAILURE, SUCCESS
from ds_monitor.errors import ConfigError
from ds_monitor.notify.builder import describe
from ds_monitor.notify.events import Event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def make(silence_id="s1", *, hours=2, **kwargs):
    return silences.new_silence(
        silence_id=silence_id, now=NOW, until=NOW + timedelta(hours=hours), reason="DS upgrade", **kwargs
    )


def failure(instance_id=7, project="data-platform", workflow="daily_etl", kind="failure_detected", **kwargs):
    return Event(
        kind=kind,
        project_code=1,
        project_name=project,
        definition_code=10,
        definition_name=workflow,
        instance_id=instance_id,
        **kwargs,
    )


def state_with(*items):
    state = {}
    for silence in items:
        state = silences.add(state, silence, NOW)
    return state


@pytest.mark.parametrize(
    ("kwargs", "project", "workflow", "kind", "covered"),
    [
        ({"projects": ("data-*",)}, "data-platform", "x", "failure_detected", True),
        ({"projects": ("data-*",)}, "bi", "x", "failure_detected", False),
        ({"projects": ("bi", "data-platform")}, "data-platform", "x", "missed_run", True),
        ({"projects": ("*",), "workflow": "*_etl"}, "bi", "daily_etl", "failure_detected", True),
        ({"projects": ("*",), "workflow": "*_etl"}, "bi", "hourly_sync", "failure_detected", False),
        ({"projects": ("*",), "events": ("missed_run",)}, "bi", "x", "failure_detected", False),
        ({"projects": ("*",), "events": ("missed_run",)}, "bi", "x", "missed_run", True),
        ({"projects": ("*",)}, "", "", "monitor_unhealthy", False),
        ({}, "", "", "monitor_unhealthy", True),
        ({}, "bi", "x", "stuck_running", True),
    ],
    ids=[
        "glob-hit", "glob-miss", "second-glob", "workflow-hit", "workflow-miss", "event-filter-miss",
        "event-filter-hit", "project-star-leaves-monitor-events", "all-mutes-monitor", "all",
    ],
)
def test_scope(kwargs, project, workflow, kind, covered):
    assert make(**kwargs).covers(project, workflow, kind) is covered


@pytest.mark.parametrize(
    ("offset", "active"),
    [(-timedelta(seconds=1), False), (timedelta(0), True), (timedelta(hours=2) - timedelta(seconds=1), True),
     (timedelta(hours=2), False)],
    ids=["before-start", "at-start", "just-before-end", "at-end"],
)
def test_active_from_start_until_end(offset, active):
    assert make().active(NOW + offset) is active


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("1d", 86400), ("45s", 45), ("2W", 1209600)],
)
def test_parse_duration(text, seconds):
    assert silences.parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "0m", "2h junk"])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError, match="--for"):
        silences.parse_duration(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"until": NOW}, "not in the future"),
        ({"reason": "  "}, "--reason"),
        ({"workflow": "etl"}, "--workflow needs --project"),
        ({"projects": ("*",), "events": ("failure",)}, "not an event kind"),
    ],
    ids=["past", "no-reason", "workflow-alone", "bad-kind"],
)
def test_new_silence_rejects(kwargs, message):
    args = {"silence_id": "s", "now": NOW, "until": NOW + timedelta(hours=1), "reason": "why", **kwargs}
    with pytest.raises(ConfigError, match=message):
        silences.new_silence(**args)


def test_matching_event_is_hidden_and_reported_once_across_sweeps():
    state = state_with(make(projects=("data-*",)))
    first = silences.apply([failure(), failure(project="bi")], state, NOW + timedelta(minutes=1))
    assert [e.project_name for e in first.send] == ["bi"]
    assert first.silenced == [{"silence_id": "s1", "event": "failure_detected", "incident_key": "10:7"}]
    # The monitor re-creates the failure every sweep: it stays hidden but is not reported again.
    second = silences.apply([failure()], first.state, NOW + timedelta(minutes=2))
    assert second.send == [] and second.silenced == []
    # A new kind for the same incident is news.
    third = silences.apply([failure(kind="recovery_triggered", attempt=1)], second.state, NOW + timedelta(minutes=3))
    assert [row["event"] for row in third.silenced] == ["recovery_triggered"]


def test_end_announces_still_open_incidents_once_and_not_closed_ones():
    state = state_with(make(projects=("*",)))
    hidden = silences.apply(
        [
            failure(instance_id=1),
            failure(instance_id=2),
            failure(instance_id=3),
            failure(instance_id=4, kind="recovery_succeeded", attempt=1),
        ],
        state,
        NOW + timedelta(minutes=1),
    ).state
    after = NOW + timedelta(hours=2)
    # 1 still failed, 2 fixed by hand (seen SUCCESS), 3 not listed any more (fail-loud: open), 4 recovered.
    released = silences.apply([], hidden, after, instance_states={1: FAILURE, 2: SUCCESS})
    assert released.released == ["s1"]
    assert sorted(e.instance_id for e in released.send) == [1, 3]
    assert all("held by silence s1 (DS upgrade)" in describe(e) for e in released.send)
    again = silences.apply([], released.state, after + timedelta(minutes=1))
    assert again.send == [] and again.released == []


def test_expired_early_releases_at_the_next_apply():
    state = state_with(make(projects=("*",)))
    state = silences.apply([failure()], state, NOW + timedelta(minutes=1)).state
    state, ended = silences.expire(state, "s1", NOW + timedelta(minutes=5))
    assert ended.end == NOW + timedelta(minutes=5)
    released = silences.apply([], state, NOW + timedelta(minutes=6))
    assert [e.instance_id for e in released.send] == [7]


def test_incident_still_covered_by_another_silence_moves_there():
    state = state_with(make("short", hours=1, projects=("*",)), make("long", hours=3, projects=("data-*",)))
    state = silences.apply([failure()], state, NOW + timedelta(minutes=1)).state
    moved = silences.apply([], state, NOW + timedelta(hours=1))
    assert moved.send == [] and moved.released == ["short"]
    released = silences.apply([], moved.state, NOW + timedelta(hours=3))
    assert [e.instance_id for e in released.send] == [7]


def test_expire_unknown_id_names_the_active_ones():
    with pytest.raises(ConfigError, match="'nope' not found .active: s1"):
        silences.expire(state_with(make()), "nope", NOW)


def test_withholding_only_no_recover_silences():
    items = silences.load(state_with(make("a", projects=("*",)), make("b", projects=("data-*",), no_recover=True)))
    assert silences.withholding(items, "data-platform", "etl", NOW).id == "b"
    assert silences.withholding(items, "bi", "etl", NOW) is None


def test_listing_active_then_recently_ended_and_pruned_after_seven_days():
    state = state_with(make("old", hours=1), make("recent", hours=50), make("live", hours=60))
    state, _ = silences.expire(state, "recent", NOW + timedelta(days=2, hours=1))
    later = NOW + timedelta(days=2, hours=2)
    rows = [silences.describe(s, later) for s in silences.listing(state, later)]
    assert [(r["id"], r["state"]) for r in rows] == [("live", "active"), ("recent", "expired")]
    # Released silences that ended over seven days ago disappear from the document.
    state = silences.apply([], state, later).state
    pruned = silences.apply([], state, NOW + timedelta(days=9, hours=3)).state
    assert [s["id"] for s in pruned["silences"]] == ["live"]


def test_malformed_entries_are_skipped():
    state = {"version": 1, "silences": [{"id": "x"}, "junk", make().to_dict()]}
    assert [s.id for s in silences.load(state)] == ["s1"]

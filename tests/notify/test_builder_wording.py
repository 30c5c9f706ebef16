"""The builder words every event from its facts (issue 9): the sentences an operator has always read.

Events saved by an older version (in the outbox, a silence, the recovery journal) carry their
sentence in ``detail`` instead, and it is shown as is.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from ds_monitor.notify.builder import build_digest, describe
from ds_monitor.notify.events import WITHHELD_NEVER, WITHHELD_TRANSIENT_ONLY, DailyFigures, Event

CST = timezone(timedelta(hours=8))
STARTED = datetime(2026, 11, 23, 2, 0, 5, tzinfo=CST)
CALL = datetime(2024, 6, 1, 2, 0, tzinfo=timezone.utc)
NOW = datetime(2024, 6, 1, 3, 0, tzinfo=timezone.utc)
RUN = {"definition_code": 1, "instance_id": 2}


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (
            Event("threshold_exceeded", definition_code=1, failures=3, window=timedelta(hours=24)),
            "3 failures in 24 h: systemic, not recovered",
        ),
        (
            Event("threshold_exceeded", definition_code=1, failures=4, window=timedelta(hours=1.5)),
            "4 failures in 1.5 h: systemic, not recovered",
        ),
        (
            Event("missed_run", definition_code=1, fire_time=datetime(2026, 12, 4, 11, 24, tzinfo=CST)),
            "no instance for the 2026-12-04T11:24:00+08:00 fire",
        ),
        (
            Event("stuck_running", **RUN, state="RUNNING_EXECUTION", start_time=STARTED, window=timedelta(hours=2)),
            "still RUNNING_EXECUTION 2 h after its start at 2026-11-23T02:00:05+08:00",
        ),
        (
            Event("stuck_running", **RUN, state="RUNNING_EXECUTION", start_time=STARTED, window=timedelta(minutes=90)),
            "still RUNNING_EXECUTION 90 min after its start at 2026-11-23T02:00:05+08:00",
        ),
        (
            Event(
                "stuck_running", **RUN, state="RUNNING_EXECUTION", start_time=STARTED,
                next_fire=datetime(2026, 11, 23, 3, 0, tzinfo=CST),
            ),
            "still RUNNING_EXECUTION when the next fire 2026-11-23T03:00+08:00 arrived",
        ),
        (
            Event("monitor_unhealthy", failed_sweeps=3, error_reason="DS unreachable", error="connection refused"),
            "3 consecutive sweeps failed (DS unreachable): connection refused",
        ),
        (
            Event("monitor_unhealthy", error="the configuration watches nothing"),
            "the configuration watches nothing",
        ),
        (Event("monitor_recovered"), "sweeps succeed again"),
        (Event("project_unreadable", project_code=5, error="DS 10018: no permission"), "DS 10018: no permission"),
        (Event("project_readable", project_code=5), "read again"),
        (
            Event("recovery_triggered", **RUN, attempt=1, max_attempts=3),
            "DS accepted the recover command (attempt 1 of 3)",
        ),
        (
            Event("recovery_triggered", **RUN, attempt=1, max_attempts=3, called_at=CALL),
            "DS took up the recover call of 2024-06-01T02:00:00+00:00 that had no answer",
        ),
        (Event("recovery_succeeded", **RUN, state="SUCCESS", attempt=1, max_attempts=3), "ended SUCCESS"),
        (
            Event("recovery_failed", **RUN, state="FAILURE", attempt=1, max_attempts=3),
            "ended FAILURE (attempt 1 of 3)",
        ),
        (
            Event("recovery_exhausted", **RUN, state="FAILURE", attempt=3, max_attempts=3),
            "ended FAILURE after 3 of 3 attempts: no more automatic recovery",
        ),
        (
            Event(
                "recovery_withheld", **RUN, failure_class="transient", reason=WITHHELD_NEVER,
                policy="finance/*", evidence="Connection refused",
            ),
            "transient failure (Connection refused): policy finance/* says recover: never",
        ),
        (
            Event("recovery_withheld", **RUN, reason=WITHHELD_NEVER, policy="default"),
            "unknown failure: policy default says recover: never",
        ),
        (
            Event(
                "recovery_withheld", **RUN, failure_class="deterministic", reason=WITHHELD_TRANSIENT_ONLY,
                policy="default", evidence="ERROR 1064",
            ),
            "deterministic failure (ERROR 1064): a retry would fail the same way; policy default"
            " recovers transient failures only",
        ),
        (Event("failure_detected", **RUN, state="FAILURE"), ""),
    ],
)
def test_every_kind_is_worded_from_its_facts(event, words):
    assert describe(event) == words
    assert describe(Event.from_dict(event.to_dict())) == words  # as the outbox gives it back
    facts = dict(build_digest([event], {}, NOW).items[0].facts)
    assert facts.get("Detail", "") == words


def test_a_silence_that_held_the_event_is_named_after_its_words():
    held = Event(
        "threshold_exceeded", definition_code=1, failures=3, window=timedelta(hours=24),
        silence_id="s1", silence_reason="DS upgrade", silence_end=NOW,
    )
    assert describe(held) == (
        "3 failures in 24 h: systemic, not recovered"
        " (held by silence s1 (DS upgrade) until 2024-06-01T03:00:00+00:00; still open)"
    )
    alone = Event("failure_detected", **RUN, silence_id="s1", silence_reason="DS upgrade", silence_end=NOW)
    assert describe(alone) == "held by silence s1 (DS upgrade) until 2024-06-01T03:00:00+00:00; still open"


def test_an_event_saved_by_an_older_version_keeps_its_sentence():
    saved = {"kind": "monitor_unhealthy", "detail": "3 consecutive sweeps failed (DS error): boom"}
    assert describe(Event.from_dict(saved)) == "3 consecutive sweeps failed (DS error): boom"
    # An older version's sentence, held by a silence this version released.
    old = Event.from_dict({"kind": "missed_run", "definition_code": 1, "detail": "no instance for the x fire"})
    late = Event.from_dict({**old.to_dict(), "silence_id": "s1", "silence_reason": "r", "silence_end": NOW.isoformat()})
    assert describe(late) == (
        "no instance for the x fire (held by silence s1 (r) until 2024-06-01T03:00:00+00:00; still open)"
    )


def test_the_daily_digest_is_worded_from_its_figures():
    figures = DailyFigures(
        day="2024-06-01", since=NOW - timedelta(hours=24), failures=3, workflows=2, triggered=2, succeeded=1,
        failed=1, flakiest=(("data/etl", 4), ("data/sync", 2)), missed=1, stuck=0, suppressed=1, silenced=1,
        ds_calls=15,
    )
    event = Event("digest", fire_time=NOW, figures=figures)
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event  # as the outbox gives it back
    [item] = build_digest([event], {}, NOW).items
    assert item.facts == (
        ("Scheduled for", "2024-06-01 03:00:00+00:00"),
        ("Detail", "daily digest for 2024-06-01"),
        ("Period", "2024-05-31T03:00+00:00 to 2024-06-01T03:00+00:00"),
        ("Failures", "3 in 2 workflow(s)"),
        ("Auto-recoveries", "2 triggered, 1 succeeded, 50% of the 2 ended succeeded"),
        ("Failed most (7 days)", "data/etl ×4, data/sync ×2"),
        ("Missed runs", "1"),
        ("Stuck runs", "0"),
        ("Messages suppressed", "1"),
        ("Events silenced", "1"),
        ("DS calls", "15"),
    )
    quiet = replace(figures, triggered=0, succeeded=0, failed=0, flakiest=())
    [item] = build_digest([replace(event, figures=quiet)], {}, NOW).items
    assert ("Auto-recoveries", "0 triggered, 0 succeeded") in item.facts
    assert ("Failed most (7 days)", "none") in item.facts


def test_a_digest_saved_by_an_older_version_keeps_its_lines():
    saved = {"kind": "digest", "fire_time": NOW.isoformat(), "detail": "daily digest for 2024-06-01",
             "facts": [["Failures", "0 in 0 workflow(s)"]]}
    [item] = build_digest([Event.from_dict(saved)], {}, NOW).items
    assert item.facts[1:] == (("Detail", "daily digest for 2024-06-01"), ("Failures", "0 in 0 workflow(s)"))

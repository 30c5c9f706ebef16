"""Silences end to end: the CLI writes silences.json beside a live monitor, whose next sweep obeys it
(spec sections 1, 6, 10), against the DS double over HTTP."""

from __future__ import annotations

import json

import pytest

from ds_monitor.ds.models import FAILURE
from ds_monitor.sweep.report import SilencedRow
from tests.sweep.e2e import NOW, TOKEN, RecordingSender, make_config, make_monitor, minutes

EXECUTE = "executors/execute"


@pytest.fixture
def cli(tmp_path, run_cli):
    """Run a CLI command in-process at a given time on the test's state_dir; returns (exit code, stdout, stderr)."""

    def run(argv, at):
        result = run_cli(*argv, env={"DS_STATE_DIR": str(tmp_path)}, clock=lambda: at)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_silence_hides_and_withholds_then_expiry_announces_once(make_ds_sim, tmp_path, cli):
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    project = sim.add_project("data-platform")
    definition = sim.add_definition(project, "daily_etl_job")
    start = NOW - minutes(30)
    instance = sim.add_instance(
        definition, state=FAILURE, start_time=start, end_time=start + minutes(5), command_type="START_PROCESS"
    )
    sender = RecordingSender()
    monitor = make_monitor(make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}), senders=[sender])

    code, out, err = cli(
        ["silence", "add", "--project", "data-*", "--for", "2h", "--reason", "DS upgrade", "--no-recover"], NOW
    )
    assert code == 0, err
    silence_id = out.strip()

    hidden = monitor.sweep(NOW + minutes(1))
    assert hidden.ok, hidden.error
    assert hidden.silenced == [SilencedRow(silence_id, "failure_detected", f"{definition}:{instance}")]
    assert [(r.instance_id, r.result) for r in hidden.recoveries] == [(instance, "silenced")]
    assert sim.count_calls(method="POST", path_contains=EXECUTE) == 0
    assert sender.digests == []
    assert monitor.sweep(NOW + minutes(2)).silenced == []  # recorded once, not every sweep

    code, out, _ = cli(["silence", "list", "--json"], NOW + minutes(3))
    rows = json.loads(out)
    assert [(r["id"], r["state"], r["hidden"]) for r in rows] == [(silence_id, "active", 1)]
    code, out, _ = cli(["status", "--json"], NOW + minutes(3))
    assert json.loads(out)["silences"][0]["reason"] == "DS upgrade"

    code, out, _ = cli(["silence", "expire", silence_id], NOW + minutes(10))
    assert code == 0 and "ended" in out
    released = monitor.sweep(NOW + minutes(11))
    assert [(r.instance_id, r.result) for r in released.recoveries] == [(instance, "triggered")]
    items = [item for d in sender.digests for item in d.items]
    assert [item.kind for item in items].count("failure_detected") == 1
    monitor.sweep(NOW + minutes(12))
    assert [item.kind for d in sender.digests for item in d.items].count("failure_detected") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--for", "2h", "--reason", "x"], "either --project"),
        (["--all", "--project", "a", "--for", "2h", "--reason", "x"], "either --project"),
        (["--all", "--reason", "x"], "either --for"),
        (["--all", "--for", "soon", "--reason", "x"], "not a duration"),
        (["--all", "--until", "2020-01-01T00:00", "--reason", "x"], "not in the future"),
        (["--all", "--for", "1h", "--reason", "x", "--event", "nope"], "not an event kind"),
        (["--all", "--for", "1h"], "--reason"),
    ],
    ids=["no-scope", "both-scopes", "no-end", "bad-duration", "past-until", "bad-event", "no-reason"],
)
def test_silence_add_usage_errors_exit_2(cli, argv, message):
    code, _, err = cli(["silence", "add", *argv], NOW)
    assert code == 2
    assert message in err


def test_silence_expire_unknown_id_exits_2(cli):
    code, _, err = cli(["silence", "expire", "nope"], NOW)
    assert code == 2 and "not found" in err

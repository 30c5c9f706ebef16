"""status creates nothing, shows what each channel still owes, and reads past wrong-shaped files (issue 15 item 7)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ds_monitor.config import Config
from ds_monitor.state import RATE_LIMIT, RECOVERY, SCHEDULE
from ds_monitor.status import collect_status, render_status
from tests.sweep.e2e import NOW


def config_for(state_dir) -> Config:
    return replace(Config(), state_dir=str(state_dir))


def test_a_mistyped_state_dir_is_not_created(tmp_path, run_cli):
    missing = tmp_path / "lgos" / "state"
    result = run_cli("status", env={"DS_STATE_DIR": str(missing)}, clock=lambda: NOW)
    assert result.exit_code == 0
    assert f"warning: state_dir {missing} does not exist" in result.stdout
    assert not (tmp_path / "lgos").exists()


def test_status_takes_no_lock_file_into_existence(tmp_path):
    (tmp_path / SCHEDULE).write_text('{"version": 1, "definitions": {}}', encoding="utf-8")
    collect_status(config_for(tmp_path), NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SCHEDULE]


@pytest.mark.parametrize(
    ("name", "document"),
    [
        (RATE_LIMIT, {"version": 1, "rate": {"def:1": "oops"}}),
        (RATE_LIMIT, {"version": 1, "rate": {"def:1": {"sent": 5}}}),
        (RECOVERY, {"version": 1, "instances": [1, 2]}),
        (SCHEDULE, {"version": 1, "definitions": {"1": {"last_checked": 5, "missed": "x"}}}),
    ],
)
def test_a_wrong_shaped_file_is_shown_empty_with_a_warning(tmp_path, name, document):
    (tmp_path / name).write_text(json.dumps(document), encoding="utf-8")
    status = collect_status(config_for(tmp_path), NOW)
    render_status(status)
    assert json.loads(json.dumps(status))  # /status serialises it
    shaped = [w for w in status["warnings"] if name in w]
    assert all("unexpected shape" in w or "unusable" in w for w in shaped)


def test_the_issue_case_warns_instead_of_crashing(tmp_path):
    (tmp_path / RATE_LIMIT).write_text('{"version": 1, "rate": {"def:1": "oops"}}', encoding="utf-8")
    status = collect_status(config_for(tmp_path), NOW)
    assert status["rate_limit"] == []
    assert any(f"{RATE_LIMIT} in state_dir {tmp_path} has an unexpected shape" in w for w in status["warnings"])

"""The recovery policy: parsing with errors that name the key, most specific rule, and the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ds_monitor.config import load_config
from ds_monitor.errors import ConfigError
from ds_monitor.recovery.policy import Rule, gate, parse_recovery

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SPEC_EXAMPLE = {
    "classify": [
        {"pattern": "Connection reset by peer", "class": "transient"},
        {"pattern": "(?i)permission denied", "class": "deterministic"},
    ],
    "policy": {
        "default": {"recover": "always", "max_attempts": 3, "backoff_minutes": [0, 5, 30]},
        "workflows": {
            "finance/*": {"recover": "never"},
            "data-platform/*_hourly": {"recover": "transient", "max_attempts": 5},
        },
    },
}


@pytest.mark.parametrize(
    ("project", "workflow", "pattern", "recover", "max_attempts"),
    [
        ("finance", "ledger", "finance/*", "never", 3),
        ("data-platform", "sync_hourly", "data-platform/*_hourly", "transient", 5),
        ("data-platform", "daily_etl", "default", "always", 3),
    ],
)
def test_spec_example(project, workflow, pattern, recover, max_attempts):
    rule = parse_recovery(SPEC_EXAMPLE).rule_for(project, workflow, max_attempts=9)

    assert (rule.pattern, rule.recover, rule.max_attempts, rule.backoff_minutes) == (
        pattern, recover, max_attempts, (0.0, 5.0, 30.0)
    )


def test_most_specific_wins_then_first_listed_and_codes_match():
    settings = parse_recovery(
        {"policy": {"workflows": {"*/*": {"recover": "never"}, "dp/etl_*": {"recover": "transient"},
                                  "dp/*aily": {"max_attempts": 1}, "123/*": {"max_attempts": 7}}}}
    )  # fmt: skip

    assert settings.rule_for("dp", "etl_daily", max_attempts=3).pattern == "dp/etl_*"  # first of a tie
    assert settings.rule_for("other", "x", max_attempts=3).recover == "never"
    assert settings.rule_for("dp", "report", project_code=123, max_attempts=3).max_attempts == 7
    # nothing set by default: today's behaviour, retry.max_recovery_attempts applies
    assert parse_recovery(None).rule_for("a", "b", max_attempts=4) == Rule("default", "always", 4, ())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"polcy": {}}, "unknown key recovery.polcy"),
        ({"policy": {"workflows": {"finance": {}}}}, 'recovery.policy.workflows.finance: the key must be a "project'),
        ({"policy": {"default": {"recover": "sometimes"}}}, "recovery.policy.default.recover must be one of"),
        ({"policy": {"workflows": {"a/b": {"max_attempts": -1}}}}, "recovery.policy.workflows.a/b.max_attempts"),
        ({"policy": {"default": {"backoff_minutes": 5}}}, "recovery.policy.default.backoff_minutes must be a list"),
        ({"policy": {"default": {"retries": 5}}}, "recovery.policy.default: unknown key retries"),
    ],
)
def test_config_errors_name_the_key(tmp_path, raw, message):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"recovery": raw}))

    with pytest.raises(ConfigError) as err:
        load_config(str(path), environ={}, dotenv_path=None)
    assert message in str(err.value) and str(path) in str(err.value)


def test_gate():
    transient_only = Rule("dp/*", "transient", 3, (0, 10))
    failed = NOW - timedelta(minutes=5)

    withheld = gate(transient_only, klass="deterministic", line="ERROR 1064", attempts_used=0,
                    last_failure=failed, now=NOW)  # fmt: skip
    assert withheld.withheld and "(ERROR 1064)" in withheld.detail
    assert gate(transient_only, klass="unknown", line="", attempts_used=0, last_failure=failed, now=NOW) is None
    backoff = gate(transient_only, klass="transient", line="", attempts_used=1, last_failure=failed, now=NOW)
    assert not backoff.withheld and "not before 2024-06-01T12:05:00+00:00" in backoff.detail
    # past the end of the list the last wait applies; an unknown failure time waits for nothing
    assert gate(transient_only, klass="transient", line="", attempts_used=5, last_failure=failed, now=NOW)
    assert gate(transient_only, klass="transient", line="", attempts_used=5, last_failure=None, now=NOW) is None
    assert gate(Rule("x/*", "never", 3, ()), klass="transient", line="", attempts_used=0, last_failure=None,
                now=NOW).withheld  # fmt: skip


def test_config_check_shows_the_rule_of_each_configured_workflow(tmp_path, run_cli):
    path = tmp_path / "config.yaml"
    path.write_text(
        "projects:\n  data-platform:\n    workflows: [daily_etl_job, sync_hourly]\n  finance: {monitor_all: true}\n"
        "recovery:\n  policy:\n    default: {recover: transient}\n    workflows:\n"
        '      "finance/*": {recover: never}\n      "data-platform/*_hourly": {max_attempts: 5}\n'
        '      "*/ledger*": {max_attempts: 1}\n',
        encoding="utf-8",
    )

    result = run_cli("config", "check", "-c", str(path))

    out = result.stdout
    assert result.exit_code == 0, result.stderr
    assert "  data-platform/daily_etl_job -> default (recover: transient, max_attempts: 3)" in out
    assert "  data-platform/sync_hourly -> data-platform/*_hourly (recover: transient, max_attempts: 5)" in out
    assert "  finance/(every workflow) -> finance/*; by workflow name: */ledger*" in out

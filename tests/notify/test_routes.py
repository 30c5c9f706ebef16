"""Routes and named channels: the pure table, the config that feeds it, the manager and the CLI using it."""

from dataclasses import replace

import pytest

from ds_monitor.config import Route, load_config
from ds_monitor.errors import ConfigError
from ds_monitor.notify import build_senders
from ds_monitor.notify.events import Event
from ds_monitor.notify.routes import channels_for, declared_channels, describe, route
from ds_monitor.notify.validation import validate_notification_config
from tests.notify.conftest import T0, TOKEN
from tests.notify.dispatch import Manager
from tests.notify.doubles.dingtalk import DingTalkDouble, Robot

CHANNELS = {"team-a": "dingtalk", "team-b": "dingtalk", "email": "email", "webhook": "webhook"}
TOKEN_B = "b" * 64


def event(kind="failure_detected", project="finance-dw", workflow="daily_etl", code=11):
    if kind in ("monitor_unhealthy", "monitor_recovered"):
        return Event(kind)
    return Event(
        kind, project_code=7, project_name=project, definition_code=code, definition_name=workflow, instance_id=1
    )


def test_no_routes_every_channel_gets_everything():
    shares = route([event(), event("monitor_unhealthy")], (), CHANNELS)
    assert all(len(events) == 2 for events in shares.values())


def test_first_match_wins_and_continue_goes_on():
    table = (
        Route(channels=("webhook",), events=("monitor_*", "project_unreadable"), proceed=True),
        Route(channels=("team-a",), projects=("finance*",)),
        Route(channels=("team-b",), projects=("marketing*",)),
        Route(channels=("email",)),
    )
    assert channels_for(event(), table, CHANNELS) == ["team-a"]
    assert channels_for(event(project="marketing"), table, CHANNELS) == ["team-b"]
    assert channels_for(event(project="ops"), table, CHANNELS) == ["email"]
    # continue: the webhook row adds itself, then the catch-all decides the rest
    assert channels_for(event("monitor_unhealthy"), table, CHANNELS) == ["email", "webhook"]


def test_a_section_name_reaches_every_entry_of_it_and_codes_match_too():
    table = (Route(channels=("dingtalk",), projects=("7",), workflows=("daily_*",)),)
    assert channels_for(event(), table, CHANNELS) == ["team-a", "team-b"]
    # the workflow filter does not match: no route matched, so fail-open to every channel
    assert channels_for(event(workflow="hourly"), table, CHANNELS) == list(CHANNELS)


def test_monitor_events_match_no_project_filter():
    table = (Route(channels=("team-a",), projects=("*",)), Route(channels=("email",)))
    assert channels_for(event("monitor_unhealthy"), table, CHANNELS) == ["email"]


def test_describe_prints_the_table_and_disabled_channels():
    table = (Route(channels=("team-a", "email"), projects=("finance*",)), Route(channels=("webhook",), proceed=True))
    lines = describe(table, CHANNELS, enabled={"team-a", "webhook"})
    assert lines == [
        "1. project finance* -> team-a, email (disabled); stop",
        "2. any event -> webhook; continue",
        "3. no route matched -> every channel",
    ]


YAML = """
notification:
  dingtalk:
    - {name: team-a, webhook_url: "%(a)s", at_mobiles: ["13800000000"]}
    - {name: team-b, webhook_url: "%(b)s", secret: SECb-secret-value}
  email: {enabled: false}
  routes:
    - {projects: ["finance*"], channels: [team-a]}
    - {events: [monitor_unhealthy], channels: [dingtalk], continue: true}
    - {projects: ["marketing*"], channels: [team-b]}
"""


@pytest.fixture
def robots(clock):
    double = DingTalkDouble([Robot(TOKEN), Robot(TOKEN_B)], clock=clock)
    yield double
    double.close()


@pytest.fixture
def config_file(tmp_path, robots):
    path = tmp_path / "config.yaml"
    path.write_text(YAML % {"a": robots.webhook(TOKEN), "b": robots.webhook(TOKEN_B)}, encoding="utf-8")
    return path


def test_named_entries_are_parsed_enabled_and_masked(config_file):
    loaded = load_config(str(config_file), environ={}, dotenv_path=None)
    notification = loaded.config.notification
    assert [(i.kind, i.name, i.config.enabled) for i in notification.instances] == [
        ("dingtalk", "team-a", True),
        ("dingtalk", "team-b", True),
    ]
    assert notification.instances[0].config.at_mobiles == ("13800000000",)
    declared = list(declared_channels(notification))
    assert declared == ["team-a", "team-b", "wework", "email", "webhook", "slack", "feishu", "alertmanager"]
    shown = {key: value for key, value, _ in loaded.effective_values()}
    assert shown["notification.dingtalk[team-b].secret"] == "***"
    assert TOKEN_B not in repr(loaded.effective_values())
    assert "SECb-secret-value" in loaded.secret_values()
    assert [s.name for s in build_senders(notification)] == ["team-a", "team-b"]


def test_two_robots_for_two_teams_each_get_their_projects(config_file, robots):
    notification = load_config(str(config_file), environ={}, dotenv_path=None).config.notification
    manager = Manager(notification, sleep=lambda s: None)
    events = [event(project="finance-dw", code=1), event(project="marketing", code=2), event("monitor_unhealthy")]
    results, _ = manager.dispatch(events, {}, T0)
    assert sorted((r.channel, r.incident_key) for r in results if r.result == "sent") == [
        ("team-a", "1:1"),
        ("team-a", "monitor"),
        ("team-b", "2:1"),
        ("team-b", "monitor"),
    ]
    texts = {r.raw_query.split("access_token=")[1][:64]: r.json()["markdown"]["text"] for r in robots.requests}
    assert "finance-dw" in texts[TOKEN] and "marketing" not in texts[TOKEN]
    assert "marketing" in texts[TOKEN_B] and "finance-dw" not in texts[TOKEN_B]


def test_suppressed_events_are_reported_only_on_their_routes(config_file, robots):
    notification = load_config(str(config_file), environ={}, dotenv_path=None).config.notification
    notification = replace(notification, rate_limit=replace(notification.rate_limit, max_per_window=1))
    manager = Manager(notification, sleep=lambda s: None)
    _, state = manager.dispatch([event(project="finance-dw", code=1)], {}, T0)
    again = Event("failure_detected", project_name="finance-dw", definition_code=1, instance_id=2)
    results, _ = manager.dispatch([again], state, T0)
    assert [(r.channel, r.result) for r in results] == [("team-a", "suppressed")]


ROUTE = "notification:\n  routes:\n    - "
EMAIL_ON = "notification:\n  email: {enabled: true, smtp_host: h, from_addr: a@b.c, to_addrs: [x@y.z]}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ROUTE + "{channels: [nobody]}", r"notification.routes\[0\].channels: no channel named 'nobody'"),
        (ROUTE + "{channels: [slack]}", r"notification.routes\[0\].channels: none of slack is enabled"),
        (ROUTE + "{projects: [x]}", r"notification.routes\[0\].channels: empty"),
        (ROUTE + "{channels: [email], when: x}", r"notification.routes\[0\]: unknown key when"),
        (
            EMAIL_ON + "  routes:\n    - {channels: [email], events: [failure]}\n",
            r"notification.routes\[0\].events: unknown event kind 'failure'",
        ),
        ("notification:\n  slack:\n    - {webhook_url: 'https://h/s'}", r"notification.slack\[0\].name"),
        ("notification:\n  slack:\n    - {name: dingtalk}", r"'dingtalk' is already a channel name"),
        ("notification:\n  slack:\n    - {name: s1, colour: red}", r"unknown key notification.slack\[s1\].colour"),
        (
            "notification:\n  slack:\n    - {name: s1}",
            r"^notification.slack\[s1\].webhook_url: must be the incoming webhook URL",
        ),
        (
            "notification:\n  webhook:\n    - {name: w1, url: 'http://x/y', timeout_seconds: 0}",
            r"^notification.webhook\[w1\].timeout_seconds: must be more than 0 to 600 seconds",
        ),
    ],
)
def test_bad_routes_and_entries_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        # as every command does: the settings load, then the notify package checks the channels
        validate_notification_config(load_config(str(path), environ={}, dotenv_path=None).config.notification)


def test_config_check_prints_the_channels_and_the_routing_table(config_file, run_cli):
    result = run_cli("config", "check", "-c", str(config_file), clock=lambda: T0)
    assert result.exit_code == 0
    assert "channels: team-a (dingtalk), team-b (dingtalk)" in result.stdout
    assert "  1. project finance* -> team-a; stop\n" in result.stdout
    assert "  2. event monitor_unhealthy -> team-a, team-b; continue\n" in result.stdout
    assert "  4. no route matched -> every channel\n" in result.stdout
    assert TOKEN not in result.stdout and TOKEN_B not in result.stdout


def test_notify_test_one_named_channel(config_file, robots, run_cli):
    result = run_cli("notify", "test", "-c", str(config_file), "--channel", "team-b", clock=lambda: T0)
    assert result.exit_code == 0 and result.stdout.strip() == "team-b: sent"
    assert len(robots.requests) == 1 and TOKEN_B in robots.requests[0].raw_query


def test_notify_test_unknown_channel_is_a_usage_error(config_file, run_cli):
    result = run_cli("notify", "test", "-c", str(config_file), "--channel", "team-c", clock=lambda: T0)
    assert result.exit_code == 2
    assert "--channel team-c: no enabled channel of that name (enabled: team-a, team-b)" in result.stderr


def test_config_check_reports_a_bad_route_as_a_config_error(tmp_path, run_cli):
    path = tmp_path / "c.yaml"
    path.write_text(ROUTE + "{channels: [nobody]}", encoding="utf-8")
    result = run_cli("config", "check", "-c", str(path), clock=lambda: T0)
    assert result.exit_code == 2 and "notification.routes[0].channels: no channel named 'nobody'" in result.stderr

"""Configuration loading: priority, types, ranges, the seed tool's formats, masking."""

from __future__ import annotations

import textwrap

import pytest

from ds_monitor.config import Config, load_config
from ds_monitor.errors import ConfigError
from ds_monitor.redaction import mask_url


@pytest.fixture
def write(tmp_path):
    def _write(text: str, name: str = "config.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return str(path)

    return _write


def load(path=None, env=None, dotenv=None):
    return load_config(path, environ=env or {}, dotenv_path=dotenv)


def test_defaults_without_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = load()
    assert loaded.config == Config()
    assert not loaded.file_found
    assert all(source == "default" for _, _, source in loaded.effective_values())


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does-not-exist.yaml does not exist"):
        load(str(tmp_path / "does-not-exist.yaml"))


def test_invalid_yaml_names_file_and_line(write):
    path = write("monitor:\n  check_interval: [1,\n")
    with pytest.raises(ConfigError, match=r"config.yaml is not valid YAML at line \d"):
        load(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("monitor:\n  check_intervall: 5\n", "unknown key monitor.check_intervall"),
        ("bogus: 1\n", "unknown key bogus"),
        ("monitor:\n  check_interval: soon\n", "monitor.check_interval: expected a number"),
        ("monitor:\n  check_interval: 1.5\n", "monitor.check_interval: expected a whole number"),
        ("monitor:\n  check_interval: 0\n", "monitor.check_interval: must be from 1 to 86400 seconds"),
        ("monitor:\n  continuous_mode: maybe\n", "monitor.continuous_mode: expected true/false"),
        ("retry:\n  max_recovery_attempts: -1\n", "retry.max_recovery_attempts: must be from 0 to 100"),
        ("dolphinscheduler:\n  api_version: '4.0'\n", "dolphinscheduler.api_version: must be one of"),
        ("dolphinscheduler:\n  api_url: localhost:12345\n", "dolphinscheduler.api_url: must be an http"),
        ("dolphinscheduler:\n  server_timezone: Mars/Base\n", "dolphinscheduler.server_timezone"),
        ("notification:\n  email:\n    smtp_port: smtp\n", "notification.email.smtp_port: expected a number"),
        ("notification:\n  email:\n    to_addrs: {a: 1}\n", "notification.email.to_addrs: expected a list"),
        ("monitor: 5\n", "monitor must be a mapping"),
        ("projects:\n  p1:\n    workflow: [a]\n", "projects.p1: unknown key workflow"),
        ("projects:\n  p1:\n    monitor_all: false\n", "monitor_all is false but no workflows"),
        ("logging:\n  level: LOUD\n", "logging.level: must be one of"),
    ],
    ids=[
        "typo",
        "unknown-section",
        "not-a-number",
        "fraction",
        "below-range",
        "bad-bool",
        "negative",
        "version",
        "url-without-scheme",
        "unknown-zone",
        "port-text",
        "list-type",
        "section-type",
        "project-key",
        "project-empty",
        "log-level",
    ],
)
def test_bad_file_values_name_the_key(write, text, message):
    with pytest.raises(ConfigError, match=message):
        load(write(text))


def test_priority_env_over_file_over_default(write):
    path = write("monitor:\n  check_interval: 120\n  time_window_hours: 12\n")
    loaded = load(path, env={"DS_CHECK_INTERVAL": "30"})
    assert loaded.config.monitor.check_interval == 30
    assert loaded.config.monitor.time_window_hours == 12
    assert loaded.config.monitor.timeout == 300
    assert loaded.sources["monitor.check_interval"] == "env:DS_CHECK_INTERVAL"
    assert loaded.sources["monitor.time_window_hours"] == "file"


def test_generic_env_name_reaches_every_key_and_beats_the_short_name():
    loaded = load(
        env={
            "DS_MONITOR__MAX_UNCHECKED_MINUTES": "45",
            "DS_CHECK_INTERVAL": "30",
            "DS_MONITOR__CHECK_INTERVAL": "90",
            "DS_NOTIFICATION__EMAIL__CC_ADDRS": "a@example.com, b@example.com",
        }
    )
    cfg = loaded.config
    assert cfg.monitor.max_unchecked_minutes == 45
    assert cfg.monitor.check_interval == 90
    assert cfg.notification.email.cc_addrs == ("a@example.com", "b@example.com")


@pytest.mark.parametrize(
    "text, expected",
    [("true", True), ("1", True), ("YES", True), ("no", False), ("0", False), ("False", False)],
)
def test_env_booleans(text, expected):
    assert load(env={"DS_AUTO_RECOVERY": text}).config.retry.auto_recovery is expected


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DS_AUTO_RECOVERY": "sometimes"}, "environment variable DS_AUTO_RECOVERY: expected true/false"),
        (
            {"DS_MONITOR__NOPE": "1"},
            "environment variable DS_MONITOR__NOPE: no configuration key monitor.nope",
        ),
        ({"DS_EMAIL_SMTP_PORT": "abc"}, "environment variable DS_EMAIL_SMTP_PORT: expected a number"),
        ({"DS_CHECK_INTERVAL": "0"}, r"monitor.check_interval \(environment variable DS_CHECK_INTERVAL\)"),
    ],
    ids=["bool", "unknown-key", "port", "range"],
)
def test_bad_env_values_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        load(env=env)


def test_unrelated_ds_variables_are_ignored():
    # The seed's .env carries DS_HOST_IP for docker-compose; it is not a config key.
    assert load(env={"DS_HOST_IP": "172.17.0.1", "USER_ID": "1000"}).config == Config()


SEED_CONFIG = """\
# 配置文件 (the seed tool's format)
dolphinscheduler:
  api_url: "http://ds.example:12345/dolphinscheduler"
  token: ""
monitor:
  check_interval: 60
  continuous_mode: true
  timeout: 300
  enable_schedule_optimization: true
  execution_window_hours: 4
  success_cooldown_minutes: 30
retry:
  max_recovery_attempts: 3
  recovery_interval: 30
  auto_recovery: true
projects:
  default_project:
    workflows: []
    monitor_all: true
  订单系统:
    workflows:
      - 订单数据同步
      - 每日结算任务
    monitor_all: false
  bare-project:
logging:
  level: INFO
  file: logs/monitor.log
  max_size: 10
  backup_count: 5
notification:
  dingtalk:
    enabled: false
    webhook_url: ""
    secret: ""
    keyword: ""
    at_mobiles: []
    at_all: false
  wework:
    enabled: false
    webhook_url: ""
    mentioned_list: []
    mentioned_mobile_list: []
  email:
    enabled: false
    smtp_host: ""
    smtp_port: 465
    username: ""
    password: ""
    from_addr: ""
    to_addrs: []
    use_ssl: true
"""

SEED_DOTENV = """\
DS_API_URL=http://dolphinscheuler.master2.com:12345/dolphinscheduler
DS_TOKEN=seed-token-123456
DS_HOST_IP=172.17.0.1
DS_CHECK_INTERVAL=60
DS_CONTINUOUS_MODE=true
DS_AUTO_RECOVERY=true
DS_MAX_RECOVERY_ATTEMPTS=3
DS_TIME_WINDOW_HOURS=24  # 只监控指定小时内启动的工作流
DS_MAX_FAILURES_FOR_RECOVERY=1  # 时间窗口内失败数量阈值
DS_LOG_LEVEL=INFO
DS_DINGTALK_ENABLED=false
DS_DINGTALK_WEBHOOK=
DS_DINGTALK_SECRET=
DS_WEWORK_ENABLED=false
DS_WEWORK_WEBHOOK=
DS_EMAIL_ENABLED=false
DS_EMAIL_SMTP_HOST=
DS_EMAIL_SMTP_PORT=465
USER_ID=1000
GROUP_ID=1000
"""


def test_seed_tool_config_and_dotenv_work_unchanged(write):
    path = write(SEED_CONFIG)
    dotenv = write(SEED_DOTENV, name=".env")
    loaded = load(path, dotenv=dotenv)
    cfg = loaded.config
    assert cfg.dolphinscheduler.api_url == "http://dolphinscheuler.master2.com:12345/dolphinscheduler"
    assert cfg.dolphinscheduler.token == "seed-token-123456"
    assert cfg.monitor.time_window_hours == 24
    assert cfg.monitor.max_failures_for_recovery == 1
    names = [(p.name, p.workflows, p.monitor_all) for p in cfg.projects]
    assert names == [
        ("default_project", (), True),
        ("订单系统", ("订单数据同步", "每日结算任务"), False),
        ("bare-project", (), True),
    ]


def test_real_environment_beats_dotenv(write):
    dotenv = write("DS_TOKEN=from-dotenv\nDS_CHECK_INTERVAL=10\n", name=".env")
    loaded = load(dotenv=dotenv, env={"DS_TOKEN": "from-env"})
    assert loaded.config.dolphinscheduler.token == "from-env"
    assert loaded.config.monitor.check_interval == 10


def test_projects_list_shorthand(write):
    cfg = load(write("projects: [data-platform, 1234567890123]\n")).config
    assert [(p.name, p.monitor_all) for p in cfg.projects] == [
        ("data-platform", True),
        ("1234567890123", True),
    ]


def test_workflows_without_monitor_all_means_only_those(write):
    cfg = load(write("projects:\n  p:\n    workflows: [a, b]\n")).config
    assert cfg.projects[0].monitor_all is False


def test_secrets_are_masked_and_collected():
    env = {
        "DS_TOKEN": "tok-abcdef",
        "DS_DINGTALK_ENABLED": "true",
        "DS_DINGTALK_WEBHOOK": "https://oapi.dingtalk.com/robot/send?access_token=ding-secret-token",
        "DS_DINGTALK_SECRET": "SECabcdef",
        "DS_EMAIL_PASSWORD": "hunter2hunter2",
    }
    loaded = load(env=env)
    shown = {key: value for key, value, _ in loaded.effective_values()}
    assert shown["dolphinscheduler.token"] == "***"
    assert (
        shown["notification.dingtalk.webhook_url"] == "https://oapi.dingtalk.com/robot/send?access_token=***"
    )
    assert shown["notification.dingtalk.secret"] == "***"
    assert shown["notification.email.password"] == "***"
    rendered = repr(loaded.effective_values())
    for secret in ("tok-abcdef", "ding-secret-token", "SECabcdef", "hunter2hunter2"):
        assert secret not in rendered
        assert secret in loaded.secret_values()


@pytest.mark.parametrize(
    "url, shown",
    [
        (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***",
        ),
        ("bare-token-value", "***"),
        ("https://x.example/hook?a=1&sign=zzz", "https://x.example/hook?a=1&sign=***"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def test_missing_token_is_reported_for_run():
    with pytest.raises(ConfigError, match="dolphinscheduler.token is empty: set DS_TOKEN"):
        load().require_token()

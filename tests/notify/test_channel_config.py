"""Configuration of the newer channels: keys, environment names, masking, validation."""

import pytest

from ds_monitor.config import load_config
from ds_monitor.errors import ConfigError
from ds_monitor.notify.validation import validate_notification_config


def load(env):
    """What every command does: load the settings, then the notify package checks the channels."""
    loaded = load_config(None, environ=env, dotenv_path=None)
    validate_notification_config(loaded.config.notification)
    return loaded


def test_webhook_url_and_secret_are_masked_and_collected():
    loaded = load(
        {
            "DS_NOTIFICATION__WEBHOOK__ENABLED": "true",
            "DS_NOTIFICATION__WEBHOOK__URL": "https://user:pw-9876@hooks.example:8443/in/tok-abc123?sig=qq-77",
            "DS_NOTIFICATION__WEBHOOK__SECRET": "whsec-55",
        }
    )
    shown = {key: value for key, value, _ in loaded.effective_values()}
    assert shown["notification.webhook.url"] == "https://hooks.example:8443/***"
    assert shown["notification.webhook.secret"] == "***"
    rendered = repr(loaded.effective_values())
    secrets = loaded.secret_values()
    for secret in ("pw-9876", "tok-abc123", "qq-77", "whsec-55"):
        assert secret not in rendered
        assert any(secret in value for value in secrets)
    assert "/in/tok-abc123" in secrets  # the path alone, as it appears in request errors


def test_enabled_webhook_without_url_names_the_key():
    with pytest.raises(ConfigError, match=r"^notification.webhook.url: must be an http\(s\) URL$"):
        load({"DS_NOTIFICATION__WEBHOOK__ENABLED": "true"})


def test_webhook_timeout_must_be_positive():
    with pytest.raises(ConfigError, match="notification.webhook.timeout_seconds"):
        load({"DS_NOTIFICATION__WEBHOOK__TIMEOUT_SECONDS": "0"})


def test_slack_webhook_from_its_short_env_name_is_masked_to_the_host():
    loaded = load({"DS_SLACK_WEBHOOK": "https://hooks.slack.com/services/T1/B2/abcSECRETxyz"})
    shown = {key: (value, source) for key, value, source in loaded.effective_values()}
    assert shown["notification.slack.webhook_url"] == ("https://hooks.slack.com/***", "env:DS_SLACK_WEBHOOK")
    assert "/services/T1/B2/abcSECRETxyz" in loaded.secret_values()


def test_enabled_slack_without_webhook_names_the_key():
    with pytest.raises(ConfigError, match=r"^notification.slack.webhook_url: must be the incoming webhook URL"):
        load({"DS_NOTIFICATION__SLACK__ENABLED": "true"})


def test_feishu_short_env_names_and_masking():
    loaded = load(
        {
            "DS_NOTIFICATION__FEISHU__ENABLED": "true",
            "DS_FEISHU_WEBHOOK": "https://open.feishu.cn/open-apis/bot/v2/hook/tok-feishu-42",
            "DS_FEISHU_SECRET": "fs-secret-9",
        }
    )
    shown = {key: (value, source) for key, value, source in loaded.effective_values()}
    assert shown["notification.feishu.webhook_url"] == ("https://open.feishu.cn/***", "env:DS_FEISHU_WEBHOOK")
    assert shown["notification.feishu.secret"] == ("***", "env:DS_FEISHU_SECRET")
    assert "fs-secret-9" in loaded.secret_values()
    assert "/open-apis/bot/v2/hook/tok-feishu-42" in loaded.secret_values()


def test_enabled_feishu_with_a_wrong_url_names_the_key():
    with pytest.raises(ConfigError, match=r"^notification.feishu.webhook_url: must be a bot hook URL"):
        load({"DS_NOTIFICATION__FEISHU__ENABLED": "true", "DS_FEISHU_WEBHOOK": "https://example.com/x"})

"""validate_notification_config: one clear ConfigError naming the key, never echoing a secret."""

from dataclasses import replace

import pytest

from ds_monitor.config import DingTalkConfig, EmailConfig, NotificationConfig, WeComConfig
from ds_monitor.errors import ConfigError
from ds_monitor.notify import validate_notification_config

DING = DingTalkConfig(enabled=True, webhook_url="https://oapi.dingtalk.com/robot/send?access_token=abc123")
WECOM = WeComConfig(enabled=True, webhook_url="0b1c2d3e-key")
MAIL = EmailConfig(
    enabled=True, smtp_host="smtp.example.com", from_addr="monitor@example.com", to_addrs=("ops@example.com",)
)


def test_a_valid_configuration_passes():
    validate_notification_config(NotificationConfig(dingtalk=DING, wework=WECOM, email=MAIL))


def test_disabled_channels_are_not_checked():
    validate_notification_config(
        NotificationConfig(dingtalk=DingTalkConfig(enabled=False, webhook_url="x?y"))
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            NotificationConfig(dingtalk=replace(DING, webhook_url="")),
            "notification.dingtalk.webhook_url: empty, but the DingTalk channel is enabled",
        ),
        (
            NotificationConfig(
                dingtalk=replace(DING, webhook_url="https://oapi.dingtalk.com/robot/send?x=1")
            ),
            "notification.dingtalk.webhook_url: has no access_token",
        ),
        (
            NotificationConfig(dingtalk=replace(DING, webhook_url="ftp://host/robot?access_token=a")),
            "notification.dingtalk.webhook_url: must be an http(s) URL or a bare access token",
        ),
        (
            NotificationConfig(dingtalk=replace(DING, secret="mysecret")),
            "notification.dingtalk.secret: a DingTalk signing secret starts with SEC",
        ),
        (
            NotificationConfig(dingtalk=replace(DING, at_mobiles=("zhangsan",))),
            "notification.dingtalk.at_mobiles: 'zhangsan' is not a phone number",
        ),
        (
            NotificationConfig(wework=replace(WECOM, webhook_url=" ")),
            "notification.wework.webhook_url: empty, but the WeCom channel is enabled",
        ),
        (
            NotificationConfig(
                wework=replace(WECOM, webhook_url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
            ),
            "notification.wework.webhook_url: has no key",
        ),
        (
            NotificationConfig(email=replace(MAIL, smtp_host="")),
            "notification.email.smtp_host: empty, but the e-mail channel is enabled",
        ),
        (NotificationConfig(email=replace(MAIL, to_addrs=())), "notification.email.to_addrs: no recipients"),
        (
            NotificationConfig(email=replace(MAIL, cc_addrs=("not an address",))),
            "notification.email.cc_addrs: 'not an address' is not an e-mail address",
        ),
        (
            NotificationConfig(email=replace(MAIL, from_addr="")),
            "notification.email.from_addr: '' is not an e-mail address",
        ),
        (
            NotificationConfig(email=replace(MAIL, use_ssl=True, starttls=True)),
            "notification.email.use_ssl and notification.email.starttls: choose one",
        ),
        (
            NotificationConfig(email=replace(MAIL, password="pw")),
            "notification.email.password: set, but username is empty",
        ),
    ],
    ids=[
        "ding-empty",
        "ding-no-token",
        "ding-scheme",
        "ding-secret-prefix",
        "ding-mobile",
        "wecom-empty",
        "wecom-no-key",
        "mail-host",
        "mail-no-recipients",
        "mail-bad-cc",
        "mail-no-from",
        "mail-ssl-and-starttls",
        "mail-password-without-user",
    ],
)
def test_problems_name_the_key(config, message):
    with pytest.raises(ConfigError) as caught:
        validate_notification_config(config)
    assert str(caught.value).startswith(message)
    assert "abc123" not in str(caught.value) and "mysecret" not in str(caught.value)

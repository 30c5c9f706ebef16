"""Checks of the ``notification`` section that need channel knowledge; every command runs them right after
loading the config (``cli.load``), which itself never imports the senders.

Each problem is a ConfigError naming the key; a webhook URL or secret is never echoed.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from ds_monitor.config import CHANNEL_SECTIONS, NotificationConfig
from ds_monitor.errors import ConfigError
from ds_monitor.notify import alertmanager, dingtalk, feishu, generic, routes, slack, wecom
from ds_monitor.notify.events import EVENT_KINDS

_MOBILE = re.compile(r"^\+?[0-9][0-9-]{4,19}$")


def validate_notification_config(config: NotificationConfig) -> None:
    """Raise ConfigError for the first unusable setting of an enabled channel, named entry or route."""
    _validate_sections(config)
    for instance in config.instances:
        if not instance.config.enabled:
            continue
        try:
            _validate_sections(NotificationConfig(**{instance.kind: instance.config}))
        except ConfigError as err:
            section = f"notification.{instance.kind}."
            raise ConfigError(str(err).replace(section, f"notification.{instance.kind}[{instance.name}].")) from None
    _validate_routes(config)


def _validate_routes(config: NotificationConfig) -> None:
    declared = routes.declared_channels(config)
    names = {name: kind for name, (kind, _) in declared.items()}
    enabled = {name for name, (_, on) in declared.items() if on}
    for index, route in enumerate(config.routes):
        where = f"notification.routes[{index}]"
        for name in route.channels:
            if name not in names and name not in CHANNEL_SECTIONS:
                known = ", ".join(names)
                raise ConfigError(f"{where}.channels: no channel named {name!r} (channels: {known})")
        if not set(routes.targets(route, names)) & enabled:
            raise ConfigError(
                f"{where}.channels: none of {', '.join(route.channels)} is enabled; "
                "events this route matches would reach nobody"
            )
        for kind in route.events:
            if not any(ch in kind for ch in "*?[") and kind not in EVENT_KINDS:
                raise ConfigError(f"{where}.events: unknown event kind {kind!r}")


def _validate_sections(config: NotificationConfig) -> None:
    if config.dingtalk.enabled:
        ding = config.dingtalk
        if not ding.webhook_url.strip():
            raise ConfigError("notification.dingtalk.webhook_url: empty, but the DingTalk channel is enabled")
        dingtalk.parse_webhook(ding.webhook_url)
        if ding.secret and not ding.secret.startswith("SEC"):
            raise ConfigError(
                "notification.dingtalk.secret: a DingTalk signing secret starts with SEC "
                "(copy the whole value from the robot's security settings)"
            )
        for mobile in ding.at_mobiles:
            if not _MOBILE.match(mobile):
                raise ConfigError(f"notification.dingtalk.at_mobiles: {mobile!r} is not a phone number")
    if config.wework.enabled:
        if not config.wework.webhook_url.strip():
            raise ConfigError("notification.wework.webhook_url: empty, but the WeCom channel is enabled")
        wecom.parse_webhook(config.wework.webhook_url)
    if config.email.enabled:
        _validate_email(config)
    if config.webhook.enabled:
        generic.check_url(config.webhook.url, "notification.webhook.url")
    if config.slack.enabled:
        slack.check_webhook(config.slack.webhook_url)
    if config.feishu.enabled:
        feishu.parse_webhook(config.feishu.webhook_url)
    if config.alertmanager.enabled:
        alertmanager.check_url(config.alertmanager.url)


def _validate_email(config: NotificationConfig) -> None:
    mail = config.email
    if not mail.smtp_host.strip():
        raise ConfigError("notification.email.smtp_host: empty, but the e-mail channel is enabled")
    if mail.use_ssl and mail.starttls:
        raise ConfigError(
            "notification.email.use_ssl and notification.email.starttls: choose one "
            "(use_ssl for implicit TLS on 465, starttls for 587)"
        )
    if mail.password and not mail.username:
        raise ConfigError(
            "notification.email.password: set, but username is empty (AUTH is used only with a username)"
        )
    if not _is_address(mail.from_addr):
        raise ConfigError(f"notification.email.from_addr: {mail.from_addr!r} is not an e-mail address")
    if not mail.to_addrs:
        raise ConfigError("notification.email.to_addrs: no recipients")
    for key, addresses in (("to_addrs", mail.to_addrs), ("cc_addrs", mail.cc_addrs)):
        for address in addresses:
            if not _is_address(address):
                raise ConfigError(f"notification.email.{key}: {address!r} is not an e-mail address")


def _is_address(text: str) -> bool:
    _, address = parseaddr(text)
    local, _, domain = address.partition("@")
    return bool(local) and bool(domain) and " " not in address

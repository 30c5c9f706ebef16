"""Secrets never shown: which settings are secrets, what a credential looks like, and the masking.

The one home of these facts. The config check prints settings through :func:`mask_setting` and
:func:`mask_url`; log lines, CLI errors, sender errors and task-log excerpts pass through
:func:`redact` with the secret values :func:`secrets_in` collects from the settings. Pure: no I/O,
and no import of the config (which imports this), so the settings come in as (key, value) pairs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"

# Settings whose value is a credential (or holds one), by dotted key; a named channel entry
# (``notification.dingtalk[team-a].secret``) goes by its section's key.
SECRET_KEYS = frozenset(
    {
        "dolphinscheduler.token",
        "notification.dingtalk.secret",
        "notification.dingtalk.webhook_url",
        "notification.wework.webhook_url",
        "notification.email.password",
        "notification.webhook.url",
        "notification.webhook.secret",
        "notification.slack.webhook_url",
        "notification.feishu.webhook_url",
        "notification.feishu.secret",
        "monitor.heartbeat_url",
    }
)
# Webhook URLs whose path is the credential (Feishu and Slack hooks), or may be (any URL a user gives).
PATH_SECRET_URL_KEYS = frozenset(
    {
        "notification.webhook.url",
        "notification.slack.webhook_url",
        "notification.feishu.webhook_url",
        "monitor.heartbeat_url",
    }
)

# A query parameter (or ``name=value`` in free text) whose name contains one of these carries a
# credential or makes one replayable: DingTalk's access_token, sign and timestamp, WeCom's key, a
# proxy's apikey or auth, ...
_SECRET_NAMES = "token|key|secret|sign|pass|auth|credential|session|timestamp"
_SECRET_PARAM = re.compile(f"(?i){_SECRET_NAMES}")

# What a credential looks like in free text (log lines, error texts, task logs).
_SECRET_PATTERNS = (
    re.compile(rf"(?i)([\w-]*(?:{_SECRET_NAMES})[\w-]*=)[^&\s'\"]+"),
    # user:password@ in any URL (a DS api_url behind a proxy with basic auth)
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"]+@"),
    # a token in a printed header or JSON document
    re.compile(r"(?i)(['\"]?token['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"),
)

# Shorter known values are left alone: masking them would mangle every line and protect nothing.
_MIN_SECRET_LENGTH = 4


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value and every credential-looking part of ``text`` with ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def mask_setting(key: str, value: str) -> str:
    """A secret setting's value fit to print: ``***``, or the URL with its credentials masked."""
    if key in PATH_SECRET_URL_KEYS:
        return mask_url_path(value)
    if key.endswith("webhook_url"):
        return mask_url(value)
    return MASK


def mask_url(url: str) -> str:
    """A URL fit to print: userinfo -> ``***@``, credential-looking query values -> ``***``.

    ``https://u:pw@host/robot/send?access_token=abc`` -> ``https://***@host/robot/send?access_token=***``;
    text that is no URL (a bare token) or cannot be parsed -> ``***``.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = "&".join(
        f"{name}={MASK}" if _SECRET_PARAM.search(name) else f"{name}={val}"
        for name, val in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def mask_url_path(url: str) -> str:
    """``https://hooks.slack.com/services/T/B/X`` -> ``https://hooks.slack.com/***``: the path is the secret."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if not parts.scheme or not parts.hostname:
        return MASK
    return f"{parts.scheme}://{parts.hostname}{port}/{MASK}"


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@``, for links shown to people (requests still gets the credentials)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def secrets_in(settings: Iterable[tuple[str, object]]) -> list[str]:
    """Every secret value among ``(key, value)`` settings, and the secrets inside their URLs, for :func:`redact`.

    Any URL may carry a password or a key, also one that is not a secret setting (api_url, ui_url).
    """
    values = []
    for key, value in settings:
        if key in SECRET_KEYS:
            if value:
                values.append(str(value))
                values.extend(url_secrets(str(value), path_is_secret=key in PATH_SECRET_URL_KEYS))
        elif isinstance(value, str) and "://" in value:
            values.extend(url_secrets(value))
    return values


def url_secrets(url: str, *, path_is_secret: bool = False) -> list[str]:
    """The credentials inside ``url``: its password, credential-looking query values, and the path if it is one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here rather than in a caller
    except ValueError:
        return []  # not a URL: a secret key's whole value is masked anyway
    found = [val for name, val in parse_qsl(parts.query) if _SECRET_PARAM.search(name) and val]
    if parts.password:
        found.append(parts.password)
    # A credential in the path (Feishu's hook token, Slack's T/B/X) shows up alone in request errors.
    if path_is_secret and parts.path.strip("/"):
        found.append(parts.path)
    return found

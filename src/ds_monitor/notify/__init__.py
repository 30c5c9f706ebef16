"""Notifications: events in, one grouped message per channel out (DingTalk, WeCom, e-mail,
Feishu/Lark, Slack, a generic signed webhook), and Alertmanager kept in step with the open incidents.

Pure parts: :mod:`.events`, :mod:`.builder` (all wording), :mod:`.ratelimit` (announce-once memory
and the product rate limit), :mod:`.pacer` (per-robot pacing), :mod:`.routes` (which channel
gets which event). Shell: the senders (:mod:`.dingtalk`, :mod:`.wecom`, :mod:`.mail`,
:mod:`.feishu`, :mod:`.slack`, :mod:`.generic`, :mod:`.alertmanager`) and :mod:`.manager`, which
wires them together.
"""

from ds_monitor.notify.events import EVENT_KINDS, NEVER_SUPPRESSED, Event
from ds_monitor.notify.manager import (
    NotificationManager,
    NotificationResult,
    build_senders,
    send_test_messages,
)
from ds_monitor.notify.ratelimit import STATE_VERSION, rate_limit_status
from ds_monitor.notify.validation import validate_notification_config

__all__ = [
    "EVENT_KINDS",
    "NEVER_SUPPRESSED",
    "STATE_VERSION",
    "Event",
    "NotificationManager",
    "NotificationResult",
    "build_senders",
    "rate_limit_status",
    "send_test_messages",
    "validate_notification_config",
]

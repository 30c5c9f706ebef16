"""A sweep's share of notifying, for tests of the manager: enqueue (the caller saves), then deliver."""

from __future__ import annotations

import json

from ds_monitor.errors import StateError
from ds_monitor.notify import NotificationManager


def restart(state):
    return json.loads(json.dumps(state))


class Document:
    """The notification state document in memory, saved as JSON like the state file."""

    def __init__(self, state: dict):
        self.state = restart(state)
        self.broken = False

    def update(self, change):
        if self.broken:
            raise StateError("cannot write notification_rate_limit.json: No space left on device")
        result, state = change(restart(self.state))
        self.state = restart(state)
        return result


class Manager(NotificationManager):
    def dispatch(self, events, state, now, document=None):
        """One sweep's share: enqueue (saved), then deliver; returns (results, state)."""
        results, _, state = self.enqueue(events, restart(state), now)
        document = document or Document(state)
        document.state = restart(state)
        delivery = self.deliver(document, now)
        return results + delivery.results, document.state

"""The dead-man's switch (spec section 10): one GET to ``monitor.heartbeat_url`` after a good sweep.

Healthchecks, Uptime Kuma (push monitor) and the like raise the alarm when the pings stop, which is
the one failure the monitor cannot report itself: its host, its container or its loop being gone.

Why it looks like this:

* The ping runs on its own thread and the sweep never waits for it: a slow or dead ping service
  must not delay detection or recovery. If the previous ping is still in flight, the new one is
  skipped (and counted), so a hung service cannot pile up threads.
* One attempt with a 10 s timeout and no retries: the next sweep pings again anyway, and the ping
  services tolerate a missed beat by design (their grace time).
* The URL is a secret (it alone authorises the ping): logs name only its host.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from ds_monitor import __version__
from ds_monitor.redaction import mask_url_path

log = logging.getLogger("ds_monitor.heartbeat")

TIMEOUT_SECONDS = 10.0


class Heartbeat:
    """Pings one URL in the background; ``on_result(result)`` counts ``ok``, ``failed`` or ``skipped``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = TIMEOUT_SECONDS,
        on_result: Callable[[str], None] | None = None,
        session: requests.Session | None = None,
    ):
        self.url = url
        self.timeout = timeout
        self._on_result = on_result or (lambda result: None)
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"ds-monitor/{__version__}"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Start one ping and return at once."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                log.warning("heartbeat to %s skipped: the previous ping is still waiting", mask_url_path(self.url))
                self._on_result("skipped")
                return
            self._thread = threading.Thread(target=self._ping, name="ds-monitor-heartbeat", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Let an in-flight ping finish (``check`` exits right after its one sweep)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(self.timeout if timeout is None else timeout)

    def close(self) -> None:
        self.wait()
        self._session.close()

    def _ping(self) -> None:
        where = mask_url_path(self.url)
        try:
            response = self._session.get(self.url, timeout=self.timeout)
        except requests.Timeout:
            reason = f"no answer within {self.timeout:g} s"
        except requests.RequestException as err:
            # The exception text carries the full URL: only its type is logged.
            reason = f"connection failed ({type(err).__name__})"
        else:
            response.close()
            if response.status_code < 400:
                log.debug("heartbeat to %s: HTTP %d", where, response.status_code)
                self._on_result("ok")
                return
            reason = f"HTTP {response.status_code}"
        log.warning("heartbeat to %s failed: %s", where, reason)
        self._on_result("failed")

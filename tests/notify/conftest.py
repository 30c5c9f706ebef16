"""Fixtures for the notification tests: fake clocks, TLS material, the channel doubles."""

from __future__ import annotations

import logging
import ssl
from datetime import datetime, timezone

import pytest
import trustme

from tests.notify.doubles.dingtalk import DingTalkDouble, Robot
from tests.notify.doubles.wecom import WeComDouble

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01"
TOKEN = "d1e2a3d4b5e6e7f8" * 4
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0123456789ab"
KEYWORD = "DS告警"


class FakeClock:
    """A settable epoch clock for the doubles and the DingTalk signer."""

    def __init__(self, moment: datetime = T0):
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _restore_root_log_handlers():
    """CLI runs in-process (the e2e tests) install a console handler on pytest's capture stream, which
    is closed after the test; left in place, it breaks logging in every later test."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def tls() -> dict[str, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return {"server": server, "client": client}


@pytest.fixture
def dingtalk_double(clock):
    double = DingTalkDouble([Robot(TOKEN, secret=SECRET, keywords=(KEYWORD,))], clock=clock)
    yield double
    double.close()


@pytest.fixture
def wecom_double(clock):
    double = WeComDouble([WECOM_KEY], clock=clock)
    yield double
    double.close()

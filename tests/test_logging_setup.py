"""Secrets never reach a log line, whatever logger or exception carries them."""

from __future__ import annotations

import io
import logging

import pytest

from ds_monitor.logging_setup import setup_logging
from ds_monitor.redaction import redact


@pytest.fixture(autouse=True)
def restore_root_handlers():
    before = list(logging.getLogger().handlers)
    yield
    for handler in list(logging.getLogger().handlers):
        if handler not in before:
            logging.getLogger().removeHandler(handler)
            handler.close()


@pytest.mark.parametrize(
    "text, leaked",
    [
        ("POST /robot/send?access_token=abc123def&timestamp=1&sign=xyz%3D HTTP/1.1", ["abc123def", "xyz%3D"]),
        ("url /cgi-bin/webhook/send?key=693a91f6-7777", ["693a91f6-7777"]),
        ("headers {'token': 'my-ds-token'}", ["my-ds-token"]),
        # a sender's error text: the signature's timestamp would make it replayable
        ("POST /send?timestamp=1700000061000&sign=c2lnbg%3D%3D", ["1700000061000", "c2lnbg%3D%3D"]),
        ("GET https://user:pa55word@proxy.example/x", ["pa55word"]),
    ],
    ids=["dingtalk-query", "wecom-key", "token-header", "signed-timestamp", "userinfo"],
)
def test_redact_patterns(text, leaked):
    out = redact(text)
    for secret in leaked:
        assert secret not in out
    assert "***" in out


def test_known_secrets_are_masked_in_messages_and_tracebacks(tmp_path):
    stream = io.StringIO()
    log_file = tmp_path / "monitor.log"
    setup_logging("DEBUG", file=str(log_file), secrets=["s3cr3t-token"], stream=stream)
    log = logging.getLogger("ds_monitor.test")
    log.info("calling DS with %s", "s3cr3t-token")
    try:
        raise RuntimeError("boom s3cr3t-token")
    except RuntimeError:
        log.exception("failed")
    logging.getLogger("urllib3.connectionpool").debug("GET /?key=leak-me")
    for handler in logging.getLogger().handlers:
        handler.flush()
    for text in (stream.getvalue(), log_file.read_text()):
        assert "s3cr3t-token" not in text
        assert "leak-me" not in text
        assert "calling DS with ***" in text
        assert "RuntimeError: boom ***" in text


@pytest.mark.parametrize("backup_count", [0, 2])
def test_the_log_file_stays_bounded_whatever_backup_count(tmp_path, backup_count):
    log_file = tmp_path / "monitor.log"
    setup_logging("INFO", file=str(log_file), max_size_mb=2 / 1024, backup_count=backup_count)  # 2 KB
    logger = logging.getLogger("ds_monitor.test")
    for n in range(400):
        logger.info("line %03d %s", n, "x" * 80)
    assert log_file.stat().st_size <= 2048
    assert "line 399" in log_file.read_text(encoding="utf-8")
    assert len(list(tmp_path.glob("monitor.log.*"))) == backup_count

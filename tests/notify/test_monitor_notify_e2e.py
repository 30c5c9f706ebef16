"""Monitor + real senders + channel doubles: grouping per sweep, the rate limit across sweeps, and
`status --json` agreeing with what the channels really received (spec sections 3.7, 7, 8)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ds_monitor.config import DingTalkConfig, EmailConfig, NotificationConfig, WeComConfig
from ds_monitor.ds.models import FAILURE
from ds_monitor.notify.manager import build_senders
from tests.notify.conftest import KEYWORD, SECRET, WECOM_KEY
from tests.notify.conftest import TOKEN as ROBOT_TOKEN
from tests.notify.doubles.dingtalk import DingTalkDouble, Robot
from tests.notify.doubles.smtp import SmtpDouble
from tests.notify.doubles.wecom import WeComDouble
from tests.sweep.e2e import NOW, TOKEN, make_config, make_monitor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def channels():
    dingtalk = DingTalkDouble([Robot(ROBOT_TOKEN, secret=SECRET, keywords=(KEYWORD,))])
    wecom = WeComDouble([WECOM_KEY])
    smtp = SmtpDouble(mode="plain").start()
    yield dingtalk, wecom, smtp
    dingtalk.close()
    wecom.close()
    smtp.stop()


def notification_config(dingtalk, wecom, smtp) -> NotificationConfig:
    return NotificationConfig(
        dingtalk=DingTalkConfig(
            enabled=True, webhook_url=dingtalk.webhook(ROBOT_TOKEN), secret=SECRET, keyword=KEYWORD
        ),
        wework=WeComConfig(enabled=True, webhook_url=wecom.webhook(WECOM_KEY)),
        email=EmailConfig(
            enabled=True,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            use_ssl=False,
            starttls=False,
            from_addr="ds-monitor@example.com",
            to_addrs=("oncall@example.com",),
        ),
    )


def test_thirty_failures_one_message_per_channel_then_rate_limited_and_status_agrees(
    make_ds_sim, tmp_path, channels, run_cli
):
    dingtalk, wecom, smtp = channels
    sim = make_ds_sim(version="3.2", token=TOKEN, clock=lambda: NOW)
    project = sim.add_project("data-platform")
    definitions = [sim.add_definition(project, f"etl_{n}") for n in range(3)]
    for n in range(30):
        start = NOW - timedelta(minutes=20 + n)
        sim.add_instance(definitions[n % 3], state=FAILURE, start_time=start, end_time=start + timedelta(minutes=1))
    # Look every sweep (manual-only definitions are otherwise looked at every max_unchecked_minutes).
    config = replace(
        make_config(sim, tmp_path, monitor={"max_unchecked_minutes": 0}),
        notification=notification_config(dingtalk, wecom, smtp),
    )
    monitor = make_monitor(config, senders=build_senders(config.notification))

    first = monitor.sweep(NOW)
    assert first.ok, first.error
    assert len(first.failed_instances) == 30
    assert len(first.threshold_exceeded) == 3
    assert (len(dingtalk.accepted), len(wecom.accepted), len(smtp.received)) == (1, 1, 1)
    assert {r.result for r in first.notifications if r.channel != "wework"} == {"sent"}
    # WeCom markdown holds a few items (4096 bytes): the rest stay owed for the next messages.
    cut = [r for r in first.notifications if r.channel == "wework" and r.result != "sent"]
    assert cut and {r.result for r in cut} == {"failed"}
    assert KEYWORD in dingtalk.accepted[0]["markdown"]["text"]

    # Ten more sweeps, each with a new failure of every definition: six messages per definition a day.
    for sweep in range(1, 11):
        now = NOW + timedelta(minutes=5 * sweep)
        for code in definitions:
            sim.add_instance(code, state=FAILURE, start_time=now - timedelta(minutes=1), end_time=now)
        report = monitor.sweep(now)
        assert report.ok, report.error
    assert (len(dingtalk.accepted), len(smtp.received)) == (6, 6)
    assert all("etl_" in message["markdown"]["text"] for message in dingtalk.accepted)
    # Nothing WeCom had to leave out is lost: every announced failure reached it in some message.
    told = "".join(message["markdown"]["content"] for message in wecom.accepted)
    emailed = "".join(m.message.get_body(("plain",)).get_content() for m in smtp.received)
    announced = {n for n in re.findall(r"Instance: (\d+)", emailed)}
    assert announced and announced <= set(re.findall(r"Instance: (\d+)", told))

    # status in-process on the sweeps' clock: a subprocess would read the real clock, and the
    # rate window (24 h from NOW) would be empty on any other day.
    result = run_cli("status", "--json", env={"DS_STATE_DIR": str(tmp_path)}, clock=lambda: now)
    assert result.exit_code == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)["rate_limit"]}
    assert set(rows) == {f"def:{code}" for code in definitions}
    assert [rows[f"def:{code}"]["sent_in_window"] for code in definitions] == [6, 6, 6]
    assert all(rows[f"def:{code}"]["suppressed"] > 0 for code in definitions)
    for secret in (SECRET, ROBOT_TOKEN, WECOM_KEY):
        assert secret not in result.stdout

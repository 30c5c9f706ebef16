"""Notification layer figures: rendering cost and size, dedup cost, and dispatch wall time.

Prints, without asserting anything:
- build + render time and encoded size per channel for digests of 10, 100 and 1000 events with
  long Chinese names (the worst case for byte budgets), and how many items truncation left out;
- ``admit`` time for a sweep of 500 events against a memory of 20,000 announcements;
- ``dispatch`` wall time against the test doubles on 127.0.0.1 (DingTalk, WeCom, SMTP with
  STARTTLS): all healthy, then with WeCom hanging past a 1 s read timeout, which shows that the slow
  channel costs its own timeout and nothing more.

    python bench/notify_bench.py
"""

from __future__ import annotations

import ssl
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import trustme  # noqa: E402
from tests.notify.doubles.dingtalk import DingTalkDouble, Robot  # noqa: E402
from tests.notify.doubles.smtp import SmtpDouble  # noqa: E402
from tests.notify.doubles.wecom import WeComDouble  # noqa: E402

from ds_monitor.config import (  # noqa: E402
    DingTalkConfig,
    EmailConfig,
    NotificationConfig,
    RateLimitConfig,
    WeComConfig,
)
from ds_monitor.notify.builder import ChatMentions, build_digest, render_dingtalk, render_email, render_wecom  # noqa: E402
from ds_monitor.notify.dingtalk import DingTalkSender  # noqa: E402
from ds_monitor.notify.events import Event  # noqa: E402
from ds_monitor.notify.mail import EmailSender  # noqa: E402
from ds_monitor.notify.manager import NotificationManager  # noqa: E402
from ds_monitor.notify.ratelimit import admit  # noqa: E402
from ds_monitor.notify.wecom import WeComSender  # noqa: E402

NOW = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)
SECRET = "SEC" + "0" * 64


def events(n: int, start: int = 0) -> list[Event]:
    return [
        Event("failure_detected", project_code=1, project_name="数据平台", definition_code=i % 50,
              definition_name="每日数据同步任务" * 4, instance_id=i, instance_name=f"每日数据同步任务-{i}",
              state="FAILURE", start_time=NOW, end_time=NOW + timedelta(minutes=3),
              ds_error="任务执行失败：连接数据库超时" * 10, ui_url=f"http://ds.example/ui/{i}")
        for i in range(start, start + n)
    ]


def timed(func, repeat: int = 5) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000, result


def rendering() -> None:
    print("render (median of 5)             events    ms     bytes  omitted")
    mentions = ChatMentions(mobiles=("13800000000",))
    for n in (10, 100, 1000):
        batch = events(n)
        renderers = {
            "dingtalk markdown": lambda b=batch: render_dingtalk(
                build_digest(b, {}, NOW), keyword="告警", mentions=mentions
            ),
            "wecom markdown": lambda b=batch: render_wecom(build_digest(b, {}, NOW)),
            "email text+html": lambda b=batch: render_email(build_digest(b, {}, NOW)),
        }
        for name, render in renderers.items():
            ms, out = timed(render)
            size = len(out.body) if hasattr(out, "body") else len((out.text + out.html).encode())
            omitted = getattr(out, "omitted", "-")
            print(f"  {name:<30} {n:>6} {ms:>7.2f} {size:>8} {omitted!s:>8}")


def dedup() -> None:
    config = RateLimitConfig()
    _, state = admit(events(20_000), {}, NOW - timedelta(hours=1), config)
    ms, _ = timed(lambda: admit(events(500, start=19_800), state, NOW, config), repeat=3)
    print(f"admit 500 events against 20,000 announcements: {ms:.1f} ms")


def dispatching() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    ding = DingTalkDouble([Robot("tok", secret=SECRET, keywords=("告警",))])
    wecom = WeComDouble(["key"])
    smtp = SmtpDouble("starttls", server_context=server_ctx).start()
    try:
        ding_cfg = DingTalkConfig(enabled=True, webhook_url=ding.webhook("tok"), secret=SECRET,
                                  keyword="告警")
        wecom_cfg = WeComConfig(enabled=True, webhook_url=wecom.webhook("key"))
        mail_cfg = EmailConfig(enabled=True, smtp_host="127.0.0.1", smtp_port=smtp.port, use_ssl=False,
                               starttls=True, username="monitor", password="s3cret-pass",
                               from_addr="m@example.com", to_addrs=("ops@example.com",))
        config = NotificationConfig(dingtalk=ding_cfg, wework=wecom_cfg, email=mail_cfg)
        senders = [DingTalkSender(ding_cfg), WeComSender(wecom_cfg, timeout=(5, 1.0)),
                   EmailSender(mail_cfg, ssl_context=client_ctx)]
        manager = NotificationManager(config, senders=senders)
        cases = (("all healthy", None, 0), ("WeCom hangs (1 s read timeout)", ("hang",), 100))
        for label, fault, start in cases:
            wecom.fault = fault
            started = time.perf_counter()
            results, _ = manager.dispatch(events(20, start=start), {}, NOW)
            elapsed = time.perf_counter() - started
            outcome = sorted({(r.channel, r.result) for r in results})
            print(f"dispatch 20 events, {label}: {elapsed * 1000:.0f} ms  {outcome}")
    finally:
        ding.close()
        wecom.close()
        smtp.stop()


if __name__ == "__main__":
    rendering()
    dedup()
    dispatching()

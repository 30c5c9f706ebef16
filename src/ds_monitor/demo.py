"""``python main.py demo``: the real monitor against the embedded DS simulator, on a fast clock.

A newcomer sees detection, safe recovery, the guards and the grouped notifications without a
cluster, a token or a network: the simulator serves a small, realistic estate on 127.0.0.1, the
monitor sweeps it every five simulated minutes, and each notification channel prints what it
would have received. ``--serve-only`` serves the same estate for ``run``, ``curl`` or another client.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from ds_monitor.app import build_monitor
from ds_monitor.clock import utc_now
from ds_monitor.config import (
    Config,
    DolphinSchedulerConfig,
    MonitorConfig,
    NotificationConfig,
    RetryConfig,
)
from ds_monitor.ds.models import COMMAND_COMPLEMENT_DATA, FAILURE, RUNNING_EXECUTION, SUCCESS
from ds_monitor.notify.builder import Digest, render_dingtalk, render_email, render_wecom
from ds_monitor.recovery.policy import parse_recovery
from ds_monitor.simulator import DSSimulator, RecordedCall
from ds_monitor.sweep import render
from ds_monitor.sweep.report import SweepReport

DEMO_TOKEN = "demo-token"
SWEEP_EVERY = timedelta(minutes=5)
# The README's recommendation: recover what a retry can fix, withhold what it cannot.
DEMO_RECOVERY = {"policy": {"default": {"recover": "transient"}}}
# Worker logs of the demo's failed tasks (what DS's /log/detail serves).
LOG_CONNECTION_RESET = """\
[INFO] 2026-11-23 02:00:03.120 +0800 - datax job starting: mysql -> hive (orders)
[INFO] 2026-11-23 02:06:58.412 +0800 - Total 1048576 records, 95 MB | Speed 230KB/s
ERROR RetryUtil - Exception when calling callable, attempt 3 of 3
com.mysql.jdbc.exceptions.jdbc4.CommunicationsException: Communications link failure
Caused by: java.net.SocketException: Connection reset by peer
[ERROR] 2026-11-23 02:07:01.003 +0800 - process has failure, exitStatusCode:1"""
LOG_SQL_SYNTAX = """\
[INFO] 2026-11-23 09:00:01.871 +0800 - SQL task: datasource mysql-dw, type NON_QUERY
[INFO] 2026-11-23 09:00:01.902 +0800 - execute sql: INSERT INTO rpt.orders_daily SELECT day, SUM(amount) FORM dw.orders
ERROR 1064 (42000): You have an error in your SQL syntax; check the manual near 'FORM dw.orders' at line 1
[ERROR] 2026-11-23 09:00:01.950 +0800 - task execute failed"""
LOG_READ_TIMEOUT = """\
+ python build_features.py --date 2026-11-23
Traceback (most recent call last):
  File "build_features.py", line 41, in <module>
    rows = fetch(api, day)
requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='feature-store', port=443): Read timed out. (read timeout=60)
[ERROR] 2026-11-23 11:30:02.117 +0800 - process has failure, exitStatusCode:1"""


class DemoClock:
    """The simulated "now", shared by the simulator and the monitor; advanced by the demo loop."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class DemoResult:
    """What the demo did: its sweep reports and every call the simulator received."""

    reports: list[SweepReport]
    calls: list[RecordedCall]


@dataclass
class DemoEstate:
    """Instance ids the demo script acts on between sweeps (playing the DS master and the workers)."""

    fails_again_once: set[int] = field(default_factory=set)


def seed_demo_estate(sim: DSSimulator, now: datetime) -> DemoEstate:
    """Three projects with scheduled and manual workflows, a few failures and one systemic failure."""
    estate = DemoEstate()
    hour = timedelta(hours=1)
    shanghai_fire = (now - timedelta(minutes=40)).astimezone(_zone("Asia/Shanghai"))

    data = sim.add_project("data-platform")
    etl = sim.add_definition(data, "daily_etl_job")
    # Fired 40 minutes ago in Shanghai time; its run failed: the monitor recovers it.
    sim.add_schedule(etl, f"0 {shanghai_fire.minute} {shanghai_fire.hour} * * ? *", timezone_id="Asia/Shanghai")
    fire = shanghai_fire.replace(second=0, microsecond=0)
    etl_run = sim.add_instance(
        etl, state=FAILURE, start_time=fire, end_time=fire + timedelta(minutes=7), schedule_time=fire
    )
    # A database connection dropped mid-load: transient, worth a retry.
    sim.add_task(
        etl_run, "load_orders", task_type="DATAX", state=FAILURE, start_time=fire + timedelta(seconds=3),
        end_time=fire + timedelta(minutes=7), retry_times=1, max_retry_times=1, log=LOG_CONNECTION_RESET,
    )  # fmt: skip
    report = sim.add_definition(data, "orders_report")
    # A SQL syntax error: deterministic, a retry would fail the same way, so the policy withholds it.
    report_start = now - timedelta(minutes=50)
    report_run = sim.add_instance(
        report, state=FAILURE, start_time=report_start, end_time=report_start + timedelta(seconds=2),
        command_type="START_PROCESS",
    )  # fmt: skip
    sim.add_task(
        report_run, "aggregate", task_type="SQL", state=FAILURE, start_time=report_start,
        end_time=report_start + timedelta(seconds=2), log=LOG_SQL_SYNTAX,
    )  # fmt: skip
    sync = sim.add_definition(data, "hourly_sync_task")
    sim.add_schedule(sync, "0 0 * * * ? *", timezone_id="UTC")
    top = now.replace(minute=0, second=0, microsecond=0)
    for back in range(1, 4):
        sim.add_instance(
            sync,
            state=SUCCESS,
            start_time=top - back * hour + timedelta(seconds=2),
            end_time=top - back * hour + timedelta(minutes=3),
            schedule_time=top - back * hour,
        )
    backfill = sim.add_definition(data, "orders_backfill")
    # A backfill failure: reported, never recovered (hundreds of these must not become hundreds of reruns).
    sim.add_instance(
        backfill,
        state=FAILURE,
        start_time=now - 2 * hour,
        end_time=now - 2 * hour + timedelta(minutes=1),
        command_type=COMMAND_COMPLEMENT_DATA,
    )

    bi = sim.add_project("bi-reports")
    weekly = sim.add_definition(bi, "weekly_report")
    # Three failures in the window: systemic (threshold), so notify only.
    for back in (1, 3, 5):
        start = now - back * hour
        sim.add_instance(
            weekly,
            state=FAILURE,
            start_time=start,
            end_time=start + timedelta(minutes=2),
            command_type="START_PROCESS",
        )
    dashboard = sim.add_definition(bi, "dashboard_refresh")
    # Its scheduled run has hung for six hours, beyond the execution window: a stuck run.
    hung_fire = (now - 6 * hour).replace(second=0, microsecond=0)
    sim.add_schedule(dashboard, f"0 {hung_fire.minute} {hung_fire.hour} * * ? *", timezone_id="UTC")
    sim.add_instance(
        dashboard,
        state=RUNNING_EXECUTION,
        start_time=hung_fire + timedelta(seconds=3),
        schedule_time=hung_fire,
    )

    ml = sim.add_project("ml-pipelines")
    features = sim.add_definition(ml, "feature_build")
    # A manual run that failed; its first recovery fails again, the second one succeeds.
    failed = sim.add_instance(
        features,
        state=FAILURE,
        start_time=now - 30 * timedelta(minutes=1),
        end_time=now - 25 * timedelta(minutes=1),
        command_type="START_PROCESS",
    )
    sim.add_task(
        failed, "build_features", task_type="PYTHON", state=FAILURE, start_time=now - timedelta(minutes=30),
        end_time=now - timedelta(minutes=25), log=LOG_READ_TIMEOUT,
    )  # fmt: skip
    estate.fails_again_once.add(failed)
    train = sim.add_definition(ml, "model_train")
    # Due two minutes into the demo, but DS never starts it (a Quartz misfire): a missed run.
    due = (now + timedelta(minutes=2)).astimezone(_zone("Europe/Berlin"))
    sim.add_schedule(train, f"0 {due.minute} {due.hour} * * ? *", timezone_id="Europe/Berlin")
    return estate


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class ConsoleSender:
    """A notification channel that keeps the rendered message instead of sending it.

    Channels send concurrently, so messages are collected and printed after the sweep, in order.
    """

    limits = None

    def __init__(self, name: str, render: Callable[[Digest], str]):
        self.name = name
        self.destination = f"console:{name}"
        self._render = render
        self.received: list[str] = []

    def send(self, digest: Digest) -> str:
        self.received.append(self._render(digest))
        return "printed"


def console_senders() -> list[ConsoleSender]:
    """DingTalk's message in full; WeCom and e-mail as what differs (size, subject), to keep the demo readable."""

    def dingtalk(digest: Digest) -> str:
        return render_dingtalk(digest, keyword="DS").payload["markdown"]["text"]

    def wecom(digest: Digest) -> str:
        content = render_wecom(digest).payload["markdown"]["content"]
        return f"markdown, {len(content.encode('utf-8'))} bytes (limit 4096): {content.splitlines()[0]}"

    def email(digest: Digest) -> str:
        content = render_email(digest)
        return f"Subject: {content.subject} (text + HTML, {len(content.html)} bytes of HTML)"

    return [
        ConsoleSender("dingtalk", dingtalk),
        ConsoleSender("wework", wecom),
        ConsoleSender("email", email),
    ]


def _print_messages(senders: list[ConsoleSender], out: TextIO) -> None:
    for sender in senders:
        for text in sender.received:
            lines = text.splitlines()
            if len(lines) == 1:
                out.write(f"  {sender.name} would receive: {lines[0]}\n")
                continue
            out.write(f"  ┌─ {sender.name} would receive\n")
            out.writelines(f"  │ {line}\n" for line in lines)
            out.write("  └─\n")
        sender.received.clear()


def demo_config(api_url: str, state_dir: str, version: str) -> Config:
    return Config(
        dolphinscheduler=DolphinSchedulerConfig(
            api_url=api_url, token=DEMO_TOKEN, api_version=version, timeout_seconds=5
        ),
        # A short grace so the demo's few simulated minutes can show a missed run.
        monitor=MonitorConfig(check_interval=int(SWEEP_EVERY.total_seconds()), missed_run_grace_minutes=5),
        retry=RetryConfig(recovery_interval=0),
        state_dir=state_dir,
        notification=NotificationConfig(),
        recovery=parse_recovery(DEMO_RECOVERY),
    )


def run_demo(out: TextIO, *, sweeps: int = 4, version: str = "3.2", start: datetime | None = None) -> DemoResult:
    """Run the scripted demo and print what happened."""
    clock = DemoClock((start or utc_now()).replace(microsecond=0))
    reports = []
    with (
        tempfile.TemporaryDirectory(prefix="ds-monitor-demo-") as state_dir,
        DSSimulator(version=version, token=DEMO_TOKEN, clock=clock) as sim,
    ):
        estate = seed_demo_estate(sim, clock.now)
        config = demo_config(sim.url, state_dir, "auto")
        senders = console_senders()
        monitor = build_monitor(config, clock=lambda: clock.now, senders=senders)
        out.write(
            f"DS simulator (DS {version}) on {sim.url}: 3 projects, 8 workflows; "
            f"the monitor sweeps every {SWEEP_EVERY.seconds // 60} simulated minutes.\n"
        )
        _add_demo_silence(state_dir, clock.now, out)
        try:
            for number in range(1, sweeps + 1):
                out.write(f"\n=== sweep {number} at {clock.now.isoformat()} ===\n")
                report = monitor.sweep(clock.now)
                reports.append(report)
                out.write(render.brief(report))
                _print_messages(senders, out)
                _play_ds(sim, report, estate)
                clock.now += SWEEP_EVERY
            _print_explain(config, sim, state_dir, clock.now, out)
        finally:
            monitor.close()
        calls = sim.calls
    out.write(
        "\nDone. Point the monitor at your own DS: cp .env.example .env, set DS_API_URL and DS_TOKEN, "
        "then python main.py check --dry-run\n"
    )
    return DemoResult(reports, calls)


# The demo's silence: the systemic weekly_report is known broken for the first two sweeps.
DEMO_SILENCE = timedelta(minutes=10)
EXPLAINED = "data-platform/daily_etl_job"


def _add_demo_silence(state_dir: str, now: datetime, out: TextIO) -> None:
    """What `silence add` does, written into the demo's state directory."""
    from ds_monitor import silences
    from ds_monitor.state import SILENCES
    from ds_monitor.state.files import StateStore

    silence = silences.new_silence(
        silence_id="demo0001",
        now=now,
        until=now + DEMO_SILENCE,
        reason="source table being rebuilt, owner informed",
        projects=("bi-reports",),
        workflow="weekly_report",
    )
    store = StateStore(state_dir, clock=lambda: now)
    with store.locked():
        store.save(SILENCES, silences.add(store.load(SILENCES), silence, now))
    out.write(
        f"$ python main.py silence add --project bi-reports --workflow weekly_report --for 10m "
        f'--reason "{silence.reason}"\n{silence.id}\n'
    )


def _print_explain(config: Config, sim: DSSimulator, state_dir: str, now: datetime, out: TextIO) -> None:
    """What `explain` prints for the recovered workflow at the end of the demo."""
    from ds_monitor import explain
    from ds_monitor.ds.client import DSClient
    from ds_monitor.state.files import StateStore

    with DSClient(config.dolphinscheduler) as client:
        explanations = explain.explain_target(
            client, config, StateStore(state_dir, clock=lambda: now).snapshot(), EXPLAINED, now
        )
    out.write(f"\n$ python main.py explain {EXPLAINED}\n{explain.render(explanations)}\n")


def _play_ds(sim: DSSimulator, report: SweepReport, estate: DemoEstate) -> None:
    """Between sweeps, the DS master takes the recover commands and the reruns end."""
    sim.master_pickup()
    for row in report.recoveries:
        if row.result != "triggered":
            continue
        instance_id = row.instance_id
        if instance_id in estate.fails_again_once:
            estate.fails_again_once.discard(instance_id)
            sim.finish_instance(instance_id, FAILURE, task_log=LOG_READ_TIMEOUT)
        else:
            sim.finish_instance(instance_id, SUCCESS)


def serve_only(out: TextIO, *, host: str, port: int, version: str, stop: threading.Event) -> None:
    """Serve the demo estate until ``stop`` is set; prints the URL and token to use."""
    with DSSimulator(version=version, token=DEMO_TOKEN, host=host, port=port) as sim:
        sim.auto_master = True
        seed_demo_estate(sim, utc_now())
        out.write(
            f"DS {version} simulator serving the demo estate\n  DS_API_URL={sim.url}\n  DS_TOKEN={DEMO_TOKEN}\n"
            "Try: DS_API_URL=... DS_TOKEN=... python main.py check --dry-run   (Ctrl-C to stop)\n"
        )
        out.flush()
        stop.wait()

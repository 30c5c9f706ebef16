"""The fault-injection study of issue 16: a real ``run`` process killed at random, and what each
channel received in the end (used by the suite's short kill test and by ``bench/kill_study.py``).

The estate covers every announcement kind of a recovery's life: two failures that recover, two
that fail again until recovery is exhausted (``max_recovery_attempts`` 2), and a stuck run. (Its
scheduled job also has a fire from before the monitor started with no instance: a missed run once
the tracker reports those; it is not required here.) DS is the simulator with a master that takes
commands at once; a driver thread ends every recovered run (SUCCESS or FAILURE by instance). The
channels are the generic webhook receiver (its documents carry each event's announcement key, so
a loss or a repeat is exact) and SMTP. After the kills one clean ``run`` is left until everything
is announced and every outbox is empty, then stopped with SIGTERM.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ds_monitor.ds.models import FAILURE, RUNNING_EXECUTION
from tests.notify.doubles.generic import GenericReceiverDouble
from tests.notify.doubles.smtp import SmtpDouble

ROOT = Path(__file__).resolve().parents[2]
EXECUTE = "executors/execute"
MAX_ATTEMPTS = 2
WAITING_AFTER_SECONDS = 5
# What the estate must end up announcing: kind -> how many announcements of it.
EXPECTED_KINDS = Counter(
    {
        "failure_detected": 4,
        "recovery_triggered": 6,  # attempt 1 of all four, attempt 2 of the two that fail again
        "recovery_succeeded": 2,
        "recovery_failed": 2,
        "recovery_exhausted": 2,
        "stuck_running": 1,
    }
)


@dataclass
class StudyResult:
    kills: int
    announced: set[str]
    # Per message received, the keys of its items: the announcement key on the webhook,
    # (heading, instance, attempt, fire) in an e-mail.
    webhook_messages: list[list] = field(default_factory=list)
    email_messages: list[list] = field(default_factory=list)
    executes: Counter = field(default_factory=Counter)  # instance id -> recover calls
    # Instances whose recovery waits for a person: a kill between the journaled intent and the call,
    # on a DS that cannot show whether the call arrived (3.2), ends in recovery_not_started.
    waiting: list[str] = field(default_factory=list)
    settled: bool = False

    @property
    def lost_webhook(self) -> set[str]:
        return self.announced - {key for message in self.webhook_messages for key in message}

    @property
    def repeats_webhook(self) -> int:
        return repeating(self.webhook_messages)

    @property
    def lost_email(self) -> int:
        return max(len(self.announced) - len({key for message in self.email_messages for key in message}), 0)

    @property
    def repeats_email(self) -> int:
        return repeating(self.email_messages)

    @property
    def double_recoveries(self) -> dict[str, int]:
        return {k: n for k, n in self.executes.items() if n > MAX_ATTEMPTS}

    def announced_kinds(self) -> Counter:
        return Counter(key.split("|")[1].split("#")[0] for key in self.announced)

    def summary(self) -> str:
        return (
            f"kills={self.kills} settled={self.settled} announced={len(self.announced)} "
            f"webhook: lost={len(self.lost_webhook)} repeats={self.repeats_webhook} | "
            f"email: lost={self.lost_email} repeats={self.repeats_email} | "
            f"recover calls={sum(self.executes.values())} double recoveries={len(self.double_recoveries)} "
            f"waiting for a person={len(self.waiting)}"
        )


class StudyClock:
    """DS's clock: the real one, or set back while the schedule is created (a schedule cannot miss a
    fire from before its own creation, spec section 4)."""

    def __init__(self):
        self.behind = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) - self.behind


def seed(sim, clock: StudyClock, now: datetime) -> tuple[list[int], list[int]]:
    """The estate; returns (instances that recover, instances that fail again)."""
    project = sim.add_project("kill-study")
    good, bad = [], []
    for n in range(4):
        definition = sim.add_definition(project, f"etl_{n}")
        start = now - timedelta(minutes=20 + n)
        instance = sim.add_instance(
            definition, state=FAILURE, start_time=start, end_time=start + timedelta(minutes=1),
            command_type="START_PROCESS",
        )
        (good if n % 2 == 0 else bad).append(instance)
    # A daily job whose fire two hours ago never ran, and whose manual run of five hours ago hangs.
    daily = sim.add_definition(project, "daily_report")
    fire = (now - timedelta(hours=2)).astimezone(timezone.utc)
    clock.behind = timedelta(days=3)
    sim.add_schedule(
        daily, f"0 {fire.minute} {fire.hour} * * ? *", timezone_id="UTC", start_time=now - timedelta(days=3)
    )
    clock.behind = timedelta()
    sim.add_instance(daily, state=RUNNING_EXECUTION, start_time=now - timedelta(hours=5), command_type="START_PROCESS")
    return good, bad


def write_config(work: Path, sim, webhook: GenericReceiverDouble, smtp: SmtpDouble) -> None:
    (work / "config").mkdir(parents=True, exist_ok=True)
    config = {
        "dolphinscheduler": {"api_url": sim.url, "token": sim.token, "timeout_seconds": 5},
        "monitor": {"check_interval": 1, "max_unchecked_minutes": 0, "max_failures_for_recovery": 5},
        "retry": {"max_recovery_attempts": MAX_ATTEMPTS, "recovery_interval": 0},
        "state_dir": str(work / "state"),
        "logging": {"file": str(work / "monitor.log")},
        "notification": {
            "rate_limit": {"max_per_window": 1000, "window_hours": 24},
            "webhook": {"enabled": True, "url": webhook.url},
            "email": {
                "enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "use_ssl": False,
                "starttls": False, "from_addr": "ds-monitor@example.com", "to_addrs": ["oncall@example.com"],
                "timeout_seconds": 5,
            },
        },
    }
    (work / "config" / "config.yaml").write_text(json.dumps(config))  # JSON is YAML


def start_run(work: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "run"], cwd=work, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def drive(sim, good: list[int], bad: list[int], stop: threading.Event) -> None:
    """Play the workers: end every recovered run a moment after it started."""
    while not stop.wait(0.1):
        for instance in good + bad:
            if sim.get_instance(instance)["state"] == RUNNING_EXECUTION:
                sim.finish_instance(instance, "SUCCESS" if instance in good else "FAILURE")


def state_of(work: Path) -> dict:
    try:
        return json.loads((work / "state" / "notification_rate_limit.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def journal_of(work: Path) -> dict:
    try:
        return json.loads((work / "state" / "recovery_state.json").read_text()).get("instances", {})
    except (FileNotFoundError, ValueError):
        return {}


def waiting(work: Path, now: datetime) -> list[str]:
    """Recoveries still awaiting a pickup seconds after the call, with a master that takes commands at once."""
    return [
        key
        for key, record in journal_of(work).items()
        if record.get("status") in ("unknown", "pending")
        and now - datetime.fromisoformat(record["last_at"]) > timedelta(seconds=WAITING_AFTER_SECONDS)
    ]


def settled(work: Path) -> bool:
    """Every recovery ended (or waits for a person), everything announced, every outbox empty."""
    state = state_of(work)
    kinds = Counter(key.split("|")[1].split("#")[0] for key in state.get("announced", {}))
    owed = any(box.get("items") for box in state.get("outbox", {}).values())
    if owed or kinds["failure_detected"] < 4 or kinds["stuck_running"] < 1:
        return False
    ended = {key for key, r in journal_of(work).items() if r.get("status") in ("succeeded", "exhausted")}
    return len(ended) + len(waiting(work, datetime.now(timezone.utc))) == 4


def repeating(messages: list[list]) -> int:
    """How many messages repeat an item of an earlier one. A kill inside a send repeats that one
    message, with all the items it grouped: so at most one repeat per kill and channel."""
    seen: set = set()
    repeats = 0
    for message in messages:
        repeats += any(key in seen for key in message)
        seen.update(message)
    return repeats


def email_items(smtp: SmtpDouble) -> list[list]:
    """Per e-mail, one key per item: heading, instance, attempt and fire time identify it."""
    messages = []
    for received in smtp.received:
        text = received.message.get_body(("plain",)).get_content()
        items = []
        for block in re.split(r"\n(?=\d+\. )", text)[1:]:
            lines = block.splitlines()
            heading = lines[0].split(". ", 1)[1]
            facts = dict(line.strip().split(": ", 1) for line in lines[1:] if ": " in line and line.startswith("   "))
            items.append((heading, facts.get("Instance"), facts.get("Attempt"), facts.get("Scheduled for")))
        messages.append(items)
    return messages


def run_study(
    make_sim,
    work: Path,
    *,
    version: str,
    kills: int,
    seed_value: int,
    pause: tuple[float, float],
    settle_for: float,
    latency: float = 0.0,
) -> StudyResult:
    """Kill ``run`` ``kills`` times, each after a random ``pause`` (seconds from its start, start-up
    included), then leave one run for at most ``settle_for`` seconds; what came out.

    ``make_sim(version, token=..., clock=...)`` returns a started DS simulator (the suite's
    ``make_ds_sim`` fixture, which also stops it). ``latency`` (seconds per DS request) widens the
    windows between a sweep's steps, so more kills land inside one."""
    clock = StudyClock()
    sim = make_sim(version, token="kill-study-token", clock=clock)
    sim.auto_master = True
    sim.latency = latency
    good, bad = seed(sim, clock, datetime.now(timezone.utc))
    webhook, smtp = GenericReceiverDouble(per_minute=10_000), SmtpDouble(mode="plain").start()
    stop = threading.Event()
    driver = threading.Thread(target=drive, args=(sim, good, bad, stop), daemon=True)
    driver.start()
    try:
        write_config(work, sim, webhook, smtp)
        rng = random.Random(seed_value)
        for _ in range(kills):
            proc = start_run(work)
            time.sleep(rng.uniform(*pause))
            proc.kill()
            proc.wait(10)
        proc = start_run(work)
        deadline = time.monotonic() + settle_for
        while time.monotonic() < deadline and not settled(work):
            time.sleep(0.2)
        done = settled(work)
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        result = StudyResult(
            kills=kills,
            announced=set(state_of(work).get("announced", {})),
            waiting=waiting(work, datetime.now(timezone.utc)),
            settled=done,
        )
        result.webhook_messages = [
            [event["announcement_key"] for event in document["events"]] for document in webhook.accepted
        ]
        result.email_messages = email_items(smtp)
        # The instance parameter is processInstanceId up to 3.2, workflowInstanceId on 3.3.
        result.executes = Counter(
            c.params.get("processInstanceId") or c.params.get("workflowInstanceId")
            for c in sim.calls
            if c.method == "POST" and EXECUTE in c.path
        )
        return result
    finally:
        stop.set()
        driver.join(5)
        webhook.close()
        smtp.stop()

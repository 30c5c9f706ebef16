"""Why each failure failed: its failed tasks, log excerpts and failure class (spec section 9); the diagnose step."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from datetime import datetime, timedelta

from ds_monitor.classify import SHIPPED_PATTERNS
from ds_monitor.config import Config
from ds_monitor.ds.models import FAILURE, Instance
from ds_monitor.ds.protocol import DSApi
from ds_monitor.recovery.policy import TRANSIENT_ONLY, Rule
from ds_monitor.sweep.report import SweepReport
from ds_monitor.tasks import MEMORY_KEY, ExcerptLimits, FailureMemory, TaskReader


def diagnose(
    client: DSApi,
    pool: Executor,
    config: Config,
    failed: Iterable[Instance],
    rules: dict[int, Rule],
    recovery_state: dict,
    *,
    announcing: bool,
    secrets: Iterable[str],
    now: datetime,
    keep_going: Callable[[], bool],
    report: SweepReport,
) -> FailureMemory:
    """Read the failed tasks of each failure attempt not diagnosed yet, once.

    Only when the failure will be announced (``announcing``: a channel is enabled) or its recovery
    depends on the failure class (``recover: transient``); the result is kept in the recovery state.
    """
    memory = FailureMemory.load(recovery_state)
    wanted = [
        inst
        for inst in failed
        if memory.get(inst) is None
        and (
            announcing
            or (inst.state == FAILURE and rules.get(inst.definition_code, Rule()).recover == TRANSIENT_ONLY)
        )
    ]
    task_log = config.notification.task_log
    reader = TaskReader(
        client,
        limits=ExcerptLimits(task_log.enabled, task_log.max_lines, task_log.max_bytes),
        patterns=config.recovery.classify + SHIPPED_PATTERNS,
        secrets=secrets,
    )
    for diagnosis in reader.read_all(wanted, executor=pool, keep_going=keep_going):
        memory.put(diagnosis, now)
    report.api["task_calls"] = reader.calls
    recovery_state[MEMORY_KEY] = memory.dump(now, timedelta(hours=config.monitor.time_window_hours))
    return memory

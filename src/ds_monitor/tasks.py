"""Why an instance failed: its failed tasks and a short excerpt of each one's log (spec section 9).

For every failed instance attempt worth announcing, the monitor reads the instance's task list
(ds-api.md 4.6) and, for each failed task, its worker log (4.8), once: the result is kept in the
recovery state under ``failures`` (keyed by instance id and ``runTimes``), so later sweeps, the
recovery policy and ``status`` reuse it without asking DS again. A read that fails (10008 unknown
task, 10191 no worker yet, a timeout) degrades to "log unavailable: <reason>" and never fails the
sweep. :func:`excerpt` and :func:`diagnose` are pure; :class:`TaskReader` talks to DS.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

from ds_monitor.classify import Pattern, Verdict, classify_instance, classify_task
from ds_monitor.ds.models import Instance, TaskInstance
from ds_monitor.errors import DSAuthError, DSError
from ds_monitor.redaction import redact
from ds_monitor.timestamps import read_stamp

log = logging.getLogger("ds_monitor.tasks")

# A line that looks like the reason of a failure (the excerpt centres on the first one).
ERROR_LINE = re.compile(
    r"(?i)\[ERROR\]|\bERROR\b|\bFATAL\b|\w*(Exception|Error)\b|Traceback \(most recent call last\)|\bCaused by\b"
    r"|\bfailed\b|\bKilled\b|exit(ed)?\s*(status\s*)?(code|value|status)\s*[:=]?\s*[1-9]"
)
# Lines shown before the first error-looking line: the command or statement that led to it.
CONTEXT_BEFORE = 3
# The worker log is read in pages of this many lines, at most LOG_MAX_PAGES pages per task.
LOG_PAGE_LINES = 1000
LOG_MAX_PAGES = 5
# Memory entries outlive the failure window by this much, like the recovery journal's.
RETENTION_PAST_WINDOW = timedelta(days=7)
MEMORY_KEY = "failures"
# The longest evidence line kept in the state (messages of the sweep that read it show it whole).
MAX_KEPT_LINE_CHARS = 300


@dataclass(frozen=True)
class ExcerptLimits:
    """``notification.task_log``: off switch and the size of one task's excerpt."""

    enabled: bool = True
    max_lines: int = 20
    max_bytes: int = 2048


@dataclass(frozen=True)
class FailedTask:
    """One failed task as messages, the report and ``status`` show it (secrets already masked)."""

    task_id: int
    name: str
    type: str
    state: str
    host: str
    retries: int
    max_retries: int
    duration_seconds: int | None
    log_excerpt: str
    klass: str
    line: str = ""
    ui_url: str = ""

    def message_fields(self) -> dict:
        """What a message shows of this task (:attr:`ds_monitor.notify.Event.failed_tasks`)."""
        return {
            "name": self.name,
            "type": self.type,
            "host": self.host,
            "retries": self.retries,
            "max_retries": self.max_retries,
            "duration_seconds": self.duration_seconds,
            "log_excerpt": self.log_excerpt,
            "ui_url": self.ui_url,
        }


@dataclass(frozen=True)
class Diagnosis:
    """What failed in one instance attempt, and its failure class with the evidence."""

    instance_id: int
    run_times: int
    klass: str
    line: str = ""
    reason: str = ""
    tasks: tuple[FailedTask, ...] = ()
    note: str = ""  # why the picture is incomplete ("task list unavailable: ..."), if it is

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Diagnosis:
        tasks = tuple(FailedTask(**task) for task in data.get("tasks", ()))
        return cls(**{**data, "tasks": tasks})


# -- pure ------------------------------------------------------------------------------------------


def excerpt(lines: Sequence[str], limits: ExcerptLimits, secrets: Iterable[str] = ()) -> str:
    """The lines around the first error-looking line (else the last lines), masked and bounded.

    At most ``max_lines`` lines and ``max_bytes`` UTF-8 bytes: whole lines are dropped from the end
    first; a single line longer than the budget is cut on a character boundary and ends in "…".
    """
    masked = [redact(line.rstrip(), secrets) for line in lines]
    first_error = next((i for i, line in enumerate(masked) if ERROR_LINE.search(line)), None)
    if first_error is None:
        chosen = masked[-limits.max_lines :] if limits.max_lines else []
    else:
        start = max(0, first_error - CONTEXT_BEFORE)
        chosen = masked[start : start + limits.max_lines]
    while chosen and len("\n".join(chosen).encode("utf-8")) > limits.max_bytes:
        if len(chosen) == 1:
            return _cut_bytes(chosen[0], limits.max_bytes)
        chosen = chosen[:-1]
    return "\n".join(chosen)


def _cut_bytes(text: str, budget: int) -> str:
    ellipsis = "…"
    room = budget - len(ellipsis.encode("utf-8"))
    if room <= 0:
        return ""
    return text.encode("utf-8")[:room].decode("utf-8", errors="ignore") + ellipsis


def duration_seconds(task: TaskInstance) -> int | None:
    if task.start_time is None or task.end_time is None:
        return None
    return max(0, int((task.end_time - task.start_time).total_seconds()))


def diagnose(
    instance: Instance,
    failed: Sequence[tuple[TaskInstance, Sequence[str] | None, str]],
    *,
    patterns: Sequence[Pattern],
    limits: ExcerptLimits,
    secrets: Iterable[str] = (),
    ui_url: Callable[[TaskInstance], str] = lambda task: "",
) -> Diagnosis:
    """Turn the failed tasks, each with its log lines (None: unreadable, with the reason), into a diagnosis."""
    secrets = list(secrets)
    tasks, verdicts = [], []
    for task, lines, problem in failed:
        if lines is None:
            text = f"log unavailable: {redact(problem, secrets)}"
            verdict = classify_task(task.state, (), patterns)
        else:
            text = excerpt(lines, limits, secrets)
            verdict = classify_task(task.state, text.splitlines(), patterns)
        verdicts.append(verdict)
        tasks.append(
            FailedTask(
                task_id=task.id,
                name=task.name,
                type=task.task_type,
                state=task.state,
                host=task.host,
                retries=task.retries,
                max_retries=task.max_retries,
                duration_seconds=duration_seconds(task),
                log_excerpt=text,
                klass=verdict.klass,
                line=verdict.line,
                ui_url=ui_url(task),
            )
        )
    verdict: Verdict = classify_instance(instance.state, verdicts)
    return Diagnosis(
        instance_id=instance.id,
        run_times=instance.run_times,
        klass=verdict.klass,
        line=verdict.line,
        reason=verdict.reason,
        tasks=tuple(tasks),
    )


def state_only(instance: Instance, note: str) -> Diagnosis:
    """A diagnosis without DS calls (``task_log.enabled: false``): the instance state alone decides."""
    verdict = classify_instance(instance.state, ())
    reason = verdict.reason if verdict.klass != "unknown" else note
    return Diagnosis(instance.id, instance.run_times, verdict.klass, reason=reason, note=note)


# -- memory (a part of the recovery state) -------------------------------------------------------------


@dataclass
class FailureMemory:
    """Diagnoses already made, by instance id: the attempt (``runTimes``) they describe and when.

    What is kept in the state is slim (no log excerpts, the evidence line cut to
    :data:`MAX_KEPT_LINE_CHARS`): the recovery state also lives in one ZooKeeper node, and a few
    hundred failures with 2 KB excerpts each would outgrow it. Excerpts read in this sweep are kept
    in ``fresh`` for this sweep's messages and report.
    """

    entries: dict[str, dict] = field(default_factory=dict)
    fresh: dict[str, Diagnosis] = field(default_factory=dict)

    @classmethod
    def load(cls, recovery_state: dict) -> FailureMemory:
        raw = recovery_state.get(MEMORY_KEY) if isinstance(recovery_state, dict) else None
        entries = {}
        for key, entry in (raw or {}).items() if isinstance(raw, dict) else ():
            try:
                Diagnosis.from_dict(entry["diagnosis"])
                read_stamp(entry["read_at"])
            except (AttributeError, KeyError, TypeError, ValueError):
                log.warning("failed-task memory entry %s ignored: malformed", key)
                continue
            entries[str(key)] = entry
        return cls(entries)

    def get(self, instance: Instance) -> Diagnosis | None:
        """The diagnosis of this very attempt, if one was made (with excerpts if read this sweep)."""
        diagnosis = self.latest(instance.id)
        return diagnosis if diagnosis is not None and diagnosis.run_times == instance.run_times else None

    def latest(self, instance_id: int) -> Diagnosis | None:
        """The newest diagnosis of an instance, whatever attempt it describes."""
        key = str(instance_id)
        if key in self.fresh:
            return self.fresh[key]
        entry = self.entries.get(key)
        return Diagnosis.from_dict(entry["diagnosis"]) if entry else None

    def put(self, diagnosis: Diagnosis, now: datetime) -> None:
        key = str(diagnosis.instance_id)
        self.fresh[key] = diagnosis
        slim = replace(
            diagnosis,
            line=_cut(diagnosis.line),
            reason=_cut(diagnosis.reason),
            tasks=tuple(replace(t, log_excerpt="", line=_cut(t.line)) for t in diagnosis.tasks),
        )
        self.entries[key] = {"diagnosis": slim.to_dict(), "read_at": now.isoformat()}

    def dump(self, now: datetime, window: timedelta) -> dict:
        """The entries younger than the window plus seven days, for the recovery state."""
        cutoff = now - window - RETENTION_PAST_WINDOW
        return {
            key: entry for key, entry in self.entries.items() if read_stamp(entry["read_at"]) >= cutoff
        }


def _cut(text: str) -> str:
    return text if len(text) <= MAX_KEPT_LINE_CHARS else text[: MAX_KEPT_LINE_CHARS - 1] + "…"


def failures_status(recovery_state: dict) -> list[dict]:
    """``status`` rows: per instance, the latest diagnosed attempt, its class and failed tasks."""
    rows = []
    for entry in FailureMemory.load(recovery_state).entries.values():
        diagnosis = Diagnosis.from_dict(entry["diagnosis"])
        evidence = diagnosis.line or diagnosis.reason
        rows.append(
            {
                "instance_id": diagnosis.instance_id,
                "run_times": diagnosis.run_times,
                "class": diagnosis.klass,
                "evidence": evidence if len(evidence) <= 80 else evidence[:79] + "…",
                "failed_tasks": ", ".join(f"{t.name} ({t.type}) on {t.host or '?'}" for t in diagnosis.tasks) or None,
                "read_at": entry["read_at"],
            }
        )
    return sorted(rows, key=lambda row: (row["read_at"], row["instance_id"]), reverse=True)


# -- shell -----------------------------------------------------------------------------------------


class TaskReader:
    """Reads task lists and logs for failed instances, in parallel, counting its DS calls.

    ``client`` needs ``list_task_instances``, ``task_log`` and ``task_ui_url``. An error of one
    instance never touches another: it becomes that diagnosis's ``note``. Only a rejected token
    (which fails the sweep anyway) propagates.
    """

    def __init__(
        self,
        client,
        *,
        limits: ExcerptLimits,
        patterns: Sequence[Pattern],
        secrets: Iterable[str] = (),
    ):
        self.client = client
        self.limits = limits
        self.patterns = tuple(patterns)
        self.secrets = [s for s in secrets if s]
        self.calls = 0
        self._lock = threading.Lock()

    def read_all(
        self,
        instances: Sequence[Instance],
        *,
        executor: Executor | None = None,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> list[Diagnosis]:
        """One diagnosis per instance (in order); with the budget spent, the rest are state-only."""

        def one(instance: Instance) -> Diagnosis:
            if not keep_going():
                return state_only(instance, "failed tasks not read: the sweep time budget is spent")
            return self.read(instance)

        if executor is None or len(instances) <= 1:
            return [one(instance) for instance in instances]
        return list(executor.map(one, instances))

    def read(self, instance: Instance) -> Diagnosis:
        if not self.limits.enabled:
            return state_only(instance, "task logs are off (notification.task_log.enabled: false)")
        try:
            tasks = self._counted(self.client.list_task_instances, instance.project_code, instance.id)
        except DSAuthError:
            raise
        except DSError as err:
            log.warning("task list of instance %s unavailable: %s", instance.id, err)
            return state_only(instance, f"task list unavailable: {redact(str(err), self.secrets)}")
        failed = [task for task in tasks if task.failed]
        read = []
        for task in failed:
            try:
                read.append((task, self._log_lines(task), ""))
            except DSAuthError:
                raise
            except DSError as err:
                log.info("log of task %s (instance %s) unavailable: %s", task.id, instance.id, err)
                read.append((task, None, str(err)))
        return diagnose(
            instance,
            read,
            patterns=self.patterns,
            limits=self.limits,
            secrets=self.secrets,
            ui_url=lambda task: self.client.task_ui_url(instance.project_code, instance.id, task.name),
        )

    def _log_lines(self, task: TaskInstance) -> list[str]:
        lines: list[str] = []
        for page in range(LOG_MAX_PAGES):
            chunk = self._counted(
                self.client.task_log, task.id, skip_lines=page * LOG_PAGE_LINES, limit=LOG_PAGE_LINES
            )
            lines.extend(chunk.lines)
            if len(chunk.lines) < LOG_PAGE_LINES:
                break
        return lines

    def _counted(self, call, *args, **kwargs):
        with self._lock:
            self.calls += 1
        return call(*args, **kwargs)

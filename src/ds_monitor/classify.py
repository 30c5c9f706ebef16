"""Failure classes: can a retry fix this failure? (spec section 9). Pure: no I/O, no clock.

A failed workflow instance is ``transient`` (a retry may well succeed: a lost worker, a refused
connection, a timeout, memory pressure), ``deterministic`` (a retry fails the same way: a syntax
error, a missing table, a missing class) or ``unknown``. The class comes from the instance state
(NEED_FAULT_TOLERANCE: its worker was lost), then the failed tasks' states, then their log
excerpts matched against one table of patterns: the user's ``recovery.classify`` entries first,
then :data:`SHIPPED_PATTERNS`; the first pattern that matches any excerpt line decides.

Within the shipped table the transient patterns come first, so an excerpt that shows both kinds of
sign (a timeout that then surfaced as a NullPointerException, say) is retried: a useless retry
costs one run, a withheld one leaves a recoverable workflow failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ds_monitor.ds.models import KILL, NEED_FAULT_TOLERANCE

TRANSIENT = "transient"
DETERMINISTIC = "deterministic"
UNKNOWN = "unknown"
CLASSES = (TRANSIENT, DETERMINISTIC, UNKNOWN)


@dataclass(frozen=True)
class Pattern:
    """One row of the table: a regular expression (Python ``re``), its class, and why."""

    regex: re.Pattern[str]
    klass: str
    why: str = ""

    @classmethod
    def compile(cls, pattern: str, klass: str, why: str = "") -> Pattern:
        """Raises ValueError naming the problem for a bad expression or class."""
        if klass not in CLASSES:
            raise ValueError(f"class must be one of {', '.join(CLASSES)}, got {klass!r}")
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"not a valid regular expression ({err}): {pattern!r}") from None
        return cls(regex, klass, why)


def _row(pattern: str, klass: str, why: str) -> Pattern:
    return Pattern.compile(pattern, klass, why)


# The shipped table, documented in the README ("Failure classes"). Order matters: first match wins.
SHIPPED_PATTERNS: tuple[Pattern, ...] = (
    # -- transient: the platform, not the job -----------------------------------------------------
    _row(r"(?i)worker .*(lost|crash|offline|disconnect)|fault.?tolerance|failover", TRANSIENT,
         "lost worker / failover"),
    _row(r"(?i)connection (refused|reset|timed out|closed by peer)|ECONNREFUSED|ECONNRESET|broken pipe"
         r"|ConnectException|Communications link failure|CommunicationsException", TRANSIENT,
         "connection refused / reset / dropped"),
    _row(r"(?i)(read|connect|socket|request|session|operation|query|execution)\s+time\s*d?\s*out"
         r"|timed out|SocketTimeoutException|TimeoutException|deadline exceeded", TRANSIENT, "timeouts"),
    _row(r"(?i)OutOfMemoryError|Cannot allocate memory|\bOOM\b|oom.?kill|memory limit"
         r"|beyond physical memory|exit(ed)?\s*(status\s*)?(code|value|status)?\s*[:=]?\s*137\b"
         r"|exitStatusCode\s*:\s*137\b|signal 9\b|SIGKILL|\bKilled\b", TRANSIENT, "out of memory / exit 137 / killed"),
    _row(r"(?i)too many connections|max_connections|too many clients", TRANSIENT, "too many connections"),
    _row(r"(?i)lock wait timeout|deadlock found|deadlock detected|could not obtain lock", TRANSIENT,
         "lock wait timeout / deadlock"),
    _row(r"RetriableException|SafeModeException|StandbyException|NotReplicatedYetException"
         r"|BlockMissingException|Could not obtain block|ExecutorLostFailure|FetchFailedException"
         r"|(?i:container .* (released|preempted|lost))|(?i:application .* failed \d+ times due to AM container)",
         TRANSIENT, "HDFS / YARN / Spark retriable errors"),
    _row(r"(?i)temporary failure in name resolution|service unavailable|HTTP\S* 50[23]\b|bad gateway"
         r"|too many requests|try again later|resource temporarily unavailable", TRANSIENT,
         "service temporarily unavailable"),
    # -- deterministic: the job itself is wrong --------------------------------------------------
    _row(r"(?i)syntax error|SQLSyntaxErrorException|error in your SQL syntax|ParseException|mismatched input"
         r"|SyntaxError|IndentationError", DETERMINISTIC, "syntax errors"),
    _row(r"(?i)permission denied|access denied|AccessControlException|not authori[sz]ed|insufficient privilege",
         DETERMINISTIC, "permission denied"),
    _row(r"(?i)no such file or directory|FileNotFoundException|command not found|No module named"
         r"|ModuleNotFoundError|ImportError|path does not exist", DETERMINISTIC, "no such file / command / module"),
    _row(r"(?i)(table|relation|view|column|database|schema)\b.*\b(does not exist|doesn't exist|not found)"
         r"|unknown (column|table|database)|no such (table|column)|cannot resolve|undefined column"
         r"|AnalysisException", DETERMINISTIC, "no such table / column"),
    _row(r"ClassNotFoundException|NoClassDefFoundError|NoSuchMethodError|NoSuchFieldError", DETERMINISTIC,
         "missing class / method"),
    _row(r"(?i)division by zero|divide by zero|ZeroDivisionError|ArithmeticException", DETERMINISTIC,
         "division by zero"),
    _row(r"(?i)invalid argument|IllegalArgumentException|NumberFormatException|ValueError|TypeError|KeyError"
         r"|NameError|AttributeError|NullPointerException", DETERMINISTIC, "invalid argument / programming errors"),
    _row(r"(?i)duplicate (entry|key)|violates .*constraint|IntegrityConstraintViolation|data too long",
         DETERMINISTIC, "constraint violations"),
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """A class and the evidence: the matching log line, or the state that decided."""

    klass: str
    line: str = ""
    reason: str = ""


def classify_excerpt(lines: Iterable[str], patterns: Sequence[Pattern]) -> Verdict:
    """The first pattern (in table order) that matches any line, with that line; else unknown."""
    lines = list(lines)
    for pattern in patterns:
        for line in lines:
            if pattern.regex.search(line):
                return Verdict(pattern.klass, line.strip(), pattern.why or pattern.regex.pattern)
    return Verdict(UNKNOWN, reason="no known pattern in the log excerpt")


def classify_task(state: str, excerpt_lines: Iterable[str], patterns: Sequence[Pattern]) -> Verdict:
    """One failed task: NEED_FAULT_TOLERANCE (its worker died) is transient; else its excerpt decides."""
    if state == NEED_FAULT_TOLERANCE:
        return Verdict(TRANSIENT, reason="task state NEED_FAULT_TOLERANCE: its worker was lost")
    verdict = classify_excerpt(excerpt_lines, patterns)
    if verdict.klass == UNKNOWN and state == KILL:
        return Verdict(UNKNOWN, reason="task was killed (by a person or a timeout)")
    return verdict


def classify_instance(instance_state: str, task_verdicts: Sequence[Verdict]) -> Verdict:
    """The instance's class from its state and its failed tasks' classes.

    A recovery re-runs every failed task, so one deterministic task makes the retry fail again:
    deterministic wins, then transient, else unknown (no failed task, or none recognised).
    """
    if instance_state == NEED_FAULT_TOLERANCE:
        return Verdict(TRANSIENT, reason="instance state NEED_FAULT_TOLERANCE: a worker or master was lost")
    for klass in (DETERMINISTIC, TRANSIENT):
        for verdict in task_verdicts:
            if verdict.klass == klass:
                return verdict
    if not task_verdicts:
        return Verdict(UNKNOWN, reason="no failed task found")
    return Verdict(UNKNOWN, reason="no failed task's log matched a known pattern")


def user_patterns(raw: object, where: str = "recovery.classify") -> tuple[Pattern, ...]:
    """``recovery.classify``: a list of ``{pattern, class}``; ValueError naming the entry otherwise."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where} must be a list of {{pattern, class}} entries")
    patterns = []
    for index, entry in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{at} must be a mapping with pattern and class")
        unknown = set(entry) - {"pattern", "class"}
        if unknown:
            raise ValueError(f"{at}: unknown key {sorted(unknown)[0]}")
        pattern, klass = entry.get("pattern"), entry.get("class")
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"{at}.pattern must be a non-empty regular expression")
        try:
            patterns.append(Pattern.compile(pattern, str(klass), "your recovery.classify"))
        except ValueError as err:
            raise ValueError(f"{at}: {err}") from None
    return tuple(patterns)

"""The recovery policy per workflow (spec section 9): recover always, only transient failures, or never.

``recovery.policy`` holds a ``default`` rule and ``workflows`` rules keyed by ``"project/workflow"``
globs (a project or workflow may be named by its DS name or code). The most specific matching
rule wins: the one with the most literal (non-wildcard) characters, the first listed on a tie. A
rule names only what it changes; the rest comes from ``default``, whose own unset
``max_attempts`` is ``retry.max_recovery_attempts``. The built-in default, ``recover: always``
with no backoff, is the behaviour from before policies existed.

Pure: :func:`gate` takes the failure class, the attempts used and ``now``, and says whether the
policy holds a candidate back, and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from ds_monitor.classify import DETERMINISTIC, Pattern, user_patterns

ALWAYS = "always"
TRANSIENT_ONLY = "transient"
NEVER = "never"
RECOVER_MODES = (ALWAYS, TRANSIENT_ONLY, NEVER)
DEFAULT_RULE = "default"
_RULE_KEYS = frozenset({"recover", "max_attempts", "backoff_minutes"})
_WILDCARDS = re.compile(r"[*?\[\]]")


@dataclass(frozen=True)
class Rule:
    """One policy rule; None means "as the default rule says"."""

    pattern: str = DEFAULT_RULE
    recover: str | None = None
    max_attempts: int | None = None
    backoff_minutes: tuple[float, ...] | None = None

    def matches(self, project: str, project_code: int, workflow: str, workflow_code: int) -> bool:
        project_glob, _, workflow_glob = self.pattern.partition("/")
        return _glob(project_glob, project, project_code) and _glob(workflow_glob, workflow, workflow_code)

    @property
    def specificity(self) -> int:
        return len(_WILDCARDS.sub("", self.pattern))

    def describe(self) -> str:
        parts = [f"recover: {self.recover}", f"max_attempts: {self.max_attempts}"]
        if self.backoff_minutes:
            parts.append("backoff_minutes: [" + ", ".join(f"{m:g}" for m in self.backoff_minutes) + "]")
        return ", ".join(parts)


def _glob(pattern: str, name: str, code: int) -> bool:
    return fnmatchcase(name, pattern) or fnmatchcase(str(code), pattern)


@dataclass(frozen=True)
class RecoverySettings:
    """The ``recovery`` section: the user's failure patterns and the policy rules."""

    classify: tuple[Pattern, ...] = ()
    default: Rule = field(default_factory=lambda: Rule(recover=ALWAYS))
    workflows: tuple[Rule, ...] = ()

    def rule_for(
        self, project: str, workflow: str, *, project_code: int = 0, workflow_code: int = 0, max_attempts: int
    ) -> Rule:
        """The effective rule for one workflow: the most specific match over the default, all keys set.

        ``max_attempts`` is ``retry.max_recovery_attempts``, used when no rule sets one.
        """
        matching = [r for r in self.workflows if r.matches(project, project_code, workflow, workflow_code)]
        # max() keeps the first of equal keys: the rule listed first wins a tie.
        best = max(matching, key=lambda r: r.specificity, default=None)
        base = self.effective_default(max_attempts)
        return base if best is None else _overlay(best, base)

    def effective_default(self, max_attempts: int) -> Rule:
        return _overlay(self.default, Rule(DEFAULT_RULE, ALWAYS, max_attempts, ()))

    def effective_rules(self, max_attempts: int) -> list[Rule]:
        """The default and every workflow rule with the keys they leave unset filled in."""
        base = self.effective_default(max_attempts)
        return [base] + [_overlay(rule, base) for rule in self.workflows]


def _overlay(rule: Rule, base: Rule) -> Rule:
    """``rule`` with what it leaves unset taken from ``base``."""
    return Rule(
        pattern=rule.pattern,
        recover=rule.recover or base.recover,
        max_attempts=rule.max_attempts if rule.max_attempts is not None else base.max_attempts,
        backoff_minutes=rule.backoff_minutes if rule.backoff_minutes is not None else base.backoff_minutes,
    )


def describe_policy(
    settings: RecoverySettings, selections: Sequence[tuple[str, Sequence[str]]], *, max_attempts: int
) -> list[str]:
    """``config check``: every rule, then the rule each configured workflow gets.

    ``selections`` holds (project, workflows) as configured; no workflows means "every workflow",
    shown with the rules that may apply by workflow name.
    """
    lines = [f"  {rule.pattern}: {rule.describe()}" for rule in settings.effective_rules(max_attempts)]
    for project, workflows in selections:
        for workflow in workflows:
            rule = settings.rule_for(project, workflow, max_attempts=max_attempts)
            lines.append(f"  {project}/{workflow} -> {rule.pattern} ({rule.describe()})")
        if not workflows:
            fallback = settings.rule_for(project, "", max_attempts=max_attempts).pattern
            named = [
                r.pattern
                for r in settings.workflows
                if r.pattern != fallback and _glob(r.pattern.partition("/")[0], project, -1)
            ]
            by_name = f"; by workflow name: {', '.join(named)}" if named else ""
            lines.append(f"  {project}/(every workflow) -> {fallback}{by_name}")
    return lines


def parse_recovery(raw: object, where: str = "recovery") -> RecoverySettings:
    """The ``recovery`` section of the config file; ValueError naming the key otherwise."""
    if raw is None:
        return RecoverySettings()
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping with classify and/or policy")
    unknown = set(raw) - {"classify", "policy"}
    if unknown:
        raise ValueError(f"{where}: unknown key {where}.{sorted(unknown)[0]}")
    classify = user_patterns(raw.get("classify"), f"{where}.classify")
    policy = raw.get("policy") or {}
    if not isinstance(policy, dict):
        raise ValueError(f"{where}.policy must be a mapping with default and/or workflows")
    unknown = set(policy) - {"default", "workflows"}
    if unknown:
        raise ValueError(f"{where}.policy: unknown key {where}.policy.{sorted(unknown)[0]}")
    default = _rule(DEFAULT_RULE, policy.get("default") or {}, f"{where}.policy.default")
    workflows = policy.get("workflows") or {}
    if not isinstance(workflows, dict):
        raise ValueError(f'{where}.policy.workflows must be a mapping of "project/workflow" globs to rules')
    rules = []
    for pattern, body in workflows.items():
        at = f"{where}.policy.workflows.{pattern}"
        if not isinstance(pattern, str) or pattern.count("/") != 1:
            raise ValueError(f'{at}: the key must be a "project/workflow" glob such as "finance/*"')
        rules.append(_rule(pattern, body or {}, at))
    return RecoverySettings(classify=classify, default=default, workflows=tuple(rules))


def _rule(pattern: str, body: object, at: str) -> Rule:
    if not isinstance(body, dict):
        raise ValueError(f"{at} must be a mapping with recover / max_attempts / backoff_minutes")
    unknown = set(body) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{at}: unknown key {sorted(unknown)[0]}")
    recover = body.get("recover")
    if recover is not None and recover not in RECOVER_MODES:
        raise ValueError(f"{at}.recover must be one of {', '.join(RECOVER_MODES)}, got {recover!r}")
    max_attempts = body.get("max_attempts")
    if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int)
                                     or max_attempts < 0):
        raise ValueError(f"{at}.max_attempts must be a whole number, 0 or more, got {max_attempts!r}")
    backoff = body.get("backoff_minutes")
    if backoff is not None:
        if not isinstance(backoff, list) or not all(
            isinstance(m, int | float) and not isinstance(m, bool) and m >= 0 for m in backoff
        ):
            raise ValueError(f"{at}.backoff_minutes must be a list of minutes (numbers, 0 or more)")
        backoff = tuple(float(m) for m in backoff)
    return Rule(pattern, recover, max_attempts, backoff)


@dataclass(frozen=True)
class Hold:
    """The policy holds a candidate back: ``withheld`` (announce once) or just waiting (backoff).

    ``detail`` is the sweep report's row; a withheld one is announced from the facts (the rule's
    ``recover`` mode and pattern, the log line behind the failure class), worded by the builder.
    """

    detail: str
    withheld: bool
    mode: str = ""
    pattern: str = ""
    evidence: str = ""


def gate(
    rule: Rule,
    *,
    klass: str,
    line: str,
    attempts_used: int,
    last_failure: datetime | None,
    now: datetime,
) -> Hold | None:
    """Whether ``rule`` holds back the next recovery of a failed instance, or None (go ahead).

    ``backoff_minutes[k]`` is the least wait after the k-th attempt's failure (k = 0: the original
    run) before the next attempt; past the list's end its last value applies. Without a known
    failure time there is nothing to wait for (fail-open).
    """
    evidence = f" ({line})" if line else ""
    if rule.recover == NEVER:
        return Hold(
            f"{klass} failure{evidence}: policy {rule.pattern} says recover: never",
            withheld=True, mode=NEVER, pattern=rule.pattern, evidence=line,
        )
    if rule.recover == TRANSIENT_ONLY and klass == DETERMINISTIC:
        return Hold(
            f"deterministic failure{evidence}: a retry would fail the same way; policy {rule.pattern}"
            " recovers transient failures only",
            withheld=True, mode=TRANSIENT_ONLY, pattern=rule.pattern, evidence=line,
        )
    if rule.backoff_minutes and last_failure is not None:
        wait = timedelta(minutes=rule.backoff_minutes[min(attempts_used, len(rule.backoff_minutes) - 1)])
        if now < last_failure + wait:
            return Hold(
                f"backoff: attempt {attempts_used + 1} not before {(last_failure + wait).isoformat()}"
                f" (policy {rule.pattern})",
                withheld=False,
            )
    return None

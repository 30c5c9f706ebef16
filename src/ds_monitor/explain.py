"""``explain PROJECT[/WORKFLOW]``: why the monitor did what it did for one workflow, in plain sentences.

:func:`explain_target` makes the few DS reads (projects, the project's definitions and schedules, the
instances of the window, the tasks of up to :data:`TASK_READS` failed instances); everything else
is pure: :func:`explain` takes those facts and the state files and returns one JSON-ready dict per
workflow with a ``sentences`` list for people. It re-uses the
sweep's own decisions (the schedule tracker's plan, the triage rules, the journal, the silences), so
an explanation can never disagree with what a sweep does.

The state files are read through their owners' readers (journal, silences, schedule entries); the
notification memory is only read for the keys that name this workflow's incidents.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime, timedelta

from ds_monitor import maintenance
from ds_monitor import silences as silence_rules
from ds_monitor.config import Config
from ds_monitor.ds.models import (
    FAILURE,
    REPORTED_FAILURE_STATES,
    Definition,
    Instance,
    Project,
    Schedule,
    TaskInstance,
)
from ds_monitor.errors import ConfigError
from ds_monitor.recovery.journal import Journal
from ds_monitor.schedule import ScheduleTracker, TrackerSettings
from ds_monitor.state import RATE_LIMIT, RECOVERY, SCHEDULE, SILENCES
from ds_monitor.tasks import Diagnosis, FailureMemory
from ds_monitor.timestamps import parse_stamp

# Instances shown per workflow, newest first.
LAST_INSTANCES = 5
# Most task lists read: the newest failure of each explained workflow, newest first, up to this many.
TASK_READS = 3


@dataclass(frozen=True)
class ProjectFacts:
    """What the CLI read from DS for one project (a handful of calls)."""

    project: Project
    definitions: list[Definition]
    schedules: list[Schedule]
    instances: list[Instance]
    # instance id -> its tasks, for the newest failed instance of each explained workflow
    tasks: dict[int, list[TaskInstance]]
    monitored: frozenset[int]  # definition codes the configuration selects


def explain_target(client, config: Config, files: dict[str, dict], target: str, now: datetime) -> list[dict]:
    """Read what ``target`` (``PROJECT[/WORKFLOW]``) needs from DS and explain it; see the module doc."""
    from ds_monitor.sweep.select import select_definitions, select_projects

    projects = client.list_projects()
    project, workflow = resolve(target, projects)
    definitions = client.list_definitions(project.code)
    chosen = pick_definitions(project, definitions, workflow)
    schedules = client.list_schedules(project.code)
    span = timedelta(hours=max(config.monitor.time_window_hours, config.monitor.execution_window_hours))
    instances = client.list_instances(project.code, start_from=now - span, start_to=now)
    tasks = {
        instance_id: client.list_task_instances(project.code, instance_id)
        for instance_id in newest_failures(chosen, instances)[:TASK_READS]
    }
    selected = dict(select_projects(projects, config.projects)[0])
    monitored = select_definitions(project, definitions, selected[project])[0] if project in selected else []
    facts = ProjectFacts(project, definitions, schedules, instances, tasks, frozenset(d.code for d in monitored))
    return explain(facts, chosen, files, config, now)


def resolve(target: str, projects: list[Project]) -> tuple[Project, str | None]:
    """Split ``PROJECT[/WORKFLOW]`` and find the project by name or code; unknown names get the closest."""
    name, _, workflow = target.partition("/")
    if not name:
        raise ConfigError(f"explain: {target!r} does not name a project (PROJECT or PROJECT/WORKFLOW)")
    for project in projects:
        if name in (project.name, str(project.code)):
            return project, workflow or None
    raise ConfigError(f"explain: project {name!r} not found in DS{_closest(name, [p.name for p in projects])}")


def pick_definitions(project: Project, definitions: list[Definition], workflow: str | None) -> list[Definition]:
    if workflow is None:
        return sorted(definitions, key=lambda d: d.name)
    for definition in definitions:
        if workflow in (definition.name, str(definition.code)):
            return [definition]
    names = [d.name for d in definitions]
    raise ConfigError(
        f"explain: workflow {workflow!r} not found in project {project.name!r}{_closest(workflow, names)}"
    )


def _closest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" (closest: {', '.join(close)})" if close else ""


def explain(
    facts: ProjectFacts, chosen: list[Definition], files: dict[str, dict], config: Config, now: datetime
) -> list[dict]:
    """One explanation per chosen definition, in the order given."""
    tracker = ScheduleTracker(TrackerSettings.from_config(config.monitor))
    journal = Journal.load(files.get(RECOVERY, {}))
    monitored_defs = [d for d in facts.definitions if d.code in facts.monitored]
    plan = tracker.plan(
        monitored_defs,
        [s for s in facts.schedules if s.definition_code in facts.monitored],
        files.get(SCHEDULE, {}),
        now,
        busy_definitions=journal.busy_definitions(),
    )
    return [
        _explain_one(facts, definition, plan, journal, files, config, now)
        for definition in chosen
    ]


def _explain_one(facts: ProjectFacts, definition: Definition, plan, journal, files, config, now) -> dict:
    project = facts.project
    cfg = config.monitor
    window = timedelta(hours=cfg.time_window_hours)
    mine = sorted(
        (i for i in facts.instances if i.definition_code == definition.code),
        key=lambda i: (i.start_time or now, i.id),
        reverse=True,
    )
    schedules = [s for s in facts.schedules if s.definition_code == definition.code]
    entry = _schedule_entry(files.get(SCHEDULE, {}), definition.code)
    records = sorted(
        (r for r in journal.records.values() if r.definition_code == definition.code),
        key=lambda r: r.instance_id,
    )
    failures = [
        i for i in mine if i.state in REPORTED_FAILURE_STATES and (i.start_time is None or i.start_time >= now - window)
    ]
    older_failures = [i for i in mine if i.state in REPORTED_FAILURE_STATES and i not in failures]
    systemic = len(failures) > cfg.max_failures_for_recovery
    monitored = definition.code in facts.monitored

    if definition.code in plan.looks:
        decision = {"look": True, "reason": plan.looks[definition.code]}
    elif definition.code in plan.skipped:
        decision = {"look": False, "reason": plan.skipped[definition.code]}
    else:
        decision = {"look": False, "reason": "not monitored by this configuration"}
    messages = _messages(files.get(RATE_LIMIT, {}), definition.code)
    memory = FailureMemory.load(files.get(RECOVERY, {}))
    rule = config.recovery.rule_for(
        project.name,
        definition.name,
        project_code=project.code,
        workflow_code=definition.code,
        max_attempts=config.retry.max_recovery_attempts,
    )
    covering = [
        s for s in silence_rules.load(files.get(SILENCES, {}))
        if (s.active(now) and s.covers(project.name, definition.name)) or _hid_any(s, definition.code)
    ]
    result = {
        "project": {"code": project.code, "name": project.name},
        "workflow": {"code": definition.code, "name": definition.name, "release_state": definition.release_state},
        "monitored": monitored,
        "schedules": [
            {
                "id": s.id,
                "crontab": s.crontab,
                "timezone": s.timezone_id,
                "release_state": s.release_state,
                "start_time": _iso(s.start_time),
                "end_time": _iso(s.end_time),
            }
            for s in schedules
        ],
        "instances": [
            _instance_row(i, now, window, facts.tasks.get(i.id), memory.get(i)) for i in mine[:LAST_INSTANCES]
        ],
        "recovery_policy": {
            "rule": rule.pattern,
            "recover": rule.recover,
            "max_attempts": rule.max_attempts,
            "backoff_minutes": list(rule.backoff_minutes or ()),
        },
        "window_hours": cfg.time_window_hours,
        "failures_in_window": len(failures),
        "failures_before_window": len(older_failures),
        "threshold": cfg.max_failures_for_recovery,
        "systemic": systemic,
        "decision": decision,
        "last_checked": entry.get("last_checked"),
        "next_look": entry.get("next_look"),
        "next_look_reason": entry.get("next_look_reason"),
        "missed_runs_reported": sorted(_mapping(entry.get("missed"))),
        "stuck_runs_reported": sorted(_mapping(entry.get("stuck"))),
        "recoveries": [
            {
                "instance_id": r.instance_id,
                "attempts": r.attempts,
                "status": r.status,
                "last_result": r.last_result,
                "last_at": r.last_at.isoformat(),
                "detail": r.detail,
            }
            for r in records
        ],
        "messages": messages,
        "silences": [
            {
                **silence_rules.describe(s, now),
                "hidden_here": sorted(k for k in s.hidden if _of_definition(k, definition.code)),
            }
            for s in covering
        ],
        "maintenance": maintenance.overview(config.maintenance, now, project=project.name),
    }
    result["sentences"] = _sentences(result, failures, older_failures, config, now)
    return result


def _sentences(r: dict, failures: list[Instance], older: list[Instance], config: Config, now: datetime) -> list[str]:
    wf, project = r["workflow"], r["project"]
    out = [f"Workflow {wf['name']} (code {wf['code']}) in project {project['name']} is {wf['release_state']}."]
    if not r["monitored"]:
        out.append("This configuration does not monitor it (see `projects:`): the monitor never looks at it.")
    online = [s for s in r["schedules"] if s["release_state"] == "ONLINE"]
    if online:
        for s in online:
            out.append(f"It runs on the schedule `{s['crontab']}` in {s['timezone'] or 'an unknown zone'}.")
    elif r["schedules"]:
        out.append("Its schedule is offline: it runs only by hand, by API or as a sub-workflow.")
    else:
        out.append("It has no schedule: it runs only by hand, by API or as a sub-workflow.")

    if not r["instances"]:
        out.append(f"DS shows no instance that started in the last {_hours(r['window_hours'])}.")
    for row in r["instances"]:
        started = row["start_time"] or "at an unknown time"
        line = f"Instance #{row['id']} ({row['name']}) {row['state']}, started {started}"
        if row["end_time"]:
            line += f", ended {row['end_time']}"
        if row["schedule_time"]:
            line += f", for the {row['schedule_time']} fire"
        out.append(line + ".")
        for task in row.get("failed_tasks", []):
            host = task["host"] or "an unknown host"
            out.append(f"  Its task {task['name']} ({task['type']}) ended {task['state']} on {host}.")
        if row.get("failure_class"):
            evidence = f": {row['evidence']}" if row.get("evidence") else ""
            out.append(f"  Failure class: {row['failure_class']}{evidence}.")

    threshold = r["threshold"]
    if failures:
        if r["systemic"]:
            out.append(
                f"{len(failures)} failures in the {_hours(r['window_hours'])} window is more than "
                f"monitor.max_failures_for_recovery ({threshold}): the monitor treats it as systemic, "
                "announces threshold_exceeded and does not recover it."
            )
        else:
            recoverable = [i for i in failures if i.state == FAILURE]
            reported_only = [i for i in failures if i.state != FAILURE]
            policy = r["recovery_policy"]
            if recoverable and config.retry.auto_recovery:
                out.append(
                    f"{len(failures)} failure(s) in the {_hours(r['window_hours'])} window, within the threshold "
                    f"of {threshold}: FAILURE instances are recovered automatically (up to "
                    f"{policy['max_attempts']} attempts each)."
                )
                if policy["rule"] != "default" or policy["recover"] != "always":
                    out.append(
                        f"Recovery policy rule {policy['rule']}: recover {policy['recover']}"
                        + (f", backoff {policy['backoff_minutes']} minutes" if policy["backoff_minutes"] else "")
                        + "."
                    )
            elif recoverable:
                out.append("retry.auto_recovery is off: failures are reported, never recovered.")
            for inst in reported_only:
                out.append(f"Instance #{inst.id} is {inst.state}: reported, never recovered (only FAILURE is).")
    if older:
        out.append(
            f"{len(older)} failure(s) started before the {_hours(r['window_hours'])} window "
            "(monitor.time_window_hours): no longer looked at."
        )

    for rec in r["recoveries"]:
        out.append(
            f"Recovery of instance #{rec['instance_id']}: {rec['attempts']} attempt(s), now {rec['status']}"
            f" (last call {rec['last_result']} at {rec['last_at']})" + (f": {rec['detail']}." if rec["detail"] else ".")
        )

    for window in r["maintenance"]:
        if window["active_until"]:
            out.append(f"Maintenance window {window['name']} is on until {window['active_until']}: it mutes it now.")
        if window["next_start"]:
            out.append(f"Maintenance window {window['name']} next starts at {window['next_start']}.")
    for s in r["silences"]:
        verb = "mutes it now" if s["state"] == "active" else f"({s['state']})"
        line = f"Silence {s['id']} ({s['scope']}, until {s['ends_at']}: {s['reason']}) {verb}"
        if s["hidden_here"]:
            line += f"; it hid {len(s['hidden_here'])} incident(s) of this workflow"
        out.append(line + ".")

    messages = r["messages"]
    if messages["announced"]:
        for item in messages["announced"]:
            out.append(f"Announced {_kind(item['kind'])} for {_incident(item['incident'])} at {item['at']}.")
    else:
        out.append("No message about it is remembered (nothing announced in the last days).")
    if messages["suppressed"]:
        limit = config.notification.rate_limit
        out.append(
            f"{messages['suppressed']} message(s) were suppressed by the rate limit "
            f"({limit.max_per_window} per {_hours(limit.window_hours)}); the next message says so."
        )
    for fire in r["missed_runs_reported"]:
        out.append(f"Missed run reported for the {fire} fire.")
    for instance_id in r["stuck_runs_reported"]:
        out.append(f"Stuck run reported for instance #{instance_id}.")

    if r["last_checked"]:
        out.append(f"The monitor last looked at it at {r['last_checked']}.")
    elif r["monitored"]:
        out.append("The monitor has not looked at it yet.")
    if r["monitored"]:
        decision = r["decision"]
        if decision["look"]:
            out.append(f"The next sweep looks at it: {decision['reason']}.")
        else:
            when = r["next_look"] or "the next sweep"
            out.append(f"The next sweep skips it ({decision['reason']}); next look at {when}.")
    return out


def render(explanations: list[dict]) -> str:
    """The human form: one paragraph of sentences per workflow."""
    return "\n\n".join("\n".join(e["sentences"]) for e in explanations)


def _instance_row(
    inst: Instance, now: datetime, window: timedelta, tasks: list[TaskInstance] | None, diagnosis: Diagnosis | None
) -> dict:
    row = {
        "id": inst.id,
        "name": inst.name,
        "state": inst.state,
        "start_time": _iso(inst.start_time),
        "end_time": _iso(inst.end_time),
        "schedule_time": _iso(inst.schedule_time),
        "run_times": inst.run_times,
        "command_type": inst.command_type,
        "in_window": inst.start_time is None or inst.start_time >= now - window,
    }
    if diagnosis is not None:
        row["failure_class"] = diagnosis.klass
        row["evidence"] = diagnosis.line or diagnosis.reason
    if tasks is not None:
        row["failed_tasks"] = [
            {"id": t.id, "name": t.name, "type": t.task_type, "state": t.state, "host": t.host}
            for t in tasks
            if t.state in REPORTED_FAILURE_STATES
        ]
    return row


def _messages(state: dict, code: int) -> dict:
    """This workflow's announced incidents and rate-limit figures, from the notification memory."""
    announced = state.get("announced") if isinstance(state, dict) else None
    items = []
    for key, at in (announced or {}).items() if isinstance(announced, dict) else ():
        incident, _, kind = str(key).partition("|")
        if _of_definition(incident, code):
            items.append({"incident": incident, "kind": kind, "at": at})
    items.sort(key=lambda item: (parse_stamp(item["at"]) is None, str(item["at"])))
    rate = (state.get("rate") or {}).get(f"def:{code}") if isinstance(state, dict) else None
    rate = rate if isinstance(rate, dict) else {}
    suppressed = rate.get("suppressed", 0)
    return {
        "announced": items,
        "sent_in_window": len(rate.get("sent", []) or []),
        "suppressed": suppressed if isinstance(suppressed, int) else 0,
    }


def _kind(kind: str) -> str:
    """``recovery_triggered#2`` -> ``recovery_triggered (attempt 2)``."""
    name, _, attempt = kind.partition("#")
    return f"{name} (attempt {attempt})" if attempt else name


def _incident(key: str) -> str:
    """An incident key in words: ``123:45`` -> ``instance #45``, ``123@<fire>`` -> ``the <fire> fire``."""
    if ":" in key:
        return f"instance #{key.split(':', 1)[1]}"
    if "@" in key:
        return f"the {key.split('@', 1)[1]} fire"
    return "the workflow"


def _of_definition(incident_key: str, code: int) -> bool:
    text = str(code)
    return incident_key == text or incident_key.startswith((f"{text}:", f"{text}@"))


def _hid_any(silence, code: int) -> bool:
    return any(_of_definition(key, code) for key in silence.hidden)


def _schedule_entry(state: dict, code: int) -> dict:
    entries = state.get("definitions") if isinstance(state, dict) else None
    entry = entries.get(str(code)) if isinstance(entries, dict) else None
    return entry if isinstance(entry, dict) else {}


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _hours(hours: float) -> str:
    return f"{hours:g} h"



def newest_failures(chosen: list[Definition], instances: list[Instance]) -> list[int]:
    """The newest failed instance of each chosen workflow (ids grow with time in DS), newest first."""
    codes = {d.code for d in chosen}
    newest: dict[int, int] = {}
    for inst in instances:
        if inst.definition_code in codes and inst.state in REPORTED_FAILURE_STATES:
            newest[inst.definition_code] = max(inst.id, newest.get(inst.definition_code, inst.id))
    return sorted(newest.values(), reverse=True)

"""The events a sweep raises about DS objects, made from the typed models in one place.

Each event names its project, workflow and instance and links to the DS UI; the message builder
(:mod:`ds_monitor.notify.builder`) alone turns them into words.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ds_monitor.ds.models import Definition, Instance, Project
from ds_monitor.ds.protocol import DSApi
from ds_monitor.notify import Event
from ds_monitor.recovery.decisions import FollowUp
from ds_monitor.schedule import MissedRun, StuckRun
from ds_monitor.tasks import Diagnosis


class EventMaker:
    """Makes this sweep's events: knows the workflow names and the DS UI links."""

    def __init__(self, client: DSApi, definitions: dict[int, Definition], project_names: dict[int, str]):
        self._client = client
        self._definitions = definitions
        self._project_names = project_names

    def workflow_name(self, code: int) -> str:
        definition = self._definitions.get(code)
        return definition.name if definition else str(code)

    def instance(self, kind: str, project: Project, inst: Instance, diagnosis: Diagnosis | None = None) -> Event:
        """An event about one workflow instance, naming its failed tasks when they are known."""
        event = Event(
            kind=kind,
            project_code=project.code,
            project_name=project.name,
            definition_code=inst.definition_code,
            definition_name=self.workflow_name(inst.definition_code),
            instance_id=inst.id,
            instance_name=inst.name,
            state=inst.state,
            start_time=inst.start_time,
            end_time=inst.end_time,
            ui_url=self._client.instance_ui_url(project.code, inst.id, inst.definition_code),
        )
        return with_diagnosis(event, diagnosis)

    def follow_up(self, item: FollowUp, diagnosis: Diagnosis | None) -> Event:
        """How a recovery ended (or that it still has not)."""
        event = Event(
            kind=item.kind,
            project_code=item.project_code,
            project_name=self._project_names.get(item.project_code, ""),
            definition_code=item.definition_code,
            definition_name=self.workflow_name(item.definition_code),
            instance_id=item.instance_id,
            state=item.state,
            attempt=item.attempt,
            max_attempts=item.max_attempts,
            called_at=item.called_at,
            detail=item.detail,
            ui_url=self._client.instance_ui_url(item.project_code, item.instance_id, item.definition_code),
        )
        return with_diagnosis(event, diagnosis)

    def missed_run(self, project: Project, run: MissedRun) -> Event:
        return Event(
            kind="missed_run",
            project_code=project.code,
            project_name=project.name,
            definition_code=run.definition_code,
            definition_name=run.definition_name,
            fire_time=run.fire_time,
        )

    def stuck_run(self, project: Project, run: StuckRun) -> Event:
        return Event(
            kind="stuck_running",
            project_code=project.code,
            project_name=project.name,
            definition_code=run.definition_code,
            definition_name=run.definition_name,
            instance_id=run.instance_id,
            instance_name=run.instance_name,
            state=run.state,
            start_time=run.start_time,
            window=run.window,
            next_fire=run.next_fire,
            ui_url=self._client.instance_ui_url(project.code, run.instance_id, run.definition_code),
        )

    def threshold(self, project: Project, definition_code: int, failures: int, window: timedelta) -> Event:
        return Event(
            kind="threshold_exceeded",
            project_code=project.code,
            project_name=project.name,
            definition_code=definition_code,
            definition_name=self.workflow_name(definition_code),
            failures=failures,
            window=window,
        )


def with_diagnosis(event: Event, diagnosis: Diagnosis | None) -> Event:
    """``event`` naming the failed tasks, their log excerpts and the failure class."""
    if diagnosis is None:
        return event
    return replace(
        event,
        failure_class=diagnosis.klass,
        failure_line=diagnosis.line or diagnosis.reason,
        failed_tasks=tuple(task.message_fields() for task in diagnosis.tasks),
    )

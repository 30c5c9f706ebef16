"""What the monitor needs from a DolphinScheduler connection, as a type.

:class:`~ds_monitor.ds.client.DSClient` is the one implementation that talks HTTP; the leader's
:class:`~ds_monitor.coordination.FencedClient` wraps it, and tests may pass doubles. Like the
notification :class:`~ds_monitor.notify.manager.Sender`, this is a structural type: an
implementation need not inherit from it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Protocol

from ds_monitor.ds.models import Definition, Instance, Project, Schedule, TaskInstance, TaskLog


class DSApi(Protocol):
    """One DS API for one token: typed reads, the recovery action and links for people.

    Every method raises :class:`~ds_monitor.errors.DSError` (or a subclass) for DS trouble and
    nothing from the HTTP library.
    """

    # Why automatic retries must stop now (shutdown, spent sweep budget), or None; set by the monitor.
    retry_guard: Callable[[], str | None]

    @property
    def version(self) -> str: ...

    @property
    def timezone(self) -> tzinfo: ...

    def list_projects(self) -> list[Project]: ...

    def list_definitions(self, project_code: int) -> list[Definition]: ...

    def list_schedules(self, project_code: int) -> list[Schedule]: ...

    def list_instances(
        self,
        project_code: int,
        *,
        state: str | None = None,
        definition_code: int | None = None,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
    ) -> list[Instance]: ...

    def get_instance(self, project_code: int, instance_id: int) -> Instance: ...

    def list_task_instances(self, project_code: int, instance_id: int) -> list[TaskInstance]: ...

    def task_log(self, task_id: int, *, skip_lines: int, limit: int) -> TaskLog: ...

    def recover_failed_node(self, project_code: int, instance_id: int) -> None: ...

    def instance_ui_url(self, project_code: int, instance_id: int, definition_code: int | None = None) -> str: ...

    def task_ui_url(self, project_code: int, instance_id: int, task_name: str) -> str: ...

    def invalidate_cache(self) -> None: ...

    def close(self) -> None: ...

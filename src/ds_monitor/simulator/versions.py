"""What differs between the emulated DolphinScheduler versions (ds-api.md sections 1, 3, 4.4-4.7, 5).

One frozen :class:`Version` per supported version string. Everything else in the simulator asks
this table instead of comparing version strings, so a behaviour difference lives in exactly one
place. Fields are named after the behaviour, not after the version that introduced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Workflow states and their (DB code, description) as printed by WorkflowExecutionStatus.toString()
# in 3.1/3.2 (ds-api.md 5.1). 3.0's shared ExecutionStatus prints the bare name instead.
STATE_CODES: dict[str, tuple[int, str]] = {
    "SUBMITTED_SUCCESS": (0, "submit success"),
    "RUNNING_EXECUTION": (1, "running"),
    "READY_PAUSE": (2, "ready pause"),
    "PAUSE": (3, "pause"),
    "READY_STOP": (4, "ready stop"),
    "STOP": (5, "stop"),
    "FAILURE": (6, "failure"),
    "SUCCESS": (7, "success"),
    "NEED_FAULT_TOLERANCE": (8, "need fault tolerance"),
    "KILL": (9, "kill"),
    "WAITING_THREAD": (10, "waiting thread"),
    "WAITING_DEPEND": (11, "waiting depend node complete"),
    "DELAY_EXECUTION": (12, "delay execution"),
    "FORCED_SUCCESS": (13, "forced success"),
    "SERIAL_WAIT": (14, "serial wait"),
    "READY_BLOCK": (15, "ready block"),
    "BLOCK": (16, "block"),
    "DISPATCH": (17, "dispatch"),
    "WAIT_TO_RUN": (17, "wait to run"),
    "FAILOVER": (18, "failover"),
}

_BASE_STATES = (
    "SUBMITTED_SUCCESS",
    "RUNNING_EXECUTION",
    "READY_PAUSE",
    "PAUSE",
    "READY_STOP",
    "STOP",
    "FAILURE",
    "SUCCESS",
)
_STATES_30 = frozenset(
    _BASE_STATES
    + (
        "NEED_FAULT_TOLERANCE",
        "KILL",
        "WAITING_THREAD",
        "WAITING_DEPEND",
        "DELAY_EXECUTION",
        "FORCED_SUCCESS",
        "SERIAL_WAIT",
        "READY_BLOCK",
        "BLOCK",
        "DISPATCH",
    )
)
_STATES_31 = frozenset(_BASE_STATES + ("DELAY_EXECUTION", "SERIAL_WAIT", "READY_BLOCK", "BLOCK"))
_STATES_32 = _STATES_31 | {"WAIT_TO_RUN"}
# 3.3.1+ per the CLI's generated enum (ds-api.md 5.1): no WAIT_TO_RUN, DELAY_EXECUTION or BLOCK.
_STATES_33 = frozenset(_BASE_STATES + ("SERIAL_WAIT", "FAILOVER"))

# Execute actions (ds-api.md 4.7). STOP/PAUSE change the state directly; the others queue a command.
EXECUTE_TYPES = frozenset(
    {"NONE", "REPEAT_RUNNING", "RECOVER_SUSPENDED_PROCESS", "START_FAILURE_TASK_PROCESS", "STOP", "PAUSE"}
)
COMMAND_ACTIONS = frozenset({"REPEAT_RUNNING", "RECOVER_SUSPENDED_PROCESS", "START_FAILURE_TASK_PROCESS"})

_ALLOWED_30 = {
    "START_FAILURE_TASK_PROCESS": frozenset({"FAILURE", "NEED_FAULT_TOLERANCE"}),
    "REPEAT_RUNNING": frozenset(
        {"SUCCESS", "FORCED_SUCCESS", "FAILURE", "NEED_FAULT_TOLERANCE", "KILL", "STOP", "PAUSE", "BLOCK"}
    ),
    "RECOVER_SUSPENDED_PROCESS": frozenset({"PAUSE", "STOP", "KILL"}),
    "STOP": frozenset({"RUNNING_EXECUTION", "WAITING_DEPEND", "DELAY_EXECUTION"}),
    "PAUSE": frozenset({"RUNNING_EXECUTION", "WAITING_DEPEND", "DELAY_EXECUTION"}),
}
_ALLOWED_31 = {
    "START_FAILURE_TASK_PROCESS": frozenset({"FAILURE"}),
    "REPEAT_RUNNING": frozenset({"SUCCESS", "FAILURE", "STOP", "PAUSE", "BLOCK"}),
    "RECOVER_SUSPENDED_PROCESS": frozenset({"PAUSE", "STOP"}),
    "STOP": frozenset({"RUNNING_EXECUTION", "READY_PAUSE"}),
    "PAUSE": frozenset({"RUNNING_EXECUTION"}),
}
_ALLOWED_33 = {
    "START_FAILURE_TASK_PROCESS": frozenset({"FAILURE"}),
    "REPEAT_RUNNING": frozenset({"SUCCESS", "FAILURE", "STOP", "PAUSE"}),
    "RECOVER_SUSPENDED_PROCESS": frozenset({"PAUSE", "STOP"}),
    "STOP": frozenset({"RUNNING_EXECUTION", "READY_PAUSE", "READY_STOP", "SERIAL_WAIT", "WAIT_TO_RUN"}),
    "PAUSE": frozenset({"RUNNING_EXECUTION", "READY_PAUSE", "SERIAL_WAIT"}),
}

# Refusal styles for "state does not allow this action" (ds-api.md 4.7, refusal table).
REFUSE_50006 = "50006"  # 3.0/3.1: detailed PROCESS_INSTANCE_STATE_OPERATION_ERROR
REFUSE_50015 = "50015"  # 3.2: detail swallowed, generic EXECUTE_PROCESS_INSTANCE_ERROR
REFUSE_10000 = "10000"  # 3.3: ServiceException text wrapped in INTERNAL_SERVER_ERROR_ARGS

# Date filter rules for the instance list (ds-api.md 4.4).
DATES_BOTH_BOUNDS = "both"  # 3.0.1-3.0.6: applied only when both bounds are given, inclusive
DATES_BOTH_BOUNDS_EXCLUSIVE_START = "both-exclusive-start"  # 3.0.0
DATES_INDEPENDENT = "independent"  # 3.1+: each bound optional and inclusive

# 3.x JSON key -> 3.3/dev key (ds-api.md 4.2-4.6). Applied to every object the workflow family renders.
_WORKFLOW_KEYS = {
    "processDefinitionCode": "workflowDefinitionCode",
    "processDefinitionVersion": "workflowDefinitionVersion",
    "processDefinitionName": "workflowDefinitionName",
    "processDefinition": "workflowDefinition",
    "processTaskRelationList": "workflowTaskRelationList",
    "processInstanceId": "workflowInstanceId",
    "processInstanceName": "workflowInstanceName",
    "processInstancePriority": "workflowInstancePriority",
    "processInstanceState": "workflowInstanceState",
    "nextProcessInstanceId": "nextWorkflowInstanceId",
    "isSubProcess": "isSubWorkflow",
}


@dataclass(frozen=True)
class Version:
    """The behaviour of one emulated DS version."""

    name: str
    workflow_family: bool  # 3.3+: workflow-* paths, parameter and field names
    states: frozenset[str]
    allowed_from: dict[str, frozenset[str]] = field(repr=False)
    refusal: str
    date_filter: str
    page_offset_key: str  # "start" (3.0-3.2.0) or "pageNo" (3.2.1+), both carry the row offset
    total_page_null: bool = False  # 3.2.1 never sets totalPage
    page_row_cap: int | None = None  # 3.0: MyBatis-Plus PaginationInterceptor silently caps at 500
    status_object_rendering: bool = False  # 3.1/3.2: state printed as WorkflowExecutionStatus{...}
    schedule_definition_required: bool = False  # 3.0/3.1 schedule list needs the definition code
    offline_definition_blocks: bool = False  # 3.0: 50004 on recover of an offline definition
    command_duplicate_guard: bool = True  # 3.0/3.1: 50009 while a command is queued; 3.2 has none
    submits_synchronously: bool = False  # 3.3: SUBMITTED_SUCCESS before the API answers
    unknown_path_needs_token: bool = False  # 3.0/3.1: 401 comes before the UI page
    list_selects_subset: bool = False  # 3.0/3.1 instance list selects only some columns
    has_state_history: bool = True  # 3.1+
    has_project_code: bool = False  # 3.2+: instance/task projectCode, testFlag, embedded schedule
    has_block_fields: bool = True  # 3.0-3.2 ProcessInstance.blocked; gone in dev
    has_tenant_id: bool = False  # 3.0/3.1: definitions carry tenantId/tenantCode, instances tenantId
    restarts_paused_tasks: bool = False  # 3.2: recover-from-failure also re-runs PAUSE tasks
    primitive_warning_group_id: bool = False  # 3.1: ProcessDefinition.warningGroupId is an int, not Integer

    @property
    def definition_segment(self) -> str:
        return "workflow-definition" if self.workflow_family else "process-definition"

    @property
    def instance_segment(self) -> str:
        return "workflow-instances" if self.workflow_family else "process-instances"

    @property
    def instance_list_definition_param(self) -> str:
        return "workflowDefinitionCode" if self.workflow_family else "processDefineCode"

    @property
    def execute_instance_param(self) -> str:
        return "workflowInstanceId" if self.workflow_family else "processInstanceId"

    @property
    def schedule_definition_param(self) -> str:
        return "workflowDefinitionCode" if self.workflow_family else "processDefinitionCode"

    @property
    def is_30(self) -> bool:
        return self.page_row_cap is not None

    def key(self, name: str) -> str:
        """The JSON key this version uses for a 3.x key name."""
        return _WORKFLOW_KEYS.get(name, name) if self.workflow_family else name

    def rename(self, obj: dict) -> dict:
        """Rename 3.x keys of one rendered object to this version's names."""
        if not self.workflow_family:
            return obj
        return {_WORKFLOW_KEYS.get(k, k): v for k, v in obj.items()}

    def state_text(self, state: str) -> str:
        """How ``state.toString()`` prints in messages and in ``processInstanceState``."""
        if not self.status_object_rendering:
            return state
        code, desc = STATE_CODES[state]
        return f"WorkflowExecutionStatus{{code={code}, desc='{desc}'}}"


def _v30(name: str, date_filter: str) -> Version:
    return Version(
        name=name,
        workflow_family=False,
        states=_STATES_30,
        allowed_from=_ALLOWED_30,
        refusal=REFUSE_50006,
        date_filter=date_filter,
        page_offset_key="start",
        page_row_cap=500,
        schedule_definition_required=True,
        offline_definition_blocks=True,
        unknown_path_needs_token=True,
        list_selects_subset=True,
        has_state_history=False,
        has_tenant_id=True,
    )


def _v32(name: str, offset_key: str, total_page_null: bool = False) -> Version:
    return Version(
        name=name,
        workflow_family=False,
        states=_STATES_32,
        allowed_from=_ALLOWED_31,
        refusal=REFUSE_50015,
        date_filter=DATES_INDEPENDENT,
        page_offset_key=offset_key,
        total_page_null=total_page_null,
        status_object_rendering=True,
        command_duplicate_guard=False,
        has_project_code=True,
        restarts_paused_tasks=True,
    )


VERSIONS: dict[str, Version] = {
    "3.0": _v30("3.0", DATES_BOTH_BOUNDS),
    "3.0.0": _v30("3.0.0", DATES_BOTH_BOUNDS_EXCLUSIVE_START),
    "3.1": Version(
        name="3.1",
        workflow_family=False,
        states=_STATES_31,
        allowed_from=_ALLOWED_31,
        refusal=REFUSE_50006,
        date_filter=DATES_INDEPENDENT,
        page_offset_key="start",
        status_object_rendering=True,
        schedule_definition_required=True,
        unknown_path_needs_token=True,
        list_selects_subset=True,
        has_tenant_id=True,
        primitive_warning_group_id=True,
    ),
    "3.2.0": _v32("3.2.0", "start"),
    "3.2.1": _v32("3.2.1", "pageNo", total_page_null=True),
    "3.2.2": _v32("3.2.2", "pageNo"),
    "3.2": _v32("3.2", "pageNo"),
    "3.3": Version(
        name="3.3",
        workflow_family=True,
        states=_STATES_33,
        allowed_from=_ALLOWED_33,
        refusal=REFUSE_10000,
        date_filter=DATES_INDEPENDENT,
        page_offset_key="pageNo",
        submits_synchronously=True,
        command_duplicate_guard=False,
        has_project_code=True,
        has_block_fields=False,
    ),
}


def get_version(name: str) -> Version:
    """The behaviour table for ``name``; ValueError naming the accepted versions otherwise."""
    try:
        return VERSIONS[name]
    except KeyError:
        raise ValueError(
            f"unsupported DolphinScheduler version {name!r}; expected one of {', '.join(VERSIONS)}"
        ) from None

from wloadctl.proto.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TriggerRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALL_SUCCEEDED: _ClassVar[TriggerRule]
    ALL_DONE: _ClassVar[TriggerRule]
    ANY_FAILED: _ClassVar[TriggerRule]
    ANY_SUCCEEDED: _ClassVar[TriggerRule]
    NONE_FAILED: _ClassVar[TriggerRule]
    ALWAYS: _ClassVar[TriggerRule]

class WorkflowRunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WF_RUNNING: _ClassVar[WorkflowRunState]
    WF_SUCCEEDED: _ClassVar[WorkflowRunState]
    WF_FAILED: _ClassVar[WorkflowRunState]
    WF_KILLED: _ClassVar[WorkflowRunState]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_WAITING: _ClassVar[TaskState]
    TASK_STARTED: _ClassVar[TaskState]
    TASK_SUCCEEDED: _ClassVar[TaskState]
    TASK_FAILED: _ClassVar[TaskState]
    TASK_SKIPPED: _ClassVar[TaskState]
    TASK_HELD: _ClassVar[TaskState]
    TASK_RETRYING: _ClassVar[TaskState]
ALL_SUCCEEDED: TriggerRule
ALL_DONE: TriggerRule
ANY_FAILED: TriggerRule
ANY_SUCCEEDED: TriggerRule
NONE_FAILED: TriggerRule
ALWAYS: TriggerRule
WF_RUNNING: WorkflowRunState
WF_SUCCEEDED: WorkflowRunState
WF_FAILED: WorkflowRunState
WF_KILLED: WorkflowRunState
TASK_WAITING: TaskState
TASK_STARTED: TaskState
TASK_SUCCEEDED: TaskState
TASK_FAILED: TaskState
TASK_SKIPPED: TaskState
TASK_HELD: TaskState
TASK_RETRYING: TaskState

class WorkflowTask(_message.Message):
    __slots__ = ("name", "command", "job", "depends_on", "trigger_rule", "agent_selector", "timeout_seconds", "run_as", "env", "working_dir", "description", "when", "cases", "retry", "wait_for", "workflow", "workflow_params")
    class AgentSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class WorkflowParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_RULE_FIELD_NUMBER: _ClassVar[int]
    AGENT_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RUN_AS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WHEN_FIELD_NUMBER: _ClassVar[int]
    CASES_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    command: _jobs_pb2.JobCommand
    job: str
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    trigger_rule: TriggerRule
    agent_selector: _containers.ScalarMap[str, str]
    timeout_seconds: int
    run_as: str
    env: _containers.ScalarMap[str, str]
    working_dir: str
    description: str
    when: str
    cases: _containers.RepeatedCompositeFieldContainer[SwitchCase]
    retry: RetryPolicy
    wait_for: _containers.RepeatedCompositeFieldContainer[ExternalDependency]
    workflow: str
    workflow_params: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., command: _Optional[_Union[_jobs_pb2.JobCommand, _Mapping]] = ..., job: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., trigger_rule: _Optional[_Union[TriggerRule, str]] = ..., agent_selector: _Optional[_Mapping[str, str]] = ..., timeout_seconds: _Optional[int] = ..., run_as: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ..., description: _Optional[str] = ..., when: _Optional[str] = ..., cases: _Optional[_Iterable[_Union[SwitchCase, _Mapping]]] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ..., wait_for: _Optional[_Iterable[_Union[ExternalDependency, _Mapping]]] = ..., workflow: _Optional[str] = ..., workflow_params: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SwitchCase(_message.Message):
    __slots__ = ("when", "run")
    WHEN_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    when: str
    run: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, when: _Optional[str] = ..., run: _Optional[_Iterable[str]] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("attempts", "delay_seconds", "exponential", "max_delay_seconds", "exit_codes")
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXPONENTIAL_FIELD_NUMBER: _ClassVar[int]
    MAX_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODES_FIELD_NUMBER: _ClassVar[int]
    attempts: int
    delay_seconds: int
    exponential: bool
    max_delay_seconds: int
    exit_codes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, attempts: _Optional[int] = ..., delay_seconds: _Optional[int] = ..., exponential: _Optional[bool] = ..., max_delay_seconds: _Optional[int] = ..., exit_codes: _Optional[_Iterable[int]] = ...) -> None: ...

class ExternalDependency(_message.Message):
    __slots__ = ("workflow", "task", "job", "business_days", "calendar", "timeout_seconds", "on_timeout")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAYS_FIELD_NUMBER: _ClassVar[int]
    CALENDAR_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ON_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    workflow: str
    task: str
    job: str
    business_days: int
    calendar: str
    timeout_seconds: int
    on_timeout: str
    def __init__(self, workflow: _Optional[str] = ..., task: _Optional[str] = ..., job: _Optional[str] = ..., business_days: _Optional[int] = ..., calendar: _Optional[str] = ..., timeout_seconds: _Optional[int] = ..., on_timeout: _Optional[str] = ...) -> None: ...

class WorkflowSpec(_message.Message):
    __slots__ = ("name", "domain", "description", "labels", "params", "tasks", "on_failure", "trigger", "keep_runs")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    ON_FAILURE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    KEEP_RUNS_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: str
    description: str
    labels: _containers.ScalarMap[str, str]
    params: _containers.ScalarMap[str, str]
    tasks: _containers.RepeatedCompositeFieldContainer[WorkflowTask]
    on_failure: _containers.RepeatedCompositeFieldContainer[WorkflowTask]
    trigger: _jobs_pb2.JobSpec
    keep_runs: int
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., params: _Optional[_Mapping[str, str]] = ..., tasks: _Optional[_Iterable[_Union[WorkflowTask, _Mapping]]] = ..., on_failure: _Optional[_Iterable[_Union[WorkflowTask, _Mapping]]] = ..., trigger: _Optional[_Union[_jobs_pb2.JobSpec, _Mapping]] = ..., keep_runs: _Optional[int] = ...) -> None: ...

class WorkflowVersion(_message.Message):
    __slots__ = ("spec", "version", "created_ms", "raft_index", "deleted")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    spec: WorkflowSpec
    version: int
    created_ms: int
    raft_index: int
    deleted: bool
    def __init__(self, spec: _Optional[_Union[WorkflowSpec, _Mapping]] = ..., version: _Optional[int] = ..., created_ms: _Optional[int] = ..., raft_index: _Optional[int] = ..., deleted: _Optional[bool] = ...) -> None: ...

class TaskRun(_message.Message):
    __slots__ = ("name", "state", "run_id", "upstream", "upstream_succeeded", "upstream_failed", "upstream_skipped", "started_ms", "ended_ms", "reason", "ready", "attempt", "previous_run_ids", "retry_at_ms", "waiting_for", "exit_code", "chosen", "handler", "child_run_id", "held_until_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FAILED_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    STARTED_MS_FIELD_NUMBER: _ClassVar[int]
    ENDED_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_MS_FIELD_NUMBER: _ClassVar[int]
    WAITING_FOR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    HANDLER_FIELD_NUMBER: _ClassVar[int]
    CHILD_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    HELD_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: TaskState
    run_id: str
    upstream: int
    upstream_succeeded: int
    upstream_failed: int
    upstream_skipped: int
    started_ms: int
    ended_ms: int
    reason: str
    ready: bool
    attempt: int
    previous_run_ids: _containers.RepeatedScalarFieldContainer[str]
    retry_at_ms: int
    waiting_for: str
    exit_code: int
    chosen: _containers.RepeatedScalarFieldContainer[str]
    handler: bool
    child_run_id: str
    held_until_ms: int
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., run_id: _Optional[str] = ..., upstream: _Optional[int] = ..., upstream_succeeded: _Optional[int] = ..., upstream_failed: _Optional[int] = ..., upstream_skipped: _Optional[int] = ..., started_ms: _Optional[int] = ..., ended_ms: _Optional[int] = ..., reason: _Optional[str] = ..., ready: _Optional[bool] = ..., attempt: _Optional[int] = ..., previous_run_ids: _Optional[_Iterable[str]] = ..., retry_at_ms: _Optional[int] = ..., waiting_for: _Optional[str] = ..., exit_code: _Optional[int] = ..., chosen: _Optional[_Iterable[str]] = ..., handler: _Optional[bool] = ..., child_run_id: _Optional[str] = ..., held_until_ms: _Optional[int] = ...) -> None: ...

class WorkflowRun(_message.Message):
    __slots__ = ("id", "workflow_name", "workflow_version", "state", "params", "business_date", "created_ms", "ended_ms", "cause", "tasks_total", "tasks_succeeded", "tasks_failed", "tasks_skipped", "domain", "tasks", "paused", "context", "parent_run_id", "parent_task", "depth", "slot_time", "handlers_total", "handlers_started", "handlers_done", "handlers_failed")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_NAME_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    ENDED_MS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    TASKS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TASKS_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    TASKS_FAILED_FIELD_NUMBER: _ClassVar[int]
    TASKS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_TASK_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    SLOT_TIME_FIELD_NUMBER: _ClassVar[int]
    HANDLERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    HANDLERS_STARTED_FIELD_NUMBER: _ClassVar[int]
    HANDLERS_DONE_FIELD_NUMBER: _ClassVar[int]
    HANDLERS_FAILED_FIELD_NUMBER: _ClassVar[int]
    id: str
    workflow_name: str
    workflow_version: int
    state: WorkflowRunState
    params: _containers.ScalarMap[str, str]
    business_date: str
    created_ms: int
    ended_ms: int
    cause: str
    tasks_total: int
    tasks_succeeded: int
    tasks_failed: int
    tasks_skipped: int
    domain: str
    tasks: _containers.RepeatedCompositeFieldContainer[TaskRun]
    paused: bool
    context: _containers.ScalarMap[str, str]
    parent_run_id: str
    parent_task: str
    depth: int
    slot_time: str
    handlers_total: int
    handlers_started: bool
    handlers_done: int
    handlers_failed: int
    def __init__(self, id: _Optional[str] = ..., workflow_name: _Optional[str] = ..., workflow_version: _Optional[int] = ..., state: _Optional[_Union[WorkflowRunState, str]] = ..., params: _Optional[_Mapping[str, str]] = ..., business_date: _Optional[str] = ..., created_ms: _Optional[int] = ..., ended_ms: _Optional[int] = ..., cause: _Optional[str] = ..., tasks_total: _Optional[int] = ..., tasks_succeeded: _Optional[int] = ..., tasks_failed: _Optional[int] = ..., tasks_skipped: _Optional[int] = ..., domain: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[TaskRun, _Mapping]]] = ..., paused: _Optional[bool] = ..., context: _Optional[_Mapping[str, str]] = ..., parent_run_id: _Optional[str] = ..., parent_task: _Optional[str] = ..., depth: _Optional[int] = ..., slot_time: _Optional[str] = ..., handlers_total: _Optional[int] = ..., handlers_started: _Optional[bool] = ..., handlers_done: _Optional[int] = ..., handlers_failed: _Optional[int] = ...) -> None: ...

class ApplyWorkflowsRequest(_message.Message):
    __slots__ = ("workflows", "idempotency_key")
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[WorkflowSpec]
    idempotency_key: str
    def __init__(self, workflows: _Optional[_Iterable[_Union[WorkflowSpec, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class WorkflowRef(_message.Message):
    __slots__ = ("name", "version", "changed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    changed: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., changed: _Optional[bool] = ...) -> None: ...

class ApplyWorkflowsResponse(_message.Message):
    __slots__ = ("workflows", "raft_index")
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[WorkflowRef]
    raft_index: int
    def __init__(self, workflows: _Optional[_Iterable[_Union[WorkflowRef, _Mapping]]] = ..., raft_index: _Optional[int] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListWorkflowsRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class ListWorkflowsResponse(_message.Message):
    __slots__ = ("workflows",)
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[WorkflowVersion]
    def __init__(self, workflows: _Optional[_Iterable[_Union[WorkflowVersion, _Mapping]]] = ...) -> None: ...

class DeleteWorkflowRequest(_message.Message):
    __slots__ = ("name", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DeleteWorkflowResponse(_message.Message):
    __slots__ = ("version", "raft_index")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    version: int
    raft_index: int
    def __init__(self, version: _Optional[int] = ..., raft_index: _Optional[int] = ...) -> None: ...

class RunWorkflowRequest(_message.Message):
    __slots__ = ("name", "params", "business_date", "idempotency_key")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, str]
    business_date: str
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., business_date: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetWorkflowRunRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListWorkflowRunsRequest(_message.Message):
    __slots__ = ("workflow_name", "limit")
    WORKFLOW_NAME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workflow_name: str
    limit: int
    def __init__(self, workflow_name: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListWorkflowRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[WorkflowRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[WorkflowRun, _Mapping]]] = ...) -> None: ...

class RerunWorkflowRequest(_message.Message):
    __slots__ = ("run_id", "task", "mode", "dry_run", "idempotency_key")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task: str
    mode: str
    dry_run: bool
    idempotency_key: str
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ..., mode: _Optional[str] = ..., dry_run: _Optional[bool] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RerunWorkflowResponse(_message.Message):
    __slots__ = ("tasks", "run")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedScalarFieldContainer[str]
    run: WorkflowRun
    def __init__(self, tasks: _Optional[_Iterable[str]] = ..., run: _Optional[_Union[WorkflowRun, _Mapping]] = ...) -> None: ...

class WorkflowRunActionRequest(_message.Message):
    __slots__ = ("run_id", "idempotency_key")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    idempotency_key: str
    def __init__(self, run_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ImpactRequest(_message.Message):
    __slots__ = ("run_id", "task")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task: str
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class ImpactResponse(_message.Message):
    __slots__ = ("run_id", "task", "domain", "affected", "elsewhere")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_FIELD_NUMBER: _ClassVar[int]
    ELSEWHERE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task: str
    domain: str
    affected: _containers.RepeatedCompositeFieldContainer[TaskRun]
    elsewhere: _containers.RepeatedCompositeFieldContainer[ImpactedTask]
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ..., domain: _Optional[str] = ..., affected: _Optional[_Iterable[_Union[TaskRun, _Mapping]]] = ..., elsewhere: _Optional[_Iterable[_Union[ImpactedTask, _Mapping]]] = ...) -> None: ...

class ImpactedTask(_message.Message):
    __slots__ = ("run_id", "workflow", "domain", "task")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    workflow: str
    domain: str
    task: TaskRun
    def __init__(self, run_id: _Optional[str] = ..., workflow: _Optional[str] = ..., domain: _Optional[str] = ..., task: _Optional[_Union[TaskRun, _Mapping]] = ...) -> None: ...

class MarkTaskRequest(_message.Message):
    __slots__ = ("run_id", "task", "outcome", "idempotency_key")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task: str
    outcome: str
    idempotency_key: str
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ..., outcome: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

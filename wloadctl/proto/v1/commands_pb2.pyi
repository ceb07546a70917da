from wloadctl.proto.v1 import jobs_pb2 as _jobs_pb2
from wloadctl.proto.v1 import workflows_pb2 as _workflows_pb2
from wloadctl.proto.v1 import runs_pb2 as _runs_pb2
from wloadctl.proto.v1 import agent_pb2 as _agent_pb2
from wloadctl.proto.v1 import auth_pb2 as _auth_pb2
from wloadctl.proto.v1 import audit_pb2 as _audit_pb2
from wloadctl.proto.v1 import approval_pb2 as _approval_pb2
from wloadctl.proto.v1 import secrets_pb2 as _secrets_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CommandBatch(_message.Message):
    __slots__ = ("time_ms", "leader_id", "commands")
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    time_ms: int
    leader_id: str
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    def __init__(self, time_ms: _Optional[int] = ..., leader_id: _Optional[str] = ..., commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("idempotency_key", "actor", "ignorable", "apply_jobs", "delete_job", "set_member", "remove_member", "noop", "bootstrap", "begin_epoch", "force_activate", "register_agent", "mark_agent_lost", "trigger_run", "dispatch_runs", "record_run_events", "request_kill", "fire_schedules", "suspend_job", "apply_calendars", "delete_calendar", "emit_event", "prune_runs", "file_arrived", "apply_workflows", "delete_workflow", "trigger_workflow", "rerun_workflow", "workflow_run_action", "mark_workflow_task", "fire_workflow_timers", "auth_bootstrap", "put_user", "delete_user", "put_role", "delete_role", "record_login", "revoke_session", "create_api_key", "revoke_api_key", "set_security_policy", "record_audit", "request_approval", "decide_approval", "set_secret", "delete_secret")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    IGNORABLE_FIELD_NUMBER: _ClassVar[int]
    APPLY_JOBS_FIELD_NUMBER: _ClassVar[int]
    DELETE_JOB_FIELD_NUMBER: _ClassVar[int]
    SET_MEMBER_FIELD_NUMBER: _ClassVar[int]
    REMOVE_MEMBER_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_FIELD_NUMBER: _ClassVar[int]
    BEGIN_EPOCH_FIELD_NUMBER: _ClassVar[int]
    FORCE_ACTIVATE_FIELD_NUMBER: _ClassVar[int]
    REGISTER_AGENT_FIELD_NUMBER: _ClassVar[int]
    MARK_AGENT_LOST_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_RUN_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_RUNS_FIELD_NUMBER: _ClassVar[int]
    RECORD_RUN_EVENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_KILL_FIELD_NUMBER: _ClassVar[int]
    FIRE_SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_JOB_FIELD_NUMBER: _ClassVar[int]
    APPLY_CALENDARS_FIELD_NUMBER: _ClassVar[int]
    DELETE_CALENDAR_FIELD_NUMBER: _ClassVar[int]
    EMIT_EVENT_FIELD_NUMBER: _ClassVar[int]
    PRUNE_RUNS_FIELD_NUMBER: _ClassVar[int]
    FILE_ARRIVED_FIELD_NUMBER: _ClassVar[int]
    APPLY_WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    DELETE_WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    RERUN_WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_RUN_ACTION_FIELD_NUMBER: _ClassVar[int]
    MARK_WORKFLOW_TASK_FIELD_NUMBER: _ClassVar[int]
    FIRE_WORKFLOW_TIMERS_FIELD_NUMBER: _ClassVar[int]
    AUTH_BOOTSTRAP_FIELD_NUMBER: _ClassVar[int]
    PUT_USER_FIELD_NUMBER: _ClassVar[int]
    DELETE_USER_FIELD_NUMBER: _ClassVar[int]
    PUT_ROLE_FIELD_NUMBER: _ClassVar[int]
    DELETE_ROLE_FIELD_NUMBER: _ClassVar[int]
    RECORD_LOGIN_FIELD_NUMBER: _ClassVar[int]
    REVOKE_SESSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_API_KEY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_API_KEY_FIELD_NUMBER: _ClassVar[int]
    SET_SECURITY_POLICY_FIELD_NUMBER: _ClassVar[int]
    RECORD_AUDIT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    DECIDE_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    SET_SECRET_FIELD_NUMBER: _ClassVar[int]
    DELETE_SECRET_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    actor: _auth_pb2.Actor
    ignorable: bool
    apply_jobs: ApplyJobs
    delete_job: DeleteJob
    set_member: SetMember
    remove_member: RemoveMember
    noop: Noop
    bootstrap: Bootstrap
    begin_epoch: BeginEpoch
    force_activate: ForceActivate
    register_agent: RegisterAgent
    mark_agent_lost: MarkAgentLost
    trigger_run: TriggerRun
    dispatch_runs: DispatchRuns
    record_run_events: RecordRunEvents
    request_kill: RequestKill
    fire_schedules: FireSchedules
    suspend_job: SuspendJob
    apply_calendars: ApplyCalendars
    delete_calendar: DeleteCalendar
    emit_event: EmitEvent
    prune_runs: PruneRuns
    file_arrived: FileArrived
    apply_workflows: ApplyWorkflows
    delete_workflow: DeleteWorkflow
    trigger_workflow: TriggerWorkflow
    rerun_workflow: RerunWorkflow
    workflow_run_action: WorkflowRunAction
    mark_workflow_task: MarkWorkflowTask
    fire_workflow_timers: FireWorkflowTimers
    auth_bootstrap: _auth_pb2.AuthBootstrap
    put_user: _auth_pb2.PutUser
    delete_user: _auth_pb2.DeleteUser
    put_role: _auth_pb2.PutRole
    delete_role: _auth_pb2.DeleteRole
    record_login: _auth_pb2.RecordLogin
    revoke_session: _auth_pb2.RevokeSession
    create_api_key: _auth_pb2.CreateApiKey
    revoke_api_key: _auth_pb2.RevokeApiKey
    set_security_policy: _auth_pb2.SetSecurityPolicy
    record_audit: _audit_pb2.RecordAudit
    request_approval: _approval_pb2.RequestApproval
    decide_approval: _approval_pb2.DecideApproval
    set_secret: _secrets_pb2.SetSecret
    delete_secret: _secrets_pb2.DeleteSecret
    def __init__(self, idempotency_key: _Optional[str] = ..., actor: _Optional[_Union[_auth_pb2.Actor, _Mapping]] = ..., ignorable: _Optional[bool] = ..., apply_jobs: _Optional[_Union[ApplyJobs, _Mapping]] = ..., delete_job: _Optional[_Union[DeleteJob, _Mapping]] = ..., set_member: _Optional[_Union[SetMember, _Mapping]] = ..., remove_member: _Optional[_Union[RemoveMember, _Mapping]] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ..., bootstrap: _Optional[_Union[Bootstrap, _Mapping]] = ..., begin_epoch: _Optional[_Union[BeginEpoch, _Mapping]] = ..., force_activate: _Optional[_Union[ForceActivate, _Mapping]] = ..., register_agent: _Optional[_Union[RegisterAgent, _Mapping]] = ..., mark_agent_lost: _Optional[_Union[MarkAgentLost, _Mapping]] = ..., trigger_run: _Optional[_Union[TriggerRun, _Mapping]] = ..., dispatch_runs: _Optional[_Union[DispatchRuns, _Mapping]] = ..., record_run_events: _Optional[_Union[RecordRunEvents, _Mapping]] = ..., request_kill: _Optional[_Union[RequestKill, _Mapping]] = ..., fire_schedules: _Optional[_Union[FireSchedules, _Mapping]] = ..., suspend_job: _Optional[_Union[SuspendJob, _Mapping]] = ..., apply_calendars: _Optional[_Union[ApplyCalendars, _Mapping]] = ..., delete_calendar: _Optional[_Union[DeleteCalendar, _Mapping]] = ..., emit_event: _Optional[_Union[EmitEvent, _Mapping]] = ..., prune_runs: _Optional[_Union[PruneRuns, _Mapping]] = ..., file_arrived: _Optional[_Union[FileArrived, _Mapping]] = ..., apply_workflows: _Optional[_Union[ApplyWorkflows, _Mapping]] = ..., delete_workflow: _Optional[_Union[DeleteWorkflow, _Mapping]] = ..., trigger_workflow: _Optional[_Union[TriggerWorkflow, _Mapping]] = ..., rerun_workflow: _Optional[_Union[RerunWorkflow, _Mapping]] = ..., workflow_run_action: _Optional[_Union[WorkflowRunAction, _Mapping]] = ..., mark_workflow_task: _Optional[_Union[MarkWorkflowTask, _Mapping]] = ..., fire_workflow_timers: _Optional[_Union[FireWorkflowTimers, _Mapping]] = ..., auth_bootstrap: _Optional[_Union[_auth_pb2.AuthBootstrap, _Mapping]] = ..., put_user: _Optional[_Union[_auth_pb2.PutUser, _Mapping]] = ..., delete_user: _Optional[_Union[_auth_pb2.DeleteUser, _Mapping]] = ..., put_role: _Optional[_Union[_auth_pb2.PutRole, _Mapping]] = ..., delete_role: _Optional[_Union[_auth_pb2.DeleteRole, _Mapping]] = ..., record_login: _Optional[_Union[_auth_pb2.RecordLogin, _Mapping]] = ..., revoke_session: _Optional[_Union[_auth_pb2.RevokeSession, _Mapping]] = ..., create_api_key: _Optional[_Union[_auth_pb2.CreateApiKey, _Mapping]] = ..., revoke_api_key: _Optional[_Union[_auth_pb2.RevokeApiKey, _Mapping]] = ..., set_security_policy: _Optional[_Union[_auth_pb2.SetSecurityPolicy, _Mapping]] = ..., record_audit: _Optional[_Union[_audit_pb2.RecordAudit, _Mapping]] = ..., request_approval: _Optional[_Union[_approval_pb2.RequestApproval, _Mapping]] = ..., decide_approval: _Optional[_Union[_approval_pb2.DecideApproval, _Mapping]] = ..., set_secret: _Optional[_Union[_secrets_pb2.SetSecret, _Mapping]] = ..., delete_secret: _Optional[_Union[_secrets_pb2.DeleteSecret, _Mapping]] = ...) -> None: ...

class ApplyJobs(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobSpec]
    def __init__(self, jobs: _Optional[_Iterable[_Union[_jobs_pb2.JobSpec, _Mapping]]] = ...) -> None: ...

class DeleteJob(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("id", "raft_address", "api_address")
    ID_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    API_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    id: str
    raft_address: str
    api_address: str
    def __init__(self, id: _Optional[str] = ..., raft_address: _Optional[str] = ..., api_address: _Optional[str] = ...) -> None: ...

class SetMember(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class RemoveMember(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Bootstrap(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class Noop(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class BeginEpoch(_message.Message):
    __slots__ = ("leader_id", "expected_epoch")
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_EPOCH_FIELD_NUMBER: _ClassVar[int]
    leader_id: str
    expected_epoch: int
    def __init__(self, leader_id: _Optional[str] = ..., expected_epoch: _Optional[int] = ...) -> None: ...

class ForceActivate(_message.Message):
    __slots__ = ("epoch", "operator", "reason")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    operator: str
    reason: str
    def __init__(self, epoch: _Optional[int] = ..., operator: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RegisterAgent(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _runs_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_runs_pb2.Agent, _Mapping]] = ...) -> None: ...

class MarkAgentLost(_message.Message):
    __slots__ = ("agent_id", "epoch", "cause")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    epoch: int
    cause: str
    def __init__(self, agent_id: _Optional[str] = ..., epoch: _Optional[int] = ..., cause: _Optional[str] = ...) -> None: ...

class TriggerRun(_message.Message):
    __slots__ = ("job_name", "params", "cause")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    job_name: str
    params: _containers.ScalarMap[str, str]
    cause: str
    def __init__(self, job_name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., cause: _Optional[str] = ...) -> None: ...

class DispatchDecision(_message.Message):
    __slots__ = ("run_id", "attempt", "agent_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    attempt: int
    agent_id: str
    def __init__(self, run_id: _Optional[str] = ..., attempt: _Optional[int] = ..., agent_id: _Optional[str] = ...) -> None: ...

class DispatchRuns(_message.Message):
    __slots__ = ("epoch", "decisions")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    decisions: _containers.RepeatedCompositeFieldContainer[DispatchDecision]
    def __init__(self, epoch: _Optional[int] = ..., decisions: _Optional[_Iterable[_Union[DispatchDecision, _Mapping]]] = ...) -> None: ...

class RecordRunEvents(_message.Message):
    __slots__ = ("agent_id", "events")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    events: _containers.RepeatedCompositeFieldContainer[_agent_pb2.RunEvent]
    def __init__(self, agent_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[_agent_pb2.RunEvent, _Mapping]]] = ...) -> None: ...

class FireSchedules(_message.Message):
    __slots__ = ("firings",)
    FIRINGS_FIELD_NUMBER: _ClassVar[int]
    firings: _containers.RepeatedCompositeFieldContainer[Firing]
    def __init__(self, firings: _Optional[_Iterable[_Union[Firing, _Mapping]]] = ...) -> None: ...

class Firing(_message.Message):
    __slots__ = ("job_name", "job_version", "expected_next_ms", "fire_slots", "misfires", "through_ms")
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_NEXT_MS_FIELD_NUMBER: _ClassVar[int]
    FIRE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    MISFIRES_FIELD_NUMBER: _ClassVar[int]
    THROUGH_MS_FIELD_NUMBER: _ClassVar[int]
    job_name: str
    job_version: int
    expected_next_ms: int
    fire_slots: _containers.RepeatedScalarFieldContainer[int]
    misfires: _containers.RepeatedCompositeFieldContainer[MisfireRange]
    through_ms: int
    def __init__(self, job_name: _Optional[str] = ..., job_version: _Optional[int] = ..., expected_next_ms: _Optional[int] = ..., fire_slots: _Optional[_Iterable[int]] = ..., misfires: _Optional[_Iterable[_Union[MisfireRange, _Mapping]]] = ..., through_ms: _Optional[int] = ...) -> None: ...

class MisfireRange(_message.Message):
    __slots__ = ("first_slot_ms", "last_slot_ms", "count", "reason", "detail")
    FIRST_SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    first_slot_ms: int
    last_slot_ms: int
    count: int
    reason: str
    detail: str
    def __init__(self, first_slot_ms: _Optional[int] = ..., last_slot_ms: _Optional[int] = ..., count: _Optional[int] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class SuspendJob(_message.Message):
    __slots__ = ("name", "suspended")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    name: str
    suspended: bool
    def __init__(self, name: _Optional[str] = ..., suspended: _Optional[bool] = ...) -> None: ...

class ApplyCalendars(_message.Message):
    __slots__ = ("calendars",)
    CALENDARS_FIELD_NUMBER: _ClassVar[int]
    calendars: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.CalendarSpec]
    def __init__(self, calendars: _Optional[_Iterable[_Union[_jobs_pb2.CalendarSpec, _Mapping]]] = ...) -> None: ...

class DeleteCalendar(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class PruneRuns(_message.Message):
    __slots__ = ("run_ids",)
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class EmitEvent(_message.Message):
    __slots__ = ("name", "params", "domains", "source")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, str]
    domains: _containers.RepeatedScalarFieldContainer[str]
    source: str
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., domains: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ...) -> None: ...

class FileArrived(_message.Message):
    __slots__ = ("job_name", "watch_id", "path", "size", "mtime_ns", "agent_id")
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    job_name: str
    watch_id: str
    path: str
    size: int
    mtime_ns: int
    agent_id: str
    def __init__(self, job_name: _Optional[str] = ..., watch_id: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ApplyWorkflows(_message.Message):
    __slots__ = ("workflows", "max_tasks")
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    MAX_TASKS_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[_workflows_pb2.WorkflowSpec]
    max_tasks: int
    def __init__(self, workflows: _Optional[_Iterable[_Union[_workflows_pb2.WorkflowSpec, _Mapping]]] = ..., max_tasks: _Optional[int] = ...) -> None: ...

class DeleteWorkflow(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class TriggerWorkflow(_message.Message):
    __slots__ = ("name", "params", "business_date", "cause")
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
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, str]
    business_date: str
    cause: str
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., business_date: _Optional[str] = ..., cause: _Optional[str] = ...) -> None: ...

class RerunWorkflow(_message.Message):
    __slots__ = ("run_id", "task", "mode")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task: str
    mode: str
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ..., mode: _Optional[str] = ...) -> None: ...

class WorkflowRunAction(_message.Message):
    __slots__ = ("run_id", "action")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    action: str
    def __init__(self, run_id: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class MarkWorkflowTask(_message.Message):
    __slots__ = ("run_id", "task", "outcome")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    task: str
    outcome: str
    def __init__(self, run_id: _Optional[str] = ..., task: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class FireWorkflowTimers(_message.Message):
    __slots__ = ("limit", "timers")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TIMERS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    timers: _containers.RepeatedCompositeFieldContainer[WorkflowTimer]
    def __init__(self, limit: _Optional[int] = ..., timers: _Optional[_Iterable[_Union[WorkflowTimer, _Mapping]]] = ...) -> None: ...

class WorkflowTimer(_message.Message):
    __slots__ = ("due_ms", "run_seq", "task", "delay_ms")
    DUE_MS_FIELD_NUMBER: _ClassVar[int]
    RUN_SEQ_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    due_ms: int
    run_seq: int
    task: str
    delay_ms: int
    def __init__(self, due_ms: _Optional[int] = ..., run_seq: _Optional[int] = ..., task: _Optional[str] = ..., delay_ms: _Optional[int] = ...) -> None: ...

class RequestKill(_message.Message):
    __slots__ = ("run_id", "cause")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    cause: str
    def __init__(self, run_id: _Optional[str] = ..., cause: _Optional[str] = ...) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("code", "message", "jobs", "raft_index", "run_ids", "epoch", "id", "expires_ms", "password_change_required")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CHANGE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobRef]
    raft_index: int
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    epoch: int
    id: str
    expires_ms: int
    password_change_required: bool
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., jobs: _Optional[_Iterable[_Union[_jobs_pb2.JobRef, _Mapping]]] = ..., raft_index: _Optional[int] = ..., run_ids: _Optional[_Iterable[str]] = ..., epoch: _Optional[int] = ..., id: _Optional[str] = ..., expires_ms: _Optional[int] = ..., password_change_required: _Optional[bool] = ...) -> None: ...

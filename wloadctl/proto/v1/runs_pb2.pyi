from wloadctl.proto.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    PENDING: _ClassVar[RunState]
    QUEUED: _ClassVar[RunState]
    DISPATCHED: _ClassVar[RunState]
    RUNNING: _ClassVar[RunState]
    SUCCEEDED: _ClassVar[RunState]
    FAILED: _ClassVar[RunState]
    TIMED_OUT: _ClassVar[RunState]
    KILLED: _ClassVar[RunState]
    LOST: _ClassVar[RunState]
    RETRY_WAIT: _ClassVar[RunState]
    SKIPPED: _ClassVar[RunState]
RUN_STATE_UNSPECIFIED: RunState
PENDING: RunState
QUEUED: RunState
DISPATCHED: RunState
RUNNING: RunState
SUCCEEDED: RunState
FAILED: RunState
TIMED_OUT: RunState
KILLED: RunState
LOST: RunState
RETRY_WAIT: RunState
SKIPPED: RunState

class Transition(_message.Message):
    __slots__ = ("state", "time_ms", "attempt", "agent_id", "epoch", "cause")
    STATE_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    state: RunState
    time_ms: int
    attempt: int
    agent_id: str
    epoch: int
    cause: str
    def __init__(self, state: _Optional[_Union[RunState, str]] = ..., time_ms: _Optional[int] = ..., attempt: _Optional[int] = ..., agent_id: _Optional[str] = ..., epoch: _Optional[int] = ..., cause: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "job_name", "job_version", "params", "state", "attempt", "agent_id", "epoch", "created_ms", "updated_ms", "started_ms", "finished_ms", "exit_code", "output_tail", "output_bytes", "transitions", "kill_requested", "error", "spec", "idempotency_key", "pid", "output_gap_bytes", "output_attempt", "output_offset", "slot_ms", "waiting_for", "business_date", "event", "workflow_run_id", "task", "outputs")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_MS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TAIL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    KILL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_GAP_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    WAITING_FOR_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    job_name: str
    job_version: int
    params: _containers.ScalarMap[str, str]
    state: RunState
    attempt: int
    agent_id: str
    epoch: int
    created_ms: int
    updated_ms: int
    started_ms: int
    finished_ms: int
    exit_code: int
    output_tail: bytes
    output_bytes: int
    transitions: _containers.RepeatedCompositeFieldContainer[Transition]
    kill_requested: bool
    error: str
    spec: _jobs_pb2.JobSpec
    idempotency_key: str
    pid: int
    output_gap_bytes: int
    output_attempt: int
    output_offset: int
    slot_ms: int
    waiting_for: str
    business_date: str
    event: str
    workflow_run_id: str
    task: str
    outputs: _containers.ScalarMap[str, str]
    def __init__(self, run_id: _Optional[str] = ..., job_name: _Optional[str] = ..., job_version: _Optional[int] = ..., params: _Optional[_Mapping[str, str]] = ..., state: _Optional[_Union[RunState, str]] = ..., attempt: _Optional[int] = ..., agent_id: _Optional[str] = ..., epoch: _Optional[int] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., started_ms: _Optional[int] = ..., finished_ms: _Optional[int] = ..., exit_code: _Optional[int] = ..., output_tail: _Optional[bytes] = ..., output_bytes: _Optional[int] = ..., transitions: _Optional[_Iterable[_Union[Transition, _Mapping]]] = ..., kill_requested: _Optional[bool] = ..., error: _Optional[str] = ..., spec: _Optional[_Union[_jobs_pb2.JobSpec, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., pid: _Optional[int] = ..., output_gap_bytes: _Optional[int] = ..., output_attempt: _Optional[int] = ..., output_offset: _Optional[int] = ..., slot_ms: _Optional[int] = ..., waiting_for: _Optional[str] = ..., business_date: _Optional[str] = ..., event: _Optional[str] = ..., workflow_run_id: _Optional[str] = ..., task: _Optional[str] = ..., outputs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("agent_id", "labels", "capacity", "hostname", "platform", "cpus", "registered_ms", "lost_ms", "lost_count", "version", "lease_ms", "orphan_policy", "policy")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MS_FIELD_NUMBER: _ClassVar[int]
    LOST_MS_FIELD_NUMBER: _ClassVar[int]
    LOST_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    labels: _containers.ScalarMap[str, str]
    capacity: int
    hostname: str
    platform: str
    cpus: int
    registered_ms: int
    lost_ms: int
    lost_count: int
    version: str
    lease_ms: int
    orphan_policy: str
    policy: AgentPolicy
    def __init__(self, agent_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., capacity: _Optional[int] = ..., hostname: _Optional[str] = ..., platform: _Optional[str] = ..., cpus: _Optional[int] = ..., registered_ms: _Optional[int] = ..., lost_ms: _Optional[int] = ..., lost_count: _Optional[int] = ..., version: _Optional[str] = ..., lease_ms: _Optional[int] = ..., orphan_policy: _Optional[str] = ..., policy: _Optional[_Union[AgentPolicy, _Mapping]] = ...) -> None: ...

class AgentPolicy(_message.Message):
    __slots__ = ("user", "allowed_run_as", "restrict_commands", "allowed_commands", "allow_scripts", "secret_env")
    USER_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_RUN_AS_FIELD_NUMBER: _ClassVar[int]
    RESTRICT_COMMANDS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_COMMANDS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_SCRIPTS_FIELD_NUMBER: _ClassVar[int]
    SECRET_ENV_FIELD_NUMBER: _ClassVar[int]
    user: str
    allowed_run_as: _containers.RepeatedScalarFieldContainer[str]
    restrict_commands: bool
    allowed_commands: _containers.RepeatedScalarFieldContainer[str]
    allow_scripts: bool
    secret_env: bool
    def __init__(self, user: _Optional[str] = ..., allowed_run_as: _Optional[_Iterable[str]] = ..., restrict_commands: _Optional[bool] = ..., allowed_commands: _Optional[_Iterable[str]] = ..., allow_scripts: _Optional[bool] = ..., secret_env: _Optional[bool] = ...) -> None: ...

class EpochInfo(_message.Message):
    __slots__ = ("epoch", "leader_id", "began_ms", "forced", "forced_by", "forced_reason")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    BEGAN_MS_FIELD_NUMBER: _ClassVar[int]
    FORCED_FIELD_NUMBER: _ClassVar[int]
    FORCED_BY_FIELD_NUMBER: _ClassVar[int]
    FORCED_REASON_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    leader_id: str
    began_ms: int
    forced: bool
    forced_by: str
    forced_reason: str
    def __init__(self, epoch: _Optional[int] = ..., leader_id: _Optional[str] = ..., began_ms: _Optional[int] = ..., forced: _Optional[bool] = ..., forced_by: _Optional[str] = ..., forced_reason: _Optional[str] = ...) -> None: ...

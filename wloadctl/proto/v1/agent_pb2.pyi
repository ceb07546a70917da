from wloadctl.proto.v1 import jobs_pb2 as _jobs_pb2
from wloadctl.proto.v1 import runs_pb2 as _runs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentHello(_message.Message):
    __slots__ = ("agent_id", "labels", "capacity", "hostname", "platform", "cpus", "version", "highest_epoch", "lease_ms", "orphan_policy", "policy")
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
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HIGHEST_EPOCH_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    labels: _containers.ScalarMap[str, str]
    capacity: int
    hostname: str
    platform: str
    cpus: int
    version: str
    highest_epoch: int
    lease_ms: int
    orphan_policy: str
    policy: _runs_pb2.AgentPolicy
    def __init__(self, agent_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., capacity: _Optional[int] = ..., hostname: _Optional[str] = ..., platform: _Optional[str] = ..., cpus: _Optional[int] = ..., version: _Optional[str] = ..., highest_epoch: _Optional[int] = ..., lease_ms: _Optional[int] = ..., orphan_policy: _Optional[str] = ..., policy: _Optional[_Union[_runs_pb2.AgentPolicy, _Mapping]] = ...) -> None: ...

class AgentReport(_message.Message):
    __slots__ = ("highest_epoch", "running", "unacked", "free_slots")
    HIGHEST_EPOCH_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    UNACKED_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    highest_epoch: int
    running: _containers.RepeatedCompositeFieldContainer[RunEvent]
    unacked: _containers.RepeatedCompositeFieldContainer[RunEvent]
    free_slots: int
    def __init__(self, highest_epoch: _Optional[int] = ..., running: _Optional[_Iterable[_Union[RunEvent, _Mapping]]] = ..., unacked: _Optional[_Iterable[_Union[RunEvent, _Mapping]]] = ..., free_slots: _Optional[int] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("kind", "run_id", "attempt", "epoch", "time_ms", "pid", "data", "exit_code", "timed_out", "killed", "error", "seq", "orphaned", "offset", "policy", "lost", "outputs")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[RunEvent.Kind]
        STARTED: _ClassVar[RunEvent.Kind]
        OUTPUT: _ClassVar[RunEvent.Kind]
        FINISHED: _ClassVar[RunEvent.Kind]
        REJECTED: _ClassVar[RunEvent.Kind]
    KIND_UNSPECIFIED: RunEvent.Kind
    STARTED: RunEvent.Kind
    OUTPUT: RunEvent.Kind
    FINISHED: RunEvent.Kind
    REJECTED: RunEvent.Kind
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    KILLED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    kind: RunEvent.Kind
    run_id: str
    attempt: int
    epoch: int
    time_ms: int
    pid: int
    data: bytes
    exit_code: int
    timed_out: bool
    killed: bool
    error: str
    seq: int
    orphaned: bool
    offset: int
    policy: bool
    lost: bool
    outputs: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[_Union[RunEvent.Kind, str]] = ..., run_id: _Optional[str] = ..., attempt: _Optional[int] = ..., epoch: _Optional[int] = ..., time_ms: _Optional[int] = ..., pid: _Optional[int] = ..., data: _Optional[bytes] = ..., exit_code: _Optional[int] = ..., timed_out: _Optional[bool] = ..., killed: _Optional[bool] = ..., error: _Optional[str] = ..., seq: _Optional[int] = ..., orphaned: _Optional[bool] = ..., offset: _Optional[int] = ..., policy: _Optional[bool] = ..., lost: _Optional[bool] = ..., outputs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AgentHeartbeat(_message.Message):
    __slots__ = ("seq", "highest_epoch", "running", "free_slots", "host")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HIGHEST_EPOCH_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    seq: int
    highest_epoch: int
    running: int
    free_slots: int
    host: HostLoad
    def __init__(self, seq: _Optional[int] = ..., highest_epoch: _Optional[int] = ..., running: _Optional[int] = ..., free_slots: _Optional[int] = ..., host: _Optional[_Union[HostLoad, _Mapping]] = ...) -> None: ...

class HostLoad(_message.Message):
    __slots__ = ("load1", "cpu_busy_ratio", "cpus", "memory_total_bytes", "memory_available_bytes", "disk_total_bytes", "disk_free_bytes", "log_store_bytes", "sampled_ms")
    LOAD1_FIELD_NUMBER: _ClassVar[int]
    CPU_BUSY_RATIO_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOG_STORE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_MS_FIELD_NUMBER: _ClassVar[int]
    load1: float
    cpu_busy_ratio: float
    cpus: int
    memory_total_bytes: int
    memory_available_bytes: int
    disk_total_bytes: int
    disk_free_bytes: int
    log_store_bytes: int
    sampled_ms: int
    def __init__(self, load1: _Optional[float] = ..., cpu_busy_ratio: _Optional[float] = ..., cpus: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ..., memory_available_bytes: _Optional[int] = ..., disk_total_bytes: _Optional[int] = ..., disk_free_bytes: _Optional[int] = ..., log_store_bytes: _Optional[int] = ..., sampled_ms: _Optional[int] = ...) -> None: ...

class InquiryReply(_message.Message):
    __slots__ = ("epoch", "confirmed", "reason", "report")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    confirmed: bool
    reason: str
    report: AgentReport
    def __init__(self, epoch: _Optional[int] = ..., confirmed: _Optional[bool] = ..., reason: _Optional[str] = ..., report: _Optional[_Union[AgentReport, _Mapping]] = ...) -> None: ...

class LogChunk(_message.Message):
    __slots__ = ("request_id", "data", "next_offset", "complete", "found")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    data: bytes
    next_offset: int
    complete: bool
    found: bool
    def __init__(self, request_id: _Optional[int] = ..., data: _Optional[bytes] = ..., next_offset: _Optional[int] = ..., complete: _Optional[bool] = ..., found: _Optional[bool] = ...) -> None: ...

class RejectedMessage(_message.Message):
    __slots__ = ("epoch", "highest_epoch", "what")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    HIGHEST_EPOCH_FIELD_NUMBER: _ClassVar[int]
    WHAT_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    highest_epoch: int
    what: str
    def __init__(self, epoch: _Optional[int] = ..., highest_epoch: _Optional[int] = ..., what: _Optional[str] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "heartbeat", "events", "inquiry_reply", "log_chunk", "rejected", "file_arrivals")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    INQUIRY_REPLY_FIELD_NUMBER: _ClassVar[int]
    LOG_CHUNK_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FILE_ARRIVALS_FIELD_NUMBER: _ClassVar[int]
    hello: AgentHello
    heartbeat: AgentHeartbeat
    events: EventBatch
    inquiry_reply: InquiryReply
    log_chunk: LogChunk
    rejected: RejectedMessage
    file_arrivals: FileArrivals
    def __init__(self, hello: _Optional[_Union[AgentHello, _Mapping]] = ..., heartbeat: _Optional[_Union[AgentHeartbeat, _Mapping]] = ..., events: _Optional[_Union[EventBatch, _Mapping]] = ..., inquiry_reply: _Optional[_Union[InquiryReply, _Mapping]] = ..., log_chunk: _Optional[_Union[LogChunk, _Mapping]] = ..., rejected: _Optional[_Union[RejectedMessage, _Mapping]] = ..., file_arrivals: _Optional[_Union[FileArrivals, _Mapping]] = ...) -> None: ...

class FileArrivals(_message.Message):
    __slots__ = ("files",)
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileArrival]
    def __init__(self, files: _Optional[_Iterable[_Union[FileArrival, _Mapping]]] = ...) -> None: ...

class FileArrival(_message.Message):
    __slots__ = ("watch_id", "job_name", "path", "size", "mtime_ns")
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    watch_id: str
    job_name: str
    path: str
    size: int
    mtime_ns: int
    def __init__(self, watch_id: _Optional[str] = ..., job_name: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mtime_ns: _Optional[int] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[RunEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[RunEvent, _Mapping]]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("run_id", "attempt", "spec", "params", "secret_env", "secret_error", "slot_ms", "business_date")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SecretEnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SECRET_ENV_FIELD_NUMBER: _ClassVar[int]
    SECRET_ERROR_FIELD_NUMBER: _ClassVar[int]
    SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    attempt: int
    spec: _jobs_pb2.JobSpec
    params: _containers.ScalarMap[str, str]
    secret_env: _containers.ScalarMap[str, str]
    secret_error: str
    slot_ms: int
    business_date: str
    def __init__(self, run_id: _Optional[str] = ..., attempt: _Optional[int] = ..., spec: _Optional[_Union[_jobs_pb2.JobSpec, _Mapping]] = ..., params: _Optional[_Mapping[str, str]] = ..., secret_env: _Optional[_Mapping[str, str]] = ..., secret_error: _Optional[str] = ..., slot_ms: _Optional[int] = ..., business_date: _Optional[str] = ...) -> None: ...

class ReplicaMessage(_message.Message):
    __slots__ = ("epoch", "replica_id", "leader", "state_epoch", "heartbeat_ack", "inquiry", "dispatch", "kill", "log_request", "event_ack", "welcome", "step_down", "epoch_notice", "file_watches", "file_ack")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    STATE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_ACK_FIELD_NUMBER: _ClassVar[int]
    INQUIRY_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    LOG_REQUEST_FIELD_NUMBER: _ClassVar[int]
    EVENT_ACK_FIELD_NUMBER: _ClassVar[int]
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    STEP_DOWN_FIELD_NUMBER: _ClassVar[int]
    EPOCH_NOTICE_FIELD_NUMBER: _ClassVar[int]
    FILE_WATCHES_FIELD_NUMBER: _ClassVar[int]
    FILE_ACK_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    replica_id: str
    leader: bool
    state_epoch: int
    heartbeat_ack: HeartbeatAck
    inquiry: Inquiry
    dispatch: DispatchBatch
    kill: KillRun
    log_request: LogRequest
    event_ack: EventAck
    welcome: Welcome
    step_down: StepDown
    epoch_notice: EpochNotice
    file_watches: FileWatches
    file_ack: FileArrivalAck
    def __init__(self, epoch: _Optional[int] = ..., replica_id: _Optional[str] = ..., leader: _Optional[bool] = ..., state_epoch: _Optional[int] = ..., heartbeat_ack: _Optional[_Union[HeartbeatAck, _Mapping]] = ..., inquiry: _Optional[_Union[Inquiry, _Mapping]] = ..., dispatch: _Optional[_Union[DispatchBatch, _Mapping]] = ..., kill: _Optional[_Union[KillRun, _Mapping]] = ..., log_request: _Optional[_Union[LogRequest, _Mapping]] = ..., event_ack: _Optional[_Union[EventAck, _Mapping]] = ..., welcome: _Optional[_Union[Welcome, _Mapping]] = ..., step_down: _Optional[_Union[StepDown, _Mapping]] = ..., epoch_notice: _Optional[_Union[EpochNotice, _Mapping]] = ..., file_watches: _Optional[_Union[FileWatches, _Mapping]] = ..., file_ack: _Optional[_Union[FileArrivalAck, _Mapping]] = ...) -> None: ...

class FileWatches(_message.Message):
    __slots__ = ("watches",)
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    watches: _containers.RepeatedCompositeFieldContainer[FileWatch]
    def __init__(self, watches: _Optional[_Iterable[_Union[FileWatch, _Mapping]]] = ...) -> None: ...

class FileWatch(_message.Message):
    __slots__ = ("id", "job_name", "directory", "glob", "stable_ms", "include_existing", "since_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    GLOB_FIELD_NUMBER: _ClassVar[int]
    STABLE_MS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXISTING_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_name: str
    directory: str
    glob: str
    stable_ms: int
    include_existing: bool
    since_ms: int
    def __init__(self, id: _Optional[str] = ..., job_name: _Optional[str] = ..., directory: _Optional[str] = ..., glob: _Optional[str] = ..., stable_ms: _Optional[int] = ..., include_existing: _Optional[bool] = ..., since_ms: _Optional[int] = ...) -> None: ...

class FileArrivalAck(_message.Message):
    __slots__ = ("files",)
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileArrival]
    def __init__(self, files: _Optional[_Iterable[_Union[FileArrival, _Mapping]]] = ...) -> None: ...

class EpochNotice(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StepDown(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("leader_id",)
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    leader_id: str
    def __init__(self, leader_id: _Optional[str] = ...) -> None: ...

class HeartbeatAck(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class Inquiry(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class DispatchBatch(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class KillRun(_message.Message):
    __slots__ = ("run_id", "attempt")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    attempt: int
    def __init__(self, run_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class LogRequest(_message.Message):
    __slots__ = ("request_id", "run_id", "attempt", "offset", "limit")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    run_id: str
    attempt: int
    offset: int
    limit: int
    def __init__(self, request_id: _Optional[int] = ..., run_id: _Optional[str] = ..., attempt: _Optional[int] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class EventAck(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

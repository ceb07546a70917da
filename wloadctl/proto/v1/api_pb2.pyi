from wloadctl.proto.v1 import jobs_pb2 as _jobs_pb2
from wloadctl.proto.v1 import commands_pb2 as _commands_pb2
from wloadctl.proto.v1 import runs_pb2 as _runs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApplyCalendarsRequest(_message.Message):
    __slots__ = ("calendars", "idempotency_key")
    CALENDARS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    calendars: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.CalendarSpec]
    idempotency_key: str
    def __init__(self, calendars: _Optional[_Iterable[_Union[_jobs_pb2.CalendarSpec, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ApplyCalendarsResponse(_message.Message):
    __slots__ = ("calendars", "raft_index")
    CALENDARS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    calendars: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobRef]
    raft_index: int
    def __init__(self, calendars: _Optional[_Iterable[_Union[_jobs_pb2.JobRef, _Mapping]]] = ..., raft_index: _Optional[int] = ...) -> None: ...

class GetCalendarRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListCalendarsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCalendarsResponse(_message.Message):
    __slots__ = ("calendars",)
    CALENDARS_FIELD_NUMBER: _ClassVar[int]
    calendars: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.CalendarVersion]
    def __init__(self, calendars: _Optional[_Iterable[_Union[_jobs_pb2.CalendarVersion, _Mapping]]] = ...) -> None: ...

class DeleteCalendarRequest(_message.Message):
    __slots__ = ("name", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DeleteCalendarResponse(_message.Message):
    __slots__ = ("calendar", "raft_index")
    CALENDAR_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    calendar: _jobs_pb2.JobRef
    raft_index: int
    def __init__(self, calendar: _Optional[_Union[_jobs_pb2.JobRef, _Mapping]] = ..., raft_index: _Optional[int] = ...) -> None: ...

class CalendarDaysRequest(_message.Message):
    __slots__ = ("name", "from_date", "to_date")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_date: str
    to_date: str
    def __init__(self, name: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class CalendarDaysResponse(_message.Message):
    __slots__ = ("name", "version", "working_days", "non_working_days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    NON_WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    working_days: _containers.RepeatedScalarFieldContainer[str]
    non_working_days: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., working_days: _Optional[_Iterable[str]] = ..., non_working_days: _Optional[_Iterable[str]] = ...) -> None: ...

class SuspendJobRequest(_message.Message):
    __slots__ = ("name", "suspended", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    suspended: bool
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., suspended: _Optional[bool] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SuspendJobResponse(_message.Message):
    __slots__ = ("job", "raft_index")
    JOB_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.JobRef
    raft_index: int
    def __init__(self, job: _Optional[_Union[_jobs_pb2.JobRef, _Mapping]] = ..., raft_index: _Optional[int] = ...) -> None: ...

class NextFireTimesRequest(_message.Message):
    __slots__ = ("name", "count", "from_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FROM_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    count: int
    from_ms: int
    def __init__(self, name: _Optional[str] = ..., count: _Optional[int] = ..., from_ms: _Optional[int] = ...) -> None: ...

class FireTime(_message.Message):
    __slots__ = ("slot_ms", "due_ms", "local_time", "nominal_local", "dst", "moved_from", "business_date")
    SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    DUE_MS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    NOMINAL_LOCAL_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    MOVED_FROM_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DATE_FIELD_NUMBER: _ClassVar[int]
    slot_ms: int
    due_ms: int
    local_time: str
    nominal_local: str
    dst: str
    moved_from: str
    business_date: str
    def __init__(self, slot_ms: _Optional[int] = ..., due_ms: _Optional[int] = ..., local_time: _Optional[str] = ..., nominal_local: _Optional[str] = ..., dst: _Optional[str] = ..., moved_from: _Optional[str] = ..., business_date: _Optional[str] = ...) -> None: ...

class NextFireTimesResponse(_message.Message):
    __slots__ = ("name", "version", "time_zone", "suspended", "times", "skipped", "state", "skipped_non_working")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    TIMES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_NON_WORKING_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    time_zone: str
    suspended: bool
    times: _containers.RepeatedCompositeFieldContainer[FireTime]
    skipped: _containers.RepeatedScalarFieldContainer[str]
    state: _jobs_pb2.ScheduleState
    skipped_non_working: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., time_zone: _Optional[str] = ..., suspended: _Optional[bool] = ..., times: _Optional[_Iterable[_Union[FireTime, _Mapping]]] = ..., skipped: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[_jobs_pb2.ScheduleState, _Mapping]] = ..., skipped_non_working: _Optional[_Iterable[str]] = ...) -> None: ...

class ListMisfiresRequest(_message.Message):
    __slots__ = ("job_name", "page_size", "page_token")
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_name: str
    page_size: int
    page_token: str
    def __init__(self, job_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMisfiresResponse(_message.Message):
    __slots__ = ("misfires", "next_page_token")
    MISFIRES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    misfires: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.Misfire]
    next_page_token: str
    def __init__(self, misfires: _Optional[_Iterable[_Union[_jobs_pb2.Misfire, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApplyJobsRequest(_message.Message):
    __slots__ = ("jobs", "idempotency_key")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobSpec]
    idempotency_key: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_jobs_pb2.JobSpec, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ApplyJobsResponse(_message.Message):
    __slots__ = ("jobs", "raft_index")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobRef]
    raft_index: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[_jobs_pb2.JobRef, _Mapping]]] = ..., raft_index: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("domain", "label_selector", "page_size", "page_token")
    class LabelSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    label_selector: _containers.ScalarMap[str, str]
    page_size: int
    page_token: str
    def __init__(self, domain: _Optional[str] = ..., label_selector: _Optional[_Mapping[str, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobVersion]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_jobs_pb2.JobVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("name", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ("job", "raft_index")
    JOB_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.JobRef
    raft_index: int
    def __init__(self, job: _Optional[_Union[_jobs_pb2.JobRef, _Mapping]] = ..., raft_index: _Optional[int] = ...) -> None: ...

class ReadIndexRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadIndexResponse(_message.Message):
    __slots__ = ("index", "leader_id", "term")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    index: int
    leader_id: str
    term: int
    def __init__(self, index: _Optional[int] = ..., leader_id: _Optional[str] = ..., term: _Optional[int] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MemberStatus(_message.Message):
    __slots__ = ("id", "raft_address", "api_address", "role", "connected", "match_index", "lag", "is_self")
    ID_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    API_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    MATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    IS_SELF_FIELD_NUMBER: _ClassVar[int]
    id: str
    raft_address: str
    api_address: str
    role: str
    connected: bool
    match_index: int
    lag: int
    is_self: bool
    def __init__(self, id: _Optional[str] = ..., raft_address: _Optional[str] = ..., api_address: _Optional[str] = ..., role: _Optional[str] = ..., connected: _Optional[bool] = ..., match_index: _Optional[int] = ..., lag: _Optional[int] = ..., is_self: _Optional[bool] = ...) -> None: ...

class ClusterStatus(_message.Message):
    __slots__ = ("self_id", "leader_id", "leader_api_address", "term", "commit_index", "applied_index", "members", "has_quorum", "role", "log_entries", "snapshot_index", "state_time_ms", "epoch", "takeover_phase", "agents_confirmed", "agents_required", "agents_registered", "agents_connected", "dispatch_forced", "state")
    SELF_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_API_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    HAS_QUORUM_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TAKEOVER_PHASE_FIELD_NUMBER: _ClassVar[int]
    AGENTS_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    AGENTS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    AGENTS_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    AGENTS_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_FORCED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    self_id: str
    leader_id: str
    leader_api_address: str
    term: int
    commit_index: int
    applied_index: int
    members: _containers.RepeatedCompositeFieldContainer[MemberStatus]
    has_quorum: bool
    role: str
    log_entries: int
    snapshot_index: int
    state_time_ms: int
    epoch: int
    takeover_phase: str
    agents_confirmed: int
    agents_required: int
    agents_registered: int
    agents_connected: int
    dispatch_forced: bool
    state: StateSize
    def __init__(self, self_id: _Optional[str] = ..., leader_id: _Optional[str] = ..., leader_api_address: _Optional[str] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., members: _Optional[_Iterable[_Union[MemberStatus, _Mapping]]] = ..., has_quorum: _Optional[bool] = ..., role: _Optional[str] = ..., log_entries: _Optional[int] = ..., snapshot_index: _Optional[int] = ..., state_time_ms: _Optional[int] = ..., epoch: _Optional[int] = ..., takeover_phase: _Optional[str] = ..., agents_confirmed: _Optional[int] = ..., agents_required: _Optional[int] = ..., agents_registered: _Optional[int] = ..., agents_connected: _Optional[int] = ..., dispatch_forced: _Optional[bool] = ..., state: _Optional[_Union[StateSize, _Mapping]] = ...) -> None: ...

class StateSize(_message.Message):
    __slots__ = ("jobs", "job_versions", "runs", "runs_active", "calendars", "misfires", "audit_records", "idempotency_records", "state_bytes", "journal_entries")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    JOB_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    RUNS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CALENDARS_FIELD_NUMBER: _ClassVar[int]
    MISFIRES_FIELD_NUMBER: _ClassVar[int]
    AUDIT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_RECORDS_FIELD_NUMBER: _ClassVar[int]
    STATE_BYTES_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    jobs: int
    job_versions: int
    runs: int
    runs_active: int
    calendars: int
    misfires: int
    audit_records: int
    idempotency_records: int
    state_bytes: int
    journal_entries: int
    def __init__(self, jobs: _Optional[int] = ..., job_versions: _Optional[int] = ..., runs: _Optional[int] = ..., runs_active: _Optional[int] = ..., calendars: _Optional[int] = ..., misfires: _Optional[int] = ..., audit_records: _Optional[int] = ..., idempotency_records: _Optional[int] = ..., state_bytes: _Optional[int] = ..., journal_entries: _Optional[int] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("member", "idempotency_key")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    member: _commands_pb2.Member
    idempotency_key: str
    def __init__(self, member: _Optional[_Union[_commands_pb2.Member, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("id", "idempotency_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    idempotency_key: str
    def __init__(self, id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class MembershipResponse(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[_commands_pb2.Member]
    def __init__(self, members: _Optional[_Iterable[_Union[_commands_pb2.Member, _Mapping]]] = ...) -> None: ...

class TransferLeaderRequest(_message.Message):
    __slots__ = ("target_id",)
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    target_id: str
    def __init__(self, target_id: _Optional[str] = ...) -> None: ...

class TransferLeaderResponse(_message.Message):
    __slots__ = ("leader_id",)
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    leader_id: str
    def __init__(self, leader_id: _Optional[str] = ...) -> None: ...

class DigestRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DigestResponse(_message.Message):
    __slots__ = ("applied_index", "digest", "self_id")
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SELF_ID_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    digest: str
    self_id: str
    def __init__(self, applied_index: _Optional[int] = ..., digest: _Optional[str] = ..., self_id: _Optional[str] = ...) -> None: ...

class NoopRequest(_message.Message):
    __slots__ = ("payload", "idempotency_key")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    idempotency_key: str
    def __init__(self, payload: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class NoopResponse(_message.Message):
    __slots__ = ("raft_index",)
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    raft_index: int
    def __init__(self, raft_index: _Optional[int] = ...) -> None: ...

class TriggerRunRequest(_message.Message):
    __slots__ = ("job_name", "params", "idempotency_key")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    job_name: str
    params: _containers.ScalarMap[str, str]
    idempotency_key: str
    def __init__(self, job_name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("job_name", "state", "page_size", "page_token", "domain", "agent_id", "created_from_ms", "created_before_ms")
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    job_name: str
    state: _runs_pb2.RunState
    page_size: int
    page_token: str
    domain: str
    agent_id: str
    created_from_ms: int
    created_before_ms: int
    def __init__(self, job_name: _Optional[str] = ..., state: _Optional[_Union[_runs_pb2.RunState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., domain: _Optional[str] = ..., agent_id: _Optional[str] = ..., created_from_ms: _Optional[int] = ..., created_before_ms: _Optional[int] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[_runs_pb2.Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[_runs_pb2.Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class KillRunRequest(_message.Message):
    __slots__ = ("run_id", "idempotency_key")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    idempotency_key: str
    def __init__(self, run_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetRunLogsRequest(_message.Message):
    __slots__ = ("run_id", "attempt", "offset", "limit")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    attempt: int
    offset: int
    limit: int
    def __init__(self, run_id: _Optional[str] = ..., attempt: _Optional[int] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class GetRunLogsResponse(_message.Message):
    __slots__ = ("data", "next_offset", "complete", "source", "state", "agent_id", "missing")
    DATA_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    next_offset: int
    complete: bool
    source: str
    state: _runs_pb2.RunState
    agent_id: str
    missing: str
    def __init__(self, data: _Optional[bytes] = ..., next_offset: _Optional[int] = ..., complete: _Optional[bool] = ..., source: _Optional[str] = ..., state: _Optional[_Union[_runs_pb2.RunState, str]] = ..., agent_id: _Optional[str] = ..., missing: _Optional[str] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentStatus(_message.Message):
    __slots__ = ("agent", "connected", "confirmed", "running", "free_slots", "last_heard_s")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARD_S_FIELD_NUMBER: _ClassVar[int]
    agent: _runs_pb2.Agent
    connected: bool
    confirmed: bool
    running: int
    free_slots: int
    last_heard_s: float
    def __init__(self, agent: _Optional[_Union[_runs_pb2.Agent, _Mapping]] = ..., connected: _Optional[bool] = ..., confirmed: _Optional[bool] = ..., running: _Optional[int] = ..., free_slots: _Optional[int] = ..., last_heard_s: _Optional[float] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "answered_by", "role")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentStatus]
    answered_by: str
    role: str
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentStatus, _Mapping]]] = ..., answered_by: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class ForceDispatchRequest(_message.Message):
    __slots__ = ("reason", "operator")
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    reason: str
    operator: str
    def __init__(self, reason: _Optional[str] = ..., operator: _Optional[str] = ...) -> None: ...

class ForceDispatchResponse(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class EmitEventRequest(_message.Message):
    __slots__ = ("name", "params", "idempotency_key")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, str]
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EmitEventResponse(_message.Message):
    __slots__ = ("run_ids", "raft_index")
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    raft_index: int
    def __init__(self, run_ids: _Optional[_Iterable[str]] = ..., raft_index: _Optional[int] = ...) -> None: ...

class SummarizeRequest(_message.Message):
    __slots__ = ("days", "hours_of_day")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    HOURS_OF_DAY_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedScalarFieldContainer[str]
    hours_of_day: str
    def __init__(self, days: _Optional[_Iterable[str]] = ..., hours_of_day: _Optional[str] = ...) -> None: ...

class DaySummary(_message.Message):
    __slots__ = ("date", "runs_by_state")
    class RunsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DATE_FIELD_NUMBER: _ClassVar[int]
    RUNS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    date: str
    runs_by_state: _containers.ScalarMap[str, int]
    def __init__(self, date: _Optional[str] = ..., runs_by_state: _Optional[_Mapping[str, int]] = ...) -> None: ...

class HourSummary(_message.Message):
    __slots__ = ("hour", "created", "fired")
    HOUR_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    FIRED_FIELD_NUMBER: _ClassVar[int]
    hour: str
    created: int
    fired: int
    def __init__(self, hour: _Optional[str] = ..., created: _Optional[int] = ..., fired: _Optional[int] = ...) -> None: ...

class DomainSummary(_message.Message):
    __slots__ = ("domain", "jobs", "workflows", "runs_by_state", "days", "hours")
    class RunsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    RUNS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    jobs: int
    workflows: int
    runs_by_state: _containers.ScalarMap[str, int]
    days: _containers.RepeatedCompositeFieldContainer[DaySummary]
    hours: _containers.RepeatedCompositeFieldContainer[HourSummary]
    def __init__(self, domain: _Optional[str] = ..., jobs: _Optional[int] = ..., workflows: _Optional[int] = ..., runs_by_state: _Optional[_Mapping[str, int]] = ..., days: _Optional[_Iterable[_Union[DaySummary, _Mapping]]] = ..., hours: _Optional[_Iterable[_Union[HourSummary, _Mapping]]] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("raft_index", "domains", "total")
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    raft_index: int
    domains: _containers.RepeatedCompositeFieldContainer[DomainSummary]
    total: DomainSummary
    def __init__(self, raft_index: _Optional[int] = ..., domains: _Optional[_Iterable[_Union[DomainSummary, _Mapping]]] = ..., total: _Optional[_Union[DomainSummary, _Mapping]] = ...) -> None: ...

class ReportRunsRequest(_message.Message):
    __slots__ = ("by", "from_ms", "to_ms", "bucket", "domain", "time_zone", "max_runs")
    BY_FIELD_NUMBER: _ClassVar[int]
    FROM_MS_FIELD_NUMBER: _ClassVar[int]
    TO_MS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNS_FIELD_NUMBER: _ClassVar[int]
    by: str
    from_ms: int
    to_ms: int
    bucket: str
    domain: str
    time_zone: str
    max_runs: int
    def __init__(self, by: _Optional[str] = ..., from_ms: _Optional[int] = ..., to_ms: _Optional[int] = ..., bucket: _Optional[str] = ..., domain: _Optional[str] = ..., time_zone: _Optional[str] = ..., max_runs: _Optional[int] = ...) -> None: ...

class RunReportRow(_message.Message):
    __slots__ = ("key", "bucket_start_ms", "bucket_end_ms", "runs", "succeeded", "failed", "timed_out", "killed", "skipped", "unfinished", "success_rate", "durations", "duration_p50_ms", "duration_p95_ms", "duration_max_ms", "failure_classes")
    class FailureClassesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_START_MS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_END_MS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    KILLED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    UNFINISHED_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    DURATIONS_FIELD_NUMBER: _ClassVar[int]
    DURATION_P50_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_P95_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CLASSES_FIELD_NUMBER: _ClassVar[int]
    key: str
    bucket_start_ms: int
    bucket_end_ms: int
    runs: int
    succeeded: int
    failed: int
    timed_out: int
    killed: int
    skipped: int
    unfinished: int
    success_rate: float
    durations: int
    duration_p50_ms: int
    duration_p95_ms: int
    duration_max_ms: int
    failure_classes: _containers.ScalarMap[str, int]
    def __init__(self, key: _Optional[str] = ..., bucket_start_ms: _Optional[int] = ..., bucket_end_ms: _Optional[int] = ..., runs: _Optional[int] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., timed_out: _Optional[int] = ..., killed: _Optional[int] = ..., skipped: _Optional[int] = ..., unfinished: _Optional[int] = ..., success_rate: _Optional[float] = ..., durations: _Optional[int] = ..., duration_p50_ms: _Optional[int] = ..., duration_p95_ms: _Optional[int] = ..., duration_max_ms: _Optional[int] = ..., failure_classes: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RunReport(_message.Message):
    __slots__ = ("by", "bucket", "from_ms", "to_ms", "time_zone", "rows", "total", "truncated", "covered_to_ms")
    BY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    FROM_MS_FIELD_NUMBER: _ClassVar[int]
    TO_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    COVERED_TO_MS_FIELD_NUMBER: _ClassVar[int]
    by: str
    bucket: str
    from_ms: int
    to_ms: int
    time_zone: str
    rows: _containers.RepeatedCompositeFieldContainer[RunReportRow]
    total: RunReportRow
    truncated: bool
    covered_to_ms: int
    def __init__(self, by: _Optional[str] = ..., bucket: _Optional[str] = ..., from_ms: _Optional[int] = ..., to_ms: _Optional[int] = ..., time_zone: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[RunReportRow, _Mapping]]] = ..., total: _Optional[_Union[RunReportRow, _Mapping]] = ..., truncated: _Optional[bool] = ..., covered_to_ms: _Optional[int] = ...) -> None: ...

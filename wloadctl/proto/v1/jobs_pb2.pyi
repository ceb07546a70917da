from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NonWorkingDayPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NON_WORKING_SKIP: _ClassVar[NonWorkingDayPolicy]
    NON_WORKING_NEXT: _ClassVar[NonWorkingDayPolicy]
    NON_WORKING_PREVIOUS: _ClassVar[NonWorkingDayPolicy]

class DstGapPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DST_GAP_SHIFT: _ClassVar[DstGapPolicy]
    DST_GAP_SKIP: _ClassVar[DstGapPolicy]

class DstRepeatPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DST_REPEAT_ONCE: _ClassVar[DstRepeatPolicy]
    DST_REPEAT_TWICE: _ClassVar[DstRepeatPolicy]

class MisfireAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MISFIRE_RUN_LATEST: _ClassVar[MisfireAction]
    MISFIRE_SKIP: _ClassVar[MisfireAction]
    MISFIRE_RUN_ALL: _ClassVar[MisfireAction]

class OverlapPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERLAP_ALLOW: _ClassVar[OverlapPolicy]
    OVERLAP_FORBID: _ClassVar[OverlapPolicy]
    OVERLAP_REPLACE: _ClassVar[OverlapPolicy]
    OVERLAP_BUFFER_ONE: _ClassVar[OverlapPolicy]
    OVERLAP_BUFFER_ALL: _ClassVar[OverlapPolicy]

class TaskType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND: _ClassVar[TaskType]
    EMPTY: _ClassVar[TaskType]

class LostPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETRY: _ClassVar[LostPolicy]
    FAIL: _ClassVar[LostPolicy]
NON_WORKING_SKIP: NonWorkingDayPolicy
NON_WORKING_NEXT: NonWorkingDayPolicy
NON_WORKING_PREVIOUS: NonWorkingDayPolicy
DST_GAP_SHIFT: DstGapPolicy
DST_GAP_SKIP: DstGapPolicy
DST_REPEAT_ONCE: DstRepeatPolicy
DST_REPEAT_TWICE: DstRepeatPolicy
MISFIRE_RUN_LATEST: MisfireAction
MISFIRE_SKIP: MisfireAction
MISFIRE_RUN_ALL: MisfireAction
OVERLAP_ALLOW: OverlapPolicy
OVERLAP_FORBID: OverlapPolicy
OVERLAP_REPLACE: OverlapPolicy
OVERLAP_BUFFER_ONE: OverlapPolicy
OVERLAP_BUFFER_ALL: OverlapPolicy
COMMAND: TaskType
EMPTY: TaskType
RETRY: LostPolicy
FAIL: LostPolicy

class JobSpec(_message.Message):
    __slots__ = ("name", "domain", "description", "labels", "command", "env", "working_dir", "timeout_seconds", "agent_selector", "lost_policy", "max_attempts", "task_type", "run_as", "secret_env", "schedules", "time_zone", "start_ms", "end_ms", "jitter_seconds", "dst_gap", "dst_repeat", "misfire", "overlap", "suspended", "calendars", "non_working_day", "business_day_start_minutes", "events", "keep_runs", "keep_runs_seconds", "file_triggers")
    class LabelsEntry(_message.Message):
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
    class AgentSelectorEntry(_message.Message):
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
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AGENT_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    LOST_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    RUN_AS_FIELD_NUMBER: _ClassVar[int]
    SECRET_ENV_FIELD_NUMBER: _ClassVar[int]
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    JITTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DST_GAP_FIELD_NUMBER: _ClassVar[int]
    DST_REPEAT_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    CALENDARS_FIELD_NUMBER: _ClassVar[int]
    NON_WORKING_DAY_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_DAY_START_MINUTES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    KEEP_RUNS_FIELD_NUMBER: _ClassVar[int]
    KEEP_RUNS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FILE_TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: str
    description: str
    labels: _containers.ScalarMap[str, str]
    command: JobCommand
    env: _containers.ScalarMap[str, str]
    working_dir: str
    timeout_seconds: int
    agent_selector: _containers.ScalarMap[str, str]
    lost_policy: LostPolicy
    max_attempts: int
    task_type: TaskType
    run_as: str
    secret_env: _containers.ScalarMap[str, str]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    time_zone: str
    start_ms: int
    end_ms: int
    jitter_seconds: int
    dst_gap: DstGapPolicy
    dst_repeat: DstRepeatPolicy
    misfire: MisfirePolicy
    overlap: OverlapPolicy
    suspended: bool
    calendars: _containers.RepeatedScalarFieldContainer[str]
    non_working_day: NonWorkingDayPolicy
    business_day_start_minutes: int
    events: _containers.RepeatedCompositeFieldContainer[EventTrigger]
    keep_runs: int
    keep_runs_seconds: int
    file_triggers: _containers.RepeatedCompositeFieldContainer[FileTrigger]
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., command: _Optional[_Union[JobCommand, _Mapping]] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ..., timeout_seconds: _Optional[int] = ..., agent_selector: _Optional[_Mapping[str, str]] = ..., lost_policy: _Optional[_Union[LostPolicy, str]] = ..., max_attempts: _Optional[int] = ..., task_type: _Optional[_Union[TaskType, str]] = ..., run_as: _Optional[str] = ..., secret_env: _Optional[_Mapping[str, str]] = ..., schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ..., time_zone: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., jitter_seconds: _Optional[int] = ..., dst_gap: _Optional[_Union[DstGapPolicy, str]] = ..., dst_repeat: _Optional[_Union[DstRepeatPolicy, str]] = ..., misfire: _Optional[_Union[MisfirePolicy, _Mapping]] = ..., overlap: _Optional[_Union[OverlapPolicy, str]] = ..., suspended: _Optional[bool] = ..., calendars: _Optional[_Iterable[str]] = ..., non_working_day: _Optional[_Union[NonWorkingDayPolicy, str]] = ..., business_day_start_minutes: _Optional[int] = ..., events: _Optional[_Iterable[_Union[EventTrigger, _Mapping]]] = ..., keep_runs: _Optional[int] = ..., keep_runs_seconds: _Optional[int] = ..., file_triggers: _Optional[_Iterable[_Union[FileTrigger, _Mapping]]] = ...) -> None: ...

class FileTrigger(_message.Message):
    __slots__ = ("directory", "glob", "stable_ms", "param", "include_existing")
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    GLOB_FIELD_NUMBER: _ClassVar[int]
    STABLE_MS_FIELD_NUMBER: _ClassVar[int]
    PARAM_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXISTING_FIELD_NUMBER: _ClassVar[int]
    directory: str
    glob: str
    stable_ms: int
    param: str
    include_existing: bool
    def __init__(self, directory: _Optional[str] = ..., glob: _Optional[str] = ..., stable_ms: _Optional[int] = ..., param: _Optional[str] = ..., include_existing: _Optional[bool] = ...) -> None: ...

class EventTrigger(_message.Message):
    __slots__ = ("name", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CalendarSpec(_message.Message):
    __slots__ = ("name", "description", "working_weekdays", "holidays", "include", "exclude")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WORKING_WEEKDAYS_FIELD_NUMBER: _ClassVar[int]
    HOLIDAYS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    working_weekdays: _containers.RepeatedScalarFieldContainer[int]
    holidays: _containers.RepeatedScalarFieldContainer[str]
    include: _containers.RepeatedScalarFieldContainer[str]
    exclude: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., working_weekdays: _Optional[_Iterable[int]] = ..., holidays: _Optional[_Iterable[str]] = ..., include: _Optional[_Iterable[str]] = ..., exclude: _Optional[_Iterable[str]] = ...) -> None: ...

class CalendarVersion(_message.Message):
    __slots__ = ("spec", "version", "created_ms", "raft_index", "deleted")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    spec: CalendarSpec
    version: int
    created_ms: int
    raft_index: int
    deleted: bool
    def __init__(self, spec: _Optional[_Union[CalendarSpec, _Mapping]] = ..., version: _Optional[int] = ..., created_ms: _Optional[int] = ..., raft_index: _Optional[int] = ..., deleted: _Optional[bool] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("cron", "every_seconds", "at_ms")
    CRON_FIELD_NUMBER: _ClassVar[int]
    EVERY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    cron: str
    every_seconds: int
    at_ms: int
    def __init__(self, cron: _Optional[str] = ..., every_seconds: _Optional[int] = ..., at_ms: _Optional[int] = ...) -> None: ...

class MisfirePolicy(_message.Message):
    __slots__ = ("action", "grace_seconds", "window_seconds", "max_count")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_COUNT_FIELD_NUMBER: _ClassVar[int]
    action: MisfireAction
    grace_seconds: int
    window_seconds: int
    max_count: int
    def __init__(self, action: _Optional[_Union[MisfireAction, str]] = ..., grace_seconds: _Optional[int] = ..., window_seconds: _Optional[int] = ..., max_count: _Optional[int] = ...) -> None: ...

class ScheduleState(_message.Message):
    __slots__ = ("job_name", "job_version", "next_slot_ms", "next_due_ms", "last_slot_ms", "last_run_id", "fired", "misfired", "buffered")
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEXT_SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FIRED_FIELD_NUMBER: _ClassVar[int]
    MISFIRED_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_FIELD_NUMBER: _ClassVar[int]
    job_name: str
    job_version: int
    next_slot_ms: int
    next_due_ms: int
    last_slot_ms: int
    last_run_id: str
    fired: int
    misfired: int
    buffered: int
    def __init__(self, job_name: _Optional[str] = ..., job_version: _Optional[int] = ..., next_slot_ms: _Optional[int] = ..., next_due_ms: _Optional[int] = ..., last_slot_ms: _Optional[int] = ..., last_run_id: _Optional[str] = ..., fired: _Optional[int] = ..., misfired: _Optional[int] = ..., buffered: _Optional[int] = ...) -> None: ...

class Misfire(_message.Message):
    __slots__ = ("seq", "job_name", "first_slot_ms", "last_slot_ms", "count", "reason", "detail", "recorded_ms", "job_version")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    FIRST_SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    RECORDED_MS_FIELD_NUMBER: _ClassVar[int]
    JOB_VERSION_FIELD_NUMBER: _ClassVar[int]
    seq: int
    job_name: str
    first_slot_ms: int
    last_slot_ms: int
    count: int
    reason: str
    detail: str
    recorded_ms: int
    job_version: int
    def __init__(self, seq: _Optional[int] = ..., job_name: _Optional[str] = ..., first_slot_ms: _Optional[int] = ..., last_slot_ms: _Optional[int] = ..., count: _Optional[int] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., recorded_ms: _Optional[int] = ..., job_version: _Optional[int] = ...) -> None: ...

class JobCommand(_message.Message):
    __slots__ = ("argv", "shell")
    ARGV_FIELD_NUMBER: _ClassVar[int]
    SHELL_FIELD_NUMBER: _ClassVar[int]
    argv: ArgvCommand
    shell: str
    def __init__(self, argv: _Optional[_Union[ArgvCommand, _Mapping]] = ..., shell: _Optional[str] = ...) -> None: ...

class ArgvCommand(_message.Message):
    __slots__ = ("args",)
    ARGS_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, args: _Optional[_Iterable[str]] = ...) -> None: ...

class JobVersion(_message.Message):
    __slots__ = ("spec", "version", "created_ms", "raft_index", "deleted")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    version: int
    created_ms: int
    raft_index: int
    deleted: bool
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., version: _Optional[int] = ..., created_ms: _Optional[int] = ..., raft_index: _Optional[int] = ..., deleted: _Optional[bool] = ...) -> None: ...

class JobRef(_message.Message):
    __slots__ = ("name", "version", "changed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    changed: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., changed: _Optional[bool] = ...) -> None: ...

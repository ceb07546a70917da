from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMAND: _ClassVar[TaskType]
    EMPTY: _ClassVar[TaskType]

class LostPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETRY: _ClassVar[LostPolicy]
    FAIL: _ClassVar[LostPolicy]
COMMAND: TaskType
EMPTY: TaskType
RETRY: LostPolicy
FAIL: LostPolicy

class JobSpec(_message.Message):
    __slots__ = ("name", "domain", "description", "labels", "command", "env", "working_dir", "timeout_seconds", "agent_selector", "lost_policy", "max_attempts", "task_type", "run_as", "secret_env")
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
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., command: _Optional[_Union[JobCommand, _Mapping]] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ..., timeout_seconds: _Optional[int] = ..., agent_selector: _Optional[_Mapping[str, str]] = ..., lost_policy: _Optional[_Union[LostPolicy, str]] = ..., max_attempts: _Optional[int] = ..., task_type: _Optional[_Union[TaskType, str]] = ..., run_as: _Optional[str] = ..., secret_env: _Optional[_Mapping[str, str]] = ...) -> None: ...

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

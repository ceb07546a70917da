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
ALL_SUCCEEDED: TriggerRule
ALL_DONE: TriggerRule
ANY_FAILED: TriggerRule
ANY_SUCCEEDED: TriggerRule
NONE_FAILED: TriggerRule
ALWAYS: TriggerRule

class WorkflowTask(_message.Message):
    __slots__ = ("name", "command", "job", "depends_on", "trigger_rule", "agent_selector", "timeout_seconds", "run_as", "env", "working_dir", "description")
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
    def __init__(self, name: _Optional[str] = ..., command: _Optional[_Union[_jobs_pb2.JobCommand, _Mapping]] = ..., job: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., trigger_rule: _Optional[_Union[TriggerRule, str]] = ..., agent_selector: _Optional[_Mapping[str, str]] = ..., timeout_seconds: _Optional[int] = ..., run_as: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class WorkflowSpec(_message.Message):
    __slots__ = ("name", "domain", "description", "labels", "params", "tasks")
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
    name: str
    domain: str
    description: str
    labels: _containers.ScalarMap[str, str]
    params: _containers.ScalarMap[str, str]
    tasks: _containers.RepeatedCompositeFieldContainer[WorkflowTask]
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., params: _Optional[_Mapping[str, str]] = ..., tasks: _Optional[_Iterable[_Union[WorkflowTask, _Mapping]]] = ...) -> None: ...

from wloadctl.proto.v1 import jobs_pb2 as _jobs_pb2
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
    __slots__ = ("idempotency_key", "apply_jobs", "delete_job", "set_member", "remove_member", "noop", "bootstrap")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    APPLY_JOBS_FIELD_NUMBER: _ClassVar[int]
    DELETE_JOB_FIELD_NUMBER: _ClassVar[int]
    SET_MEMBER_FIELD_NUMBER: _ClassVar[int]
    REMOVE_MEMBER_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    apply_jobs: ApplyJobs
    delete_job: DeleteJob
    set_member: SetMember
    remove_member: RemoveMember
    noop: Noop
    bootstrap: Bootstrap
    def __init__(self, idempotency_key: _Optional[str] = ..., apply_jobs: _Optional[_Union[ApplyJobs, _Mapping]] = ..., delete_job: _Optional[_Union[DeleteJob, _Mapping]] = ..., set_member: _Optional[_Union[SetMember, _Mapping]] = ..., remove_member: _Optional[_Union[RemoveMember, _Mapping]] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ..., bootstrap: _Optional[_Union[Bootstrap, _Mapping]] = ...) -> None: ...

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

class CommandResult(_message.Message):
    __slots__ = ("code", "message", "jobs", "raft_index")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobRef]
    raft_index: int
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., jobs: _Optional[_Iterable[_Union[_jobs_pb2.JobRef, _Mapping]]] = ..., raft_index: _Optional[int] = ...) -> None: ...

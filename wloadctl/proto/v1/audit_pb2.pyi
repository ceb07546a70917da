from wloadctl.proto.v1 import auth_pb2 as _auth_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditRecord(_message.Message):
    __slots__ = ("seq", "time_ms", "actor", "operation", "content", "result_code", "result", "resources", "before", "after", "raft_index", "approved_by", "prev_hash", "hash")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_CODE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    RAFT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    time_ms: int
    actor: _auth_pb2.Actor
    operation: str
    content: str
    result_code: int
    result: str
    resources: _containers.RepeatedScalarFieldContainer[str]
    before: str
    after: str
    raft_index: int
    approved_by: str
    prev_hash: bytes
    hash: bytes
    def __init__(self, seq: _Optional[int] = ..., time_ms: _Optional[int] = ..., actor: _Optional[_Union[_auth_pb2.Actor, _Mapping]] = ..., operation: _Optional[str] = ..., content: _Optional[str] = ..., result_code: _Optional[int] = ..., result: _Optional[str] = ..., resources: _Optional[_Iterable[str]] = ..., before: _Optional[str] = ..., after: _Optional[str] = ..., raft_index: _Optional[int] = ..., approved_by: _Optional[str] = ..., prev_hash: _Optional[bytes] = ..., hash: _Optional[bytes] = ...) -> None: ...

class RecordAudit(_message.Message):
    __slots__ = ("operation", "content", "result_code", "result", "resources")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_CODE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    operation: str
    content: str
    result_code: int
    result: str
    resources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, operation: _Optional[str] = ..., content: _Optional[str] = ..., result_code: _Optional[int] = ..., result: _Optional[str] = ..., resources: _Optional[_Iterable[str]] = ...) -> None: ...

class ReportEventRequest(_message.Message):
    __slots__ = ("event", "actor")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    event: RecordAudit
    actor: _auth_pb2.Actor
    def __init__(self, event: _Optional[_Union[RecordAudit, _Mapping]] = ..., actor: _Optional[_Union[_auth_pb2.Actor, _Mapping]] = ...) -> None: ...

class ReportEventResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("user", "since_ms", "until_ms", "operation", "resource", "page_size", "after_seq")
    USER_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    user: str
    since_ms: int
    until_ms: int
    operation: str
    resource: str
    page_size: int
    after_seq: int
    def __init__(self, user: _Optional[str] = ..., since_ms: _Optional[int] = ..., until_ms: _Optional[int] = ..., operation: _Optional[str] = ..., resource: _Optional[str] = ..., page_size: _Optional[int] = ..., after_seq: _Optional[int] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("records", "next_after_seq")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    next_after_seq: int
    def __init__(self, records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ..., next_after_seq: _Optional[int] = ...) -> None: ...

class VerifyAuditRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyAuditResponse(_message.Message):
    __slots__ = ("ok", "records", "first_seq", "last_seq", "broken_seq", "problem", "self_id")
    OK_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    BROKEN_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    SELF_ID_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    records: int
    first_seq: int
    last_seq: int
    broken_seq: int
    problem: str
    self_id: str
    def __init__(self, ok: _Optional[bool] = ..., records: _Optional[int] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., broken_seq: _Optional[int] = ..., problem: _Optional[str] = ..., self_id: _Optional[str] = ...) -> None: ...

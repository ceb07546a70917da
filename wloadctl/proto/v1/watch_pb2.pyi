from wloadctl.proto.v1 import api_pb2 as _api_pb2
from wloadctl.proto.v1 import jobs_pb2 as _jobs_pb2
from wloadctl.proto.v1 import runs_pb2 as _runs_pb2
from wloadctl.proto.v1 import workflows_pb2 as _workflows_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchRunsRequest(_message.Message):
    __slots__ = ("run_id", "job_name", "workflow_run_id", "workflow_name", "states", "domain", "from_index", "snapshot_limit")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_NAME_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    job_name: str
    workflow_run_id: str
    workflow_name: str
    states: _containers.RepeatedScalarFieldContainer[_runs_pb2.RunState]
    domain: str
    from_index: int
    snapshot_limit: int
    def __init__(self, run_id: _Optional[str] = ..., job_name: _Optional[str] = ..., workflow_run_id: _Optional[str] = ..., workflow_name: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_runs_pb2.RunState, str]]] = ..., domain: _Optional[str] = ..., from_index: _Optional[int] = ..., snapshot_limit: _Optional[int] = ...) -> None: ...

class WatchJobsRequest(_message.Message):
    __slots__ = ("name", "domain", "from_index")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    domain: str
    from_index: int
    def __init__(self, name: _Optional[str] = ..., domain: _Optional[str] = ..., from_index: _Optional[int] = ...) -> None: ...

class WatchWorkflowRunsRequest(_message.Message):
    __slots__ = ("run_id", "workflow_name", "from_index", "snapshot_limit")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    workflow_name: str
    from_index: int
    snapshot_limit: int
    def __init__(self, run_id: _Optional[str] = ..., workflow_name: _Optional[str] = ..., from_index: _Optional[int] = ..., snapshot_limit: _Optional[int] = ...) -> None: ...

class WatchAgentsRequest(_message.Message):
    __slots__ = ("agent_id", "from_index")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    from_index: int
    def __init__(self, agent_id: _Optional[str] = ..., from_index: _Optional[int] = ...) -> None: ...

class WatchClusterRequest(_message.Message):
    __slots__ = ("from_index",)
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    from_index: int
    def __init__(self, from_index: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[WatchEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[WatchEvent, _Mapping]]] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("type", "index", "key", "run", "job", "workflow_run", "agent", "cluster")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[WatchEvent.Type]
        SNAPSHOT: _ClassVar[WatchEvent.Type]
        SYNCED: _ClassVar[WatchEvent.Type]
        PUT: _ClassVar[WatchEvent.Type]
        DELETE: _ClassVar[WatchEvent.Type]
        BOOKMARK: _ClassVar[WatchEvent.Type]
    TYPE_UNSPECIFIED: WatchEvent.Type
    SNAPSHOT: WatchEvent.Type
    SYNCED: WatchEvent.Type
    PUT: WatchEvent.Type
    DELETE: WatchEvent.Type
    BOOKMARK: WatchEvent.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_RUN_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    type: WatchEvent.Type
    index: int
    key: str
    run: _runs_pb2.Run
    job: _jobs_pb2.JobVersion
    workflow_run: _workflows_pb2.WorkflowRun
    agent: _runs_pb2.Agent
    cluster: _api_pb2.ClusterStatus
    def __init__(self, type: _Optional[_Union[WatchEvent.Type, str]] = ..., index: _Optional[int] = ..., key: _Optional[str] = ..., run: _Optional[_Union[_runs_pb2.Run, _Mapping]] = ..., job: _Optional[_Union[_jobs_pb2.JobVersion, _Mapping]] = ..., workflow_run: _Optional[_Union[_workflows_pb2.WorkflowRun, _Mapping]] = ..., agent: _Optional[_Union[_runs_pb2.Agent, _Mapping]] = ..., cluster: _Optional[_Union[_api_pb2.ClusterStatus, _Mapping]] = ...) -> None: ...

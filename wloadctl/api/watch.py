"""WatchService: streams of the changes this replica applies (state/changes.py), filtered and
authorized like the listings they replace.

A stream starts with a snapshot of the current matches read in one transaction with the index it
reflects (after the linearizable read barrier, api/interceptors.py), or resumes after a given
index; then it follows the change feed. Events are encoded once per change and shared by every
stream that sends them, and a stream sends what accumulated since its last write in one message:
a hundred watchers cost a hundred writes per wake-up, not one per change each.

Bounds (replica config, [control]): at most watch_max_streams streams per replica
(RESOURCE_EXHAUSTED beyond); a message holds at most MAX_EVENTS_PER_MESSAGE events; a write the
consumer does not take within watch_send_timeout_seconds ends the stream with RESOURCE_EXHAUSTED,
and a stream whose position the feed (watch_feed_mib of recent changes) no longer holds ends with
OUT_OF_RANGE: in both cases the client lists again (or watches without from_index)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from wloadctl.api.authz import require, visible_domains
from wloadctl.api.context import ApiContext
from wloadctl.proto.v1 import api_pb2, jobs_pb2, runs_pb2, watch_pb2, watch_pb2_grpc
from wloadctl.security.permissions import Permission
from wloadctl.state.changes import AGENT, JOB, RUN, WORKFLOW_RUN, Change, ChangeFeed, FeedEntry, FeedGap

WE = watch_pb2.WatchEvent
MAX_EVENTS_PER_MESSAGE = 1000
BOOKMARK_EVERY_S = 2.0
RUN_SNAPSHOT_DEFAULT, RUN_SNAPSHOT_MAX = 1000, 10_000
WRUN_SNAPSHOT_DEFAULT, WRUN_SNAPSHOT_MAX = 100, 1000
# A cluster watch also looks at the replica's live view this often (connections, takeover phase).
CLUSTER_LOOK_S = 1.0


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(event: bytes) -> bytes:
    """``event`` (an encoded WatchEvent) as one element of WatchResponse.events (field 1)."""
    return b"\x0a" + _varint(len(event)) + event


def encode_event(kind: int, index: int, key: str, obj: Message | None = None, field: str = "") -> bytes:
    event = WE(type=kind, index=index, key=key)  # type: ignore[arg-type]
    if obj is not None:
        getattr(event, field).CopyFrom(obj)
    return frame(event.SerializeToString())


@dataclass
class _Cached:
    """What every stream needs of one change, computed once (the event loop only)."""

    obj: Any
    put: bytes
    delete: bytes


class WatchHub:
    """Wakes the streams when the feed grows; decodes and encodes each change once."""

    def __init__(self, feed: ChangeFeed, loop: asyncio.AbstractEventLoop, max_streams: int = 1000,
                 send_timeout_s: float = 10.0) -> None:
        self.feed = feed
        self.loop = loop
        self.max_streams = max_streams
        self.send_timeout_s = send_timeout_s
        self.count = 0
        self.opened = 0
        self.ended: dict[str, int] = {}
        self._event = asyncio.Event()
        self._scheduled = False
        self._cache: dict[tuple[int, str, str], _Cached] = {}
        self._cache_index = 0
        feed.listeners.append(self._on_append)

    def _on_append(self, index: int) -> None:
        # Raft thread. Many appends between two turns of the loop make one wake-up.
        if self.count and not self._scheduled:
            self._scheduled = True
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._scheduled = False
        event, self._event = self._event, asyncio.Event()
        event.set()

    def wake(self) -> None:
        """Wake every stream now (the cluster's live view changed: a new leader)."""
        self.loop.call_soon_threadsafe(self._wake)

    @property
    def event(self) -> asyncio.Event:
        return self._event

    def cached(self, entry: FeedEntry, change: Change, decode: Callable[[Change], tuple[Any, str]]) -> _Cached:
        key = (entry.index, change.kind, change.key)
        found = self._cache.get(key)
        if found is None:
            if entry.index > self._cache_index + 4096 or len(self._cache) > 200_000:
                # Streams read the feed in index order and within seconds of each other.
                self._cache = {k: v for k, v in self._cache.items() if k[0] > entry.index - 4096}
                self._cache_index = entry.index
            obj, field = decode(change) if change.data is not None else (None, "")
            found = _Cached(obj, encode_event(WE.PUT, entry.index, change.key, obj, field) if obj is not None else b"",
                            encode_event(WE.DELETE, entry.index, change.key))
            self._cache[key] = found
        return found


def _decode_run(change: Change) -> tuple[Any, str]:
    run = runs_pb2.Run.FromString(change.data or b"")
    run.ClearField("output_tail")
    return run, "run"


def _decode_job(change: Change) -> tuple[Any, str]:
    return jobs_pb2.JobVersion.FromString(change.data or b""), "job"


def _decode_agent(change: Change) -> tuple[Any, str]:
    return runs_pb2.Agent.FromString(change.data or b""), "agent"


class _Stream:
    """One open watch: its position in the feed and its writes."""

    def __init__(self, hub: WatchHub, context: grpc.aio.ServicerContext) -> None:
        self.hub, self.context = hub, context
        self.position = 0
        self.last_write = time.monotonic()
        self.announced = 0

    async def write(self, frames: list[bytes]) -> None:
        for i in range(0, len(frames), MAX_EVENTS_PER_MESSAGE):
            message = b"".join(frames[i:i + MAX_EVENTS_PER_MESSAGE])
            limit = self.hub.send_timeout_s
            try:
                await asyncio.wait_for(self.context.write(message), limit)
            except TimeoutError:
                self.hub.ended["slow"] = self.hub.ended.get("slow", 0) + 1
                await self.context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                         f"watch: the consumer took no message for {limit:g} s (too slow); list "
                                         f"again and watch from the new index")
        self.last_write = time.monotonic()

    async def snapshot(self, index: int, frames: Iterable[bytes]) -> None:
        self.position = self.announced = index
        await self.write([*frames, encode_event(WE.SYNCED, index, "")])

    async def follow(self, match: Callable[[FeedEntry, Change], bytes | None],
                     extra: Callable[[], bytes | None] | None = None) -> None:
        """Send what ``match`` gives for each change after the position, for ever."""
        hub = self.hub
        while True:
            event = hub.event
            try:
                entries, reached = hub.feed.since(self.position, MAX_EVENTS_PER_MESSAGE)
            except FeedGap as gap:
                hub.ended["gap"] = hub.ended.get("gap", 0) + 1
                await self.context.abort(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"watch: this replica no longer holds the changes after index {gap.index} (it holds those after "
                    f"{gap.first}: restarted, a snapshot installed, or the consumer fell behind); list again")
            frames = [f for entry in entries for change in entry.changes if (f := match(entry, change))]
            if extra is not None and (more := extra()):
                frames.append(more)
            self.position = reached
            if frames:
                self.announced = reached
                await self.write(frames)
            elif reached > self.announced and time.monotonic() - self.last_write >= BOOKMARK_EVERY_S:
                self.announced = reached
                await self.write([encode_event(WE.BOOKMARK, reached, "")])
            if len(entries) >= MAX_EVENTS_PER_MESSAGE:
                continue  # more is waiting
            timeout = CLUSTER_LOOK_S if extra is not None else BOOKMARK_EVERY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)


class WatchServicer(watch_pb2_grpc.WatchServiceServicer):
    def __init__(self, api: ApiContext, hub: WatchHub, cluster_status: Callable[[], api_pb2.ClusterStatus]) -> None:
        self.api = api
        self.hub = hub
        self.cluster_status = cluster_status

    @contextlib.asynccontextmanager
    async def _open(self, context: grpc.aio.ServicerContext, from_index: int) -> Any:
        hub = self.hub
        if hub.count >= hub.max_streams:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"watch: this replica serves at most {hub.max_streams} watches (control."
                                f"watch_max_streams); try another replica")
        hub.count += 1
        hub.opened += 1
        try:
            stream = _Stream(hub, context)
            # An index not applied here yet (seen on another replica) is a fine position: the
            # feed gives what comes after it once it arrives.
            stream.position = stream.announced = from_index
            yield stream
        finally:
            hub.count -= 1

    # ---- runs

    async def WatchRuns(self, request: watch_pb2.WatchRunsRequest, context: grpc.aio.ServicerContext) -> None:
        for state in request.states:
            if state not in runs_pb2.RunState.values():
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"states: unknown value {state}")
        if request.snapshot_limit > RUN_SNAPSHOT_MAX:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"snapshot_limit: at most {RUN_SNAPSHOT_MAX}")
        if request.domain:
            await require(context, Permission.RUN_READ, request.domain)
        visible = visible_domains(Permission.RUN_READ)
        if visible is not None and not visible:
            await require(context, Permission.RUN_READ)
        states = frozenset(request.states)
        prefix = request.workflow_name + "." if request.workflow_name else ""

        def selected(run: runs_pb2.Run) -> bool:
            """Matches every filter but the states (leaving those is a DELETE)."""
            return ((not request.run_id or run.run_id == request.run_id)
                    and (not request.job_name or run.job_name == request.job_name)
                    and (not request.workflow_run_id or run.workflow_run_id == request.workflow_run_id)
                    and (not prefix or (bool(run.workflow_run_id) and run.job_name.startswith(prefix)))
                    and (not request.domain or run.spec.domain == request.domain)
                    and (visible is None or run.spec.domain in visible))

        def match(entry: FeedEntry, change: Change) -> bytes | None:
            if change.kind != RUN or (request.run_id and change.key != request.run_id):
                return None
            cached = self.hub.cached(entry, change, _decode_run)
            run = cached.obj
            if run is None:  # pruned: say so to whoever may have listed it (no domain to check)
                return cached.delete if not (request.domain or visible is not None) else None
            if not selected(run):
                return None
            return cached.put if not states or run.state in states else cached.delete

        async with self._open(context, request.from_index) as stream:
            if not request.from_index:
                if request.run_id:
                    index, one = await asyncio.to_thread(self.api.store.snapshot_run, request.run_id)
                    runs = [one] if one is not None else []
                else:
                    index, runs = await asyncio.to_thread(self.api.store.snapshot_runs, request.job_name,
                                                          request.snapshot_limit or RUN_SNAPSHOT_DEFAULT)
                await stream.snapshot(index, (encode_event(WE.SNAPSHOT, index, r.run_id, r, "run") for r in runs
                                              if selected(r) and (not states or r.state in states)))
            await stream.follow(match)

    # ---- jobs

    async def WatchJobs(self, request: watch_pb2.WatchJobsRequest, context: grpc.aio.ServicerContext) -> None:
        if request.domain:
            await require(context, Permission.JOB_READ, request.domain)
        visible = visible_domains(Permission.JOB_READ)
        if visible is not None and not visible:
            await require(context, Permission.JOB_READ)

        def selected(job: jobs_pb2.JobVersion) -> bool:
            return ((not request.domain or job.spec.domain == request.domain)
                    and (visible is None or job.spec.domain in visible))

        def match(entry: FeedEntry, change: Change) -> bytes | None:
            if change.kind != JOB or (request.name and change.key != request.name):
                return None
            cached = self.hub.cached(entry, change, _decode_job)
            if cached.obj is None:
                return cached.delete if not (request.domain or visible is not None) else None
            return cached.put if selected(cached.obj) else None

        async with self._open(context, request.from_index) as stream:
            if not request.from_index:
                index, jobs = await asyncio.to_thread(self.api.store.snapshot_jobs, request.name)
                await stream.snapshot(index, (encode_event(WE.SNAPSHOT, index, j.spec.name, j, "job")
                                              for j in jobs if selected(j)))
            await stream.follow(match)

    # ---- workflow runs

    async def WatchWorkflowRuns(self, request: watch_pb2.WatchWorkflowRunsRequest,
                                context: grpc.aio.ServicerContext) -> None:
        if request.snapshot_limit > WRUN_SNAPSHOT_MAX:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"snapshot_limit: at most {WRUN_SNAPSHOT_MAX}")
        visible = visible_domains(Permission.RUN_READ)
        if visible is not None and not visible:
            await require(context, Permission.RUN_READ)
        store = self.api.store

        def decode(change: Change) -> tuple[Any, str]:
            # A workflow run's change names it: the run is read whole (with its tasks) once per
            # change, at least as new as the entry.
            return store.get_workflow_run(change.key), "workflow_run"

        def match(entry: FeedEntry, change: Change) -> bytes | None:
            if change.kind != WORKFLOW_RUN or (request.run_id and change.key != request.run_id):
                return None
            cached = self.hub.cached(entry, change, decode)
            wrun = cached.obj
            if wrun is None:
                return cached.delete if visible is None else None
            if request.workflow_name and wrun.workflow_name != request.workflow_name:
                return None
            return cached.put if visible is None or wrun.domain in visible else None

        async with self._open(context, request.from_index) as stream:
            if not request.from_index:
                index, wruns = await asyncio.to_thread(store.snapshot_workflow_runs, request.run_id,
                                                       request.workflow_name,
                                                       request.snapshot_limit or WRUN_SNAPSHOT_DEFAULT)
                await stream.snapshot(index, (encode_event(WE.SNAPSHOT, index, w.id, w, "workflow_run") for w in wruns
                                              if (visible is None or w.domain in visible)
                                              and (not request.workflow_name
                                                   or w.workflow_name == request.workflow_name)))
            await stream.follow(match)

    # ---- agents and the cluster

    async def WatchAgents(self, request: watch_pb2.WatchAgentsRequest, context: grpc.aio.ServicerContext) -> None:
        def match(entry: FeedEntry, change: Change) -> bytes | None:
            if change.kind != AGENT or (request.agent_id and change.key != request.agent_id):
                return None
            cached = self.hub.cached(entry, change, _decode_agent)
            return cached.put if cached.obj is not None else cached.delete

        async with self._open(context, request.from_index) as stream:
            if not request.from_index:
                index, agents = await asyncio.to_thread(self.api.store.snapshot_agents)
                await stream.snapshot(index, (encode_event(WE.SNAPSHOT, index, a.agent_id, a, "agent") for a in agents
                                              if not request.agent_id or a.agent_id == request.agent_id))
            await stream.follow(match)

    async def WatchCluster(self, request: watch_pb2.WatchClusterRequest, context: grpc.aio.ServicerContext) -> None:
        """The cluster status whenever what it says changes: leader, term, roles, members and their
        connections, quorum, epoch and takeover (not every index or lag figure)."""
        last: list[bytes] = [b""]

        def changed() -> bytes | None:
            status = self.cluster_status()
            signature = _status_signature(status)
            if signature == last[0]:
                return None
            last[0] = signature
            return encode_event(WE.PUT, status.applied_index, status.self_id, status, "cluster")

        def match(entry: FeedEntry, change: Change) -> bytes | None:
            return None  # CLUSTER changes are seen through changed(), which runs on every wake-up

        async with self._open(context, request.from_index) as stream:
            if not request.from_index:
                status = self.cluster_status()
                last[0] = _status_signature(status)
                await stream.snapshot(status.applied_index,
                                      [encode_event(WE.SNAPSHOT, status.applied_index, status.self_id, status,
                                                    "cluster")])
            await stream.follow(match, changed)


def _status_signature(status: api_pb2.ClusterStatus) -> bytes:
    copy = api_pb2.ClusterStatus()
    copy.CopyFrom(status)
    for name in ("commit_index", "applied_index", "log_entries", "snapshot_index", "state_time_ms", "state"):
        copy.ClearField(name)
    for m in copy.members:
        m.match_index = 0
        m.lag = 0
    return copy.SerializeToString(deterministic=True)

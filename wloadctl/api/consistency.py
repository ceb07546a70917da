"""Read consistency: linearizable reads by default, stale ones on request, read-your-writes by index.

* Linearizable (the default for every method in READ_METHODS): the serving replica gets a read
  index — on the leader its own (raft/reads.py: the commit index once a majority confirmed it
  still leads), on a follower the leader's, asked over the ReadIndex RPC — waits until it has
  applied that index, then answers from its own LMDB. No log entry per read.
* Stale (CONSISTENCY_HEADER: stale): this replica's copy, at once.
* Every successful answer carries the Raft index it reflects (INDEX_HEADER); a request may carry
  the highest index its client has seen (MIN_INDEX_HEADER) and is then answered only once this
  replica has applied it (Nomad-style), which gives read-your-writes on any replica at stale cost.
  A follower that forwarded a write answers with the leader's index.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import grpc

from wloadctl.api.headers import CONSISTENCY_HEADER, MIN_INDEX_HEADER

LINEARIZABLE = "linearizable"
STALE = "stale"

_S = "/wloadctl.v1."
# Reads of the replicated state: linearizable unless the caller asks for stale.
READ_METHODS = frozenset(_S + m for m in (
    "JobService/GetJob", "JobService/ListJobs", "JobService/NextFireTimes", "JobService/ListMisfires",
    "JobService/GetCalendar", "JobService/ListCalendars", "JobService/CalendarDays",
    "WorkflowService/GetWorkflow", "WorkflowService/ListWorkflows", "WorkflowService/GetWorkflowRun",
    "WorkflowService/ListWorkflowRuns", "WorkflowService/Impact",
    "RunService/GetRun", "RunService/ListRuns", "RunService/GetRunLogs", "RunService/ReportRuns",
    "RunService/Summarize",
    "UserService/GetUser", "UserService/ListUsers", "RoleService/GetRole", "RoleService/ListRoles",
    "ApiKeyService/GetApiKey", "ApiKeyService/ListApiKeys", "AuditService/ListAudit", "AuditService/VerifyAudit",
    "ApprovalService/ListApprovals", "ApprovalService/GetApproval", "SecretService/GetSecret",
    "SecretService/ListSecrets", "AuthService/GetPolicy", "AuthService/WhoAmI",
    "WatchService/WatchRuns", "WatchService/WatchJobs", "WatchService/WatchWorkflowRuns",
    "WatchService/WatchAgents", "WatchService/WatchCluster",
))
# A replica's own live view (Raft status, connected agents, its digest), not a read of the state:
# answered at once (ListAgents asks the leader, which alone knows who confirmed the epoch).
LIVE_METHODS = frozenset({
    "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    _S + "ClusterService/Status", _S + "ClusterService/Digest", _S + "ClusterService/ReadIndex",
    _S + "RunService/ListAgents", _S + "AuthService/ServerInfo",
})
# Everything else changes the state through Raft (its answer carries the entry's commit index);
# tests/unit/test_read_consistency.py checks that the three cover the permission table.

# How long a replica waits to catch up with a caller's index before telling it to try another one:
# a healthy follower is milliseconds behind; one seconds behind is better skipped.
MAX_CATCH_UP_S = 5.0


def catch_up_limit(context: grpc.aio.ServicerContext, share: float = 0.5) -> float:
    """How long a call may wait to catch up: MAX_CATCH_UP_S, or ``share`` of the caller's
    remaining deadline if that is less (the rest is left for the answer)."""
    remaining = context.time_remaining()
    return MAX_CATCH_UP_S if remaining is None else max(0.0, min(MAX_CATCH_UP_S, remaining * share))

# The index an answer produced on another replica (a forwarded call) reflects; one value per call
# (each RPC runs in its own task, and awaiting a coroutine shares the caller's context).
forwarded_index: ContextVar[int] = ContextVar("forwarded_index", default=0)


def note_forwarded_index(value: str | None) -> None:
    """Record the index header of an answer this replica relayed from the leader."""
    try:
        index = int(value or 0)
    except ValueError:
        return
    if index > forwarded_index.get():
        forwarded_index.set(index)


def requested_min_index(context: grpc.aio.ServicerContext) -> int | None:
    """The caller's min index (0 if none), or None if the header is malformed."""
    for key, value in context.invocation_metadata() or ():
        if key == MIN_INDEX_HEADER:
            if not isinstance(value, str) or not value.isdigit() or len(value) > 20:
                return None
            return int(value)
    return 0


def requested_consistency(context: grpc.aio.ServicerContext) -> str | None:
    """LINEARIZABLE (also when absent) or STALE; None when the header has another value."""
    for key, value in context.invocation_metadata() or ():
        if key == CONSISTENCY_HEADER:
            return value if value in (LINEARIZABLE, STALE) else None
    return LINEARIZABLE


class AppliedWaiter:
    """Wakes coroutines waiting for the replica to apply an index: fed by the change feed's
    listener on the Raft thread, so a reader waits for exactly as long as the apply takes."""

    def __init__(self, applied: Callable[[], int], loop: asyncio.AbstractEventLoop) -> None:
        self._applied = applied
        self._loop = loop
        self._last = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def on_applied(self, index: int) -> None:
        """Raft thread: ``index`` is applied (or installed by a snapshot)."""
        self._last = index
        waiters = self._waiters
        if waiters and waiters[0][0] <= index:
            self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        reached = max(self._last, self._applied())
        while self._waiters and self._waiters[0][0] <= reached:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def wait(self, index: int, timeout: float) -> int:
        """Wait until ``index`` is applied or ``timeout`` passes; returns the applied index."""
        reached = self._applied()
        if reached >= index:
            return reached
        fut: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._waiters, (index, next(self._seq), fut))
        # An apply between the check above and the push: its listener may have seen no waiter.
        self._release()
        try:
            await asyncio.wait_for(fut, max(0.0, timeout))
        except TimeoutError:
            self._waiters = [w for w in self._waiters if w[2] is not fut]
            heapq.heapify(self._waiters)
        return self._applied()


class Coalescer:
    """Shares one call among the callers that arrive while it is not yet under way.

    A caller must get an answer from a call that started after it asked (a read index obtained
    before a read began may miss a write acknowledged before it), so a call in flight is never
    joined: callers that arrive meanwhile wait for the next one, which starts when it ends."""

    def __init__(self, call: Callable[[], Awaitable[int]]) -> None:
        self._call = call
        self._next: asyncio.Future[int] | None = None
        self._task: asyncio.Task[None] | None = None
        self.calls = 0

    async def get(self) -> int:
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.create_future()
            self._next.add_done_callback(_retrieved)
            if self._task is None:
                self._task = loop.create_task(self._run())
        return await asyncio.shield(self._next)

    async def _run(self) -> None:
        try:
            while self._next is not None:
                fut, self._next = self._next, None
                self.calls += 1
                try:
                    fut.set_result(await self._call())
                except Exception as e:  # every waiter of this call gets its failure
                    fut.set_exception(e)
        finally:
            self._task = None


def _retrieved(fut: asyncio.Future[int]) -> None:
    # Waiters that gave up (their deadline) leave a failure nobody reads: not worth a warning.
    if not fut.cancelled():
        fut.exception()


async def wait_applied(applied: Callable[[], int], index: int, timeout: float) -> int:
    """Wait until ``applied()`` reaches ``index`` or ``timeout`` passes; returns the last applied index.

    Polls with a short backoff: waiting happens only on a replica that is behind, for the few
    milliseconds a follower trails the leader."""
    deadline = time.monotonic() + max(0.0, timeout)
    delay = 0.001
    while True:
        reached = applied()
        if reached >= index or time.monotonic() >= deadline:
            return reached
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.02)

"""Batches commands into Raft entries on the leader, with backpressure.

Many API requests become one CommandBatch (one Raft entry, one fsync per
replica). At most ``max_inflight_entries`` entries are in the Raft pipeline
and at most ``max_queued`` commands wait for one: under sustained load
callers wait for room (and time out with RESOURCE_EXHAUSTED) instead of
overrunning the log, which with pysyncobj's unbounded queue caused elections
and thousands of failed commands here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from typing import Any

from wloadctl.proto.v1 import commands_pb2
from wloadctl.raft.node import FAIL_REASON_NAMES, RaftNode
from wloadctl.raft.overrides import ENTRY_BATCH_BYTES
from wloadctl.state.encoding import encode


class NotLeaderError(Exception):
    pass


class ProposalFailedError(Exception):
    """The command may or may not have been applied: retry with the same idempotency key."""


class BackpressureError(Exception):
    pass


class Proposer:
    def __init__(self, node: RaftNode, *, max_batch: int = 4000, max_batch_bytes: int = ENTRY_BATCH_BYTES,
                 max_inflight_entries: int = 4, max_queued: int = 50_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        self.max_inflight_entries = max_inflight_entries
        self.max_queued = max_queued
        self._clock = clock
        self._queue: collections.deque[tuple[commands_pb2.Command, asyncio.Future[Any]]] = collections.deque()
        self._inflight = 0
        self._waiting = 0
        self._last_stamp = 0
        self._wake = asyncio.Event()
        self._room = asyncio.Condition()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self.entries_proposed = 0
        self.commands_proposed = 0
        self.failures = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="proposer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut in self._queue:
            if not fut.done():
                fut.set_exception(ProposalFailedError("the replica is shutting down"))
        self._queue.clear()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def submit(self, command: commands_pb2.Command, timeout: float = 10.0) -> commands_pb2.CommandResult:
        if not self.node.is_leader():
            raise NotLeaderError()
        if len(self._queue) >= self.max_queued:
            self._waiting += 1
            try:
                async with self._room:
                    await asyncio.wait_for(self._room.wait_for(lambda: len(self._queue) < self.max_queued),
                                           timeout)
            except TimeoutError:
                raise BackpressureError(
                    f"the leader has {self.max_queued} commands waiting; retry later") from None
            finally:
                self._waiting -= 1
        fut: asyncio.Future[commands_pb2.CommandResult] = self._loop.create_future()
        self._queue.append((command, fut))
        self._wake.set()
        # On timeout the future is cancelled: the command may still commit,
        # which is why writes carry idempotency keys.
        async with asyncio.timeout(timeout):
            return await fut

    def stamp(self) -> int:
        """Leader time for the next batch: never below an earlier stamp or the
        state's time, even when this leader's clock is behind the previous one's."""
        now = int(self._clock() * 1000)
        self._last_stamp = max(now, self._last_stamp, self.node.store.state_time_ms())
        return self._last_stamp

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if self._inflight >= self.max_inflight_entries:
                    break  # _done() wakes us when an entry completes
                self._send_batch()

    def _send_batch(self) -> None:
        commands: list[commands_pb2.Command] = []
        futures: list[asyncio.Future[Any]] = []
        size = 0
        while self._queue and len(commands) < self.max_batch and size < self.max_batch_bytes:
            command, fut = self._queue.popleft()
            if fut.done():  # the caller gave up before it was sent
                continue
            commands.append(command)
            futures.append(fut)
            size += command.ByteSize()
        if not commands:
            return
        self._notify_room()
        batch = commands_pb2.CommandBatch(time_ms=self.stamp(), leader_id=self.node.node_id, commands=commands)
        self._inflight += 1
        self.entries_proposed += 1
        self.commands_proposed += len(commands)

        def done(result: Any, error: int) -> None:  # Raft thread
            self._loop.call_soon_threadsafe(self._done, futures, result, error)

        try:
            self.node.propose(encode(batch), done)
        except Exception as e:  # the node is stopping
            self._done(futures, None, -1, str(e))

    def _done(self, futures: list[asyncio.Future[Any]], result: Any, error: int, why: str = "") -> None:
        self._inflight -= 1
        self._wake.set()
        ok = error == 0 and isinstance(result, list) and len(result) == len(futures)
        if not ok:
            self.failures += 1
            reason = why or FAIL_REASON_NAMES.get(error, f"raft error {error}")
        for i, fut in enumerate(futures):
            if fut.done():
                continue
            if ok:
                fut.set_result(result[i])
            else:
                fut.set_exception(ProposalFailedError(
                    f"not committed ({reason}); the outcome is unknown: retry with the same idempotency key"))

    def _notify_room(self) -> None:
        async def notify() -> None:
            async with self._room:
                self._room.notify_all()

        if self._waiting and len(self._queue) < self.max_queued:
            self._loop.create_task(notify())

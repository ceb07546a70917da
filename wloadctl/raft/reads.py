"""Linearizable read indexes for asyncio callers (ReadIndex, Raft thesis 6.4).

The leader takes its commit index and the number of the next append_entries round, and answers
once a majority has echoed that round or a later one in the same term (raft/overrides.py): then no
other leader can have committed anything the index misses. Reads share rounds, so any number of
concurrent reads cost one round trip to the followers, and no log entry."""

from __future__ import annotations

import asyncio
import contextlib

from wloadctl.raft.node import RaftNode
from wloadctl.raft.proposer import NotLeaderError


class ReadIndexTimeout(TimeoutError):
    """A majority did not confirm this leader in time (a partition, or followers too old to echo rounds)."""


class ReadBarrier:
    def __init__(self, node: RaftNode, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.loop = loop
        self._event = asyncio.Event()
        self._waiting = 0
        self.rounds_confirmed = 0
        self.term = 0  # of the last confirmed read
        node.on_read_ack = self._on_ack

    def _on_ack(self) -> None:
        # Raft thread: wake the readers only when some wait.
        if self._waiting:
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def read_index(self, timeout: float) -> int:
        """The index a linearizable read must see applied before it answers.

        NotLeaderError when this replica does not lead (or stops leading meanwhile);
        ReadIndexTimeout when no majority confirmed it within ``timeout`` seconds."""
        obj = self.node.obj
        begun = obj.wl_begin_read()
        if begun is None:
            raise NotLeaderError("not the leader")
        round_, index, term = begun
        deadline = self.loop.time() + timeout
        self._waiting += 1
        try:
            while True:
                event = self._event  # taken before the check: a wake-up in between is not lost
                confirmed = obj.wl_read_confirmed(round_, term)
                if confirmed:
                    self.rounds_confirmed += 1
                    self.term = term
                    return index
                if confirmed is None:
                    raise NotLeaderError("no longer the leader")
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    raise ReadIndexTimeout(f"a majority did not confirm this leader within {timeout:g} s")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):  # no task per wait, unlike wait_for
                        await event.wait()
        finally:
            self._waiting -= 1

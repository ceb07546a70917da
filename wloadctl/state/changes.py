"""The change feed: what each applied Raft entry changed, for watches.

Store.apply records every run, job, workflow run and agent it writes or deletes (ChangeSink), and
after the entry commits appends them under the entry's index to the ChangeFeed, a bounded
in-memory ring shared with the watch streams (api/watch.py). A watch resumes from any index the
ring still holds; an older one must list again. Nothing here is replicated: each replica keeps
the feed of what it applied itself, from its start (or its last snapshot install) on."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass

# What a change is about.
RUN = "run"
JOB = "job"
WORKFLOW = "workflow"
WORKFLOW_RUN = "workflow_run"
AGENT = "agent"
CLUSTER = "cluster"   # membership or epoch: the cluster status changed
KINDS = (RUN, JOB, WORKFLOW, WORKFLOW_RUN, AGENT, CLUSTER)

DEFAULT_FEED_BYTES = 64 << 20
DEFAULT_FEED_ENTRIES = 200_000
_ENTRY_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    key: str             # run id, job name, workflow run id, agent id ("" for cluster)
    data: bytes | None   # the record as stored after the entry; None: deleted


@dataclass(frozen=True, slots=True)
class FeedEntry:
    index: int
    changes: tuple[Change, ...]
    size: int


class ChangeSink:
    """Collects the changes of the entry being applied (Raft thread only). The last write of a key
    in an entry wins: a watcher sees each entry's outcome, in commit order."""

    def __init__(self) -> None:
        self._changes: dict[tuple[str, str], bytes | None] = {}
        self._log: list[tuple[tuple[str, str], bytes | None, bool]] = []

    def put(self, kind: str, key: str, data: bytes) -> None:
        self._record((kind, key), data)

    def delete(self, kind: str, key: str) -> None:
        self._record((kind, key), None)

    def _record(self, k: tuple[str, str], data: bytes | None) -> None:
        self._log.append((k, self._changes.get(k), k in self._changes))
        self._changes[k] = data

    def mark(self) -> int:
        return len(self._log)

    def rollback(self, mark: int) -> None:
        """Forget what was recorded since ``mark`` (a command rolled back alone)."""
        while len(self._log) > mark:
            k, previous, existed = self._log.pop()
            if existed:
                self._changes[k] = previous
            else:
                self._changes.pop(k, None)

    def take(self) -> tuple[Change, ...]:
        out = tuple(Change(kind, key, data) for (kind, key), data in self._changes.items())
        self.clear()
        return out

    def clear(self) -> None:
        self._changes.clear()
        self._log.clear()


class FeedGap(Exception):
    """The feed no longer holds what follows the index asked for."""

    def __init__(self, index: int, first: int) -> None:
        super().__init__(index, first)
        self.index = index
        self.first = first


class ChangeFeed:
    """Applied entries and their changes, newest last, bounded by bytes and count. Thread-safe:
    appended on the Raft thread, read by the watches on the event loop."""

    def __init__(self, applied: int = 0, max_bytes: int = DEFAULT_FEED_BYTES,
                 max_entries: int = DEFAULT_FEED_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._lock = threading.Lock()
        # A list with a moving start (a deque is slow to index in the middle).
        self._entries: list[FeedEntry] = []
        self._start = 0
        self._bytes = 0
        # Entries after this index are all held (or none was applied since).
        self._base = applied
        self._head = applied
        self.listeners: list[Callable[[int], None]] = []

    @property
    def head(self) -> int:
        return self._head

    @property
    def base(self) -> int:
        """The oldest index a watch can resume from."""
        return self._base

    def append(self, index: int, changes: tuple[Change, ...]) -> None:
        size = _ENTRY_OVERHEAD + sum(len(c.key) + len(c.data or b"") + _ENTRY_OVERHEAD for c in changes)
        with self._lock:
            if index <= self._head:
                return
            if changes:
                self._entries.append(FeedEntry(index, changes, size))
                self._bytes += size
                while self._start < len(self._entries) and (
                        self._bytes > self.max_bytes or len(self._entries) - self._start > self.max_entries):
                    dropped = self._entries[self._start]
                    self._start += 1
                    self._bytes -= dropped.size
                    self._base = dropped.index
                if self._start > 1024 and self._start * 2 > len(self._entries):
                    del self._entries[:self._start]
                    self._start = 0
            self._head = index
        for listener in self.listeners:
            listener(index)

    def reset(self, applied: int) -> None:
        """The state was replaced (a snapshot installed): nothing before ``applied`` can be replayed."""
        with self._lock:
            self._entries.clear()
            self._start = 0
            self._bytes = 0
            self._base = self._head = applied
        for listener in self.listeners:
            listener(applied)

    def since(self, index: int, limit: int = 1000) -> tuple[list[FeedEntry], int]:
        """Up to ``limit`` entries after ``index`` and the index they bring a reader to (the head
        once it has them all). FeedGap when some entry after ``index`` was dropped."""
        with self._lock:
            if index < self._base:
                raise FeedGap(index, self._base)
            entries = self._entries
            if len(entries) == self._start or entries[-1].index <= index:
                return [], max(index, self._head)
            start = bisect.bisect_right(entries, index, lo=self._start, key=_index_of)
            out = entries[start:start + limit]
            if start + limit < len(entries):
                return out, out[-1].index
            return out, max(index, self._head)

    def stats(self) -> tuple[int, int, int]:
        """(entries held, bytes held, oldest resumable index)."""
        with self._lock:
            return len(self._entries) - self._start, self._bytes, self._base


def _index_of(entry: FeedEntry) -> int:
    return entry.index

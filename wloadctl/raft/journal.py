"""The Raft log, term and vote, kept in LMDB and synced before they count.

pysyncobj's FileJournal writes through mmap and never fsyncs, and stores term
and vote without fsync. This journal keeps an in-memory mirror of the entries
(pysyncobj indexes and slices it on every tick) and stages every change in
one open LMDB write transaction; :meth:`sync` commits it with fsync. The
overrides in ``overrides.py`` call :meth:`sync` before any message leaves the
node (so a follower's acknowledgement, a vote and a vote request all reflect
durable state) and at the end of every Raft tick (so the leader's own copy is
durable before the next tick counts it toward a commit). One sync covers all
the entries staged since the previous one.

A write that fails (disk full, I/O error) is reported once through
``wloadctl.fsutil`` (the server stops the process) and leaves the journal
refusing every later write and sync: the staged entries are in pysyncobj's
memory but not on disk, so nothing may be acknowledged or counted after it.
"""

from __future__ import annotations

import contextlib
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb
from pysyncobj.journal import Journal

from wloadctl.fsutil import StorageFailure, StorageWriteError, describe_failure, report_storage_failure

_U64 = struct.Struct(">Q")
_ENTRY_HEAD = struct.Struct(">Q")  # term, followed by the command bytes

_NO_OP = b"\x01"
_TERM = b"current_term"
_VOTE = b"voted_for"
_COMMIT = b"commit_index"

Entry = tuple[bytes, int, int]  # (command, index, term), pysyncobj's shape


class LmdbJournal(Journal):
    def __init__(self, path: str | Path, map_size: int = 16 << 30) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=4, sync=True, metasync=True)
        self._log = self.env.open_db(b"log")
        self._meta = self.env.open_db(b"meta")
        self._entries: list[Entry] = []
        self._meta_cache: dict[bytes, bytes] = {}
        with self.env.begin() as txn:
            for key, value in txn.cursor(db=self._log):
                (term,) = _ENTRY_HEAD.unpack_from(value)
                self._entries.append((bytes(value[_ENTRY_HEAD.size:]), _U64.unpack(key)[0], term))
            for key, value in txn.cursor(db=self._meta):
                self._meta_cache[bytes(key)] = bytes(value)
        self._txn: lmdb.Transaction | None = None
        self._txn_thread = 0
        self._needs_sync = False
        self.failure: StorageFailure | None = None
        self.syncs = 0
        self.synced_entries = 0
        self._staged_entries = 0
        # sync() may be called from the API thread on shutdown.
        self._lock = threading.RLock()
        if not self._entries:
            # pysyncobj adds this first no-op itself when the journal is empty,
            # but from the constructing thread: an LMDB write transaction must
            # be committed by the thread that began it, so it is done here.
            self.add(_NO_OP, 1, 0)
            self.sync(force=True)

    # ---- staging and syncing ----

    def _w(self) -> lmdb.Transaction:
        if self.failure is not None:
            raise StorageWriteError(self.failure)
        if self._txn is None:
            self._txn = self._stage(lambda: self.env.begin(write=True))
            self._txn_thread = threading.get_ident()
        elif self._txn_thread != threading.get_ident():
            raise RuntimeError("journal written from two threads")
        return self._txn

    def _stage(self, write: Callable[[], Any]) -> Any:
        """Run one LMDB call; a failure (a put may spill pages to disk) poisons the journal."""
        try:
            return write()
        except lmdb.Error as e:
            raise self._fail(e) from e

    def _fail(self, exc: BaseException) -> StorageWriteError:
        # A failed commit or put loses everything the transaction staged, while pysyncobj still
        # holds those entries in memory and would acknowledge and count them: every later
        # write and sync must fail as well, even once the disk has room again.
        if self._txn is not None:
            with contextlib.suppress(lmdb.Error):
                self._txn.abort()
            self._txn = None
        self.failure = describe_failure(self.path, "the Raft journal", exc)
        return report_storage_failure(self.failure)

    @property
    def dirty(self) -> bool:
        return self._needs_sync

    def sync(self, force: bool = False) -> None:
        """Commit (with fsync) everything staged since the last sync.

        A staged commit index alone does not need a sync (it is re-learned
        from the leader after a restart): it rides along with the next one.
        """
        with self._lock:
            if self.failure is not None:
                raise StorageWriteError(self.failure)
            if self._txn is None or not (self._needs_sync or force):
                return
            txn = self._txn
            self._stage(txn.commit)
            self._txn = None
            self._needs_sync = False
            self.syncs += 1
            self.synced_entries += self._staged_entries
            self._staged_entries = 0

    # ---- pysyncobj's Journal interface ----

    def add(self, command: Any, idx: int, term: int) -> None:
        if isinstance(command, str):
            command = command.encode("utf-8")
        with self._lock:
            self._entries.append((command, idx, term))
            self._needs_sync = True
            txn = self._w()
            self._stage(lambda: txn.put(_U64.pack(idx), _ENTRY_HEAD.pack(term) + command, db=self._log))
            self._staged_entries += 1

    def clear(self) -> None:
        with self._lock:
            self._entries = []
            self._needs_sync = True
            txn = self._w()
            self._stage(lambda: txn.drop(self._log, delete=False))

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        with self._lock:
            doomed = self._entries[entryFrom:]
            del self._entries[entryFrom:]
            self._needs_sync = True
            txn = self._w()
            for _, idx, _ in doomed:
                self._stage(lambda idx=idx: txn.delete(_U64.pack(idx), db=self._log))

    def deleteEntriesTo(self, entryTo: int) -> None:
        with self._lock:
            doomed = self._entries[:entryTo]
            self._entries = self._entries[entryTo:]
            self._needs_sync = True
            txn = self._w()
            for _, idx, _ in doomed:
                self._stage(lambda idx=idx: txn.delete(_U64.pack(idx), db=self._log))

    def __getitem__(self, item: int | slice) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        with self._lock:
            if self.failure is None:
                self.sync(force=True)
            self.env.close()

    def _set_meta(self, key: bytes, value: bytes) -> None:
        self._meta_cache[key] = value
        txn = self._w()
        self._stage(lambda: txn.put(key, value, db=self._meta))

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        # Staged only: a lost commit index is re-learned from the leader, and
        # the state store keeps its own applied index.
        with self._lock:
            if self._meta_cache.get(_COMMIT) != _U64.pack(raftCommitIndex):
                self._set_meta(_COMMIT, _U64.pack(raftCommitIndex))

    def getRaftCommitIndex(self) -> int:
        raw = self._meta_cache.get(_COMMIT)
        return _U64.unpack(raw)[0] if raw else 1

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        with self._lock:
            self._needs_sync = True
            self._set_meta(_TERM, _U64.pack(term))
            self._set_meta(_VOTE, (votedForNodeId or "").encode())

    def getCurrentTerm(self) -> int:
        raw = self._meta_cache.get(_TERM)
        return _U64.unpack(raw)[0] if raw else 0

    def getVotedForNodeId(self) -> str | None:
        raw = self._meta_cache.get(_VOTE)
        return raw.decode() if raw else None

    def onOneSecondTimer(self) -> None:
        pass

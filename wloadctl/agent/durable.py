"""What an agent must remember across a crash: its fence and what it has done.

* the highest epoch it accepted (synced before the agent acts on it: a
  restarted agent must still refuse a deposed leader);
* every (run, attempt) it accepted (so a re-sent assignment never runs twice);
* finished results the leader has not acknowledged yet (reported again later);
* for file triggers, when it first saw each watch and the files it has reported (each file once).
"""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb

from wloadctl.proto.v1 import agent_pb2

_U64 = struct.Struct(">Q")
_FILE = struct.Struct(">Qq")  # size, mtime_ns
_EPOCH = b"highest_epoch"
_SEQ = b"event_seq"


class AgentDurableState:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        # sync=True: every commit is fsynced before it returns.
        self.env = lmdb.open(str(path), map_size=4 << 30, max_dbs=8, sync=True, metasync=True)
        self._meta = self.env.open_db(b"meta")
        self._attempts = self.env.open_db(b"attempts")
        self._unacked = self.env.open_db(b"unacked")
        self._watches = self.env.open_db(b"file_watches")   # watch id -> since_ms (first seen)
        self._files = self.env.open_db(b"files_reported")   # watch id \0 path -> size, mtime_ns
        self.highest_epoch = self._get(_EPOCH)
        self._seq = self._get(_SEQ)

    def _get(self, key: bytes) -> int:
        with self.env.begin() as txn:
            raw = txn.get(key, db=self._meta)
        return _U64.unpack(raw)[0] if raw else 0

    def close(self) -> None:
        self.env.close()

    def adopt_epoch(self, epoch: int) -> None:
        """Durable before anyone is told: the old leader is refused from now on, even after a crash."""
        if epoch <= self.highest_epoch:
            return
        with self.env.begin(write=True) as txn:
            txn.put(_EPOCH, _U64.pack(epoch), db=self._meta)
        self.highest_epoch = epoch

    def accept(self, assignments: list[tuple[str, int]]) -> list[bool]:
        """Record assignments in one synced commit; False for a (run, attempt) seen before."""
        with self.env.begin(write=True) as txn:
            return [bool(txn.put(run_id.encode() + b"\0" + _U64.pack(attempt), b"", db=self._attempts,
                                 overwrite=False)) for run_id, attempt in assignments]

    def add_unacked(self, events: list[agent_pb2.RunEvent]) -> None:
        """Number and keep results until the leader acknowledges them (one synced commit)."""
        if not events:
            return
        with self.env.begin(write=True) as txn:
            for event in events:
                self._seq += 1
                event.seq = self._seq
                txn.put(_U64.pack(self._seq), event.SerializeToString(), db=self._unacked)
            txn.put(_SEQ, _U64.pack(self._seq), db=self._meta)

    def ack(self, seq: int, now_ms: int = 0) -> None:
        """The leader committed the results up to ``seq``. Their attempts are final in the state from now
        on (no leader re-sends them), so their accepted records may go after a while: marked with ``now_ms``."""
        with self.env.begin(write=True) as txn:
            cur = txn.cursor(db=self._unacked)
            while cur.first() and _U64.unpack(cur.key())[0] <= seq:
                event = agent_pb2.RunEvent.FromString(cur.value())
                if event.kind in (agent_pb2.RunEvent.FINISHED, agent_pb2.RunEvent.REJECTED) and now_ms:
                    key = event.run_id.encode() + b"\0" + _U64.pack(event.attempt)
                    if txn.get(key, db=self._attempts) is not None:
                        txn.put(key, _U64.pack(now_ms), db=self._attempts)
                cur.delete()

    def prune_attempts(self, before_ms: int, limit: int = 10_000) -> int:
        """Remove accepted-attempt records whose results the leader acknowledged before ``before_ms``
        (at most ``limit`` per call); records of attempts not acknowledged are kept."""
        removed = 0
        with self.env.begin(write=True) as txn:
            cur = txn.cursor(db=self._attempts)
            if not cur.first():
                return 0
            while removed < limit:
                value = cur.value()
                if len(value) == _U64.size and 0 < _U64.unpack(value)[0] < before_ms:
                    removed += 1
                    if not cur.delete():
                        break
                    continue
                if not cur.next():
                    break
        return removed

    def attempt_records(self) -> int:
        with self.env.begin() as txn:
            return int(txn.stat(self._attempts)["entries"])

    def unacked(self) -> list[agent_pb2.RunEvent]:
        with self.env.begin() as txn:
            return [agent_pb2.RunEvent.FromString(v) for _, v in txn.cursor(db=self._unacked)]

    # ---- file triggers

    def watch_since(self, watch_id: str, since_ms: int) -> int:
        """When files of this watch count as new: the time first given for it (kept across job versions
        that keep the directory and glob, and across restarts)."""
        key = watch_id.encode()
        with self.env.begin(write=True) as txn:
            raw = txn.get(key, db=self._watches)
            if raw is not None:
                return int(_U64.unpack(raw)[0])
            txn.put(key, _U64.pack(max(0, since_ms)), db=self._watches)
            return since_ms

    def reported_files(self, watch_id: str) -> dict[str, tuple[int, int]]:
        prefix = watch_id.encode() + b"\0"
        out: dict[str, tuple[int, int]] = {}
        with self.env.begin() as txn:
            cur = txn.cursor(db=self._files)
            if cur.set_range(prefix):
                for key, value in cur:
                    if not key.startswith(prefix):
                        break
                    size, mtime = _FILE.unpack(value)
                    out[key[len(prefix):].decode(errors="surrogateescape")] = (size, mtime)
        return out

    def mark_reported(self, entries: list[tuple[str, str, int, int]]) -> None:
        """(watch id, path, size, mtime_ns) the leader decided: one synced commit."""
        if not entries:
            return
        with self.env.begin(write=True) as txn:
            for watch_id, path, size, mtime_ns in entries:
                txn.put(watch_id.encode() + b"\0" + path.encode(errors="surrogateescape"),
                        _FILE.pack(size, mtime_ns), db=self._files)

    def forget_files(self, watch_id: str, paths: list[str]) -> None:
        """Files that are gone: a new file under the same name is new again."""
        if not paths:
            return
        with self.env.begin(write=True) as txn:
            for path in paths:
                txn.delete(watch_id.encode() + b"\0" + path.encode(errors="surrogateescape"), db=self._files)

    def forget_watch(self, watch_id: str) -> None:
        prefix = watch_id.encode() + b"\0"
        with self.env.begin(write=True) as txn:
            txn.delete(watch_id.encode(), db=self._watches)
            cur = txn.cursor(db=self._files)
            while cur.set_range(prefix) and cur.key().startswith(prefix):
                cur.delete()

    def known_watches(self) -> list[str]:
        with self.env.begin() as txn:
            return [bytes(k).decode() for k in txn.cursor(db=self._watches).iternext(keys=True, values=False)]

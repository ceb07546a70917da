"""What an agent must remember across a crash: its fence and what it has done.

* the highest epoch it accepted (synced before the agent acts on it: a
  restarted agent must still refuse a deposed leader);
* every (run, attempt) it accepted (so a re-sent assignment never runs twice);
* finished results the leader has not acknowledged yet (reported again later).
"""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb

from wloadctl.proto.v1 import agent_pb2

_U64 = struct.Struct(">Q")
_EPOCH = b"highest_epoch"
_SEQ = b"event_seq"


class AgentDurableState:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        # sync=True: every commit is fsynced before it returns.
        self.env = lmdb.open(str(path), map_size=4 << 30, max_dbs=4, sync=True, metasync=True)
        self._meta = self.env.open_db(b"meta")
        self._attempts = self.env.open_db(b"attempts")
        self._unacked = self.env.open_db(b"unacked")
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

    def ack(self, seq: int) -> None:
        with self.env.begin(write=True) as txn:
            cur = txn.cursor(db=self._unacked)
            while cur.first() and _U64.unpack(cur.key())[0] <= seq:
                cur.delete()

    def unacked(self) -> list[agent_pb2.RunEvent]:
        with self.env.begin() as txn:
            return [agent_pb2.RunEvent.FromString(v) for _, v in txn.cursor(db=self._unacked)]

"""What workflow waits are met by: "this succeeded for that business date" (keys from
scheduler/task_policy.py), counted per run that proves it, so a fact goes only with the last such
run (pruned, or reset by a rerun)."""

from __future__ import annotations

import struct

import lmdb

_COUNT = struct.Struct(">I")


def add_fact(txn: lmdb.Transaction, db: lmdb._Database, key: bytes, change: int) -> int:
    """Count the runs that prove a fact up (1) or down (-1): gone at 0. The count before."""
    raw = txn.get(key, db=db)
    before = _COUNT.unpack(raw)[0] if raw and len(raw) == _COUNT.size else 0
    after = max(0, before + change)
    if after:
        txn.put(key, _COUNT.pack(after), db=db)
    else:
        txn.delete(key, db=db)
    return before

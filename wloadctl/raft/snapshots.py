"""Snapshot files: a point-in-time LMDB copy plus the Raft metadata beside it.

Layout (all integers big-endian)::

    b"WLSNAP1\\n" | u32 header length | header (JSON) | u64 db length | data.mdb | sha256(all before)

The header names the last two Raft entries the snapshot covers (pysyncobj
keeps them as the first two journal entries after compaction) and the Raft
members at that point. The file is what the leader streams to a follower that
is too far behind, and the follower verifies the checksum before installing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lmdb

from wloadctl.fsutil import fsync_dir
from wloadctl.observability.histogram import Buckets

MAGIC = b"WLSNAP1\n"
PENDING = b"WLSNAP-PENDING\n"
_CHUNK = 1 << 20

Entry = tuple[bytes, int, int]


class SnapshotError(Exception):
    pass


@dataclass(frozen=True)
class SnapshotHeader:
    last: Entry
    prev: Entry
    members: list[str]

    def to_json(self) -> bytes:
        def enc(e: Entry) -> list[object]:
            return [base64.b64encode(e[0]).decode(), e[1], e[2]]

        return json.dumps({"last": enc(self.last), "prev": enc(self.prev), "members": sorted(self.members)},
                          sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SnapshotHeader:
        doc = json.loads(raw)

        def dec(v: list[object]) -> Entry:
            return (base64.b64decode(str(v[0])), int(str(v[1])), int(str(v[2])))

        return cls(last=dec(doc["last"]), prev=dec(doc["prev"]), members=[str(m) for m in doc["members"]])


def write_snapshot(target: Path, header: SnapshotHeader, db_file: Path) -> None:
    """Write atomically: a crash leaves the previous file or the new one, never a mix."""
    h = hashlib.sha256()
    tmp = target.with_name(target.name + ".writing")
    with open(tmp, "wb") as out:

        def put(b: bytes) -> None:
            h.update(b)
            out.write(b)

        head = header.to_json()
        put(MAGIC)
        put(struct.pack(">I", len(head)))
        put(head)
        size = db_file.stat().st_size
        put(struct.pack(">Q", size))
        with open(db_file, "rb") as src:
            while chunk := src.read(_CHUNK):
                put(chunk)
        out.write(h.digest())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    fsync_dir(target.parent)


def read_header(path: Path, verify: bool = True) -> SnapshotHeader:
    """Parse the header; with ``verify`` check the whole file's checksum."""
    try:
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                raise SnapshotError(f"{path}: not a snapshot file")
            (hlen,) = struct.unpack(">I", f.read(4))
            head = f.read(hlen)
            header = SnapshotHeader.from_json(head)
        if verify:
            _verify(path)
        return header
    except (OSError, ValueError, KeyError, struct.error) as e:
        raise SnapshotError(f"{path}: unreadable snapshot: {e}") from e


def _verify(path: Path) -> None:
    size = path.stat().st_size
    if size < 32:
        raise SnapshotError(f"{path}: truncated")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        remaining = size - 32
        while remaining:
            chunk = f.read(min(_CHUNK, remaining))
            if not chunk:
                raise SnapshotError(f"{path}: truncated")
            h.update(chunk)
            remaining -= len(chunk)
        if f.read(32) != h.digest():
            raise SnapshotError(f"{path}: checksum mismatch")


def extract_db(path: Path, out_file: Path) -> SnapshotHeader:
    """Verify the snapshot and write its LMDB data file to ``out_file``."""
    header = read_header(path, verify=True)
    with open(path, "rb") as f:
        f.seek(len(MAGIC))
        (hlen,) = struct.unpack(">I", f.read(4))
        f.seek(hlen, os.SEEK_CUR)
        (size,) = struct.unpack(">Q", f.read(8))
        with open(out_file, "wb") as out:
            remaining = size
            while remaining:
                chunk = f.read(min(_CHUNK, remaining))
                out.write(chunk)
                remaining -= len(chunk)
            out.flush()
            os.fsync(out.fileno())
    return header


SNAPSHOT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class BackgroundSnapshotter:
    """Copies the state off the Raft thread.

    ``start`` is called on the Raft thread right after the last entry was
    applied, so a read transaction opened there is exactly the state at that
    entry. The copy, the state sync and the file write happen in a worker
    thread; ``status`` tells pysyncobj (via ``serializeChecker``) when the
    journal may be truncated.
    """

    def __init__(self, target: Path, copy_state: Callable[[Path, lmdb.Transaction], None],
                 sync_state: Callable[[], None]) -> None:
        self.target = target
        self._copy_state = copy_state
        self._sync_state = sync_state
        self._thread: threading.Thread | None = None
        self._result: bool | None = None
        self.completed = 0
        self.failed = 0
        self.last_index = 0
        self.durations = Buckets(SNAPSHOT_BUCKETS_S)  # copy + state sync + file write, successful ones
        self.worker_thread_ids: set[int] = set()

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, header: SnapshotHeader, txn: lmdb.Transaction) -> None:
        self._result = None
        self._thread = threading.Thread(target=self._run, args=(header, txn), name="wloadctl-snapshot",
                                        daemon=True)
        self._thread.start()

    def _run(self, header: SnapshotHeader, txn: lmdb.Transaction) -> None:
        self.worker_thread_ids.add(threading.get_ident())
        ok = False
        began = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(dir=self.target.parent, prefix=".snapcopy-") as tmp:
                try:
                    self._copy_state(Path(tmp), txn)
                finally:
                    txn.abort()
                # The journal is truncated once this returns: every applied
                # entry up to the snapshot must be durable in the state first.
                self._sync_state()
                write_snapshot(self.target, header, Path(tmp) / "data.mdb")
            # pysyncobj's placeholder (a hard link to the previous snapshot) is no longer needed.
            self.target.with_name(self.target.name + ".tmp").unlink(missing_ok=True)
            self.last_index = header.last[1]
            self.durations.observe(time.monotonic() - began)
            ok = True
        except Exception:  # reported through status(); the journal is kept
            import logging

            logging.getLogger(__name__).exception("snapshot failed")
        self._result = ok

    def poll(self) -> bool | None:
        """None while running (or idle); True/False once when finished."""
        if self._thread is None or self._result is None:
            return None
        self._thread.join()
        self._thread = None
        ok = self._result
        self._result = None
        if ok:
            self.completed += 1
        else:
            self.failed += 1
        return ok


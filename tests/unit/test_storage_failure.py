"""A durable write that fails (disk full): classification, and what the journal and the store do.

The real thing (a full tmpfs under a running replica) is tests/integration/test_disk_full.py;
here LMDB commits are made to fail the way py-lmdb reports a full disk.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import lmdb
import pytest

from wloadctl import fsutil
from wloadctl.fsutil import (
    DISK_FULL_EXIT_CODE,
    LOW_SPACE_BYTES,
    STORAGE_FAILURE_EXIT_CODE,
    StorageFailure,
    StorageWriteError,
    describe_failure,
    is_disk_full,
    is_storage_error,
    storage_errno,
)
from wloadctl.raft.journal import LmdbJournal
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, batch, job

ENOSPC_FROM_LMDB = lmdb.DiskError("mdb_txn_commit: No space left on device")
# What LMDB reports when the disk fills in the middle of writing a commit's pages (a short write).
SHORT_WRITE_FROM_LMDB = lmdb.Error("mdb_txn_commit: Input/output error")


@pytest.fixture
def failures() -> Iterator[list[StorageFailure]]:
    seen: list[StorageFailure] = []
    fsutil.set_storage_failure_handler(seen.append)
    try:
        yield seen
    finally:
        fsutil.set_storage_failure_handler(None)


# ---- classification

def test_errno_is_read_from_oserror_and_from_lmdb_messages() -> None:
    assert storage_errno(OSError(errno.ENOSPC, "No space left on device")) == errno.ENOSPC
    assert storage_errno(ENOSPC_FROM_LMDB) == errno.ENOSPC
    assert storage_errno(lmdb.Error(f"mdb_txn_commit: {os.strerror(errno.EDQUOT)}")) == errno.EDQUOT
    assert storage_errno(SHORT_WRITE_FROM_LMDB) == errno.EIO
    assert storage_errno(lmdb.BadValsizeError("mdb_put: MDB_BAD_VALSIZE")) is None


def test_disk_full_needs_enospc_or_an_io_error_with_no_room_left() -> None:
    assert is_disk_full(ENOSPC_FROM_LMDB, free_bytes=None)
    assert is_disk_full(OSError(errno.EDQUOT, "quota"), free_bytes=10 << 30)
    assert is_disk_full(SHORT_WRITE_FROM_LMDB, free_bytes=0)
    assert not is_disk_full(SHORT_WRITE_FROM_LMDB, free_bytes=LOW_SPACE_BYTES)  # a real I/O error
    assert not is_disk_full(SHORT_WRITE_FROM_LMDB, free_bytes=None)
    assert not is_disk_full(lmdb.MapFullError("mdb_put: MDB_MAP_FULL"), free_bytes=0)


def test_storage_errors_are_told_apart_from_errors_of_the_data() -> None:
    for exc in (ENOSPC_FROM_LMDB, SHORT_WRITE_FROM_LMDB, OSError(errno.EROFS, "ro"), lmdb.MapFullError("full"),
                lmdb.PanicError("panic"), lmdb.CorruptedError("corrupt")):
        assert is_storage_error(exc), exc
    for exc in (lmdb.BadValsizeError("too big"), lmdb.Error("Attempt to operate on closed/deleted/dropped object."),
                ValueError("bug")):
        assert not is_storage_error(exc), exc


def test_failure_message_and_exit_code() -> None:
    full = StorageFailure(Path("/var/lib/wloadctl/raft"), "the Raft journal", "DiskError: ...", True, 0)
    assert full.exit_code == DISK_FULL_EXIT_CODE == 3
    assert full.message().startswith("disk full: cannot write the Raft journal in /var/lib/wloadctl/raft (")
    assert "exit code 3" in full.message()
    broken = StorageFailure(Path("/d/state"), "the state", "Error: EIO", False, 1 << 30)
    assert broken.exit_code == STORAGE_FAILURE_EXIT_CODE == 4
    assert broken.message().startswith("storage write failed: cannot write the state in /d/state (")


def test_describe_failure_reads_the_free_space_where_the_path_is(tmp_path: Path) -> None:
    f = describe_failure(tmp_path / "not-created-yet" / "raft", "the Raft journal", SHORT_WRITE_FROM_LMDB)
    assert f.free_bytes is not None and f.free_bytes > 0
    assert f.disk_full == (f.free_bytes < LOW_SPACE_BYTES)


# ---- the journal: after one failed write, nothing more is written, synced or acknowledged

class _FailingCommit:
    """An LMDB write transaction whose commit fails as on a full disk (and is then dead, as py-lmdb's is)."""

    def __init__(self, txn: lmdb.Transaction) -> None:
        self._txn = txn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)

    def commit(self) -> None:
        self._txn.abort()
        raise ENOSPC_FROM_LMDB


def test_journal_refuses_everything_after_a_failed_commit(tmp_path: Path, failures: list[StorageFailure]) -> None:
    journal = LmdbJournal(tmp_path / "raft", map_size=1 << 26)
    journal.add(b"\x00a", 2, 1)
    journal.sync()
    journal.add(b"\x00b", 3, 1)
    journal._txn = _FailingCommit(journal._w())  # type: ignore[assignment]

    with pytest.raises(StorageWriteError, match=r"^disk full: cannot write the Raft journal"):
        journal.sync()
    assert len(failures) == 1 and failures[0].path == tmp_path / "raft" and failures[0].disk_full
    # Before: the second sync returned quietly (its "dirty" flag was already cleared), and
    # GuardedTransport.send let an acknowledgement for entry 3 out.
    with pytest.raises(StorageWriteError):
        journal.sync()
    with pytest.raises(StorageWriteError):
        journal.add(b"\x00c", 4, 1)
    with pytest.raises(StorageWriteError):
        journal.setCurrentTerm(2, "n1")
    with pytest.raises(StorageWriteError):
        journal.setRaftCommitIndex(3)
    assert len(failures) == 1, "reported once"

    journal._destroy()  # closes without trying to sync again
    reopened = LmdbJournal(tmp_path / "raft", map_size=1 << 26)
    assert [e[1] for e in reopened] == [1, 2], "only what was committed is in the journal"
    reopened._destroy()


def test_journal_reports_a_failed_put(tmp_path: Path, failures: list[StorageFailure]) -> None:
    journal = LmdbJournal(tmp_path / "raft", map_size=1 << 26)

    class _FailingPut(_FailingCommit):
        def put(self, *args: Any, **kwargs: Any) -> bool:
            raise SHORT_WRITE_FROM_LMDB  # a put spills dirty pages to disk when the transaction is large

    journal._txn = _FailingPut(journal._w())  # type: ignore[assignment]
    with pytest.raises(StorageWriteError):
        journal.add(b"\x00a", 2, 1)
    assert len(failures) == 1 and failures[0].what == "the Raft journal"
    with pytest.raises(StorageWriteError):
        journal.sync()
    journal._destroy()


def test_journal_works_normally_without_failures(tmp_path: Path, failures: list[StorageFailure]) -> None:
    journal = LmdbJournal(tmp_path / "raft", map_size=1 << 26)
    journal.add(b"\x00a", 2, 1)
    journal.setCurrentTerm(1, "n1")
    journal.sync()
    assert journal.syncs == 2 and not journal.dirty and journal.failure is None and not failures
    journal._destroy()


# ---- the store: a failed apply is reported (the server stops) and leaves the state as it was

class _EnvWithFullDisk:
    def __init__(self, env: lmdb.Environment) -> None:
        self._env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def begin(self, *args: Any, write: bool = False, **kwargs: Any) -> Any:
        txn = self._env.begin(*args, write=write, **kwargs)
        return _FailingCommitContext(txn) if write else txn


class _FailingCommitContext(_FailingCommit):
    def __enter__(self) -> _FailingCommitContext:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._txn.abort()
        if exc_type is None:
            raise ENOSPC_FROM_LMDB


def test_store_apply_reports_a_full_disk_and_applies_nothing(tmp_path: Path,
                                                             failures: list[StorageFailure]) -> None:
    store = Store(tmp_path / "state", map_size=1 << 26)
    assert store.apply(batch(apply_cmd(job("a"))), 1) is not None
    real_env = store.env
    store.env = _EnvWithFullDisk(real_env)  # type: ignore[assignment]
    with pytest.raises(StorageWriteError, match=r"^disk full: cannot write the state"):
        store.apply(batch(apply_cmd(job("b"))), 2)
    with pytest.raises(StorageWriteError):
        store.apply_meta(2, None)
    assert [f.path for f in failures] == [tmp_path / "state"] * 2
    store.env = real_env
    assert store.applied_index() == 1 and store.get_job("b") is None
    store.close()


def test_store_apply_does_not_hide_errors_of_the_data(tmp_path: Path, failures: list[StorageFailure]) -> None:
    # An error of the data is no storage failure: the command is answered INTERNAL (the same on
    # every replica) and the entry applies; raised, pysyncobj retried it for ever (state/store.py).
    store = Store(tmp_path / "state", map_size=1 << 26)

    def broken(*_: object) -> None:
        raise lmdb.BadValsizeError("mdb_put: MDB_BAD_VALSIZE")

    store._apply_command = broken  # type: ignore[method-assign]
    results = store.apply(batch(apply_cmd(job("a"))), 1)
    assert results and results[0].code == grpc.StatusCode.INTERNAL.value[0]
    assert results[0].message == "apply failed: BadValsizeError: mdb_put: MDB_BAD_VALSIZE"
    assert not failures and store.applied_index() == 1
    store.close()

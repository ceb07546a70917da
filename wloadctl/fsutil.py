"""Filesystem durability helpers, and what happens when a durable write fails.

A replica must never go on after a write to its journal or state that failed: the Raft
journal would claim entries it does not hold (pysyncobj keeps its own copy in memory), and
the state would drift from the log. The journal and the store report such a failure through
:func:`storage_write_failed`; the server installs a handler that logs it at CRITICAL and stops
the process (fail-stop, like etcd on a full disk). Without a handler (tests, tools) the
exception is raised and the journal refuses every later write.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lmdb

# Exit codes of `wloadctl server` for a failed durable write (docs/operations.md).
DISK_FULL_EXIT_CODE = 3
STORAGE_FAILURE_EXIT_CODE = 4

# LMDB turns a short write (the disk filled in the middle of a commit) into EIO, not ENOSPC
# (mdb_page_flush); with this little room left on the filesystem, EIO is read as "disk full".
LOW_SPACE_BYTES = 16 << 20

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Errors of the disk or the filesystem, as opposed to errors of the data written.
_STORAGE_ERRNOS = (*_DISK_FULL_ERRNOS, errno.EIO, errno.EROFS, errno.EFBIG)
# LMDB errors that mean the environment cannot be written (or trusted) any more.
_STORAGE_LMDB_ERRORS = (lmdb.DiskError, lmdb.MapFullError, lmdb.PanicError, lmdb.CorruptedError,
                        lmdb.PageNotFoundError, lmdb.ReadonlyError)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_errno(exc: BaseException) -> int | None:
    """The OS error behind ``exc``: OSError carries it, py-lmdb only names it in its message
    ("mdb_txn_commit: No space left on device")."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    text = str(exc)
    for code in _STORAGE_ERRNOS:
        if os.strerror(code) in text:
            return code
    return None


def is_storage_error(exc: BaseException) -> bool:
    """True when ``exc`` comes from the disk or the LMDB environment rather than from the data."""
    return isinstance(exc, (OSError, *_STORAGE_LMDB_ERRORS)) or storage_errno(exc) in _STORAGE_ERRNOS


def is_disk_full(exc: BaseException, free_bytes: int | None) -> bool:
    code = storage_errno(exc)
    if code in _DISK_FULL_ERRNOS:
        return True
    return code == errno.EIO and free_bytes is not None and free_bytes < LOW_SPACE_BYTES


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    for p in (path, *path.parents):
        try:
            st = os.statvfs(p)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


@dataclass(frozen=True)
class StorageFailure:
    path: Path
    what: str  # "the Raft journal", "the state", ...
    error: str
    disk_full: bool
    free_bytes: int | None

    @property
    def exit_code(self) -> int:
        return DISK_FULL_EXIT_CODE if self.disk_full else STORAGE_FAILURE_EXIT_CODE

    def message(self) -> str:
        free = "unknown" if self.free_bytes is None else str(self.free_bytes)
        head = "disk full" if self.disk_full else "storage write failed"
        return (f"{head}: cannot write {self.what} in {self.path} ({self.error}; {free} bytes free on that "
                f"filesystem); this replica stops (exit code {self.exit_code}) because Raft must not go on past "
                "a write that was not persisted. Free space (or fix the disk) and start it again: it catches up "
                "from the other replicas")


class StorageWriteError(Exception):
    def __init__(self, failure: StorageFailure) -> None:
        super().__init__(failure.message())
        self.failure = failure


def describe_failure(path: Path, what: str, exc: BaseException) -> StorageFailure:
    free = free_bytes(Path(path))
    return StorageFailure(path=Path(path), what=what, error=f"{type(exc).__name__}: {exc}",
                          disk_full=is_disk_full(exc, free), free_bytes=free)


_handler_lock = threading.Lock()
_handler: Callable[[StorageFailure], None] | None = None


def set_storage_failure_handler(handler: Callable[[StorageFailure], None] | None) -> None:
    """Called with every failed durable write; the server's handler does not return."""
    global _handler
    with _handler_lock:
        _handler = handler


def report_storage_failure(failure: StorageFailure) -> StorageWriteError:
    """Tell the handler (which may stop the process) and return the exception for the caller to raise."""
    with _handler_lock:
        handler = _handler
    if handler is not None:
        handler(failure)
    return StorageWriteError(failure)


def storage_write_failed(path: Path, what: str, exc: BaseException) -> StorageWriteError:
    return report_storage_failure(describe_failure(path, what, exc))

"""Full logs of runs kept on the agent.

Layout under ``root``::

    <run_id>-<attempt>.log    raw stdout+stderr bytes, interleaved in arrival order
    index                     append-only journal: "O <stem>" when a writer opens a log,
                              "D <stem> <finished_at>" when it closes it (the injected clock); last record wins

The journal is what tells a reader, even after an agent restart, that no more bytes will come to a
log. It replaces a per-log ``.done`` sidecar because creating a file costs 0.5-1 ms on the agent
disks measured (as much as spawning the process), while appending a record costs about 1 us, and
the close happens on the executor's single I/O thread. A log without a "D" record was being
written when an agent died: it is incomplete forever and ages by its mtime.

The index proper (size, age, completion of every log) lives in memory, is rebuilt from the
directory and the journal when a store is created, and the journal is rewritten compactly then and
by ``expire``. One LogStore per root at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RUN_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_JOURNAL = "index"
_NAME_RE = re.compile(r"^([A-Za-z0-9._-]{1,128})-(\d{1,18})\.log$")
TRUNCATION_MARKER = "\n[wloadctl: log truncated at {limit} bytes]\n"


class LogStoreError(Exception):
    """A log cannot be opened (e.g. another writer of this store still has it open)."""


def validate_run(run_id: str, attempt: int) -> str:
    """Return the file stem for a run, refusing anything that could name a path outside the root."""
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        raise ValueError(f"invalid run id {run_id!r}: must match {RUN_ID_RE.pattern}")
    # bool is an int subclass; True as an attempt number is a caller bug, not attempt 1
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0 or attempt >= 10**18:
        raise ValueError(f"invalid attempt {attempt!r}: must be a non-negative integer")
    return f"{run_id}-{attempt}"


def truncation_marker(limit: int) -> bytes:
    return TRUNCATION_MARKER.format(limit=limit).encode()


@dataclass(frozen=True)
class LogChunk:
    data: bytes
    next_offset: int
    complete: bool  # the writer closed and next_offset reached the end: nothing more will ever come
    found: bool


@dataclass
class _Entry:
    size: int
    finished_at: float  # what age is measured from: close time, or the mtime of an orphan
    complete: bool  # a writer closed it: nothing more will come
    writer: LogWriter | None = None  # open: never expired


_OPENING: Any = object()  # stands in for the writer while LogStore.open() works on the files


class LogWriter:
    """Appends one run's output; thread-compatible (one writing thread), readers may read concurrently."""

    def __init__(self, store: LogStore, stem: str, fd: int, entry: _Entry) -> None:
        self._store = store
        self._stem = stem
        self._fd: int | None = fd
        self._entry = entry
        self._limit = store.max_bytes_per_run
        self.bytes_received = 0  # everything offered, including what truncation dropped
        self.truncated = False

    @property
    def closed(self) -> bool:
        return self._fd is None

    def write(self, stream: str, data: bytes) -> None:
        # stream is accepted for the interface (and future per-stream accounting); the file is
        # deliberately one interleaved byte sequence, which is what `logs` shows.
        del stream
        if self._fd is None:
            raise ValueError("write to a closed log")
        if not data:
            return
        before = self.bytes_received
        self.bytes_received += len(data)
        if self.truncated:
            return
        room = self._limit - before
        if len(data) > room:
            data = bytes(data[: max(room, 0)]) + truncation_marker(self._limit)
            self.truncated = True
        self._write_all(data)

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)
        self._store._writer_closed(self._stem, self._entry)

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._store._grew(self._entry, len(data))


class LogStore:
    """Full logs of runs on the agent: <root>/<run_id>-<attempt>.log plus a small index.

    Retention by age and total size (``expire``); one run's log is capped at max_bytes_per_run.
    """

    def __init__(self, root: Path, retention_seconds: float = 7 * 86400, max_total_bytes: int = 10 << 30,
                 max_bytes_per_run: int = 1 << 30, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.retention_seconds = retention_seconds
        self.max_total_bytes = max_total_bytes
        self.max_bytes_per_run = max_bytes_per_run
        self._clock = clock
        self._lock = threading.Lock()
        self.root.mkdir(parents=True, exist_ok=True)
        self._journal_path = self.root / _JOURNAL
        self._journal_fd = -1
        self._journal_records = 0
        with self._lock:
            self._index: dict[str, _Entry] = self._scan()
            # also repairs a record torn by a crash, which the next append would otherwise extend
            self._compact_locked()

    def _scan(self) -> dict[str, _Entry]:
        closed: dict[str, float | None] = {}  # stem -> close time; None: (re)opened after its last close
        with contextlib.suppress(FileNotFoundError):
            for line in self._journal_path.read_bytes().decode(errors="replace").splitlines():
                parts = line.split(" ")
                if len(parts) == 2 and parts[0] == "O":
                    closed[parts[1]] = None
                elif len(parts) == 3 and parts[0] == "D":
                    try:
                        closed[parts[1]] = float(parts[2])
                    except ValueError:
                        continue  # torn by a crash
        index: dict[str, _Entry] = {}
        for entry in os.scandir(self.root):
            if not _NAME_RE.fullmatch(entry.name):
                continue
            stem = entry.name[: -len(".log")]
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            finished_at = closed.get(stem)
            if finished_at is None:
                index[stem] = _Entry(size=st.st_size, finished_at=st.st_mtime, complete=False)
            else:
                index[stem] = _Entry(size=st.st_size, finished_at=finished_at, complete=True)
        return index

    def _compact_locked(self) -> None:
        tmp = self.root / f"{_JOURNAL}.tmp"
        lines = "".join(f"D {stem} {e.finished_at!r}\n" for stem, e in self._index.items() if e.complete)
        tmp.write_text(lines)
        os.replace(tmp, self._journal_path)
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
        self._journal_fd = os.open(self._journal_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._journal_records = len(self._index)

    def _record_locked(self, line: str) -> None:
        # one write() of a short line to an O_APPEND fd: records never interleave
        os.write(self._journal_fd, line.encode())
        self._journal_records += 1

    def close(self) -> None:
        """Release the journal; open writers must be closed first."""
        with self._lock:
            if self._journal_fd >= 0:
                os.close(self._journal_fd)
                self._journal_fd = -1

    def open(self, run_id: str, attempt: int) -> LogWriter:
        """Start (or restart from empty) the log of a run."""
        stem = validate_run(run_id, attempt)
        entry = _Entry(size=0, finished_at=self._clock(), complete=False)
        with self._lock:
            old = self._index.get(stem)
            if old is not None and old.writer is not None:
                raise LogStoreError(f"log {stem} is already open")
            # Claim the name (an open entry is never expired) and do the slow file creation unlocked.
            # The placeholder writer is replaced below; it only marks the entry as busy meanwhile.
            entry.writer = _OPENING
            self._index[stem] = entry
            # before the file is touched: an older "D" for this name must not survive a crash mid-run
            self._record_locked(f"O {stem}\n")
        try:
            fd = os.open(self.root / f"{stem}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
        except BaseException:
            with self._lock:
                del self._index[stem]
            raise
        writer = LogWriter(self, stem, fd, entry)
        with self._lock:
            entry.writer = writer
        return writer

    def read(self, run_id: str, attempt: int, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        stem = validate_run(run_id, attempt)
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be non-negative")
        # Completion first: once the writer closed, the file is final and the size read afterwards is
        # the true end. The other order could report complete with bytes missed.
        with self._lock:
            entry = self._index.get(stem)
            done = entry is not None and entry.complete
        try:
            fd = os.open(self.root / f"{stem}.log", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return LogChunk(b"", offset, complete=False, found=False)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, min(limit, max(size - offset, 0)), offset) if offset < size else b""
        finally:
            os.close(fd)
        next_offset = offset + len(data)
        return LogChunk(data, next_offset, complete=done and next_offset >= size, found=True)

    def expire(self) -> int:
        """Delete logs past retention, then the oldest until under max_total_bytes; returns how many went.

        Logs with an open writer are never deleted: the writer would keep filling an unlinked file.
        """
        now = self._clock()
        victims: list[str] = []
        with self._lock:
            closed = sorted((e.finished_at, stem) for stem, e in self._index.items() if e.writer is None)
            total = sum(e.size for e in self._index.values())
            for finished_at, stem in closed:
                if finished_at <= now - self.retention_seconds or total > self.max_total_bytes:
                    victims.append(stem)
                    total -= self._index.pop(stem).size
                    # unlink under the lock: an open() of the same run right now must not lose its new file
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.root / f"{stem}.log")
            if self._journal_records > 2 * len(self._index) + 1000:
                self._compact_locked()
        if victims:
            log.info("expired %d run logs from %s", len(victims), self.root)
        return len(victims)

    def total_bytes(self) -> int:
        with self._lock:
            return sum(e.size for e in self._index.values())

    def _grew(self, entry: _Entry, n: int) -> None:
        with self._lock:
            entry.size += n

    def _writer_closed(self, stem: str, entry: _Entry) -> None:
        finished_at = self._clock()
        with self._lock:
            entry.finished_at = finished_at
            entry.complete = True
            entry.writer = None
            if self._index.get(stem) is entry and self._journal_fd >= 0:
                self._record_locked(f"D {stem} {finished_at!r}\n")

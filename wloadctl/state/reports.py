"""The runs of a time range, for run reports (wloadctl/model/runreport.py counts them).

Runs are keyed by their sequence number, and a run's `created_ms` is the time of the entry that
created it, which never moves backwards (Store.apply clamps it to the previous entry's): the runs
table is therefore in creation-time order already and serves as the time index. A binary search
over the keys finds the first run of the range in O(log n) reads; the scan then reads only the
runs of the range, oldest first, and stops at the range's end or after ``max_runs`` runs. Nothing
is written: no index to keep, no change to the replicated state or to snapshots.

The scan goes on in chunks, each in a read transaction of its own (Store.report_runs), so that a
long report neither keeps old pages pinned in LMDB nor holds off a snapshot install for seconds.
Each run is read once, as of the chunk that reads it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import lmdb

from wloadctl.model.runreport import RunReportBuilder
from wloadctl.proto.v1 import runs_pb2

_U64 = struct.Struct(">Q")
_CHECK_CLOCK_EVERY = 1024
# Runs read per read transaction: a chunk takes some 100-200 ms here.
REPORT_CHUNK = 20_000


@dataclass
class RunScan:
    """A report's scan, carried from one read transaction to the next (scan_chunk)."""

    builder: RunReportBuilder
    domains: Collection[str] | None  # None: every domain
    max_runs: int
    deadline: float | None = None    # by ``clock``: stop (truncated) once it has passed
    clock: Callable[[], float] | None = None  # the caller's (the state reads no clock of its own)
    scanned: int = 0                 # runs read (of every domain)
    counted: int = 0                 # runs given to the builder (of the domains)
    done: bool = False
    truncated: bool = False          # stopped before the range's end: max_runs or the deadline
    covered_to_ms: int = 0           # done: every run created before this was counted, none at or after it
    next_key: bytes | None = None    # where the next chunk starts (None: at the range's first run)
    last_ms: int = -1                # created_ms of the last run read
    workflow_names: dict[str, str] = field(default_factory=dict)

    def finish(self, truncated: bool, covered_to_ms: int) -> None:
        self.done, self.truncated, self.covered_to_ms = True, truncated, covered_to_ms


def _created(raw: bytes) -> int:
    return runs_pb2.Run.FromString(raw).created_ms


def first_key_at(txn: lmdb.Transaction, runs_db: lmdb._Database, from_ms: int) -> bytes | None:
    """The key of the first run created at or after ``from_ms`` (None: there is none)."""
    cur = txn.cursor(db=runs_db)
    if not cur.last():
        return None
    hi = _U64.unpack(cur.key())[0]
    if _created(cur.value()) < from_ms:
        return None
    cur.first()
    lo = _U64.unpack(cur.key())[0]
    # The smallest seq s whose next existing run (the first key >= s) was created at or after from_ms;
    # true for hi, and monotonic in s because created_ms is.
    while lo < hi:
        mid = (lo + hi) // 2
        cur.set_range(_U64.pack(mid))  # finds a key: hi exists
        found = _U64.unpack(cur.key())[0]
        if _created(cur.value()) >= from_ms:
            hi = mid
        else:
            lo = found + 1
    cur.set_range(_U64.pack(lo))
    return bytes(cur.key())


def scan_chunk(txn: lmdb.Transaction, runs_db: lmdb._Database, scan: RunScan, chunk: int,
               workflow_of: Callable[[str], str]) -> None:
    """Read up to ``chunk`` more runs of the scan's range in ``txn``, giving the builder those of its domains.

    At most ``max_runs`` runs are read in all (of any domain), plus those created in the same
    millisecond as the last of them, so that the runs counted are exactly those created before
    covered_to_ms; the deadline stops the scan the same way. ``workflow_of`` names the workflow of a
    workflow run id (reports by workflow)."""
    builder = scan.builder
    if scan.next_key is None:
        scan.next_key = first_key_at(txn, runs_db, builder.from_ms)
        if scan.next_key is None:
            scan.finish(False, builder.to_ms)
            return
    cur = txn.cursor(db=runs_db)
    if not cur.set_range(scan.next_key):
        scan.finish(False, builder.to_ms)
        return
    by_workflow, names, domains = builder.by == "workflow", scan.workflow_names, scan.domains
    read = 0
    for key, raw in cur:
        if read >= chunk:
            scan.next_key = bytes(key)
            return
        run = runs_pb2.Run.FromString(raw)
        created = run.created_ms
        if builder.to_ms and created >= builder.to_ms:
            break
        if created != scan.last_ms and (scan.scanned >= scan.max_runs or (
                scan.deadline is not None and scan.clock is not None and read % _CHECK_CLOCK_EVERY == 0
                and scan.clock() >= scan.deadline)):
            scan.finish(True, created)
            return
        scan.last_ms = created
        scan.scanned += 1
        read += 1
        if domains is not None and run.spec.domain not in domains:
            continue
        workflow = ""
        if by_workflow and run.workflow_run_id:
            workflow = names.get(run.workflow_run_id, "")
            if run.workflow_run_id not in names:
                workflow = names[run.workflow_run_id] = workflow_of(run.workflow_run_id)
        builder.add(run, workflow)
        scan.counted += 1
    scan.finish(False, builder.to_ms)

"""The replicated state machine: LMDB storage and the pure ``apply()``.

Every replica applies the same committed CommandBatch entries in the same
order and must end up with byte-identical databases. So ``apply()`` reads no
clock, draws no random numbers and does no I/O beyond its own LMDB write
transaction: time arrives in the batch (stamped by the leader), and the last
applied Raft index is written in the same transaction, which makes replay
after a restart idempotent.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import struct
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import lmdb
from google.protobuf import unknown_fields
from google.protobuf.message import DecodeError

from wloadctl.fsutil import fsync_dir, is_storage_error, storage_write_failed
from wloadctl.model.members import MemberError, check_member_id, member_problem
from wloadctl.model.rules import SpecError, normalize, validate_specs
from wloadctl.model.runreport import RunReportBuilder
from wloadctl.proto.v1 import (
    api_pb2,
    approval_pb2,
    audit_pb2,
    auth_pb2,
    commands_pb2,
    jobs_pb2,
    runs_pb2,
    secrets_pb2,
    workflows_pb2,
)
from wloadctl.scheduler.calendars import WorkingDays
from wloadctl.state import audit_entries
from wloadctl.state.approvals import APPROVAL_DBS, APPROVAL_MESSAGES, ApprovalTables
from wloadctl.state.audit import AUDIT_DBS, AuditLog, Verdict, audit_key, capped, to_dict, to_json
from wloadctl.state.auth import AUTH_DBS, AUTH_MESSAGES, AuthTables
from wloadctl.state.calendars import CALENDAR_DBS, CALENDAR_MESSAGES, CalendarTables
from wloadctl.state.changes import CLUSTER, JOB, Change, ChangeFeed, ChangeSink
from wloadctl.state.encoding import encode
from wloadctl.state.events import EVENT_DBS, EventTables
from wloadctl.state.reports import REPORT_CHUNK, RunScan, scan_chunk
from wloadctl.state.results import err as _err
from wloadctl.state.results import ok as _ok
from wloadctl.state.runs import EPOCH_KEY, FINAL_STATES, RUN_DBS, RunTables, RunWhere, run_seq
from wloadctl.state.schedules import SCHEDULE_DBS, SCHEDULE_MESSAGES, ScheduleTables
from wloadctl.state.secrets import SECRET_DBS, SECRET_MESSAGES, SecretBox, SecretTables, info, secrets_key
from wloadctl.state.stats import STATS_DBS, DomainSummary
from wloadctl.state.view import StateView
from wloadctl.state.workflows import WORKFLOW_DBS, WORKFLOW_MESSAGES, WorkflowTables

# Large and identical on every replica: a MapFullError must never make one
# replica fail a command another one applied. The file is sparse.
DEFAULT_MAP_SIZE = 64 << 30
_DB_NAMES = (
    b"meta", b"jobs", b"job_versions", b"job_seq", b"domains", b"idem", b"idem_by_time", b"members",
    b"raft_members", *RUN_DBS, *AUTH_DBS, *AUDIT_DBS, *APPROVAL_DBS, *SECRET_DBS, *SCHEDULE_DBS, *CALENDAR_DBS,
    *EVENT_DBS, *WORKFLOW_DBS, *STATS_DBS,
)

_APPLIED_INDEX = b"applied_index"
# Retention of job versions (a constant: every replica must trim the same): the newest this many of
# each job are kept; each new version removes at most VERSION_TRIM_STEP of the oldest.
JOB_VERSIONS_KEPT = 100
VERSION_TRIM_STEP = 4
_STATE_TIME = b"state_time_ms"
# Version of the stored bytes. 2: every protobuf value is canonical (wloadctl.state.encoding);
# data dirs written before (format 1, no key) are re-encoded once when the store opens.
# 3: runs_job_active (runs not final, per job), built from runs_active when the store opens.
# 4: counters per domain (state/stats.py) and the state of each unfinished run in runs_active.
_FORMAT = b"format"
FORMAT_VERSION = 4
# Databases whose values are protobuf messages (the others hold index keys or integers).
_PROTO_DBS = {b"jobs": jobs_pb2.JobVersion, b"job_versions": jobs_pb2.JobVersion, b"idem": commands_pb2.CommandResult,
              b"members": commands_pb2.Member, b"runs": runs_pb2.Run, b"agents": runs_pb2.Agent,
              **AUTH_MESSAGES, **APPROVAL_MESSAGES, **SECRET_MESSAGES, **SCHEDULE_MESSAGES,
              **CALENDAR_MESSAGES, **WORKFLOW_MESSAGES}
_CANONICALIZE_BATCH = 10_000

# Idempotency records are kept this long (in leader-stamped time) so that a
# client retrying within a day never applies a write twice.
IDEMPOTENCY_RETENTION_MS = 24 * 3600 * 1000
# Bounded work per batch when expiring idempotency records.
_IDEM_EXPIRY_PER_BATCH = 1000
MAX_IDEMPOTENCY_KEY = 128

# Records one listing call may look at: a filter that matches little returns a partial (even
# empty) page with a token to continue from, instead of scanning a whole table in one call.
MAX_SCAN_PER_PAGE = 10_000
# Bytes of records one page holds (more only when a single record is larger): a page of big job
# definitions must fit in one gRPC message (max_message_bytes, at least 4 MiB).
MAX_PAGE_BYTES = 3 << 20

# Exit code of `wloadctl server` when the log holds an entry this version cannot apply
# (docs/operations.md); 3 and 4 are storage failures (wloadctl/fsutil.py).
INCOMPATIBLE_ENTRY_EXIT_CODE = 5

_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobPage:
    jobs: list[jobs_pb2.JobVersion]
    next_token: str


class IncompatibleEntryError(Exception):
    """A committed entry this version cannot apply: it does not decode, or holds a command type
    this version does not know and that is not marked ignorable.

    Answering it (UNIMPLEMENTED) or skipping it would let this replica diverge silently from one
    that applies it; nothing of the entry is written and the applied index stays where it was, so
    the same data dir applies it once started with a version that knows it."""

    exit_code = INCOMPATIBLE_ENTRY_EXIT_CODE

    def __init__(self, raft_index: int, reason: str) -> None:
        super().__init__(
            f"cannot apply Raft entry {raft_index}: {reason}; this replica stops (exit code "
            f"{INCOMPATIBLE_ENTRY_EXIT_CODE}) without applying it, as skipping it would make it diverge from the "
            "replicas that apply it. If it runs an older version than the leader, upgrade it and start it again: "
            "it applies the entry then")
        self.raft_index = raft_index
        self.reason = reason


_incompatible_handler: Callable[[IncompatibleEntryError], None] | None = None


def set_incompatible_entry_handler(handler: Callable[[IncompatibleEntryError], None] | None) -> None:
    """Called with every entry this version cannot apply; the server's handler stops the process
    (like a failed durable write, see wloadctl/fsutil.py). Without one the error is raised, and
    pysyncobj retries the entry on every tick without applying it."""
    global _incompatible_handler
    _incompatible_handler = handler


def incompatible_entry(raft_index: int, reason: str) -> IncompatibleEntryError:
    error = IncompatibleEntryError(raft_index, reason)
    handler = _incompatible_handler
    if handler is not None:
        handler(error)
    return error


def apply_failure_message(exc: BaseException) -> str:
    """The INTERNAL answer to a command whose apply raised: the same text on every replica (object
    addresses, which a message may hold, are masked), bounded in size."""
    return _ADDRESS.sub("0x…", f"apply failed: {type(exc).__name__}: {exc}")[:500]


class _EnvGuard:
    """Readers-writer guard of ``Store.env``: reads, ``apply()`` and syncs share it, only swapping
    the environment (installing a snapshot, closing) excludes them.

    LMDB's MVCC already isolates readers from the writer, so a read must never wait for apply()
    (its commit and fsync) and a long read (Digest) must never hold up apply(). Reentrant: a
    thread that holds either side may take the shared side again (the swap reopens the env and
    re-encodes old data dirs through the same code paths)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._writers_waiting = 0
        self._local = threading.local()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        depth = getattr(self._local, "depth", 0)
        if depth or self._writer == me:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        with self._cond:
            # Writer preference: a snapshot install is not starved by a stream of reads.
            self._cond.wait_for(lambda: self._writer is None and not self._writers_waiting)
            self._readers += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._writer == me:
            yield
            return
        if getattr(self._local, "depth", 0):
            raise RuntimeError("the state env cannot be swapped by a thread that is reading it")
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: self._writer is None and not self._readers)
            self._writers_waiting -= 1
            self._writer = me
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()


# Command types this version applies (any other one stops the replica unless marked ignorable).
_HANDLED = frozenset({
    "apply_jobs", "delete_job", "set_member", "remove_member", "noop", "bootstrap", "begin_epoch", "force_activate",
    "register_agent", "mark_agent_lost", "trigger_run", "dispatch_runs", "record_run_events", "request_kill",
    "auth_bootstrap", "put_user", "delete_user", "put_role", "delete_role", "record_login", "revoke_session",
    "create_api_key", "revoke_api_key", "set_security_policy", "record_audit", "request_approval", "decide_approval",
    "set_secret", "delete_secret", "fire_schedules", "suspend_job", "apply_calendars", "delete_calendar",
    "emit_event", "prune_runs", "file_arrived", "apply_workflows", "delete_workflow", "trigger_workflow",
    "rerun_workflow", "workflow_run_action", "mark_workflow_task", "fire_workflow_timers",
})


# Commands that never change who may do what (users, roles, keys, sessions, the policy): the
# high-volume ones. Every other kind, a future one included, moves auth_generation().
_AUTH_NEUTRAL = frozenset({
    "apply_jobs", "delete_job", "noop", "begin_epoch", "register_agent", "mark_agent_lost", "trigger_run",
    "dispatch_runs", "record_run_events", "request_kill", "record_audit", "set_secret", "delete_secret",
    "fire_schedules", "suspend_job", "apply_calendars", "delete_calendar", "emit_event",
    "prune_runs", "file_arrived", "apply_workflows", "delete_workflow", "trigger_workflow", "rerun_workflow",
    "workflow_run_action", "mark_workflow_task", "fire_workflow_timers",
})


def _version_key(name: str, version: int) -> bytes:
    return name.encode() + b"\0" + _U64.pack(version)


class Store:
    """LMDB-backed state. Writes happen only through :meth:`apply` (the Raft
    thread); reads may come from any thread."""

    def __init__(self, path: str | os.PathLike[str], map_size: int = DEFAULT_MAP_SIZE,
                 cluster_secret: str | bytes | None = None) -> None:
        self.path = Path(path)
        self.map_size = map_size
        # Audit records and secrets' values are encrypted under keys derived from the cluster secret
        # (state/audit.py, state/secrets.py): every replica of a cluster holds the same secret.
        self._audit_key = audit_key(cluster_secret)
        self.secret_box = SecretBox(secrets_key(cluster_secret))
        self._leader = ""
        self._auth_generation = 0
        # Guards swapping the environment when a snapshot is installed (never taken exclusively by
        # apply() or reads: they rely on LMDB's MVCC).
        self._guard = _EnvGuard()
        # What each applied entry changed, for watches (state/changes.py).
        self.changes = ChangeSink()
        self._open()
        self.feed = ChangeFeed(self.applied_index())

    # ---- environment ----

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # metasync=False: data pages are synced at every commit, the meta page
        # lazily. A power loss may undo the last transaction but never corrupts
        # the file; the durable Raft log replays what was undone, and the log is
        # only truncated after an explicit sync (see raft/snapshots.py).
        self.env = lmdb.open(
            str(self.path), map_size=self.map_size, max_dbs=len(_DB_NAMES) + 2,
            metasync=False, readahead=False,
        )
        self._dbs = {name: self.env.open_db(name) for name in _DB_NAMES}
        self.runs = RunTables(self._dbs)
        self.runs.changes = self.changes
        self.calendars = CalendarTables(self._dbs)
        self.events = EventTables(self._dbs, self.runs)
        self.schedules = ScheduleTables(self._dbs, self.runs, self.calendars)
        self.workflows = WorkflowTables(self._dbs, self.runs)
        self.runs.on_task_final = self.workflows.task_final
        self.workflows.working = self.calendars.working
        self.workflows.on_trigger_changed = self._workflow_trigger_changed
        self.schedules.workflow_trigger = self.events.workflow_trigger = self.workflows.trigger_version
        self.schedules.start_workflow = self.workflows.start_scheduled
        self.schedules.workflow_running = self.workflows.running_of
        self.events.start_workflow = self.workflows.start_by_event
        self.auth = AuthTables(self._dbs)
        self.audit = AuditLog(self._dbs, self._audit_key)
        self.approvals = ApprovalTables(self._dbs)
        self.secrets = SecretTables(self._dbs)
        self._canonicalize()

    def format_version(self) -> int:
        with self._reading() as txn:
            raw = txn.get(_FORMAT, db=self._dbs[b"meta"])
        return _U64.unpack(raw)[0] if raw else 1

    def _canonicalize(self) -> None:
        """Re-encode every stored message canonically, once per data dir (or installed snapshot).

        Every replica of this version rewrites the same values the same way, so replicas whose
        older bytes differed only in map order end up byte-identical. Bounded transactions keep
        memory flat on big states; an interrupted run is simply repeated (re-encoding is
        idempotent) because the format is recorded last."""
        found = self.format_version()
        if found >= FORMAT_VERSION:
            return
        meta = self._dbs[b"meta"]
        for name, message_type in _PROTO_DBS.items() if found < 2 else ():
            start = b""
            while True:
                with self._writing() as txn:
                    cur = txn.cursor(db=self._dbs[name])
                    done = not cur.set_range(start) if start else not cur.first()
                    count = 0
                    while not done and count < _CANONICALIZE_BATCH:
                        key, value = cur.key(), cur.value()
                        canonical = encode(message_type.FromString(value))
                        if canonical != value:
                            cur.put(key, canonical)
                        count += 1
                        done = not cur.next()
                    start = bytes(cur.key()) if not done else b""
                if done:
                    break
        with self._writing() as txn:
            raw = txn.get(EPOCH_KEY, db=meta)
            if raw:
                txn.put(EPOCH_KEY, encode(runs_pb2.EpochInfo.FromString(raw)), db=meta)
            if found < 3:
                # The index of runs not final per job (overlap policies) is new in format 3.
                for key, _ in txn.cursor(db=self._dbs[b"runs_active"]):
                    raw_run = txn.get(key, db=self._dbs[b"runs"])
                    if raw_run:
                        name = runs_pb2.Run.FromString(raw_run).job_name
                        txn.put(name.encode() + b"\0" + bytes(key), b"", db=self._dbs[b"runs_job_active"])
            if found < 4:
                self._build_stats(txn)
            txn.put(_FORMAT, _U64.pack(FORMAT_VERSION), db=meta)

    def _build_stats(self, txn: lmdb.Transaction) -> None:
        """Format 4: the per-domain counters, from a scan of the state (once per data dir or
        installed snapshot of an older format; a function of the state, so the same everywhere)."""
        runs_db, active = self._dbs[b"runs"], self._dbs[b"runs_active"]

        def runs() -> Iterator[runs_pb2.Run]:
            for key, raw in txn.cursor(db=runs_db):
                run = runs_pb2.Run.FromString(raw)
                if run.state not in FINAL_STATES:
                    txn.put(key, bytes([run.state]), db=active)
                yield run

        def job_domains() -> Iterator[str]:
            for key in txn.cursor(db=self._dbs[b"domains"]).iternext(values=False):
                yield bytes(key).partition(b"\0")[0].decode()

        workflow_domains = (w.spec.domain or "default" for w in self.workflows.list(txn) if not w.deleted)
        self.runs.stats.rebuild(txn, runs(), job_domains(), workflow_domains)
        log.info("built the per-domain counters", extra={"runs": int(txn.stat(runs_db)["entries"])})

    def close(self) -> None:
        with self._guard.exclusive():
            self.env.sync(True)
            self.env.close()

    def sync(self) -> None:
        with self._guard.shared():
            self.env.sync(True)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[lmdb.Transaction]:
        """A read transaction: it waits only for a snapshot install, never for apply()."""
        with self._guard.shared(), self.env.begin() as txn:
            yield txn

    @contextlib.contextmanager
    def _writing(self) -> Iterator[lmdb.Transaction]:
        """One write transaction. If the disk or the environment fails (disk full), the failure is
        reported, and the server stops: pysyncobj would retry the entry forever on its Raft thread,
        dropping the proposer's callbacks and wedging the replica while it still answers reads."""
        with self._guard.shared():
            try:
                with self.env.begin(write=True) as txn:
                    yield txn
            except Exception as e:
                if is_storage_error(e):
                    raise storage_write_failed(self.path, "the state", e) from e
                raise

    def replace_with(self, data_file: Path) -> None:
        """Install a snapshot: ``data_file`` is an LMDB ``data.mdb`` copy."""
        try:
            self._replace_with(data_file)
        except Exception as e:
            # Halfway through, the environment may be closed or missing its lock file.
            if is_storage_error(e):
                raise storage_write_failed(self.path, "the state (installing a snapshot)", e) from e
            raise

    def _replace_with(self, data_file: Path) -> None:
        with self._guard.exclusive():
            self.env.close()
            staged = self.path.with_name(self.path.name + ".installing")
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir(parents=True)
            os.replace(data_file, staged / "data.mdb")
            fsync_dir(staged)
            old = self.path.with_name(self.path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
            os.replace(staged, self.path)
            fsync_dir(self.path.parent)
            shutil.rmtree(old, ignore_errors=True)
            self._open()
            self._auth_generation += 1
        # Watches cannot replay what the snapshot skipped: they list again from its index.
        self.feed.reset(self.applied_index())

    @contextlib.contextmanager
    def view(self) -> Iterator[StateView]:
        """One consistent snapshot for a tick of planning (read-only, valid inside the block)."""
        with self._reading() as txn:
            yield StateView(txn, self.runs, self.schedules, self.events, self.workflows)

    def get_calendar(self, name: str, version: int = 0) -> jobs_pb2.CalendarVersion | None:
        with self._reading() as txn:
            return self.calendars.get(txn, name, version)

    def list_calendars(self) -> list[jobs_pb2.CalendarVersion]:
        with self._reading() as txn:
            return self.calendars.list(txn)

    def working_days(self) -> WorkingDays:
        with self._reading() as txn:
            return self.calendars.working(txn)

    def calendar_ref_errors(self, specs: Sequence[jobs_pb2.JobSpec]) -> list[str]:
        with self._reading() as txn:
            return self.calendars.reference_errors(txn, specs)

    def schedule_state(self, name: str) -> jobs_pb2.ScheduleState | None:
        with self._reading() as txn:
            return self.schedules.state(txn, name)

    def list_misfires(self, job_name: str = "", page_size: int = 100,
                      page_token: str = "") -> tuple[list[jobs_pb2.Misfire], str]:
        before = int(page_token[1:]) if page_token[:1] == "m" and page_token[1:].isdigit() else 0
        with self._reading() as txn:
            records, last = self.schedules.list_misfires(txn, job_name, before, page_size)
        return records, (f"m{last}" if last else "")

    def schedule_counts(self) -> dict[str, int]:
        with self._reading() as txn:
            return {"scheduled": self.schedules.scheduled_count(txn),
                    "next_due_ms": self.schedules.next_due_ms(txn)}

    def schedule_totals(self) -> tuple[int, dict[str, int]]:
        with self._reading() as txn:
            return self.schedules.totals(txn)

    def read_txn(self) -> lmdb.Transaction:
        """A point-in-time read transaction (used for snapshots)."""
        return self.env.begin(buffers=False)

    def copy_to(self, directory: Path, txn: lmdb.Transaction) -> None:
        self.env.copy(str(directory), compact=True, txn=txn)

    # ---- reads ----

    def _get_u64(self, txn: lmdb.Transaction, key: bytes) -> int:
        raw = txn.get(key, db=self._dbs[b"meta"])
        return _U64.unpack(raw)[0] if raw else 0

    def applied_index(self) -> int:
        with self._reading() as txn:
            return self._get_u64(txn, _APPLIED_INDEX)

    def state_time_ms(self) -> int:
        with self._reading() as txn:
            raw = txn.get(_STATE_TIME, db=self._dbs[b"meta"])
            return _I64.unpack(raw)[0] if raw else 0

    def get_job(self, name: str, version: int = 0) -> jobs_pb2.JobVersion | None:
        with self._reading() as txn:
            if version:
                raw = txn.get(_version_key(name, version), db=self._dbs[b"job_versions"])
            else:
                raw = txn.get(name.encode(), db=self._dbs[b"jobs"])
        return jobs_pb2.JobVersion.FromString(raw) if raw else None

    def job_domain(self, name: str) -> str | None:
        """The domain of a job's latest version, a deletion included (its tombstone keeps the
        spec): what a retried delete is authorized against once the first attempt deleted it.
        None for a name never written."""
        with self._reading() as txn:
            raw = txn.get(name.encode(), db=self._dbs[b"job_seq"])
            latest = txn.get(_version_key(name, _U64.unpack(raw)[0]), db=self._dbs[b"job_versions"]) if raw else None
        return jobs_pb2.JobVersion.FromString(latest).spec.domain if latest else None

    def workflow_domain(self, name: str) -> str | None:
        """As job_domain, for a workflow."""
        with self._reading() as txn:
            return self.workflows.last_domain(txn, name)

    def list_jobs(self, domain: str = "", selector: Mapping[str, str] | None = None,
                  page_size: int = 100, page_token: str = "", max_scan: int = MAX_SCAN_PER_PAGE) -> JobPage:
        """Jobs ordered by name; ``page_token`` is the last name the previous page looked at.

        At most ``max_scan`` jobs are looked at: when the selector matches few of them the page
        holds fewer than ``page_size`` jobs (maybe none) and a token to go on with; an empty
        ``next_token`` is the end. A page stops before MAX_PAGE_BYTES of jobs (one larger job
        fills a page alone)."""
        selector = dict(selector or {})
        out: list[jobs_pb2.JobVersion] = []
        with self._reading() as txn:
            jobs_db = self._dbs[b"jobs"]
            if domain:
                prefix = domain.encode() + b"\0"
                cur = txn.cursor(db=self._dbs[b"domains"])
                start = prefix + page_token.encode() + b"\0" if page_token else prefix
                names: Iterator[bytes] = (
                    k[len(prefix):] for k in _iter_from(cur, start, prefix)
                )
            else:
                cur = txn.cursor(db=jobs_db)
                start = page_token.encode() + b"\0" if page_token else b""
                names = (k for k in _iter_from(cur, start, b""))
            last = ""
            more = False
            size = 0
            for scanned, name in enumerate(names):
                if len(out) >= page_size or scanned >= max_scan:
                    more = True
                    break
                raw = txn.get(name, db=jobs_db)
                job = jobs_pb2.JobVersion.FromString(raw) if raw is not None else None
                if job is not None and all(job.spec.labels.get(k) == v for k, v in selector.items()):
                    if out and size + len(raw) > MAX_PAGE_BYTES:
                        more = True  # it opens the next page
                        break
                    out.append(job)
                    size += len(raw)
                last = bytes(name).decode()
        return JobPage(out, last if more else "")

    def sizes(self) -> api_pb2.StateSize:
        """Record counts (O(1) each: LMDB keeps them) and the pages in use."""
        with self._reading() as txn:
            def n(name: bytes) -> int:
                return int(txn.stat(self._dbs[name])["entries"])

            info, stat = self.env.info(), self.env.stat()
            return api_pb2.StateSize(
                jobs=n(b"jobs"), job_versions=n(b"job_versions"), runs=n(b"runs"), runs_active=n(b"runs_active"),
                calendars=n(b"calendars"), misfires=n(b"misfires"), audit_records=n(b"audit"),
                idempotency_records=n(b"idem"), state_bytes=(int(info["last_pgno"]) + 1) * int(stat["psize"]))

    def get_workflow(self, name: str, version: int = 0) -> workflows_pb2.WorkflowVersion | None:
        with self._reading() as txn:
            return self.workflows.get(txn, name, version)

    def list_workflows(self) -> list[workflows_pb2.WorkflowVersion]:
        with self._reading() as txn:
            return self.workflows.list(txn)

    def get_workflow_run(self, wrun_id: str) -> workflows_pb2.WorkflowRun | None:
        with self._reading() as txn:
            return self.workflows.get_run(txn, wrun_id)

    def workflow_impact_elsewhere(self, wrun: workflows_pb2.WorkflowRun,
                                  tasks: list[str]) -> list[workflows_pb2.ImpactedTask]:
        with self._reading() as txn:
            return self.workflows.impact_elsewhere(txn, wrun, tasks)

    def list_workflow_runs(self, workflow: str = "", limit: int = 100) -> list[workflows_pb2.WorkflowRun]:
        with self._reading() as txn:
            return self.workflows.list_runs(txn, workflow, limit)

    def count_jobs(self) -> int:
        with self._reading() as txn:
            return int(txn.stat(self._dbs[b"jobs"])["entries"])

    def summary(self, domains: Collection[str] | None, days: Sequence[str], hours_of_day: str) \
            -> tuple[int, list[DomainSummary]]:
        """(applied index, per-domain counters: state/stats.py) in one read transaction."""
        with self._reading() as txn:
            return self._get_u64(txn, _APPLIED_INDEX), self.runs.stats.summary(txn, domains, days, hours_of_day)

    def count_workflows(self) -> int:
        with self._reading() as txn:
            return int(txn.stat(self._dbs[b"workflows"])["entries"])

    def run_counts_now(self) -> dict[str, int]:
        """Runs queued and runs on agents (dispatched or running): O(1), LMDB keeps the counts."""
        with self._reading() as txn:
            return {"queued": int(txn.stat(self._dbs[b"runs_queue"])["entries"]),
                    "on_agents": int(txn.stat(self._dbs[b"runs_on_agent"])["entries"])}

    def members(self) -> list[commands_pb2.Member]:
        with self._reading() as txn:
            return [commands_pb2.Member.FromString(v) for _, v in txn.cursor(db=self._dbs[b"members"])]

    # ---- runs, agents, epochs

    def epoch_info(self) -> runs_pb2.EpochInfo:
        with self._reading() as txn:
            return self.runs.epoch(txn)

    def get_run(self, run_id: str) -> runs_pb2.Run | None:
        with self._reading() as txn:
            return self.runs.get_run(txn, run_id)

    def list_runs(self, job_name: str = "", state: int = 0, page_size: int = 100,
                  page_token: str = "", max_scan: int = MAX_SCAN_PER_PAGE,
                  where: RunWhere | None = None) -> tuple[list[runs_pb2.Run], str]:
        """Newest first; like list_jobs, at most ``max_scan`` runs are looked at per call."""
        before = run_seq(page_token) or 0 if page_token else 0
        with self._reading() as txn:
            runs, last = self.runs.list_runs(txn, job_name, state, page_size, before, max_scan, MAX_PAGE_BYTES,
                                             where)
        return runs, (f"r{last}" if last else "")

    def report_runs(self, builder: RunReportBuilder, domains: Collection[str] | None, max_runs: int,
                    deadline: float | None = None, clock: Callable[[], float] | None = None) -> RunScan:
        """Count the runs of ``builder``'s time range (of ``domains``; None: all) into it, reading only
        the runs of that range, REPORT_CHUNK runs per read transaction (state/reports.py)."""
        scan = RunScan(builder, domains, max_runs, deadline, clock)
        while not scan.done:
            with self._reading() as txn:
                def workflow_of(wrun_id: str, txn: lmdb.Transaction = txn) -> str:
                    wrun = self.workflows.get_run(txn, wrun_id, with_tasks=False)
                    return wrun.workflow_name if wrun is not None else ""

                scan_chunk(txn, self._dbs[b"runs"], scan, REPORT_CHUNK, workflow_of)
        return scan

    # ---- watch snapshots: what matches now, and the index it reflects (one read transaction)

    def snapshot_runs(self, job_name: str, limit: int) -> tuple[int, list[runs_pb2.Run]]:
        """The newest ``limit`` runs (of ``job_name`` if given), output tails left out."""
        with self._reading() as txn:
            runs, _ = self.runs.list_runs(txn, job_name, 0, limit, 0, max(limit, MAX_SCAN_PER_PAGE), 1 << 62)
            return self._get_u64(txn, _APPLIED_INDEX), runs

    def snapshot_run(self, run_id: str) -> tuple[int, runs_pb2.Run | None]:
        with self._reading() as txn:
            run = self.runs.get_run(txn, run_id)
            if run is not None:
                run.ClearField("output_tail")
            return self._get_u64(txn, _APPLIED_INDEX), run

    def snapshot_jobs(self, name: str = "") -> tuple[int, list[jobs_pb2.JobVersion]]:
        with self._reading() as txn:
            jobs_db = self._dbs[b"jobs"]
            if name:
                raw = txn.get(name.encode(), db=jobs_db)
                jobs = [jobs_pb2.JobVersion.FromString(raw)] if raw else []
            else:
                jobs = [jobs_pb2.JobVersion.FromString(v) for _, v in txn.cursor(db=jobs_db)]
            return self._get_u64(txn, _APPLIED_INDEX), jobs

    def snapshot_workflow_runs(self, run_id: str, workflow: str, limit: int) \
            -> tuple[int, list[workflows_pb2.WorkflowRun]]:
        """One workflow run with its tasks, or the newest ``limit`` (of ``workflow``) with theirs."""
        with self._reading() as txn:
            if run_id:
                one = self.workflows.get_run(txn, run_id)
                wruns = [one] if one is not None else []
            else:
                wruns = [w for w in (self.workflows.get_run(txn, h.id)
                                     for h in self.workflows.list_runs(txn, workflow, limit)) if w is not None]
            return self._get_u64(txn, _APPLIED_INDEX), wruns

    def snapshot_agents(self) -> tuple[int, list[runs_pb2.Agent]]:
        with self._reading() as txn:
            return self._get_u64(txn, _APPLIED_INDEX), self.runs.list_agents(txn)

    def agents(self) -> list[runs_pb2.Agent]:
        with self._reading() as txn:
            return self.runs.list_agents(txn)

    def active_runs(self) -> list[runs_pb2.Run]:
        with self._reading() as txn:
            return list(self.runs.active_runs(txn))

    def on_agent_runs(self, agent_id: str = "") -> list[runs_pb2.Run]:
        with self._reading() as txn:
            return list(self.runs.on_agent_runs(txn, agent_id))

    def on_agent_counts(self) -> dict[str, int]:
        with self._reading() as txn:
            return self.runs.on_agent_counts(txn)

    def queued_runs(self, limit: int) -> list[runs_pb2.Run]:
        with self._reading() as txn:
            return self.runs.queued_runs(txn, limit)

    def raft_members(self) -> list[str]:
        """Raft addresses of the voting members as of the applied index
        (empty until the first leader has bootstrapped the cluster)."""
        with self._reading() as txn:
            return [k.decode() for k, _ in txn.cursor(db=self._dbs[b"raft_members"])]

    def idempotent_result(self, key: str) -> commands_pb2.CommandResult | None:
        with self._reading() as txn:
            raw = txn.get(key.encode(), db=self._dbs[b"idem"])
        return commands_pb2.CommandResult.FromString(raw) if raw else None

    def digest(self, pause: Callable[[], None] | None = None) -> tuple[int, str]:
        """(applied index, sha256 over every database, key and value), from one read transaction:
        a full scan, so callers on the event loop run it in a worker thread. ``pause`` runs after
        each database, inside the transaction (tests hold a digest in progress with it)."""
        h = hashlib.sha256()
        with self._reading() as txn:
            applied = self._get_u64(txn, _APPLIED_INDEX)
            for name in _DB_NAMES:
                h.update(struct.pack(">I", len(name)) + name)
                for k, v in txn.cursor(db=self._dbs[name]):
                    h.update(struct.pack(">II", len(k), len(v)))
                    h.update(k)
                    h.update(v)
                if pause is not None:
                    pause()
        return applied, h.hexdigest()

    # ---- the state machine ----

    def apply(self, entry: bytes, raft_index: int) -> list[commands_pb2.CommandResult] | None:
        """Apply one committed Raft entry (a serialized CommandBatch).

        Returns one result per command, or None when ``raft_index`` was
        already applied (replay after restart). Deterministic: the same entry
        at the same index gives the same writes and results everywhere.
        Raises IncompatibleEntryError (nothing written) for an entry this
        version cannot apply.
        """
        self.changes.clear()
        with self._writing() as txn:
            if raft_index <= self._get_u64(txn, _APPLIED_INDEX):
                return None
            meta = self._dbs[b"meta"]
            try:
                batch = commands_pb2.CommandBatch.FromString(entry)
            except DecodeError as e:
                # No version of ours writes such an entry: skipping it would hide a replica that
                # diverged (a newer encoding, a corrupted journal) behind a moving applied index.
                raise incompatible_entry(raft_index, f"it does not decode as a CommandBatch ({e})") from None
            raw_time = txn.get(_STATE_TIME, db=meta)
            prev_time = _I64.unpack(raw_time)[0] if raw_time else 0
            # Time never moves backwards, even if a new leader's clock is slow.
            now_ms = max(prev_time, batch.time_ms)
            self._leader = batch.leader_id
            results = [self._apply_isolated(txn, i, cmd, now_ms, raft_index) for i, cmd in enumerate(batch.commands)]
            self._expire_idempotency(txn, now_ms)
            sessions_expired = self._expire_security(txn, now_ms, raft_index)
            txn.put(_STATE_TIME, _I64.pack(now_ms), db=meta)
            txn.put(_APPLIED_INDEX, _U64.pack(raft_index), db=meta)
        self.feed.append(raft_index, self.changes.take())
        # After the commit: a reader that sees the new number also sees the new state.
        if sessions_expired or any(cmd.WhichOneof("body") not in _AUTH_NEUTRAL for cmd in batch.commands):
            self._auth_generation += 1
        return results

    def auth_generation(self) -> int:
        """Moves whenever users, roles, keys, sessions or the policy may have changed (in memory only:
        what authentication derived from the state may be reused while it stays the same)."""
        return self._auth_generation

    def _apply_isolated(self, txn: lmdb.Transaction, position: int, cmd: commands_pb2.Command, now_ms: int,
                        raft_index: int) -> commands_pb2.CommandResult:
        """One command in a nested write transaction.

        An exception raised while applying a command (a value LMDB refuses, a bug) is as
        deterministic as the command: raised out of apply() it failed the entry on every replica,
        and pysyncobj retried it on every tick, for ever and again after restarts (a cluster
        wedged by one AddMember with a long address). Here the command is rolled back alone and
        answered INTERNAL, the rest of the batch applies and the applied index moves on. Failures
        of the disk or the environment still stop the replica (wloadctl/fsutil.py)."""
        self.workflows.begin_command()
        mark = self.changes.mark()
        try:
            with self.env.begin(write=True, parent=txn) as child:
                return self._apply_command(child, cmd, now_ms, raft_index, position)
        except IncompatibleEntryError:
            raise
        except Exception as e:
            if is_storage_error(e):
                raise
            self.changes.rollback(mark)
            result = _err(grpc.StatusCode.INTERNAL, apply_failure_message(e))
            result.raft_index = raft_index
            log.error("command failed at apply; answered INTERNAL on every replica",
                      extra={"raft_index": raft_index, "command": position, "type": cmd.WhichOneof("body") or "",
                             "error": result.message})
            key = cmd.idempotency_key.encode()
            if key and len(key) <= MAX_IDEMPOTENCY_KEY:
                self._record_result(txn, key, result, now_ms)  # a retry gets the same answer
            return result

    def _record_result(self, txn: lmdb.Transaction, key: bytes, result: commands_pb2.CommandResult,
                       now_ms: int) -> None:
        txn.put(key, encode(result), db=self._dbs[b"idem"])
        txn.put(_U64.pack(max(0, now_ms)) + key, b"", db=self._dbs[b"idem_by_time"])

    def _apply_command(self, txn: lmdb.Transaction, cmd: commands_pb2.Command, now_ms: int,
                       raft_index: int, position: int = 0) -> commands_pb2.CommandResult:
        key = cmd.idempotency_key.encode()
        if key:
            if len(key) > MAX_IDEMPOTENCY_KEY:
                return _err(grpc.StatusCode.INVALID_ARGUMENT,
                            f"idempotency_key: longer than {MAX_IDEMPOTENCY_KEY} bytes")
            seen = txn.get(key, db=self._dbs[b"idem"])
            if seen is not None:
                return commands_pb2.CommandResult.FromString(seen)
        kind = cmd.WhichOneof("body")
        if kind is not None and kind in _HANDLED:
            actor = self._actor(cmd)
            before = self._snapshot(txn, kind, cmd)
            result = self._dispatch(txn, kind, cmd, actor, now_ms, raft_index)
            result.raft_index = raft_index
            if kind not in audit_entries.NOT_AUDITED:
                self._audit(txn, kind, cmd, actor, result, now_ms, raft_index, before, self._snapshot(txn, kind, cmd))
            if key:
                self._record_result(txn, key, result, now_ms)
            return result
        if kind is None and not unknown_fields.UnknownFieldSet(cmd):
            result = _err(grpc.StatusCode.INVALID_ARGUMENT, "command: empty (no command type is set)")
        elif cmd.ignorable:
            # Its author marked it as safe to skip for versions that do not know it: skipped, and
            # nothing recorded (a replica that knows it records its own result).
            result = _err(grpc.StatusCode.UNIMPLEMENTED, "command: type unknown to this version; skipped (ignorable)")
            result.raft_index = raft_index
            return result
        else:
            # Never silently ignore a command this version does not know: a replica that knows
            # it would hold different state. Stop instead (the whole entry stays unapplied).
            fields = sorted({f.field_number for f in unknown_fields.UnknownFieldSet(cmd)})
            what = f"type {kind!r}" if kind else f"type (field {', '.join(map(str, fields))})"
            raise incompatible_entry(raft_index, f"command {position} has a {what} this version does not know "
                                     "and is not marked ignorable")
        result.raft_index = raft_index
        if key:
            self._record_result(txn, key, result, now_ms)
        return result

    def _dispatch(self, txn: lmdb.Transaction, kind: str, cmd: commands_pb2.Command, actor: auth_pb2.Actor,
                  now_ms: int, raft_index: int) -> commands_pb2.CommandResult:
        if kind == "apply_jobs":
            return self._apply_jobs(txn, cmd.apply_jobs.jobs, now_ms, raft_index)
        if kind == "delete_job":
            return self._delete_job(txn, cmd.delete_job.name, now_ms, raft_index)
        if kind == "set_member":
            return self._set_member(txn, cmd.set_member.member)
        if kind == "remove_member":
            return self._remove_member(txn, cmd.remove_member.id)
        if kind == "noop":
            return _ok()
        if kind == "bootstrap":
            return self._bootstrap(txn, cmd.bootstrap.members)
        if kind == "begin_epoch":
            return self.runs.begin_epoch(txn, cmd.begin_epoch, now_ms)
        if kind == "force_activate":
            return self.runs.force_activate(txn, cmd.force_activate)
        if kind == "register_agent":
            return self.runs.register_agent(txn, cmd.register_agent.agent, now_ms)
        if kind == "mark_agent_lost":
            return self.runs.mark_agent_lost(txn, cmd.mark_agent_lost, now_ms)
        if kind == "trigger_run":
            return self.runs.trigger_run(txn, cmd.trigger_run, now_ms, cmd.idempotency_key)
        if kind == "dispatch_runs":
            return self.runs.dispatch(txn, cmd.dispatch_runs, now_ms)
        if kind == "record_run_events":
            return self.runs.record_events(txn, cmd.record_run_events, now_ms)
        if kind == "request_kill":
            return self.runs.request_kill(txn, cmd.request_kill, now_ms)
        if kind == "fire_schedules":
            return self.schedules.fire(txn, cmd.fire_schedules, now_ms)
        if kind == "suspend_job":
            return self._suspend_job(txn, cmd.suspend_job, now_ms, raft_index)
        if kind == "apply_calendars":
            result, changed = self.calendars.apply(txn, cmd.apply_calendars.calendars, now_ms, raft_index)
            # Future firings only: the jobs that use a changed calendar compute their next slot again.
            for job_name in sorted({j for name in changed for j in self.calendars.users_of(txn, name)}):
                raw = txn.get(job_name.encode(), db=self._dbs[b"jobs"])
                found = jobs_pb2.JobVersion.FromString(raw) if raw is not None else \
                    self.workflows.trigger_version(txn, job_name)  # a workflow's schedule uses it
                if found is not None:
                    self.schedules.job_changed(txn, found, now_ms)
            return result
        if kind == "delete_calendar":
            return self.calendars.delete(txn, cmd.delete_calendar.name, now_ms, raft_index)
        if kind == "emit_event":
            return self.events.emit(txn, cmd.emit_event, now_ms, cmd.idempotency_key)
        if kind == "prune_runs":
            return self.runs.prune(txn, cmd.prune_runs)
        if kind == "file_arrived":
            return self.events.file_arrived(txn, cmd.file_arrived, now_ms, cmd.idempotency_key)
        if kind == "apply_workflows":
            return self.workflows.apply(txn, cmd.apply_workflows, now_ms, raft_index)
        if kind == "delete_workflow":
            return self.workflows.delete(txn, cmd.delete_workflow.name, now_ms, raft_index)
        if kind == "trigger_workflow":
            return self.workflows.trigger(txn, cmd.trigger_workflow, now_ms, cmd.idempotency_key)
        if kind == "rerun_workflow":
            return self.workflows.rerun(txn, cmd.rerun_workflow, now_ms)
        if kind == "workflow_run_action":
            return self.workflows.action(txn, cmd.workflow_run_action, now_ms)
        if kind == "mark_workflow_task":
            return self.workflows.mark(txn, cmd.mark_workflow_task, now_ms)
        if kind == "fire_workflow_timers":
            return self.workflows.fire_timers(txn, cmd.fire_workflow_timers, now_ms)
        if kind == "auth_bootstrap":
            return self.auth.bootstrap(txn, cmd.auth_bootstrap, now_ms, raft_index)
        if kind == "put_user":
            return self.auth.put_user(txn, cmd.put_user, now_ms, actor.name)
        if kind == "delete_user":
            return self.auth.delete_user(txn, cmd.delete_user)
        if kind == "put_role":
            return self.auth.put_role(txn, cmd.put_role, now_ms, actor.name)
        if kind == "delete_role":
            return self.auth.delete_role(txn, cmd.delete_role)
        if kind == "record_login":
            return self.auth.record_login(txn, cmd.record_login, now_ms, raft_index)
        if kind == "revoke_session":
            return self.auth.revoke_session(txn, cmd.revoke_session)
        if kind == "create_api_key":
            return self.auth.create_key(txn, cmd.create_api_key, now_ms, raft_index, actor.name)
        if kind == "revoke_api_key":
            return self.auth.revoke_key(txn, cmd.revoke_api_key)
        if kind == "set_security_policy":
            return self.auth.set_policy(txn, cmd.set_security_policy)
        if kind == "record_audit":
            return _ok()  # the audit record is all it writes
        if kind == "request_approval":
            return self.approvals.request(txn, cmd.request_approval, actor, now_ms, raft_index)
        if kind == "set_secret":
            return self.secrets.put(txn, cmd.set_secret, now_ms, raft_index, f"{actor.kind}/{actor.name}")
        if kind == "delete_secret":
            return self.secrets.remove(txn, cmd.delete_secret)
        if kind == "decide_approval":
            return self.approvals.decide(txn, cmd.decide_approval, actor, now_ms, lambda a: self._person(txn, a),
                                         lambda inner: self._approved(txn, inner, actor, now_ms, raft_index))
        raise AssertionError(f"{kind} is in _HANDLED without a handler")

    def _approved(self, txn: lmdb.Transaction, inner: commands_pb2.Command, approver: auth_pb2.Actor, now_ms: int,
                  raft_index: int) -> commands_pb2.CommandResult:
        """Run a held operation as its requester; its audit record names the approver."""
        kind = inner.WhichOneof("body")
        if kind is None or kind not in _HANDLED or kind in ("request_approval", "decide_approval"):
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "command: cannot be run by an approval")
        actor = self._actor(inner)
        before = self._snapshot(txn, kind, inner)
        result = self._dispatch(txn, kind, inner, actor, now_ms, raft_index)
        result.raft_index = raft_index
        self._audit(txn, kind, inner, actor, result, now_ms, raft_index, before, self._snapshot(txn, kind, inner),
                    approved_by=f"{approver.kind}/{approver.name}")
        return result

    def _actor(self, cmd: commands_pb2.Command) -> auth_pb2.Actor:
        if cmd.HasField("actor"):
            return cmd.actor
        return auth_pb2.Actor(kind="system", name=self._leader or "leader")

    def _person(self, txn: lmdb.Transaction, actor: auth_pb2.Actor) -> str:
        """Who is behind an actor: an API key is its owner's, so one cannot approve one's own request with a key."""
        if actor.kind == "apikey":
            key = self.auth.key(txn, actor.name)
            if key is not None and key.owner and self.auth.user(txn, key.owner) is not None:
                return f"user/{key.owner}"
        return f"{actor.kind}/{actor.name}"

    def _snapshot(self, txn: lmdb.Transaction, kind: str, cmd: commands_pb2.Command) -> str:
        """The value a command changes, as JSON (the audit record's before/after); "" for others."""
        if kind == "apply_jobs":
            specs = {}
            for spec in cmd.apply_jobs.jobs:
                raw = txn.get(spec.name.encode(), db=self._dbs[b"jobs"]) if spec.name else None
                specs[spec.name] = to_dict(jobs_pb2.JobVersion.FromString(raw)) if raw else None
            return capped(specs)
        if kind in ("apply_calendars", "delete_calendar"):
            names = [c.name for c in cmd.apply_calendars.calendars] if kind == "apply_calendars" else \
                [cmd.delete_calendar.name]
            found = {n: self.calendars.get(txn, n) for n in names[:50]}
            return capped({n: to_dict(c) if c is not None else None for n, c in found.items()})
        if kind in ("delete_job", "suspend_job"):
            name = cmd.delete_job.name if kind == "delete_job" else cmd.suspend_job.name
            raw = txn.get(name.encode(), db=self._dbs[b"jobs"]) if name else None
            return to_json(jobs_pb2.JobVersion.FromString(raw)) if raw else ""
        if kind in ("put_user", "delete_user"):
            name = cmd.put_user.user.name if kind == "put_user" else cmd.delete_user.name
            user = self.auth.user(txn, name)
            if user is None:
                return ""
            shown = to_dict(user, drop=("password_hash",))
            # Not the hash itself: a fingerprint that shows the password changed.
            shown["password_fingerprint"] = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16] \
                if user.password_hash else ""
            return capped(shown)
        if kind in ("put_role", "delete_role"):
            name = cmd.put_role.role.name if kind == "put_role" else cmd.delete_role.name
            raw = txn.get(name.encode(), db=self._dbs[b"roles"]) if name else None
            return to_json(auth_pb2.Role.FromString(raw)) if raw else ""
        if kind == "set_security_policy":
            return to_json(self.auth.policy(txn))
        if kind in ("set_member", "remove_member"):
            member_id = cmd.set_member.member.id if kind == "set_member" else cmd.remove_member.id
            raw = txn.get(member_id.encode(), db=self._dbs[b"members"]) if member_id else None
            return to_json(commands_pb2.Member.FromString(raw)) if raw else ""
        if kind == "force_activate":
            return to_json(self.runs.epoch(txn))
        if kind == "revoke_api_key":
            key = self.auth.key(txn, cmd.revoke_api_key.id)
            return to_json(key, drop=("secret_hash",)) if key else ""
        if kind in ("set_secret", "delete_secret"):
            name = cmd.set_secret.name if kind == "set_secret" else cmd.delete_secret.name
            secret = self.secrets.get(txn, name)
            return to_json(info(secret)) if secret else ""  # metadata and keys: never a value
        return ""

    def _audit(self, txn: lmdb.Transaction, kind: str, cmd: commands_pb2.Command, actor: auth_pb2.Actor,
               result: commands_pb2.CommandResult, now_ms: int, raft_index: int, before: str, after: str,
               approved_by: str = "") -> None:
        if kind == "record_audit":  # an event reported as it was answered (a denial): its own result
            result = commands_pb2.CommandResult(code=cmd.record_audit.result_code, message=cmd.record_audit.result)
        self.audit.append(txn, audit_pb2.AuditRecord(
            time_ms=now_ms, actor=actor, operation=audit_entries.operation(kind, cmd, result),
            content=audit_entries.content(kind, cmd, result), result_code=result.code,
            result=result.message[:2000] if result.code else "ok",
            resources=audit_entries.resources(kind, cmd, result), before=before,
            after=after, raft_index=raft_index, approved_by=approved_by))

    def _expire_security(self, txn: lmdb.Transaction, now_ms: int, raft_index: int) -> int:
        """Time-driven changes of the security state, from the batch's time only (bounded per entry).
        Returns how many sessions expired."""
        expired = self.auth.expire_sessions(txn, now_ms)
        for approval in self.approvals.expire(txn, now_ms):
            self.audit.append(txn, audit_pb2.AuditRecord(
                time_ms=now_ms, actor=auth_pb2.Actor(kind="system", name=self._leader or "leader"),
                operation="approval.expire", content=capped({"summary": approval.summary}),
                resources=[f"approval/{approval.id}", *approval.resources], result="ok", raft_index=raft_index))
        policy = self.auth.policy(txn)
        if policy.audit_retention_days:
            self.audit.prune(txn, now_ms, policy.audit_retention_days)
        return expired

    # ---- reads of the security state

    def user(self, name: str) -> auth_pb2.User | None:
        with self._reading() as txn:
            return self.auth.user(txn, name)

    def users(self) -> list[auth_pb2.User]:
        with self._reading() as txn:
            return list(self.auth.list_users(txn))

    def role(self, name: str) -> auth_pb2.Role | None:
        with self._reading() as txn:
            return self.auth.role(txn, name)

    def roles(self) -> list[auth_pb2.Role]:
        with self._reading() as txn:
            return self.auth.list_roles(txn)

    def role_permissions(self) -> dict[str, list[str]]:
        with self._reading() as txn:
            return self.auth.role_permissions(txn)

    def api_key(self, key_id: str) -> auth_pb2.ApiKey | None:
        with self._reading() as txn:
            return self.auth.key(txn, key_id)

    def api_keys(self) -> list[auth_pb2.ApiKey]:
        with self._reading() as txn:
            return list(self.auth.list_keys(txn))

    def session(self, session_id: str) -> auth_pb2.Session | None:
        with self._reading() as txn:
            return self.auth.session(txn, session_id)

    def security_policy(self) -> auth_pb2.SecurityPolicy:
        with self._reading() as txn:
            return self.auth.policy(txn)

    def auth_bootstrapped(self) -> bool:
        with self._reading() as txn:
            return self.auth.bootstrapped(txn)

    def approval(self, approval_id: str) -> approval_pb2.Approval | None:
        with self._reading() as txn:
            return self.approvals.get(txn, approval_id)

    def list_approvals(self, limit: int = 1000) -> list[approval_pb2.Approval]:
        with self._reading() as txn:
            out = []
            for approval in self.approvals.newest_first(txn):
                if len(out) >= limit:
                    break
                out.append(approval)
            return out

    def audit_records(self, after_seq: int = 0, limit: int = 500) -> list[audit_pb2.AuditRecord]:
        """Up to ``limit`` records after ``after_seq``, oldest first (ValueError on an altered one)."""
        with self._reading() as txn:
            out = []
            for record in self.audit.records(txn, after_seq):
                out.append(record)
                if len(out) >= limit:
                    break
            return out

    # ---- secrets: metadata for the API, values for the controller only

    def secret_info(self, name: str) -> secrets_pb2.SecretInfo | None:
        with self._reading() as txn:
            secret = self.secrets.get(txn, name)
        return info(secret) if secret is not None else None

    def secret_infos(self) -> list[secrets_pb2.SecretInfo]:
        with self._reading() as txn:
            return [info(s) for s in self.secrets.list_all(txn)]

    def stored_secrets(self, names: Sequence[str]) -> dict[str, secrets_pb2.StoredSecret | None]:
        """The sealed secrets named (None for those that do not exist), from one read transaction."""
        with self._reading() as txn:
            return {name: self.secrets.get(txn, name) for name in names}

    def secret_ref_errors(self, specs: Sequence[jobs_pb2.JobSpec]) -> list[SpecError]:
        """What apply would refuse in the secret references of ``specs`` (the API answers it early)."""
        with self._reading() as txn:
            return self.secrets.ref_errors(txn, list(specs))

    def verify_audit(self) -> Verdict:
        with self._reading() as txn:
            return self.audit.verify(txn)

    def _expire_idempotency(self, txn: lmdb.Transaction, now_ms: int) -> None:
        # Unsigned keys sort by time; stamped times are never negative.
        horizon = _U64.pack(max(0, now_ms - IDEMPOTENCY_RETENTION_MS))
        cur = txn.cursor(db=self._dbs[b"idem_by_time"])
        idem = self._dbs[b"idem"]
        removed = 0
        if not cur.first():
            return
        while removed < _IDEM_EXPIRY_PER_BATCH and cur.key()[:8] < horizon:
            txn.delete(cur.key()[8:], db=idem)
            cur.delete()  # moves to the next record
            removed += 1
            if not cur.key():
                break

    def _workflow_trigger_changed(self, txn: lmdb.Transaction, old: jobs_pb2.JobVersion | None,
                                  new: jobs_pb2.JobVersion, now_ms: int) -> None:
        """A workflow's schedules, calendars and events are indexed as a job's are."""
        self.calendars.job_applied(txn, old.spec if old is not None else None, None if new.deleted else new.spec)
        self.events.job_applied(txn, old.spec if old is not None else None, None if new.deleted else new.spec)
        self.schedules.job_changed(txn, new, now_ms)

    def _apply_jobs(self, txn: lmdb.Transaction, specs: Sequence[jobs_pb2.JobSpec], now_ms: int,
                    raft_index: int) -> commands_pb2.CommandResult:
        # Re-checked at apply (the API validated already): the same rules give
        # the same verdict on every replica, and nothing is half-applied.
        errors = validate_specs(specs)
        if errors:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(str(e) for e in errors))
        # The secrets referred to must exist, hold the key and be of the job's domain, as of this entry.
        errors = self.secrets.ref_errors(txn, list(specs))
        if errors:
            return _err(grpc.StatusCode.FAILED_PRECONDITION, "; ".join(str(e) for e in errors[:20]))
        missing = self.calendars.reference_errors(txn, list(specs))
        if missing:
            return _err(grpc.StatusCode.FAILED_PRECONDITION, "; ".join(missing[:20]))
        taken = [s.name for s in specs if self.workflows.get(txn, s.name) is not None]
        if taken:
            return _err(grpc.StatusCode.ALREADY_EXISTS, f"name: a workflow is named {taken[0]!r} (jobs and "
                                                        "workflows share names: wloadctl run NAME starts either)")
        result = _ok()
        for raw_spec in specs:
            spec = normalize(raw_spec)
            name_b = spec.name.encode()
            current_raw = txn.get(name_b, db=self._dbs[b"jobs"])
            if current_raw is not None:
                current = jobs_pb2.JobVersion.FromString(current_raw)
                if current.spec == spec:
                    result.jobs.add(name=spec.name, version=current.version, changed=False)
                    continue
                if current.spec.domain != spec.domain:
                    txn.delete(current.spec.domain.encode() + b"\0" + name_b, db=self._dbs[b"domains"])
                    self.runs.stats.job_defined(txn, current.spec.domain, -1)
                    self.runs.stats.job_defined(txn, spec.domain, 1)
            else:
                self.runs.stats.job_defined(txn, spec.domain, 1)
            version = self._next_version(txn, name_b)
            jv = jobs_pb2.JobVersion(spec=spec, version=version, created_ms=now_ms, raft_index=raft_index)
            data = encode(jv)
            txn.put(name_b, data, db=self._dbs[b"jobs"])
            self.changes.put(JOB, spec.name, data)
            txn.put(_version_key(spec.name, version), data, db=self._dbs[b"job_versions"])
            self._trim_versions(txn, spec.name, version)
            txn.put(spec.domain.encode() + b"\0" + name_b, b"", db=self._dbs[b"domains"])
            self.calendars.job_applied(txn, current.spec if current_raw is not None else None, spec)
            self.events.job_applied(txn, current.spec if current_raw is not None else None, spec)
            self.schedules.job_changed(txn, jv, now_ms)
            result.jobs.add(name=spec.name, version=version, changed=True)
        return result

    def _suspend_job(self, txn: lmdb.Transaction, cmd: commands_pb2.SuspendJob, now_ms: int,
                     raft_index: int) -> commands_pb2.CommandResult:
        raw = txn.get(cmd.name.encode(), db=self._dbs[b"jobs"]) if cmd.name else None
        workflow = self.workflows.get(txn, cmd.name) if raw is None else None
        if workflow is not None and not workflow.deleted:  # jobs and workflows share names
            spec = workflows_pb2.WorkflowSpec()
            spec.CopyFrom(workflow.spec)
            spec.trigger.suspended = cmd.suspended
            return self.workflows.apply(txn, commands_pb2.ApplyWorkflows(workflows=[spec]), now_ms, raft_index)
        if raw is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"name: no job or workflow {cmd.name!r}")
        spec = jobs_pb2.JobVersion.FromString(raw).spec
        spec.suspended = cmd.suspended
        # Already so: apply_jobs answers "unchanged" with the current version.
        return self._apply_jobs(txn, [spec], now_ms, raft_index)

    def _trim_versions(self, txn: lmdb.Transaction, name: str, newest: int) -> None:
        """Retention of job versions: the newest JOB_VERSIONS_KEPT stay. Bounded work per new version
        (a few more than one, so a history longer than the bound shrinks to it as the job changes)."""
        cur = txn.cursor(db=self._dbs[b"job_versions"])
        prefix = name.encode() + b"\0"
        for _ in range(VERSION_TRIM_STEP):
            if not cur.set_range(prefix) or not cur.key().startswith(prefix):
                return
            if _U64.unpack(cur.key()[len(prefix):])[0] > newest - JOB_VERSIONS_KEPT:
                return
            cur.delete()

    def oldest_version(self, name: str) -> int:
        """The oldest version of the job still kept (0: none)."""
        prefix = name.encode() + b"\0"
        with self._reading() as txn:
            cur = txn.cursor(db=self._dbs[b"job_versions"])
            if cur.set_range(prefix) and cur.key().startswith(prefix):
                return int(_U64.unpack(cur.key()[len(prefix):])[0])
        return 0

    def _next_version(self, txn: lmdb.Transaction, name_b: bytes) -> int:
        raw = txn.get(name_b, db=self._dbs[b"job_seq"])
        version = (_U64.unpack(raw)[0] if raw else 0) + 1
        txn.put(name_b, _U64.pack(version), db=self._dbs[b"job_seq"])
        return version

    def _delete_job(self, txn: lmdb.Transaction, name: str, now_ms: int,
                    raft_index: int) -> commands_pb2.CommandResult:
        name_b = name.encode()
        current_raw = txn.get(name_b, db=self._dbs[b"jobs"]) if name_b else None
        if current_raw is None:
            tomb = self._tombstone(txn, name)
            if tomb is None:
                return _err(grpc.StatusCode.NOT_FOUND, f"name: job {name!r} not found")
            # Deleting what is deleted is not an error: a script that deletes twice (or after another
            # operator did) converges, and the answer names the tombstone that made it so.
            result = _ok()
            result.jobs.add(name=name, version=tomb.version, changed=False)
            return result
        current = jobs_pb2.JobVersion.FromString(current_raw)
        version = self._next_version(txn, name_b)
        tomb = jobs_pb2.JobVersion(spec=current.spec, version=version, created_ms=now_ms,
                                   raft_index=raft_index, deleted=True)
        txn.put(_version_key(name, version), encode(tomb), db=self._dbs[b"job_versions"])
        txn.delete(name_b, db=self._dbs[b"jobs"])
        self.changes.delete(JOB, name)
        txn.delete(current.spec.domain.encode() + b"\0" + name_b, db=self._dbs[b"domains"])
        self.runs.stats.job_defined(txn, current.spec.domain, -1)
        self.calendars.job_applied(txn, current.spec, None)
        self.events.job_applied(txn, current.spec, None)
        self.schedules.job_changed(txn, tomb, now_ms)
        result = _ok()
        result.jobs.add(name=name, version=version, changed=True)
        return result

    def _tombstone(self, txn: lmdb.Transaction, name: str) -> jobs_pb2.JobVersion | None:
        """The latest version of a job that has no live version, when that version is a tombstone."""
        raw_seq = txn.get(name.encode(), db=self._dbs[b"job_seq"]) if name else None
        if raw_seq is None:
            return None
        raw = txn.get(_version_key(name, _U64.unpack(raw_seq)[0]), db=self._dbs[b"job_versions"])
        latest = jobs_pb2.JobVersion.FromString(raw) if raw else None
        return latest if latest is not None and latest.deleted else None

    def _set_member(self, txn: lmdb.Transaction, member: commands_pb2.Member) -> commands_pb2.CommandResult:
        # Re-checked at apply (the API normalized it): ids and addresses are keys of the member tables.
        problem = member_problem(member)
        if problem:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, problem)
        for _, v in txn.cursor(db=self._dbs[b"members"]):
            other = commands_pb2.Member.FromString(v)
            if other.id != member.id and other.raft_address == member.raft_address:
                return _err(grpc.StatusCode.ALREADY_EXISTS,
                            f"member.raft_address: {member.raft_address} already belongs to {other.id}")
            if other.id == member.id and other != member:
                # Followers forward writes to a member's recorded API address: it never moves silently.
                return _err(grpc.StatusCode.ALREADY_EXISTS,
                            f"member.id: {member.id} is already a member at {other.raft_address} (API "
                            f"{other.api_address or 'unknown'}); to change its addresses, remove it and add it again")
        txn.put(member.id.encode(), encode(member), db=self._dbs[b"members"])
        self.changes.put(CLUSTER, "", b"")
        return _ok()

    def _bootstrap(self, txn: lmdb.Transaction,
                   members: Sequence[commands_pb2.Member]) -> commands_pb2.CommandResult:
        if txn.stat(self._dbs[b"raft_members"])["entries"]:
            return _ok(message="already bootstrapped")
        for i, m in enumerate(members):
            # The configured addresses, exactly as pysyncobj knows them: checked, not rewritten.
            problem = member_problem(m, normal=False)
            if problem:
                return _err(grpc.StatusCode.INVALID_ARGUMENT, f"members[{i}].{problem}")
        for m in members:
            txn.put(m.id.encode(), encode(m), db=self._dbs[b"members"])
            txn.put(m.raft_address.encode(), b"", db=self._dbs[b"raft_members"])
        return _ok()

    def apply_meta(self, raft_index: int, membership: tuple[str, str] | None) -> None:
        """Record a Raft entry that carries no command of ours (a leader's
        no-op or a membership change) so the applied index stays exact."""
        with self._writing() as txn:
            if raft_index <= self._get_u64(txn, _APPLIED_INDEX):
                return
            if membership is not None:
                try:
                    with self.env.begin(write=True, parent=txn) as child:
                        self._apply_membership(child, *membership)
                except Exception as e:
                    if is_storage_error(e):
                        raise
                    # pysyncobj changed its member set when the entry was appended, whatever we
                    # record; failing the entry would only wedge every replica (see _apply_isolated).
                    log.error("membership entry not recorded in the state", extra={
                        "raft_index": raft_index, "op": membership[0], "address": membership[1][:300],
                        "error": apply_failure_message(e)})
            txn.put(_APPLIED_INDEX, _U64.pack(raft_index), db=self._dbs[b"meta"])
        self.feed.append(raft_index, (Change(CLUSTER, "", b""),) if membership is not None else ())

    def _apply_membership(self, txn: lmdb.Transaction, op: str, address: str) -> None:
        raft_db, members_db = self._dbs[b"raft_members"], self._dbs[b"members"]
        if op == "add":
            txn.put(address.encode(), b"", db=raft_db)
            if not any(commands_pb2.Member.FromString(v).raft_address == address
                       for _, v in txn.cursor(db=members_db)):
                placeholder = commands_pb2.Member(id=address, raft_address=address)
                txn.put(address.encode(), encode(placeholder), db=members_db)
        elif op == "rem":
            txn.delete(address.encode(), db=raft_db)
            for k, v in list(txn.cursor(db=members_db)):
                if commands_pb2.Member.FromString(v).raft_address == address:
                    txn.delete(k, db=members_db)

    def _remove_member(self, txn: lmdb.Transaction, member_id: str) -> commands_pb2.CommandResult:
        try:
            check_member_id(member_id, "id")
        except MemberError as e:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        if not txn.delete(member_id.encode(), db=self._dbs[b"members"]):
            return _err(grpc.StatusCode.NOT_FOUND, f"id: member {member_id!r} not found")
        self.changes.put(CLUSTER, "", b"")
        return _ok()


def _iter_from(cur: lmdb.Cursor, start: bytes, prefix: bytes) -> Iterator[bytes]:
    if not cur.set_range(start):
        return
    for key in cur.iternext(keys=True, values=False):
        if not key.startswith(prefix):
            return
        yield key


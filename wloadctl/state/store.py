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
import os
import shutil
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import lmdb
from google.protobuf.message import DecodeError

from wloadctl.fsutil import fsync_dir, is_storage_error, storage_write_failed
from wloadctl.model.jobs import normalize, validate_specs
from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2
from wloadctl.state.encoding import encode
from wloadctl.state.runs import EPOCH_KEY, RUN_DBS, RunTables, run_seq

# Large and identical on every replica: a MapFullError must never make one
# replica fail a command another one applied. The file is sparse.
DEFAULT_MAP_SIZE = 64 << 30
_DB_NAMES = (
    b"meta", b"jobs", b"job_versions", b"job_seq", b"domains", b"idem", b"idem_by_time", b"members",
    b"raft_members", *RUN_DBS,
)

_APPLIED_INDEX = b"applied_index"
_STATE_TIME = b"state_time_ms"
# Version of the stored bytes. 2: every protobuf value is canonical (wloadctl.state.encoding);
# data dirs written before (format 1, no key) are re-encoded once when the store opens.
_FORMAT = b"format"
FORMAT_VERSION = 2
# Databases whose values are protobuf messages (the others hold index keys or integers).
_PROTO_DBS = {b"jobs": jobs_pb2.JobVersion, b"job_versions": jobs_pb2.JobVersion, b"idem": commands_pb2.CommandResult,
              b"members": commands_pb2.Member, b"runs": runs_pb2.Run, b"agents": runs_pb2.Agent}
_CANONICALIZE_BATCH = 10_000

# Idempotency records are kept this long (in leader-stamped time) so that a
# client retrying within a day never applies a write twice.
IDEMPOTENCY_RETENTION_MS = 24 * 3600 * 1000
# Bounded work per batch when expiring idempotency records.
_IDEM_EXPIRY_PER_BATCH = 1000
MAX_IDEMPOTENCY_KEY = 128

_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


@dataclass(frozen=True)
class JobPage:
    jobs: list[jobs_pb2.JobVersion]
    next_token: str


def _ok(**kwargs: object) -> commands_pb2.CommandResult:
    return commands_pb2.CommandResult(code=grpc.StatusCode.OK.value[0], **kwargs)


def _err(code: grpc.StatusCode, message: str) -> commands_pb2.CommandResult:
    return commands_pb2.CommandResult(code=code.value[0], message=message)


def _version_key(name: str, version: int) -> bytes:
    return name.encode() + b"\0" + _U64.pack(version)


class Store:
    """LMDB-backed state. Writes happen only through :meth:`apply` (the Raft
    thread); reads may come from any thread."""

    def __init__(self, path: str | os.PathLike[str], map_size: int = DEFAULT_MAP_SIZE) -> None:
        self.path = Path(path)
        self.map_size = map_size
        # Guards swapping the environment when a snapshot is installed.
        self._swap = threading.RLock()
        self._open()

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
        self._canonicalize()

    def format_version(self) -> int:
        with self.env.begin() as txn:
            raw = txn.get(_FORMAT, db=self._dbs[b"meta"])
        return _U64.unpack(raw)[0] if raw else 1

    def _canonicalize(self) -> None:
        """Re-encode every stored message canonically, once per data dir (or installed snapshot).

        Every replica of this version rewrites the same values the same way, so replicas whose
        older bytes differed only in map order end up byte-identical. Bounded transactions keep
        memory flat on big states; an interrupted run is simply repeated (re-encoding is
        idempotent) because the format is recorded last."""
        if self.format_version() >= FORMAT_VERSION:
            return
        meta = self._dbs[b"meta"]
        for name, message_type in _PROTO_DBS.items():
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
            txn.put(_FORMAT, _U64.pack(FORMAT_VERSION), db=meta)

    def close(self) -> None:
        with self._swap:
            self.env.sync(True)
            self.env.close()

    def sync(self) -> None:
        with self._swap:
            self.env.sync(True)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[lmdb.Transaction]:
        """One write transaction. If the disk or the environment fails (disk full), the failure is
        reported, and the server stops: pysyncobj would retry the entry forever on its Raft thread,
        dropping the proposer's callbacks and wedging the replica while it still answers reads."""
        with self._swap:
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
        with self._swap:
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
        with self._swap, self.env.begin() as txn:
            return self._get_u64(txn, _APPLIED_INDEX)

    def state_time_ms(self) -> int:
        with self._swap, self.env.begin() as txn:
            raw = txn.get(_STATE_TIME, db=self._dbs[b"meta"])
            return _I64.unpack(raw)[0] if raw else 0

    def get_job(self, name: str, version: int = 0) -> jobs_pb2.JobVersion | None:
        with self._swap, self.env.begin() as txn:
            if version:
                raw = txn.get(_version_key(name, version), db=self._dbs[b"job_versions"])
            else:
                raw = txn.get(name.encode(), db=self._dbs[b"jobs"])
        return jobs_pb2.JobVersion.FromString(raw) if raw else None

    def list_jobs(self, domain: str = "", selector: Mapping[str, str] | None = None,
                  page_size: int = 100, page_token: str = "") -> JobPage:
        """Jobs ordered by name; ``page_token`` is the last name of the previous page."""
        selector = dict(selector or {})
        out: list[jobs_pb2.JobVersion] = []
        with self._swap, self.env.begin() as txn:
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
            for name in names:
                if len(out) >= page_size:
                    more = True
                    break
                raw = txn.get(name, db=jobs_db)
                if raw is None:
                    continue
                job = jobs_pb2.JobVersion.FromString(raw)
                if all(job.spec.labels.get(k) == v for k, v in selector.items()):
                    out.append(job)
                    last = job.spec.name
        return JobPage(out, last if more else "")

    def count_jobs(self) -> int:
        with self._swap, self.env.begin() as txn:
            return int(txn.stat(self._dbs[b"jobs"])["entries"])

    def members(self) -> list[commands_pb2.Member]:
        with self._swap, self.env.begin() as txn:
            return [commands_pb2.Member.FromString(v) for _, v in txn.cursor(db=self._dbs[b"members"])]

    # ---- runs, agents, epochs

    def epoch_info(self) -> runs_pb2.EpochInfo:
        with self._swap, self.env.begin() as txn:
            return self.runs.epoch(txn)

    def get_run(self, run_id: str) -> runs_pb2.Run | None:
        with self._swap, self.env.begin() as txn:
            return self.runs.get_run(txn, run_id)

    def list_runs(self, job_name: str = "", state: int = 0, page_size: int = 100,
                  page_token: str = "") -> tuple[list[runs_pb2.Run], str]:
        before = run_seq(page_token) or 0 if page_token else 0
        with self._swap, self.env.begin() as txn:
            runs, last = self.runs.list_runs(txn, job_name, state, page_size, before)
        return runs, (f"r{last}" if last else "")

    def agents(self) -> list[runs_pb2.Agent]:
        with self._swap, self.env.begin() as txn:
            return self.runs.list_agents(txn)

    def active_runs(self) -> list[runs_pb2.Run]:
        with self._swap, self.env.begin() as txn:
            return list(self.runs.active_runs(txn))

    def on_agent_runs(self, agent_id: str = "") -> list[runs_pb2.Run]:
        with self._swap, self.env.begin() as txn:
            return list(self.runs.on_agent_runs(txn, agent_id))

    def on_agent_counts(self) -> dict[str, int]:
        with self._swap, self.env.begin() as txn:
            return self.runs.on_agent_counts(txn)

    def queued_runs(self, limit: int) -> list[runs_pb2.Run]:
        with self._swap, self.env.begin() as txn:
            return self.runs.queued_runs(txn, limit)

    def raft_members(self) -> list[str]:
        """Raft addresses of the voting members as of the applied index
        (empty until the first leader has bootstrapped the cluster)."""
        with self._swap, self.env.begin() as txn:
            return [k.decode() for k, _ in txn.cursor(db=self._dbs[b"raft_members"])]

    def idempotent_result(self, key: str) -> commands_pb2.CommandResult | None:
        with self._swap, self.env.begin() as txn:
            raw = txn.get(key.encode(), db=self._dbs[b"idem"])
        return commands_pb2.CommandResult.FromString(raw) if raw else None

    def digest(self) -> tuple[int, str]:
        """(applied index, sha256 over every database, key and value)."""
        h = hashlib.sha256()
        with self._swap, self.env.begin() as txn:
            applied = self._get_u64(txn, _APPLIED_INDEX)
            for name in _DB_NAMES:
                h.update(struct.pack(">I", len(name)) + name)
                for k, v in txn.cursor(db=self._dbs[name]):
                    h.update(struct.pack(">II", len(k), len(v)))
                    h.update(k)
                    h.update(v)
        return applied, h.hexdigest()

    # ---- the state machine ----

    def apply(self, entry: bytes, raft_index: int) -> list[commands_pb2.CommandResult] | None:
        """Apply one committed Raft entry (a serialized CommandBatch).

        Returns one result per command, or None when ``raft_index`` was
        already applied (replay after restart). Deterministic: the same entry
        at the same index gives the same writes and results everywhere.
        """
        with self._writing() as txn:
            if raft_index <= self._get_u64(txn, _APPLIED_INDEX):
                return None
            meta = self._dbs[b"meta"]
            try:
                batch = commands_pb2.CommandBatch.FromString(entry)
            except DecodeError:
                # A corrupt entry cannot be applied anywhere: every replica
                # skips it the same way and moves on.
                txn.put(_APPLIED_INDEX, _U64.pack(raft_index), db=meta)
                return []
            raw_time = txn.get(_STATE_TIME, db=meta)
            prev_time = _I64.unpack(raw_time)[0] if raw_time else 0
            # Time never moves backwards, even if a new leader's clock is slow.
            now_ms = max(prev_time, batch.time_ms)
            results = [self._apply_command(txn, cmd, now_ms, raft_index) for cmd in batch.commands]
            self._expire_idempotency(txn, now_ms)
            txn.put(_STATE_TIME, _I64.pack(now_ms), db=meta)
            txn.put(_APPLIED_INDEX, _U64.pack(raft_index), db=meta)
        return results

    def _apply_command(self, txn: lmdb.Transaction, cmd: commands_pb2.Command, now_ms: int,
                       raft_index: int) -> commands_pb2.CommandResult:
        key = cmd.idempotency_key.encode()
        if key:
            if len(key) > MAX_IDEMPOTENCY_KEY:
                return _err(grpc.StatusCode.INVALID_ARGUMENT,
                            f"idempotency_key: longer than {MAX_IDEMPOTENCY_KEY} bytes")
            seen = txn.get(key, db=self._dbs[b"idem"])
            if seen is not None:
                return commands_pb2.CommandResult.FromString(seen)
        kind = cmd.WhichOneof("body")
        if kind == "apply_jobs":
            result = self._apply_jobs(txn, cmd.apply_jobs.jobs, now_ms, raft_index)
        elif kind == "delete_job":
            result = self._delete_job(txn, cmd.delete_job.name, now_ms, raft_index)
        elif kind == "set_member":
            result = self._set_member(txn, cmd.set_member.member)
        elif kind == "remove_member":
            result = self._remove_member(txn, cmd.remove_member.id)
        elif kind == "noop":
            result = _ok()
        elif kind == "bootstrap":
            result = self._bootstrap(txn, cmd.bootstrap.members)
        elif kind == "begin_epoch":
            result = self.runs.begin_epoch(txn, cmd.begin_epoch, now_ms)
        elif kind == "force_activate":
            result = self.runs.force_activate(txn, cmd.force_activate)
        elif kind == "register_agent":
            result = self.runs.register_agent(txn, cmd.register_agent.agent, now_ms)
        elif kind == "mark_agent_lost":
            result = self.runs.mark_agent_lost(txn, cmd.mark_agent_lost, now_ms)
        elif kind == "trigger_run":
            result = self.runs.trigger_run(txn, cmd.trigger_run, now_ms, cmd.idempotency_key)
        elif kind == "dispatch_runs":
            result = self.runs.dispatch(txn, cmd.dispatch_runs, now_ms)
        elif kind == "record_run_events":
            result = self.runs.record_events(txn, cmd.record_run_events, now_ms)
        elif kind == "request_kill":
            result = self.runs.request_kill(txn, cmd.request_kill, now_ms)
        else:
            # Never silently ignore a command this version does not know.
            result = _err(grpc.StatusCode.UNIMPLEMENTED, "command: unknown command type")
        result.raft_index = raft_index
        if key:
            txn.put(key, encode(result), db=self._dbs[b"idem"])
            txn.put(_U64.pack(max(0, now_ms)) + key, b"", db=self._dbs[b"idem_by_time"])
        return result

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

    def _apply_jobs(self, txn: lmdb.Transaction, specs: Sequence[jobs_pb2.JobSpec], now_ms: int,
                    raft_index: int) -> commands_pb2.CommandResult:
        # Re-checked at apply (the API validated already): the same rules give
        # the same verdict on every replica, and nothing is half-applied.
        errors = validate_specs(specs)
        if errors:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(str(e) for e in errors))
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
            version = self._next_version(txn, name_b)
            jv = jobs_pb2.JobVersion(spec=spec, version=version, created_ms=now_ms, raft_index=raft_index)
            data = encode(jv)
            txn.put(name_b, data, db=self._dbs[b"jobs"])
            txn.put(_version_key(spec.name, version), data, db=self._dbs[b"job_versions"])
            txn.put(spec.domain.encode() + b"\0" + name_b, b"", db=self._dbs[b"domains"])
            result.jobs.add(name=spec.name, version=version, changed=True)
        return result

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
        txn.delete(current.spec.domain.encode() + b"\0" + name_b, db=self._dbs[b"domains"])
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
        if not member.id or not member.raft_address:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "member: id and raft_address are required")
        for _, v in txn.cursor(db=self._dbs[b"members"]):
            other = commands_pb2.Member.FromString(v)
            if other.id != member.id and other.raft_address == member.raft_address:
                return _err(grpc.StatusCode.ALREADY_EXISTS,
                            f"member.raft_address: {member.raft_address} already belongs to {other.id}")
        txn.put(member.id.encode(), encode(member), db=self._dbs[b"members"])
        return _ok()

    def _bootstrap(self, txn: lmdb.Transaction,
                   members: Sequence[commands_pb2.Member]) -> commands_pb2.CommandResult:
        if txn.stat(self._dbs[b"raft_members"])["entries"]:
            return _ok(message="already bootstrapped")
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
                op, address = membership
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
            txn.put(_APPLIED_INDEX, _U64.pack(raft_index), db=self._dbs[b"meta"])

    def _remove_member(self, txn: lmdb.Transaction, member_id: str) -> commands_pb2.CommandResult:
        if not txn.delete(member_id.encode(), db=self._dbs[b"members"]):
            return _err(grpc.StatusCode.NOT_FOUND, f"id: member {member_id!r} not found")
        return _ok()


def _iter_from(cur: lmdb.Cursor, start: bytes, prefix: bytes) -> Iterator[bytes]:
    if not cur.set_range(start):
        return
    for key in cur.iternext(keys=True, values=False):
        if not key.startswith(prefix):
            return
        yield key


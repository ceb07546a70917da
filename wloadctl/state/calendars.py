"""Business calendars in the replicated state: versioned like jobs, shared by every domain.

Jobs refer to calendars by name; an index (calendar, job) finds the jobs whose next slot must be
computed again when a calendar changes (future firings only: fired slots stay as they were).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import grpc
import lmdb

from wloadctl.proto.v1 import commands_pb2, jobs_pb2
from wloadctl.scheduler.calendars import MAX_CALENDARS, WorkingDays, cycle, normalized, spec_problems
from wloadctl.state.encoding import encode
from wloadctl.state.results import err as _err
from wloadctl.state.results import ok as _ok

CALENDAR_DBS = (b"calendars", b"calendar_versions", b"calendar_seq", b"calendar_users")
CALENDAR_MESSAGES = {b"calendars": jobs_pb2.CalendarVersion, b"calendar_versions": jobs_pb2.CalendarVersion}
_U64 = struct.Struct(">Q")
_GENERATION = b"calendars_generation"


def _version_key(name: str, version: int) -> bytes:
    return name.encode() + b"\0" + _U64.pack(version)


class CalendarTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database]) -> None:
        self.meta = dbs[b"meta"]
        self.current = dbs[b"calendars"]
        self.versions = dbs[b"calendar_versions"]
        self.seq = dbs[b"calendar_seq"]
        self.users = dbs[b"calendar_users"]  # calendar \0 job -> b""
        self._cache: tuple[int, WorkingDays] | None = None

    # ---- reads

    def get(self, txn: lmdb.Transaction, name: str, version: int = 0) -> jobs_pb2.CalendarVersion | None:
        if not name:
            return None
        raw = txn.get(_version_key(name, version), db=self.versions) if version else txn.get(name.encode(),
                                                                                            db=self.current)
        return jobs_pb2.CalendarVersion.FromString(raw) if raw else None

    def list(self, txn: lmdb.Transaction) -> list[jobs_pb2.CalendarVersion]:
        return [jobs_pb2.CalendarVersion.FromString(v) for _, v in txn.cursor(db=self.current)]

    def working(self, txn: lmdb.Transaction) -> WorkingDays:
        """The calendars as of this transaction (rebuilt only after a change)."""
        raw = txn.get(_GENERATION, db=self.meta)
        generation = _U64.unpack(raw)[0] if raw else 0
        cached = self._cache
        if cached is not None and cached[0] == generation:
            return cached[1]
        working = WorkingDays({c.spec.name: c.spec for c in self.list(txn)})
        self._cache = (generation, working)
        return working

    def users_of(self, txn: lmdb.Transaction, name: str) -> list[str]:
        prefix = name.encode() + b"\0"
        cur = txn.cursor(db=self.users)
        out: list[str] = []
        if cur.set_range(prefix):
            for key in cur.iternext(keys=True, values=False):
                if not key.startswith(prefix):
                    break
                out.append(bytes(key[len(prefix):]).decode())
        return out

    def reference_errors(self, txn: lmdb.Transaction, specs: Sequence[jobs_pb2.JobSpec]) -> list[str]:
        """Calendars the jobs name that do not exist (as of this transaction)."""
        return [f"jobs[{i}].calendars[{j}]: no calendar {name!r} (apply it first: kind: Calendar)"
                for i, spec in enumerate(specs) for j, name in enumerate(spec.calendars)
                if txn.get(name.encode(), db=self.current) is None]

    # ---- writes (inside Store.apply)

    def job_applied(self, txn: lmdb.Transaction, old: jobs_pb2.JobSpec | None, new: jobs_pb2.JobSpec | None) -> None:
        """Keep the (calendar, job) index: ``new`` None when the job was deleted."""
        name = (new or old).name if (new or old) is not None else ""  # type: ignore[union-attr]
        for cal in old.calendars if old is not None else []:
            txn.delete(cal.encode() + b"\0" + name.encode(), db=self.users)
        for cal in new.calendars if new is not None else []:
            txn.put(cal.encode() + b"\0" + name.encode(), b"", db=self.users)

    def apply(self, txn: lmdb.Transaction, specs: Sequence[jobs_pb2.CalendarSpec], now_ms: int,
              raft_index: int) -> tuple[commands_pb2.CommandResult, list[str]]:
        """(result, names of the calendars that changed)."""
        problems = []
        if not specs:
            problems.append("calendars: at least one is required")
        names = [s.name for s in specs]
        for i, spec in enumerate(specs):
            problems += [f"calendars[{i}].{field}: {reason}" for field, reason in spec_problems(spec)]
            if spec.name and names.index(spec.name) != i:
                problems.append(f"calendars[{i}].name: duplicate calendar {spec.name!r}")
        merged = {c.spec.name: c.spec for c in self.list(txn)}
        merged.update({s.name: normalized(s) for s in specs if s.name})
        if len(merged) > MAX_CALENDARS:
            problems.append(f"calendars: at most {MAX_CALENDARS} in a cluster")
        for i, spec in enumerate(specs):
            for field in ("include", "exclude"):
                for j, ref in enumerate(getattr(spec, field)):
                    if ref not in merged:
                        problems.append(f"calendars[{i}].{field}[{j}]: no calendar {ref!r}")
        if not problems and (loop := cycle(merged)):
            problems.append(f"calendars: include/exclude form a cycle: {' -> '.join(loop)}")
        if problems:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems[:20])), []
        result = _ok()
        changed = []
        for raw_spec in specs:
            spec = normalized(raw_spec)
            current = self.get(txn, spec.name)
            if current is not None and current.spec == spec:
                result.jobs.add(name=spec.name, version=current.version, changed=False)
                continue
            version = self._next_version(txn, spec.name)
            record = jobs_pb2.CalendarVersion(spec=spec, version=version, created_ms=now_ms, raft_index=raft_index)
            data = encode(record)
            txn.put(spec.name.encode(), data, db=self.current)
            txn.put(_version_key(spec.name, version), data, db=self.versions)
            result.jobs.add(name=spec.name, version=version, changed=True)
            changed.append(spec.name)
        if changed:
            self._bump(txn)
        return result, changed

    def delete(self, txn: lmdb.Transaction, name: str, now_ms: int, raft_index: int) -> commands_pb2.CommandResult:
        current = self.get(txn, name)
        if current is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"name: no calendar {name!r}")
        users = self.users_of(txn, name)
        if users:
            return _err(grpc.StatusCode.FAILED_PRECONDITION,
                        f"name: calendar {name!r} is used by job(s) {', '.join(users[:10])}: change them first")
        referring = [c.spec.name for c in self.list(txn) if name in (*c.spec.include, *c.spec.exclude)]
        if referring:
            return _err(grpc.StatusCode.FAILED_PRECONDITION,
                        f"name: calendar {name!r} is included or excluded by {', '.join(referring[:10])}")
        version = self._next_version(txn, name)
        tomb = jobs_pb2.CalendarVersion(spec=current.spec, version=version, created_ms=now_ms,
                                        raft_index=raft_index, deleted=True)
        txn.put(_version_key(name, version), encode(tomb), db=self.versions)
        txn.delete(name.encode(), db=self.current)
        self._bump(txn)
        result = _ok()
        result.jobs.add(name=name, version=version, changed=True)
        return result

    def _next_version(self, txn: lmdb.Transaction, name: str) -> int:
        raw = txn.get(name.encode(), db=self.seq)
        version = (_U64.unpack(raw)[0] if raw else 0) + 1
        txn.put(name.encode(), _U64.pack(version), db=self.seq)
        return version

    def _bump(self, txn: lmdb.Transaction) -> None:
        raw = txn.get(_GENERATION, db=self.meta)
        txn.put(_GENERATION, _U64.pack((_U64.unpack(raw)[0] if raw else 0) + 1), db=self.meta)

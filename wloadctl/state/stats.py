"""Counters of the stored state, per business domain, kept at apply: what the console's overview and
`wloadctl summary` read in O(domains x days) instead of listing jobs and runs.

Every counter is a function of the stored state alone (not of its history): the runs that exist now,
by domain and state; by domain, day of creation (UTC) and state; by domain and hour of creation; the
jobs and workflows defined per domain. So they are identical on every replica however late one
starts counting, and a store of an older format builds them once from a scan when it opens
(state/store.py, format 4). Runs removed by retention leave the counters with them, as they leave
`wloadctl get runs`.

Keys (values are 8-byte unsigned counts; a count that reaches zero is deleted):

    n <domain> \\0 <state>                     runs stored, by state
    d <YYYY-MM-DD> \\0 <domain> \\0 <state>    runs created that day, by state now
    h <YYYY-MM-DDTHH> \\0 <domain> \\0 c|f     runs created that hour; of them fired by a schedule
    j <domain>   /   w <domain>               jobs / workflows defined
"""

from __future__ import annotations

import datetime
import functools
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

import lmdb

from wloadctl.proto.v1 import runs_pb2

STATS_DBS = (b"stats",)
_U64 = struct.Struct(">Q")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def day_of(ms: int) -> str:
    return _day(ms // DAY_MS)


def hour_of(ms: int) -> str:
    return _hour(ms // HOUR_MS)


# Formatting a date costs more than the rest of a counter update: runs come in a few days at a time.
@functools.lru_cache(maxsize=64)
def _day(number: int) -> str:
    return (_EPOCH + datetime.timedelta(days=number)).strftime("%Y-%m-%d")


@functools.lru_cache(maxsize=256)
def _hour(number: int) -> str:
    return (_EPOCH + datetime.timedelta(hours=number)).strftime("%Y-%m-%dT%H")


def run_domain(run: runs_pb2.Run) -> str:
    return run.spec.domain or "default"


@dataclass
class DomainSummary:
    domain: str
    jobs: int = 0
    workflows: int = 0
    runs_by_state: dict[int, int] = field(default_factory=dict)
    # date -> state -> runs created that day (UTC), by their state now
    days: dict[str, dict[int, int]] = field(default_factory=dict)
    # YYYY-MM-DDTHH -> (created, fired by a schedule)
    hours: dict[str, tuple[int, int]] = field(default_factory=dict)


class StatsTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database]) -> None:
        self.db = dbs[b"stats"]

    # ---- writes (inside Store.apply, or the one-time build)

    def _add(self, txn: lmdb.Transaction, key: bytes, delta: int) -> None:
        raw = txn.get(key, db=self.db)
        value = (_U64.unpack(raw)[0] if raw else 0) + delta
        if value > 0:
            txn.put(key, _U64.pack(value), db=self.db)
        elif raw is not None:
            txn.delete(key, db=self.db)

    def run_changed(self, txn: lmdb.Transaction, old_state: int | None, run: runs_pb2.Run) -> None:
        """``run`` as it is stored now; ``old_state`` its state before (None: it is new)."""
        if old_state == run.state:
            return
        domain = run_domain(run).encode()
        day = day_of(run.created_ms).encode()
        if old_state is not None:
            self._add(txn, b"n" + domain + b"\0" + bytes([old_state]), -1)
            self._add(txn, b"d" + day + b"\0" + domain + b"\0" + bytes([old_state]), -1)
        else:
            hour = b"h" + hour_of(run.created_ms).encode() + b"\0" + domain + b"\0"
            self._add(txn, hour + b"c", 1)
            if run.slot_ms:
                self._add(txn, hour + b"f", 1)
        self._add(txn, b"n" + domain + b"\0" + bytes([run.state]), 1)
        self._add(txn, b"d" + day + b"\0" + domain + b"\0" + bytes([run.state]), 1)

    def run_removed(self, txn: lmdb.Transaction, run: runs_pb2.Run) -> None:
        domain = run_domain(run).encode()
        self._add(txn, b"n" + domain + b"\0" + bytes([run.state]), -1)
        self._add(txn, b"d" + day_of(run.created_ms).encode() + b"\0" + domain + b"\0" + bytes([run.state]), -1)
        hour = b"h" + hour_of(run.created_ms).encode() + b"\0" + domain + b"\0"
        self._add(txn, hour + b"c", -1)
        if run.slot_ms:
            self._add(txn, hour + b"f", -1)

    def job_defined(self, txn: lmdb.Transaction, domain: str, delta: int) -> None:
        self._add(txn, b"j" + domain.encode(), delta)

    def workflow_defined(self, txn: lmdb.Transaction, domain: str, delta: int) -> None:
        self._add(txn, b"w" + domain.encode(), delta)

    def rebuild(self, txn: lmdb.Transaction, runs: Iterable[runs_pb2.Run], job_domains: Iterable[str],
                workflow_domains: Iterable[str]) -> None:
        txn.drop(self.db, delete=False)
        for run in runs:
            self.run_changed(txn, None, run)
        for domain in job_domains:
            self.job_defined(txn, domain, 1)
        for domain in workflow_domains:
            self.workflow_defined(txn, domain, 1)

    # ---- reads

    def summary(self, txn: lmdb.Transaction, domains: Iterable[str] | None, days: Iterable[str],
                hours_of_day: str) -> list[DomainSummary]:
        """Per domain (all when ``domains`` is None): jobs, workflows, runs by state, the runs created
        on each of ``days`` by state, and per hour of ``hours_of_day`` (YYYY-MM-DD)."""
        wanted = None if domains is None else {d.encode() for d in domains}
        out: dict[bytes, DomainSummary] = {}

        def entry(domain: bytes) -> DomainSummary:
            found = out.get(domain)
            if found is None:
                found = out[domain] = DomainSummary(domain.decode())
            return found

        cur = txn.cursor(db=self.db)
        for prefix in (b"j", b"w", b"n"):
            if not cur.set_range(prefix):
                continue
            for key, raw in cur:
                if key[:1] != prefix:
                    break
                key = bytes(key)
                count = _U64.unpack(raw)[0]
                if prefix == b"n":
                    domain, _, state = key[1:].rpartition(b"\0")
                    if wanted is None or domain in wanted:
                        entry(domain).runs_by_state[state[0]] = count
                elif wanted is None or key[1:] in wanted:
                    summary = entry(key[1:])
                    if prefix == b"j":
                        summary.jobs = count
                    else:
                        summary.workflows = count
        for day in days:
            prefix = b"d" + day.encode() + b"\0"
            if not cur.set_range(prefix):
                continue
            for key, raw in cur:
                if not key.startswith(prefix):
                    break
                domain, _, state = bytes(key)[len(prefix):].rpartition(b"\0")
                if wanted is None or domain in wanted:
                    entry(domain).days.setdefault(day, {})[state[0]] = _U64.unpack(raw)[0]
        prefix = b"h" + hours_of_day.encode()
        if cur.set_range(prefix):
            for key, raw in cur:
                if not key.startswith(prefix):
                    break
                hour_part, _, rest = bytes(key)[1:].partition(b"\0")
                domain, _, kind = rest.rpartition(b"\0")
                if wanted is not None and domain not in wanted:
                    continue
                hours = entry(domain).hours
                created, fired = hours.get(hour_part.decode(), (0, 0))
                count = _U64.unpack(raw)[0]
                hours[hour_part.decode()] = (count, fired) if kind == b"c" else (created, count)
        return [out[k] for k in sorted(out)]

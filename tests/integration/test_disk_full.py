"""Disk full on one replica of three: its data dir (or only its Raft journal's directory) is a small
tmpfs, filled while writes go on.

The full replica must stop by itself (CRITICAL "disk full: ..." and exit code 3) instead of going
on with a journal or state it cannot write; it must never have acknowledged or applied an entry
its journal does not hold; its LMDB files must stay readable; the other two (a majority) keep
acknowledging writes; and once space is freed and it is restarted, it catches up to the same
digest with every acknowledged write present.
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import lmdb
import pytest

from chaos.disk import fill, mount_small_fs, tmpfs_unavailable_reason, unfill, unmount
from wloadctl.client import ClientError
from wloadctl.fsutil import DISK_FULL_EXIT_CODE
from wloadctl.testing.cluster import LocalCluster, Replica, wait_for
from wloadctl.testing.load import WriteLoad

pytestmark = pytest.mark.integration

# A few hundred writes need well under 1 MiB; small, so filling it is instant.
TMPFS_MB = 32

_U64 = struct.Struct(">Q")
T = TypeVar("T")


@pytest.fixture(scope="module")
def tmpfs() -> None:
    reason = tmpfs_unavailable_reason()
    if reason:
        pytest.skip(f"needs a small tmpfs mounted on a replica's data dir: {reason}")


# ---- reading a replica's LMDB files from outside (a second process, read-only, as LMDB allows)

def _read(path: Path, fn: Callable[[lmdb.Environment, lmdb.Transaction], T]) -> T:
    env = lmdb.open(str(path), readonly=True, lock=True, max_dbs=64, map_size=64 << 30)
    try:
        with env.begin() as txn:
            return fn(env, txn)
    finally:
        env.close()


def durable_journal_last(data_dir: Path) -> int:
    """The last Raft index committed to the journal on disk."""
    def last(env: lmdb.Environment, txn: lmdb.Transaction) -> int:
        cur = txn.cursor(db=env.open_db(b"log", txn=txn, create=False))
        return _U64.unpack(cur.key())[0] if cur.last() else 0

    return _read(data_dir / "raft", last)


def durable_applied_index(data_dir: Path) -> int:
    def applied(env: lmdb.Environment, txn: lmdb.Transaction) -> int:
        raw = txn.get(b"applied_index", db=env.open_db(b"meta", txn=txn, create=False))
        return _U64.unpack(raw)[0] if raw else 0

    return _read(data_dir / "state", applied)


def read_every_record(path: Path) -> int:
    """Walk every database of an environment: LMDB raises on a page it cannot read."""
    def walk(env: lmdb.Environment, txn: lmdb.Transaction) -> int:
        count = 0
        for name, _ in txn.cursor():
            db = env.open_db(bytes(name), txn=txn, create=False)
            count += sum(1 for _ in txn.cursor(db=db))
        return count

    return _read(path, walk)


# ---- what the cluster says about the full replica

@dataclass(frozen=True)
class Claim:
    what: str
    claimed: int
    durable: int


def sample_claims(cluster: LocalCluster, victim: Replica) -> list[Claim]:
    """Indexes the cluster believes the victim holds, against its journal on disk.

    The claims are read first and the journal after: the journal only grows meanwhile, so a claim
    above it means the replica applied, or acknowledged to the leader, an entry it never wrote."""
    claims: list[tuple[str, int]] = []
    with contextlib.suppress(ClientError, grpc.RpcError):
        claims.append(("applied index it reports", cluster.status_of(victim, timeout=1).applied_index))
    for r in cluster.replicas:
        if r is victim or not r.running:
            continue
        try:
            status = cluster.status_of(r, timeout=1)
        except (ClientError, grpc.RpcError):
            continue
        if status.role == "leader":
            for m in status.members:
                if m.id == victim.node_id:
                    claims.append((f"match index the leader {r.node_id} holds for it", m.match_index))
    durable = durable_journal_last(victim.data_dir)
    return [Claim(what, claimed, durable) for what, claimed in claims]


def log_records(r: Replica) -> Iterator[dict[str, Any]]:
    for line in r.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def names_on(cluster: LocalCluster, r: Replica) -> set[str]:
    with cluster.client([r.api_address], timeout=30, retry_for=10) as c:
        return {j.spec.name for j in c.iter_jobs(page_size=1000)}


def put_in_role(cluster: LocalCluster, victim: Replica, role: str) -> None:
    leader = cluster.wait_for_leader()
    if (leader is victim) != (role == "leader"):
        target = victim if role == "leader" else next(r for r in cluster.replicas if r is not victim)
        with cluster.client(retry_for=10) as c:
            c.transfer_leader(target.node_id)

    def in_role() -> bool:
        leader = cluster.leader()
        return leader is not None and (leader is victim) == (role == "leader")

    wait_for(in_role, 30, f"{victim.node_id} to be the {role}")


# With the whole data dir full, the state's commit has failed first in every run here; only the
# journal's directory full makes the journal's commit fail, the case in which (before fail-stop) a
# follower acknowledged, and a leader applied, entries its journal did not hold.
@pytest.mark.parametrize("full", ["data-dir", "journal"])
@pytest.mark.parametrize("role", ["follower", "leader"])
def test_replica_with_a_full_disk_stops_loses_nothing_and_catches_up(tmp_path: Path, tmpfs: None,
                                                                     role: str, full: str) -> None:
    cluster = LocalCluster(tmp_path / "cluster", size=3)
    victim = cluster.replicas[0]
    mount_point = victim.data_dir if full == "data-dir" else victim.data_dir / "raft"
    mount_small_fs(mount_point, TMPFS_MB)
    filler: Path | None = None
    load: WriteLoad | None = None
    try:
        cluster.start()
        put_in_role(cluster, victim, role)
        load = writes = WriteLoad([r.api_address for r in cluster.replicas], credentials=cluster.credentials(),
                                 threads=4).start()
        wait_for(lambda: writes.count() >= 300, 60, "300 acknowledged writes")

        filler = fill(mount_point)
        claims: list[Claim] = []

        def stopped() -> bool:
            if not victim.running:
                return True
            claims.extend(sample_claims(cluster, victim))
            lying = [c for c in claims if c.claimed > c.durable]
            assert not lying, f"{victim.node_id} is running with claims beyond its journal on disk: {lying[:5]}"
            return False

        wait_for(stopped, 60, f"{victim.node_id} ({role}) to stop itself on a full disk")
        assert victim.proc is not None
        tail = victim.log_path.read_text(errors="replace")[-3000:]
        assert victim.proc.returncode == DISK_FULL_EXIT_CODE, f"exit code {victim.proc.returncode}; log:\n{tail}"
        critical = [rec["msg"] for rec in log_records(victim) if rec["level"] == "critical"]
        assert critical, f"no CRITICAL line; log:\n{tail}"
        assert critical[-1].startswith("disk full: ") and str(mount_point) in critical[-1], critical[-1]

        # What it left on disk: readable end to end, and no state ahead of its journal.
        journal_last = durable_journal_last(victim.data_dir)
        applied = durable_applied_index(victim.data_dir)
        assert 0 < applied <= journal_last, f"state applied index {applied}, journal ends at {journal_last}"
        assert read_every_record(victim.data_dir / "raft") >= 1
        assert read_every_record(victim.data_dir / "state") >= 1

        before = writes.count()
        wait_for(lambda: writes.count() >= before + 300, 60, "the other two replicas to keep acknowledging writes")

        unfill(filler)
        filler = None
        cluster.start(victim, wait=False)
        wait_for(lambda: cluster.status_of(victim).applied_index > journal_last, 60,
                 f"{victim.node_id} to catch up after a restart")
        before = writes.count()
        wait_for(lambda: writes.count() >= before + 300, 60, "writes with all three replicas")
        acked = writes.stop()
        load = None

        digests = cluster.wait_converged(timeout=60)
        assert len(digests) == 3 and len(set(digests.values())) == 1, digests
        assert victim.running
        for r in cluster.replicas:
            missing = acked - names_on(cluster, r)
            assert not missing, f"{len(missing)} acknowledged writes missing on {r.node_id}: {sorted(missing)[:5]}"
    finally:
        if load is not None:
            load.stop()
        cluster.stop()
        if filler is not None:
            unfill(filler)
        unmount(mount_point)

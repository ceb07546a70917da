"""The audit chain: append, verify, tamper detection, retention with a checkpoint."""

from __future__ import annotations

import itertools
from pathlib import Path

import lmdb
import pytest

from wloadctl.proto.v1 import audit_pb2, auth_pb2
from wloadctl.state.audit import AuditLog, audit_key, record_hash

DBS = (b"meta", b"audit")


@pytest.fixture
def env(tmp_path: Path) -> lmdb.Environment:
    e = lmdb.open(str(tmp_path / "a"), max_dbs=4, map_size=64 << 20)
    yield e
    e.close()


def _log(env: lmdb.Environment, secret: str = "s" * 64) -> AuditLog:
    return AuditLog({name: env.open_db(name) for name in DBS}, audit_key(secret))


def _append(env: lmdb.Environment, log: AuditLog, n: int, start_ms: int = 1000) -> None:
    with env.begin(write=True) as txn:
        for i in range(n):
            log.append(txn, audit_pb2.AuditRecord(time_ms=start_ms + i, operation="job.apply",
                                                  actor=auth_pb2.Actor(kind="user", name="alice", source="10.0.0.1:5"),
                                                  resources=[f"job/j{i}"], result="ok"))


def test_records_chain_and_verify(env: lmdb.Environment) -> None:
    log = _log(env)
    _append(env, log, 5)
    with env.begin() as txn:
        records = list(log.records(txn))
        verdict = log.verify(txn)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == b""
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert all(record_hash(r) == r.hash for r in records)
    assert verdict.ok and verdict.records == 5 and (verdict.first_seq, verdict.last_seq) == (1, 5)


def test_the_same_records_give_the_same_bytes_under_the_same_secret(tmp_path: Path) -> None:
    stored = []
    for name in ("x", "y"):
        e = lmdb.open(str(tmp_path / name), max_dbs=4, map_size=64 << 20)
        _append(e, _log(e), 3)
        with e.begin() as txn:
            stored.append(list(txn.cursor(db=e.open_db(b"audit", txn=txn))))
        e.close()
    assert stored[0] == stored[1]
    assert b"alice" not in b"".join(v for _, v in stored[0]), "records are encrypted at rest"


def test_a_record_edited_on_disk_is_named(env: lmdb.Environment) -> None:
    log = _log(env)
    _append(env, log, 5)
    with env.begin(write=True) as txn:
        db = env.open_db(b"audit", txn=txn)
        key = (3).to_bytes(8, "big")
        sealed = bytearray(txn.get(key, db=db))
        sealed[20] ^= 1
        txn.put(key, bytes(sealed), db=db)
    with env.begin() as txn:
        verdict = log.verify(txn)
    assert not verdict.ok and verdict.broken_seq == 3 and "cannot be decrypted" in verdict.problem


def test_a_record_rewritten_with_the_key_breaks_the_hash(env: lmdb.Environment) -> None:
    # Someone who has the cluster secret re-encrypts an edited record: the chain still catches it.
    log = _log(env)
    _append(env, log, 4)
    with env.begin(write=True) as txn:
        record = next(r for r in log.records(txn) if r.seq == 2)
        record.result = "denied"
        txn.put((2).to_bytes(8, "big"), log._seal(record), db=env.open_db(b"audit", txn=txn))
    with env.begin() as txn:
        verdict = log.verify(txn)
    assert not verdict.ok and verdict.broken_seq == 2 and "hash does not match" in verdict.problem


def test_removed_records_are_named(env: lmdb.Environment) -> None:
    log = _log(env)
    _append(env, log, 5)
    with env.begin(write=True) as txn:
        txn.delete((4).to_bytes(8, "big"), db=env.open_db(b"audit", txn=txn))
    with env.begin() as txn:
        verdict = log.verify(txn)
    assert not verdict.ok and verdict.broken_seq == 4 and "missing" in verdict.problem
    with env.begin(write=True) as txn:
        txn.delete((5).to_bytes(8, "big"), db=env.open_db(b"audit", txn=txn))
    with env.begin() as txn:
        verdict = log.verify(txn)
    assert not verdict.ok and "removed" in verdict.problem


def test_another_secret_cannot_read_the_log(env: lmdb.Environment) -> None:
    _append(env, _log(env), 2)
    with env.begin() as txn:
        verdict = _log(env, "t" * 64).verify(txn)
    assert not verdict.ok and verdict.broken_seq == 1


def test_retention_prunes_old_records_and_the_rest_still_verifies(env: lmdb.Environment) -> None:
    log = _log(env)
    day = 86_400_000
    _append(env, log, 3, start_ms=0)
    _append(env, log, 3, start_ms=10 * day)
    with env.begin(write=True) as txn:
        removed = log.prune(txn, now_ms=12 * day, retention_days=5)
    with env.begin() as txn:
        verdict = log.verify(txn)
        kept = [r.seq for r in log.records(txn)]
    assert removed == 3 and kept == [4, 5, 6]
    assert verdict.ok and verdict.first_seq == 4 and verdict.records == 3
    with env.begin(write=True) as txn:
        assert log.prune(txn, now_ms=100 * day, retention_days=5) == 2  # the newest record always stays
    with env.begin() as txn:
        assert log.verify(txn).ok and [r.seq for r in log.records(txn)] == [6]

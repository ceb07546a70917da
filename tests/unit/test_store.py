"""The state machine: determinism, idempotent replay, all-or-nothing applies."""

from __future__ import annotations

import random
from pathlib import Path

import grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from wloadctl.proto.v1 import commands_pb2
from wloadctl.state.store import IDEMPOTENCY_RETENTION_MS, Store
from wloadctl.testing.builders import apply_cmd, batch, delete_cmd, job

OK = grpc.StatusCode.OK.value[0]


def make_log(seed: int, n: int = 200) -> list[bytes]:
    rng = random.Random(seed)
    entries = []
    t = 1_000
    for i in range(n):
        t += rng.randint(-50, 100)  # leader clocks may step back; state time must not
        cmds = []
        for j in range(rng.randint(1, 5)):
            name = f"job{rng.randint(0, 30)}"
            kind = rng.random()
            key = f"k{i}-{j}" if rng.random() < 0.7 else f"k{rng.randint(0, i)}-0"
            if kind < 0.6:
                cmds.append(apply_cmd(job(name, domain=rng.choice(["a", "b"]), argv=["/bin/echo", str(rng.random())],
                                          team=rng.choice(["x", "y"])), key=key))
            elif kind < 0.8:
                cmds.append(delete_cmd(name, key=key))
            else:
                cmds.append(apply_cmd(job(name), job(name), key=key))  # duplicate names: must fail whole
        entries.append(batch(*cmds, time_ms=t))
    return entries


def apply_all(store: Store, entries: list[bytes], start: int = 1) -> list[list[commands_pb2.CommandResult] | None]:
    return [store.apply(e, start + i) for i, e in enumerate(entries)]


def test_same_log_same_digest(tmp_path: Path) -> None:
    entries = make_log(7)
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    ra, rb = apply_all(a, entries), apply_all(b, entries)
    assert ra == rb
    assert a.digest() == b.digest()
    assert a.applied_index() == len(entries)
    other = Store(tmp_path / "c")
    apply_all(other, make_log(8))
    assert other.digest() != a.digest()


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_determinism_property(tmp_path_factory, seed: int) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("det")
    entries = make_log(seed, 40)
    a, b = Store(root / "a"), Store(root / "b")
    apply_all(a, entries)
    apply_all(b, entries)
    assert a.digest() == b.digest()


def test_replay_is_idempotent(tmp_path: Path) -> None:
    entries = make_log(3, 50)
    s = Store(tmp_path / "s")
    apply_all(s, entries)
    before = s.digest()
    assert all(r is None for r in apply_all(s, entries))  # every index already applied
    assert s.digest() == before
    s.close()
    reopened = Store(tmp_path / "s")
    assert reopened.digest() == before


def test_versions_and_unchanged(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    r1 = s.apply(batch(apply_cmd(job("a"))), 1)
    r2 = s.apply(batch(apply_cmd(job("a"))), 2)
    r3 = s.apply(batch(apply_cmd(job("a", argv=["/bin/false"]))), 3)
    assert r1 and r2 and r3
    assert (r1[0].jobs[0].version, r1[0].jobs[0].changed) == (1, True)
    assert (r2[0].jobs[0].version, r2[0].jobs[0].changed) == (1, False)
    assert (r3[0].jobs[0].version, r3[0].jobs[0].changed) == (2, True)
    assert s.get_job("a", 1).spec.command.argv.args == ["/bin/true"]  # type: ignore[union-attr]
    assert s.get_job("a").version == 2  # type: ignore[union-attr]
    rd = s.apply(batch(delete_cmd("a")), 4)
    assert rd and rd[0].jobs[0].version == 3
    assert s.get_job("a") is None
    assert s.get_job("a", 3).deleted  # type: ignore[union-attr]
    r5 = s.apply(batch(apply_cmd(job("a"))), 5)
    assert r5 and r5[0].jobs[0].version == 4  # versions continue after a delete


def test_deleting_a_deleted_job_answers_unchanged_with_the_tombstone(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    entries = [batch(apply_cmd(job("a"))), batch(apply_cmd(job("a", argv=["/bin/false"]))),
               batch(delete_cmd("a")), batch(delete_cmd("a")), batch(delete_cmd("a")), batch(delete_cmd("never"))]
    results = apply_all(a, entries)
    assert results == apply_all(b, entries) and a.digest() == b.digest()  # the same answer on every replica
    first, second, third, never = (r[0] for r in results[2:] if r)
    assert (first.code, first.jobs[0].version, first.jobs[0].changed) == (OK, 3, True)
    for again in (second, third):
        assert (again.code, again.message) == (OK, "")
        assert (again.jobs[0].name, again.jobs[0].version, again.jobs[0].changed) == ("a", 3, False)
    assert never.code == grpc.StatusCode.NOT_FOUND.value[0] and not never.jobs
    # No new version was written by the repeated deletes: a new apply continues after the tombstone.
    assert a.get_job("a", 4) is None
    r = a.apply(batch(apply_cmd(job("a"))), 7)
    assert r and (r[0].jobs[0].version, r[0].jobs[0].changed) == (4, True)


def test_multi_job_apply_is_all_or_nothing(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    bad = job("b")
    bad.command.Clear()  # no command: invalid
    results = s.apply(batch(apply_cmd(job("a"), bad)), 1)
    assert results and results[0].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "command" in results[0].message
    assert s.get_job("a") is None
    dup = s.apply(batch(apply_cmd(job("c"), job("c"))), 2)
    assert dup and dup[0].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert s.get_job("c") is None


def test_idempotency_key_returns_recorded_result(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    first = s.apply(batch(apply_cmd(job("a"), key="same")), 1)
    again = s.apply(batch(apply_cmd(job("a", argv=["/bin/other"]), key="same")), 2)
    assert first and again and again[0] == first[0]
    assert s.get_job("a").version == 1  # type: ignore[union-attr]
    # Records expire after the retention period of stamped time.
    s.apply(batch(apply_cmd(job("z"), key="late"), time_ms=1_000 + IDEMPOTENCY_RETENTION_MS + 1), 3)
    assert s.idempotent_result("same") is None
    assert s.idempotent_result("late") is not None


def test_time_never_moves_backwards(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply(batch(apply_cmd(job("a")), time_ms=5_000), 1)
    s.apply(batch(apply_cmd(job("b")), time_ms=4_000), 2)  # a new leader with a slow clock
    assert s.state_time_ms() == 5_000
    assert s.get_job("b").created_ms == 5_000  # type: ignore[union-attr]


def test_corrupt_and_unknown_commands_fail_the_same_everywhere(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    unknown = commands_pb2.CommandBatch(time_ms=1, commands=[commands_pb2.Command()]).SerializeToString()
    for s in (a, b):
        assert s.apply(b"\xff\xff\xff garbage", 1) == []
        res = s.apply(unknown, 2)
        assert res and res[0].code == grpc.StatusCode.UNIMPLEMENTED.value[0]
        assert s.apply(batch(delete_cmd("missing")), 3)[0].code == grpc.StatusCode.NOT_FOUND.value[0]  # type: ignore[index]
    assert a.digest() == b.digest()
    assert a.applied_index() == 3


def test_list_filters_and_pages(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    specs = [job(f"j{i:03d}", domain="fin" if i % 2 else "ops", tier="gold" if i % 3 == 0 else "silver")
             for i in range(25)]
    s.apply(batch(apply_cmd(*specs)), 1)
    names: list[str] = []
    token = ""
    while True:
        page = s.list_jobs(page_size=7, page_token=token)
        names += [j.spec.name for j in page.jobs]
        if not page.next_token:
            break
        token = page.next_token
    assert names == sorted(sp.name for sp in specs)
    fin = s.list_jobs(domain="fin", page_size=100)
    assert [j.spec.name for j in fin.jobs] == [f"j{i:03d}" for i in range(25) if i % 2]
    gold_fin = s.list_jobs(domain="fin", selector={"tier": "gold"}, page_size=100)
    assert [j.spec.name for j in gold_fin.jobs] == [f"j{i:03d}" for i in range(25) if i % 2 and i % 3 == 0]
    # Moving a job to another domain updates the index.
    s.apply(batch(apply_cmd(job("j001", domain="ops"))), 2)
    assert "j001" not in [j.spec.name for j in s.list_jobs(domain="fin", page_size=100).jobs]
    assert "j001" in [j.spec.name for j in s.list_jobs(domain="ops", page_size=100).jobs]


def test_snapshot_copy_is_point_in_time(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply(batch(apply_cmd(job("a"))), 1)
    txn = s.read_txn()
    expected = s.digest()
    s.apply(batch(apply_cmd(job("b"))), 2)  # after the snapshot point
    out = tmp_path / "copy"
    out.mkdir()
    s.copy_to(out, txn)
    txn.abort()
    restored = Store(tmp_path / "r")
    restored.replace_with(out / "data.mdb")
    assert restored.digest() == expected
    assert restored.get_job("b") is None


def test_membership_meta_entries(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply(batch(commands_pb2.Command(bootstrap=commands_pb2.Bootstrap(members=[
        commands_pb2.Member(id="r1", raft_address="h:1", api_address="h:11")]))), 1)
    s.apply_meta(2, ("add", "h:2"))
    s.apply_meta(3, None)
    assert sorted(s.raft_members()) == ["h:1", "h:2"]
    s.apply_meta(4, ("rem", "h:1"))
    s.apply_meta(4, ("rem", "h:2"))  # replayed index: ignored
    assert s.raft_members() == ["h:2"]
    assert [m.raft_address for m in s.members()] == ["h:2"]
    assert s.applied_index() == 4

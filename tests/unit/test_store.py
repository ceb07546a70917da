"""The state machine: determinism, idempotent replay, all-or-nothing applies."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wloadctl.proto.v1 import commands_pb2, runs_pb2
from wloadctl.state.store import (
    IDEMPOTENCY_RETENTION_MS,
    INCOMPATIBLE_ENTRY_EXIT_CODE,
    MAX_PAGE_BYTES,
    MAX_SCAN_PER_PAGE,
    IncompatibleEntryError,
    Store,
    set_incompatible_entry_handler,
)
from wloadctl.testing.builders import apply_cmd, batch, delete_cmd, job, raising_command, unknown_command

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


def test_unknown_and_undecodable_entries_stop_the_replica_without_applying(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply(batch(apply_cmd(job("a"))), 1)
    before = s.digest()
    stopped: list[IncompatibleEntryError] = []
    set_incompatible_entry_handler(stopped.append)
    try:
        # Known commands before the unknown one in the same entry are not applied either.
        for entry in (batch(apply_cmd(job("b")), unknown_command("k1")), b"\xff\xff\xff garbage"):
            with pytest.raises(IncompatibleEntryError) as e:
                s.apply(entry, 2)
            assert e.value.exit_code == INCOMPATIBLE_ENTRY_EXIT_CODE == 5
            assert "cannot apply Raft entry 2" in str(e.value) and "exit code 5" in str(e.value)
    finally:
        set_incompatible_entry_handler(None)
    assert stopped[0].reason == ("command 1 has a type (field 999) this version does not know and "
                                              "is not marked ignorable")
    assert "does not decode" in stopped[1].reason
    assert s.applied_index() == 1 and s.digest() == before and s.get_job("b") is None
    # Marked ignorable, it is skipped by every replica of this version: nothing recorded, the rest applies.
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    entry = batch(apply_cmd(job("b")), unknown_command("k2", ignorable=True), delete_cmd("missing"))
    for store in (a, b):
        res = store.apply(entry, 1)
        assert res and [r.code for r in res] == [OK, grpc.StatusCode.UNIMPLEMENTED.value[0],
                                                 grpc.StatusCode.NOT_FOUND.value[0]]
        assert "skipped" in res[1].message and store.idempotent_result("k2") is None
        assert store.applied_index() == 1 and store.get_job("b") is not None
    assert a.digest() == b.digest()
    # A command with no type at all is malformed, not newer: refused, and the entry applies.
    res = a.apply(batch(commands_pb2.Command()), 2)
    assert res and res[0].code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and a.applied_index() == 2


def test_a_command_that_raises_is_rolled_back_alone_and_answered_internal(tmp_path: Path) -> None:
    entries = [batch(apply_cmd(job("a"))),
               batch(apply_cmd(job("b"), key="before"), raising_command(key="bad"),
                     apply_cmd(job("c"), key="after"))]
    results = []
    stores = [Store(tmp_path / "x"), Store(tmp_path / "y")]
    for s in stores:
        results.append(apply_all(s, entries))
        assert s.applied_index() == 2
        assert s.get_job("b") is not None and s.get_job("c") is not None
        recorded = s.idempotent_result("bad")
        assert recorded is not None and recorded.code == grpc.StatusCode.INTERNAL.value[0]
    assert results[0] == results[1]
    second = results[0][1]
    assert second is not None and [r.code for r in second] == [OK, grpc.StatusCode.INTERNAL.value[0], OK]
    assert second[1].message.startswith("apply failed: BadValsizeError: mdb_get: MDB_BAD_VALSIZE")
    assert second[1].raft_index == 2
    assert stores[0].digest() == stores[1].digest()


def test_membership_entry_that_cannot_be_stored_still_moves_the_applied_index(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply_meta(1, ("add", "h" * 600 + ":1"))  # raised BadValsizeError on every replica, for ever
    assert s.applied_index() == 1 and s.raft_members() == []


def test_set_member_is_checked_at_apply_and_never_moves_a_member(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")

    def set_member(index: int, **fields: str) -> commands_pb2.CommandResult:
        res = s.apply(batch(commands_pb2.Command(set_member=commands_pb2.SetMember(
            member=commands_pb2.Member(**fields)))), index)
        assert res
        return res[0]

    long = set_member(1, id="r9", raft_address="h" * 600 + ":1", api_address="h:2")
    assert long.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and "member.raft_address" in long.message
    upper = set_member(2, id="r9", raft_address="Host:1", api_address="h:2")
    assert upper.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and "normal form" in upper.message
    assert set_member(3, id="bad id", raft_address="h:1").code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert set_member(4, id="r9", raft_address="h:1", api_address="h:2").code == OK
    assert set_member(5, id="r9", raft_address="h:1", api_address="h:2").code == OK  # the same again: a retry
    moved = set_member(6, id="r9", raft_address="h:1", api_address="evil:2")
    assert moved.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "remove it and add it again" in moved.message
    taken = set_member(7, id="r8", raft_address="h:1", api_address="h:3")
    assert taken.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert [(m.id, m.api_address) for m in s.members()] == [("r9", "h:2")]


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


def test_listings_look_at_a_bounded_number_of_records(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply(batch(apply_cmd(*[job(f"j{i:04d}", team="x") for i in range(999)], job("z-last", team="y"))), 1)
    # A selector that matches one job of 1,000: pages of at most 300 looked-at jobs, the empty ones
    # with a token that says "keep going", and the match where it is.
    pages, token = [], ""
    while True:
        page = s.list_jobs(selector={"team": "y"}, page_size=10, page_token=token, max_scan=300)
        pages.append([j.spec.name for j in page.jobs])
        token = page.next_token
        if not token:
            break
    assert pages == [[], [], [], ["z-last"]]
    # The default bound applies to the API's calls.
    assert MAX_SCAN_PER_PAGE == 10_000
    # Runs filtered by a state that none has.
    s.apply(batch(*[commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="j0000"))] * 250), 2)
    seen, token, calls = [], "", 0
    while True:
        runs, token = s.list_runs(state=runs_pb2.RUNNING, page_size=10, page_token=token, max_scan=100)
        seen += runs
        calls += 1
        if not token:
            break
    assert seen == [] and calls == 3
    queued, token = s.list_runs(state=runs_pb2.QUEUED, page_size=10, max_scan=100)
    assert [r.run_id for r in queued] == [f"r{i}" for i in range(250, 240, -1)] and token == "r241"


def test_a_page_stays_below_the_message_size(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    big = "x" * (900 << 10)
    s.apply(batch(apply_cmd(*[job(f"j{i}", argv=["/bin/echo", big]) for i in range(8)])), 1)
    sizes = []
    token = ""
    while True:
        page = s.list_jobs(page_size=1000, page_token=token)
        sizes.append(sum(j.ByteSize() for j in page.jobs))
        token = page.next_token
        if not token:
            break
    assert len(sizes) == 3 and max(sizes) <= MAX_PAGE_BYTES


def test_a_digest_in_progress_does_not_hold_up_apply(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply(batch(apply_cmd(*[job(f"j{i}") for i in range(200)])), 1)
    digesting, release = threading.Event(), threading.Event()

    def pause() -> None:
        digesting.set()
        release.wait(30)

    digest: list[tuple[int, str]] = []
    reader = threading.Thread(target=lambda: digest.append(s.digest(pause=pause)))
    reader.start()
    try:
        assert digesting.wait(10)
        # The digest holds its read transaction and waits for us: apply and reads must go on.
        applier = threading.Thread(target=s.apply, args=(batch(apply_cmd(job("during"))), 2))
        applier.start()
        applier.join(10)
        assert not applier.is_alive(), "apply waited for a digest in progress"
        assert s.get_job("during") is not None and s.applied_index() == 2
        assert reader.is_alive()  # the digest was still in progress all along
    finally:
        release.set()
        reader.join(10)
    assert digest[0][0] == 1  # a point-in-time view: the entry applied meanwhile is not in it


def test_installing_a_snapshot_waits_for_reads_in_progress(tmp_path: Path) -> None:
    s = Store(tmp_path / "s")
    s.apply(batch(apply_cmd(job("a"))), 1)
    other = Store(tmp_path / "o")
    other.apply(batch(apply_cmd(job("b"))), 1)
    copy = tmp_path / "copy"
    copy.mkdir()
    txn = other.read_txn()
    other.copy_to(copy, txn)
    txn.abort()
    digesting, release = threading.Event(), threading.Event()
    order: list[str] = []

    def pause() -> None:
        digesting.set()
        release.wait(30)

    reader = threading.Thread(target=lambda: (s.digest(pause=pause), order.append("digest")))
    reader.start()
    assert digesting.wait(10)
    installer = threading.Thread(target=lambda: (s.replace_with(copy / "data.mdb"), order.append("install")))
    installer.start()
    installer.join(0.2)  # not a synchronisation: it must still be waiting whatever the delay
    assert installer.is_alive()
    release.set()
    reader.join(10)
    installer.join(10)
    assert order == ["digest", "install"] and s.get_job("b") is not None

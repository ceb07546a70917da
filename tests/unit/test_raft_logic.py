"""Pure pieces of the Raft integration: recovery planning and append matching."""

from __future__ import annotations

import pytest

from wloadctl.raft.overrides import plan_append
from wloadctl.raft.recovery import RecoveryError, plan_recovery
from wloadctl.raft.snapshots import SnapshotHeader


def log(first: int, last: int, term: int = 1) -> list[tuple[bytes, int, int]]:
    return [(b"c%d" % i, i, term) for i in range(first, last + 1)]


def header(prev: int, last: int) -> SnapshotHeader:
    return SnapshotHeader(last=(b"l", last, 1), prev=(b"p", prev, 1), members=["a:1"])


def test_restart_never_drops_journal_entries_after_the_snapshot() -> None:
    # D2: pysyncobj cleared entries 101..500 here because the dump (99,100)
    # did not match the journal's first entries.
    plan = plan_recovery(log(50, 500), state_applied=120, snapshot=header(99, 100))
    assert plan.reset_journal is None and not plan.install_snapshot
    assert plan.last_applied == 120


def test_fresh_node_starts_from_one() -> None:
    assert plan_recovery(log(1, 1), 0, None).last_applied == 1


def test_state_ahead_of_journal_after_interrupted_install() -> None:
    plan = plan_recovery(log(1, 10), state_applied=300, snapshot=header(299, 300))
    assert plan.reset_journal == ((b"p", 299, 1), (b"l", 300, 1))
    assert plan.last_applied == 300


def test_state_ahead_without_explanation_is_refused() -> None:
    with pytest.raises(RecoveryError, match="ahead of the Raft log"):
        plan_recovery(log(1, 10), state_applied=300, snapshot=None)


def test_lost_state_is_restored_from_snapshot() -> None:
    plan = plan_recovery(log(200, 400), state_applied=0, snapshot=header(250, 251))
    assert plan.install_snapshot and plan.reset_journal is None and plan.last_applied == 251
    with pytest.raises(RecoveryError, match="older than the Raft log"):
        plan_recovery(log(200, 400), state_applied=0, snapshot=header(100, 101))


def test_plan_append_skips_entries_already_held() -> None:
    # D4: a resend overlapping entries we hold must not truncate them.
    ours = log(10, 20)
    assert plan_append(ours, log(12, 15)) == (4, True)       # all present: keep our suffix
    assert plan_append(ours, log(18, 25)) == (3, False)      # 18..20 held, 21.. new
    assert plan_append(ours, log(15, 16, term=2)) == (0, False)  # conflict at 15: truncate from there
    mixed = [*log(12, 13), (b"x", 14, 2)]
    assert plan_append(ours, mixed) == (2, False)
    assert plan_append(ours, []) == (0, False)
    assert plan_append(ours, log(5, 9)) == (0, False)        # before our first entry: left to pysyncobj


def test_membership_entries_decode_only_what_pysyncobj_writes() -> None:
    import pickle

    from pysyncobj.node import TCPNode

    from wloadctl.raft.overrides import membership_change

    entry = pickle.dumps(["add", "127.0.0.4:18681", TCPNode("127.0.0.4:18681")], 2)
    assert membership_change(entry) == ("add", "127.0.0.4:18681")

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            import os

            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="refused"):
        membership_change(pickle.dumps(["add", "x:1", Evil()], 2))

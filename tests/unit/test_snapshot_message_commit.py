"""D8: an append_entries that carries (or announces) a snapshot checks nothing of the follower's
log, so it must not commit the entries at its end. pysyncobj did: a deposed leader applied its
own uncommitted write, answered its caller "done", and the snapshot then replaced it (an
acknowledged write that no replica kept; found by the chaos suite's final_specs checker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pysyncobj.node import TCPNode

from wloadctl.config.settings import RaftTimers
from wloadctl.raft.journal import LmdbJournal
from wloadctl.raft.node import sync_obj_conf
from wloadctl.raft.overrides import REGULAR, DurableSyncObj
from wloadctl.testing.cluster import free_ports


@pytest.fixture
def follower(tmp_path: Path) -> Any:
    """A replica that led in term 1 and appended an entry nobody else has, now without auto tick."""
    own, peer = free_ports(2)
    journal = LmdbJournal(tmp_path / "raft")
    applied: list[int] = []
    conf = sync_obj_conf(RaftTimers(), "s" * 32)
    conf.autoTick = False
    conf.raftMinTimeout, conf.raftMaxTimeout = 3600.0, 3601.0  # no election while the test drives it
    conf.connectionTimeout = 3601.0
    obj = DurableSyncObj(
        f"127.0.0.1:{own}", [f"127.0.0.1:{peer}"], conf, journal, tmp_path / "snapshot.bin",
        apply_entry=lambda payload, index: applied.append(index),
        apply_meta=lambda index, membership: None,
        begin_state_copy=lambda: None, copy_state=lambda path, txn: None, sync_state=lambda: None,
        on_start=lambda sync_obj: None, install_snapshot=lambda sync_obj, path: None)
    obj.doTick(0)
    stale = journal[-1][1] + 1
    journal.add(bytes([REGULAR]) + b"an uncommitted write of a deposed leader", stale, 1)
    journal.sync()
    yield obj, applied, stale, TCPNode(f"127.0.0.1:{peer}")
    obj.destroy()
    journal.env.close()


@pytest.mark.parametrize("message", [
    {"type": "append_entries", "term": 5, "commit_index": 1000, "serialized": None},  # snapshot being prepared
    {"type": "append_entries", "term": 5, "commit_index": 1000},
])
def test_a_snapshot_message_commits_nothing_of_the_followers_own_log(follower: Any, message: dict[str, Any]) -> None:
    obj, applied, stale, leader = follower
    before = obj._SyncObj__raftCommitIndex
    obj._SyncObj__onMessageReceived(leader, message)
    obj.doTick(0)
    assert obj._SyncObj__raftCommitIndex == before < stale
    assert stale not in applied


def test_entries_checked_against_the_leader_still_commit(follower: Any) -> None:
    obj, applied, stale, leader = follower
    entries = obj._SyncObj__getEntries(stale)
    # The leader's append_entries that matches the follower's log up to the stale entry's predecessor
    # and carries the same entry (same term): now it is the leader's and may commit.
    obj._SyncObj__onMessageReceived(leader, {
        "type": "append_entries", "term": 5, "commit_index": stale, "entries": entries,
        "prevLogIdx": stale - 1, "prevLogTerm": obj._SyncObj__getEntries(stale - 1, 1)[0][2]})
    obj.doTick(0)
    assert obj._SyncObj__raftCommitIndex == stale and stale in applied

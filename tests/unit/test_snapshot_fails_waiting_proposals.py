"""D9: a proposal's callback runs when its index is applied. A deposed leader that catches up by an
installed snapshot skips the indexes of its own uncommitted proposals, and pysyncobj never called
their callbacks; our proposer counts entries in flight by them, so after four such losses a
re-elected leader proposed nothing (found by the chaos suite: no epoch began for 95 s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pysyncobj.config import FAIL_REASON
from pysyncobj.node import TCPNode

from wloadctl.config.settings import RaftTimers
from wloadctl.raft.journal import LmdbJournal
from wloadctl.raft.node import sync_obj_conf
from wloadctl.raft.overrides import REGULAR, DurableSyncObj
from wloadctl.testing.cluster import free_ports


@pytest.fixture
def deposed_leader(tmp_path: Path) -> Any:
    """A replica elected in a 2-member cluster (the peer's vote is fed to it), holding one
    proposal its peer never acknowledged, then deposed by the peer at a higher term."""
    own, peer_port = free_ports(2)
    journal = LmdbJournal(tmp_path / "raft")
    conf = sync_obj_conf(RaftTimers(), "s" * 32)
    conf.autoTick = False
    conf.leaderFallbackTimeout = 3600.0
    conf.connectionTimeout = 3601.0
    installed: list[int] = []

    def install(sync_obj: DurableSyncObj, _path: Path) -> None:
        # What RaftNode._install_snapshot does to the Raft side: the journal is the snapshot's.
        last = journal[-1][1] + 10
        journal.clear()
        journal.add(bytes([REGULAR]), last - 1, 7)
        journal.add(bytes([REGULAR]), last, 7)
        journal.sync()
        sync_obj.wl_set_last_applied(last)
        installed.append(last)

    obj = DurableSyncObj(
        f"127.0.0.1:{own}", [f"127.0.0.1:{peer_port}"], conf, journal, tmp_path / "snapshot.bin",
        apply_entry=lambda payload, index: None, apply_meta=lambda index, membership: None,
        begin_state_copy=lambda: None, copy_state=lambda path, txn: None, sync_state=lambda: None,
        on_start=lambda sync_obj: None, install_snapshot=install)
    peer = TCPNode(f"127.0.0.1:{peer_port}")
    obj._SyncObj__connectedNodes.add(peer)  # pysyncobj elects only when connected to someone
    obj.wl_delay_election(-1)  # a candidate at the next tick
    obj.doTick(0)
    term = obj._SyncObj__raftCurrentTerm
    obj._SyncObj__onMessageReceived(peer, {"type": "response_vote", "term": term})
    assert obj._isLeader()
    outcomes: list[tuple[Any, int]] = []
    obj.propose(b"a write the peer never acknowledged", lambda result, error: outcomes.append((result, error)))
    obj.doTick(0)
    assert outcomes == []  # in the log, not committed
    obj._SyncObj__onMessageReceived(peer, {"type": "append_entries", "term": term + 5, "commit_index": 0})
    assert not obj._isLeader()
    yield obj, outcomes, installed
    obj.destroy()
    journal.env.close()


def test_an_installed_snapshot_fails_the_proposals_it_skipped(deposed_leader: Any) -> None:
    obj, outcomes, installed = deposed_leader
    obj._SyncObj__loadDumpFile(clearJournal=True)  # what pysyncobj does with a received snapshot
    assert installed, "the snapshot was not installed"
    assert outcomes == [(None, FAIL_REASON.UNKNOWN_OUTCOME)]
    assert obj._SyncObj__commandsWaitingCommit == {}

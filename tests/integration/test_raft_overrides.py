"""Regression tests for the pysyncobj defects neutralized in wloadctl/raft/overrides.py.

Replicas run in this process (real pysyncobj over loopback TCP, real LMDB), so
the tests can look inside a node; each fails without its override.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wloadctl.config import RaftTimers
from wloadctl.raft.node import RaftNode
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, batch, job
from wloadctl.testing.cluster import free_ports, wait_for

pytestmark = pytest.mark.integration


class Nodes:
    def __init__(self, root: Path, n: int = 3, **timers: Any) -> None:
        ports = free_ports(n)
        self.addresses = [f"127.0.0.1:{p}" for p in ports]
        self.nodes: list[RaftNode] = []
        for i, address in enumerate(self.addresses):
            store = Store(root / f"n{i}" / "state")
            node = RaftNode(f"n{i}", address, self.addresses, root / f"n{i}", store, "test-secret-0123456789",
                            RaftTimers(**timers))
            node.start()
            self.nodes.append(node)

    def leader(self) -> RaftNode:
        return wait_for(lambda: next((n for n in self.nodes if n.is_leader()), None), 20, "a leader")

    def commit(self, payload: bytes, timeout: float = 10) -> Any:
        leader = self.leader()
        done = threading.Event()
        out: list[Any] = []

        def cb(result: Any, error: int) -> None:
            out.append((result, error))
            done.set()

        leader.propose(payload, cb)
        assert done.wait(timeout), "no answer from the Raft node"
        result, error = out[0]
        assert error == 0, f"commit failed: {error}"
        return result

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
            n.store.close()


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    made: list[Nodes] = []

    def make(**timers: Any) -> Nodes:
        ns = Nodes(tmp_path / f"c{len(made)}", **timers)
        made.append(ns)
        return ns

    yield make  # type: ignore[misc]
    for ns in made:
        ns.stop()


_READER = """
import lmdb, struct, sys
env = lmdb.open(sys.argv[1], readonly=True, lock=False, max_dbs=4)
db = env.open_db(b"log", create=False)
with env.begin() as txn:
    print(1 if txn.get(struct.pack(">Q", int(sys.argv[2])), db=db) else 0)
"""


def committed_on_disk(journal_dir: Path, index: int) -> bool:
    """Ask another process: is entry ``index`` in this journal's committed LMDB data?"""
    out = subprocess.run([sys.executable, "-c", _READER, str(journal_dir), str(index)], capture_output=True,
                         text=True, timeout=30, check=True)
    return out.stdout.strip() == "1"


def test_d1_acknowledged_entries_are_on_disk_on_a_majority(nodes: Any) -> None:
    ns: Nodes = nodes()
    for i in range(20):
        results = ns.commit(batch(apply_cmd(job(f"j{i}"))))
        index = results[0].raft_index
        on_disk = [committed_on_disk(n.journal.path, index) for n in ns.nodes]
        # Acknowledged => durable on a majority (the leader and one follower at least).
        assert sum(on_disk) >= 2, f"entry {index} acknowledged but on disk only on {on_disk}"
        assert committed_on_disk(ns.leader().journal.path, index)


def test_d3_snapshots_are_copied_off_the_raft_thread(nodes: Any) -> None:
    ns: Nodes = nodes(compaction_min_entries=50)
    leader = ns.leader()
    release = threading.Event()
    started = threading.Event()
    copy_threads: list[int] = []
    original_copy = leader.store.copy_to

    def slow_copy(directory: Path, txn: Any) -> None:
        copy_threads.append(threading.get_ident())
        started.set()
        assert release.wait(30)
        original_copy(directory, txn)

    leader.obj._wl_snapshotter._copy_state = slow_copy
    i = 0
    while not started.is_set() and i < 500:
        ns.commit(batch(apply_cmd(job(f"a{i}"))))
        i += 1
    assert started.is_set(), "no compaction started"
    # While the snapshot copy is blocked, the Raft loop keeps committing.
    for j in range(100):
        ns.commit(batch(apply_cmd(job(f"b{j}"))))
    raft_thread = leader.obj._SyncObj__thread.ident  # type: ignore[attr-defined]
    assert copy_threads and all(t != raft_thread for t in copy_threads)
    release.set()
    wait_for(lambda: leader.obj._wl_snapshotter.completed >= 1, 30, "the snapshot to finish")
    assert leader.snapshot_path.read_bytes().startswith(b"WLSNAP1\n")
    assert leader.journal[0][1] > 1  # the journal was compacted after the copy finished


def test_d4_overlapping_resend_keeps_entries(nodes: Any, caplog: pytest.LogCaptureFixture) -> None:
    ns: Nodes = nodes()
    for i in range(10):
        ns.commit(batch(apply_cmd(job(f"j{i}"))))
    leader = ns.leader()
    follower = next(n for n in ns.nodes if n is not leader)
    wait_for(lambda: follower.journal[-1][1] == leader.journal[-1][1], 10, "the follower to catch up")
    obj = follower.obj
    held = [follower.journal[k] for k in range(len(follower.journal))]
    # A late resend of entries the follower already holds, as pysyncobj's
    # leader sends after a delayed acknowledgement.
    resend = {"type": "append_entries", "term": obj.raftCurrentTerm, "commit_index": obj.raftCommitIndex,
              "prevLogIdx": held[-6][1], "prevLogTerm": held[-6][2], "entries": list(held[-5:-3])}
    outcome: dict[str, Any] = {}
    delivered = threading.Event()

    def deliver() -> None:  # runs on the follower's Raft thread, through the real receive path
        if delivered.is_set():
            return
        obj._SyncObj__transport._onMessageReceived(obj._getLeader(), resend)  # type: ignore[attr-defined]
        outcome["last"] = follower.journal[-1][1]
        outcome["len"] = len(follower.journal)
        delivered.set()

    with caplog.at_level("CRITICAL", logger="pysyncobj"):
        obj.addOnTickCallback(deliver)
        assert delivered.wait(10)
        obj.removeOnTickCallback(deliver)
    assert outcome["last"] >= held[-1][1], "entries the follower held were truncated"
    assert not [r for r in caplog.records if "truncating" in r.getMessage()]

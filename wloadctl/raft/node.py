"""One replica's Raft node: durable journal, state store, snapshots, membership.

The Raft loop runs in pysyncobj's own thread; everything that crosses into
asyncio goes through :meth:`RaftNode.propose` (thread-safe) and the callbacks
it takes.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pysyncobj import SyncObjConf
from pysyncobj.config import FAIL_REASON

from wloadctl.config.settings import RaftTimers
from wloadctl.raft.journal import LmdbJournal
from wloadctl.raft.overrides import MEMBERSHIP, DurableSyncObj, membership_change
from wloadctl.raft.recovery import RecoveryPlan, plan_recovery
from wloadctl.raft.snapshots import SnapshotError, SnapshotHeader, extract_db, read_header
from wloadctl.raft.testhooks import install_pause_s
from wloadctl.state.store import Store

log = logging.getLogger(__name__)

ROLE_NAMES = {0: "follower", 1: "candidate", 2: "leader"}

FAIL_REASON_NAMES = {
    FAIL_REASON.QUEUE_FULL: "queue full",
    FAIL_REASON.MISSING_LEADER: "no leader",
    FAIL_REASON.DISCARDED: "discarded by a new leader",
    FAIL_REASON.NOT_LEADER: "not the leader",
    FAIL_REASON.LEADER_CHANGED: "leader changed",
    FAIL_REASON.REQUEST_DENIED: "request denied",
    FAIL_REASON.UNKNOWN_OUTCOME: "outcome unknown",
}


class RaftBindError(RuntimeError):
    """The Raft port could not be bound when the node started."""


def sync_obj_conf(timers: RaftTimers, password: str | None) -> SyncObjConf:
    """pysyncobj's configuration for `timers` (RaftTimers is read from the replica config,
    which must not need pysyncobj)."""
    return SyncObjConf(
        password=password,
        autoTick=True,
        autoTickPeriod=timers.tick,
        # We batch commands ourselves (many per entry); each entry is sent
        # at once instead of waiting for the next append period.
        appendEntriesUseBatch=False,
        appendEntriesPeriod=timers.append_entries_period,
        raftMinTimeout=timers.election_min,
        raftMaxTimeout=timers.election_max,
        leaderFallbackTimeout=timers.leader_fallback,
        connectionTimeout=timers.connection_timeout,
        connectionRetryTime=timers.connection_retry,
        logCompactionMinEntries=timers.compaction_min_entries,
        logCompactionMinTime=timers.compaction_min_time,
        logCompactionBatchSize=timers.snapshot_chunk_bytes,
        appendEntriesBatchSizeBytes=timers.append_batch_bytes,
        commandsWaitLeader=False,
        dynamicMembershipChange=True,
        tcp_keepalive=(2, 1, 3),
    )


class RaftNode:
    def __init__(self, node_id: str, raft_address: str, peers: Sequence[str], data_dir: Path,
                 store: Store, secret: str | None, timers: RaftTimers | None = None,
                 on_role_change: Callable[[str], None] | None = None, bind_address: str | None = None) -> None:
        self.node_id = node_id
        self.raft_address = raft_address
        self.bind_address = bind_address
        self.configured_peers = sorted({*peers, raft_address})
        self.data_dir = Path(data_dir)
        self.store = store
        self.timers = timers or RaftTimers()
        self._secret = secret
        self._on_role_change = on_role_change
        self.journal = LmdbJournal(self.data_dir / "raft")
        self.snapshot_path = self.data_dir / "snapshot.bin"
        self.plan: RecoveryPlan = self._recover()
        self.started_at = time.monotonic()
        self.ready_at: float | None = None
        self.elections_seen = 0
        self.sync_obj: DurableSyncObj | None = None
        # Called on the Raft thread when a follower confirmed a ReadIndex round (raft/reads.py).
        self.on_read_ack: Callable[[], None] | None = None

    # ---- start-up

    def _snapshot_header(self) -> SnapshotHeader | None:
        try:
            return read_header(self.snapshot_path, verify=True) if self.snapshot_path.exists() else None
        except SnapshotError:
            return None

    def _recover(self) -> RecoveryPlan:
        entries = list(self.journal) or [(b"\x01", 1, 0)]
        header = self._snapshot_header() if entries[0][1] > 1 or self.store.applied_index() > entries[-1][1] \
            else None
        plan = plan_recovery(entries, self.store.applied_index(), header)
        if plan.install_snapshot:
            self._install_state_from(self.snapshot_path)
        if plan.reset_journal is not None:
            self.journal.clear()
            for entry in plan.reset_journal:
                self.journal.add(*entry)
            self.journal.sync()
        log.info("recovery plan", extra={"plan": str(plan), "journal_entries": len(self.journal)})
        return plan

    def start(self) -> None:
        conf = sync_obj_conf(self.timers, self._secret)
        conf.onStateChanged = self._state_changed
        self.sync_obj = DurableSyncObj(
            self.raft_address,
            [p for p in self.configured_peers if p != self.raft_address],
            conf,
            journal=self.journal,
            snapshot_path=self.snapshot_path,
            apply_entry=self.store.apply,
            apply_meta=self.store.apply_meta,
            begin_state_copy=self.store.read_txn,
            copy_state=self.store.copy_to,
            sync_state=self.store.sync,
            on_start=self._on_first_tick,
            install_snapshot=self._install_snapshot,
            bind_address=self.bind_address,
        )
        self.sync_obj.wl_on_read_ack = self._read_ack
        # The constructor returns after the first bind attempt. pysyncobj would retry a failed one
        # every second for ever, with no word about it, while the replica looks alive.
        if not self.sync_obj.wl_transport_ready():
            self.stop()
            raise RaftBindError(f"cannot listen on {self.bind_address or self.raft_address}")

    def _on_first_tick(self, sync_obj: DurableSyncObj) -> None:
        sync_obj.wl_set_last_applied(self.plan.last_applied)
        sync_obj.wl_set_members(self._members_after(self.plan.last_applied))
        if len(self.journal) > 1 and self.journal[0][1] > 1 and self._snapshot_header() is None:
            # The journal was compacted but the snapshot file is unusable (a
            # crash mid-write): make a fresh one so lagging followers can be served.
            sync_obj.forceLogCompaction()

    def _members_after(self, applied: int) -> list[str]:
        """Raft membership: the state's record, then every membership entry
        the journal holds past it (pysyncobj applies them when appended)."""
        members = set(self.store.raft_members() or self.configured_peers)
        for command, idx, _ in self.journal:
            if idx > applied and command[:1] == bytes([MEMBERSHIP]):
                op, address = membership_change(command[1:])
                if op == "add":
                    members.add(address)
                elif op == "rem":
                    members.discard(address)
        return sorted(members)

    def _install_state_from(self, path: Path) -> SnapshotHeader:
        with tempfile.TemporaryDirectory(dir=self.data_dir, prefix=".install-") as tmp:
            db_file = Path(tmp) / "data.mdb"
            header = extract_db(path, db_file)
            self.store.replace_with(db_file)
        return header

    def _install_snapshot(self, sync_obj: DurableSyncObj, path: Path) -> None:
        """A snapshot streamed by the leader (Raft thread)."""
        header = self._install_state_from(path)
        if pause := install_pause_s():
            log.warning("test hook: pausing a snapshot install between the state and the journal",
                        extra={"index": header.last[1], "seconds": pause})
            time.sleep(pause)
        self.journal.clear()
        self.journal.add(*header.prev)
        self.journal.add(*header.last)
        self.journal.sync()
        sync_obj.wl_set_last_applied(header.last[1])
        sync_obj.wl_set_members(header.members)
        # Installing took a while: do not start an election for that.
        sync_obj.wl_delay_election(self.timers.election_max)
        log.info("installed snapshot", extra={"index": header.last[1]})

    def _read_ack(self) -> None:
        if self.on_read_ack is not None:
            self.on_read_ack()

    def _state_changed(self, old: int, new: int) -> None:
        if new == 1:
            self.elections_seen += 1
        if self._on_role_change is not None:
            self._on_role_change(ROLE_NAMES.get(new, "unknown"))

    def stop(self) -> None:
        if self.sync_obj is not None:
            self.sync_obj.destroy_synchronous()
            self.sync_obj = None

    # ---- operations (thread-safe)

    @property
    def obj(self) -> DurableSyncObj:
        if self.sync_obj is None:
            raise RuntimeError("raft node not started")
        return self.sync_obj

    def is_leader(self) -> bool:
        return self.sync_obj is not None and self.sync_obj._isLeader()

    def leads_now(self) -> bool:
        """Leader with a majority heard from within leader_fallback: safe to renew agents' leases."""
        return self.sync_obj is not None and self.sync_obj.wl_leads_now(self.timers.leader_fallback)

    def heard_members(self) -> int:
        """Members (this one included) the leader heard from within the election timeout."""
        return self.sync_obj.wl_heard_members(self.timers.election_min) if self.sync_obj is not None else 0

    def leader_address(self) -> str | None:
        leader = self.sync_obj._getLeader() if self.sync_obj is not None else None
        return leader.address if leader is not None else None

    def propose(self, payload: bytes, callback: Callable[[Any, int], None]) -> None:
        self.obj.propose(payload, callback)

    def add_member(self, raft_address: str, callback: Callable[[Any, int], None]) -> None:
        self.obj.addNodeToCluster(raft_address, callback)

    def remove_member(self, raft_address: str, callback: Callable[[Any, int], None]) -> None:
        self.obj.removeNodeFromCluster(raft_address, callback)

    def transfer_leadership(self, raft_address: str | None, callback: Callable[[Any, int], None]) -> None:
        self.obj.transferLeadership(raft_address, callback)

    def members(self) -> list[str]:
        obj = self.obj
        return sorted({obj.selfNode.address, *(n.address for n in obj.otherNodes)})

    def status(self) -> dict[str, Any]:
        obj = self.obj
        raw = obj.getStatus()
        leader = raw.get("leader")
        others = obj.otherNodes
        return {
            "role": ROLE_NAMES.get(raw["state"], "unknown"),
            "leader": leader.address if leader is not None else "",
            "term": int(raw["raft_term"]),
            "commit_index": int(raw["commit_idx"]),
            "applied_index": int(raw["last_applied"]),
            "has_quorum": bool(raw["has_quorum"]),
            "log_entries": int(raw["log_len"]),
            "snapshot_index": int(self.journal[0][1]) if len(self.journal) else 0,
            "members": {
                n.address: {
                    "connected": obj.isNodeConnected(n),
                    "match_index": int(raw.get("match_idx_server_" + n.address, 0) or 0),
                }
                for n in others
            },
            "journal_syncs": self.journal.syncs,
            "snapshots": self.obj._wl_snapshotter.completed,
        }

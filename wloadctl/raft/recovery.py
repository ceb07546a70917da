"""What a replica does with its journal, state and snapshot when it starts.

pysyncobj's own loader clears every journal entry after a snapshot that is
newer than the journal's start (defect D2 in overrides.py). The rule here is
the opposite: the journal is the source of truth for everything after the
state's applied index, and it is never cut short on start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wloadctl.raft.snapshots import SnapshotHeader

Entry = tuple[bytes, int, int]


class RecoveryError(Exception):
    """The data dir is inconsistent in a way that must not be papered over."""


@dataclass(frozen=True)
class RecoveryPlan:
    last_applied: int
    install_snapshot: bool = False          # replace the state with the snapshot's copy
    reset_journal: tuple[Entry, Entry] | None = None  # journal := [prev, last]


def plan_recovery(journal: Sequence[Entry], state_applied: int,
                  snapshot: SnapshotHeader | None) -> RecoveryPlan:
    """Decide how to resume, given the journal (never empty: pysyncobj starts
    it with a no-op at index 1), the state's applied index and the snapshot
    file's header (None when there is no valid snapshot)."""
    first, last = journal[0][1], journal[-1][1]
    if first - 1 <= state_applied <= last:
        # The usual case: replay what the journal holds after the state.
        return RecoveryPlan(last_applied=max(state_applied, 1))
    if state_applied > last:
        # The state is ahead of the journal: only legitimate right after a
        # snapshot install whose journal reset did not reach the disk.
        if snapshot is not None and snapshot.last[1] == state_applied:
            return RecoveryPlan(last_applied=state_applied, reset_journal=(snapshot.prev, snapshot.last))
        raise RecoveryError(
            f"the state (applied index {state_applied}) is ahead of the Raft log (last index {last}) "
            "and no snapshot explains it; wipe this replica's data dir to resync it from the cluster")
    # state_applied < first - 1: the state lost entries the journal no longer has.
    if snapshot is not None and snapshot.last[1] >= first - 1:
        reset = (snapshot.prev, snapshot.last) if snapshot.last[1] > last else None
        return RecoveryPlan(last_applied=snapshot.last[1], install_snapshot=True, reset_journal=reset)
    raise RecoveryError(
        f"the state (applied index {state_applied}) is older than the Raft log's first entry ({first}) "
        "and no snapshot covers the gap; wipe this replica's data dir to resync it from the cluster")

"""A failed snapshot (a full disk) is retried after a pause that doubles, not at the next tick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pysyncobj.config import SERIALIZER_STATE

from wloadctl.config.settings import RaftTimers
from wloadctl.raft import overrides
from wloadctl.raft.journal import LmdbJournal
from wloadctl.raft.node import sync_obj_conf
from wloadctl.raft.overrides import DurableSyncObj
from wloadctl.testing.cluster import free_ports, wait_for


def test_a_failed_snapshot_is_retried_after_a_growing_pause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(overrides, "pyso_monotonic", lambda: now[0])
    own, peer = free_ports(2)
    journal = LmdbJournal(tmp_path / "raft")
    copies: list[int] = []

    def full_disk(path: Path, txn: Any) -> None:
        copies.append(1)
        raise OSError(28, "No space left on device")

    conf = sync_obj_conf(RaftTimers(), "s" * 32)
    conf.autoTick = False
    obj = DurableSyncObj(
        f"127.0.0.1:{own}", [f"127.0.0.1:{peer}"], conf, journal, tmp_path / "snapshot.bin",
        apply_entry=lambda payload, index: None, apply_meta=lambda index, membership: None,
        begin_state_copy=lambda: _Txn(), copy_state=full_disk, sync_state=lambda: None,
        on_start=lambda sync_obj: None, install_snapshot=lambda sync_obj, path: None)
    try:
        def attempt() -> None:
            """pysyncobj starts a snapshot and polls until the copy has failed."""
            obj._wl_serialize(str(tmp_path / "snapshot.tmp"), (journal[-1], journal[-1], []))

            def failed() -> bool:
                state = obj._wl_check_serialize()
                return state == SERIALIZER_STATE.SERIALIZING and not obj._wl_snapshotter.busy

            wait_for(failed, 10, "the copy to fail")

        attempt()
        # Failed: pysyncobj is told "still serializing" for a second, then "failed" once.
        assert obj._wl_check_serialize() == SERIALIZER_STATE.SERIALIZING
        now[0] += 1.01
        assert obj._wl_check_serialize() == SERIALIZER_STATE.FAILED
        attempt()
        now[0] += 1.01
        assert obj._wl_check_serialize() == SERIALIZER_STATE.SERIALIZING  # the pause doubled to 2 s
        now[0] += 1.0
        assert obj._wl_check_serialize() == SERIALIZER_STATE.FAILED
        assert len(copies) == 2
    finally:
        obj.destroy()
        journal.env.close()


class _Txn:
    def abort(self) -> None:
        pass

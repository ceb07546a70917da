"""A leader deposed while it reconciles does not go on to dispatch: it starts over as a follower
and begins a new epoch once it leads again (it used to end up "active" in epoch 0 for ever,
dispatching messages every agent refused as stale)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wloadctl.control.controller import Controller
from wloadctl.raft.proposer import Proposer
from wloadctl.state.store import Store
from wloadctl.testing.fakes import FakeRaftNode


def test_a_leader_deposed_during_reconcile_begins_a_new_epoch_when_it_leads_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    node = FakeRaftNode(store)

    async def main() -> tuple[str, int, str, int]:
        proposer = Proposer(node)  # type: ignore[arg-type]
        proposer.start()
        controller = Controller(node, store, proposer, "r1")  # type: ignore[arg-type]
        await controller.tick()  # begins epoch 1
        assert controller.phase == "inquiry" and controller.epoch == 1
        controller.phase = "reconcile"  # as after an agent quorum confirmed

        async def reconcile_while_deposed(only: set[str] | None = None) -> None:
            node.leader = False
            controller.wake()        # the role change: step down now
            node.leader = True       # and elected again before the reconcile ends

        controller._reconcile = reconcile_while_deposed  # type: ignore[method-assign]
        await controller.tick()
        after_tick = (controller.phase, controller.epoch)
        await controller.tick()      # a follower that leads begins a new epoch
        await proposer.stop()
        return after_tick[0], after_tick[1], controller.phase, controller.epoch

    try:
        phase, epoch, next_phase, next_epoch = asyncio.run(main())
    finally:
        node.stop()
        store.close()
    assert (phase, epoch) == ("follower", 0)
    assert next_phase == "inquiry" and next_epoch == 2

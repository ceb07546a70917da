"""The controller's loop ends on stop() even when a cancellation is swallowed on the way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from wloadctl.control.controller import Controller
from wloadctl.raft.proposer import Proposer
from wloadctl.state.store import Store
from wloadctl.testing.fakes import FakeRaftNode


def test_stop_ends_the_loop_even_if_a_tick_swallows_the_cancellation(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    node = FakeRaftNode(store, leader=False)

    async def main() -> tuple[int, bool]:
        controller = Controller(node, store, Proposer(node), "r1")  # type: ignore[arg-type]
        ticks = 0
        swallowed = 0
        ticking = asyncio.Event()

        async def swallowing_tick(*_: Any) -> None:
            # What Python 3.11's wait_for does when the cancel lands as its inner await completes.
            nonlocal ticks, swallowed
            ticks += 1
            ticking.set()
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

        controller.tick = swallowing_tick  # type: ignore[method-assign]
        controller.start()
        await asyncio.wait_for(ticking.wait(), 5)
        stopping = asyncio.create_task(controller.stop())
        finished, _ = await asyncio.wait({stopping}, timeout=5)  # a deadline: stop() must return at all
        if not finished:
            stopping.cancel()  # (old behaviour) unblocks the loop so the test itself can end
            await asyncio.wait({stopping}, timeout=5)
            return -1, False
        assert controller._task is not None
        seen = ticks
        await asyncio.sleep(0.2)  # the loop must not run another tick after stop()
        return ticks - seen, controller._task.done()

    try:
        more_ticks, done = asyncio.run(main())
    finally:
        node.stop()
        store.close()
    assert done and more_ticks == 0

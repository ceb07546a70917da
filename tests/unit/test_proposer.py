"""Leader-side batching: many commands per entry, bounded in flight, backpressure, time stamps."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from wloadctl.proto.v1 import commands_pb2
from wloadctl.raft.proposer import BackpressureError, NotLeaderError, Proposer
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job
from wloadctl.testing.fakes import FakeRaftNode


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def node(tmp_path: Path) -> Any:
    n = FakeRaftNode(Store(tmp_path / "s"))
    yield n
    n.stop()


def test_many_commands_share_few_entries(node: FakeRaftNode) -> None:
    async def go() -> list[commands_pb2.CommandResult]:
        p = Proposer(node, max_inflight_entries=2)  # type: ignore[arg-type]
        p.start()
        node.hold()
        tasks = [asyncio.create_task(p.submit(apply_cmd(job(f"j{i}"), key=f"k{i}"))) for i in range(500)]
        await asyncio.sleep(0)  # let every submit queue up
        node.release()
        results = await asyncio.gather(*tasks)
        await p.stop()
        return results

    results = run(go())
    assert all(r.code == 0 and r.jobs[0].version == 1 for r in results)
    assert len(node.proposed) < 20, f"{len(node.proposed)} entries for 500 commands"
    assert node.max_pending_seen <= 2
    assert node.store.count_jobs() == 500


def test_backpressure_when_the_queue_is_full(node: FakeRaftNode) -> None:
    async def go() -> None:
        p = Proposer(node, max_inflight_entries=1, max_queued=10, max_batch=5)  # type: ignore[arg-type]
        p.start()
        node.hold()
        tasks = [asyncio.create_task(p.submit(apply_cmd(job(f"j{i}")), timeout=5)) for i in range(15)]
        for _ in range(1000):  # bounded: yield until the queue has filled up
            if p.queued >= 10:
                break
            await asyncio.sleep(0)
        assert p.queued >= 10
        with pytest.raises(BackpressureError):
            await p.submit(apply_cmd(job("one-too-many")), timeout=0.1)
        node.release()
        await asyncio.gather(*tasks)
        await p.stop()

    run(go())
    assert node.store.count_jobs() == 15


def test_followers_do_not_propose(node: FakeRaftNode) -> None:
    node.leader = False

    async def go() -> None:
        p = Proposer(node)  # type: ignore[arg-type]
        with pytest.raises(NotLeaderError):
            await p.submit(apply_cmd(job("x")))

    run(go())


def test_stamps_never_go_backwards(node: FakeRaftNode) -> None:
    clock = iter([100.0, 50.0, 200.0])

    async def go() -> list[int]:
        p = Proposer(node, clock=lambda: next(clock))  # type: ignore[arg-type]
        return [p.stamp(), p.stamp(), p.stamp()]

    assert run(go()) == [100_000, 100_000, 200_000]

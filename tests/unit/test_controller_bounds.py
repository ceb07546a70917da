"""The leader's queues are bounded: agent outboxes, agent events waiting to be committed, kills sent.

The controller runs with its real store and proposer over the in-memory Raft node
(wloadctl.testing.fakes); one test runs the real AgentLink servicer over gRPC on loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from wloadctl.config import ControlSettings
from wloadctl.control.controller import Controller
from wloadctl.control.link import AgentLinkServicer
from wloadctl.proto.v1 import agent_pb2, agent_pb2_grpc, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.raft.proposer import Proposer
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job
from wloadctl.testing.fakes import FakeRaftNode

EV = agent_pb2.RunEvent


@dataclass
class Leader:
    store: Store
    node: FakeRaftNode
    proposer: Proposer
    controller: Controller

    async def commit(self, command: commands_pb2.Command) -> commands_pb2.CommandResult:
        result = await self.proposer.submit(command)
        assert result.code == 0, result.message
        return result


@pytest.fixture
def leader_factory(tmp_path: Path) -> Iterator[Callable[..., Leader]]:
    made: list[Leader] = []

    def make(**settings: int) -> Leader:
        store = Store(tmp_path / f"s{len(made)}")
        node = FakeRaftNode(store)
        proposer = Proposer(node)  # type: ignore[arg-type]
        proposer.start()
        leader = Leader(store, node, proposer, Controller(node, store, proposer, "r1",  # type: ignore[arg-type]
                                                          ControlSettings(**settings)))  # type: ignore[arg-type]
        made.append(leader)
        return leader

    yield make
    for leader in made:
        leader.node.stop()
        leader.store.close()


def hello(agent_id: str = "a1") -> agent_pb2.AgentHello:
    return agent_pb2.AgentHello(agent_id=agent_id, capacity=4, lease_ms=3000)


def events(n: int, first_seq: int = 1) -> agent_pb2.AgentMessage:
    return agent_pb2.AgentMessage(events=agent_pb2.EventBatch(events=[
        agent_pb2.RunEvent(run_id="r1", attempt=1, seq=first_seq + i, kind=EV.OUTPUT, data=b"x") for i in range(n)]))


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_full_outbox_closes_the_stream(leader_factory: Callable[..., Leader]) -> None:
    async def main() -> None:
        leader = leader_factory(outbox_max_messages=5)
        controller = leader.controller
        conn = controller.attach(hello())  # its welcome is queued
        stopped: list[bool] = []
        conn.stop_stream = lambda: stopped.append(True)
        for _ in range(10):  # nobody writes the outbox out
            controller._send(conn, agent_pb2.ReplicaMessage(heartbeat_ack=agent_pb2.HeartbeatAck(seq=1)))
        assert conn.outbox.qsize() == 5 and conn.closed and stopped == [True]
        assert controller.outbox_overflows == 1  # once: a closed stream takes no more messages
        await until(lambda: "a1" not in controller.conns, 5, "the stream to be detached")
        # The agent reconnects: a new stream with an empty outbox.
        again = controller.attach(hello())
        assert not again.closed and controller.conns["a1"] is again

    asyncio.run(main())


def test_an_agent_that_reads_nothing_loses_its_stream_over_grpc(leader_factory: Callable[..., Leader]) -> None:
    async def main() -> None:
        leader = leader_factory(outbox_max_messages=4)
        controller = leader.controller
        server = grpc.aio.server()
        agent_pb2_grpc.add_AgentLinkServicer_to_server(AgentLinkServicer(controller), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        silent = asyncio.Event()

        async def requests() -> AsyncIterator[agent_pb2.AgentMessage]:
            yield agent_pb2.AgentMessage(hello=hello())
            await silent.wait()  # the agent stays connected and never reads

        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = agent_pb2_grpc.AgentLinkStub(channel).Connect(requests())
                await until(lambda: "a1" in controller.conns, 10, "the agent to attach")
                conn = controller.conns["a1"]
                big = agent_pb2.ReplicaMessage(dispatch=agent_pb2.DispatchBatch(assignments=[agent_pb2.Assignment(
                    run_id="r1", attempt=1, spec=jobs_pb2.JobSpec(description="x" * (256 << 10)))]))
                sent = 0
                while not conn.closed and sent < 2000:  # flow control stops the writer within a few MiB
                    controller._send(conn, big)
                    sent += 1
                    await asyncio.sleep(0)
                assert conn.closed and controller.outbox_overflows == 1, f"{sent} messages did not fill the outbox"
                await until(lambda: "a1" not in controller.conns, 10, "the stream to be detached")
                # The agent reads what was sent before, then the call ends with a status: it reconnects.
                with pytest.raises(grpc.aio.AioRpcError) as ended:
                    async for _ in call:
                        pass
                assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "fell too far behind" in str(ended.value.details())
                silent.set()
        finally:
            await server.stop(None)

    asyncio.run(main())


def test_agent_events_are_bounded_and_committed_in_chunks(leader_factory: Callable[..., Leader]) -> None:
    async def main() -> None:
        leader = leader_factory(pending_events_max=3000, events_per_command=1000)
        controller, node = leader.controller, leader.node
        conn = controller.attach(hello())
        # A follower collects nothing: only a leader commits them (the agent resends to its leader).
        controller.on_message(conn, events(50))
        assert controller._pending_events == {}
        await controller.tick()  # leads: commits BeginEpoch
        assert controller.phase == "inquiry"
        # Committed in order, in commands of at most events_per_command events.
        controller.on_message(conn, events(2500))
        before = len(node.proposed)
        await controller._record_events()
        chunks = [[e.seq for e in c.record_run_events.events]
                  for entry in node.proposed[before:] for c in commands_pb2.CommandBatch.FromString(entry).commands]
        assert [len(c) for c in chunks] == [1000, 1000, 500]
        assert [seq for c in chunks for seq in c] == list(range(1, 2501)) and controller._pending_events == {}
        # Deposed: what waits is dropped (the agents send their results to the next leader).
        controller.on_message(conn, events(10))
        node.leader = False
        controller.wake()
        assert controller.phase == "follower" and controller._pending_events == {}
        # Too many waiting (commits stalled): the agent's stream is closed, its events dropped; it
        # reconnects and its report brings back what it holds.
        node.leader = True
        await controller.tick()
        stopped: list[bool] = []
        conn.stop_stream = lambda: stopped.append(True)
        node.hold()
        controller.on_message(conn, events(2000))
        controller.on_message(conn, events(1001, first_seq=2001))
        assert stopped == [True] and conn.closed and controller.event_overflows == 1
        assert "a1" not in controller._pending_events
        node.release()

    asyncio.run(main())


def test_kills_of_runs_no_longer_on_the_agent_are_forgotten(leader_factory: Callable[..., Leader]) -> None:
    async def main() -> None:
        leader = leader_factory()
        controller = leader.controller
        await controller.tick()  # BeginEpoch
        epoch = controller.epoch
        conn = controller.attach(hello())
        await leader.commit(apply_cmd(job("j")))
        await leader.commit(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
            agent=runs_pb2.Agent(agent_id="a1", capacity=4, lease_ms=3000))))
        for _ in range(2):
            await leader.commit(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="j")))
        await leader.commit(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(epoch=epoch, decisions=[
            commands_pb2.DispatchDecision(run_id="r1", attempt=1, agent_id="a1"),
            commands_pb2.DispatchDecision(run_id="r2", attempt=1, agent_id="a1")])))
        for run_id in ("r1", "r2"):
            await leader.commit(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=run_id)))
        controller.phase = "active"
        controller._send_kills_and_resends()
        assert set(conn.sent_kill) == {("r1", 1), ("r2", 1)}
        # r2 ends on the agent: its kill is never sent again, and its record goes.
        await leader.commit(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
            agent_pb2.RunEvent(run_id="r2", attempt=1, seq=1, kind=EV.FINISHED, killed=True)])))
        controller._send_kills_and_resends()
        assert set(conn.sent_kill) == {("r1", 1)}

    asyncio.run(main())

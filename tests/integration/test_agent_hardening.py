"""Hardened agents, with real agent processes: what an agent agrees to run (allowed_run_as,
allowed_commands, allow_scripts), which certificates it accepts from a replica, and which replica
it obeys (the link it confirmed the epoch on; only epochs a majority of the replicas hold).

Fake replicas are AgentLink endpoints served by this test process, sending what a real replica
never would; everything else (replicas, agents) runs as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from wloadctl.client import Client
from wloadctl.proto.v1 import agent_pb2, agent_pb2_grpc, jobs_pb2, runs_pb2
from wloadctl.security.certs import CertPaths, issue, server_credentials
from wloadctl.testing.cluster import AgentProc, LocalCluster, free_ports, wait_for

pytestmark = pytest.mark.integration
RS = runs_pb2.RunState
EV = agent_pb2.RunEvent
FINAL = {RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED}
TOP_EPOCH = 2**64 - 1
ME = pwd.getpwuid(os.geteuid()).pw_name  # the agents' user: they run as this test does


def argv_job(name: str, *argv: str, **kw: Any) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=list(argv))), **kw)


def final(c: Client, run_id: str, timeout: float = 30) -> runs_pb2.Run:
    return wait_for(lambda: (r := c.get_run(run_id)).state in FINAL and r, timeout, f"run {run_id} to finish")


def body(kind: str) -> Callable[[agent_pb2.AgentMessage], bool]:
    return lambda m: m.WhichOneof("body") == kind


def log_lines(agent: AgentProc, msg: str) -> list[dict[str, Any]]:
    out = []
    for line in agent.log_path.read_text().splitlines():
        if line.startswith("{") and f'"msg":"{msg}"' in line:
            out.append(json.loads(line))
    return out


class FakeReplica:
    """An AgentLink endpoint on loopback, served from this process (its own thread and event loop),
    that says only what the test makes it send; it records what agents send it."""

    def __init__(self, cert: CertPaths) -> None:
        self.address = f"127.0.0.1:{free_ports(1)[0]}"
        self.received: list[agent_pb2.AgentMessage] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._outbox: asyncio.Queue[agent_pb2.ReplicaMessage | None] | None = None
        self._stop: asyncio.Event | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(cert, ready),),
                                        daemon=True, name="fake-replica")
        self._thread.start()
        assert ready.wait(10), "the fake replica did not start"

    async def _serve(self, cert: CertPaths, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        server = grpc.aio.server()
        agent_pb2_grpc.add_AgentLinkServicer_to_server(_Servicer(self), server)
        server.add_secure_port(self.address, server_credentials(cert))
        await server.start()
        ready.set()
        await self._stop.wait()
        await server.stop(0)

    def _record(self, msg: agent_pb2.AgentMessage) -> None:
        with self._cond:
            self.received.append(msg)
            self._cond.notify_all()

    def send(self, *msgs: agent_pb2.ReplicaMessage) -> None:
        """To the agent's current stream (after its hello)."""
        def put() -> None:
            assert self._outbox is not None
            for m in msgs:
                self._outbox.put_nowait(m)

        self._loop.call_soon_threadsafe(put)

    def wait_for(self, pred: Callable[[agent_pb2.AgentMessage], bool], what: str,
                 timeout: float = 30) -> agent_pb2.AgentMessage:
        """The first message received (so far or later) that satisfies ``pred``."""
        with self._cond:
            found = self._cond.wait_for(lambda: next((m for m in self.received if pred(m)), None), timeout)
        if found is None:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for the agent to send {what}")
        return found

    def events(self) -> list[agent_pb2.RunEvent]:
        with self._cond:
            return [e for m in self.received if m.WhichOneof("body") == "events" for e in m.events.events]

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._loop.close()


class _Servicer(agent_pb2_grpc.AgentLinkServicer):
    def __init__(self, fake: FakeReplica) -> None:
        self.fake = fake

    async def Connect(self, request_iterator: AsyncIterator[agent_pb2.AgentMessage],  # type: ignore[override]
                      context: grpc.aio.ServicerContext) -> AsyncIterator[agent_pb2.ReplicaMessage]:
        outbox: asyncio.Queue[agent_pb2.ReplicaMessage | None] = asyncio.Queue()
        self.fake._outbox = outbox

        async def read() -> None:
            async for msg in request_iterator:
                self.fake._record(msg)

        reader = asyncio.create_task(read())
        try:
            while (msg := await outbox.get()) is not None:
                yield msg
        finally:
            reader.cancel()


@pytest.fixture
def fakes() -> Any:
    made: list[FakeReplica] = []

    def make(cert: CertPaths) -> FakeReplica:
        made.append(FakeReplica(cert))
        return made[-1]

    yield make
    for f in made:
        f.close()


# ---- 1. what an agent agrees to run

def test_the_agent_checks_every_assignment_against_its_policy(cluster_factory: Any, fakes: Any,
                                                              tmp_path: Path) -> None:
    """A leader that does not place by policy (an older release) sends work the agent does not allow:
    the agent runs what it allows and answers REJECTED, marked as a policy refusal, for the rest."""
    cluster: LocalCluster = cluster_factory(size=1)  # not started: its CA and agent configs only
    marks = tmp_path / "marks"
    marks.mkdir()
    fake = fakes(issue(cluster.certs, "replica", "old", ["127.0.0.1"]))
    agent = cluster.add_agent("a1", replicas=[fake.address], settings={
        "allowed_run_as": ["batch"], "allowed_commands": ["/usr/bin/*"], "allow_scripts": False})
    hello = fake.wait_for(body("hello"), "its hello").hello
    assert hello.policy == runs_pb2.AgentPolicy(user=ME, allowed_run_as=["batch"], restrict_commands=True,
                                                allowed_commands=["/usr/bin/*"], allow_scripts=False, secret_env=True)
    # The fake is the agent's only replica, so it is a majority: it leads epoch 1 for this agent.
    fake.send(agent_pb2.ReplicaMessage(epoch=1, replica_id="old", leader=True, state_epoch=1,
                                       inquiry=agent_pb2.Inquiry(epoch=1)))
    assert fake.wait_for(body("inquiry_reply"), "an inquiry reply").inquiry_reply.confirmed
    beat = fake.wait_for(lambda m: m.WhichOneof("body") == "heartbeat" and m.heartbeat.highest_epoch == 1,
                         "a heartbeat under epoch 1").heartbeat

    def assignment(run_id: str, spec: jobs_pb2.JobSpec) -> agent_pb2.Assignment:
        return agent_pb2.Assignment(run_id=run_id, attempt=1, spec=spec)

    fake.send(
        agent_pb2.ReplicaMessage(epoch=1, replica_id="old", leader=True,
                                 heartbeat_ack=agent_pb2.HeartbeatAck(seq=beat.seq)),  # a lease: it could run
        agent_pb2.ReplicaMessage(epoch=1, replica_id="old", leader=True, dispatch=agent_pb2.DispatchBatch(assignments=[
            assignment("r1", argv_job("ok", "/usr/bin/touch", str(marks / "ok"))),
            assignment("r2", argv_job("as-root", "/usr/bin/touch", str(marks / "root"), run_as="root")),
            assignment("r3", jobs_pb2.JobSpec(name="script", command=jobs_pb2.JobCommand(
                shell=f"touch {marks / 'script'}"))),
            assignment("r4", argv_job("sh", "/bin/sh", "-c", f"touch {marks / 'sh'}")),
        ])))
    wait_for(lambda: {e.run_id for e in fake.events() if e.kind in (EV.FINISHED, EV.REJECTED)} ==
             {"r1", "r2", "r3", "r4"}, 30, "the agent to answer for every assignment")
    outcome = {e.run_id: e for e in fake.events() if e.kind in (EV.FINISHED, EV.REJECTED)}
    assert outcome["r1"].kind == EV.FINISHED and outcome["r1"].exit_code == 0 and not outcome["r1"].policy
    refused = {r: (e.kind, e.policy, e.error) for r, e in outcome.items() if r != "r1"}
    assert refused == {
        "r2": (EV.REJECTED, True, "runAs root is not allowed on this agent (allowed_run_as: batch)"),
        "r3": (EV.REJECTED, True, "script jobs are not allowed on this agent (allow_scripts: false)"),
        "r4": (EV.REJECTED, True, "command /bin/sh is not allowed on this agent (allowed_commands: /usr/bin/*)"),
    }
    assert sorted(p.name for p in marks.iterdir()) == ["ok"]
    assert len(log_lines(agent, "refused an assignment: its job is not allowed here")) == 3
    agent.stop()


def test_runs_go_only_to_agents_that_allow_them(cluster_factory: Any) -> None:
    """Placement reads each agent's registered policy: a run that no agent allows stays QUEUED
    with nothing committed for it (no dispatch, no bounce), and goes to the first agent that does."""
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    cluster.add_agent("a1", settings={"allowed_run_as": ["batch"]})
    with cluster.client() as c:
        c.apply_jobs([argv_job("plain", "/usr/bin/id", "-un"), argv_job("as-root", "/usr/bin/id", "-un",
                                                                         run_as="root")])
        registered = wait_for(lambda: [a.agent for a in c.list_agents().agents if a.confirmed], 30,
                              "a1 to register")
        assert list(registered[0].policy.allowed_run_as) == ["batch"]
        assert registered[0].policy.user == ME and registered[0].policy.allow_scripts
        # Jobs without runAs run as the agent's own user.
        plain = final(c, c.trigger_run("plain").run_id)
        assert plain.state == RS.SUCCEEDED and plain.output_tail == f"{ME}\n".encode()
        run_id = c.trigger_run("as-root").run_id
        r1 = cluster.replicas[0].api_address
        applied = c.digest(r1).applied_index
        with pytest.raises(TimeoutError):  # a window to see that nothing happens: no spin, no bounce
            wait_for(lambda: c.get_run(run_id).state != RS.QUEUED or c.digest(r1).applied_index != applied, 3,
                     "the run no agent allows to move")
        cluster.add_agent("a2", settings={"allowed_run_as": ["root"]})
        done = final(c, run_id)
        assert done.state == RS.SUCCEEDED and done.agent_id == "a2" and done.output_tail == b"root\n", (
            done.exit_code, done.error, done.output_tail, [t.cause for t in done.transitions])
        assert [t.state for t in done.transitions] == [RS.QUEUED, RS.DISPATCHED, RS.RUNNING, RS.SUCCEEDED]


# ---- 2. only replica certificates can serve an agent

def test_the_agent_accepts_only_replica_certificates_from_a_replica(cluster_factory: Any, fakes: Any,
                                                                    tmp_path: Path) -> None:
    from wloadctl.testing.certs import sign_cert

    cluster: LocalCluster = cluster_factory(size=1)
    as_agent = fakes(issue(cluster.certs, "agent", "mallory", ["127.0.0.1"]))
    as_client = fakes(issue(cluster.certs, "client", "mallory", ["127.0.0.1"]))
    as_replica = fakes(issue(cluster.certs, "replica", "r9", ["127.0.0.1"]))
    # An agent certificate issued before agents lost serverAuth: the EKU is the only check gRPC
    # Python lets a client make on a server's certificate, so it still serves until reissued.
    legacy = fakes(sign_cert(cluster.certs, tmp_path / "legacy", "agent", "old", hosts=["127.0.0.1"]))
    agent = cluster.add_agent("a1", replicas=[as_agent.address, as_client.address, as_replica.address,
                                              legacy.address])
    assert as_replica.wait_for(body("hello"), "a hello to the replica certificate").hello.agent_id == "a1"

    def refused(address: str) -> list[dict[str, Any]]:
        return [e for e in log_lines(agent, "cannot reach replica")
                if e["replica"] == address and "unsupported certificate purpose" in e["why"]]

    for fake in (as_agent, as_client):
        found = wait_for(lambda f=fake: refused(f.address), 30, f"the handshake with {fake.address} to fail")
        assert "handshake failed" in found[0]["why"].lower()
        assert not fake.received  # the handshake failed: the agent never spoke to it
    assert legacy.wait_for(body("hello"), "a hello to the legacy agent certificate").hello.agent_id == "a1"
    agent.stop()


# ---- 3. the leader is the link the epoch was confirmed on

def test_only_the_link_that_confirmed_the_epoch_leads_it(cluster_factory: Any, fakes: Any, tmp_path: Path) -> None:
    """A replica endpoint claiming the current epoch (with the real leader's id) is refused: its
    inquiry is not confirmed and its work is not taken, while the real leader goes on."""
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    marks = tmp_path / "marks"
    marks.mkdir()
    fake = fakes(issue(cluster.certs, "replica", "fake", ["127.0.0.1"]))
    real = cluster.replicas[0].agent_address
    # The agent learns the epoch from the real replica alone, then meets the fake too (a fresh agent
    # would wait for the fake's report of the epoch, as for any replica in its configuration).
    agent = cluster.add_agent("a1", replicas=[real])
    with cluster.client() as c:
        c.apply_jobs([jobs_pb2.JobSpec(name="mark", command=jobs_pb2.JobCommand(
            shell=f"touch {marks}/$WLOADCTL_RUN_ID"))])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm the real leader")
        agent.stop()
        agent.config_path.write_text(agent.config_path.read_text().replace(
            f'replicas = ["{real}"]', f'replicas = ["{real}", "{fake.address}"]'))
        agent.start()
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm the real leader again")
        epoch = c.status().epoch
        # It holds a lease from the real leader: it would start work now.
        assert final(c, c.trigger_run("mark").run_id).state == RS.SUCCEEDED
    fake.wait_for(body("hello"), "its hello")
    claim: dict[str, Any] = {"epoch": epoch, "replica_id": "r1", "leader": True}
    fake.send(agent_pb2.ReplicaMessage(**claim, inquiry=agent_pb2.Inquiry(epoch=epoch)))
    reply = fake.wait_for(body("inquiry_reply"), "an inquiry reply").inquiry_reply
    assert not reply.confirmed and reply.reason == f"epoch {epoch} was confirmed with r1"
    evil = agent_pb2.Assignment(run_id="r999", attempt=1, spec=jobs_pb2.JobSpec(
        name="evil", command=jobs_pb2.JobCommand(shell=f"touch {marks}/evil")))
    fake.send(agent_pb2.ReplicaMessage(**claim, dispatch=agent_pb2.DispatchBatch(assignments=[evil])))
    rejected = fake.wait_for(body("rejected"), "a refusal of the dispatch").rejected
    assert rejected.epoch == epoch
    assert rejected.what == f"dispatch: not the replica this agent confirmed epoch {epoch} with"
    assert not (marks / "evil").exists()
    assert log_lines(agent, "refused a message from a replica that is not the leader this agent confirmed")
    with cluster.client() as c:
        run = final(c, c.trigger_run("mark").run_id)
        assert run.state == RS.SUCCEEDED and run.epoch == epoch
    agent.stop()


# ---- 4. an inquiry raises the fence only to an epoch the replicated state holds

def test_an_epoch_no_majority_of_replicas_holds_is_not_adopted(cluster_factory: Any, fakes: Any) -> None:
    """A replica endpoint asks the agent to adopt epoch 2^64-1 while no real replica is up (an agent
    without a leader adopted any higher epoch): it is not, and the real leader then works."""
    cluster: LocalCluster = cluster_factory()
    fake = fakes(issue(cluster.certs, "replica", "fake", ["127.0.0.1"]))
    agent = cluster.add_agent("a1", replicas=[*(r.agent_address for r in cluster.replicas), fake.address])
    fake.wait_for(body("hello"), "its hello")
    fake.send(agent_pb2.ReplicaMessage(epoch=TOP_EPOCH, replica_id="fake", leader=True, state_epoch=TOP_EPOCH,
                                       inquiry=agent_pb2.Inquiry(epoch=TOP_EPOCH)))
    reply = fake.wait_for(body("inquiry_reply"), "an inquiry reply").inquiry_reply
    assert reply.epoch == TOP_EPOCH and not reply.confirmed
    assert reply.reason == f"epoch {TOP_EPOCH}: 1 of the 4 replicas this agent knows report it in their state; 3 must"
    cluster.start()
    with cluster.client() as c:
        c.apply_jobs([argv_job("ok", "/bin/true")])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm the real leader")
        epoch = c.status().epoch
        run = final(c, c.trigger_run("ok").run_id)
        assert run.state == RS.SUCCEEDED and run.epoch == epoch
    assert [e["epoch"] for e in log_lines(agent, "adopted epoch")] == [epoch]
    assert not log_lines(agent, "refused a message with a stale epoch")
    assert not any(m.inquiry_reply.confirmed for m in fake.received if m.WhichOneof("body") == "inquiry_reply")
    agent.stop()


def test_a_real_failover_still_completes(cluster_factory: Any) -> None:
    """kill -9 the leader: the new leader's epoch is reported by both survivors, the agent adopts
    it, and work runs again."""
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    agent = cluster.add_agent("a1")
    with cluster.client() as c:
        c.apply_jobs([argv_job("ok", "/bin/true")])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
        old_epoch = c.status().epoch
    old = cluster.wait_for_leader()
    cluster.kill(old)
    new = cluster.wait_for_leader(exclude=old)
    with cluster.client([new.api_address]) as nc:
        wait_for(lambda: (s := nc.status()).epoch > old_epoch and s.takeover_phase == "active"
                 and s.agents_confirmed == 1, 30, "the new leader to take over with the agent")
        new_epoch = nc.status().epoch
        run = final(nc, nc.trigger_run("ok").run_id)
        assert run.state == RS.SUCCEEDED and run.epoch == new_epoch
    assert [e["epoch"] for e in log_lines(agent, "adopted epoch")][-1] == new_epoch


@pytest.mark.skipif(os.geteuid() != 0, reason="runAs needs an agent running as root")
def test_run_as_jobs_start_every_time_on_a_root_agent(cluster_factory: Any) -> None:
    """Switching users used to fork() the agent (gRPC threads running): gRPC's fork handlers then
    aborted about one child in eight before the job started (SIGABRT). setpriv keeps vfork."""
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    cluster.add_agent("a1", capacity=8, settings={"allowed_run_as": ["nobody"]})
    with cluster.client() as c:
        c.apply_jobs([argv_job("as-nobody", "/usr/bin/id", "-un", run_as="nobody")])
        runs = [c.trigger_run("as-nobody").run_id for _ in range(40)]
        done = [final(c, r, timeout=60) for r in runs]
    failed = [(r.exit_code, r.output_tail[:120]) for r in done if r.state != RS.SUCCEEDED]
    assert not failed and all(r.output_tail == b"nobody\n" for r in done), failed[:3]

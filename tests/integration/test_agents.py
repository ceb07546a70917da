"""Replicas and agents as real processes: fenced dispatch, takeover by agent quorum, leases."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from wloadctl.client import Client
from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration
RS = runs_pb2.RunState
FINAL = {RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED}


def shell_job(name: str, script: str, **kw: Any) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, command=jobs_pb2.JobCommand(shell=script), **kw)


def final(c: Client, run_id: str, timeout: float = 30) -> runs_pb2.Run:
    return wait_for(lambda: (r := c.get_run(run_id)).state in FINAL and r, timeout, f"run {run_id} to finish")


def executions(cluster: LocalCluster, marker_dir: Path) -> list[str]:
    return sorted(p.name for p in marker_dir.iterdir()) if marker_dir.exists() else []


def test_run_on_an_agent_end_to_end(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1")
    with cluster.client() as c:
        c.apply_jobs([shell_job("hello", 'echo "hello $WLOADCTL_PARAM_WHO"; echo oops >&2; exit 3')])
        run = c.trigger_run("hello", {"who": "world"}, idempotency_key="once")
        again = c.trigger_run("hello", {"who": "world"}, idempotency_key="once")
        assert again.run_id == run.run_id  # a retried trigger makes no second run
        done = final(c, run.run_id)
        assert done.state == RS.FAILED and done.exit_code == 3 and done.agent_id == "a1"
        assert b"hello world" in done.output_tail and b"oops" in done.output_tail
        assert [t.state for t in done.transitions] == [RS.QUEUED, RS.DISPATCHED, RS.RUNNING, RS.FAILED]
        assert done.epoch >= 1 and all(t.epoch >= 1 for t in done.transitions[1:])
        logs = c.get_run_logs(run.run_id)
        assert logs.source == "agent" and logs.complete and b"hello world" in logs.data
        status = c.status()
        assert status.takeover_phase == "active" and status.agents_confirmed == 1


def test_kill_a_running_run(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    cluster.add_agent("a1")
    with cluster.client() as c:
        c.apply_jobs([shell_job("sleepy", "echo started; sleep 60")])
        run = c.trigger_run("sleepy")
        wait_for(lambda: c.get_run(run.run_id).state == RS.RUNNING, 30, "the run to start")
        c.kill_run(run.run_id)
        assert final(c, run.run_id).state == RS.KILLED


def test_agent_killed_mid_run_is_lost_then_retried_elsewhere_without_overlap(cluster_factory: Any,
                                                                               tmp_path: Path) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    beats = tmp_path / "beats"
    a1 = cluster.add_agent("a1", lease_seconds=1.5)
    with cluster.client() as c:
        # Each execution writes a timestamped beat every 0.1 s while it lives.
        script = f'for i in $(seq 40); do echo "$(date +%s%N) $WLOADCTL_ATTEMPT" >> {beats}; sleep 0.1; done'
        c.apply_jobs([shell_job("long", script)])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "agent a1 to confirm")
        run = c.trigger_run("long")
        wait_for(lambda: beats.exists() and beats.read_text().count("\n") >= 3, 30, "the run to beat on a1")
        a1.signal(signal.SIGKILL)
        cluster.add_agent("a2", lease_seconds=1.5)
        done = final(c, run.run_id, timeout=60)
    states = [t.state for t in done.transitions]
    assert RS.LOST in states and done.state == RS.SUCCEEDED and done.agent_id == "a2" and done.attempt == 2
    by_attempt: dict[str, list[int]] = {}
    for line in beats.read_text().splitlines():
        stamp, attempt = line.split()
        by_attempt.setdefault(attempt, []).append(int(stamp))
    # The first execution died with its agent, before the retry began: no overlap.
    assert max(by_attempt["1"]) < min(by_attempt["2"])
    assert len(by_attempt["2"]) == 40 and len(by_attempt["1"]) < 40


def test_stale_epoch_is_rejected_after_a_paused_leader_wakes(cluster_factory: Any, tmp_path: Path) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    marks = tmp_path / "marks"
    marks.mkdir()
    agent = cluster.add_agent("a1", capacity=8)
    with cluster.client() as c:
        c.apply_jobs([shell_job("mark", f"touch {marks}/$WLOADCTL_RUN_ID-$WLOADCTL_ATTEMPT; sleep 0.2")])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
        old = cluster.wait_for_leader()
        old_epoch = c.status().epoch
        assert old.proc is not None
        old.proc.send_signal(signal.SIGSTOP)
        try:
            new = cluster.wait_for_leader(exclude=old, timeout=30)
            with cluster.client([new.api_address]) as nc:
                wait_for(lambda: nc.status().epoch > old_epoch and nc.status().takeover_phase == "active", 30,
                         "the new leader to take over")
                runs = [nc.trigger_run("mark").run_id for _ in range(5)]
        finally:
            old.proc.send_signal(signal.SIGCONT)
        with cluster.client() as c2:
            for rid in runs:
                assert final(c2, rid).state == RS.SUCCEEDED
    # The woken leader's heartbeat acks (old epoch) reach the agent and are refused.
    wait_for(lambda: "refused a message with a stale epoch" in agent.log_path.read_text(), 15,
             "the agent to refuse the old leader")
    names = executions(cluster, marks)
    assert len(names) == len(set(names)) == 5, names


def test_agent_from_another_ca_is_refused(cluster_factory: Any, tmp_path: Path) -> None:
    from wloadctl.security.certs import init_ca, issue

    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    agent = cluster.add_agent("rogue", start=False)
    other = tmp_path / "other-ca"
    init_ca(other)
    issue(other, "agent", "rogue")
    text = agent.config_path.read_text().replace(str(cluster.certs / "agent-rogue"), str(other / "agent-rogue"))
    agent.config_path.write_text(text)
    agent.start()
    with cluster.client() as c, pytest.raises(TimeoutError):
        wait_for(lambda: c.list_agents().agents, 5, "a rogue agent to register")
    assert agent.running  # it keeps retrying; the replica keeps refusing


def test_leader_paused_with_runs_waiting_for_dispatch(cluster_factory: Any, tmp_path: Path) -> None:
    """SIGSTOP the leader while runs wait for a slot; the new leader takes over after the
    agent quorum; the woken leader is refused; every (run, attempt) executes once."""
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    marks = tmp_path / "marks"
    marks.mkdir()
    agent = cluster.add_agent("a1", capacity=1)
    with cluster.client() as c:
        c.apply_jobs([shell_job("slot", f"touch {marks}/$WLOADCTL_RUN_ID-$WLOADCTL_ATTEMPT; sleep 0.3")])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
        runs = [c.trigger_run("slot").run_id for _ in range(8)]
        old = cluster.wait_for_leader()
        old_epoch = c.status().epoch
    assert old.proc is not None
    old.proc.send_signal(signal.SIGSTOP)
    try:
        new = cluster.wait_for_leader(exclude=old, timeout=30)
        with cluster.client([new.api_address]) as nc:
            wait_for(lambda: (s := nc.status()).epoch > old_epoch and s.takeover_phase == "active", 30,
                     "the takeover to complete")
    finally:
        old.proc.send_signal(signal.SIGCONT)
    with cluster.client() as c:
        done = [final(c, rid, timeout=60) for rid in runs]
    assert all(r.state == RS.SUCCEEDED for r in done)
    wait_for(lambda: "refused a message with a stale epoch" in agent.log_path.read_text(), 15,
             "the agent to refuse the woken leader")
    names = executions(cluster, marks)
    assert len(names) == len(set(names)) == len(runs), names


def test_every_replica_killed_while_runs_execute(cluster_factory: Any, tmp_path: Path) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    marks = tmp_path / "marks"
    marks.mkdir()
    cluster.add_agent("a1", capacity=8, lease_seconds=15)
    with cluster.client() as c:
        c.apply_jobs([shell_job("ok", f"touch {marks}/$WLOADCTL_RUN_ID-$WLOADCTL_ATTEMPT; sleep 2"),
                      shell_job("bad", "sleep 2; exit 4")])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
        ok = [c.trigger_run("ok").run_id for _ in range(3)]
        bad = c.trigger_run("bad").run_id
        wait_for(lambda: all(c.get_run(r).state == RS.RUNNING for r in [*ok, bad]), 30, "the runs to start")
    for r in cluster.replicas:
        assert r.proc is not None
        r.proc.send_signal(signal.SIGKILL)
    for r in cluster.replicas:
        assert r.proc is not None
        r.proc.wait(timeout=30)
    cluster.start()
    with cluster.client() as c:
        assert all(final(c, r, timeout=60).state == RS.SUCCEEDED for r in ok)
        failed = final(c, bad, timeout=60)
        assert failed.state == RS.FAILED and failed.exit_code == 4
    names = executions(cluster, marks)
    assert len(names) == len(set(names)) == 3


def test_stale_epoch_from_a_fake_replica_is_rejected(cluster_factory: Any, tmp_path: Path) -> None:
    """A replica endpoint that sends work under an old epoch is refused and nothing runs."""
    import asyncio
    import threading

    import grpc

    from wloadctl.proto.v1 import agent_pb2, agent_pb2_grpc
    from wloadctl.security.certs import CertPaths, issue, server_credentials
    from wloadctl.testing.cluster import free_ports

    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    marks = tmp_path / "marks"
    marks.mkdir()
    fake_port = free_ports(1)[0]
    paths = issue(cluster.certs, "replica", "fake", ["127.0.0.1"])
    seen: list[agent_pb2.AgentMessage] = []
    got_rejection = threading.Event()

    class Fake(agent_pb2_grpc.AgentLinkServicer):
        async def Connect(self, request_iterator, context):  # type: ignore[no-untyped-def]
            hello = await anext(request_iterator)
            epoch = hello.hello.highest_epoch
            assignment = agent_pb2.Assignment(run_id="r999", attempt=1, spec=shell_job(
                "evil", f"touch {marks}/evil"))
            yield agent_pb2.ReplicaMessage(epoch=max(0, epoch - 1), replica_id="fake", leader=True,
                                           dispatch=agent_pb2.DispatchBatch(assignments=[assignment]))
            async for msg in request_iterator:
                seen.append(msg)
                if msg.WhichOneof("body") == "rejected":
                    got_rejection.set()
                    return

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    done = asyncio.Event()

    async def serve() -> None:
        server = grpc.aio.server()
        agent_pb2_grpc.add_AgentLinkServicer_to_server(Fake(), server)
        server.add_secure_port(f"127.0.0.1:{fake_port}", server_credentials(
            CertPaths(cert=paths.cert, key=paths.key, ca=paths.ca)))
        await server.start()
        ready.set()
        await done.wait()
        await server.stop(0)

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    with cluster.client() as c:
        agent = cluster.add_agent("a1", start=False)
        wait_for(lambda: c.status().epoch >= 1, 30, "an epoch")
    # The agent must know epoch >= 1 before it meets the fake: connect it to the real replica first.
    agent.start()
    with cluster.client() as c:
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
    agent.stop()
    text = agent.config_path.read_text().replace("replicas = [", f'replicas = ["127.0.0.1:{fake_port}", ')
    agent.config_path.write_text(text)
    agent.start()
    assert got_rejection.wait(30), "the agent never refused the stale dispatch"
    assert not (marks / "evil").exists()
    assert "refused a message with a stale epoch" in agent.log_path.read_text()
    agent.stop()
    loop.call_soon_threadsafe(done.set)
    thread.join(timeout=10)


def test_malformed_agent_stream_is_closed_and_harms_nothing(cluster_factory: Any) -> None:
    import grpc

    from wloadctl.proto.v1 import agent_pb2, agent_pb2_grpc
    from wloadctl.security.certs import CertPaths, channel_credentials, issue

    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    good = cluster.add_agent("a1")
    paths = issue(cluster.certs, "agent", "a2")
    creds = channel_credentials(CertPaths(cert=paths.cert, key=paths.key, ca=paths.ca))
    address = cluster.replicas[0].agent_address
    with grpc.secure_channel(address, creds) as ch:
        stub = agent_pb2_grpc.AgentLinkStub(ch)
        bad_first = iter([agent_pb2.AgentMessage(heartbeat=agent_pb2.AgentHeartbeat(seq=1))])
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Connect(bad_first, timeout=10))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        spoof = iter([agent_pb2.AgentMessage(hello=agent_pb2.AgentHello(agent_id="a1", capacity=1))])
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Connect(spoof, timeout=10))  # an a2 certificate cannot speak for a1
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        raw = ch.stream_stream("/wloadctl.v1.AgentLink/Connect")
        with pytest.raises(grpc.RpcError):
            list(raw(iter([b"\xff\xff garbage"]), timeout=10))
    with cluster.client() as c:
        c.apply_jobs([shell_job("fine", "true")])
        run = c.trigger_run("fine")
        assert final(c, run.run_id).state == RS.SUCCEEDED
    assert good.running and cluster.replicas[0].running


def test_leader_cut_off_from_agents_hands_over(cluster_factory: Any, tmp_path: Path) -> None:
    """The leader loses its agent links (silently) but keeps its Raft majority: it cannot
    dispatch (no agent confirms it), it hands leadership to a follower that reaches the
    agents, and the work finishes; no execution overlaps another of the same run."""
    from wloadctl.testing.proxy import BlackholeProxy

    cluster: LocalCluster = cluster_factory()
    cluster.start()
    leader = cluster.wait_for_leader()
    host, port = leader.agent_address.rsplit(":", 1)
    proxy = BlackholeProxy((host, int(port)))
    try:
        agent = cluster.add_agent("a1", start=False, lease_seconds=2.0)
        agent.config_path.write_text(agent.config_path.read_text().replace(leader.agent_address, proxy.address))
        agent.start()
        marks = tmp_path / "marks"
        marks.mkdir()
        with cluster.client() as c:
            c.apply_jobs([shell_job("work", f'echo "$WLOADCTL_RUN_ID start" >> {marks}/log; sleep 1; '
                                            f'echo "$WLOADCTL_RUN_ID end" >> {marks}/log')])
            wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
            old_epoch = c.status().epoch
            proxy.cut()
            runs = [c.trigger_run("work").run_id for _ in range(3)]
            new = cluster.wait_for_leader(exclude=leader, timeout=30)
            with cluster.client([new.api_address]) as nc:
                wait_for(lambda: nc.status().takeover_phase == "active", 30, "the new leader to dispatch")
            done = [final(c, r, timeout=60) for r in runs]
        assert all(r.state == RS.SUCCEEDED for r in done)
        # Whatever the cut-off leader committed never reached the agent; every run started
        # under the new leader's epoch, exactly once.
        assert all(t.epoch > old_epoch for r in done for t in r.transitions if t.state == RS.RUNNING)
        assert "cannot reach the agents but a follower can" in leader.log_path.read_text()
        lines = (marks / "log").read_text().splitlines()
        assert sorted(lines) == sorted([f"{r} start" for r in runs] + [f"{r} end" for r in runs])
    finally:
        proxy.close()


def test_agent_restarted_mid_run_never_leaves_it_running(cluster_factory: Any) -> None:
    """An agent stopped and started again (orphan policy kill) while a run executes: the run
    ends (killed, reported at the next start) instead of staying RUNNING forever."""
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    agent = cluster.add_agent("a1", lease_seconds=30)
    with cluster.client() as c:
        c.apply_jobs([shell_job("long", "sleep 60")])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
        run = c.trigger_run("long")
        wait_for(lambda: c.get_run(run.run_id).state == RS.RUNNING, 30, "the run to start")
        agent.stop()
        agent.start()
        done = final(c, run.run_id, timeout=60)
        assert done.state in (RS.KILLED, RS.FAILED) and done.attempt == 1


def test_agent_crashed_and_back_within_its_lease_retries_the_run(cluster_factory: Any, tmp_path: Path) -> None:
    """kill -9 of an agent mid-run, started again long before its lease ran out: the process died
    with it, so the attempt is lost and the job's lost policy retries it (it used to end FAILED,
    "outcome unknown", as if the job had failed)."""
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    agent = cluster.add_agent("a1", lease_seconds=30)
    marks = tmp_path / "marks"
    marks.mkdir()
    script = f'touch {marks}/attempt-$WLOADCTL_ATTEMPT; [ "$WLOADCTL_ATTEMPT" = 1 ] && sleep 60; exit 0'
    with cluster.client() as c:
        c.apply_jobs([shell_job("first-hangs", script)])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
        run = c.trigger_run("first-hangs")
        wait_for(lambda: c.get_run(run.run_id).state == RS.RUNNING, 30, "the run to start")
        agent.signal(signal.SIGKILL)
        agent.start()
        done = final(c, run.run_id, timeout=60)
        assert done.state == RS.SUCCEEDED and done.attempt == 2, (RS.Name(done.state), done.error)
        causes = [t.cause for t in done.transitions if t.state == RS.LOST]
        assert len(causes) == 1 and "a1 restarted while attempt 1 ran" in causes[0]
        assert sorted(p.name for p in marks.iterdir()) == ["attempt-1", "attempt-2"]


def test_replica_stops_promptly_while_an_agent_link_is_silently_cut(cluster_factory: Any) -> None:
    """SIGTERM must not wait for a partitioned agent's TCP connection to time out (found by the
    chaos matrix: rolling-restart during agent-net-loss waited ~30 s, the keepalive timeout)."""
    from wloadctl.testing.proxy import BlackholeProxy

    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    r = cluster.replicas[0]
    host, port = r.agent_address.rsplit(":", 1)
    proxy = BlackholeProxy((host, int(port)))
    try:
        agent = cluster.add_agent("a1", start=False)
        agent.config_path.write_text(agent.config_path.read_text().replace(r.agent_address, proxy.address))
        agent.start()
        with cluster.client() as c:
            wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
        proxy.cut()
        assert r.proc is not None
        r.proc.terminate()
        # Deadline, not a measurement: the keepalive-bound hang took 30 s; a clean stop takes ~3 s.
        assert r.proc.wait(timeout=15) == 0
        assert '"msg":"stopped"' in r.log_path.read_text()
    finally:
        proxy.close()

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
    marks = tmp_path / "marks"
    marks.mkdir()
    a1 = cluster.add_agent("a1", lease_seconds=1.5)
    with cluster.client() as c:
        script = f'echo "$(date +%s.%N) start" >> {marks}/$WLOADCTL_RUN_ID.log; sleep 4; echo end'
        c.apply_jobs([shell_job("long", script)])
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "agent a1 to confirm")
        run = c.trigger_run("long")
        wait_for(lambda: c.get_run(run.run_id).state == RS.RUNNING, 30, "the run to start on a1")
        a1.signal(signal.SIGKILL)
        cluster.add_agent("a2", lease_seconds=1.5)
        done = final(c, run.run_id, timeout=60)
        states = [t.state for t in done.transitions]
        assert RS.LOST in states and done.state == RS.SUCCEEDED and done.agent_id == "a2" and done.attempt == 2
        lost_at = next(t.time_ms for t in done.transitions if t.state == RS.LOST)
        started = [t.time_ms for t in done.transitions if t.state == RS.RUNNING]
        assert started[0] < lost_at <= started[1]


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
            with Client([new.api_address]) as nc:
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

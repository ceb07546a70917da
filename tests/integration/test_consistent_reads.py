"""Linearizable reads on every replica (issue 13): a write through any replica is read back at once
through any replica, by the same client and by another client that knows nothing of the write's
index; a leader cut off from its majority refuses linearizable reads and still serves stale ones."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator

import grpc
import pytest

from wloadctl.api.headers import CONSISTENCY_HEADER
from wloadctl.client import Client, ClientError
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, jobs_pb2, workflows_pb2
from wloadctl.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration

PAIRS = 10_000  # write-then-read pairs in all, spread over first servers, clients and read calls


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("lin") / "c", size=3, insecure=True)
    try:
        c.start()
        c.wait_for_leader()
        yield c
    finally:
        c.stop()


def _pairs(writer: Client, reader: Client, n: int, tag: str) -> list[str]:
    """``n`` writes through ``writer``, each read back at once through ``reader`` by one of the read
    calls in turn; returns what was missed."""
    misses: list[str] = []
    job = f"lin-job-{tag}"
    writer.apply_jobs([jobs_pb2.JobSpec(name=job, command=jobs_pb2.JobCommand(shell="true"))])

    def check(what: str, ok: Callable[[], bool]) -> None:
        try:
            if not ok():
                misses.append(f"{what}: stale answer")
        except ClientError as e:
            misses.append(f"{what}: {e.code.name} {e.message[:120]}")

    for i in range(n):
        kind = i % 5
        if kind == 0:
            run = writer.trigger_run(job)
            check(f"get_run {run.run_id}", lambda run=run: reader.get_run(run.run_id).run_id == run.run_id)
        elif kind == 1:
            shell = f"echo {tag}-{i}"
            writer.apply_jobs([jobs_pb2.JobSpec(name=f"lin-{tag}", command=jobs_pb2.JobCommand(shell=shell))])
            check(f"get_job lin-{tag} v{i}",
                  lambda shell=shell: reader.get_job(f"lin-{tag}").spec.command.shell == shell)
        elif kind == 2:
            # This plan's own job: other plans' runs never push this one off the newest page.
            run = writer.trigger_run(job)
            check(f"list_runs {run.run_id}",
                  lambda run=run: run.run_id in {r.run_id for r in reader.list_runs(job, page_size=5).runs})
        elif kind == 3:
            wrun = writer.run_workflow("lin-flow")
            check(f"get_workflow_run {wrun.id}", lambda wrun=wrun: reader.get_workflow_run(wrun.id).id == wrun.id)
        else:
            name = f"lin-{tag}-{i}"
            writer.apply_jobs([jobs_pb2.JobSpec(name=name, command=jobs_pb2.JobCommand(shell="true"))])
            check(f"list_jobs {name}", lambda name=name: any(j.spec.name == name for j in reader.iter_jobs()))
            writer.delete_job(name)
    return misses


def test_a_write_through_any_replica_is_read_back_at_once_through_any_replica(cluster: LocalCluster) -> None:
    addresses = [r.api_address for r in cluster.replicas]
    with cluster.client() as setup:
        setup.apply_workflows([workflows_pb2.WorkflowSpec(name="lin-flow", tasks=[workflows_pb2.WorkflowTask(
            name="t", command=jobs_pb2.JobCommand(shell="true"))])])
    # Per replica as the first server: the same client reading its own writes, and a second client
    # preferring another replica that never saw the write's index (only linearizable reads help it).
    plans = []
    for k in range(len(addresses)):
        order = addresses[k:] + addresses[:k]
        other = order[1:] + order[:1]
        plans.append((order, order, f"same{k}"))
        plans.append((order, other, f"cross{k}"))
    per_plan = PAIRS // len(plans)
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(order: list[str], read_order: list[str], tag: str) -> None:
        try:
            with cluster.client(order) as writer:
                if read_order == order:
                    results[tag] = _pairs(writer, writer, per_plan, tag)
                else:
                    with cluster.client(read_order) as reader:
                        results[tag] = _pairs(writer, reader, per_plan, tag)
        except BaseException as e:  # reported below, with the thread's plan
            errors.append(e)

    threads = [threading.Thread(target=work, args=plan) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a client thread did not finish in 10 minutes"
    assert errors == []
    missed = {tag: m for tag, m in results.items() if m}
    total = sum(len(m) for m in results.values())
    assert len(results) == len(plans) and total == 0, \
        f"{total} of {per_plan * len(plans)} reads missed the write before them: " \
        f"{ {tag: m[:3] for tag, m in missed.items()} }"


def _get_job(address: str, name: str, stale: bool, timeout: float) -> api_pb2.GetJobRequest:
    metadata = ((CONSISTENCY_HEADER, "stale"),) if stale else ()
    with grpc.insecure_channel(address) as ch:
        return api_pb2_grpc.JobServiceStub(ch).GetJob(api_pb2.GetJobRequest(name=name), timeout=timeout,
                                                      metadata=metadata)


def test_a_leader_cut_off_from_its_majority_serves_no_linearizable_read(cluster: LocalCluster) -> None:
    with cluster.client() as c:
        c.apply_jobs([jobs_pb2.JobSpec(name="lin-cut", command=jobs_pb2.JobCommand(shell="true"))])
    leader = cluster.wait_for_leader()
    followers = [r for r in cluster.replicas if r is not leader]
    for r in followers:
        cluster.kill(r, signal.SIGSTOP)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            _get_job(leader.api_address, "lin-cut", stale=False, timeout=4)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "linearizable read" in (refused.value.details() or "")
        # Its own copy is still there for whoever asks for it.
        assert _get_job(leader.api_address, "lin-cut", stale=True, timeout=4).spec.name == "lin-cut"
        with pytest.raises(grpc.RpcError) as bad, grpc.insecure_channel(leader.api_address) as ch:
            api_pb2_grpc.JobServiceStub(ch).GetJob(api_pb2.GetJobRequest(name="lin-cut"), timeout=4,
                                                   metadata=((CONSISTENCY_HEADER, "eventual"),))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        for r in followers:
            cluster.kill(r, signal.SIGCONT)
    cluster.wait_for_leader()
    with cluster.client() as c:
        assert c.get_job("lin-cut").spec.name == "lin-cut"


def test_the_client_and_the_cli_can_ask_for_stale_reads(cluster: LocalCluster) -> None:
    leader = cluster.wait_for_leader()
    follower = next(r for r in cluster.replicas if r is not leader)
    with cluster.client([follower.api_address], stale=True) as c:
        c.apply_jobs([jobs_pb2.JobSpec(name="lin-stale", command=jobs_pb2.JobCommand(shell="true"))])
        # Stale, but never older than what this client has seen: its own write is there.
        assert c.get_job("lin-stale").spec.name == "lin-stale"

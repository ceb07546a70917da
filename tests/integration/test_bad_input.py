"""Malformed requests and hostile Raft traffic never crash a replica or change its state."""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import struct
import zlib
from pathlib import Path
from typing import Any

import grpc
import pytest

from wloadctl.client import ClientError
from wloadctl.proto.v1 import api_pb2, jobs_pb2
from wloadctl.testing.builders import job
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def raft_send(address: str, frames: list[bytes]) -> None:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        for data in frames:
            s.sendall(struct.pack("i", len(data)) + data)
        s.settimeout(1)
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            s.recv(1024)


def frame(obj: object) -> bytes:
    return zlib.compress(pickle.dumps(obj), 3)


def healthy(cluster: LocalCluster) -> None:
    for r in cluster.replicas:
        assert r.running, f"{r.node_id} died: {r.log_path.read_text()[-2000:]}"
    with cluster.client() as c:
        c.apply_jobs([job("still-fine")])
    cluster.wait_converged()


def test_unauthenticated_pickle_on_the_raft_port_runs_nothing(cluster_factory: Any, tmp_path: Path) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    before = cluster.wait_settled()
    marker = tmp_path / "pwned"
    for r in cluster.replicas:
        raft_send(r.raft_address, [frame(_Evil(marker))])
        raft_send(r.raft_address, [os.urandom(200), b"\x00" * 50])
        raft_send(r.raft_address, [frame(["status"]), frame(["add", "127.0.0.1:1"])])
    assert not marker.exists(), "an unauthenticated message ran code on a replica"
    after = cluster.digests()
    assert {v[1] for v in before.values()} == {v[1] for v in after.values()}
    healthy(cluster)


def test_admin_commands_refused_even_without_a_secret(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory(secret=None, insecure=True)
    cluster.start()
    r = cluster.replicas[0]
    raft_send(r.raft_address, [frame(["add", "127.0.0.1:9"]), frame(["remove", cluster.replicas[1].raft_address])])
    with cluster.client([r.api_address]) as c:
        members = {m.raft_address for m in c.status().members}
    assert members == {x.raft_address for x in cluster.replicas}
    assert "refused a pysyncobj utility command" in r.log_path.read_text()
    healthy(cluster)


def test_malformed_and_invalid_requests(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    leader = cluster.wait_for_leader()
    with cluster.channel(leader.api_address) as ch:
        raw = ch.unary_unary("/wloadctl.v1.JobService/ApplyJobs")
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\xff\xff\xff\xff not a protobuf", timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with cluster.client(retry_for=2) as c:
        bad = jobs_pb2.JobSpec(name="bad name!", command=jobs_pb2.JobCommand(shell="true"))
        with pytest.raises(ClientError) as e:
            c.apply_jobs([job("ok"), bad])
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "jobs[1].name" in e.value.message
        with pytest.raises(ClientError) as e:
            c.get_job("missing")
        assert e.value.code == grpc.StatusCode.NOT_FOUND and "name" in e.value.message
        with pytest.raises(ClientError) as e:
            c.list_jobs(page_size=100_000)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "page_size" in e.value.message
        with pytest.raises(ClientError) as e:
            c.apply_jobs([job("x")], idempotency_key="k" * 500)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "idempotency_key" in e.value.message
        with pytest.raises(ClientError) as e:
            c.add_member("r9", "not-an-address")
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "raft_address" in e.value.message
        with pytest.raises(ClientError):
            c.get_job("ok")  # the all-or-nothing apply stored nothing
    healthy(cluster)


def test_health_and_reflection_are_served(cluster_factory: Any) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    with cluster.channel(cluster.replicas[0].api_address) as ch:  # open: no credentials needed
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="wloadctl.v1.JobService"))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        answers = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in answers[0].list_services_response.service}
        assert {"wloadctl.v1.JobService", "wloadctl.v1.ClusterService"} <= names
        assert api_pb2.DESCRIPTOR.services_by_name["JobService"].full_name in names


def test_leader_reachable_after_stop_of_one_replica(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    follower = next(r for r in cluster.replicas if r is not cluster.wait_for_leader())
    cluster.kill(follower)
    wait_for(lambda: cluster.leader() is not None, 10, "a leader with one replica down")
    with cluster.client(retry_for=10) as c:
        assert c.apply_jobs([job("two-of-three")]).jobs[0].version == 1


def test_metrics_are_exported(cluster_factory: Any) -> None:
    import urllib.request

    cluster: LocalCluster = cluster_factory(size=1, metrics=True)
    cluster.start()
    r = cluster.replicas[0]
    with cluster.client([r.api_address]) as c:
        c.apply_jobs([job("m1"), job("m2")])
    with urllib.request.urlopen(f"http://{r.metrics_address}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values = {line.rpartition(" ")[0]: float(line.rpartition(" ")[2]) for line in text.splitlines()
              if line.startswith("wloadctl_") and " " in line}
    assert values["wloadctl_raft_is_leader"] == 1
    assert values["wloadctl_jobs"] == 2
    assert values["wloadctl_proposer_commands_total"] >= 1
    assert values["wloadctl_raft_journal_syncs_total"] >= 1

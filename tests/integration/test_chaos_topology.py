"""The chaos topology: proxies in front of Raft ports really carry the replicas' traffic."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.topology import Topology
from wloadctl.testing.builders import job
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("network", ["loopback", "auto"])
def test_raft_traffic_crosses_the_proxy_in_front_of_each_replica(tmp_path: Path, network: str) -> None:
    topo = Topology.choose(tmp_path, network)
    topo.start()
    cluster = LocalCluster(tmp_path / "c", size=3, place=topo.place, tls_names=topo.tls_names())
    try:
        topo.front_replicas(cluster)
        for r in cluster.replicas:  # peers know each replica by the proxy's address, not where it listens
            assert r.raft_bind_address and r.raft_bind_address != r.raft_address
            assert f'raft_bind_address = "{r.raft_bind_address}"' in r.config_path.read_text()
        cluster.start()
        cluster.wait_for_leader()
        with cluster.client(retry_for=10) as c:
            c.apply_jobs([job("before")])
        # Each Raft connection crosses the proxy of the replica that was dialed (pysyncobj: the
        # greater address dials), so holding every byte on every proxy silences every link: no
        # leader can keep a majority, though every process is alive and every port open.
        for proxy in topo.replica_proxies.values():
            for stream in ("upstream", "downstream"):
                proxy.add_toxic(type="timeout", stream=stream, name=f"hold_{stream}", attributes={"timeout": 0})
        wait_for(lambda: cluster.leader() is None, 15, "the leader to step down without a majority")
        assert all(r.running for r in cluster.replicas)
        for proxy in topo.replica_proxies.values():
            proxy.clear()
        cluster.wait_for_leader()
        with cluster.client(retry_for=10) as c:
            c.apply_jobs([job("after")])
            assert {j.spec.name for j in c.iter_jobs()} >= {"before", "after"}
        cluster.wait_converged(timeout=30)
    finally:
        cluster.stop()
        topo.stop()

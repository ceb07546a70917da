"""`run --wait` right after the trigger, through a follower (what the README tour does).

The trigger is forwarded to the leader; the follower the client then polls may not have applied
the entry yet and answers NOT_FOUND. Before the fix, `wloadctl run JOB --wait` failed with
`error: run_id: no run 'r1'` now and then (about one try in ten here, under write load).
"""

from __future__ import annotations

from typing import Any

import pytest

from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster
from wloadctl.testing.load import WriteLoad

pytestmark = pytest.mark.integration


def test_wait_right_after_a_trigger_through_a_follower(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1", capacity=8)
    leader = cluster.wait_for_leader()
    followers = [r.api_address for r in cluster.replicas if r is not leader]
    with cluster.client() as c:
        c.apply_jobs([jobs_pb2.JobSpec(name="quick", command=jobs_pb2.JobCommand(shell="true"))])
    cluster.wait_settled(timeout=60)
    # entries keep flowing
    load = WriteLoad([r.api_address for r in cluster.replicas], credentials=cluster.credentials(), threads=2).start()
    try:
        # a follower first, as `wloadctl` with default servers often is
        with cluster.client(followers, retry_for=15) as c:
            for _ in range(40):
                run = c.trigger_run("quick")
                assert c.wait_run(run.run_id, timeout=60, poll=0.05).state == runs_pb2.SUCCEEDED
    finally:
        load.stop()

"""`wloadctl cluster digest` agrees on a healthy cluster whose jobs and runs use maps.

Each replica is its own process with its own hash seed; before stored messages were encoded
deterministically, one job with five labels made the three digests differ.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration

FIVE = {f"k{i}": f"v{i}" for i in range(5)}


def test_digests_agree_with_labels_env_params_and_agent_labels(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1", labels={"zone": "dc1", "os": "linux", "tier": "1"})
    spec = jobs_pb2.JobSpec(name="maps", labels=FIVE, env={k.upper(): v for k, v in FIVE.items()},
                            command=jobs_pb2.JobCommand(shell="true"))
    with cluster.client() as c:
        c.apply_jobs([spec])
        run = c.trigger_run("maps", params=FIVE)
        assert c.wait_run(run.run_id, timeout=60).state == runs_pb2.SUCCEEDED
    cluster.wait_settled(timeout=60)
    servers = ",".join(r.api_address for r in cluster.replicas)
    auth = ["--ca", str(cluster.certs / "ca.crt"), "--api-key", cluster.admin_token]
    done = subprocess.run([sys.executable, "-m", "wloadctl", "--server", servers, *auth, "cluster", "digest"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" ok") == 3, done.stdout

"""Latency of a single apply (one definition, one request at a time) on 3 replicas.

    python bench/apply_latency.py [--requests 2000]

Each request is acknowledged only after a majority fsynced the entry and the
leader applied it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import spec, summary
from wloadctl.testing.cluster import LocalCluster


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), 3) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        for tag, target, label in (("l", leader, "to the leader"),
                                   ("f", next(r for r in cluster.replicas if r is not leader), "via a follower")):
            with cluster.client([target.api_address]) as c:
                for i in range(50):  # warm up channels
                    c.apply_jobs([spec(f"warm-{tag}-{i}")])
                samples = []
                for i in range(args.requests):
                    t0 = time.perf_counter()
                    c.apply_jobs([spec(f"lat-{tag}-{i}")])
                    samples.append(time.perf_counter() - t0)
            print(f"single apply {label}: {summary(samples)}")


if __name__ == "__main__":
    main()

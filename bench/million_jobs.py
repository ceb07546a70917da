"""1M job definitions: load time, RSS per replica, restart-to-serving time.

    python bench/million_jobs.py [--jobs 1000000] [--batch 1000]

Definitions are applied 1,000 per request; then every replica is stopped
(SIGTERM) and restarted, and the time until each answers a read of the last
job and the cluster accepts a write is measured.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import rss_mb, spec
from wloadctl.testing.cluster import LocalCluster, wait_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--dir", type=Path, default=None, help="keep the data here (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        with LocalCluster(root, 3) as cluster:
            cluster.start()
            leader = cluster.wait_for_leader()
            t0 = time.monotonic()

            def load(start: int) -> None:
                with cluster.client([leader.api_address], timeout=60, retry_for=60) as c:
                    c.apply_jobs([spec(f"job-{i:07d}") for i in range(start, min(start + args.batch, args.jobs))],
                                 idempotency_key=f"m{start}")

            with cf.ThreadPoolExecutor(4) as pool:
                for n, _ in enumerate(pool.map(load, range(0, args.jobs, args.batch))):
                    if n % 100 == 0:
                        print(f"  {n * args.batch:,} loaded", flush=True)
            load_s = time.monotonic() - t0
            cluster.wait_converged(timeout=600)
            print(f"loaded {args.jobs:,} definitions in {load_s:.0f} s ({args.jobs / load_s:,.0f}/s)")
            for r in cluster.replicas:
                assert r.proc is not None
                size = sum(f.stat().st_size for f in r.data_dir.rglob("*") if f.is_file())
                print(f"  {r.node_id}: RSS {rss_mb(r.proc.pid):,.0f} MiB, data dir {size / 2**20:,.0f} MiB")
            cluster.stop()
            last = f"job-{args.jobs - 1:07d}"
            t0 = time.monotonic()
            cluster.start(wait=False)
            for r in cluster.replicas:
                def serving(address: str = r.api_address) -> bool:
                    with cluster.client([address], timeout=5, retry_for=0) as c:
                        return c.get_job(last).version == 1
                wait_for(serving, 300, f"{r.node_id} to serve reads", interval=0.1)
                print(f"  {r.node_id}: serving reads {time.monotonic() - t0:.1f} s after start")
            with cluster.client([r.api_address for r in cluster.replicas], timeout=5, retry_for=120) as c:
                c.apply_jobs([spec("after-restart")])
            print(f"restart-to-serving (3 replicas, {args.jobs:,} definitions, first write committed): "
                  f"{time.monotonic() - t0:.1f} s")
            for r in cluster.replicas:
                assert r.proc is not None
                print(f"  {r.node_id}: RSS after restart {rss_mb(r.proc.pid):,.0f} MiB")


if __name__ == "__main__":
    main()

"""Failover: kill -9 the leader, time until the first write commits on the new leader.

    python bench/failover.py [--trials 20]

A client keeps writing through every replica; the figure is the time from
SIGKILL to the first acknowledged write after it. The killed replica is
restarted between trials.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, spec
from wloadctl.client import ClientError
from wloadctl.testing.cluster import LocalCluster


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), 3) as cluster:
        cluster.start()
        for trial in range(args.trials):
            leader = cluster.wait_for_leader()
            survivors = [r.api_address for r in cluster.replicas if r is not leader]
            with cluster.client(survivors, timeout=1, retry_for=0) as c:
                c.apply_jobs([spec(f"pre-{trial}")])  # channels warm
                assert leader.proc is not None
                t0 = time.perf_counter()
                leader.proc.send_signal(signal.SIGKILL)
                seq = 0
                while True:
                    seq += 1
                    try:
                        c.apply_jobs([spec(f"post-{trial}-{seq}")], idempotency_key=f"t{trial}-{seq}")
                        break
                    except ClientError:
                        time.sleep(0.005)
                elapsed = time.perf_counter() - t0
            times.append(elapsed)
            leader.proc.wait()
            cluster.start(leader)
            print(f"trial {trial + 1}: {elapsed * 1000:.0f} ms", flush=True)
    print(f"failover (kill -9 leader -> first committed write), {len(times)} trials: "
          f"median={statistics.median(times) * 1000:.0f} ms p99={pct(times, 99) * 1000:.0f} ms "
          f"max={max(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

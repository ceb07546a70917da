"""Failover under a silent partition: isolate the leader from the other replicas (network namespaces).

    sudo python bench/partition_failover.py [--trials 20] [--agents 2]

Each replica runs in its own network namespace behind a router (chaos/netns.py); the partition is
a blackhole rule in the router, so the old leader sees silence, not errors. Per trial, three figures
from the moment the rule is in place:

* the isolated leader stops calling itself leader (its status, polled through the runner's link,
  which the partition leaves alone),
* the first write acknowledged by the majority side,
* the majority's new leader dispatching again (takeover phase ``active`` after the agent quorum).

The partition is healed and the cluster settled between trials. Needs root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, spec
from chaos import netns
from chaos.topology import Topology
from wloadctl.client import ClientError
from wloadctl.testing.cluster import LocalCluster, Replica


def _role(cluster: LocalCluster, r: Replica) -> str:
    try:
        return cluster.status_of(r, timeout=0.5).role
    except Exception:
        return "unreachable"


def _phase(cluster: LocalCluster, r: Replica) -> str:
    try:
        st = cluster.status_of(r, timeout=0.5)
        return st.takeover_phase if st.role == "leader" else ""
    except Exception:
        return ""


def _trial(cluster: LocalCluster, net: netns.Network, leader: Replica, others: list[Replica],
           trial: int) -> dict[str, float]:
    """Isolate `leader`; one poller per figure, so a slow probe of one does not delay the others."""
    done: dict[str, float] = {}
    with cluster.client([r.api_address for r in others], timeout=0.5, retry_for=0) as c:
        c.apply_jobs([spec(f"pre-{trial}")])  # channels warm
        seq = iter(range(1_000_000))

        def write() -> bool:
            n = next(seq)
            try:
                c.apply_jobs([spec(f"post-{trial}-{n}")], idempotency_key=f"t{trial}-{n}")
                return True
            except ClientError:
                return False

        probes: dict[str, Callable[[], bool]] = {
            "stepped": lambda: _role(cluster, leader) != "leader",
            "written": write,
            "dispatching": lambda: any(_phase(cluster, r) == "active" for r in others),
        }
        rules = net.partition([leader.node_id], [r.node_id for r in others])
        t0 = time.perf_counter()

        def watch(name: str) -> None:
            while time.perf_counter() - t0 < 30:
                if probes[name]():
                    done[name] = time.perf_counter() - t0
                    return
                time.sleep(0.005)

        watchers = [threading.Thread(target=watch, args=(name,)) for name in probes]
        for w in watchers:
            w.start()
        for w in watchers:
            w.join()
        net.restore(rules)
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--agents", type=int, default=2)
    args = ap.parse_args()
    ok, why = netns.available()
    if not ok:
        sys.exit(f"needs network namespaces: {why}")
    stepped, written, dispatching = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        topo = Topology.choose(Path(tmp), "netns")
        topo.start()
        cluster = LocalCluster(Path(tmp) / "c", 3, place=topo.place, tls_names=topo.tls_names())
        try:
            cluster.start()
            for i in range(args.agents):
                cluster.add_agent(f"a{i + 1}")
            assert topo.net is not None
            for trial in range(args.trials):
                cluster.wait_settled(timeout=60)
                leader = cluster.wait_for_leader()
                others = [r for r in cluster.replicas if r is not leader]
                done = _trial(cluster, topo.net, leader, others, trial)
                if len(done) < 3:
                    print(f"trial {trial + 1}: incomplete after 30 s: {done}", flush=True)
                    continue
                stepped.append(done["stepped"])
                written.append(done["written"])
                dispatching.append(done["dispatching"])
                print(f"trial {trial + 1}: old leader stepped down {done['stepped'] * 1000:.0f} ms, "
                      f"first write {done['written'] * 1000:.0f} ms, dispatching {done['dispatching'] * 1000:.0f} ms",
                      flush=True)
        finally:
            cluster.stop()
            topo.stop()
    for name, xs in (("isolated leader steps down", stepped), ("first majority write", written),
                     ("new leader dispatching", dispatching)):
        if xs:
            print(f"{name}: median={statistics.median(xs) * 1000:.0f} ms p99={pct(xs, 99) * 1000:.0f} ms "
                  f"max={max(xs) * 1000:.0f} ms ({len(xs)} trials)")


if __name__ == "__main__":
    main()

"""Dispatch benchmarks: 3 replicas, 2 agents, real processes.

    python bench/dispatch.py [--runs 6000] [--trials 20]

1. throughput: N `empty` runs queued while no agent is connected, then both
   agents start; runs/s from the first dispatch to the last run finished.
2. trigger -> start latency at a fixed trigger rate (half the measured throughput,
   capped by what one client can trigger).
3. /bin/true: N real process runs drained the same way, next to the raw spawn
   rate (subprocess.run in a loop) measured in the same run.
4. failover: kill -9 the leader, time until a run triggered right after is RUNNING
   under the new leader (agent quorum included).
5. agent loss detection: kill -9 an agent with a running run, time until LOST.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, summary
from wloadctl.client import Client
from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

RS = runs_pb2.RunState


def trigger_many(cluster: LocalCluster, job: str, n: int, threads: int = 16) -> list[str]:
    leader = cluster.wait_for_leader()

    def part(k: int) -> list[str]:
        with cluster.client([leader.api_address], timeout=30, retry_for=30) as c:
            return [c.trigger_run(job).run_id for _ in range(k)]

    with cf.ThreadPoolExecutor(threads) as pool:
        chunks = list(pool.map(part, [n // threads + (1 if i < n % threads else 0) for i in range(threads)]))
    return [r for chunk in chunks for r in chunk]


def count_active(c: Client) -> int:
    total = 0
    for state in (RS.QUEUED, RS.DISPATCHED, RS.RUNNING):
        total += sum(1 for _ in c.iter_runs(state=state, page_size=1000))
    return total


def drain(cluster: LocalCluster, job: str, n: int, agents: list[str]) -> tuple[float, list[runs_pb2.Run]]:
    for a in cluster.agents:
        a.stop()
    ids = trigger_many(cluster, job, n)
    with cluster.client(timeout=30) as c:
        t0 = time.monotonic()
        for a in cluster.agents:
            a.start()
        wait_for(lambda: count_active(c) == 0, 600, f"{n} runs to finish", interval=0.5)
        elapsed = time.monotonic() - t0
        runs = [c.get_run(r) for r in ids[:: max(1, n // 500)]]
    first = min(r.transitions[1].time_ms for r in runs if len(r.transitions) > 1)
    last = max(r.finished_ms or r.updated_ms for r in runs)
    return max(elapsed, (last - first) / 1000), runs


def raw_spawn_rate(seconds: float = 3.0) -> float:
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        subprocess.run(["/bin/true"], check=True)
        n += 1
    return n / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=6000)
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), 3) as cluster:
        cluster.start()
        for name in ("a1", "a2"):
            cluster.add_agent(name, capacity=256, labels={"host": name})
        with cluster.client() as c:
            c.apply_jobs([jobs_pb2.JobSpec(name="noop", task_type=jobs_pb2.EMPTY),
                          jobs_pb2.JobSpec(name="true", command=jobs_pb2.JobCommand(
                              argv=jobs_pb2.ArgvCommand(args=["/bin/true"]))),
                          jobs_pb2.JobSpec(name="sleep", command=jobs_pb2.JobCommand(shell="sleep 30"),
                                           agent_selector={"host": "a1"}, lost_policy=jobs_pb2.FAIL)])
            wait_for(lambda: c.status().agents_confirmed == 2, 30, "both agents to confirm")

        elapsed, _ = drain(cluster, "noop", args.runs, ["a1", "a2"])
        rate = args.runs / elapsed
        print(f"dispatch throughput, empty runs, 3 replicas, 2 agents: {rate:,.0f} runs/s "
              f"({args.runs:,} runs in {elapsed:.1f} s, each: trigger committed earlier, dispatch committed, "
              f"sent, started and finished reported and committed)", flush=True)

        target = max(20.0, min(rate / 2, 400.0))
        with cluster.client() as c:
            ids = []
            t0 = time.monotonic()
            for i in range(int(target * 10)):
                delay = t0 + i / target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                ids.append(c.trigger_run("noop").run_id)
            wait_for(lambda: all(c.get_run(r).state == RS.SUCCEEDED for r in ids[-20:]), 60, "the last runs")
            lat = []
            for r in ids:
                run = c.get_run(r)
                started = next((t.time_ms for t in run.transitions if t.state == RS.RUNNING), 0)
                if started:
                    lat.append((started - run.created_ms) / 1000)
        print(f"trigger -> start latency at {target:.0f} runs/s (leader-stamped times): {summary(lat)}", flush=True)

        raw = raw_spawn_rate()
        n_true = max(500, args.runs // 3)
        elapsed, runs = drain(cluster, "true", n_true, ["a1", "a2"])
        ok = sum(1 for r in runs if r.state == RS.SUCCEEDED)
        real = n_true / elapsed
        print(f"/bin/true runs: {real:,.0f} runs/s ({n_true} runs, sample {ok}/{len(runs)} succeeded); raw spawn "
              f"rate in this run {raw:,.0f}/s; ratio {real / raw:.2f}", flush=True)

        times = [failover_trial(cluster, trial) for trial in range(args.trials)]
        print(f"failover, kill -9 leader -> first dispatch after the agent quorum, {len(times)} trials: "
              f"median {statistics.median(times) * 1000:.0f} ms, p99 {pct(times, 99) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms", flush=True)

        detect = [loss_trial(cluster) for _ in range(5)]
        print(f"agent loss detection (kill -9 agent -> run LOST committed), {len(detect)} trials: "
              f"median {statistics.median(detect):.2f} s, max {max(detect):.2f} s (lease 3 s + margin 1.5 s)")


def agents_confirmed(cluster: LocalCluster, n: int) -> None:
    with cluster.client() as c:
        wait_for(lambda: c.status().agents_confirmed == n, 30, "agents to confirm")


def failover_trial(cluster: LocalCluster, trial: int) -> float:
    leader = cluster.wait_for_leader()
    others = [r.api_address for r in cluster.replicas if r is not leader]
    assert leader.proc is not None
    t0 = time.monotonic()
    leader.proc.send_signal(signal.SIGKILL)
    with cluster.client(others, timeout=1, retry_for=30) as c:
        rid = c.trigger_run("noop", idempotency_key=f"failover-{trial}-{time.time_ns()}").run_id
        wait_for(lambda: c.get_run(rid).state in (RS.RUNNING, RS.SUCCEEDED), 30, "a dispatch", interval=0.005)
    elapsed = time.monotonic() - t0
    leader.proc.wait()
    cluster.start(leader)
    agents_confirmed(cluster, 2)
    return elapsed


def loss_trial(cluster: LocalCluster) -> float:
    victim = cluster.agents[0]
    agents_confirmed(cluster, 2)
    with cluster.client() as c:
        rid = c.trigger_run("sleep").run_id
        wait_for(lambda: c.get_run(rid).state == RS.RUNNING, 30, "the run to start on a1")
        t0 = time.time()
        victim.signal(signal.SIGKILL)
        wait_for(lambda: any(t.state == RS.LOST for t in c.get_run(rid).transitions), 30, "LOST", 0.05)
        lost = next(t.time_ms for t in c.get_run(rid).transitions if t.state == RS.LOST) / 1000
    victim.start()
    return lost - t0


if __name__ == "__main__":
    main()

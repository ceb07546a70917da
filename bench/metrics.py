"""Metrics benchmarks: scrape cost at scale, and what scraping (and a console session) costs dispatch.

    python bench/metrics.py [--jobs 1000000] [--runs 1000000] [--drain 6000] [--rounds 3] [--skip-scale]

1. scale: one replica (a single-member cluster: the state and the scrape are the same on every
   replica), --jobs job definitions (1,000 per request) each listening to one of --runs/1000
   events, then every event emitted once: --runs runs, queued (no agent). Then GET /metrics
   (replica's HTTP port when it serves one, else its metrics_address) 50 times: time per scrape
   and its size.
2. overhead: 3 replicas, 2 agents, --drain `empty` runs queued while the agents are stopped, then
   drained (as bench/dispatch.py); alternating rounds without and with a scraper reading every
   replica's and agent's /metrics once a second (15x Prometheus' default rate) and, when the
   replicas serve the console, one logged-in console session reloading the overview every 2 s.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct
from bench.console import PASSWORD, ConsoleSession
from bench.dispatch import trigger_many
from wloadctl.proto.v1 import auth_pb2, jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for


def metrics_url(address: str) -> str:
    return f"http://{address}/metrics"


def replica_metrics_address(replica: object) -> str:
    """The replica's HTTP port (the console's and /metrics'), else its separate metrics port."""
    return getattr(replica, "http_address", "") or getattr(replica, "metrics_address", "")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read()


def scale(jobs: int, runs: int) -> None:
    per_event = max(1, min(1000, jobs))
    events = max(1, runs // per_event)
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), 1, metrics=True) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        t0 = time.monotonic()

        def load(start: int) -> None:
            specs = [jobs_pb2.JobSpec(name=f"job-{i:07d}", task_type=jobs_pb2.EMPTY,
                                      events=[jobs_pb2.EventTrigger(name=f"e{(i // per_event) % events}")])
                     for i in range(start, min(start + 1000, jobs))]
            with cluster.client([leader.api_address], timeout=120, retry_for=120) as c:
                c.apply_jobs(specs, idempotency_key=f"load-{start}")

        with cf.ThreadPoolExecutor(4) as pool:
            for n, _ in enumerate(pool.map(load, range(0, jobs, 1000))):
                if n % 200 == 0:
                    print(f"  {n * 1000:,} jobs loaded", flush=True)
        print(f"loaded {jobs:,} jobs in {time.monotonic() - t0:.0f} s", flush=True)
        t0 = time.monotonic()

        def emit(k: int) -> int:
            with cluster.client([leader.api_address], timeout=120, retry_for=120) as c:
                return len(c.emit_event(f"e{k}", idempotency_key=f"emit-{k}").run_ids)

        with cf.ThreadPoolExecutor(2) as pool:
            created = 0
            for n, count in enumerate(pool.map(emit, range(events))):
                created += count
                if n % 100 == 0:
                    print(f"  {created:,} runs created", flush=True)
        print(f"created {created:,} runs in {time.monotonic() - t0:.0f} s", flush=True)
        url = metrics_url(replica_metrics_address(leader))
        fetch(url)
        times, size = [], 0
        for _ in range(50):
            t = time.perf_counter()
            size = len(fetch(url))
            times.append(time.perf_counter() - t)
        print(f"GET /metrics with {jobs:,} jobs and {created:,} runs stored: p50 {pct(times, 50) * 1000:.1f} ms, "
              f"p95 {pct(times, 95) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms ({size:,} bytes)", flush=True)


RS = runs_pb2.RunState
ACTIVE = ("PENDING", "QUEUED", "DISPATCHED", "RUNNING", "RETRY_WAIT")


def drain(cluster: LocalCluster, job: str, n: int) -> float:
    """Runs/s from the first dispatch to the last finish of ``n`` runs queued while no agent ran
    (agents' restart and takeover confirmation excluded: they are not dispatch)."""
    for a in cluster.agents:
        a.stop()
    ids = set(trigger_many(cluster, job, n))
    with cluster.client(timeout=30) as c:
        for a in cluster.agents:
            a.start()
        # Summarize is O(1): listing every active run twice a second would load the leader it measures.
        wait_for(lambda: not any(c.summarize().total.runs_by_state.get(name, 0) for name in ACTIVE),
                 900, f"{n} runs to finish", interval=0.2)
        runs = [r for r in c.iter_runs(job_name=job, page_size=1000) if r.run_id in ids]
    assert len(runs) == n and all(r.state == RS.SUCCEEDED for r in runs)
    first = min(t.time_ms for r in runs for t in r.transitions if t.state == RS.DISPATCHED)
    last = max(r.finished_ms for r in runs)
    return n / max(0.001, (last - first) / 1000)


class Scraper:
    """Reads every /metrics once a second (and the console overview every 2 s when asked)."""

    def __init__(self, urls: list[str], console: object | None = None) -> None:
        self.urls = urls
        self.console = console
        self.stop = threading.Event()
        self.scrapes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        tick = 0
        while not self.stop.wait(1.0):
            for url in self.urls:
                try:
                    fetch(url)
                    self.scrapes += 1
                except OSError:
                    pass
            tick += 1
            if self.console is not None and tick % 2 == 0:
                self.console()  # type: ignore[operator]

    def __enter__(self) -> Scraper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def overhead(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), 3, metrics=True) as cluster:
        cluster.start()
        agents = [cluster.add_agent(name, capacity=256) for name in ("a1", "a2")]
        with cluster.client() as c:
            # Kept: the rate is read off every run's own transitions afterwards.
            c.apply_jobs([jobs_pb2.JobSpec(name="noop", task_type=jobs_pb2.EMPTY, keep_runs=100_000)])
            wait_for(lambda: c.status().agents_confirmed == 2, 30, "both agents to confirm")
        urls = [metrics_url(replica_metrics_address(r)) for r in cluster.replicas]
        urls += [metrics_url(a.metrics_address) for a in agents]
        with cluster.client() as admin:
            admin.create_user(auth_pb2.CreateUserRequest(name="olivia", password=PASSWORD,
                                                         bindings=[auth_pb2.Binding(role="admin")]))
        console = ConsoleSession(cluster.replicas[0].http_address)
        console.login("olivia", PASSWORD)
        drain(cluster, "noop", min(n, 1000))  # warm up
        rates: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(rounds):
            for mode in ("without", "with"):
                if mode == "with":
                    with Scraper(urls, lambda: console.request("GET", "/api/overview")) as scraper:
                        rate = drain(cluster, "noop", n)
                    assert scraper.scrapes > 0
                else:
                    rate = drain(cluster, "noop", n)
                rates[mode].append(rate)
                print(f"  {mode} scraping: {rate:,.0f} runs/s", flush=True)
        without, with_ = statistics.median(rates["without"]), statistics.median(rates["with"])
        print(f"dispatch throughput, {n:,} empty runs, 3 replicas, 2 agents, median of {rounds}: without metrics "
              f"scraping {without:,.0f} runs/s, with every /metrics read each second and a console session "
              f"refreshing its overview every 2 s {with_:,.0f} runs/s "
              f"({(without - with_) / without * 100:+.1f}% loss)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--drain", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    args = ap.parse_args()
    if not args.skip_scale:
        scale(args.jobs, args.runs)
    if not args.skip_overhead:
        overhead(args.drain, args.rounds)


if __name__ == "__main__":
    main()

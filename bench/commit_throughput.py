"""Sustained batched commit throughput on 3 replicas, next to raw pysyncobj.

    python bench/commit_throughput.py [--seconds 60] [--raw-seconds 30]

Prints definitions written per second through the API (durable: every
replica fsyncs its journal before acknowledging), the elections seen during
the run (Raft term increments), then the same measure for stock pysyncobj
0.3.17 with the same timers (3 processes, in-memory journal, no fsync,
async @replicated calls with bounded in-flight commands).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from bench.common import run_load, summary
from wloadctl.config import RaftTimers
from wloadctl.raft.node import sync_obj_conf
from wloadctl.testing.cluster import LocalCluster, free_ports


def watch_terms(cluster: LocalCluster, stop: threading.Event, seen: list[int]) -> None:
    while not stop.is_set():
        for r in cluster.replicas:
            with contextlib.suppress(Exception):
                seen.append(cluster.status_of(r, timeout=1).term)
        stop.wait(0.2)


def ours(seconds: float, jobs_per_request: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), 3) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        terms: list[int] = []
        stop = threading.Event()
        watcher = threading.Thread(target=watch_terms, args=(cluster, stop, terms), daemon=True)
        watcher.start()
        t0 = time.monotonic()
        done, errors, lat = run_load(leader.api_address, seconds, processes=2, concurrency=96,
                                     jobs_per_request=jobs_per_request)
        elapsed = time.monotonic() - t0
        stop.set()
        watcher.join()
        status = cluster.status_of(leader)
        elections = max(terms) - min(terms) if terms else -1
        print(f"wloadctl  ({jobs_per_request} job/request): {done / elapsed:,.0f} definitions/s "
              f"({done / jobs_per_request / elapsed:,.0f} requests/s) over {elapsed:.0f} s, {done:,} acknowledged, "
              f"{errors} failed requests, elections during run: {elections}, "
              f"raft entries: {status.commit_index:,} ({done / max(1, status.commit_index):.0f} definitions/entry)")
        print(f"  request latency under load: {summary(lat)}")


def _raw_node(address: str, peers: list[str], seconds: float, drive: bool, out: mp.Queue) -> None:
    from pysyncobj import SyncObj, replicated

    timers = RaftTimers()
    conf = sync_obj_conf(timers, password=None)
    conf.dynamicMembershipChange = False

    class Counter(SyncObj):
        def __init__(self) -> None:
            super().__init__(address, [p for p in peers if p != address], conf)
            self.n = 0

        @replicated
        def add(self, payload: bytes) -> int:
            self.n += 1
            return self.n

    node = Counter()
    start_wait = time.monotonic()
    while node._getLeader() is None and time.monotonic() - start_wait < 20:
        time.sleep(0.01)
    first_term = node.raftCurrentTerm
    committed = failed = 0
    if drive:
        lock = threading.Condition()
        inflight = 0
        limit = 2000
        payload = b"x" * 160  # about one job definition

        def cb(result: object, err: int) -> None:
            nonlocal committed, failed, inflight
            with lock:
                inflight -= 1
                if err == 0:
                    committed += 1
                else:
                    failed += 1
                lock.notify()

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not node._isLeader():
                time.sleep(0.01)
                continue
            with lock:
                while inflight >= limit:
                    lock.wait(0.1)
                inflight += 1
            node.add(payload, callback=cb)
    else:
        time.sleep(seconds + 2)
    out.put((drive, committed, failed, node.raftCurrentTerm - first_term))
    node.destroy()


def raw(seconds: float) -> None:
    ports = free_ports(3)
    peers = [f"127.0.0.1:{p}" for p in ports]
    # Spawned, not forked: this process has used gRPC already (ours()), and a forked child inherits its
    # threads' locks half-held (gRPC logs "skipping fork() handlers" and the children hung).
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    # Every node is driven; only the leader's commands succeed, so whichever wins leads the load.
    procs = [ctx.Process(target=_raw_node, args=(a, peers, seconds, True, out)) for a in peers]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    committed = sum(r[1] for r in results)
    failed = sum(r[2] for r in results)
    elections = max(r[3] for r in results)
    print(f"raw pysyncobj (same timers, no fsync, 1 command/entry): {committed / seconds:,.0f} commands/s over "
          f"{seconds:.0f} s, {failed:,} failed commands, elections during run: {elections}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--raw-seconds", type=float, default=30)
    ap.add_argument("--jobs-per-request", type=int, nargs="*", default=[1, 10])
    args = ap.parse_args()
    for jpr in args.jobs_per_request:
        ours(args.seconds, jpr)
    raw(args.raw_seconds)


if __name__ == "__main__":
    main()

"""Read latency and throughput on 3 replicas: linearizable, min-index and stale reads.

    python bench/reads.py [--reads 2000] [--seconds 15] [--concurrency 48] [--processes 2] [--moderate 600 1000]

A 3-replica plaintext cluster (insecure: no TLS, no authentication); every read is GetJob of one
small job over raw gRPC.

1. Latency, one call at a time from one client, on the leader and on a follower, after a warm-up;
   linearizable, min_index and stale calls interleaved (so drift hits them alike):
   - linearizable (the default): a read index (on the leader its own, confirmed by a heartbeat
     round; on a follower the leader's, over the ReadIndex RPC), then the local LMDB read;
   - min_index: x-wloadctl-consistency: stale plus x-wloadctl-min-index = the index of a write
     acknowledged just before the loop: read-your-writes at stale cost;
   - stale: the replica's own copy at once;
   - min_index after write (its own loop): each read follows its own write (to the leader) at
     once, the write's time left out: on a follower it includes waiting to apply that entry.
2. Throughput: PROCESSES x CONCURRENCY calls in flight (grpc.aio on uvloop, in separate processes,
   the calls spread evenly over the 3 replicas), linearizable GetJob for SECONDS: reads/s, p50/p99
   at that load, and the CPU each replica and the load generator spent per read; stale for
   reference.
3. Moderate load: linearizable GetJob paced at each MODERATE rate (default: half the throughput
   measured in 2; open loop, one process, over the 3 replicas) for SECONDS: p50/p99 from each
   call's start (and p99 from its planned start, which adds the load generator's own delays). A
   rate above the throughput of 2 only measures a growing queue.

Targets: linearizable reads >= 5,000/s; p99 <= 10 ms at moderate load.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.auth_overhead import cpu_seconds
from bench.common import pct, spec
from wloadctl.api.headers import CONSISTENCY_HEADER, INDEX_HEADER, MIN_INDEX_HEADER
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc
from wloadctl.testing.cluster import LocalCluster

JOB = "bench-read"
STALE = ((CONSISTENCY_HEADER, "stale"),)
MODES = ("linearizable", "min_index", "stale")
START_DELAY_S = 4.0  # time for the spawned load processes to import and connect before the common start


def _ms(values: list[float], p: float) -> str:
    return f"{pct(values, p) * 1000:.2f}"


def _index_of(call: grpc.Call) -> int:
    value = dict(call.trailing_metadata() or ()).get(INDEX_HEADER, "0")
    return int(value) if isinstance(value, str) and value.isdigit() else 0


# ---- 1. latency, one call at a time


def latency(leader: str, targets: dict[str, str], reads: int) -> dict[tuple[str, str], list[float]]:
    """Per (mode, target label): the latency of each read, in seconds."""
    out: dict[tuple[str, str], list[float]] = {}
    request = api_pb2.GetJobRequest(name=JOB)
    with grpc.insecure_channel(leader) as wch:
        writer = api_pb2_grpc.JobServiceStub(wch)
        seq = 0

        def write() -> int:
            nonlocal seq
            seq += 1
            name = f"rw-{seq}-{time.monotonic_ns()}"
            _, call = writer.ApplyJobs.with_call(api_pb2.ApplyJobsRequest(jobs=[spec(name)], idempotency_key=name),
                                                 timeout=10)
            return _index_of(call)

        for label, address in targets.items():
            with grpc.insecure_channel(address) as ch:
                stub = api_pb2_grpc.JobServiceStub(ch)
                index = write()
                metadata = {"linearizable": (), "stale": STALE,
                            "min_index": (*STALE, (MIN_INDEX_HEADER, str(index)))}
                for mode in MODES:  # warm up
                    for _ in range(200):
                        stub.GetJob(request, metadata=metadata[mode], timeout=10)
                samples: dict[str, list[float]] = {m: [] for m in MODES}
                for _ in range(reads):
                    for mode in MODES:
                        t0 = time.perf_counter()
                        stub.GetJob(request, metadata=metadata[mode], timeout=10)
                        samples[mode].append(time.perf_counter() - t0)
                after: list[float] = []
                for _ in range(reads):
                    md = (*STALE, (MIN_INDEX_HEADER, str(write())))
                    t0 = time.perf_counter()
                    stub.GetJob(request, metadata=md, timeout=10)
                    after.append(time.perf_counter() - t0)
                for mode in MODES:
                    out[mode, label] = samples[mode]
                out["min_index after write", label] = after
    return out


# ---- 2. throughput, closed loop


async def _closed(addresses: list[str], stale: bool, start_at: float, seconds: float, concurrency: int,
                  out: Any) -> None:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    try:
        stubs = [api_pb2_grpc.JobServiceStub(ch) for ch in channels]
        request = api_pb2.GetJobRequest(name=JOB)
        metadata = STALE if stale else ()
        for stub in stubs:
            await stub.GetJob(request, timeout=10)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0 = time.process_time()
        end = time.monotonic() + seconds
        latencies: list[float] = []
        errors = 0

        async def loop(slot: int) -> None:
            nonlocal errors
            stub = stubs[slot % len(stubs)]
            while time.monotonic() < end:
                t0 = time.perf_counter()
                try:
                    await stub.GetJob(request, metadata=metadata, timeout=10)
                    latencies.append(time.perf_counter() - t0)
                except grpc.aio.AioRpcError:
                    errors += 1

        await asyncio.gather(*(loop(i) for i in range(concurrency)))
        out.put((len(latencies), errors, latencies[:: max(1, len(latencies) // 5000)], time.process_time() - cpu0))
    finally:
        for ch in channels:
            await ch.close()


def _closed_proc(*args: Any) -> None:
    import uvloop

    uvloop.run(_closed(*args))


def throughput(cluster: LocalCluster, stale: bool, seconds: float, processes: int,
               concurrency: int) -> tuple[float, list[float], int, dict[str, float], float]:
    """reads/s, latency samples, errors, replica CPU seconds per read, load generator CPU s per read."""
    addresses = [r.api_address for r in cluster.replicas]
    ctx = mp.get_context("spawn")  # not forked: this process uses gRPC
    out: mp.Queue = ctx.Queue()
    start_at = time.time() + START_DELAY_S
    procs = [ctx.Process(target=_closed_proc, args=(addresses, stale, start_at, seconds, concurrency, out))
             for _ in range(processes)]
    for p in procs:
        p.start()
    try:
        time.sleep(max(0.0, start_at - time.time()))
        pids = {r.node_id: r.proc.pid for r in cluster.replicas if r.proc is not None}
        cpu0 = {n: cpu_seconds(pid) for n, pid in pids.items()}
        time.sleep(seconds)
        cpu = {n: cpu_seconds(pid) - cpu0[n] for n, pid in pids.items()}
        results = [out.get(timeout=seconds + 120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    done = sum(r[0] for r in results)
    per_read = max(done, 1)
    return (done / seconds, [x for r in results for x in r[2]], sum(r[1] for r in results),
            {n: c / per_read for n, c in cpu.items()}, sum(r[3] for r in results) / per_read)


# ---- 3. moderate load, open loop


async def _paced(addresses: list[str], rate: float, start_at: float, seconds: float, out: Any) -> None:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    try:
        stubs = [api_pb2_grpc.JobServiceStub(ch) for ch in channels]
        request = api_pb2.GetJobRequest(name=JOB)
        for stub in stubs:
            await stub.GetJob(request, timeout=10)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        latencies: list[float] = []
        from_plan: list[float] = []
        errors = 0
        tasks: set[asyncio.Task[None]] = set()

        async def one(stub: api_pb2_grpc.JobServiceStub, planned: float) -> None:
            nonlocal errors
            t0 = time.perf_counter()
            try:
                await stub.GetJob(request, timeout=10)
            except grpc.aio.AioRpcError:
                errors += 1
                return
            t1 = time.perf_counter()
            latencies.append(t1 - t0)
            from_plan.append(t1 - planned)

        n = int(rate * seconds)
        i = 0
        t0 = time.perf_counter()
        while i < n:
            now = time.perf_counter()
            while i < n and t0 + i / rate <= now:
                task = asyncio.get_running_loop().create_task(one(stubs[i % len(stubs)], t0 + i / rate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
        out.put((len(latencies) / (time.perf_counter() - t0), latencies, from_plan, errors))
    finally:
        for ch in channels:
            await ch.close()


def _paced_proc(*args: Any) -> None:
    import uvloop

    uvloop.run(_paced(*args))


def moderate(cluster: LocalCluster, rate: float, seconds: float) -> tuple[float, list[float], list[float], int]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    p = ctx.Process(target=_paced_proc,
                    args=([r.api_address for r in cluster.replicas], rate, time.time() + START_DELAY_S, seconds, out))
    p.start()
    try:
        return out.get(timeout=seconds + 120)
    finally:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=2000, help="sequential reads per mode and target")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each load phase")
    ap.add_argument("--concurrency", type=int, default=48, help="calls in flight per load process")
    ap.add_argument("--processes", type=int, default=2, help="load processes")
    ap.add_argument("--moderate", type=float, nargs="*", default=[],
                    help="paced reads/s of the moderate-load points (default: half the measured throughput)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), 3, insecure=True)
        try:
            cluster.start()
            leader = cluster.wait_for_leader()
            follower = next(r for r in cluster.replicas if r is not leader)
            with cluster.client([leader.api_address]) as c:
                c.apply_jobs([spec(JOB)])
            cluster.wait_converged()

            lat = latency(leader.api_address, {"leader": leader.api_address, "follower": follower.api_address},
                          args.reads)
            print(f"read latency, one call at a time, {args.reads} reads each (p50 / p99 ms):")
            print(f"  {'mode':<24}{'leader':>16}{'follower':>16}")
            for mode in (*MODES, "min_index after write"):
                cells = [f"{_ms(lat[mode, t], 50)} / {_ms(lat[mode, t], 99)}" for t in ("leader", "follower")]
                print(f"  {mode:<24}{cells[0]:>16}{cells[1]:>16}", flush=True)

            print(f"read throughput, {args.processes} processes x {args.concurrency} calls in flight over 3 "
                  f"replicas, {args.seconds:g} s (leader {leader.node_id}):")
            linearizable_rate = 0.0
            for stale in (False, True):
                rate, samples, errors, cpu, client_cpu = throughput(cluster, stale, args.seconds, args.processes,
                                                                    args.concurrency)
                mode = "stale" if stale else "linearizable"
                linearizable_rate = linearizable_rate or rate
                target = "" if stale else f"  [target >= 5,000/s: {'met' if rate >= 5000 else 'NOT met'}]"
                per = ", ".join(f"{n}{'*' if n == leader.node_id else ''} {s * 1e6:.0f}"
                                for n, s in sorted(cpu.items()))
                print(f"  {mode:<13} {rate:7,.0f} reads/s  p50 {_ms(samples, 50)} ms  p99 {_ms(samples, 99)} ms  "
                      f"errors {errors}  CPU µs/read: {per}, load gen {client_cpu * 1e6:.0f}{target}", flush=True)

            for paced in args.moderate or [round(linearizable_rate / 2, -1)]:
                achieved, samples, from_plan, errors = moderate(cluster, paced, args.seconds)
                ok = pct(samples, 99) <= 0.010
                over = " (above the measured throughput: a growing queue)" if paced > linearizable_rate else ""
                print(f"moderate load, linearizable paced at {paced:,.0f}/s{over} over 3 replicas, "
                      f"{args.seconds:g} s: {achieved:,.0f} reads/s, p50 {_ms(samples, 50)} ms, p99 "
                      f"{_ms(samples, 99)} ms (from planned start: p99 {_ms(from_plan, 99)} ms), errors {errors}  "
                      f"[target p99 <= 10 ms: {'met' if ok else 'NOT met'}]", flush=True)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()

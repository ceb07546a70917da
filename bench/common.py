"""Shared pieces of the benchmarks: a cluster, a load generator, percentiles."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import time
from pathlib import Path

import grpc

from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, jobs_pb2


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    if not values:
        return "no samples"
    return (f"n={len(values)} p50={pct(values, 50) * scale:.2f}{unit} p90={pct(values, 90) * scale:.2f}{unit} "
            f"p99={pct(values, 99) * scale:.2f}{unit} max={max(values) * scale:.2f}{unit} "
            f"mean={statistics.mean(values) * scale:.2f}{unit}")


def spec(name: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, domain="bench", labels={"tier": "gold"},
                            command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/bin/true", name])))


async def _writer(address: str, worker: int, seconds: float, concurrency: int, jobs_per_request: int,
                  out: mp.Queue) -> None:
    async with grpc.aio.insecure_channel(address) as ch:
        stub = api_pb2_grpc.JobServiceStub(ch)
        end = time.monotonic() + seconds
        done = errors = 0
        latencies: list[float] = []

        async def loop(slot: int) -> None:
            nonlocal done, errors
            seq = 0
            while time.monotonic() < end:
                seq += 1
                names = [f"w{worker}-{slot}-{seq}-{k}" for k in range(jobs_per_request)]
                req = api_pb2.ApplyJobsRequest(jobs=[spec(n) for n in names], idempotency_key=names[0])
                t0 = time.perf_counter()
                try:
                    await stub.ApplyJobs(req, timeout=10)
                    done += jobs_per_request
                    latencies.append(time.perf_counter() - t0)
                except grpc.aio.AioRpcError:
                    errors += 1

        await asyncio.gather(*(loop(i) for i in range(concurrency)))
        out.put((done, errors, latencies[:: max(1, len(latencies) // 2000)]))


def _writer_proc(address: str, worker: int, seconds: float, concurrency: int, jobs_per_request: int,
                 out: mp.Queue) -> None:
    import uvloop

    uvloop.run(_writer(address, worker, seconds, concurrency, jobs_per_request, out))


def run_load(address: str, seconds: float, processes: int = 2, concurrency: int = 64,
             jobs_per_request: int = 1) -> tuple[int, int, list[float]]:
    """Write job definitions to ``address`` (the leader) from several processes."""
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_writer_proc, args=(address, w, seconds, concurrency, jobs_per_request, out))
             for w in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return (sum(r[0] for r in results), sum(r[1] for r in results), [x for r in results for x in r[2]])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")

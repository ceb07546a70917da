"""What identity and audit cost: API throughput and latency with and without TLS + authentication,
the audit log's cost per write, and other clients' latency during a brute-force login loop.

    python bench/auth_overhead.py [--seconds 20] [--writes 20000]

1. Reads (GetJob) and writes (ApplyJobs, one job per request) against the leader of a 3-replica
   cluster, from 2 processes x 32 concurrent calls each: a cluster run with --insecure (plaintext,
   no authentication) next to one with TLS and an API key, and with a session token from a client
   certificate login (on the wire it is the same bearer check as a password login's).
2. Store.apply of definition writes with audit records (as shipped) and without (a subclass that
   skips them, for this measurement only).
3. Other clients' GetJob p50/p99 while one process runs a wrong-password login loop.
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

from bench.common import pct, spec, summary
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, auth_pb2, auth_pb2_grpc
from wloadctl.security.certs import issue
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, batch
from wloadctl.testing.cluster import LocalCluster


def _channel(address: str, ca: bytes | None) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca)) if ca else \
        grpc.aio.insecure_channel(address)


async def _client(address: str, ca: bytes | None, token: str, kind: str, seconds: float, concurrency: int,
                  worker: int, out: mp.Queue) -> None:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    async with _channel(address, ca) as ch:
        jobs = api_pb2_grpc.JobServiceStub(ch)
        end = time.monotonic() + seconds
        latencies: list[float] = []
        errors = 0

        async def loop(slot: int) -> None:
            nonlocal errors
            seq = 0
            while time.monotonic() < end:
                seq += 1
                t0 = time.perf_counter()
                try:
                    if kind == "read":
                        await jobs.GetJob(api_pb2.GetJobRequest(name="bench-read"), timeout=10, metadata=metadata)
                    else:
                        name = f"w{worker}-{slot}-{seq}"
                        await jobs.ApplyJobs(api_pb2.ApplyJobsRequest(jobs=[spec(name)], idempotency_key=name),
                                             timeout=10, metadata=metadata)
                    latencies.append(time.perf_counter() - t0)
                except grpc.aio.AioRpcError:
                    errors += 1

        await asyncio.gather(*(loop(i) for i in range(concurrency)))
        out.put((len(latencies), errors, latencies[:: max(1, len(latencies) // 3000)]))


def _proc(*args: Any) -> None:
    import uvloop

    uvloop.run(_client(*args))


def load(address: str, ca: bytes | None, token: str, kind: str, seconds: float,
         processes: int = 2, concurrency: int = 32) -> tuple[float, list[float], int]:
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_proc, args=(address, ca, token, kind, seconds, concurrency, w, out))
             for w in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    done = sum(r[0] for r in results)
    return done / seconds, [x for r in results for x in r[2]], sum(r[1] for r in results)


def api_figures(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("insecure", "tls"):
            with LocalCluster(Path(tmp) / mode, 3, insecure=mode == "insecure") as cluster:
                cluster.start()
                leader = cluster.wait_for_leader()
                with cluster.client() as c:
                    c.apply_jobs([spec("bench-read")])
                ca = (cluster.certs / "ca.crt").read_bytes() if cluster.secure else None
                tokens = {"": ""} if not cluster.secure else {"API key": cluster.admin_token}
                if cluster.secure:
                    issue(cluster.certs, "client", "bench")
                    with cluster.client() as c:
                        c.create_user(auth_pb2.CreateUserRequest(name="bench", bindings=[
                            auth_pb2.Binding(role="admin")]))
                        tokens["certificate session"] = c.certificate_login(
                            (cluster.certs / "client-bench.crt").read_bytes(),
                            (cluster.certs / "client-bench.key").read_bytes()).token
                for label, token in tokens.items():
                    for kind in ("read", "write"):
                        rate, lat, errors = load(leader.api_address, ca, token, kind, seconds)
                        what = "plaintext, no auth" if mode == "insecure" else f"TLS + {label}"
                        print(f"{kind:<5} {what:<30} {rate:8,.0f}/s  {summary(lat)}  errors={errors}", flush=True)


class _NoAudit(Store):
    """For this measurement only: the same state machine without audit records."""

    def _audit(self, *args: Any, **kwargs: Any) -> None:
        return None


def audit_figures(writes: int) -> None:
    for label, store_type in (("with audit records", Store), ("without audit records", _NoAudit)):
        rates = []
        for _trial in range(3):
            with tempfile.TemporaryDirectory() as tmp:
                store = store_type(Path(tmp) / "s", cluster_secret="x" * 64)
                entries = [batch(apply_cmd(*(spec(f"j{i}-{k}") for k in range(10)), key=f"k{i}"))
                           for i in range(writes // 10)]
                t0 = time.perf_counter()
                for index, entry in enumerate(entries, start=1):
                    store.apply(entry, index)
                rates.append(writes / (time.perf_counter() - t0))
                store.close()
        print(f"apply, 10 definitions per entry, {label:<22}: {sorted(rates)[1]:8,.0f} definitions/s "
              f"(median of 3)", flush=True)


async def _brute(address: str, ca: bytes, seconds: float, out: mp.Queue) -> None:
    async with _channel(address, ca) as ch:
        auth = auth_pb2_grpc.AuthServiceStub(ch)
        end = time.monotonic() + seconds
        attempts = locked = 0
        while time.monotonic() < end:
            attempts += 1
            try:
                await auth.Login(auth_pb2.LoginRequest(user=f"victim{attempts % 50}", password="guess"), timeout=10)
            except grpc.aio.AioRpcError as e:
                locked += "locked" in (e.details() or "")
        out.put((attempts, locked))


def _brute_proc(address: str, ca: bytes, seconds: float, out: mp.Queue) -> None:
    import uvloop

    uvloop.run(_brute(address, ca, seconds, out))


def brute_force_figures(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp) / "b", 3) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        ca = (cluster.certs / "ca.crt").read_bytes()
        with cluster.client() as c:
            c.apply_jobs([spec("bench-read")])
            for i in range(50):
                c.create_user(auth_pb2.CreateUserRequest(name=f"victim{i}", password="Batch-Window-2026"))
        _, base, _ = load(leader.api_address, ca, cluster.admin_token, "read", seconds, processes=1)
        out: mp.Queue = mp.Queue()
        attacker = mp.Process(target=_brute_proc, args=(leader.api_address, ca, seconds + 4, out))
        attacker.start()
        time.sleep(2)  # the loop is under way (benchmark pacing, not synchronisation of a test)
        _, during, _ = load(leader.api_address, ca, cluster.admin_token, "read", seconds, processes=1)
        attempts, locked = out.get(timeout=seconds + 120)
        attacker.join(timeout=30)
        print(f"brute force: {attempts / (seconds + 4):,.0f} logins/s, {locked} answered 'locked'; other clients' "
              f"GetJob p50 {pct(base, 50) * 1000:.2f} -> {pct(during, 50) * 1000:.2f} ms, "
              f"p99 {pct(base, 99) * 1000:.2f} -> {pct(during, 99) * 1000:.2f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--writes", type=int, default=20000)
    args = ap.parse_args()
    api_figures(args.seconds)
    audit_figures(args.writes)
    brute_force_figures(args.seconds)


if __name__ == "__main__":
    main()

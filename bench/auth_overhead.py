"""What identity and audit cost: API throughput and latency with and without TLS + authentication,
the audit log's cost per write, and other clients' latency during a brute-force login loop.

    python bench/auth_overhead.py [--seconds 20] [--writes 20000]

1. Reads (GetJob) and writes (ApplyJobs, one job per request) against the leader of a 3-replica
   cluster, from 2 processes x 32 concurrent calls each: a cluster run with --insecure (plaintext,
   no authentication) next to one with TLS and an API key, and with a session token from a client
   certificate login (on the wire it is the same bearer check as a password login's).
2. Definition writes with audit records (as shipped) and without: Store.apply alone (a subclass
   that skips them), and through the API of a TLS cluster whose replicas load
   bench/without_audit/sitecustomize.py (the same skip), ApplyJobs with one job per request.
3. Other clients' GetJob p50/p99 while one process runs eight wrong-password login loops, with
   the per-address login limit as shipped and lifted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, spec
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, audit_pb2, auth_pb2, auth_pb2_grpc
from wloadctl.security.certs import issue
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, batch
from wloadctl.testing.cluster import LocalCluster


def _channel(address: str, ca: bytes | None) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca)) if ca else \
        grpc.aio.insecure_channel(address)


async def _client(address: str, ca: bytes | None, token: str, kind: str, seconds: float, concurrency: int,
                  worker: str, out: mp.Queue) -> None:
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
                        # A name (and idempotency key) no run has used: a repeat would be answered
                        # from the idempotency records, without a Raft write.
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


_runs = 0


def load(address: str, ca: bytes | None, token: str, kind: str, seconds: float,
         processes: int = 2, concurrency: int = 32) -> tuple[float, list[float], int]:
    global _runs
    _runs += 1
    ctx = mp.get_context("spawn")  # not forked: this process uses gRPC (see commit_throughput.py)
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_proc, args=(address, ca, token, kind, seconds, concurrency, f"{_runs}.{w}", out))
             for w in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    done = sum(r[0] for r in results)
    return done / seconds, [x for r in results for x in r[2]], sum(r[1] for r in results)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Setup:
    label: str
    address: str
    ca: bytes | None
    token: str
    leader_pid: int


@dataclass
class Sample:
    rate: float
    p99_ms: float
    leader_cpu_us: float  # the leader's CPU time per call
    errors: int


def api_figures(seconds: float, rounds: int = 3) -> None:
    """Both clusters run side by side and the set-ups take turns, `rounds` times: a drift of the
    machine (caches, other load, a growing table) hits each alike. Medians are printed."""
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(Path(tmp) / "insecure", 3, insecure=True) as plain, \
            LocalCluster(Path(tmp) / "tls", 3) as secure:
        setups = []
        for cluster in (plain, secure):
            cluster.start()
            leader = cluster.wait_for_leader()
            assert leader.proc is not None
            with cluster.client() as c:
                c.apply_jobs([spec("bench-read")])
            if not cluster.secure:
                setups.append(Setup("plaintext, no auth", leader.api_address, None, "", leader.proc.pid))
                continue
            ca = (cluster.certs / "ca.crt").read_bytes()
            issue(cluster.certs, "client", "bench")
            with cluster.client() as c:
                c.create_user(auth_pb2.CreateUserRequest(name="bench", bindings=[auth_pb2.Binding(role="admin")]))
                session = c.certificate_login((cluster.certs / "client-bench.crt").read_bytes(),
                                              (cluster.certs / "client-bench.key").read_bytes()).token
            setups.append(Setup("TLS + API key", leader.api_address, ca, cluster.admin_token, leader.proc.pid))
            setups.append(Setup("TLS + certificate session", leader.api_address, ca, session, leader.proc.pid))
        samples: dict[tuple[str, str], list[Sample]] = {}
        for _round in range(rounds):
            for kind in ("read", "write"):
                for setup in setups:
                    cpu0 = cpu_seconds(setup.leader_pid)
                    rate, lat, errors = load(setup.address, setup.ca, setup.token, kind, seconds)
                    cpu_us = (cpu_seconds(setup.leader_pid) - cpu0) / max(1, rate * seconds) * 1e6
                    samples.setdefault((kind, setup.label), []).append(
                        Sample(rate, pct(lat, 99) * 1000 if lat else 0.0, cpu_us, errors))
        for kind in ("read", "write"):
            base = statistics.median(s.rate for s in samples[(kind, setups[0].label)])
            base_cpu = statistics.median(s.leader_cpu_us for s in samples[(kind, setups[0].label)])
            for setup in setups:
                runs = samples[(kind, setup.label)]
                rate = statistics.median(s.rate for s in runs)
                cpu_us = statistics.median(s.leader_cpu_us for s in runs)
                print(f"{kind:<5} {setup.label:<26} {rate:8,.0f}/s ({rate / base - 1:+6.1%})  "
                      f"p99={statistics.median(s.p99_ms for s in runs):6.2f}ms  "
                      f"leader CPU/call={cpu_us:6.0f}us ({cpu_us / base_cpu - 1:+6.1%})  "
                      f"errors={sum(s.errors for s in runs)}  (median of {len(runs)} x {seconds:g} s)", flush=True)


class _NoAudit(Store):
    """For this measurement only: the same state machine without audit records."""

    def _audit(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _snapshot(self, *args: Any, **kwargs: Any) -> str:
        return ""  # the before/after values exist for the audit record only


WITHOUT_AUDIT = Path(__file__).resolve().parent / "without_audit"


def api_audit_figures(seconds: float, rounds: int = 3) -> None:
    """Two TLS clusters side by side, one without audit records; the runs take turns."""
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(Path(tmp) / "with", 3) as audited, LocalCluster(Path(tmp) / "without", 3) as unaudited:
        audited.start()
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WITHOUT_AUDIT), saved]))
        try:
            unaudited.start()  # its replicas inherit PYTHONPATH: they load the sitecustomize
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
        rates: dict[str, list[float]] = {"with audit records": [], "without audit records": []}
        for _round in range(rounds):
            for label, cluster in (("with audit records", audited), ("without audit records", unaudited)):
                leader = cluster.wait_for_leader()
                ca = (cluster.certs / "ca.crt").read_bytes()
                rate, _lat, _errors = load(leader.api_address, ca, cluster.admin_token, "write", seconds)
                rates[label].append(rate)
        for label, cluster in (("with audit records", audited), ("without audit records", unaudited)):
            with cluster.client() as c:
                records = len(c.list_audit(audit_pb2.ListAuditRequest(operation="job.apply", page_size=100)).records)
            print(f"ApplyJobs through the API (TLS + API key), {label:<22}: "
                  f"{statistics.median(rates[label]):8,.0f} writes/s (median of {rounds} x {seconds:g} s; "
                  f"job.apply records in the first page: {records})", flush=True)
    loss = 1 - statistics.median(rates["with audit records"]) / statistics.median(rates["without audit records"])
    print(f"audit cost through the API: {loss:.1%} of write throughput", flush=True)


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
    """Eight guessing loops at once, over existing accounts and names that do not exist (those
    are never locked: every guess at one costs a hash unless something else holds it back)."""
    async with _channel(address, ca) as ch:
        auth = auth_pb2_grpc.AuthServiceStub(ch)
        end = time.monotonic() + seconds
        outcomes: dict[str, int] = {}

        async def loop(slot: int) -> None:
            attempt = 0
            while time.monotonic() < end:
                attempt += 1
                user = f"victim{(attempt * 8 + slot) % 50}" if attempt % 2 else f"nobody{slot}-{attempt}"
                try:
                    await auth.Login(auth_pb2.LoginRequest(user=user, password="guess"), timeout=10)
                    outcome = "accepted"
                except grpc.aio.AioRpcError as e:
                    details = e.details() or ""
                    outcome = "locked" if "locked" in details else \
                        "throttled" if "too many login attempts" in details else \
                        "pool full" if "too many logins at once" in details else "wrong"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

        await asyncio.gather(*(loop(i) for i in range(8)))
        out.put(outcomes)


def _brute_proc(address: str, ca: bytes, seconds: float, out: mp.Queue) -> None:
    import uvloop

    uvloop.run(_brute(address, ca, seconds, out))


def brute_force_figures(seconds: float) -> None:
    """Other clients' GetJob latency, before and during a guessing loop from one address: with the
    shipped per-address limit, and with the limit lifted (as many addresses would, a botnet)."""
    for label, settings in (("from one address (limit as shipped)", {}),
                            ("limit lifted (many addresses)",
                             {"login_burst_per_source": 100_000, "login_rate_per_source": 10_000})):
        with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp) / "b", 3, settings=settings) as cluster:
            cluster.start()
            leader = cluster.wait_for_leader()
            ca = (cluster.certs / "ca.crt").read_bytes()
            with cluster.client() as c:
                c.apply_jobs([spec("bench-read")])
                for i in range(50):
                    c.create_user(auth_pb2.CreateUserRequest(name=f"victim{i}", password="Batch-Window-2026"))
            _, base, _ = load(leader.api_address, ca, cluster.admin_token, "read", seconds, processes=1)
            ctx = mp.get_context("spawn")
            out: mp.Queue = ctx.Queue()
            attacker = ctx.Process(target=_brute_proc, args=(leader.api_address, ca, seconds + 4, out))
            attacker.start()
            time.sleep(2)  # the loop is under way (benchmark pacing, not synchronisation of a test)
            _, during, _ = load(leader.api_address, ca, cluster.admin_token, "read", seconds, processes=1)
            outcomes = out.get(timeout=seconds + 120)
            attacker.join(timeout=30)
            total = sum(outcomes.values())
            print(f"brute force {label}: {total / (seconds + 4):,.0f} attempts/s "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}); other clients' "
                  f"GetJob p50 {pct(base, 50) * 1000:.2f} -> {pct(during, 50) * 1000:.2f} ms, "
                  f"p99 {pct(base, 99) * 1000:.2f} -> {pct(during, 99) * 1000:.2f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--writes", type=int, default=20000)
    args = ap.parse_args()
    api_figures(args.seconds)
    audit_figures(args.writes)
    api_audit_figures(args.seconds)
    brute_force_figures(args.seconds)


if __name__ == "__main__":
    main()

"""Console server time with many runs stored: overview, runs pages (filtered), a run's page.

    python bench/console.py [--jobs 100000] [--runs 1000000] [--requests 30]

One replica (the console's cost is the replica's: one member keeps the load simple), --jobs jobs
in four business domains, 1,000 per event, and events emitted until --runs runs exist (queued: no
agent). A user logs in to the console over HTTP (its
real login form, cookie and CSRF token), then each page is requested --requests times: the time
from sending the request to the last byte of the answer (the server's time plus loopback).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct
from wloadctl.proto.v1 import auth_pb2, jobs_pb2
from wloadctl.testing.cluster import LocalCluster

PASSWORD = "Console-Bench-2026!"
DOMAINS = ("finance", "hr", "risk", "ops")


class ConsoleSession:
    """A cookie jar over one HTTP connection per request (as a browser tab's fetches would go)."""

    def __init__(self, address: str) -> None:
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = urlencode(form).encode() if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        for line in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            self.cookies[name] = rest.split(";", 1)[0].strip('"')
        connection.close()
        return response.status, data

    def login(self, user: str, password: str) -> None:
        _, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" value="([0-9a-f]{64})"', page)
        assert token is not None, page[:300]
        status, _ = self.request("POST", "/login", {"csrf_token": token.group(1).decode(), "user": user,
                                                    "password": password, "next": "/"})
        assert status in (302, 303), status


def load(cluster: LocalCluster, jobs: int, runs: int) -> int:
    """``jobs`` jobs, each listening to event e<i % events> (1,000 jobs per event), then every event
    emitted until ``runs`` runs exist: each emission starts 1,000 runs in one entry."""
    leader = cluster.wait_for_leader()
    events = max(1, jobs // 1000)
    t0 = time.monotonic()

    def apply(start: int) -> None:
        specs = [jobs_pb2.JobSpec(name=f"job-{i:07d}", domain=DOMAINS[i % len(DOMAINS)], task_type=jobs_pb2.EMPTY,
                                  events=[jobs_pb2.EventTrigger(name=f"e{i % events}")])
                 for i in range(start, min(start + 1000, jobs))]
        with cluster.client([leader.api_address], timeout=120, retry_for=120) as c:
            c.apply_jobs(specs, idempotency_key=f"load-{start}")

    with cf.ThreadPoolExecutor(4) as pool:
        list(pool.map(apply, range(0, jobs, 1000)))
    print(f"loaded {jobs:,} jobs in {time.monotonic() - t0:.0f} s", flush=True)
    t0 = time.monotonic()
    emissions = max(1, runs * events // max(1, jobs))

    def emit(n: int) -> int:
        with cluster.client([leader.api_address], timeout=120, retry_for=120) as c:
            return len(c.emit_event(f"e{n % events}", idempotency_key=f"emit-{n}").run_ids)

    created = 0
    with cf.ThreadPoolExecutor(2) as pool:
        for n, count in enumerate(pool.map(emit, range(emissions))):
            created += count
            if n % 200 == 0:
                print(f"  {created:,} runs created", flush=True)
    print(f"created {created:,} runs in {time.monotonic() - t0:.0f} s", flush=True)
    return created


def timed(session: ConsoleSession, path: str, n: int) -> list[float]:
    status, _ = session.request("GET", path)  # warm
    assert status == 200, (path, status)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = session.request("GET", path)
        times.append(time.perf_counter() - t)
        assert status == 200, (path, status)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp), 1) as cluster:
        cluster.start()
        created = load(cluster, args.jobs, args.runs)
        with cluster.client() as admin:
            admin.create_user(auth_pb2.CreateUserRequest(
                name="olivia", password=PASSWORD, bindings=[auth_pb2.Binding(role="admin")]))
        session = ConsoleSession(cluster.replicas[0].http_address)
        session.login("olivia", PASSWORD)
        some_job = f"job-{args.jobs // 2:07d}"
        pages = [
            ("overview", "/"),
            ("overview data (the 15 s refresh)", "/api/overview"),
            ("runs, newest first", "/runs"),
            ("runs of one domain", "/runs?domain=risk"),
            ("runs of one job", f"/runs?job={some_job}"),
            ("runs queued, one domain", "/runs?state=queued&domain=hr"),
        ]
        print(f"console server time, {args.jobs:,} jobs and {created:,} runs stored, {args.requests} requests "
              f"each (p50 / p95 / max):", flush=True)
        for name, path in pages:
            times = timed(session, path, args.requests)
            print(f"  {name:36} {pct(times, 50) * 1000:7.1f} / {pct(times, 95) * 1000:7.1f} / "
                  f"{max(times) * 1000:7.1f} ms   GET {path}", flush=True)
        _, page = session.request("GET", "/runs")
        run_id = re.search(rb'href="/runs/(r\d+)"', page)
        if run_id:
            path = f"/runs/{run_id.group(1).decode()}"
            times = timed(session, path, args.requests)
            print(f"  {'one run':36} {pct(times, 50) * 1000:7.1f} / {pct(times, 95) * 1000:7.1f} / "
                  f"{max(times) * 1000:7.1f} ms   GET {path}", flush=True)


if __name__ == "__main__":
    main()

"""How fast the agent can start processes: raw subprocess, a thread pool, and the Executor.

    python bench/spawn_rate.py [--seconds 3] [--workers 8] [--runs N]

Prints runs per second of /bin/true with plain ``subprocess.run`` in a loop, then with a
ThreadPoolExecutor of --workers threads each looping on ``subprocess.run``, then through
``wloadctl.agent.executor.Executor`` (N runs started back to back, timed from the first start()
to the last "finished" event; N defaults to what the raw loop did in --seconds, at least 500),
and the ratio executor/raw. Every phase is bounded in count or time (the Executor phase gives up
after 120 s and says so).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wloadctl.agent.executor import ExecEvent, ExecSpec, Executor
from wloadctl.agent.logstore import LogStore

TRUE = "/bin/true"


def raw_loop(seconds: float) -> tuple[int, float]:
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        subprocess.run([TRUE], check=True)
        n += 1
    return n, time.perf_counter() - t0


def pool_loop(seconds: float, workers: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    end = t0 + seconds

    def worker() -> int:
        n = 0
        while time.perf_counter() < end:
            subprocess.run([TRUE], check=True)
            n += 1
        return n

    with ThreadPoolExecutor(max_workers=workers) as pool:
        total = sum(pool.map(lambda _: worker(), range(workers)))
    return total, time.perf_counter() - t0


def executor_runs(runs: int, workers: int, limit_seconds: float = 120.0) -> tuple[int, float, int]:
    """(runs finished, seconds, runs that did not exit 0)."""
    cond = threading.Condition()
    finished = failed = 0

    def on_event(e: ExecEvent) -> None:
        nonlocal finished, failed
        if e.kind == "finished":
            with cond:
                finished += 1
                failed += e.exit_code != 0
                cond.notify_all()

    with tempfile.TemporaryDirectory() as tmp:
        logs = LogStore(Path(tmp) / "logs")
        ex = Executor(Path(tmp) / "work", logs, on_event, max_workers=workers)
        try:
            t0 = time.perf_counter()
            for i in range(runs):
                ex.start(ExecSpec(f"bench{i}", 1, argv=(TRUE,)))
            with cond:
                cond.wait_for(lambda: finished >= runs, timeout=limit_seconds)
                done = finished
            elapsed = time.perf_counter() - t0
        finally:
            ex.shutdown(kill_running=True)
            logs.close()
    return done, elapsed, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--runs", type=int, default=0, help="Executor runs (default: the raw loop's count, >= 500)")
    args = ap.parse_args()
    # the Executor creates a working dir and a log per run: on some disks that costs as much as the spawn
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} work/log dirs under {tempfile.gettempdir()}"
          " (set TMPDIR to compare disks)")

    n, secs = raw_loop(args.seconds)
    raw_rate = n / secs
    print(f"raw subprocess.run loop:          {raw_rate:8.1f} runs/s  ({n} in {secs:.2f}s)")

    n, secs = pool_loop(args.seconds, args.workers)
    print(f"thread pool ({args.workers} workers) subprocess:  {n / secs:8.1f} runs/s  ({n} in {secs:.2f}s)")

    runs = args.runs or max(500, int(raw_rate * args.seconds))
    done, secs, failed = executor_runs(runs, args.workers)
    exec_rate = done / secs
    note = "" if done == runs else f"  INCOMPLETE: {done}/{runs} finished"
    print(f"Executor ({args.workers} spawn workers):      {exec_rate:8.1f} runs/s  ({done} in {secs:.2f}s,"
          f" start->all finished, {failed} non-zero){note}")
    print(f"ratio executor/raw:               {exec_rate / raw_rate:8.2f}")


if __name__ == "__main__":
    main()

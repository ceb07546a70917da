"""Workflow benchmarks: DAG hop latency, a 40-task chain, a 200-task fan-out and fan-in, and the
cost of resolving a large DAG against a bare Kahn topological loop.

    python bench/workflows.py chain [--tasks 40 --runs 5]
    python bench/workflows.py fan [--width 200]
    python bench/workflows.py resolve [--tasks 100000 1000000]

chain: a chain of /bin/true tasks on a 3-replica cluster with one agent; per hop, from the upstream
task's process end (agent clock) to the downstream task's RUNNING transition (the leader's clock,
same host), p50/p99 over every hop of every run; and each run end to end (created -> ended).
fan: one root, WIDTH parallel /bin/true tasks, one join: end to end and tasks per second.
resolve: the pure planner (scheduler/dag.py: start, then every task ends in topological order)
against a bare Kahn loop over the same graph, in this process.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wloadctl.proto.v1 import jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.scheduler.dag import Dag, Outcome, RunProgress
from wloadctl.testing.cluster import LocalCluster, wait_for

WF = workflows_pb2.WorkflowRunState
RS = runs_pb2.RunState


def _cluster(root: Path) -> LocalCluster:
    cluster = LocalCluster(root, size=3)
    cluster.start()
    cluster.add_agent("a1", capacity=256)
    cluster.wait_settled()
    return cluster


def _finish(c, wrun_id: str, timeout: float = 300) -> workflows_pb2.WorkflowRun:  # type: ignore[no-untyped-def]
    return wait_for(lambda: (r := c.get_workflow_run(wrun_id)).ended_ms and r, timeout, "the workflow run to end",
                    interval=0.05)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def chain(tasks: int, runs: int) -> None:
    spec = workflows_pb2.WorkflowSpec(name="chain", domain="bench")
    for i in range(tasks):
        spec.tasks.add(name=f"t{i}", command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/bin/true"])),
                       depends_on=[f"t{i - 1}"] if i else [])
    with tempfile.TemporaryDirectory() as tmp:
        cluster = _cluster(Path(tmp) / "c")
        try:
            leader = cluster.wait_for_leader()
            hops: list[float] = []
            totals: list[float] = []
            with cluster.client([leader.api_address], timeout=60) as c:
                c.apply_workflows([spec])
                for _ in range(runs):
                    wrun = c.run_workflow("chain")
                    done = _finish(c, wrun.id)
                    assert done.state == WF.WF_SUCCEEDED, done
                    totals.append((done.ended_ms - done.created_ms) / 1000)
                    task_runs = [c.get_run(t.run_id) for t in done.tasks]
                    for up, down in itertools.pairwise(task_runs):
                        running = next(t.time_ms for t in down.transitions if t.state == RS.RUNNING)
                        hops.append((running - up.finished_ms) / 1000)
        finally:
            cluster.stop()
    print(f"chain of {tasks} tasks, {runs} runs: end to end p50 {statistics.median(totals):.3f} s, "
          f"max {max(totals):.3f} s")
    print(f"hop (upstream process end -> downstream RUNNING), {len(hops)} hops: "
          f"p50 {1000 * statistics.median(hops):.1f} ms, p99 {1000 * _pct(hops, 0.99):.1f} ms")


def fan(width: int) -> None:
    spec = workflows_pb2.WorkflowSpec(name="fan", domain="bench")
    true = jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/bin/true"]))
    spec.tasks.add(name="root", command=true)
    for i in range(width):
        spec.tasks.add(name=f"p{i}", command=true, depends_on=["root"])
    spec.tasks.add(name="join", command=true, depends_on=[f"p{i}" for i in range(width)])
    with tempfile.TemporaryDirectory() as tmp:
        cluster = _cluster(Path(tmp) / "c")
        try:
            leader = cluster.wait_for_leader()
            with cluster.client([leader.api_address], timeout=60) as c:
                c.apply_workflows([spec])
                wrun = c.run_workflow("fan")
                done = _finish(c, wrun.id)
        finally:
            cluster.stop()
    seconds = (done.ended_ms - done.created_ms) / 1000
    outcome = "succeeded" if done.state == WF.WF_SUCCEEDED else "FAILED"
    print(f"fan-out/fan-in of {width} + 2 tasks: {outcome} in {seconds:.2f} s ({(width + 2) / seconds:.0f} tasks/s)")


def _layered(tasks: int, fan_in: int = 3) -> workflows_pb2.WorkflowSpec:
    spec = workflows_pb2.WorkflowSpec(name="big")
    for i in range(tasks):
        ups = [f"t{i - k}" for k in range(1, fan_in + 1) if i - k >= 0]
        spec.tasks.add(name=f"t{i}", depends_on=ups, command=jobs_pb2.JobCommand(shell="true"))
    return spec


def resolve(sizes: list[int]) -> None:
    for n in sizes:
        spec = _layered(n)
        dag = Dag.of(spec)
        t0 = time.perf_counter()
        progress, first = RunProgress.start(dag)
        ready = deque(name for name, _ in first)
        ran = 0
        while ready:
            name = ready.popleft()
            ran += 1
            ready.extend(child for child, _ in progress.finished(dag, name, Outcome.SUCCEEDED))
        planner = time.perf_counter() - t0
        assert ran == n
        # The bare loop: in-degree counters and a queue, nothing else.
        t0 = time.perf_counter()
        indegree = {name: len(ups) for name, ups in dag.upstream.items()}
        queue = deque(name for name, d in indegree.items() if d == 0)
        seen = 0
        while queue:
            name = queue.popleft()
            seen += 1
            for child in dag.downstream[name]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    queue.append(child)
        kahn = time.perf_counter() - t0
        assert seen == n
        print(f"{n:,} tasks: planner {planner:.3f} s, bare Kahn {kahn:.3f} s, ratio {planner / kahn:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("chain")
    p.add_argument("--tasks", type=int, default=40)
    p.add_argument("--runs", type=int, default=5)
    p = sub.add_parser("fan")
    p.add_argument("--width", type=int, default=200)
    p = sub.add_parser("resolve")
    p.add_argument("--tasks", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    if args.what == "chain":
        chain(args.tasks, args.runs)
    elif args.what == "fan":
        fan(args.width)
    else:
        resolve(args.tasks)


if __name__ == "__main__":
    main()

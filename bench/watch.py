"""Watch fan-out: how late run changes reach many watchers, and what the watchers cost dispatch.

    python bench/watch.py [--watchers 100] [--runs 3000] [--rate 1000] [--agents 2] [--capacity 500]
                          [--task true|empty] [--dir DIR]

A 3-replica plaintext cluster (insecure), AGENTS agents of large capacity, jobs running /bin/true
(--task empty: runs that start no process). Phases back to back on the same cluster, each with a
job of its own (so a watch starts with an empty snapshot): a short warm-up, no watchers, WATCHERS
watchers, no watchers again (the two baselines bracket the watched phase, against drift).

In each phase one process triggers RUNS runs with grpc.aio TriggerRun calls to the leader, paced
at RATE/s (open loop, at most 512 calls in flight: below the rate when the leader cannot keep up).
Dispatch throughput comes from the runs' transitions afterwards: SUCCEEDED transitions per second
between the first and the last one; also the trigger rate reached (created_ms) and trigger ->
SUCCEEDED, and how many leader changes (new epochs) the phase saw.

Watchers: one process (grpc.aio on uvloop) opens WATCHERS WatchRuns streams filtered on the phase's
job, round robin over the 3 replicas (one channel per replica, the streams multiplexed on it), and
waits until each sent SYNCED. For every PUT event that reports a transition (run.updated_ms equal
to the newest transition's time_ms), lag = time.time() when its message arrived - that
transition's time_ms, which the leader stamps from its wall clock when it proposes the entry
(same host, same clock): the lag covers the Raft commit, the apply on the watcher's replica, the
fan-out and the client's receipt. Each watcher must see every run reach SUCCEEDED.

Targets: lag p99 <= 100 ms; throughput with watchers within 10% of without. The throughput
comparison means something only when the trigger rate is above what the cluster dispatches (else
both phases run at the trigger rate); on 2 cores a rate the cluster cannot follow also costs leader
changes, which the phase reports. --dir keeps the cluster's directory and logs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.auth_overhead import cpu_seconds
from bench.common import pct
from wloadctl.client import FINAL_RUN_STATES, Client
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, jobs_pb2, runs_pb2, watch_pb2, watch_pb2_grpc
from wloadctl.testing.cluster import LocalCluster, wait_for

RS = runs_pb2.RunState
WE = watch_pb2.WatchEvent
MAX_IN_FLIGHT = 512
START_DELAY_S = 3.0  # time for a spawned process to import and connect before the common start


# ---- the watchers' process


async def _watchers(addresses: list[str], job: str, n: int, ready: Any, stop: Any, out: Any) -> None:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    lags: list[list[float]] = [[] for _ in addresses]  # ms, per replica
    succeeded: list[set[str]] = [set() for _ in range(n)]
    messages = [0] * n
    errors: list[str] = []
    synced = 0
    skipped = 0
    all_synced = asyncio.Event()

    async def watch(i: int) -> None:
        nonlocal synced, skipped
        r = i % len(channels)
        mine, seen = lags[r], succeeded[i]
        call = watch_pb2_grpc.WatchServiceStub(channels[r]).WatchRuns(watch_pb2.WatchRunsRequest(job_name=job))
        try:
            async for response in call:
                now_ms = time.time() * 1000
                messages[i] += 1
                for ev in response.events:
                    if ev.type == WE.PUT:
                        run = ev.run
                        if not run.transitions:
                            continue
                        newest = run.transitions[-1].time_ms
                        if newest != run.updated_ms:
                            skipped += 1
                            continue
                        mine.append(now_ms - newest)
                        if run.state == RS.SUCCEEDED:
                            seen.add(run.run_id)
                    elif ev.type == WE.SYNCED:
                        synced += 1
                        if synced == n:
                            all_synced.set()
        except grpc.aio.AioRpcError as e:
            errors.append(f"watcher {i} on {addresses[r]}: {e.code().name} {e.details()}")

    tasks = [asyncio.get_running_loop().create_task(watch(i)) for i in range(n)]
    try:
        try:
            await asyncio.wait_for(all_synced.wait(), 60)
        except TimeoutError:
            ready.put(("failed", errors or [f"only {synced} of {n} watchers synced in 60 s"]))
            return
        cpu0 = time.process_time()
        ready.put(("ready", errors))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        cpu = time.process_time() - cpu0
        out.put((lags, [len(s) for s in succeeded], sum(messages), skipped, errors, cpu))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in channels:
            await ch.close()


def _watchers_proc(*args: Any) -> None:
    import uvloop

    uvloop.run(_watchers(*args))


# ---- the trigger process


async def _trigger(leader: str, job: str, runs: int, rate: float, start_at: float, out: Any) -> None:
    async with grpc.aio.insecure_channel(leader) as ch:
        stub = api_pb2_grpc.RunServiceStub(ch)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0 = time.process_time()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        ids: list[str] = []
        errors: list[str] = []
        tasks: set[asyncio.Task[None]] = set()

        async def one(k: int) -> None:
            try:
                run = await stub.TriggerRun(api_pb2.TriggerRunRequest(job_name=job, idempotency_key=f"{job}-{k}"),
                                            timeout=60)
                ids.append(run.run_id)
            except grpc.aio.AioRpcError as e:
                errors.append(f"{e.code().name} {e.details()}")
            finally:
                slots.release()

        t0 = time.perf_counter()
        for k in range(runs):
            delay = t0 + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.get_running_loop().create_task(one(k))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        out.put((ids, errors, time.perf_counter() - t0, time.process_time() - cpu0))


def _trigger_proc(*args: Any) -> None:
    import uvloop

    uvloop.run(_trigger(*args))


# ---- one phase


@dataclass
class Phase:
    label: str
    watchers: int
    runs: int
    trigger_s: float = 0.0
    trigger_errors: list[str] = field(default_factory=list)
    created_rate: float = 0.0
    succeeded_rate: float = 0.0
    end_to_end_rate: float = 0.0
    to_succeeded: list[float] = field(default_factory=list)  # s, trigger -> SUCCEEDED
    states: dict[str, int] = field(default_factory=dict)
    lags_by_replica: list[list[float]] = field(default_factory=list)  # ms
    seen_min: int = 0
    messages: int = 0
    skipped: int = 0
    watch_errors: list[str] = field(default_factory=list)
    cpu_ms_per_run: dict[str, float] = field(default_factory=dict)
    leader_changes: int = 0  # new epochs (leader takeovers) during the phase

    @property
    def lags(self) -> list[float]:
        return [x for lags in self.lags_by_replica for x in lags]


def _finish(c: Client, job: str, ids: list[str], timeout: float = 180) -> list[runs_pb2.Run]:
    """Every run of the phase, once all are final (TimeoutError naming the runs that are not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(c.get_run(r).state in FINAL_RUN_STATES for r in ids[-5:]):
        time.sleep(0.2)
    while True:
        runs = list(c.iter_runs(job_name=job, page_size=1000))
        stuck = [r for r in runs if r.state not in FINAL_RUN_STATES]
        if len(runs) >= len(ids) and not stuck:
            return runs
        if time.monotonic() >= deadline:
            states = Counter(RS.Name(r.state) for r in runs)
            sample = [(r.run_id, r.agent_id, [(RS.Name(t.state), t.cause) for t in r.transitions]) for r in stuck[:3]]
            raise TimeoutError(f"runs of {job} not final after {timeout:g} s: {len(runs)} of {len(ids)} listed, "
                               f"states {dict(states)}; for example {sample}")
        time.sleep(1.0)


def _epoch(cluster: LocalCluster) -> int:
    """The highest epoch a replica reports (one more per leader takeover)."""
    epochs = []
    for r in cluster.replicas:
        try:
            epochs.append(cluster.status_of(r).epoch)
        except Exception:  # a replica that does not answer now: the others tell
            continue
    return max(epochs, default=0)


def run_phase(cluster: LocalCluster, leader_id: str, label: str, job: str, watchers: int, runs: int,
              rate: float) -> Phase:
    phase = Phase(label, watchers, runs)
    addresses = [r.api_address for r in cluster.replicas]
    leader = next(r for r in cluster.replicas if r.node_id == leader_id)
    ctx = mp.get_context("spawn")  # not forked: this process uses gRPC
    ready: mp.Queue = ctx.Queue()
    out: mp.Queue = ctx.Queue()
    stop = ctx.Event()
    procs: list[Any] = []
    try:
        if watchers:
            procs.append(ctx.Process(target=_watchers_proc, args=(addresses, job, watchers, ready, stop, out)))
            procs[-1].start()
            status, early = ready.get(timeout=120)
            if status != "ready" or early:
                raise RuntimeError(f"watchers failed before the phase: {early[:3]}")
        pids = {r.node_id: r.proc.pid for r in cluster.replicas if r.proc is not None}
        pids.update({a.agent_id: a.proc.pid for a in cluster.agents if a.proc is not None})
        epoch0 = _epoch(cluster)
        start_at = time.time() + START_DELAY_S
        trig_out: mp.Queue = ctx.Queue()
        procs.append(ctx.Process(target=_trigger_proc, args=(leader.api_address, job, runs, rate, start_at,
                                                             trig_out)))
        procs[-1].start()
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = {n: cpu_seconds(pid) for n, pid in pids.items()}
        ids, phase.trigger_errors, phase.trigger_s, trigger_cpu = trig_out.get(timeout=600)
        with cluster.client(timeout=30) as c:
            done = _finish(c, job, ids)
        cpu = {n: cpu_seconds(pid) - cpu0[n] for n, pid in pids.items()}
        phase.leader_changes = _epoch(cluster) - epoch0
        if watchers:
            time.sleep(1.0)  # the last SUCCEEDED events on their way
            stop.set()
            (phase.lags_by_replica, seen, phase.messages, phase.skipped, phase.watch_errors,
             watch_cpu) = out.get(timeout=120)
            phase.seen_min = min(seen)
            cpu["watchers"] = watch_cpu
        cpu["trigger"] = trigger_cpu
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    n = max(len(done), 1)
    phase.cpu_ms_per_run = {k: v * 1000 / n for k, v in cpu.items()}
    for r in done:
        name = RS.Name(r.state)
        phase.states[name] = phase.states.get(name, 0) + 1
    created = sorted(r.created_ms for r in done)
    ended = sorted(t.time_ms for r in done for t in r.transitions if t.state == RS.SUCCEEDED)
    if len(created) > 1 and created[-1] > created[0]:
        phase.created_rate = (len(created) - 1) * 1000 / (created[-1] - created[0])
    if len(ended) > 1 and ended[-1] > ended[0]:
        phase.succeeded_rate = (len(ended) - 1) * 1000 / (ended[-1] - ended[0])
        phase.end_to_end_rate = len(ended) * 1000 / (ended[-1] - created[0])
    phase.to_succeeded = [(t.time_ms - r.created_ms) / 1000 for r in done for t in r.transitions
                          if t.state == RS.SUCCEEDED]
    return phase


def _report(phase: Phase, leader_index: int) -> None:
    ok = phase.states.get("SUCCEEDED", 0)
    print(f"{phase.label}: {phase.runs:,} runs triggered in {phase.trigger_s:.1f} s "
          f"({phase.created_rate:,.0f}/s created; {len(phase.trigger_errors)} trigger errors), "
          f"{ok:,} SUCCEEDED, other states {({k: v for k, v in phase.states.items() if k != 'SUCCEEDED'})}, "
          f"leader changes {phase.leader_changes}")
    print(f"  dispatch throughput {phase.succeeded_rate:,.0f} SUCCEEDED/s (first to last), "
          f"{phase.end_to_end_rate:,.0f}/s from the first trigger; trigger -> SUCCEEDED p50 "
          f"{pct(phase.to_succeeded, 50) * 1000:.0f} ms, p99 {pct(phase.to_succeeded, 99) * 1000:.0f} ms")
    print("  CPU ms per run: " + ", ".join(f"{k} {v:.2f}" for k, v in phase.cpu_ms_per_run.items()))
    if phase.watchers:
        lags = phase.lags
        per = ", ".join(f"{'leader' if i == leader_index else 'follower'} p50 {pct(x, 50):.0f} / p99 "
                        f"{pct(x, 99):.0f} ms" for i, x in enumerate(phase.lags_by_replica))
        print(f"  delivery lag over {phase.watchers} watchers, {len(lags):,} events: p50 {pct(lags, 50):.1f} ms, "
              f"p90 {pct(lags, 90):.1f} ms, p99 {pct(lags, 99):.1f} ms, max {max(lags, default=0):.0f} ms "
              f"[target p99 <= 100 ms: {'met' if pct(lags, 99) <= 100 else 'NOT met'}]")
        print(f"  by replica: {per}")
        print(f"  every watcher saw >= {phase.seen_min:,} of {ok:,} runs SUCCEEDED; {phase.messages:,} messages "
              f"({len(lags) / max(phase.messages, 1):.1f} events each); {phase.skipped} events without a "
              f"transition; stream errors {len(phase.watch_errors)} {phase.watch_errors[:2]}")
    if phase.trigger_errors:
        print(f"  trigger errors, first: {phase.trigger_errors[:3]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3000, help="runs per phase")
    ap.add_argument("--rate", type=float, default=1000.0, help="target trigger rate, runs/s")
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--capacity", type=int, default=500, help="runs at once per agent")
    ap.add_argument("--task", choices=("true", "empty"), default="true")
    ap.add_argument("--dir", default="", help="a new directory for the cluster, kept (default: a temporary one)")
    args = ap.parse_args()
    command = jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/bin/true"]))
    labels = ("warm-up", "no watchers", f"{args.watchers} watchers", "no watchers again")
    with tempfile.TemporaryDirectory() as tmp:
        if args.dir:  # kept, with the replicas' and agents' logs
            tmp = args.dir
        # Runs kept per job: every run of a phase stays listable until it is counted.
        cluster = LocalCluster(Path(tmp), 3, insecure=True, control={"runs_kept_per_job": 1_000_000})
        try:
            cluster.start()
            for i in range(args.agents):
                cluster.add_agent(f"a{i + 1}", capacity=args.capacity)
            cluster.wait_settled()
            leader = cluster.wait_for_leader()
            with cluster.client() as c:
                c.apply_jobs([jobs_pb2.JobSpec(name=f"watch-{k}", domain="bench", task_type=jobs_pb2.EMPTY)
                              if args.task == "empty" else
                              jobs_pb2.JobSpec(name=f"watch-{k}", domain="bench", command=command)
                              for k in range(len(labels))])
                wait_for(lambda: c.status().agents_confirmed == args.agents, 30, "the agents to confirm")
            print(f"3 replicas (leader {leader.node_id}), {args.agents} agents x capacity {args.capacity}, "
                  f"task {args.task}, target trigger rate {args.rate:,.0f}/s", flush=True)
            phases = []
            for k, label in enumerate(labels):
                watchers = args.watchers if k == 2 else 0
                runs = max(20, args.runs // 10) if k == 0 else args.runs
                phase = run_phase(cluster, leader.node_id, label, f"watch-{k}", watchers, runs, args.rate)
                if k:
                    _report(phase, [r.node_id for r in cluster.replicas].index(leader.node_id))
                    phases.append(phase)
                now = cluster.wait_for_leader()
                if now is not leader:
                    print(f"  (leader changed: {leader.node_id} -> {now.node_id})")
                    leader = now
                time.sleep(2.0)
            base = statistics.mean([phases[0].succeeded_rate, phases[2].succeeded_rate])
            watched = phases[1].succeeded_rate
            change = (watched - base) / base * 100 if base else float("nan")
            print(f"throughput with {args.watchers} watchers {watched:,.0f}/s vs {base:,.0f}/s without (mean of "
                  f"both baselines): {change:+.1f}% [target within 10%: {'met' if abs(change) <= 10 else 'NOT met'}]")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()

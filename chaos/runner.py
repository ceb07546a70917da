"""Runs one chaos scenario: cluster, workload, seeded faults, healing, recovery, checks.

    python -m chaos run --nemesis kill-leader,crash-agent --time 120 --seed 7 --replicas 3

Real processes, each replica and agent in its own network namespace behind a router when the
machine allows it (root, iproute2), else on loopback (chaos/topology.py). The report (history,
logs, checker results) goes to a results folder, and a failure prints the seed that reproduces
its fault schedule. A run that cannot reach its checks (a replica that does not start, a wait
that times out) raises :class:`RunAborted`, whose text names each exited process with its own
error and log; the runner's own stack goes to ``runner-error.txt`` in the results folder.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from chaos.checkers import Finding, RunData, check_all
from chaos.history import SCHEDULES_FILE, WORKFLOW_RUNS_FILE, HistoryWriter
from chaos.nemesis import NEMESES, Context, Nemesis, NoEffect
from chaos.topology import PROXY_HOST, Topology
from chaos.workload import (
    BEAT_S,
    OUTPUT_BYTES,
    RECORDED_JOBS,
    SCHEDULED_JOBS,
    SELECTED_ZONE,
    WORKFLOW_TASK_JOBS,
    WORKFLOWS,
    Workload,
    run_jobs,
    spec_digest,
    workflows,
)
from wloadctl.client import Client
from wloadctl.proto.v1 import auth_pb2, runs_pb2, workflows_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

ACTIVE = {runs_pb2.PENDING, runs_pb2.QUEUED, runs_pb2.DISPATCHED, runs_pb2.RUNNING, runs_pb2.RETRY_WAIT}
RUNNER_ERROR_FILE = "runner-error.txt"
WORKFLOW_RUNS_LIMIT = 1000  # the most ListWorkflowRuns answers (newest first)
ALIVE_WINDOW_NS = int(BEAT_S * 8 * 1e9)  # eight beats


class RunAborted(Exception):
    """The run ended before its checks could judge it.

    ``why``: what failed, then each replica or agent that had exited, with its exit status, log
    and the error lines of that log. ``out``: the results folder (None if it could not be made).
    """

    def __init__(self, why: str, out: Path | None) -> None:
        super().__init__(why)
        self.why = why
        self.out = out


class ProcessExited(RuntimeError):
    """A process the runner was waiting on has exited; waiting longer cannot help."""


@dataclass
class Scenario:
    nemeses: list[str]
    seconds: float = 120.0
    seed: int = 0
    replicas: int = 3
    agents: int = 2
    results: Path = Path("chaos/results")
    recovery_s: float = 90.0
    network: str = "auto"      # auto | netns | loopback
    overlap: float = 0.5       # chance that a turn adds a second fault while the first is active
    # Raft log entries between snapshots: low enough that a scenario takes several and a replica
    # that was down or cut off for a few seconds is brought back by installing one.
    compaction_entries: int = 500


def _log_time_ns(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1e9)


def _agent_epochs(cluster: LocalCluster, out: Path) -> None:
    """Adoptions and refusals of epochs, from the agents' JSON logs."""
    with open(out, "w") as f:
        for a in cluster.agents:
            for line in a.log_path.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                rec = json.loads(line)
                if rec.get("msg") == "adopted epoch":
                    f.write(json.dumps({"agent": a.agent_id, "epoch": rec["epoch"],
                                        "time_ns": rec.get("time_ns") or _log_time_ns(rec["ts"])}) + "\n")
                elif rec.get("msg") == "refused a message with a stale epoch":
                    f.write(json.dumps({"agent": a.agent_id, "rejected_epoch": rec["epoch"],
                                        "highest": rec["highest_epoch"],
                                        "time_ns": rec.get("time_ns") or _log_time_ns(rec["ts"])}) + "\n")


def run(sc: Scenario) -> tuple[bool, Path, list[Finding]]:
    """Run one scenario and check it: (all checks passed, results folder, findings).

    Raises RunAborted, and nothing else, when the run cannot reach its checks.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # Replica configs hold the paths of their files and the server resolves relative ones against
    # the config's own folder: every path the run hands out must be absolute.
    out = sc.results.resolve() / f"{stamp}-{'+'.join(sc.nemeses) or 'none'}-seed{sc.seed}"
    try:
        return _run(sc, out)
    except RunAborted:
        raise
    except Exception as e:  # outside the processes' lifetime: preparing the run, or judging it
        _save_stack(out)
        raise RunAborted(f"{type(e).__name__}: {e}", out if out.is_dir() else None) from e


def _save_stack(out: Path) -> None:
    """The runner's own stack, for whoever debugs the runner; the user sees the diagnosis."""
    with contextlib.suppress(OSError):
        (out / RUNNER_ERROR_FILE).write_text(traceback.format_exc())


def _run(sc: Scenario, out: Path) -> tuple[bool, Path, list[Finding]]:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(sc.seed)
    exec_dir = out / "executions"
    exec_dir.mkdir()
    topo = Topology.choose(out, sc.network)
    names, skipped = _runnable(sc.nemeses, topo)
    nemeses: list[Nemesis] = [NEMESES[n]() for n in names]
    events: list[dict[str, object]] = []
    errors: list[str] = []
    workload: Workload | None = None
    history = HistoryWriter(out / "history.jsonl")
    cluster: LocalCluster | None = None
    disk_prepared = False
    failure = ""
    exited: list[str] = []
    settled_ns = 0  # when every run was final, on the runner's wall clock (the agents' records use the same)
    members: list[str] = []
    cleanup_errors: list[str] = []
    try:
        topo.start()
        cluster = LocalCluster(out / "cluster", size=sc.replicas, place=topo.place, tls_names=topo.tls_names(),
                               raft_settings={"compaction_min_entries": sc.compaction_entries})
        if any(n.needs_replica_proxies for n in nemeses):
            topo.front_replicas(cluster)
        if "disk-full" in names:
            from chaos import disk

            disk.prepare(cluster.replicas)
            disk_prepared = True
        cluster.start(wait=False)
        # The first admin credential (bootstrap waits for a leader), then the leader as it reports itself.
        _await(cluster, lambda: cluster.ensure_admin(timeout=2) and cluster.leader(), 30,
               "a leader after starting the replicas")
        topo.proxy_agents(cluster)  # agents reach every replica through a proxy the nemeses control
        for i in range(sc.agents):
            # a1 alone matches chaos-picky's selector: its runs wait for it through its faults.
            zone = SELECTED_ZONE if i == 0 else f"z{i + 1}"
            agent = cluster.add_agent(f"a{i + 1}", capacity=8, lease_seconds=3.0, start=False, labels={"zone": zone})
            topo.point_agent(agent.config_path, cluster)
            agent.start()
        with cluster.client() as c:
            c.apply_jobs(run_jobs(exec_dir))
            c.apply_workflows(workflows(exec_dir))  # their tasks record themselves like the jobs
            _await(cluster, lambda: c.status().agents_confirmed == sc.agents, 60,
                   f"the {sc.agents} agents to confirm")
        ctx = Context(cluster, rng, topo.agent_proxies, replica_proxies=topo.replica_proxies, net=topo.net,
                      proxy_host=PROXY_HOST)
        workload = Workload([r.api_address for r in cluster.replicas], history, seed=sc.seed,
                            credentials=cluster.credentials(token=_workload_key(cluster)))
        workload.start()
        end = time.monotonic() + sc.seconds

        def note(nemesis: Nemesis, **what: object) -> None:
            events.append({"t": round(sc.seconds - (end - time.monotonic()), 2), "nemesis": nemesis.name, **what})

        def act(nemesis: Nemesis, step: str) -> None:
            # A fault that cannot be made or undone (a replica that will not stop on SIGTERM, say)
            # is a finding about the system, not a reason to abandon the run and its history.
            try:
                if step == "inject":
                    note(nemesis, inject=nemesis.inject(ctx))
                else:
                    nemesis.heal(ctx)
                    note(nemesis, heal=True)
            except NoEffect as e:
                note(nemesis, no_effect=str(e))
            except Exception as e:
                errors.append(f"{nemesis.name} {step}: {type(e).__name__}: {e}")
                note(nemesis, error=errors[-1])

        order = nemeses[:]
        rng.shuffle(order)  # every nemesis gets its turn (seeded order), then the cycle repeats
        turn = 0
        while time.monotonic() < end and nemeses:
            if not _quiet(end, rng.uniform(2, 5)):
                break
            active = [order[turn % len(order)]]
            turn += 1
            act(active[0], "inject")
            if len(order) > 1 and rng.random() < sc.overlap:  # two faults at once
                _quiet(end, rng.uniform(0.5, 2))
                second = order[turn % len(order)]
                turn += 1
                if second is not active[0]:
                    active.append(second)
                    act(second, "inject")
            _quiet(end, max(rng.uniform(*n.hold_s) for n in active))
            for nemesis in reversed(active):
                act(nemesis, "heal")
        _quiet(end, end - time.monotonic())
        workload.stop()
        for n in nemeses:  # everything heals at the end
            act(n, "heal")
        topo.heal()
        # Every fault is healed, so a process that is down now stopped on its own: said, then started.
        for name, proc, _log in _processes(cluster):
            if proc is not None and proc.poll() is not None:
                exited.append(f"{name} had exited with {_exit_status(proc.returncode)} and no fault explains it")
        for r in cluster.replicas:
            if not r.running:
                cluster.start(r, wait=False)
        for a in cluster.agents:
            a.start()
        # The scheduled jobs stop firing, so their last decided slot is final and their runs can end.
        with cluster.client(retry_for=60) as c:
            for name in SCHEDULED_JOBS:
                c.suspend_job(name)
        digests = _recover(cluster, sc)
        settled_ns = time.time_ns()
        members = _members(cluster)
        _collect(cluster, out, history, digests)
        # A process the agents failed to kill (or only signalled the shell of) still beats: give
        # it a few beats' time to show itself before the records are read.
        time.sleep(max(0.0, (settled_ns + ALIVE_WINDOW_NS - time.time_ns()) / 1e9))
        _collect_executions(out)
        _agent_epochs(cluster, out / "agent_epochs.jsonl")
    except Exception as e:
        # Before the cleanup below stops them: which processes had exited on their own, and why.
        failure = _diagnose(e, cluster)
        _save_stack(out)
    finally:
        steps: list[tuple[str, Callable[[], object]]] = []
        if workload is not None:
            steps.append(("stop the workload", workload.stop))
        steps.append(("close the history", history.close))
        if cluster is not None:
            steps.append(("stop the cluster", cluster.stop))
        steps.append(("remove the network", topo.stop))
        if disk_prepared and cluster is not None:
            from chaos import disk

            steps.append(("unmount the replicas' tmpfs", functools.partial(disk.release, cluster.replicas)))
        for step, fn in steps:
            # A failed cleanup must not hide the run's outcome: said, recorded, and the rest still done.
            try:
                fn()
            except Exception as e:
                cleanup_errors.append(f"cannot {step}: {type(e).__name__}: {e}")
                print(f"warning: {cleanup_errors[-1]}", file=sys.stderr, flush=True)
    (out / "nemesis.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    for r in cluster.replicas if cluster is not None else []:
        if r.log_path.exists():
            shutil.copy(r.log_path, out / f"{r.node_id}.log")
    base = {"seed": sc.seed, "nemeses": sc.nemeses, "ran": names, "skipped": skipped, "network": topo.mode,
            "why_loopback": topo.why_loopback, "seconds": sc.seconds, "replicas": sc.replicas,
            "cleanup_errors": cleanup_errors, "counters": _counters(out)}
    if failure:
        (out / "report.json").write_text(json.dumps({"ok": False, **base, "error": failure, "findings": [],
                                                     "faults": events}, indent=2))
        raise RunAborted(failure, out)
    # A leader paused for seconds is always replaced; when it wakes it still speaks for its old
    # epoch (a step-down notice at least), and agents on the new epoch must refuse it.
    paused = any(e.get("nemesis") == "pause-leader" and str(e.get("inject", "")).startswith("paused")
                 for e in events)
    data = RunData.load(out, expect_rejections=paused, orphan_kill=True, members=members, settled_ns=settled_ns,
                        recorded_jobs=RECORDED_JOBS | WORKFLOW_TASK_JOBS,
                        allowed_agents={"chaos-picky": frozenset({"a1"})},
                        output_bytes={"chaos-output": OUTPUT_BYTES}, scheduled_jobs=frozenset(SCHEDULED_JOBS),
                        clock_ahead_ms=_clock_ahead_ms(events), workflows=WORKFLOWS,
                        clocks_jumped=any(e.get("nemesis") == "clock-jump" and "inject" in e for e in events))
    findings = check_all(data)
    findings.append(Finding("nemesis_errors", not errors, f"{len(errors)} faults could not be made or healed"
                            if errors else "every fault was made and healed", errors[:20]))
    findings.append(faults_took_effect(events, names))
    findings.append(Finding("no_unexplained_exits", not exited, f"{len(exited)} processes stopped on their own"
                            if exited else "every process that stopped was stopped by a fault", exited[:20]))
    findings.append(logs_explained(out / "cluster", names))
    ok = all(f.ok for f in findings)
    report = {"ok": ok, **base, "findings": [f.__dict__ for f in findings], "faults": events}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return ok, out, findings


# Log messages counted in every scenario: paths of the protocol a matrix must have exercised.
COUNTED_MESSAGES = {"snapshots_installed": "installed snapshot",
                    "stale_messages_refused": "refused a message with a stale epoch"}


# Causes of run transitions counted the same way (the final runs' records).
COUNTED_CAUSES = {"attempts_lost": "retry after lost agent", "late_reports": "late report:",
                  "lost_in_agent_restarts": "restarted while attempt", "orphan_kills": "orphan",
                  "agent_rejections": "rejected by"}


def _clock_ahead_ms(events: list[dict[str, object]]) -> int:
    """The largest forward jump clock-jump gave a replica ("r2 clock +3600 s"), plus a second."""
    ahead = 0
    for e in events:
        match = re.search(r"clock \+(\d+) s", str(e.get("inject", ""))) if e.get("nemesis") == "clock-jump" else None
        if match:
            ahead = max(ahead, int(match.group(1)) * 1000 + 1000)
    return ahead


def _counters(out: Path) -> dict[str, int]:
    """How often the replicas and agents took the paths of COUNTED_MESSAGES and COUNTED_CAUSES, from
    their JSON logs and the final runs."""
    counts = dict.fromkeys([*COUNTED_MESSAGES, *COUNTED_CAUSES], 0)
    runs = out / "final_runs.jsonl"
    for line in runs.read_text().splitlines() if runs.exists() else []:
        for t in json.loads(line).get("transitions", []):
            for name, text in COUNTED_CAUSES.items():
                counts[name] += text in t.get("cause", "")
    wanted = {msg: name for name, msg in COUNTED_MESSAGES.items()}
    for log in sorted((out / "cluster").glob("*.log")):  # every replica's and agent's own log
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    name = wanted.get(json.loads(line).get("msg", ""))
                    if name:
                        counts[name] += 1
    return counts


def logs_explained(cluster_dir: Path, nemeses: list[str]) -> Finding:
    """No replica or agent logged a CRITICAL record, an exception or a line outside its JSON log
    (a raw traceback) that the scenario's faults do not explain: a fill disk explains the replica's
    "disk full" stop, nothing else is expected."""
    problems: list[str] = []
    for log in sorted(cluster_dir.glob("*.log")):
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line) if line.startswith("{") else None
            except ValueError:
                rec = None
            if not isinstance(rec, dict):
                problems.append(f"{log.name}:{number}: not a log record: {line[:200]}")
                continue
            level, msg = str(rec.get("level", "")).lower(), str(rec.get("msg", ""))
            if "disk-full" in nemeses and ("disk full" in msg or "No space left on device" in str(rec.get("exc"))):
                continue
            if level == "critical" or rec.get("exc"):
                exc = str(rec.get("exc") or "").strip().splitlines()
                why = f" ({exc[-1][:200]})" if exc else ""
                problems.append(f"{log.name}:{number}: {level.upper()} {msg[:200]}{why}")
    return Finding("logs_explained", not problems, f"{len(problems)} log lines no fault explains" if problems
                   else "no CRITICAL record, exception or stray output in any replica or agent log", problems[:20])


def faults_took_effect(events: list[dict[str, object]], nemeses: list[str]) -> Finding:
    """Each nemesis of the scenario made its fault at least once: turns that had no effect ("no
    leader", a refused transfer) are not faults, and a scenario whose faults never happened must
    not pass as if it had survived them."""
    made = {str(e["nemesis"]) for e in events if "inject" in e}
    idle = sorted({str(e["nemesis"]) for e in events if "no_effect" in e} - made)
    never = sorted(set(nemeses) - made)
    no_effect = sum(1 for e in events if "no_effect" in e)
    if never:
        return Finding("faults_took_effect", False, f"never made: {', '.join(never)}",
                       [f"{n}: {e['no_effect']}" for e in events for n in idle if e["nemesis"] == n][:20])
    return Finding("faults_took_effect", True, f"{sum(1 for e in events if 'inject' in e)} faults made, "
                   f"{no_effect} turns without effect", [])


def _await(cluster: LocalCluster, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """wait_for, but give up at once when a replica or agent has exited: nothing restarts it here."""
    def check() -> Any:
        gone = [name for name, proc, _log in _processes(cluster) if proc is not None and proc.poll() is not None]
        if gone:
            raise ProcessExited(f"{', '.join(gone)} exited while the runner waited for {what}")
        return predicate()

    return wait_for(check, timeout, what)


def _processes(cluster: LocalCluster) -> list[tuple[str, subprocess.Popen[bytes] | None, Path]]:
    """(name, process, log) of every replica and agent."""
    return ([(f"replica {r.node_id}", r.proc, r.log_path) for r in cluster.replicas]
            + [(f"agent {a.agent_id}", a.proc, a.log_path) for a in cluster.agents])


def _diagnose(e: Exception, cluster: LocalCluster | None) -> str:
    """What ended the run, and the own error of every replica or agent that had exited."""
    lines = [str(e) if isinstance(e, TimeoutError | ProcessExited) else f"{type(e).__name__}: {e}"]
    started = [(name, proc, log) for name, proc, log in (_processes(cluster) if cluster else []) if proc is not None]
    exited = [(name, proc, log) for name, proc, log in started if proc.poll() is not None]
    for name, proc, log in exited:
        lines.append(f"{name} exited with {_exit_status(proc.returncode)}; its log: {log}")
        lines += [f"    {line}" for line in _error_lines(log)]
    if started and not exited:
        lines.append("no replica or agent had exited")
    return "\n".join(lines)


def _exit_status(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"signal {-code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"signal {-code}"


# The last line of a Python traceback ("lmdb.MemoryError: ..."), which a process that died of an
# unexpected exception leaves as its own last word.
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(:|$)")


def _error_lines(log: Path, keep: int = 3, tail_bytes: int = 64 << 10) -> list[str]:
    """The last error lines of a replica's or agent's log: `error: ...` (before logging is set up),
    JSON records at level error or critical, and exception lines. Never a whole traceback."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - tail_bytes))
            text = f.read().decode(errors="replace")
    except OSError as e:
        return [f"(cannot read it: {e.strerror})"]
    found, last = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        shown, is_error = line, line.startswith("error:") or bool(_EXCEPTION_LINE.match(line))
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if isinstance(rec, dict):
                level = str(rec.get("level", "")).upper()
                exc = str(rec.get("exc", "")).strip().splitlines()
                shown = f"{level}: {rec.get('msg', '')}" + (f" ({exc[-1].strip()})" if exc else "")
                is_error = level in ("ERROR", "CRITICAL")
        shown = shown[:500]
        last = shown
        if is_error:
            found.append(shown)
    if found:
        return found[-keep:]
    return [f"(no error line; its last line: {last})" if last else "(empty)"]


def _runnable(names: list[str], topo: Topology) -> tuple[list[str], dict[str, str]]:
    """The nemeses this topology can run; the others with the reason they are skipped."""
    skipped = {}
    if topo.mode == "loopback":
        for n in names:
            if getattr(NEMESES[n], "needs_namespaces", False):
                skipped[n] = f"needs network namespaces ({topo.why_loopback})"
    if "disk-full" in names:
        from chaos import disk

        if why := disk.tmpfs_unavailable_reason():
            skipped["disk-full"] = f"needs a tmpfs per replica ({why})"
    for n, why in skipped.items():
        print(f"skipping nemesis {n}: {why}", flush=True)
    return [n for n in names if n not in skipped], skipped


def _quiet(end: float, seconds: float) -> bool:
    time.sleep(max(0.0, min(seconds, end - time.monotonic())))  # the fault schedule's own pacing
    return time.monotonic() < end


def _recover(cluster: LocalCluster, sc: Scenario) -> dict[str, tuple[int, str]]:
    """Wait until every run is final and every running replica has applied the same log; the
    digests then, for the equal_digests checker."""
    wait_for(cluster.leader, 60, "a leader after everything healed")

    def settled() -> dict[str, tuple[int, str]] | None:
        # The leader's view, and only once every replica has applied the same entries: a replica
        # that was cut off may not know the last runs yet and would call everything final.
        leader = cluster.leader()
        if leader is None:
            return None
        with cluster.client([leader.api_address], retry_for=0, timeout=5) as c:
            if c.status(server=leader.api_address).takeover_phase != "active":
                return None
            if any(r.state in ACTIVE for r in c.iter_runs(page_size=1000)):
                return None
            # a task held by a wait or waiting for its retry has no active run, but its workflow run goes on
            if any(w.state == workflows_pb2.WF_RUNNING for name in WORKFLOWS
                   for w in c.list_workflow_runs(name, WORKFLOW_RUNS_LIMIT).runs):
                return None
        digests = cluster.digests()
        # Equal applied indexes, not equal digests: a digest is read with its index in one
        # transaction, so different digests at one index never converge, and waiting for them
        # would turn a divergence into a timeout instead of an equal_digests finding.
        same_index = len({index for index, _ in digests.values()}) == 1
        return digests if same_index and len(digests) == sum(r.running for r in cluster.replicas) else None

    digests: dict[str, tuple[int, str]] = wait_for(
        settled, sc.recovery_s, "every run final on the leader and every replica at the same applied index",
        interval=0.5)
    return digests


def _collect(cluster: LocalCluster, out: Path, history: HistoryWriter, digests: dict[str, tuple[int, str]]) -> None:
    with cluster.client(retry_for=30) as c:
        index = history.invoke(99, "read_jobs", "final", {})
        listed = list(c.iter_jobs(domain="chaos", page_size=1000))
        history.complete(index, "ok", {"jobs": {j.spec.name: j.version for j in listed},
                                       "specs": {j.spec.name: spec_digest(j.spec) for j in listed}})
        with open(out / "final_runs.jsonl", "w") as f:
            for r in c.iter_runs(page_size=1000):
                f.write(json.dumps({
                    "run_id": r.run_id, "job": r.job_name, "state": runs_pb2.RunState.Name(r.state),
                    "attempt": r.attempt, "idempotency_key": r.idempotency_key, "slot_ms": r.slot_ms,
                    "created_ms": r.created_ms, "workflow_run_id": r.workflow_run_id, "task": r.task,
                    "transitions": [{"state": runs_pb2.RunState.Name(t.state), "time_ms": t.time_ms,
                                     "attempt": t.attempt, "agent": t.agent_id, "epoch": t.epoch,
                                     "cause": t.cause}
                                    for t in r.transitions]}) + "\n")
        schedules = {}
        for name, (every_s, grace_s) in SCHEDULED_JOBS.items():
            state = c.next_fire_times(name, count=1).state
            schedules[name] = {
                "every_ms": every_s * 1000, "grace_ms": grace_s * 1000, "last_slot_ms": state.last_slot_ms,
                "fired": state.fired, "misfired": state.misfired,
                "misfires": [{"first_slot_ms": m.first_slot_ms, "last_slot_ms": m.last_slot_ms, "count": m.count,
                              "reason": m.reason} for m in c.iter_misfires(name)]}
        (out / SCHEDULES_FILE).write_text(json.dumps(schedules, indent=1))
        _collect_workflow_runs(c, out / WORKFLOW_RUNS_FILE)
    (out / "digests.json").write_text(json.dumps({k: list(v) for k, v in digests.items()}))


def _collect_workflow_runs(c: Client, path: Path) -> None:
    """Every workflow run of WORKFLOWS with its tasks, oldest first (the list has no tasks: each run is read)."""
    with open(path, "w") as f:
        for name in WORKFLOWS:
            listed = c.list_workflow_runs(name, WORKFLOW_RUNS_LIMIT).runs
            if len(listed) >= WORKFLOW_RUNS_LIMIT:
                print(f"warning: {name} has {WORKFLOW_RUNS_LIMIT} workflow runs or more; only the newest are "
                      "checked", file=sys.stderr, flush=True)
            for listed_run in reversed(listed):
                w = c.get_workflow_run(listed_run.id)
                f.write(json.dumps({
                    "id": w.id, "workflow": w.workflow_name, "state": workflows_pb2.WorkflowRunState.Name(w.state),
                    "business_date": w.business_date, "params": dict(w.params), "created_ms": w.created_ms,
                    "ended_ms": w.ended_ms, "cause": w.cause,
                    "tasks": [{"name": t.name, "state": workflows_pb2.TaskState.Name(t.state), "run_id": t.run_id,
                               "previous_run_ids": list(t.previous_run_ids), "attempt": t.attempt,
                               "reason": t.reason, "chosen": list(t.chosen), "waiting_for": t.waiting_for,
                               "started_ms": t.started_ms, "ended_ms": t.ended_ms, "exit_code": t.exit_code}
                              for t in w.tasks]}) + "\n")


def _collect_executions(out: Path) -> None:
    with open(out / "executions.jsonl", "w") as f:
        for part in sorted((out / "executions").glob("exec-*.jsonl")):
            f.write(part.read_text())


def _members(cluster: LocalCluster) -> list[str]:
    """The replicas the cluster counts as members at the end: each must report a digest."""
    with cluster.client(retry_for=30) as c:
        return sorted(m.id for m in c.status().members)


def _workload_key(cluster: LocalCluster) -> str:
    """An API key for the workload: what a scheduling system's automation would hold, not the admin's."""
    if not cluster.secure:
        return ""
    with cluster.client(retry_for=30) as c:
        answer = c.create_api_key(auth_pb2.CreateApiKeyRequest(
            bindings=[auth_pb2.Binding(role="scheduling-admin", domains=["chaos"])], description="chaos workload"))
    return answer.token

"""Checkers: each turns the records of one chaos run into a Finding.

The set is open: a later checker (cron slots, dependency order, ...) is any object with a
``name`` and a ``check(data) -> Finding`` method, added with ``register``. Every checker must
accept empty inputs (a run may not produce every file) and must report concrete counter-examples
in ``details`` so a failure can be investigated without re-running the scenario.

Time bases differ between the records and the checkers only compare like with like unless
stated otherwise: the client history uses the workload's monotonic clock (checkers use its event
order, not its times), execution and epoch records use CLOCK_REALTIME of the agent's host, and
run transitions use the replicated state's command-batch time (the leader's clock).
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chaos.history import (
    DIGESTS_FILE,
    EPOCHS_FILE,
    EXECUTIONS_FILE,
    FINAL_RUNS_FILE,
    HISTORY_FILE,
    Digest,
    EpochAdopted,
    EpochRecord,
    EpochRejected,
    ExecutionRecord,
    FinalRun,
    Operation,
    load_agent_epochs,
    load_digests,
    load_executions,
    load_final_runs,
    load_history,
    pair_operations,
)

MAX_DETAILS = 20

# LOST counts as final: after healing nothing is left to retry it (a LOST run that would be retried
# passes through RETRY_WAIT), and which LOST runs the job's policy retries is not in the records.
FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "KILLED", "SKIPPED", "LOST"})
NON_FINAL_STATES = frozenset({"PENDING", "QUEUED", "DISPATCHED", "RUNNING", "RETRY_WAIT"})


@dataclass
class Finding:
    checker: str
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)  # at most MAX_DETAILS concrete counter-examples


@dataclass
class RunData:
    """Everything the checkers see of one run; any part may be empty."""

    operations: list[Operation] = field(default_factory=list)
    executions: list[ExecutionRecord] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    final_runs: list[FinalRun] = field(default_factory=list)
    digests: dict[str, Digest] = field(default_factory=dict)
    # set by the runner from the scenario: a leader changed while the old leader stayed alive
    expect_rejections: bool = False
    # set by the runner from the agents' config: agents kill their processes when they lose their lease
    orphan_kill: bool = False
    missing: list[str] = field(default_factory=list)  # input files absent from the results directory

    @classmethod
    def load(cls, results_dir: Path, *, expect_rejections: bool = False, orphan_kill: bool = False) -> RunData:
        """Read the records of ``results_dir``; a missing file reads as empty and is listed in ``missing``."""
        results_dir = Path(results_dir)
        data = cls(expect_rejections=expect_rejections, orphan_kill=orphan_kill)

        def present(name: str) -> Path | None:
            path = results_dir / name
            if path.exists():
                return path
            data.missing.append(name)
            return None

        if path := present(HISTORY_FILE):
            data.operations = pair_operations(load_history(path), str(path))
        if path := present(EXECUTIONS_FILE):
            data.executions = load_executions(path)
        if path := present(EPOCHS_FILE):
            data.epochs = load_agent_epochs(path)
        if path := present(FINAL_RUNS_FILE):
            data.final_runs = load_final_runs(path)
        if path := present(DIGESTS_FILE):
            data.digests = load_digests(path)
        return data


class Checker(Protocol):
    name: str

    def check(self, data: RunData) -> Finding: ...


REGISTRY: list[Checker] = []


def register(checker: Checker) -> Checker:
    """Add a checker to the ones ``check_all`` runs by default; names must be unique."""
    if any(c.name == checker.name for c in REGISTRY):
        raise ValueError(f"a checker named {checker.name!r} is already registered")
    REGISTRY.append(checker)
    return checker


def check_all(data: RunData, checkers: Iterable[Checker] | None = None) -> list[Finding]:
    """Run every checker (the registry by default); a checker that raises yields a failed Finding."""
    findings: list[Finding] = []
    for checker in REGISTRY if checkers is None else checkers:
        try:
            findings.append(checker.check(data))
        except Exception as exc:
            # one broken checker must fail the run visibly without hiding the other verdicts
            findings.append(Finding(checker.name, False, f"checker raised {type(exc).__name__}: {exc}",
                                    [f"{type(exc).__name__}: {exc}"]))
    return findings


def _verdict(checker: str, problems: list[str], ok_summary: str, what: str) -> Finding:
    if not problems:
        return Finding(checker, True, ok_summary, [])
    shown = f" (first {MAX_DETAILS} shown)" if len(problems) > MAX_DETAILS else ""
    return Finding(checker, False, f"{len(problems)} {what}{shown}", problems[:MAX_DETAILS])


def _op_ref(op: Operation) -> str:
    return f"op {op.invoke_index} (process {op.process}, key {op.key!r})"


def _may_follow(op: Operation, earlier: Operation) -> bool:
    """Whether ``op`` may have taken effect after ``earlier``: it did not complete before ``earlier`` was invoked."""
    return op.complete_index is None or op.complete_index > earlier.invoke_index


def _acknowledged_before(op: Operation, read: Operation) -> bool:
    """Whether ``op`` completed ok before ``read`` was invoked, so the read must reflect it."""
    return op.type == "ok" and op.complete_index is not None and op.complete_index < read.invoke_index


def _may_precede_read(op: Operation, read: Operation) -> bool:
    """Whether ``op`` may have taken effect before ``read``: it was invoked before the read completed."""
    return read.complete_index is None or op.invoke_index < read.complete_index


# --- 1. acknowledged writes ----------------------------------------------------------------------


class AcknowledgedWrites:
    """Acknowledged job writes survive into the final read.

    The final read is the ``read_jobs`` that completed ``ok`` last. Only writes that completed
    before it was invoked are *acknowledged* for this check; writes that completed later, and
    ``info`` writes, may or may not be visible. ``fail`` writes are treated as never applied and
    can explain nothing. Per job name, with ``F`` the final read's version (or absent):

    * an ok ``apply_job`` acknowledged with version ``v``: if present, ``F >= v`` (versions only
      grow per name, deletes included); if absent, some non-failed ``delete_job`` of that name that
      did not complete before the apply was invoked (so may be ordered after it) must exist;
    * an ok ``delete_job``: if present, some non-failed ``apply_job`` of that name, invoked before
      the read completed and not completed before the delete was invoked, must exist;
    * a name whose ``apply_job`` operations all failed must be absent.

    Names no operation wrote are ignored (pre-existing jobs). No ok final read while writes were
    acknowledged is a failure.

    Proves: no acknowledged apply or delete was lost or rolled back as seen by the final read.
    Cannot prove: anything about intermediate states (a write lost and later redone by another
    write passes), that the stored spec is the one sent (the read carries versions only), or
    linearizability of the whole history.
    """

    name = "acknowledged_writes"

    def check(self, data: RunData) -> Finding:
        writes = [op for op in data.operations if op.f in ("apply_job", "delete_job")]
        reads = [op for op in data.operations if op.f == "read_jobs" and op.type == "ok"]
        acknowledged = [op for op in writes if op.type == "ok"]
        if not reads:
            if not acknowledged:
                return Finding(self.name, True, "nothing to check: no acknowledged writes and no final read", [])
            return Finding(self.name, False, f"no ok read_jobs: {len(acknowledged)} acknowledged writes unverified",
                           [f"{op.f} {op.get('name')} {_op_ref(op)} acknowledged, no final read to check it against"
                            for op in acknowledged[:MAX_DETAILS]])
        final = max(reads, key=lambda op: op.complete_index or 0)
        jobs = final.result.get("jobs")
        if not isinstance(jobs, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in jobs.values()):
            return Finding(self.name, False, "final read malformed",
                           [f"read_jobs {_op_ref(final)} has no {{name: version}} 'jobs' mapping: {jobs!r:.200}"])

        problems: list[str] = []
        by_name: dict[str, list[Operation]] = defaultdict(list)
        for op in writes:
            name = op.get("name")
            if isinstance(name, str) and name:
                by_name[name].append(op)
            elif op.type != "fail":
                problems.append(f"{op.f} {_op_ref(op)} has no job name in its value")

        for name, ops in by_name.items():
            version: int | None = jobs.get(name)
            effective = [op for op in ops if op.type != "fail" and _may_precede_read(op, final)]
            for op in ops:
                if not _acknowledged_before(op, final):
                    continue
                if op.f == "apply_job":
                    acked = op.get("version")
                    if version is None:
                        if not any(d.f == "delete_job" and _may_follow(d, op) for d in effective):
                            problems.append(f"apply_job {name} {_op_ref(op)} acknowledged version {acked} but {name} "
                                            f"is absent from the final read and no later delete_job could explain it")
                    elif isinstance(acked, int) and version < acked:
                        problems.append(f"apply_job {name} {_op_ref(op)} acknowledged version {acked} but the final "
                                        f"read has version {version}")
                elif version is not None and not any(a.f == "apply_job" and _may_follow(a, op) for a in effective):
                    problems.append(f"delete_job {name} {_op_ref(op)} acknowledged but the final read has {name} at "
                                    f"version {version} and no later apply_job could explain it")
            failed = [op for op in ops if op.f == "apply_job" and op.type == "fail"]
            if version is not None and failed and not any(op.f == "apply_job" for op in effective):
                problems.append(f"apply_job {name} {_op_ref(failed[0])} failed but the final read has {name} at "
                                f"version {version} and no other apply_job of it could have succeeded")
        checked = sum(1 for op in acknowledged if _acknowledged_before(op, final))
        return _verdict(self.name, problems, f"{checked} acknowledged writes over {len(by_name)} jobs agree with the "
                        f"final read {_op_ref(final)}", "acknowledged writes contradicted by the final read")


# --- 2. no double execution ----------------------------------------------------------------------


class NoDoubleExecution:
    """No (run, attempt) was started twice.

    Proves: among the recorded ``start`` records, each (run, attempt) appears at most once,
    whichever agents and epochs wrote them. Cannot prove: anything about starts whose record never
    reached the file (a process killed before appending, an agent whose records were lost), nor
    that different attempts of a run did not run concurrently (see ``no_overlap``).
    """

    name = "no_double_execution"

    def check(self, data: RunData) -> Finding:
        starts: dict[tuple[str, int], list[ExecutionRecord]] = defaultdict(list)
        for rec in data.executions:
            if rec.event == "start":
                starts[(rec.run, rec.attempt)].append(rec)
        problems = [
            f"{run} attempt {attempt} started {len(recs)} times: "
            + ", ".join(f"on {r.agent} epoch {r.epoch} at {r.time_ns}" for r in sorted(recs, key=lambda r: r.time_ns))
            for (run, attempt), recs in sorted(starts.items())
            if len(recs) > 1
        ]
        return _verdict(self.name, problems, f"{len(starts)} attempts started once each", "attempts started twice")


# --- 3. epochs -----------------------------------------------------------------------------------


class NoStaleEpochStart:
    """No process was started under an epoch older than one its agent had already seen.

    For each ``start`` record of agent A with epoch ``e`` at time ``t`` (the time the agent accepted
    the assignment when the record carries it: that is when the agent checks the fence; the process
    itself may exec a few ms later), the highest epoch A is
    known to have held strictly before ``t`` is the maximum of its adopted epochs and of the
    ``highest`` of its rejection records with ``time_ns < t``; the start must have ``e >=`` that.

    Proves: no agent started a run with a stale epoch after adopting a newer one, as far as the
    epoch log shows. Both times come from the same host's CLOCK_REALTIME, so skew between hosts
    does not matter, but a clock step on that host (a clock nemesis) can hide or invent a
    violation. Cannot prove: anything for agents or adoptions missing from the log, nor that the
    epoch in the start record is the one the dispatch actually carried.
    """

    name = "no_stale_epoch_start"

    def check(self, data: RunData) -> Finding:
        seen: dict[str, list[tuple[int, int]]] = defaultdict(list)  # agent -> (time_ns, epoch known held)
        for rec in data.epochs:
            epoch = rec.epoch if isinstance(rec, EpochAdopted) else rec.highest
            seen[rec.agent].append((rec.time_ns, epoch))
        # per agent: times, and the running maximum epoch with the time it was first seen
        timeline: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
        for agent, recs in seen.items():
            recs.sort()
            best: list[tuple[int, int]] = []
            for t, epoch in recs:
                best.append((epoch, t) if not best or epoch > best[-1][0] else best[-1])
            timeline[agent] = ([t for t, _ in recs], best)

        problems: list[str] = []
        starts = [rec for rec in data.executions if rec.event == "start"]
        for rec in starts:
            if rec.agent not in timeline:
                continue
            times, best = timeline[rec.agent]
            decided = rec.accepted_ns or rec.time_ns
            i = bisect.bisect_left(times, decided)  # records strictly before the decision
            if i and rec.epoch < best[i - 1][0]:
                highest, since = best[i - 1]
                problems.append(f"{rec.run} attempt {rec.attempt} started on {rec.agent} at {rec.time_ns} with epoch "
                                f"{rec.epoch}, but {rec.agent} had held epoch {highest} since {since}")
        return _verdict(self.name, problems, f"{len(starts)} starts carry an epoch no older than their agent's",
                        "starts under a stale epoch")


class StaleRejectionsObserved:
    """Agents refused stale messages when the scenario should have produced some.

    Only meaningful when the runner sets ``expect_rejections`` (a leader change with the old leader
    still alive); otherwise reports ok with "not expected in this run". Then ok iff the epoch log
    has at least one rejection record. Proves: the stale-epoch fencing path was exercised, so a
    passing ``no_stale_epoch_start`` is not vacuous. Cannot prove: that every stale message was
    refused, nor that the old leader actually sent one (a quiet old leader fails this check).
    """

    name = "stale_rejections_observed"

    def check(self, data: RunData) -> Finding:
        if not data.expect_rejections:
            return Finding(self.name, True, "not expected in this run", [])
        rejections = [rec for rec in data.epochs if isinstance(rec, EpochRejected)]
        if rejections:
            agents = sorted({rec.agent for rec in rejections})
            return Finding(self.name, True, f"{len(rejections)} stale messages rejected by {', '.join(agents)}", [])
        adopted: dict[str, list[int]] = defaultdict(list)
        for rec in data.epochs:
            if isinstance(rec, EpochAdopted):
                adopted[rec.agent].append(rec.epoch)
        details = [f"{agent} adopted epochs {', '.join(map(str, sorted(epochs)))} and rejected none"
                   for agent, epochs in sorted(adopted.items())] or ["the agent epoch log is empty"]
        return _verdict(self.name, details, "", "agents saw a leader change and no stale message was rejected")


# --- 4. no overlap -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Interval:
    attempt: int
    agent: str
    start: int
    end: int | None  # None: open, the process may still have been running at any later time
    end_source: str

    def describe(self) -> str:
        end = "open (no end record)" if self.end is None else f"{self.end} ({self.end_source})"
        return f"attempt {self.attempt} on {self.agent} [{self.start} .. {end}]"


class NoOverlap:
    """Different attempts of one run never executed at the same time.

    Each (run, attempt) with a ``start`` record gets the interval [earliest start, latest end) in
    nanoseconds. With no ``end`` record the process was killed or lost and its end is unknown:
    if the runner set ``orphan_kill`` (agents kill their processes when their lease expires, before
    the cluster can declare the attempt LOST) the end is bounded by the earliest LOST transition of
    that attempt in the final state; otherwise, or without such a transition, the interval is open
    and overlaps every later attempt. Two intervals overlap when each starts before the other ends;
    touching intervals do not overlap.

    Proves: no two recorded attempts of a run overlapped, up to clock agreement. Start/end records
    of different attempts may come from different hosts' CLOCK_REALTIME and the LOST bound from the
    leader's clock, so an overlap shorter than the clock skew goes unseen and a large skew can
    report a false one. Cannot prove: anything about attempts with no start record, and the LOST
    bound is only as sound as the agents' kill-before-LOST guarantee it assumes.
    """

    name = "no_overlap"

    def check(self, data: RunData) -> Finding:
        starts: dict[tuple[str, int], list[ExecutionRecord]] = defaultdict(list)
        ends: dict[tuple[str, int], list[int]] = defaultdict(list)
        for rec in data.executions:
            if rec.event == "start":
                starts[(rec.run, rec.attempt)].append(rec)
            else:
                ends[(rec.run, rec.attempt)].append(rec.time_ns)
        lost_at: dict[tuple[str, int], int] = {}
        if data.orphan_kill:
            for run in data.final_runs:
                for t in run.transitions:
                    if t.state == "LOST":
                        key = (run.run_id, t.attempt)
                        lost_at[key] = min(lost_at.get(key, t.time_ms), t.time_ms)

        by_run: dict[str, list[_Interval]] = defaultdict(list)
        for (run, attempt), recs in starts.items():
            first = min(recs, key=lambda r: r.time_ns)
            end, source = None, ""
            if ends.get((run, attempt)):
                end, source = max(ends[(run, attempt)]), "end record"
            elif (run, attempt) in lost_at:
                end, source = lost_at[(run, attempt)] * 1_000_000, "LOST bound"
            by_run[run].append(_Interval(attempt, first.agent, first.time_ns, end, source))

        problems: list[str] = []
        for run, intervals in sorted(by_run.items()):
            intervals.sort(key=lambda iv: (iv.start, iv.attempt))
            for i, a in enumerate(intervals):
                for b in intervals[i + 1:]:
                    # sorted by start, so b.start >= a.start: they overlap iff b starts before a ends
                    if a.attempt != b.attempt and (a.end is None or b.start < a.end):
                        problems.append(f"{run}: {a.describe()} overlaps {b.describe()}")
        attempts = sum(len(v) for v in by_run.values())
        return _verdict(self.name, problems, f"{attempts} attempts of {len(by_run)} runs never overlapped",
                        "overlapping attempts")


# --- 5. no stuck runs ----------------------------------------------------------------------------


class NoStuckRuns:
    """After recovery every run is in a final state.

    Final: SUCCEEDED, FAILED, TIMED_OUT, KILLED, SKIPPED, LOST. Any other state (PENDING, QUEUED,
    DISPATCHED, RUNNING, RETRY_WAIT, or one this checker does not know) is reported. Proves: the
    healed cluster left no run behind in the final snapshot. Cannot prove: that a run would not
    have finished given more time (the runner decides how long to wait), nor anything about runs
    the final state does not list (see ``acknowledged_runs_final``).
    """

    name = "no_stuck_runs"

    def check(self, data: RunData) -> Finding:
        problems = [
            f"{run.run_id} (job {run.job}, attempt {run.attempt}) is "
            + (run.state if run.state in NON_FINAL_STATES else f"in unknown state {run.state!r}")
            for run in data.final_runs
            if run.state not in FINAL_STATES
        ]
        return _verdict(self.name, problems, f"all {len(data.final_runs)} runs are final", "runs not final")


# --- 6. equal digests ----------------------------------------------------------------------------


class EqualDigests:
    """All replicas report the same applied index and state digest after healing.

    Proves: the replicas converged to the same state (as far as the digest covers it). Cannot
    prove: that the common state is correct (the other checkers judge that), nor anything about
    replicas that reported no digest.
    """

    name = "equal_digests"

    def check(self, data: RunData) -> Finding:
        if not data.digests:
            return Finding(self.name, True, "nothing to check: no digests", [])
        listing = [f"{replica}: applied index {d.applied_index}, digest {d.digest}"
                   for replica, d in sorted(data.digests.items())]
        indexes = {d.applied_index for d in data.digests.values()}
        if len(indexes) > 1:
            return Finding(self.name, False, f"applied indexes differ: {', '.join(map(str, sorted(indexes)))}", listing)
        digests = {d.digest for d in data.digests.values()}
        if len(digests) > 1:
            return Finding(self.name, False, f"{len(digests)} different digests at applied index {indexes.pop()}",
                           listing)
        return Finding(self.name, True, f"{len(data.digests)} replicas agree at applied index {indexes.pop()}", [])


# --- 7. acknowledged runs final ------------------------------------------------------------------


class AcknowledgedRunsFinal:
    """Every acknowledged trigger produced a run that exists, for that job, in a final state.

    For each ``trigger_run`` that completed ``ok``: its ``run_id`` is in the final state, the run's
    job matches the triggered one (when both are known), and its state is final (as in
    ``no_stuck_runs``). Proves: no acknowledged run was lost or left unfinished. Cannot prove:
    that the run executed (a SKIPPED or LOST run is final), nor anything about ``info`` triggers.
    """

    name = "acknowledged_runs_final"

    def check(self, data: RunData) -> Finding:
        runs = {run.run_id: run for run in data.final_runs}
        triggers = [op for op in data.operations if op.f == "trigger_run" and op.type == "ok"]
        problems: list[str] = []
        for op in triggers:
            run_id: Any = op.result.get("run_id")
            job = op.get("job")
            if not isinstance(run_id, str) or not run_id:
                problems.append(f"trigger_run {_op_ref(op)} completed ok without a run_id")
                continue
            run = runs.get(run_id)
            if run is None:
                problems.append(f"{run_id} (job {job}, trigger {_op_ref(op)}) is missing from the final runs")
            elif isinstance(job, str) and job and run.job and run.job != job:
                problems.append(f"{run_id} was triggered for job {job} by {_op_ref(op)} but is a run of {run.job}")
            elif run.state not in FINAL_STATES:
                problems.append(f"{run_id} (job {job}, trigger {_op_ref(op)}) is {run.state}, not final")
        return _verdict(self.name, problems, f"{len(triggers)} acknowledged runs are final",
                        "acknowledged runs missing or not final")


class MonotonicStateTime:
    """State time never moves backwards, even when a leader's wall clock jumps back.

    Runs are numbered in commit order, and each run's first transition carries the state time
    of the entry that created it: over runs in id order those times must never decrease.
    Proves: the clamp in apply() (and the leader's stamping) held across leader changes and
    clock jumps. Cannot prove: anything about commands that created no run.
    """

    name = "monotonic_state_time"

    def check(self, data: RunData) -> Finding:
        def seq(run: FinalRun) -> int:
            return int(run.run_id[1:]) if run.run_id[1:].isdigit() else -1

        runs = sorted((r for r in data.final_runs if r.transitions and seq(r) >= 0), key=seq)
        problems = [f"{b.run_id} was created at {b.transitions[0].time_ms} ms, before {a.run_id} "
                    f"({a.transitions[0].time_ms} ms)"
                    for a, b in itertools.pairwise(runs) if b.transitions[0].time_ms < a.transitions[0].time_ms]
        return _verdict(self.name, problems, f"creation times of {len(runs)} runs never decrease",
                        "runs created with an earlier state time than the run before them")


for _checker in (AcknowledgedWrites(), NoDoubleExecution(), NoStaleEpochStart(), StaleRejectionsObserved(),
                 NoOverlap(), NoStuckRuns(), EqualDigests(), AcknowledgedRunsFinal(), MonotonicStateTime()):
    register(_checker)

"""Checkers: each turns the records of one chaos run into a Finding.

The set is open: a later checker (cron slots, dependency order, ...) is any object with a
``name`` and a ``check(data) -> Finding`` method, added with ``register``. Every checker must
accept empty inputs (a run may not produce every file) and must report concrete counter-examples
in ``details`` so a failure can be investigated without re-running the scenario.

Time bases differ between the records and the checkers only compare like with like unless
stated otherwise: the client history uses the workload's monotonic clock (checkers use its event
order, not its times), execution and epoch records use CLOCK_REALTIME of the agent's host, run
transitions use the replicated state's command-batch time (the leader's clock), and ``settled_ns``
the runner's CLOCK_REALTIME.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chaos import linearizability as lin
from chaos.history import (
    DIGESTS_FILE,
    EPOCHS_FILE,
    EXECUTIONS_FILE,
    FINAL_RUNS_FILE,
    HISTORY_FILE,
    SCHEDULES_FILE,
    WORKFLOW_RUNS_FILE,
    Digest,
    EpochAdopted,
    EpochRecord,
    EpochRejected,
    ExecutionRecord,
    FinalRun,
    Operation,
    ScheduleRecord,
    TaskRecord,
    Transition,
    WorkflowRunRecord,
    load_agent_epochs,
    load_digests,
    load_executions,
    load_final_runs,
    load_history,
    load_schedules,
    load_workflow_runs,
    pair_operations,
)

MAX_DETAILS = 20

# LOST is not final: the state machine moves a run out of LOST in the command that lost it (QUEUED
# for another attempt, FAILED or KILLED as the lost policy says), so a run left LOST is stuck.
FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "KILLED", "SKIPPED"})
NON_FINAL_STATES = frozenset({"PENDING", "QUEUED", "DISPATCHED", "RUNNING", "RETRY_WAIT", "LOST"})


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
    # set by the runner from the agents' config: agents kill their processes when they lose their lease.
    # Kept so callers need not change; no checker reads it since no_overlap judges by the jobs' own records.
    orphan_kill: bool = False
    # set by the runner: the replicas that must all report a digest; empty = not known
    members: list[str] = field(default_factory=list)
    # set by the runner: CLOCK_REALTIME ns when it saw every run final and every replica at one applied
    # index (it collects the execution records ~1.5 s later); 0 = not measured
    settled_ns: int = 0
    # set by the runner: jobs whose processes write executions.jsonl and whose work exits 0 unless killed
    recorded_jobs: frozenset[str] = frozenset()
    # set by the runner: job -> the only agents its selector matches (jobs absent: any agent)
    allowed_agents: dict[str, frozenset[str]] = field(default_factory=dict)
    # set by the runner: job -> the exact size of the output its work prints
    output_bytes: dict[str, int] = field(default_factory=dict)
    # set by the runner: jobs fired by their schedules (each must have a ScheduleRecord)
    scheduled_jobs: frozenset[str] = frozenset()
    schedules: list[ScheduleRecord] = field(default_factory=list)
    # set by the runner: the largest forward jump of a leader's clock (clock-jump): a leader whose clock
    # is ahead decides slots early, so a start up to this much before its slot is explained
    clock_ahead_ms: int = 0
    # set by the runner: a replica's clock jumped (clock-jump). The state time then stands still while it
    # is ahead of every clock, so durations measured in state time (a retry's delay, a wait's timeout)
    # prove nothing; orders still do.
    clocks_jumped: bool = False
    # set by the runner: the workflows the workload triggers (their runs are read from WORKFLOW_RUNS_FILE)
    workflows: frozenset[str] = frozenset()
    workflow_runs: list[WorkflowRunRecord] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # input files absent from the results directory

    @classmethod
    def load(cls, results_dir: Path, *, expect_rejections: bool = False, orphan_kill: bool = False,
             members: Iterable[str] = (), settled_ns: int = 0, recorded_jobs: Iterable[str] = (),
             allowed_agents: dict[str, frozenset[str]] | None = None,
             output_bytes: dict[str, int] | None = None, scheduled_jobs: Iterable[str] = (),
             clock_ahead_ms: int = 0, workflows: Iterable[str] = (), clocks_jumped: bool = False) -> RunData:
        """Read the records of ``results_dir``; a missing file reads as empty and is listed in ``missing``."""
        results_dir = Path(results_dir)
        data = cls(expect_rejections=expect_rejections, orphan_kill=orphan_kill, members=list(members),
                   settled_ns=settled_ns, recorded_jobs=frozenset(recorded_jobs),
                   allowed_agents=dict(allowed_agents or {}), output_bytes=dict(output_bytes or {}),
                   scheduled_jobs=frozenset(scheduled_jobs), clock_ahead_ms=clock_ahead_ms,
                   workflows=frozenset(workflows), clocks_jumped=clocks_jumped)

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
        if data.scheduled_jobs and (path := present(SCHEDULES_FILE)):
            data.schedules = load_schedules(path)
        if data.workflows and (path := present(WORKFLOW_RUNS_FILE)):
            data.workflow_runs = load_workflow_runs(path)
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


def _by_attempt(executions: Iterable[ExecutionRecord], *events: str) -> dict[tuple[str, int], list[ExecutionRecord]]:
    """Execution records per (run, attempt) in time order, only of ``events`` when any are given."""
    found: dict[tuple[str, int], list[ExecutionRecord]] = defaultdict(list)
    for rec in sorted(executions, key=lambda r: r.time_ns):
        if not events or rec.event in events:
            found[(rec.run, rec.attempt)].append(rec)
    return found


def _transitions_of(run: FinalRun, attempt: int, *states: str) -> list[Transition]:
    """The transitions ``run`` made during ``attempt``, only into ``states`` when any are given."""
    return [t for t in run.transitions if t.attempt == attempt and (not states or t.state in states)]


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


def _epoch_timeline(epochs: Iterable[EpochRecord]) -> dict[str, tuple[list[int], list[tuple[int, int]]]]:
    """Per agent: its record times in order, and at each the highest epoch held so far with when it was first seen."""
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)  # agent -> (time_ns, epoch known held)
    for rec in epochs:
        # a rejection proves the agent held ``highest`` even if its adoption record is missing
        epoch = rec.epoch if isinstance(rec, EpochAdopted) else rec.highest
        seen[rec.agent].append((rec.time_ns, epoch))
    timeline: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
    for agent, recs in seen.items():
        recs.sort()
        best: list[tuple[int, int]] = []
        for t, epoch in recs:
            best.append((epoch, t) if not best or epoch > best[-1][0] else best[-1])
        timeline[agent] = ([t for t, _ in recs], best)
    return timeline


class NoStaleEpochStart:
    """No process was started under an epoch older than one its agent had already seen.

    For each ``start`` record of agent A with epoch ``e`` at time ``t`` (the time the agent accepted
    the assignment when the record carries it: that is when the agent checks the fence; the process
    itself may exec a few ms later), the highest epoch A is
    known to have held strictly before ``t`` is the maximum of its adopted epochs and of the
    ``highest`` of its rejection records with ``time_ns < t``; the start must have ``e >=`` that.
    When the epoch log was collected (it is not empty), a start by an agent with no record in it at
    all is reported too: every agent adopts an epoch before it accepts work, so the gap means lost
    records or an agent acting outside the fencing protocol.

    Proves: no agent started a run with a stale epoch after adopting a newer one, as far as the
    epoch log shows. Both times come from the same host's CLOCK_REALTIME, so skew between hosts
    does not matter, but a clock step on that host (a clock nemesis) can hide or invent a
    violation. Cannot prove: anything when the epoch log is empty, or about adoptions missing from
    a log that has some record of the agent, nor that the epoch in the start record is the one the
    dispatch actually carried.
    """

    name = "no_stale_epoch_start"

    def check(self, data: RunData) -> Finding:
        timeline = _epoch_timeline(data.epochs)
        problems: list[str] = []
        starts = [rec for rec in data.executions if rec.event == "start"]
        for rec in starts:
            if rec.agent not in timeline:
                if data.epochs:
                    problems.append(f"{rec.run} attempt {rec.attempt} on {rec.agent} started with epoch {rec.epoch} "
                                    f"but the epoch log has no adoption by {rec.agent}")
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
    """When one attempt's process is known to have been alive, from its own records."""

    attempt: int
    agents: str
    start: int
    end: int
    records: int

    def overlaps(self, other: _Interval) -> bool:
        # touching does not overlap: one process may write its end in the nanosecond the next one starts
        return self.start < other.end and other.start < self.end

    def describe(self) -> str:
        return f"attempt {self.attempt} on {self.agents} [{self.start} .. {self.end}] ({self.records} records)"


def _intervals(executions: Iterable[ExecutionRecord]) -> dict[str, list[_Interval]]:
    """Per run, each attempt's [earliest, latest] record time, in start order."""
    by_run: dict[str, list[_Interval]] = defaultdict(list)
    for (run, attempt), recs in _by_attempt(executions).items():
        agents = ",".join(sorted({r.agent for r in recs}))
        by_run[run].append(_Interval(attempt, agents, recs[0].time_ns, recs[-1].time_ns, len(recs)))
    for intervals in by_run.values():
        intervals.sort(key=lambda iv: (iv.start, iv.attempt))
    return by_run


class NoOverlap:
    """Different attempts of one run never executed at the same time, judged by the jobs' own records.

    Each (run, attempt) gets the interval [earliest, latest] of its ``start``, ``alive`` and ``end``
    records in nanoseconds; a start alone is [start, start]. The process beats about every 0.2 s
    while it lives, so a process that outlived the cluster's view of it (an orphan still running
    after its attempt was declared LOST) shows up by its own records. Two intervals overlap when
    each starts before the other ends; touching intervals do not overlap. The cluster's transitions
    are not used: the former bound by the LOST transition assumed the agents kill their processes
    before the cluster declares them lost, which is what this check has to test, so
    ``RunData.orphan_kill`` is no longer read.

    Proves: no two recorded attempts of a run overlapped, up to clock agreement and the beat
    interval. Records of different attempts may come from different hosts' CLOCK_REALTIME, so an
    overlap shorter than the skew goes unseen and a large skew can report a false one. Cannot
    prove: anything in the up to ~0.2 s between an attempt's last record and its death (a process
    killed right after a beat, or one alive without beating), nor anything about attempts that left
    no record (``outcomes_match_records`` judges those).
    """

    name = "no_overlap"

    def check(self, data: RunData) -> Finding:
        by_run = _intervals(data.executions)
        problems = [f"{run}: {a.describe()} overlaps {b.describe()}"
                    for run, intervals in sorted(by_run.items())
                    for a, b in itertools.combinations(intervals, 2) if a.overlaps(b)]
        attempts = sum(len(v) for v in by_run.values())
        return _verdict(self.name, problems, f"{attempts} attempts of {len(by_run)} runs never overlapped",
                        "overlapping attempts")


# --- 5. no stuck runs ----------------------------------------------------------------------------


class NoStuckRuns:
    """After recovery every run is in a final state.

    Final: SUCCEEDED, FAILED, TIMED_OUT, KILLED, SKIPPED. Any other state (PENDING, QUEUED,
    DISPATCHED, RUNNING, RETRY_WAIT, LOST, or one this checker does not know) is reported: LOST is
    left in the same command by a retry or the lost policy, so a run seen LOST is stuck. Proves: the
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

    When the runner names the ``members``, each of them must have reported a digest: a silent
    member is a failure, not a smaller sample (and no digests at all is a failure then). Digests
    of replicas outside ``members`` are compared too.

    Proves: the replicas converged to the same state (as far as the digest covers it), all of the
    members when they are known. Cannot prove: that the common state is correct (the other checkers
    judge that), nor, when ``members`` is empty, anything about replicas that reported no digest.
    """

    name = "equal_digests"

    def check(self, data: RunData) -> Finding:
        silent = sorted(set(data.members) - set(data.digests))
        if silent:
            return _verdict(self.name, [f"member {m} reported no digest" for m in silent], "",
                            f"of {len(set(data.members))} members reported no digest")
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
    that the run executed (a SKIPPED run is final; ``outcomes_match_records`` judges execution),
    nor anything about ``info`` triggers.
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


# --- 8. outcomes match the jobs' own records -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OwnRecords:
    """The records the jobs' processes wrote themselves, per (run, attempt) in time order."""

    starts: dict[tuple[str, int], list[ExecutionRecord]]
    ends: dict[tuple[str, int], list[ExecutionRecord]]
    killed: frozenset[str]  # runs a kill_run that may have been applied names

    @classmethod
    def of(cls, data: RunData) -> _OwnRecords:
        # a failed kill was refused, so only ok and info kills can explain a KILLED run
        killed = frozenset(op.get("run_id") for op in data.operations
                           if op.f == "kill_run" and op.type != "fail" and isinstance(op.get("run_id"), str))
        return cls(_by_attempt(data.executions, "start"), _by_attempt(data.executions, "end"), killed)

    def of_attempt(self, run: FinalRun, attempt: int) -> tuple[list[ExecutionRecord], list[ExecutionRecord]]:
        key = (run.run_id, attempt)
        return self.starts.get(key, []), self.ends.get(key, [])


def _dispatched(run: FinalRun, attempt: int) -> Transition | None:
    """The last DISPATCHED transition of ``attempt``: the agent and epoch it was last placed under."""
    found = _transitions_of(run, attempt, "DISPATCHED")
    return found[-1] if found else None


def _show(recs: Iterable[ExecutionRecord]) -> str:
    shown = [f"{r.event}{'' if r.code is None else f' code {r.code}'} on {r.agent} epoch {r.epoch} at {r.time_ns}"
             for r in recs]
    return ", ".join(shown) if shown else "no start or end record"


def _last_cause(run: FinalRun) -> str:
    return f"last cause: {run.transitions[-1].cause!r}" if run.transitions else "no transitions"


def _unmatched_start(rec: ExecutionRecord, runs: dict[str, FinalRun]) -> str | None:
    """Why a start record matches no dispatch of its attempt, or None when it does."""
    where = f"{rec.run} attempt {rec.attempt} on {rec.agent} epoch {rec.epoch} at {rec.time_ns}"
    run = runs.get(rec.run)
    if run is None:
        return f"start record for unknown run: {where}"
    dispatches = _transitions_of(run, rec.attempt, "DISPATCHED")
    here = [t for t in dispatches if t.agent == rec.agent]
    if not here:
        placed = ", ".join(f"{t.agent} epoch {t.epoch}" for t in dispatches) or "nowhere"
        return f"{where} started, but that attempt was dispatched to {placed}"
    # a re-sent attempt may start under a newer leader's epoch, never under an older one
    if all(t.epoch > rec.epoch for t in here):
        return f"{where} started under an epoch older than its dispatch there (epoch {min(t.epoch for t in here)})"
    return None


def _judge_succeeded(run: FinalRun, own: _OwnRecords) -> str | None:
    attempt = run.attempt
    placed = _dispatched(run, attempt)
    starts, ends = own.of_attempt(run, attempt)
    if placed is None:
        return f"{run.run_id} (job {run.job}) ended SUCCEEDED but attempt {attempt} has no DISPATCHED transition"
    if any(r.agent == placed.agent for r in starts) and any(r.agent == placed.agent and r.code == 0 for r in ends):
        return None
    return (f"{run.run_id} (job {run.job}) ended SUCCEEDED but attempt {attempt}, dispatched to {placed.agent}, has no "
            f"start and clean end (code 0) there in its own records: {_show(starts + ends)}")


def _judge_failed(run: FinalRun, own: _OwnRecords) -> str | None:
    attempt = run.attempt
    if _transitions_of(run, attempt, "LOST"):
        return None  # the lost policy failed it after a fault; the records cannot say more
    starts, ends = own.of_attempt(run, attempt)
    if any(r.code is not None and r.code != 0 for r in ends):
        return None
    if ends:
        return (f"{run.run_id} (job {run.job}) ended FAILED but the job's own records show attempt {attempt}: "
                f"{_show(starts + ends)} ({_last_cause(run)})")
    return (f"{run.run_id} (job {run.job}) ended FAILED but nothing explains it: attempt {attempt} was not LOST and "
            f"has no end record with a non-zero code ({_show(starts)}; {_last_cause(run)})")


def _judge_killed(run: FinalRun, own: _OwnRecords) -> str | None:
    attempt = run.attempt
    if run.run_id in own.killed or _transitions_of(run, attempt, "LOST"):
        return None
    if any("orphan" in t.cause.lower() for t in _transitions_of(run, attempt)):
        return None  # the agent's orphan policy killed it when its lease expired
    return (f"{run.run_id} (job {run.job}) ended KILLED but nothing explains it: no kill_run names it and attempt "
            f"{attempt} was neither LOST nor an orphan kill ({_last_cause(run)})")


def _judge_timed_out(run: FinalRun, own: _OwnRecords) -> str | None:
    _, ends = own.of_attempt(run, run.attempt)
    clean = [r for r in ends if r.code == 0]
    if not clean:
        return None
    return (f"{run.run_id} (job {run.job}) ended TIMED_OUT but attempt {run.attempt} finished cleanly: "
            f"{_show(clean)}")


# SKIPPED runs never ran, so their records have nothing to say
_OUTCOME_JUDGES: dict[str, Callable[[FinalRun, _OwnRecords], str | None]] = {
    "SUCCEEDED": _judge_succeeded, "FAILED": _judge_failed, "KILLED": _judge_killed, "TIMED_OUT": _judge_timed_out}


def _ran(run: FinalRun) -> list[int]:
    """The attempts of ``run`` the cluster saw RUNNING."""
    return sorted({t.attempt for t in run.transitions if t.state == "RUNNING"})


def _unstarted(run: FinalRun, own: _OwnRecords) -> tuple[int, list[str]]:
    """Attempts RUNNING without a start record: how many a LOST or KILLED transition excuses, and the rest."""
    excused, problems = 0, []
    for attempt in _ran(run):
        if own.of_attempt(run, attempt)[0]:
            continue
        # a kill or a lost agent may end the process before its first instruction
        if _transitions_of(run, attempt, "LOST", "KILLED"):
            excused += 1
        else:
            problems.append(f"{run.run_id} attempt {attempt} (job {run.job}) was RUNNING without a start record "
                            f"({_last_cause(run)})")
    return excused, problems


class RecordsExplainOutcomes:
    """The final state of each run of a recorded job is explained by the job's own records.

    Only runs of ``recorded_jobs`` are judged: their processes write ``executions.jsonl`` and their
    work exits 0 unless killed. With ``dispatched`` the last DISPATCHED transition of an attempt:

    * every ``start`` record (of any job) belongs to a known run and matches a DISPATCHED
      transition of its attempt on the same agent with an epoch no newer than the record's;
    * SUCCEEDED: the last attempt has a start and an end with code 0 on its dispatched agent;
    * FAILED: the last attempt was LOST (the lost policy failed it) or ended with a non-zero code;
    * KILLED: a non-failed ``kill_run`` names the run, or the last attempt was LOST or an orphan kill;
    * TIMED_OUT: the last attempt has no end with code 0;
    * an attempt seen RUNNING without a start record was LOST or KILLED (the process may die before
      its first instruction);
    * some attempt ran but there is no execution record at all: a failure, not a vacuous pass.

    Proves: the cluster did not invent outcomes (a success nobody ran, a failure of clean work, a
    kill nobody asked for) nor run attempts it never placed, as far as the processes recorded.
    Cannot prove: anything for jobs outside ``recorded_jobs``, which attempts a LOST transition
    covered up (the records of a LOST attempt are not judged beyond the start's dispatch), nor
    anything about transitions the state has dropped (it keeps the last 200 per run).
    """

    name = "outcomes_match_records"

    def check(self, data: RunData) -> Finding:
        if not data.recorded_jobs:
            return Finding(self.name, True, "nothing to check: no recorded jobs", [])
        runs = [run for run in data.final_runs if run.job in data.recorded_jobs]
        ran = [(run.run_id, attempt) for run in runs for attempt in _ran(run)]
        if ran and not data.executions:
            # the records were not collected (or not written): nothing here may pass for a clean run
            return Finding(self.name, False, f"no execution records although {len(ran)} attempts ran",
                           [f"{run} attempt {attempt} was RUNNING" for run, attempt in ran[:MAX_DETAILS]])
        own = _OwnRecords.of(data)
        by_id = {run.run_id: run for run in data.final_runs}
        problems = [p for recs in own.starts.values() for rec in recs if (p := _unmatched_start(rec, by_id))]
        excused = 0
        for run in runs:
            judge = _OUTCOME_JUDGES.get(run.state)
            if judge is not None and (problem := judge(run, own)):
                problems.append(problem)
            skipped, unstarted = _unstarted(run, own)
            excused += skipped
            problems.extend(unstarted)
        attempts = len({(run.run_id, t.attempt) for run in runs for t in run.transitions if t.attempt > 0})
        return _verdict(self.name, problems, f"{len(runs)} runs and {attempts} attempts of recorded jobs agree with "
                        f"their own records ({excused} attempts LOST or KILLED before a start record)",
                        "outcomes or starts the jobs' own records do not explain")


# --- 9. nothing alive at the end -----------------------------------------------------------------


class NothingAliveAtEnd:
    """No process of a final run was still running once everything had settled.

    The runner records ``settled_ns`` (its CLOCK_REALTIME) when it has seen every run final and
    every replica at one applied index, and collects the execution records about 1.5 s later. A
    job's process beats about every 0.2 s while it lives, so a ``start``, ``alive`` or ``end``
    record later than ``settled_ns`` of a run that is final is a process that outlived its run: an
    orphan the agent failed to kill, or a kill that only signalled the shell while the work went on.
    Without ``settled_ns`` the check fails rather than pass unmeasured.

    Proves: every process of a final run was gone, or at least silent, within a beat of the
    settling, as far as the collected records show. Compares the agents' clocks with the runner's
    (one host's in local clusters): a step or skew larger than the margin hides or invents a
    survivor. Cannot prove: that a process stopped when its run became final (only from
    ``settled_ns`` on), nor anything about a process alive without writing (its beat stopped) or
    whose records reach the file only after the collection.
    """

    name = "nothing_alive_at_end"

    def check(self, data: RunData) -> Finding:
        final = {run.run_id for run in data.final_runs if run.state in FINAL_STATES}
        if not data.settled_ns:
            if not data.final_runs:
                return Finding(self.name, True, "nothing to check: no runs", [])
            return Finding(self.name, False, "not measured: the runner did not record when the runs settled",
                           [f"{len(final)} final runs and {len(data.executions)} execution records left unjudged"])
        latest: dict[tuple[str, int, str], ExecutionRecord] = {}  # one finding per process, at its last sign of life
        for rec in sorted(data.executions, key=lambda r: r.time_ns):
            if rec.run in final and rec.time_ns > data.settled_ns:
                latest[(rec.run, rec.attempt, rec.agent)] = rec
        problems = [f"{run} attempt {attempt} on {agent} still alive {(rec.time_ns - data.settled_ns) // 1_000_000} ms "
                    f"after everything was final (last record: {rec.event} at {rec.time_ns})"
                    for (run, attempt, agent), rec in sorted(latest.items())]
        return _verdict(self.name, problems, f"no process of the {len(final)} final runs left a record after they "
                        f"settled at {data.settled_ns}", "processes still alive after every run was final")


# --- 10. one run per idempotency key -------------------------------------------------------------


def _shared_run_keys(runs: Iterable[FinalRun]) -> list[str]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        if run.idempotency_key:
            by_key[run.idempotency_key].append(run.run_id)
    return [f"idempotency key {key!r} is carried by {len(ids)} runs: {', '.join(ids)}"
            for key, ids in sorted(by_key.items()) if len(ids) > 1]


def _trigger_keys(triggers: Iterable[Operation], runs: dict[str, FinalRun]) -> list[str]:
    problems: list[str] = []
    for op in triggers:
        run = runs.get(str(op.result.get("run_id")))
        # a run missing from the final state is acknowledged_runs_final's finding, not this one's
        if run is not None and run.idempotency_key != op.key:
            carried = f"key {run.idempotency_key!r}" if run.idempotency_key else "no idempotency key"
            problems.append(f"{run.run_id} was returned by trigger_run {_op_ref(op)} but carries {carried}")
    return problems


def _replays(ops: Iterable[Operation], answer: str) -> tuple[int, int, list[str]]:
    """Ok calls grouped by idempotency key: (keys, repeated calls, keys whose calls got different ``answer``s)."""
    by_key: dict[str, list[Operation]] = defaultdict(list)
    for op in ops:
        if op.key:
            by_key[op.key].append(op)
    problems: list[str] = []
    for key, calls in sorted(by_key.items()):
        # a call that lacks the answer is reported by the checkers that need it
        answers = {repr(op.result[answer]) for op in calls if answer in op.result}
        if len(answers) > 1:
            shown = ", ".join(f"{op.result.get(answer)!r} ({_op_ref(op)})" for op in calls)
            problems.append(f"{len(calls)} ok {calls[0].f} calls with key {key!r} returned different {answer}s: "
                            f"{shown}")
    repeats = sum(len(calls) - 1 for calls in by_key.values())
    return len(by_key), repeats, problems


class OneRunPerKey:
    """One idempotency key, one effect: one run per trigger key, one answer per repeated call.

    (1) Non-empty idempotency keys are unique across the final runs. (2) The run an ok
    ``trigger_run`` returned carries that call's key, when the run is in the final state. (3) All
    ok ``trigger_run`` calls sharing a key returned the same run_id, and all ok ``apply_job`` calls
    sharing a key the same version (the workload repeats some calls with their key, as a client
    retry would). (4) Ok triggers while no final run carries any key is a failure: the records
    cannot tell (the keys were not exported), so the check must not pass.

    Proves: no key created two runs among those the final state lists, and the repeats seen were
    answered as replays. Cannot prove: anything about ``info`` or failed calls (a retry under a new
    key is a second run by design), that a replayed apply stored the same spec (answers carry
    versions only), nor uniqueness over runs the final state no longer lists.
    """

    name = "one_run_per_key"

    def check(self, data: RunData) -> Finding:
        triggers = [op for op in data.operations if op.f == "trigger_run" and op.type == "ok"]
        applies = [op for op in data.operations if op.f == "apply_job" and op.type == "ok"]
        keyed = [run for run in data.final_runs if run.idempotency_key]
        if triggers and not keyed:
            return _verdict(self.name, [f"trigger_run {_op_ref(op)} returned {op.result.get('run_id')}; no final run "
                                        "carries a key to check it against" for op in triggers], "",
                            "acknowledged triggers unverifiable: no final run carries an idempotency key")
        run_keys, run_repeats, run_problems = _replays(triggers, "run_id")
        job_keys, job_repeats, job_problems = _replays(applies, "version")
        by_id = {run.run_id: run for run in data.final_runs}
        problems = [*_shared_run_keys(keyed), *_trigger_keys(triggers, by_id), *run_problems, *job_problems]
        return _verdict(self.name, problems, f"{len(keyed)} run keys unique; {run_keys + job_keys} call keys checked, "
                        f"{run_repeats + job_repeats} repeated calls answered like the first",
                        "idempotency keys with more than one effect")


# --- definitions as written ----------------------------------------------------------------------


class FinalSpecs:
    """Each job in the final read holds the definition of the write that made its version, and each
    name's acknowledged versions grew in the order its writer wrote them.

    Apply operations carry ``spec`` (a digest of labels, env and command, ``spec_digest`` of the
    workload) and the final read carries ``specs`` {name: digest}. For a name at version V in the
    final read: the ok ``apply_job`` acknowledged with V must have the same digest; without one,
    some non-failed apply of that name (an ``info`` one) must have it. Per name, ok applies and
    deletes not marked ``repeat`` have strictly increasing versions in invoke order (each name has
    one writer, so its writes are sequential); a ``repeat`` (same key) returns its first answer.

    Proves: no acknowledged update was replaced by another write's content, none was reordered,
    and a retried write did not write twice. Cannot prove: anything for names written by more than
    one process, nor fields outside the digest.
    """

    name = "final_specs"

    def check(self, data: RunData) -> Finding:
        reads = [op for op in data.operations if op.f == "read_jobs" and op.type == "ok"]
        applies = [op for op in data.operations if op.f == "apply_job" and op.get("spec")]
        if not applies:
            return Finding(self.name, True, "nothing to check: no apply carried a spec digest", [])
        if not reads or not isinstance(reads[-1].result.get("specs"), dict):
            return Finding(self.name, False, "no final read with specs: the definitions cannot be checked",
                           [f"{len(applies)} applies carried spec digests"])
        final = max(reads, key=lambda op: op.complete_index or 0)
        versions, specs = final.result.get("jobs", {}), final.result["specs"]
        problems: list[str] = []
        by_name: dict[str, list[Operation]] = defaultdict(list)
        for op in data.operations:
            if op.f in ("apply_job", "delete_job") and isinstance(op.get("name"), str):
                by_name[op.get("name")].append(op)
        checked = 0
        for name, ops in sorted(by_name.items()):
            last = 0
            for op in sorted(ops, key=lambda o: o.invoke_index):
                version = op.result.get("version")
                if op.type != "ok" or op.value.get("repeat") or not isinstance(version, int):
                    continue
                if version <= last:
                    problems.append(f"{name}: {op.f} {_op_ref(op)} acknowledged version {version} after "
                                    f"version {last} had been acknowledged")
                last = max(last, version)
            version = versions.get(name)
            if version is None or name not in specs:
                continue
            checked += 1
            made = [op for op in ops if op.f == "apply_job" and op.type == "ok" and op.result.get("version") == version]
            if made:
                if any(op.get("spec") != specs[name] for op in made):
                    problems.append(f"{name} at version {version} holds spec {specs[name]} but "
                                    f"{_op_ref(made[0])} wrote {made[0].get('spec')} as that version")
            elif not any(op.f == "apply_job" and op.type != "fail" and op.get("spec") == specs[name] for op in ops):
                problems.append(f"{name} at version {version} holds spec {specs[name]}, which no apply of it wrote")
        return _verdict(self.name, problems, f"{checked} final definitions match their writes; version histories "
                        f"of {len(by_name)} names grew", "definitions or versions that contradict the writes")


# --- placement -----------------------------------------------------------------------------------


class PlacementRespectsSelectors:
    """Attempts of a job with an agent selector were only dispatched to agents it matches.

    Proves: every DISPATCHED transition of the jobs in ``allowed_agents`` names an allowed agent,
    and every start record of them was written on one. Cannot prove: that a run waiting for its
    agent would not have been placed elsewhere with more time.
    """

    name = "placement_respects_selectors"

    def check(self, data: RunData) -> Finding:
        if not data.allowed_agents:
            return Finding(self.name, True, "nothing to check: no job with a selector", [])
        jobs = {run.run_id: run.job for run in data.final_runs}
        problems, judged = [], 0
        for run in data.final_runs:
            allowed = data.allowed_agents.get(run.job)
            if allowed is None:
                continue
            for t in run.transitions:
                if t.state == "DISPATCHED":
                    judged += 1
                    if t.agent not in allowed:
                        problems.append(f"{run.run_id} (job {run.job}) attempt {t.attempt} was dispatched to "
                                        f"{t.agent}; its selector allows only {', '.join(sorted(allowed))}")
        for rec in data.executions:
            allowed = data.allowed_agents.get(jobs.get(rec.run, ""))
            if rec.event == "start" and allowed is not None and rec.agent not in allowed:
                problems.append(f"{rec.run} attempt {rec.attempt} started on {rec.agent}; its job's selector "
                                f"allows only {', '.join(sorted(allowed))}")
        return _verdict(self.name, problems, f"{judged} dispatches of jobs with selectors went to matching agents",
                        "placements outside a job's selector")


# --- logs ----------------------------------------------------------------------------------------


class LogsComplete:
    """The output read back through the API is the whole output the job printed.

    ``read_logs`` operations carry the run, the bytes read, ``complete`` and ``source``. For a run
    of a job in ``output_bytes`` whose read completed ok and ``complete``: the bytes read equal
    the job's output size. A read that was not complete (the agent holding the log unreachable:
    ``source`` "state", the capped tail) is counted, not judged; when every read was incomplete the
    check fails, since it proved nothing. Cannot prove: the bytes' content (only the size).
    """

    name = "logs_complete"

    def check(self, data: RunData) -> Finding:
        if not data.output_bytes:
            return Finding(self.name, True, "nothing to check: no job with a known output size", [])
        jobs = {run.run_id: run.job for run in data.final_runs}
        reads = [op for op in data.operations if op.f == "read_logs" and op.type == "ok"]
        problems, complete = [], 0
        for op in reads:
            run_id = op.get("run_id")
            expected = data.output_bytes.get(jobs.get(run_id, ""))
            if expected is None or not op.result.get("complete"):
                continue
            complete += 1
            if op.result.get("bytes") != expected:
                problems.append(f"{run_id}: read {op.result.get('bytes')} bytes of output through the API "
                                f"({op.result.get('source')}), the job printed {expected}")
        if reads and not complete and not problems:
            return Finding(self.name, False, f"none of {len(reads)} log reads was complete: nothing was proved", [])
        return _verdict(self.name, problems, f"{complete} complete log reads of {len(reads)} returned the whole output",
                        "log reads that lost or added output")


# --- scheduled firings ---------------------------------------------------------------------------


class SlotsExactlyOnce:
    """Every slot of a scheduled job fired exactly once or was recorded as a misfire.

    Proves, per scheduled job, from its first decided slot to the last one the cluster decided
    (it is suspended before the end): each slot has exactly one run or is inside one misfire
    record, never both, none is missing and none lies outside; the schedule's own counters agree;
    and the jobs' own records agree: every execution says it ran for its run's slot, and none
    started before its slot. Late firings (created more than the grace after their slot, which a
    slow commit under faults can cause) are counted, not failed. Cannot prove: that a misfire
    record's reason was the right one, nor anything about slots after the last decided one.
    """

    name = "slots_exactly_once"

    def check(self, data: RunData) -> Finding:
        if not data.scheduled_jobs:
            return Finding(self.name, True, "nothing to check: no scheduled job in this run", [])
        records = {r.job: r for r in data.schedules}
        starts: dict[str, list[ExecutionRecord]] = defaultdict(list)
        for rec in data.executions:
            if rec.event == "start":
                starts[rec.run].append(rec)
        problems: list[str] = []
        summary: list[str] = []
        for job in sorted(data.scheduled_jobs):
            rec = records.get(job)
            runs = [r for r in data.final_runs if r.job == job]
            if rec is None:
                problems.append(f"{job}: no schedule record (was it collected?)")
                continue
            if not runs:
                problems.append(f"{job}: no slot fired at all: nothing was proved")
                continue
            problems += self._job(job, rec, runs, starts, summary, data.clock_ahead_ms)
        return _verdict(self.name, problems, "; ".join(summary), "slot problems")

    @staticmethod
    def _job(job: str, rec: ScheduleRecord, runs: list[FinalRun], starts: dict[str, list[ExecutionRecord]],
             summary: list[str], clock_ahead_ms: int = 0) -> list[str]:
        problems: list[str] = []
        by_slot: dict[int, list[str]] = defaultdict(list)
        for run in runs:
            if not run.slot_ms:
                problems.append(f"{job}: {run.run_id} has no slot (the job only runs by its schedule)")
            else:
                by_slot[run.slot_ms].append(run.run_id)
        problems += [f"{job}: slot {slot} fired {len(ids)} times: {', '.join(ids)}"
                     for slot, ids in sorted(by_slot.items()) if len(ids) > 1]
        missed: set[int] = set()
        reasons: dict[str, int] = defaultdict(int)
        for m in rec.misfires:
            if m.count < 1 or m.first_slot_ms + (m.count - 1) * rec.every_ms != m.last_slot_ms:
                problems.append(f"{job}: misfire record {m.first_slot_ms}..{m.last_slot_ms} does not hold "
                                f"{m.count} slots {rec.every_ms} ms apart")
            slots = {m.first_slot_ms + i * rec.every_ms for i in range(max(0, m.count))}
            if slots & missed:
                problems.append(f"{job}: slots recorded as misfires twice: {sorted(slots & missed)[:5]}")
            missed |= slots
            reasons[m.reason] += m.count
        fired = set(by_slot)
        problems += [f"{job}: slot {slot} both fired ({', '.join(by_slot[slot])}) and recorded as a misfire"
                     for slot in sorted(fired & missed)]
        decided = fired | missed
        first, last = min(decided), rec.last_slot_ms
        expected = set(range(first, last + 1, rec.every_ms))
        problems += [f"{job}: slot {slot} neither fired nor recorded as a misfire"
                     for slot in sorted(expected - decided)]
        problems += [f"{job}: slot {slot} is outside the decided slots {first}..{last}"
                     for slot in sorted(decided - expected)]
        if rec.fired != len(fired) or rec.misfired != len(missed):
            problems.append(f"{job}: the schedule counts {rec.fired} fired and {rec.misfired} misfired, the runs and "
                            f"records show {len(fired)} and {len(missed)}")
        late = early = 0
        for run in runs:
            if run.slot_ms and run.created_ms - run.slot_ms > rec.grace_ms:
                late += 1
            for start in starts.get(run.run_id, []):
                if start.slot_ms != run.slot_ms:
                    problems.append(f"{job}: {run.run_id} attempt {start.attempt} ran for slot {start.slot_ms}, "
                                    f"the run's slot is {run.slot_ms}")
                started_ms = start.time_ns // 1_000_000
                if started_ms < run.slot_ms - clock_ahead_ms:
                    problems.append(f"{job}: {run.run_id} started at {started_ms} ms, before its slot {run.slot_ms}"
                                    + (f" by more than the leader's clock was ahead ({clock_ahead_ms} ms)"
                                       if clock_ahead_ms else ""))
                elif started_ms < run.slot_ms:
                    early += 1
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "none"
        ahead = f", {early} early by a leader clock ahead" if early else ""
        summary.append(f"{job}: {len(expected)} slots, {len(fired)} fired ({late} late{ahead}), {len(missed)} "
                       f"misfires ({why})")
        return problems


# --- workflows -----------------------------------------------------------------------------------

WORKFLOW_FINAL_STATES = frozenset({"WF_SUCCEEDED", "WF_FAILED", "WF_KILLED"})
TASK_FINAL_STATES = frozenset({"TASK_SUCCEEDED", "TASK_FAILED", "TASK_SKIPPED"})
_RUN_FAILED = frozenset({"FAILED", "TIMED_OUT", "KILLED"})


def _final_ms(run: FinalRun) -> int | None:
    """The state time of the transition that made ``run`` final (later ones are late reports)."""
    return next((t.time_ms for t in run.transitions if t.state in FINAL_STATES), None)


@dataclass
class _WorkflowTally:
    flows: int = 0
    settles: int = 0
    task_runs: int = 0
    retries: int = 0
    big: int = 0
    small: int = 0
    met_at_once: int = 0
    held: int = 0
    timed_out: int = 0


@dataclass
class _WorkflowContext:
    runs: dict[str, FinalRun]
    claimed: dict[tuple[str, str], list[str]]        # (workflow run, task) -> runs that say they are its
    starts: dict[str, list[ExecutionRecord]]          # run -> its start records
    ends: dict[tuple[str, int], list[ExecutionRecord]]  # (run, attempt) -> its end records
    by_task_attempt: dict[tuple[str, str, int], list[ExecutionRecord]]  # (wrun, task, task attempt) -> starts
    settles: dict[str, list[WorkflowRunRecord]]       # business date -> the settle workflow's runs
    tally: _WorkflowTally = field(default_factory=_WorkflowTally)
    clocks_jumped: bool = False                       # durations in state time prove nothing (RunData)


class WorkflowOrder:
    """The workload's workflow runs ran their tasks in dependency order, by their rules, once per
    task attempt, and waited for each other (chaos-flow and chaos-settle of ``chaos/workload.py``).

    Judged by commit order, never by comparing clocks of different hosts: a run's ``created_ms`` and
    its transitions' ``time_ms`` are the state time of the entries that made them, which never
    decreases in commit order (``monotonic_state_time`` checks it), so "created no earlier than that
    run became final" is an order of entries (equal times may be one entry, and are allowed). The
    final transition of a run is its first one into a final state (late reports come after). The
    tasks' own execution records say which task, workflow run and task attempt each process ran for,
    and what it saw. For every workflow run of the two workflows (``workflow_runs.jsonl``):

    (a) it is final (WF_SUCCEEDED, or WF_FAILED with a failed task; none is killed: nothing kills
        them) and so is every task of the model (TASK_SUCCEEDED, TASK_FAILED or TASK_SKIPPED);
    (b) no task's first run was created before the last run of each upstream task became final
        (tasks without a run — the switch, skipped ones — stand for their own upstreams); and the
        rules held: route decided after count succeeded, and chose big exactly when count's recorded
        rows exceed ROWS_SPLIT; big or small ran exactly when chosen; publish (none-failed) ran
        exactly when neither failed; join (all-done) always ran;
    (c) each task's runs are ``previous_run_ids`` + ``run_id``, distinct, ``attempt`` of them, at most
        3 for big and 1 for the others, and no other run says it belongs to that task; every earlier
        run FAILED with an end record of exit code 75 (the only one retried), and the next was created
        at least the retry delay (1 s) after it became final; the task's state is its last run's; in
        the execution records each (run, attempt) started at most once, each start names its task,
        workflow run and task attempt, and each task attempt's starts are of the run listed for it;
    (d) publish was created no earlier than chaos-settle's close of the same business date became
        final, when that close SUCCEEDED first; otherwise its reason says it ran without it and it was
        created at least the wait timeout (20 s) after its rule held; a publish that did not time
        out was created in the entry its rule held or in the one close succeeded;
    (e) publish's records show the rows count recorded (its template read count's output) and the
        workflow run's batch param;
    and every acknowledged ``run_workflow`` names a workflow run of that workflow and business date
    with the params sent, calls repeated with a key got the same run, and no business date has two
    runs of one workflow.

    Under clock jumps (``clocks_jumped``) the durations of (c) and (d) are not judged: the state
    time stands still while it is ahead of every clock, and the leader then times retries and waits
    on its own monotonic clock.

    Cannot prove: anything about a task attempt whose process left no record (a start before the
    first instruction), that an upstream's run was not still executing on an agent that had been
    written off (``no_overlap`` and ``nothing_alive_at_end`` see those), the order of two entries
    with the same state time, nor anything about workflow runs past the 1000 newest of a workflow.
    """

    name = "workflow_order"
    FLOW, SETTLE = "chaos-flow", "chaos-settle"
    # The workflows' tasks and their upstreams, as chaos/workload.py writes them (a test compares).
    TASKS: dict[str, dict[str, tuple[str, ...]]] = {
        FLOW: {"count": (), "route": ("count",), "big": ("route",), "small": ("route",), "publish": ("big", "small"),
               "join": ("publish",)},
        SETTLE: {"close": ()},
    }
    SWITCH, BRANCHES, ROWS_SPLIT = "route", ("big", "small"), 50
    MAX_ATTEMPTS = {"big": 3}            # others: 1
    RETRY_CODE, RETRY_DELAY_MS = 75, 1000
    WAITER, WAITED, WAIT_TIMEOUT_MS = "publish", "close", 20_000

    def check(self, data: RunData) -> Finding:
        wruns = [w for w in data.workflow_runs if w.workflow in self.TASKS]
        calls = [op for op in data.operations if op.f == "run_workflow"]
        if not wruns and not calls:
            return Finding(self.name, True, "nothing to check: no workflow runs", [])
        ctx = self._context(data, wruns)
        problems = self._calls(calls, wruns)
        problems += self._records(ctx, {w.wrun_id: w for w in wruns})
        for w in wruns:
            problems += self._judge(w, ctx)
        t = ctx.tally
        repeats = sum(1 for op in calls if op.type == "ok" and op.value.get("repeat"))
        summary = (f"{len(wruns)} workflow runs ({t.flows} {self.FLOW}, {t.settles} {self.SETTLE}); "
                   f"{t.task_runs} task runs, {t.retries} retries; branches big {t.big} / small {t.small}; "
                   f"waits met {t.met_at_once + t.held} ({t.held} held until close) / timed out {t.timed_out}; "
                   f"{len(calls)} run_workflow calls ({repeats} repeats)")
        if not problems and not wruns:
            problems = [f"{len(calls)} run_workflow calls and no workflow run of {self.FLOW} or {self.SETTLE} was "
                        "collected: nothing was proved"]
        return _verdict(self.name, problems, summary, "workflow runs out of order")

    def _context(self, data: RunData, wruns: list[WorkflowRunRecord]) -> _WorkflowContext:
        claimed: dict[tuple[str, str], list[str]] = defaultdict(list)
        for run in data.final_runs:
            if run.workflow_run_id:
                claimed[(run.workflow_run_id, run.task)].append(run.run_id)
        starts: dict[str, list[ExecutionRecord]] = defaultdict(list)
        by_task_attempt: dict[tuple[str, str, int], list[ExecutionRecord]] = defaultdict(list)
        for rec in sorted(data.executions, key=lambda r: r.time_ns):
            if rec.event == "start":
                starts[rec.run].append(rec)
                if rec.wrun:
                    by_task_attempt[(rec.wrun, rec.task, rec.task_attempt)].append(rec)
        settles: dict[str, list[WorkflowRunRecord]] = defaultdict(list)
        for w in wruns:
            if w.workflow == self.SETTLE:
                settles[w.business_date].append(w)
        return _WorkflowContext({r.run_id: r for r in data.final_runs}, claimed, starts,
                                _by_attempt(data.executions, "end"), by_task_attempt, settles,
                                clocks_jumped=data.clocks_jumped)

    def _calls(self, calls: list[Operation], wruns: list[WorkflowRunRecord]) -> list[str]:
        """Acknowledged triggers have their workflow run; a key, one run; a business date, one run per workflow."""
        by_id = {w.wrun_id: w for w in wruns}
        problems: list[str] = []
        ok = [op for op in calls if op.type == "ok"]
        for op in ok:
            wrun_id, workflow, day = op.result.get("wrun_id"), op.get("workflow"), op.get("business_date")
            w = by_id.get(str(wrun_id))
            if w is None:
                problems.append(f"run_workflow {workflow} {day} {_op_ref(op)} returned {wrun_id!r}, which is not "
                                "among the collected workflow runs")
            elif (w.workflow, w.business_date) != (workflow, day):
                problems.append(f"run_workflow {workflow} {day} {_op_ref(op)} returned {wrun_id}, a run of "
                                f"{w.workflow} for {w.business_date}")
            elif any(w.params.get(k) != v for k, v in dict(op.get("params") or {}).items()):
                problems.append(f"{wrun_id} has params {w.params}, {_op_ref(op)} sent {op.get('params')}")
        problems += _replays(ok, "wrun_id")[2]
        per_date: dict[tuple[str, str], list[str]] = defaultdict(list)
        for w in wruns:
            per_date[(w.workflow, w.business_date)].append(w.wrun_id)
        problems += [f"{workflow} has {len(ids)} runs for business date {day}: {', '.join(ids)} (one trigger each)"
                     for (workflow, day), ids in sorted(per_date.items()) if len(ids) > 1]
        return problems

    def _records(self, ctx: _WorkflowContext, by_id: dict[str, WorkflowRunRecord]) -> list[str]:
        """Each task attempt's starts are of the run its task lists for that attempt."""
        problems = []
        for (wrun_id, task, attempt), recs in sorted(ctx.by_task_attempt.items()):
            w = by_id.get(wrun_id)
            t = w.task(task) if w is not None else None
            if t is None:
                continue  # a workflow run this checker does not judge
            listed = t.runs[attempt - 1] if 0 < attempt <= len(t.runs) else None
            for rec in recs:
                if rec.run != listed:
                    problems.append(f"{wrun_id} task {task} attempt {attempt} started as {rec.run} on {rec.agent} at "
                                    f"{rec.time_ns}; the task lists {listed or 'no run'} for that attempt")
        return problems

    def _judge(self, w: WorkflowRunRecord, ctx: _WorkflowContext) -> list[str]:
        where = f"{w.wrun_id} ({w.workflow} {w.business_date})"
        model = self.TASKS[w.workflow]
        if w.workflow == self.FLOW:
            ctx.tally.flows += 1
        else:
            ctx.tally.settles += 1
        problems: list[str] = []
        if w.state not in WORKFLOW_FINAL_STATES:
            problems.append(f"{where} is {w.state}, not final")
        elif w.state == "WF_KILLED":
            problems.append(f"{where} was KILLED, and nothing kills the workload's workflow runs ({w.cause!r})")
        tasks = {t.name: t for t in w.tasks}
        problems += [f"{where} has no task {name}" for name in model if name not in tasks]
        problems += [f"{where} has a task {name} its workflow does not" for name in tasks if name not in model]
        for t in w.tasks:
            if t.name in model and t.state not in TASK_FINAL_STATES:
                problems.append(f"{where} task {t.name} is {t.state}, not final"
                                + (f" ({t.waiting_for})" if t.waiting_for else f" ({t.reason})" if t.reason else ""))
        failed = sorted(t.name for t in w.tasks if t.state == "TASK_FAILED")
        if w.state == "WF_SUCCEEDED" and failed:
            problems.append(f"{where} SUCCEEDED although {', '.join(failed)} failed")
        elif w.state == "WF_FAILED" and not failed:
            problems.append(f"{where} FAILED although no task failed")
        runs: dict[str, list[FinalRun]] = {}
        for name, t in tasks.items():
            if name in model:
                runs[name] = self._task_runs(where, w, t, ctx, problems)
        problems += self._order(where, model, tasks, runs)
        if w.workflow == self.FLOW and all(name in tasks for name in model):
            problems += self._flow(where, w, tasks, runs, ctx)
        return problems

    def _task_runs(self, where: str, w: WorkflowRunRecord, t: TaskRecord, ctx: _WorkflowContext,
                   problems: list[str]) -> list[FinalRun]:
        """(c): the task's runs, checked; those missing from the final runs are reported and left out."""
        ids = t.runs
        at = f"{where} task {t.name}"
        ctx.tally.task_runs += len(ids)
        ctx.tally.retries += max(0, len(ids) - 1)
        if len(set(ids)) != len(ids):
            problems.append(f"{at} lists a run twice: {', '.join(ids)}")
        if t.attempt != len(ids):
            problems.append(f"{at} is at attempt {t.attempt} with {len(ids)} runs ({', '.join(ids) or 'none'})")
        most = self.MAX_ATTEMPTS.get(t.name, 1)
        if len(ids) > most:
            problems.append(f"{at} ran {len(ids)} times ({', '.join(ids)}); its policy allows {most}")
        extra = sorted(set(ctx.claimed.get((w.wrun_id, t.name), [])) - set(ids))
        if extra:
            problems.append(f"{at}: runs {', '.join(extra)} say they are its runs, the task lists "
                            f"{', '.join(ids) or 'none'}")
        found: list[FinalRun] = []
        for i, run_id in enumerate(ids):
            run = ctx.runs.get(run_id)
            if run is None:
                problems.append(f"{at} attempt {i + 1}: run {run_id} is missing from the final runs")
                continue
            found.append(run)
            if (run.workflow_run_id, run.task) != (w.wrun_id, t.name):
                problems.append(f"{at} attempt {i + 1}: run {run_id} says it is task {run.task!r} of "
                                f"{run.workflow_run_id!r}")
            seen: dict[int, int] = defaultdict(int)
            for rec in ctx.starts.get(run_id, []):
                seen[rec.attempt] += 1
                if (rec.wrun, rec.task, rec.task_attempt) != (w.wrun_id, t.name, i + 1):
                    problems.append(f"{at} attempt {i + 1}: {run_id} attempt {rec.attempt} started on {rec.agent} "
                                    f"as task {rec.task!r} of {rec.wrun!r} attempt {rec.task_attempt}")
            problems += [f"{at}: {run_id} attempt {attempt} started {n} times" for attempt, n in sorted(seen.items())
                         if n > 1]
        if len(found) != len(ids):
            return found
        for i, (prev, nxt) in enumerate(itertools.pairwise(found), start=1):
            ended = _final_ms(prev)
            if prev.state not in _RUN_FAILED:
                problems.append(f"{at} attempt {i}: {prev.run_id} ended {prev.state}, yet the task ran again")
            codes = [r.code for r in ctx.ends.get((prev.run_id, prev.attempt), [])]
            if self.RETRY_CODE not in codes:
                problems.append(f"{at} attempt {i}: {prev.run_id} was retried without ending with exit code "
                                f"{self.RETRY_CODE} (its end records: {codes or 'none'})")
            if ended is None:
                problems.append(f"{at} attempt {i}: {prev.run_id} has no final transition, yet {nxt.run_id} followed")
            elif nxt.created_ms < ended + self.RETRY_DELAY_MS and not ctx.clocks_jumped:
                problems.append(f"{at} attempt {i + 1}: {nxt.run_id} was created at {nxt.created_ms} ms, "
                                f"{nxt.created_ms - ended} ms after {prev.run_id} became final at {ended} ms "
                                f"(the retry delay is {self.RETRY_DELAY_MS} ms)")
        last = found[-1] if found else None
        if t.state == "TASK_SUCCEEDED" and last is not None and last.state != "SUCCEEDED":
            problems.append(f"{at} SUCCEEDED but its last run {last.run_id} ended {last.state}")
        elif t.state == "TASK_FAILED" and last is not None and last.state not in _RUN_FAILED:
            problems.append(f"{at} FAILED but its last run {last.run_id} ended {last.state}")
        elif t.state == "TASK_SKIPPED" and ids:
            problems.append(f"{at} is SKIPPED but ran: {', '.join(ids)}")
        elif t.state == "TASK_FAILED" and not ids:
            problems.append(f"{at} FAILED without running: {t.reason!r}")
        elif t.state == "TASK_SUCCEEDED" and not ids and t.name != self.SWITCH:
            problems.append(f"{at} SUCCEEDED without running")
        return found

    def _standing(self, name: str, model: dict[str, tuple[str, ...]], runs: dict[str, list[FinalRun]]) -> set[str]:
        """The upstream tasks of ``name`` that ran; one that did not (the switch, a skipped one) stands
        for its own upstreams."""
        found: set[str] = set()
        for up in model.get(name, ()):
            found |= {up} if runs.get(up) else self._standing(up, model, runs)
        return found

    def _order(self, where: str, model: dict[str, tuple[str, ...]], tasks: dict[str, TaskRecord],
               runs: dict[str, list[FinalRun]]) -> list[str]:
        """(b), in commit order: no first run created before its upstreams' last runs were final."""
        problems: list[str] = []
        for name in model:
            mine = runs.get(name)
            if not mine or len(mine) != len(tasks[name].runs):
                continue
            for up in sorted(self._standing(name, model, runs)):
                if len(runs[up]) != len(tasks[up].runs):
                    continue  # its runs are missing, already reported
                upstream = runs[up][-1]
                ended = _final_ms(upstream)
                if ended is None:
                    problems.append(f"{where} task {name}: upstream {up}'s run {upstream.run_id} never became final, "
                                    f"yet {mine[0].run_id} was created")
                elif mine[0].created_ms < ended:
                    problems.append(f"{where} task {name}: {mine[0].run_id} was created at {mine[0].created_ms} ms, "
                                    f"before upstream {up}'s run {upstream.run_id} became final at {ended} ms")
        return problems

    def _ready_ms(self, name: str, runs: dict[str, list[FinalRun]]) -> int | None:
        """When the rule of ``name`` held: the entry its last upstream run became final in."""
        ends = [_final_ms(runs[up][-1]) for up in self._standing(name, self.TASKS[self.FLOW], runs)]
        return None if not ends or None in ends else max(e for e in ends if e is not None)

    def _rows(self, run: FinalRun | None, ctx: _WorkflowContext) -> str | None:
        """What count recorded it published, by its run's last attempt."""
        if run is None:
            return None
        recs = [r for r in ctx.starts.get(run.run_id, []) if r.attempt == run.attempt and r.rows]
        return recs[-1].rows if recs else None

    def _flow(self, where: str, w: WorkflowRunRecord, tasks: dict[str, TaskRecord], runs: dict[str, list[FinalRun]],
              ctx: _WorkflowContext) -> list[str]:
        """(b) the rules, (d) the wait, (e) the outputs and templates, of one chaos-flow run."""
        problems: list[str] = []
        count, route, publish, join = tasks["count"], tasks[self.SWITCH], tasks[self.WAITER], tasks["join"]
        rows = self._rows(runs["count"][-1] if runs["count"] else None, ctx)
        if route.state == "TASK_SUCCEEDED":
            if count.state != "TASK_SUCCEEDED":
                problems.append(f"{where}: route decided although count is {count.state}")
            if route.run_id or route.previous_run_ids:
                problems.append(f"{where}: the switch route ran {', '.join(route.runs)}")
            if rows is None or not rows.lstrip("-").isdigit():
                problems.append(f"{where}: count's run recorded no rows ({rows!r}) to judge route's choice by")
            else:
                expected = ["big"] if int(rows) > self.ROWS_SPLIT else ["small"]
                if list(route.chosen) != expected:
                    problems.append(f"{where}: route chose {list(route.chosen)}, count recorded rows={rows} "
                                    f"(so {expected})")
            ctx.tally.big += "big" in route.chosen
            ctx.tally.small += "small" in route.chosen
        elif route.state == "TASK_SKIPPED" and count.state == "TASK_SUCCEEDED":
            problems.append(f"{where}: route was skipped although count succeeded")
        for branch in self.BRANCHES:
            t = tasks[branch]
            chosen = route.state == "TASK_SUCCEEDED" and branch in route.chosen
            if t.runs and not chosen:
                problems.append(f"{where}: {branch} ran ({', '.join(t.runs)}) but route chose {list(route.chosen)} "
                                f"({route.state})")
            elif chosen and t.state == "TASK_SKIPPED":
                problems.append(f"{where}: route chose {branch} but it was skipped ({t.reason!r})")
        branch_failed = [b for b in self.BRANCHES if tasks[b].state == "TASK_FAILED"]
        if branch_failed and publish.runs:
            problems.append(f"{where}: publish ran ({', '.join(publish.runs)}) although {', '.join(branch_failed)} "
                            "failed (none-failed)")
        elif not branch_failed and publish.state == "TASK_SKIPPED" and \
                all(tasks[b].state in TASK_FINAL_STATES for b in self.BRANCHES):
            problems.append(f"{where}: publish was skipped although neither branch failed ({publish.reason!r})")
        if join.state == "TASK_SKIPPED":
            problems.append(f"{where}: join (all-done) was skipped ({join.reason!r})")
        if runs[self.WAITER] and len(runs[self.WAITER]) == len(publish.runs):
            problems += self._wait(where, w, publish, runs, ctx)
            problems += self._templates(where, w, rows, runs[self.WAITER], ctx)
        return problems

    def _wait(self, where: str, w: WorkflowRunRecord, publish: TaskRecord, runs: dict[str, list[FinalRun]],
              ctx: _WorkflowContext) -> list[str]:
        """(d): publish and the same business date's close, in commit order."""
        created = runs[self.WAITER][0].created_ms
        ready = self._ready_ms(self.WAITER, runs)
        closed: int | None = None
        for settle in ctx.settles.get(w.business_date, []):
            close = settle.task(self.WAITED)
            last = ctx.runs.get(close.run_id) if close is not None and close.run_id else None
            if close is not None and close.state == "TASK_SUCCEEDED" and last is not None and last.state == "SUCCEEDED":
                ended = _final_ms(last)
                if ended is not None and (closed is None or ended < closed):
                    closed = ended
        timed_out = publish.reason.startswith("ran without")
        if closed is not None and closed <= created:
            if timed_out and closed < created:
                return [f"{where}: publish ({runs[self.WAITER][0].run_id}, created at {created} ms) says it "
                        f"{publish.reason!r}, but close of {w.business_date} had succeeded at {closed} ms"]
            if timed_out:
                ctx.tally.timed_out += 1
                return []
            if created == closed and (ready is None or created > ready):
                ctx.tally.held += 1
            elif ready is not None and created != ready:
                return [f"{where}: publish ({runs[self.WAITER][0].run_id}) was created at {created} ms, neither when "
                        f"its rule held ({ready} ms) nor when close succeeded ({closed} ms)"]
            else:
                ctx.tally.met_at_once += 1
            return []
        when = f"at {closed} ms" if closed is not None else "never"
        if not timed_out:
            return [f"{where}: publish ({runs[self.WAITER][0].run_id}) was created at {created} ms, but close of "
                    f"{w.business_date} succeeded {when}, and its reason ({publish.reason!r}) does not say it ran "
                    "without it"]
        ctx.tally.timed_out += 1
        if ready is not None and created - ready < self.WAIT_TIMEOUT_MS and not ctx.clocks_jumped:
            return [f"{where}: publish ran without close {created - ready} ms after its rule held at {ready} ms; the "
                    f"wait's timeout is {self.WAIT_TIMEOUT_MS} ms"]
        return []

    def _templates(self, where: str, w: WorkflowRunRecord, rows: str | None, publish: list[FinalRun],
                   ctx: _WorkflowContext) -> list[str]:
        """(e): publish saw count's rows and the run's batch."""
        recs = [r for run in publish for r in ctx.starts.get(run.run_id, [])]
        if not recs:
            # a publish that never started has nothing to show (outcomes_match_records judges that)
            return [] if all(run.state != "SUCCEEDED" for run in publish) else \
                [f"{where}: publish succeeded and left no start record of what its templates gave it"]
        batch = w.params.get("batch")
        return [f"{where}: publish's {rec.run} attempt {rec.attempt} saw rows={rec.rows!r} batch={rec.batch!r}; "
                f"count recorded rows={rows!r}, the run's batch is {batch!r}"
                for rec in recs if rec.rows != rows or rec.batch != batch]


# --- linearizable job reads ----------------------------------------------------------------------


def _job_op(op: Operation) -> lin.Op[lin.JobInput, lin.JobOutput] | str:
    """One recorded job operation as the register checker sees it, or why it cannot be read."""
    unknown = op.type != "ok"
    ret = math.inf if unknown else float(op.complete_index if op.complete_index is not None else math.inf)
    who = f"op {op.invoke_index} (process {op.process})"
    if op.f == "get_job":
        if op.result.get("absent") is True:
            return lin.Op(op.invoke_index, op.invoke_index, ret, lin.JobInput("read"), lin.JobOutput(absent=True),
                          f"{who} get_job -> absent")
        version, spec = op.result.get("version"), op.result.get("spec")
        if not isinstance(version, int) or isinstance(version, bool) or not isinstance(spec, str):
            return f"get_job {_op_ref(op)} answered ok with neither 'absent' nor a version and spec: {op.result!r:.200}"
        return lin.Op(op.invoke_index, op.invoke_index, ret, lin.JobInput("read"), lin.JobOutput(version, spec),
                      f"{who} get_job -> version {version} spec {spec}")
    version = op.result.get("version")
    if not unknown and (not isinstance(version, int) or isinstance(version, bool)):
        return f"{op.f} {_op_ref(op)} acknowledged without a version: {op.result!r:.200}"
    answered = "outcome unknown" if unknown else f"version {version}"
    if op.f == "delete_job":
        return lin.Op(op.invoke_index, op.invoke_index, ret, lin.JobInput("delete"),
                      None if unknown else lin.JobOutput(version), f"{who} delete_job -> {answered}")
    spec = op.get("spec")
    if not isinstance(spec, str):
        return f"apply_job {_op_ref(op)} carries no spec digest"
    return lin.Op(op.invoke_index, op.invoke_index, ret, lin.JobInput("apply", spec),
                  None if unknown else lin.JobOutput(version), f"{who} apply_job spec {spec} -> {answered}")


class LinearizableJobReads:
    """Every job name's reads and writes, taken together, are linearizable.

    The history of each name (``apply_job`` and ``delete_job`` of the writers, ``get_job`` of the
    readers, which prefer different replicas) must be explainable by one sequence of writes and
    reads, each taking effect at an instant between its invoke and its completion, of the versioned
    register ``linearizability.JobRegister``: each write makes the next version (a delete a
    tombstone), an acknowledged version is exactly that number, and a read sees the latest version
    and its spec digest, or NOT_FOUND (recorded as ok ``{"absent": true}``) when the name holds no
    definition. Names are checked one at a time (linearizability is compositional), each search
    bounded by ``budget`` model steps.

    What is left out, and why: ``fail`` operations (refused before commit: never took effect);
    ``info`` reads (no answer to check); writes marked ``repeat`` (the same idempotency key sent
    again is answered with the first write's version and makes no new one; ``final_specs`` checks
    that answer). ``info`` writes may take effect at any point after their invoke, or never. Reads
    a client asked for as stale (served from a replica's own state without a linearizable read) are
    not recorded as ``get_job`` and are not judged here: they are allowed to lag by design.

    Proves: no reader saw a version before it was written, after it was overwritten by a write that
    had completed, a value never written, versions going back, or two names' orders that cannot be
    reconciled; no acknowledged version number was skipped or doubled. Cannot prove: anything
    between reads (a value present only between two reads of a name is invisible), nor about names
    no read touched beyond their version numbering. A search that runs out of budget is a failure
    that says it could not decide, never a pass.
    """

    name = "linearizable_jobs"

    def __init__(self, budget: int = lin.DEFAULT_BUDGET) -> None:
        self.budget = budget

    def check(self, data: RunData) -> Finding:
        reads = [op for op in data.operations if op.f == "get_job"]
        if not reads:
            return Finding(self.name, True, "nothing to check: no get_job reads", [])
        answered = [op for op in reads if op.type == "ok"]
        if not answered:
            return Finding(self.name, False, f"{len(reads)} get_job reads and none answered: nothing could be "
                           "checked", [f"get_job {_op_ref(op)} {op.type}: {op.result.get('error', '')}"
                                       for op in reads[:MAX_DETAILS]])
        writes = [op for op in data.operations if op.f in ("apply_job", "delete_job") and op.type != "fail"
                  and not op.value.get("repeat")]
        problems: list[str] = []
        histories: dict[str, list[lin.Op[lin.JobInput, lin.JobOutput]]] = defaultdict(list)
        for op in (*writes, *answered):
            name = op.get("name")
            converted = _job_op(op) if isinstance(name, str) and name else f"{op.f} {_op_ref(op)} names no job"
            if isinstance(converted, str):
                problems.append(converted)
            else:
                histories[name].append(converted)
        results = lin.check_keys(lin.JobRegister(), histories, budget=self.budget)
        illegal = [r for r in results.values() if r.outcome == "not linearizable"]
        unknown = [r for r in results.values() if r.outcome == "unknown"]
        problems += [r.explain() for r in illegal] + [r.explain() for r in unknown]
        if not problems:
            return Finding(self.name, True, f"{len(answered)} reads and {len(writes)} writes over {len(histories)} "
                           "jobs are linearizable", [])
        shown = f" (first {MAX_DETAILS} shown)" if len(problems) > MAX_DETAILS else ""
        if illegal:
            what = f"{len(illegal)} of {len(histories)} jobs have non-linearizable histories"
        elif unknown:
            what = (f"could not decide: the search budget ({self.budget} steps per job) ran out on {len(unknown)} "
                    f"of {len(histories)} jobs")
        else:
            what = f"{len(problems)} job operations could not be read"
        if unknown and illegal:
            what += f"; {len(unknown)} more undecided (search budget ran out)"
        return Finding(self.name, False, what + shown, problems[:MAX_DETAILS])


for _checker in (AcknowledgedWrites(), NoDoubleExecution(), NoStaleEpochStart(), StaleRejectionsObserved(),
                 NoOverlap(), NoStuckRuns(), EqualDigests(), AcknowledgedRunsFinal(), MonotonicStateTime(),
                 RecordsExplainOutcomes(), NothingAliveAtEnd(), OneRunPerKey(), FinalSpecs(),
                 PlacementRespectsSelectors(), LogsComplete(), SlotsExactlyOnce(), WorkflowOrder(),
                 LinearizableJobReads()):
    register(_checker)

"""Workflows in the replicated state: versioned definitions, and runs whose tasks advance at apply.

A workflow run is a header record (`wruns`) and one record per task (`wtasks`, keyed by the run
and the task's name). Its first tasks get job runs in the entry that creates it; when a task's run
becomes final, the same entry updates the counters of its downstream tasks only and creates the
runs that this makes ready (scheduler/dag.py decides), so a hop costs one Raft entry and work in
proportion to the out-degree, whatever the size of the workflow.
"""

from __future__ import annotations

import datetime as dt
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
import lmdb

from wloadctl.model.outputs import upstream_env
from wloadctl.model.workflows import DEFAULT_MAX_TASKS, task_job_spec, validate_workflow
from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.scheduler import dag
from wloadctl.state.encoding import encode
from wloadctl.state.results import err, ok
from wloadctl.state.runs import FINAL_STATES, MAX_PARAMS, RunTables

WORKFLOW_DBS = (b"workflows", b"workflow_versions", b"workflow_seq", b"wruns", b"wtasks", b"wruns_by_workflow")
WORKFLOW_MESSAGES = {b"workflows": workflows_pb2.WorkflowVersion, b"workflow_versions": workflows_pb2.WorkflowVersion,
                     b"wruns": workflows_pb2.WorkflowRun, b"wtasks": workflows_pb2.TaskRun}
_U64 = struct.Struct(">Q")
_WRUN_SEQ = b"wrun_seq"
WF = workflows_pb2.WorkflowRunState
TS = workflows_pb2.TaskState
RS = runs_pb2.RunState
_DAG_CACHE = 32
MAX_UPSTREAM_ENV_BYTES = 256 << 10
_OUTCOME_STATE = {dag.Outcome.SUCCEEDED: TS.TASK_SUCCEEDED, dag.Outcome.FAILED: TS.TASK_FAILED,
                  dag.Outcome.SKIPPED: TS.TASK_SKIPPED}


_Found = tuple[int, workflows_pb2.WorkflowRun, workflows_pb2.WorkflowVersion]


@dataclass(frozen=True)
class _Compiled:
    raw: bytes
    version: workflows_pb2.WorkflowVersion
    dag: dag.Dag
    tasks: Mapping[str, workflows_pb2.WorkflowTask]


def wrun_seq(wrun_id: str) -> int | None:
    return int(wrun_id[1:]) if wrun_id[:1] == "w" and wrun_id[1:].isdigit() and len(wrun_id) < 21 else None


def run_outcome(state: int) -> dag.Outcome:
    if state == RS.SUCCEEDED:
        return dag.Outcome.SUCCEEDED
    if state == RS.SKIPPED:
        return dag.Outcome.SKIPPED
    return dag.Outcome.FAILED


class _StoredProgress:
    """A workflow run's task records as dag.Progress (read and written in one apply)."""

    def __init__(self, tables: WorkflowTables, txn: lmdb.Transaction, seq: int) -> None:
        self.tables, self.txn, self.seq = tables, txn, seq
        self.loaded: dict[str, workflows_pb2.TaskRun] = {}
        # Decided in this apply but not yet started or ended (a task reached twice must not be decided twice).
        self.decided: set[str] = set()

    def task(self, name: str) -> workflows_pb2.TaskRun:
        if name not in self.loaded:
            self.loaded[name] = self.tables.get_task(self.txn, self.seq, name) or workflows_pb2.TaskRun(name=name)
        return self.loaded[name]

    def counts(self, task: str) -> dag.Counts:
        t = self.task(task)
        return dag.Counts(t.upstream, t.upstream_succeeded, t.upstream_failed, t.upstream_skipped)

    def is_decided(self, task: str) -> bool:
        t = self.task(task)
        return task in self.decided or t.ready or t.state != TS.TASK_WAITING

    def record(self, task: str, counts: dag.Counts, decision: dag.Decision | None) -> None:
        if decision is not None:
            self.decided.add(task)
        t = self.task(task)
        t.upstream_succeeded, t.upstream_failed, t.upstream_skipped = counts.succeeded, counts.failed, counts.skipped
        self.tables.put_task(self.txn, self.seq, t)


class WorkflowTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database], runs: RunTables) -> None:
        self.latest = dbs[b"workflows"]
        self.versions = dbs[b"workflow_versions"]
        self.seq = dbs[b"workflow_seq"]
        self.wruns = dbs[b"wruns"]
        self.wtasks = dbs[b"wtasks"]
        self.by_workflow = dbs[b"wruns_by_workflow"]
        self.meta = dbs[b"meta"]
        self.jobs = dbs[b"jobs"]
        self.runs = runs
        # Versions read by (workflow, version), parsed with their graph and tasks: every hop of a run
        # reads its version, and parsing a 100,000-task definition per hop would cost what the DAG
        # saves. A cache only: an entry is used when the stored bytes are still the same.
        self._compiled: OrderedDict[tuple[str, int], _Compiled] = OrderedDict()
        self._cache_lock = threading.Lock()

    # ---- definitions

    def get(self, txn: lmdb.Transaction, name: str, version: int = 0) -> workflows_pb2.WorkflowVersion | None:
        """The latest version, or ``version``. A given version may be shared with other callers: read it only."""
        if not name:
            return None
        if version:
            found = self._compile(txn, name, version)
            return found.version if found is not None else None
        raw = txn.get(name.encode(), db=self.latest)
        return workflows_pb2.WorkflowVersion.FromString(raw) if raw else None

    def _compile(self, txn: lmdb.Transaction, name: str, version: int) -> _Compiled | None:
        raw = txn.get(name.encode() + b"\0" + _U64.pack(version), db=self.versions)
        if raw is None:
            return None
        key = (name, version)
        with self._cache_lock:  # apply (the Raft thread) and the API's reads share it
            found = self._compiled.get(key)
            if found is not None and found.raw == raw:
                self._compiled.move_to_end(key)
                return found
        wf = workflows_pb2.WorkflowVersion.FromString(raw)
        found = _Compiled(raw, wf, dag.Dag.of(wf.spec), {t.name: t for t in wf.spec.tasks})
        with self._cache_lock:
            self._compiled[key] = found
            self._compiled.move_to_end(key)
            if len(self._compiled) > _DAG_CACHE:
                self._compiled.popitem(last=False)
        return found

    def list(self, txn: lmdb.Transaction) -> list[workflows_pb2.WorkflowVersion]:
        return [workflows_pb2.WorkflowVersion.FromString(v) for _, v in txn.cursor(db=self.latest)]

    def apply(self, txn: lmdb.Transaction, cmd: commands_pb2.ApplyWorkflows, now_ms: int,
              raft_index: int) -> commands_pb2.CommandResult:
        problems = []
        names = set()
        for i, spec in enumerate(cmd.workflows):
            where = f"workflows[{i}]"
            if spec.name in names:
                problems.append(f"{where}.name: {spec.name!r} twice in one apply")
            names.add(spec.name)
            problems += [f"{where}.{e.field}: {e.reason}" if e.field else f"{where}: {e.reason}"
                         for e in validate_workflow(spec, cmd.max_tasks or DEFAULT_MAX_TASKS)]
            if spec.name and txn.get(spec.name.encode(), db=self.jobs) is not None:
                problems.append(f"{where}.name: a job is named {spec.name!r} (jobs and workflows share names: "
                                "wloadctl run NAME starts either)")
            for j, task in enumerate(spec.tasks):
                if task.job and txn.get(task.job.encode(), db=self.jobs) is None:
                    problems.append(f"{where}.tasks[{j}].job: no job {task.job!r}")
        if problems:
            code = grpc.StatusCode.INVALID_ARGUMENT
            return err(code, "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20
                                                         else ""))
        result = ok()
        for raw_spec in cmd.workflows:
            spec = workflows_pb2.WorkflowSpec()
            spec.CopyFrom(raw_spec)
            spec.domain = spec.domain or "default"
            current = self.get(txn, spec.name)
            if current is not None and not current.deleted and current.spec == spec:
                result.jobs.add(name=spec.name, version=current.version, changed=False)
                continue
            version = self._next_version(txn, spec.name)
            record = workflows_pb2.WorkflowVersion(spec=spec, version=version, created_ms=now_ms, raft_index=raft_index)
            data = encode(record)
            txn.put(spec.name.encode(), data, db=self.latest)
            txn.put(spec.name.encode() + b"\0" + _U64.pack(version), data, db=self.versions)
            result.jobs.add(name=spec.name, version=version, changed=True)
        return result

    def delete(self, txn: lmdb.Transaction, name: str, now_ms: int, raft_index: int) -> commands_pb2.CommandResult:
        current = self.get(txn, name)
        if current is None:
            return err(grpc.StatusCode.NOT_FOUND, f"name: workflow {name!r} not found")
        version = self._next_version(txn, name)
        tomb = workflows_pb2.WorkflowVersion(spec=workflows_pb2.WorkflowSpec(name=name, domain=current.spec.domain),
                                             version=version, created_ms=now_ms, raft_index=raft_index, deleted=True)
        txn.put(name.encode() + b"\0" + _U64.pack(version), encode(tomb), db=self.versions)
        txn.delete(name.encode(), db=self.latest)
        return ok(jobs=[jobs_pb2.JobRef(name=name, version=version, changed=True)])

    def _next_version(self, txn: lmdb.Transaction, name: str) -> int:
        raw = txn.get(name.encode(), db=self.seq)
        version = (_U64.unpack(raw)[0] if raw else 0) + 1
        txn.put(name.encode(), _U64.pack(version), db=self.seq)
        return version

    def graph(self, wf: workflows_pb2.WorkflowVersion) -> dag.Dag:
        return self._compiled_for(wf).dag

    def _compiled_for(self, wf: workflows_pb2.WorkflowVersion) -> _Compiled:
        with self._cache_lock:
            found = self._compiled.get((wf.spec.name, wf.version))
        if found is not None and found.version is wf:
            return found
        # Not a version read through get(name, version) (a trigger reads the latest): build it.
        return _Compiled(b"", wf, dag.Dag.of(wf.spec), {t.name: t for t in wf.spec.tasks})

    # ---- runs

    def get_run(self, txn: lmdb.Transaction, wrun_id: str, with_tasks: bool = True) -> workflows_pb2.WorkflowRun | None:
        seq = wrun_seq(wrun_id)
        raw = txn.get(_U64.pack(seq), db=self.wruns) if seq else None
        if raw is None:
            return None
        wrun = workflows_pb2.WorkflowRun.FromString(raw)
        if with_tasks:
            wf = self.get(txn, wrun.workflow_name, wrun.workflow_version)
            order = [t.name for t in wf.spec.tasks] if wf is not None else []
            tasks = {t.name: t for t in self._tasks(txn, seq)}  # type: ignore[arg-type]
            wrun.tasks.extend(tasks[n] for n in order if n in tasks)
        return wrun

    def _tasks(self, txn: lmdb.Transaction, seq: int) -> list[workflows_pb2.TaskRun]:
        prefix = _U64.pack(seq) + b"\0"
        cur = txn.cursor(db=self.wtasks)
        out = []
        if cur.set_range(prefix):
            for key, value in cur:
                if not key.startswith(prefix):
                    break
                out.append(workflows_pb2.TaskRun.FromString(value))
        return out

    def get_task(self, txn: lmdb.Transaction, seq: int, name: str) -> workflows_pb2.TaskRun | None:
        raw = txn.get(_U64.pack(seq) + b"\0" + name.encode(), db=self.wtasks)
        return workflows_pb2.TaskRun.FromString(raw) if raw else None

    def put_task(self, txn: lmdb.Transaction, seq: int, task: workflows_pb2.TaskRun) -> None:
        txn.put(_U64.pack(seq) + b"\0" + task.name.encode(), encode(task), db=self.wtasks)

    def list_runs(self, txn: lmdb.Transaction, workflow: str, limit: int) -> list[workflows_pb2.WorkflowRun]:
        """Newest first, without their tasks."""
        out = []
        if workflow:
            prefix = workflow.encode() + b"\0"
            cur = txn.cursor(db=self.by_workflow)
            ok_ = cur.prev() if cur.set_range(prefix + b"\xff" * 8) else cur.last()
            while ok_ and cur.key().startswith(prefix) and len(out) < limit:
                raw = txn.get(cur.key()[len(prefix):], db=self.wruns)
                if raw:
                    out.append(workflows_pb2.WorkflowRun.FromString(raw))
                ok_ = cur.prev()
            return out
        cur = txn.cursor(db=self.wruns)
        ok_ = cur.last()
        while ok_ and len(out) < limit:
            out.append(workflows_pb2.WorkflowRun.FromString(cur.value()))
            ok_ = cur.prev()
        return out

    def trigger(self, txn: lmdb.Transaction, cmd: commands_pb2.TriggerWorkflow, now_ms: int,
                idempotency_key: str) -> commands_pb2.CommandResult:
        wf = self.get(txn, cmd.name)
        if wf is None:
            return err(grpc.StatusCode.NOT_FOUND, f"name: workflow {cmd.name!r} not found")
        unknown = sorted(set(cmd.params) - set(wf.spec.params))
        if unknown:
            has = ", ".join(sorted(wf.spec.params)) or "none"
            return err(grpc.StatusCode.INVALID_ARGUMENT,
                       f"params.{unknown[0][:60]}: not a parameter of workflow {cmd.name!r} (it has: {has})")
        if len(cmd.params) > MAX_PARAMS or any(len(v) > 4096 for v in cmd.params.values()):
            return err(grpc.StatusCode.INVALID_ARGUMENT, f"params: at most {MAX_PARAMS}, values up to 4096 characters")
        raw_seq = txn.get(_WRUN_SEQ, db=self.meta)
        seq = (_U64.unpack(raw_seq)[0] if raw_seq else 0) + 1
        txn.put(_WRUN_SEQ, _U64.pack(seq), db=self.meta)
        params = dict(sorted(wf.spec.params.items()))
        params.update(sorted(cmd.params.items()))
        wrun = workflows_pb2.WorkflowRun(
            id=f"w{seq}", workflow_name=wf.spec.name, workflow_version=wf.version, state=WF.WF_RUNNING, params=params,
            business_date=cmd.business_date or _date(now_ms), created_ms=now_ms, cause=cmd.cause or "manual run",
            tasks_total=len(wf.spec.tasks), domain=wf.spec.domain)
        wf = self.get(txn, wf.spec.name, wf.version) or wf  # the shared parse: the run's hops reuse it
        graph = self.graph(wf)
        for task in wf.spec.tasks:
            self.put_task(txn, seq, workflows_pb2.TaskRun(name=task.name, upstream=len(task.depends_on)))
        txn.put(wf.spec.name.encode() + b"\0" + _U64.pack(seq), b"", db=self.by_workflow)
        self._put_run(txn, seq, wrun)
        progress = _StoredProgress(self, txn, seq)
        first = dag.first_tasks(graph)
        progress.decided.update(first)
        self._advance(txn, wf, wrun, seq, progress, [(n, dag.Decision.RUN) for n in first], now_ms, idempotency_key)
        return ok(run_ids=[wrun.id])

    def _run_of(self, txn: lmdb.Transaction, run_id: str) -> _Found | commands_pb2.CommandResult:
        seq = wrun_seq(run_id)
        raw = txn.get(_U64.pack(seq), db=self.wruns) if seq else None
        if raw is None or seq is None:
            return err(grpc.StatusCode.NOT_FOUND, f"run_id: no workflow run {run_id[:40]!r}")
        wrun = workflows_pb2.WorkflowRun.FromString(raw)
        wf = self.get(txn, wrun.workflow_name, wrun.workflow_version)
        if wf is None:
            return err(grpc.StatusCode.FAILED_PRECONDITION, f"version {wrun.workflow_version} of workflow "
                                                            f"{wrun.workflow_name!r} is no longer kept")
        return seq, wrun, wf

    def rerun(self, txn: lmdb.Transaction, cmd: commands_pb2.RerunWorkflow, now_ms: int) -> commands_pb2.CommandResult:
        """Reset the chosen tasks of an ended run to waiting and start those whose rule now holds;
        the other tasks keep their outcomes (and count for the reset ones' rules)."""
        found = self._run_of(txn, cmd.run_id)
        if isinstance(found, commands_pb2.CommandResult):
            return found
        seq, wrun, wf = found
        if wrun.state == WF.WF_RUNNING or not wrun.ended_ms:
            return err(grpc.StatusCode.FAILED_PRECONDITION,
                       f"workflow run {wrun.id} has not ended: rerun it once it has (or kill it first)")
        graph = self.graph(wf)
        try:
            mode = dag.RerunMode(cmd.mode or "downstream")
        except ValueError:
            return err(grpc.StatusCode.INVALID_ARGUMENT, "mode: only, downstream or all")
        if mode is not dag.RerunMode.ALL and cmd.task not in graph.upstream:
            return err(grpc.StatusCode.INVALID_ARGUMENT, f"task: no task {cmd.task[:64]!r} in workflow "
                                                         f"{wrun.workflow_name!r}")
        reset = dag.rerun_set(graph, mode, cmd.task)
        self._restart(txn, seq, wrun, wf, reset, now_ms)
        return ok(run_ids=[wrun.id], message=",".join(reset)[:4000])

    def mark(self, txn: lmdb.Transaction, cmd: commands_pb2.MarkWorkflowTask,
             now_ms: int) -> commands_pb2.CommandResult:
        """Give a task an outcome without running it: one that waits ends so at once; one that ended
        (in a run that ended) takes it, and the tasks after it are decided again from it."""
        found = self._run_of(txn, cmd.run_id)
        if isinstance(found, commands_pb2.CommandResult):
            return found
        seq, wrun, wf = found
        graph = self.graph(wf)
        if cmd.task not in graph.upstream:
            return err(grpc.StatusCode.INVALID_ARGUMENT, f"task: no task {cmd.task[:64]!r} in workflow "
                                                         f"{wrun.workflow_name!r}")
        outcome = {"succeeded": dag.Outcome.SUCCEEDED, "skipped": dag.Outcome.SKIPPED}.get(cmd.outcome)
        if outcome is None:
            return err(grpc.StatusCode.INVALID_ARGUMENT, "outcome: succeeded or skipped")
        task = self.get_task(txn, seq, cmd.task)
        assert task is not None
        reason = f"marked {cmd.outcome} by an operator"
        if task.state == TS.TASK_STARTED:
            return err(grpc.StatusCode.FAILED_PRECONDITION,
                       f"task {cmd.task} is running ({task.run_id}): wait for it to end, or kill it first")
        if task.state == TS.TASK_WAITING:
            if wrun.state != WF.WF_RUNNING:
                return err(grpc.StatusCode.FAILED_PRECONDITION, f"workflow run {wrun.id} is not running")
            progress = _StoredProgress(self, txn, seq)
            progress.loaded[task.name] = task
            task.ready = False
            self._end_task(txn, seq, wrun, task, outcome, now_ms, reason, keep_reason=True)
            self._advance(txn, wf, wrun, seq, progress, dag.propagate(graph, progress, task.name, outcome), now_ms,
                          "")
            return ok(run_ids=[wrun.id], message=cmd.task)
        if wrun.state == WF.WF_RUNNING or not wrun.ended_ms:
            return err(grpc.StatusCode.FAILED_PRECONDITION, f"task {cmd.task} has ended but its workflow run has "
                                                            "not: mark it once the run has ended")
        reset = dag.rerun_set(graph, dag.RerunMode.DOWNSTREAM, cmd.task)
        self._restart(txn, seq, wrun, wf, reset, now_ms, marked=(cmd.task, outcome, reason))
        return ok(run_ids=[wrun.id], message=",".join(reset)[:4000])

    def _restart(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun,
                 wf: workflows_pb2.WorkflowVersion, reset: list[str], now_ms: int,
                 marked: tuple[str, dag.Outcome, str] | None = None) -> None:
        graph = self.graph(wf)
        chosen = set(reset)
        progress = _StoredProgress(self, txn, seq)
        counters = {TS.TASK_SUCCEEDED: "tasks_succeeded", TS.TASK_FAILED: "tasks_failed",
                    TS.TASK_SKIPPED: "tasks_skipped"}
        outcome_of = {TS.TASK_SUCCEEDED: dag.Outcome.SUCCEEDED, TS.TASK_FAILED: dag.Outcome.FAILED,
                      TS.TASK_SKIPPED: dag.Outcome.SKIPPED}
        for name in reset:
            task = progress.task(name)
            if task.state in counters:
                setattr(wrun, counters[task.state], getattr(wrun, counters[task.state]) - 1)
                # The tasks after it that keep their outcome no longer count this one's old outcome.
                for child in graph.downstream[name]:
                    if child not in chosen:
                        c = progress.counts(child)
                        _uncount(c, outcome_of[task.state])
                        progress.record(child, c, None)
        for name in reset:
            task = progress.task(name)
            counts = dag.Counts(len(graph.upstream[name]))
            for up in graph.upstream[name]:
                if up not in chosen and progress.task(up).state in outcome_of:
                    counts.add(outcome_of[progress.task(up).state])
            task.Clear()
            task.name = name
            task.upstream = counts.upstream
            progress.record(name, counts, None)
        wrun.state, wrun.ended_ms = WF.WF_RUNNING, 0
        decisions: list[tuple[str, dag.Decision]] = []
        if marked is not None:
            name, outcome, reason = marked
            progress.decided.add(name)
            self._end_task(txn, seq, wrun, progress.task(name), outcome, now_ms, reason, keep_reason=True)
            decisions += dag.propagate(graph, progress, name, outcome)
        for name in reset:
            if progress.is_decided(name):
                continue  # decided by a skip propagated from a task before it in this loop
            decision = dag.decide(graph.rules[name], progress.counts(name))
            if decision is dag.Decision.WAIT:
                continue
            decisions.append((name, decision))
            progress.decided.add(name)
            if decision is dag.Decision.SKIP:
                decisions += dag.propagate(graph, progress, name, dag.Outcome.SKIPPED)
        self._advance(txn, wf, wrun, seq, progress, decisions, now_ms, "")
        if wrun.tasks_succeeded + wrun.tasks_failed + wrun.tasks_skipped == wrun.tasks_total and \
                wrun.state == WF.WF_RUNNING:
            wrun.state = WF.WF_FAILED if wrun.tasks_failed else WF.WF_SUCCEEDED
            wrun.ended_ms = now_ms
            self._put_run(txn, seq, wrun)

    def action(self, txn: lmdb.Transaction, cmd: commands_pb2.WorkflowRunAction,
               now_ms: int) -> commands_pb2.CommandResult:
        seq = wrun_seq(cmd.run_id)
        raw = txn.get(_U64.pack(seq), db=self.wruns) if seq else None
        if raw is None or seq is None:
            return err(grpc.StatusCode.NOT_FOUND, f"run_id: no workflow run {cmd.run_id[:40]!r}")
        wrun = workflows_pb2.WorkflowRun.FromString(raw)
        if wrun.state != WF.WF_RUNNING:
            return err(grpc.StatusCode.FAILED_PRECONDITION, f"workflow run {wrun.id} is not running "
                                                            f"({WF.Name(wrun.state).removeprefix('WF_')})")
        wf = self.get(txn, wrun.workflow_name, wrun.workflow_version)
        if wf is None:
            return err(grpc.StatusCode.FAILED_PRECONDITION, "its workflow version is no longer kept")
        if cmd.action == "pause":
            wrun.paused = True
            self._put_run(txn, seq, wrun)
            return ok(run_ids=[wrun.id])
        if cmd.action == "resume":
            wrun.paused = False
            ready = [t for t in self._tasks(txn, seq) if t.ready]
            progress = _StoredProgress(self, txn, seq)
            for t in ready:
                t.ready = False
                progress.loaded[t.name] = t
                progress.decided.add(t.name)
            order = {name: i for i, name in enumerate(self.graph(wf).order)}
            ready.sort(key=lambda t: order.get(t.name, 0))
            self._advance(txn, wf, wrun, seq, progress, [(t.name, dag.Decision.RUN) for t in ready], now_ms, "")
            return ok(run_ids=[wrun.id])
        if cmd.action != "kill":
            return err(grpc.StatusCode.INVALID_ARGUMENT, "action: kill, pause or resume")
        wrun.state, wrun.paused = WF.WF_KILLED, False
        tasks = self._tasks(txn, seq)
        started = [t for t in tasks if t.state == TS.TASK_STARTED]
        for t in tasks:
            if t.state == TS.TASK_WAITING:
                t.ready = False
                self._end_task(txn, seq, wrun, t, dag.Outcome.SKIPPED, now_ms, "the workflow run was killed")
        self._put_run(txn, seq, wrun)
        for t in started:
            run = self.runs.get_run(txn, t.run_id)
            if run is not None and run.state not in FINAL_STATES:
                # A run no agent has ends at once, and its task with it (task_final, in this apply).
                self.runs.kill(txn, run, f"workflow run {wrun.id} was killed", now_ms)
        return ok(run_ids=[wrun.id])

    def task_final(self, txn: lmdb.Transaction, run: runs_pb2.Run, now_ms: int) -> None:
        """A task's run became final: its outcome, its downstream tasks, and the run's end."""
        seq = wrun_seq(run.workflow_run_id)
        raw = txn.get(_U64.pack(seq), db=self.wruns) if seq else None
        if raw is None:
            return
        wrun = workflows_pb2.WorkflowRun.FromString(raw)
        wf = self.get(txn, wrun.workflow_name, wrun.workflow_version)
        assert seq is not None
        task = self.get_task(txn, seq, run.task)
        if wf is None or task is None or task.state != TS.TASK_STARTED or task.run_id != run.run_id:
            return  # not this task's current run (or already decided): nothing moves twice
        outcome = run_outcome(run.state)
        self._end_task(txn, seq, wrun, task, outcome, now_ms, run.error)
        progress = _StoredProgress(self, txn, seq)
        progress.loaded[task.name] = task
        decisions = dag.propagate(self.graph(wf), progress, task.name, outcome)
        self._advance(txn, wf, wrun, seq, progress, decisions, now_ms, "")

    def _advance(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                 seq: int, progress: _StoredProgress, decisions: list[tuple[str, dag.Decision]], now_ms: int,
                 idempotency_key: str) -> None:
        compiled = self._compiled_for(wf)
        graph, specs = compiled.dag, compiled.tasks
        pending = list(decisions)
        while pending:
            name, decision = pending.pop(0)
            task = progress.task(name)
            if decision is dag.Decision.SKIP:
                self._end_task(txn, seq, wrun, task, dag.Outcome.SKIPPED, now_ms, "its trigger rule ruled it out")
                continue
            if wrun.state == WF.WF_KILLED:
                self._end_task(txn, seq, wrun, task, dag.Outcome.SKIPPED, now_ms, "the workflow run was killed")
                pending += dag.propagate(graph, progress, name, dag.Outcome.SKIPPED)
                continue
            if wrun.paused:
                task.ready = True  # starts at resume
                self.put_task(txn, seq, task)
                continue
            problem = self._start_task(txn, wf, wrun, seq, specs[name], task, now_ms, idempotency_key)
            if problem:  # it could not start (its job is gone): that is its outcome
                self._end_task(txn, seq, wrun, task, dag.Outcome.FAILED, now_ms, problem)
                pending += dag.propagate(graph, progress, name, dag.Outcome.FAILED)
        self._put_run(txn, seq, wrun)

    def _start_task(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                    seq: int, spec: workflows_pb2.WorkflowTask, task: workflows_pb2.TaskRun, now_ms: int,
                    idempotency_key: str) -> str:
        if spec.job:
            raw = txn.get(spec.job.encode(), db=self.jobs)
            if raw is None:
                return f"job {spec.job!r} no longer exists"
            job = jobs_pb2.JobVersion.FromString(raw)
        else:
            job = jobs_pb2.JobVersion(spec=task_job_spec(wf.spec, spec), version=wf.version)
        # What the upstream tasks published reaches this one as WLOADCTL_UPSTREAM_<TASK>_<KEY> (bounded:
        # a join of many tasks does not build an environment no process could be started with).
        room = MAX_UPSTREAM_ENV_BYTES
        for upstream in spec.depends_on:
            done = self.get_task(txn, seq, upstream)
            run = self.runs.get_run(txn, done.run_id) if done is not None and done.run_id else None
            for key, value in sorted(run.outputs.items()) if run is not None else []:
                name = upstream_env(upstream, key)
                room -= len(name) + len(value.encode())
                if room < 0:
                    break
                job.spec.env[name] = value
        run_id = self.runs.create_run(txn, job, dict(wrun.params), f"task {spec.name} of workflow run {wrun.id}",
                                      now_ms, workflow_run_id=wrun.id, task=spec.name,
                                      business_date=wrun.business_date)
        task.state, task.run_id, task.started_ms = TS.TASK_STARTED, run_id, now_ms
        self.put_task(txn, seq, task)
        return ""

    def _end_task(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun, task: workflows_pb2.TaskRun,
                  outcome: dag.Outcome, now_ms: int, reason: str, keep_reason: bool = False) -> None:
        task.state, task.ended_ms = _OUTCOME_STATE[outcome], now_ms
        if reason and (keep_reason or outcome is not dag.Outcome.SUCCEEDED):
            task.reason = reason[:500]
        self.put_task(txn, seq, task)
        if outcome is dag.Outcome.SUCCEEDED:
            wrun.tasks_succeeded += 1
        elif outcome is dag.Outcome.FAILED:
            wrun.tasks_failed += 1
        else:
            wrun.tasks_skipped += 1
        if wrun.tasks_succeeded + wrun.tasks_failed + wrun.tasks_skipped == wrun.tasks_total:
            if wrun.state != WF.WF_KILLED:
                wrun.state = WF.WF_FAILED if wrun.tasks_failed else WF.WF_SUCCEEDED
            wrun.ended_ms = now_ms
        self._put_run(txn, seq, wrun)

    def _put_run(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun) -> None:
        stored = workflows_pb2.WorkflowRun()
        stored.CopyFrom(wrun)
        stored.ClearField("tasks")  # one record per task instead
        txn.put(_U64.pack(seq), encode(stored), db=self.wruns)


def _uncount(c: dag.Counts, outcome: dag.Outcome) -> None:
    if outcome is dag.Outcome.SUCCEEDED:
        c.succeeded = max(0, c.succeeded - 1)
    elif outcome is dag.Outcome.FAILED:
        c.failed = max(0, c.failed - 1)
    else:
        c.skipped = max(0, c.skipped - 1)


def _date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()

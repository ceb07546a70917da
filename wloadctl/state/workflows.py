"""Workflows in the replicated state: versioned definitions, and runs whose tasks advance at apply.

A workflow run is a header record (`wruns`) and one record per task (`wtasks`, keyed by the run
and the task's name). Its first tasks get job runs in the entry that creates it; when a task's run
becomes final, the same entry updates the counters of its downstream tasks only and creates the
runs that this makes ready (scheduler/dag.py decides), so a hop costs one Raft entry and work in
proportion to the out-degree, whatever the size of the workflow.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import lmdb

from wloadctl.model import expressions
from wloadctl.model.outputs import env_name, upstream_env
from wloadctl.model.workflows import DEFAULT_MAX_TASKS, task_job_spec, trigger_job, validate_workflow
from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.scheduler import dag, task_policy
from wloadctl.scheduler.calendars import WorkingDays, parse_date
from wloadctl.scheduler.triggers import ScheduleError, business_date
from wloadctl.state.changes import WORKFLOW, WORKFLOW_RUN
from wloadctl.state.encoding import encode
from wloadctl.state.facts import add_fact
from wloadctl.state.results import err, ok
from wloadctl.state.runs import FINAL_STATES, MAX_PARAMS, RunTables

# wtimers: (due ms, run, task) -> kind (retry, wait timeout); wwaits: what a held task waits for ->
# (run, task); wfacts: what has succeeded, by business date (what waits are met by).
WORKFLOW_DBS = (b"workflows", b"workflow_versions", b"workflow_seq", b"wruns", b"wtasks", b"wruns_by_workflow",
                b"wtimers", b"wwaits", b"wfacts")
WORKFLOW_MESSAGES = {b"workflows": workflows_pb2.WorkflowVersion, b"workflow_versions": workflows_pb2.WorkflowVersion,
                     b"wruns": workflows_pb2.WorkflowRun, b"wtasks": workflows_pb2.TaskRun}
_U64 = struct.Struct(">Q")
_WRUN_SEQ = b"wrun_seq"
WF = workflows_pb2.WorkflowRunState
TS = workflows_pb2.TaskState
RS = runs_pb2.RunState
_DAG_CACHE = 32
MAX_UPSTREAM_ENV_BYTES = 256 << 10
MAX_CONTEXT_KEYS = 256
MAX_CONTEXT_BYTES = 64 << 10
MAX_DEPTH = 8                   # sub-workflows within sub-workflows
DEFAULT_KEEP_RUNS = 500
_TIMER_RETRY, _TIMER_WAIT = b"r", b"x"  # a timer's value: its kind, then its delay (ms, signed)
_I64 = struct.Struct(">q")
_STATE_NAMES = {TS.TASK_WAITING: "waiting", TS.TASK_STARTED: "running", TS.TASK_SUCCEEDED: "succeeded",
                TS.TASK_FAILED: "failed", TS.TASK_SKIPPED: "skipped", TS.TASK_HELD: "waiting",
                TS.TASK_RETRYING: "running"}
_OUTCOME_STATE = {dag.Outcome.SUCCEEDED: TS.TASK_SUCCEEDED, dag.Outcome.FAILED: TS.TASK_FAILED,
                  dag.Outcome.SKIPPED: TS.TASK_SKIPPED}


_Found = tuple[int, workflows_pb2.WorkflowRun, workflows_pb2.WorkflowVersion]


@dataclass(frozen=True)
class _Compiled:
    raw: bytes
    version: workflows_pb2.WorkflowVersion
    dag: dag.Dag
    tasks: Mapping[str, workflows_pb2.WorkflowTask]


def _task_map(spec: workflows_pb2.WorkflowSpec) -> dict[str, workflows_pb2.WorkflowTask]:
    """Tasks and on-failure handlers by name (handlers are not in the graph)."""
    return {t.name: t for t in (*spec.tasks, *spec.on_failure)}


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
        self.timers = dbs[b"wtimers"]
        self.waits = dbs[b"wwaits"]
        self.facts = dbs[b"wfacts"]
        self.runs = runs
        # Set by the store: the calendars as of a transaction (business days of waits).
        self.working: Callable[[lmdb.Transaction], WorkingDays] | None = None
        # Work one change causes in other workflow runs (a parent's task, a held task elsewhere):
        # done after the change's own records are written, so no record is held twice in memory.
        self._woken: list[tuple[int, str]] = []
        self._ended_children: list[tuple[str, str, str, int]] = []
        # Set by the store: a workflow's scheduling fields changed (old, new as jobs without a command),
        # for the schedule, event and calendar indexes the jobs use too.
        self.on_trigger_changed: Callable[[lmdb.Transaction, jobs_pb2.JobVersion | None,
                                           jobs_pb2.JobVersion, int], None] | None = None
        self._nesting = 0
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
        found = _Compiled(raw, wf, dag.Dag.of(wf.spec), _task_map(wf.spec))
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
                for k, dep in enumerate(task.wait_for):
                    if dep.calendar and self.working is not None and not self.working(txn).known(dep.calendar):
                        problems.append(f"{where}.tasks[{j}].wait_for[{k}].calendar: no calendar {dep.calendar!r}")
            for j, task in enumerate(spec.on_failure):
                if task.job and txn.get(task.job.encode(), db=self.jobs) is None:
                    problems.append(f"{where}.on_failure[{j}].job: no job {task.job!r}")
            for name in spec.trigger.calendars:
                if self.working is not None and not self.working(txn).known(name):
                    problems.append(f"{where}.trigger.calendars: no calendar {name!r}")
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
            live = current is not None and not current.deleted
            if not live or current.spec.domain != spec.domain:
                if live:
                    self.runs.stats.workflow_defined(txn, current.spec.domain or "default", -1)
                self.runs.stats.workflow_defined(txn, spec.domain, 1)
            version = self._next_version(txn, spec.name)
            record = workflows_pb2.WorkflowVersion(spec=spec, version=version, created_ms=now_ms, raft_index=raft_index)
            data = encode(record)
            txn.put(spec.name.encode(), data, db=self.latest)
            self.runs.changes.put(WORKFLOW, spec.name, data)
            txn.put(spec.name.encode() + b"\0" + _U64.pack(version), data, db=self.versions)
            if self.on_trigger_changed is not None:
                old = trigger_job(current) if current is not None and not current.deleted else None
                self.on_trigger_changed(txn, old, trigger_job(record), now_ms)
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
        if not current.deleted:
            self.runs.stats.workflow_defined(txn, current.spec.domain or "default", -1)
        self.runs.changes.delete(WORKFLOW, name)
        if self.on_trigger_changed is not None:
            self.on_trigger_changed(txn, trigger_job(current), trigger_job(tomb), now_ms)
        return ok(jobs=[jobs_pb2.JobRef(name=name, version=version, changed=True)])

    def last_domain(self, txn: lmdb.Transaction, name: str) -> str | None:
        """The domain of the latest version, a deletion included (None: never written)."""
        raw = txn.get(name.encode(), db=self.seq) if name else None
        latest = txn.get(name.encode() + b"\0" + raw, db=self.versions) if raw else None
        return workflows_pb2.WorkflowVersion.FromString(latest).spec.domain if latest else None

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
        return _Compiled(b"", wf, dag.Dag.of(wf.spec), _task_map(wf.spec))

    # ---- runs

    def get_run(self, txn: lmdb.Transaction, wrun_id: str, with_tasks: bool = True) -> workflows_pb2.WorkflowRun | None:
        seq = wrun_seq(wrun_id)
        raw = txn.get(_U64.pack(seq), db=self.wruns) if seq else None
        if raw is None:
            return None
        wrun = workflows_pb2.WorkflowRun.FromString(raw)
        if with_tasks:
            wf = self.get(txn, wrun.workflow_name, wrun.workflow_version)
            order = [t.name for t in (*wf.spec.tasks, *wf.spec.on_failure)] if wf is not None else []
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
        self.runs.changes.put(WORKFLOW_RUN, f"w{seq}", b"")

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
        problem = self._params_problem(wf, cmd.params)
        if problem:
            return err(grpc.StatusCode.INVALID_ARGUMENT, problem)
        if cmd.business_date and parse_date(cmd.business_date) is None:
            return err(grpc.StatusCode.INVALID_ARGUMENT, "business_date: YYYY-MM-DD")
        with self._operation(txn, now_ms):
            wrun = self._create_run(txn, wf, dict(cmd.params), cmd.business_date or _date(now_ms),
                                    cmd.cause or "manual run", now_ms, idempotency_key)
        return ok(run_ids=[wrun.id])

    @staticmethod
    def _params_problem(wf: workflows_pb2.WorkflowVersion, params: Mapping[str, str]) -> str:
        unknown = sorted(set(params) - set(wf.spec.params))
        if unknown:
            has = ", ".join(sorted(wf.spec.params)) or "none"
            return f"params.{unknown[0][:60]}: not a parameter of workflow {wf.spec.name!r} (it has: {has})"
        if len(params) > MAX_PARAMS or any(len(v) > 4096 for v in params.values()):
            return f"params: at most {MAX_PARAMS}, values up to 4096 characters"
        return ""

    def _create_run(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, overrides: Mapping[str, str],
                    business_date: str, cause: str, now_ms: int, idempotency_key: str, parent: str = "",
                    parent_task: str = "", depth: int = 0, slot_ms: int = 0) -> workflows_pb2.WorkflowRun:
        raw_seq = txn.get(_WRUN_SEQ, db=self.meta)
        seq = (_U64.unpack(raw_seq)[0] if raw_seq else 0) + 1
        txn.put(_WRUN_SEQ, _U64.pack(seq), db=self.meta)
        params = dict(sorted(wf.spec.params.items()))
        params.update(sorted(overrides.items()))
        wrun = workflows_pb2.WorkflowRun(
            id=f"w{seq}", workflow_name=wf.spec.name, workflow_version=wf.version, state=WF.WF_RUNNING, params=params,
            business_date=business_date, created_ms=now_ms, cause=cause[:500], tasks_total=len(wf.spec.tasks),
            domain=wf.spec.domain, parent_run_id=parent, parent_task=parent_task, depth=depth,
            handlers_total=len(wf.spec.on_failure),
            slot_time=_iso(slot_ms) if slot_ms else "")
        wf = self.get(txn, wf.spec.name, wf.version) or wf  # the shared parse: the run's hops reuse it
        graph = self.graph(wf)
        for task in wf.spec.tasks:
            self.put_task(txn, seq, workflows_pb2.TaskRun(name=task.name, upstream=len(task.depends_on)))
        for task in wf.spec.on_failure:
            self.put_task(txn, seq, workflows_pb2.TaskRun(name=task.name, handler=True))
        txn.put(wf.spec.name.encode() + b"\0" + _U64.pack(seq), b"", db=self.by_workflow)
        self._put_run(txn, seq, wrun)
        progress = _StoredProgress(self, txn, seq)
        first = dag.first_tasks(graph)
        progress.decided.update(first)
        self._advance(txn, wf, wrun, seq, progress, [(n, dag.Decision.RUN) for n in first], now_ms, idempotency_key)
        return wrun

    def impact_elsewhere(self, txn: lmdb.Transaction, wrun: workflows_pb2.WorkflowRun, tasks: list[str],
                         limit: int = 1000) -> list[workflows_pb2.ImpactedTask]:
        """Tasks of other workflow runs held on ``tasks`` of ``wrun`` (or on the whole run), and the
        tasks after those in their runs, transitively across further waits (bounded by ``limit``)."""
        out: list[workflows_pb2.ImpactedTask] = []
        seen: set[tuple[int, str]] = set()
        frontier = [(wrun, list(tasks))]
        while frontier and len(out) < limit:
            run, names = frontier.pop(0)
            keys = [task_policy.task_fact(run.workflow_name, n, run.business_date) for n in names]
            keys.append(task_policy.task_fact(run.workflow_name, "", run.business_date))
            for key in keys:
                prefix = key.encode() + b"\x01"
                cur = txn.cursor(db=self.waits)
                waiters = []
                if cur.set_range(prefix):
                    for k in cur.iternext(keys=True, values=False):
                        if not k.startswith(prefix):
                            break
                        rest = bytes(k[len(prefix):])
                        waiters.append((_U64.unpack(rest[:8])[0], rest[8:].decode()))
                for seq, name in waiters:
                    other = self.get_run(txn, f"w{seq}")
                    wf = self.get(txn, other.workflow_name, other.workflow_version) if other is not None else None
                    if other is None or wf is None:
                        continue
                    by_name = {t.name: t for t in other.tasks}
                    affected = [name, *dag.descendants(self.graph(wf), name)]
                    fresh = [n for n in affected if (seq, n) not in seen and n in by_name]
                    for n in fresh:
                        seen.add((seq, n))
                        out.append(workflows_pb2.ImpactedTask(run_id=other.id, workflow=other.workflow_name,
                                                              domain=other.domain, task=by_name[n]))
                    if fresh:
                        frontier.append((other, fresh))
        return out[:limit]

    # ---- schedules and events (state/schedules.py and state/events.py call these)

    def trigger_version(self, txn: lmdb.Transaction, name: str) -> jobs_pb2.JobVersion | None:
        wf = self.get(txn, name)
        return trigger_job(wf) if wf is not None and not wf.deleted else None

    def running_of(self, txn: lmdb.Transaction, name: str) -> str:
        """A running run of workflow ``name`` among its newest 100 ("" = none)."""
        for wrun in self.list_runs(txn, name, 100):
            if wrun.state == WF.WF_RUNNING:
                return wrun.id
        return ""

    def start_scheduled(self, txn: lmdb.Transaction, job: jobs_pb2.JobVersion, slot_ms: int, now_ms: int) -> str:
        wf = self.get(txn, job.spec.name)
        if wf is None:
            return ""
        try:
            date = business_date(job.spec, slot_ms)
        except ScheduleError:
            date = _date(slot_ms)
        with self._operation(txn, now_ms):
            wrun = self._create_run(txn, wf, {}, date, f"schedule slot {_iso(slot_ms)}", now_ms, "", slot_ms=slot_ms)
        return wrun.id

    def start_by_event(self, txn: lmdb.Transaction, name: str, params: dict[str, str], cause: str, now_ms: int,
                       idempotency_key: str) -> str:
        wf = self.get(txn, name)
        if wf is None:
            return ""
        declared = {k: v for k, v in params.items() if k in wf.spec.params}  # an event carries what it carries
        if self._params_problem(wf, declared):
            return ""
        with self._operation(txn, now_ms):
            wrun = self._create_run(txn, wf, declared, _date(now_ms), cause, now_ms, idempotency_key)
        return wrun.id

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
        with self._operation(txn, now_ms):
            return self._rerun(txn, cmd, now_ms)

    def _rerun(self, txn: lmdb.Transaction, cmd: commands_pb2.RerunWorkflow,
               now_ms: int) -> commands_pb2.CommandResult:
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
        with self._operation(txn, now_ms):
            return self._mark(txn, cmd, now_ms)

    def _mark(self, txn: lmdb.Transaction, cmd: commands_pb2.MarkWorkflowTask,
              now_ms: int) -> commands_pb2.CommandResult:
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
        if task.state in (TS.TASK_WAITING, TS.TASK_HELD, TS.TASK_RETRYING):
            if wrun.state != WF.WF_RUNNING:
                return err(grpc.StatusCode.FAILED_PRECONDITION, f"workflow run {wrun.id} is not running")
            progress = _StoredProgress(self, txn, seq)
            progress.loaded[task.name] = task
            self._unhold(txn, seq, task)  # a retry's timer finds the task ended and does nothing
            task.ready, task.waiting_for, task.held_until_ms, task.retry_at_ms = False, "", 0, 0
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
        if wrun.state == WF.WF_SUCCEEDED:  # run again: the run as a whole proves nothing until it ends again
            add_fact(txn, self.facts, task_policy.task_fact(wrun.workflow_name, "", wrun.business_date).encode(), -1)
        for name in reset:
            task = progress.task(name)
            if task.state == TS.TASK_SUCCEEDED:  # it proves nothing until it succeeds again
                add_fact(txn, self.facts, task_policy.task_fact(wrun.workflow_name, name, wrun.business_date).encode(),
                         -1)
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
        if wrun.handlers_started:  # they run again if the run fails again
            wrun.handlers_started, wrun.handlers_done, wrun.handlers_failed = False, 0, 0
            for spec in wf.spec.on_failure:
                self.put_task(txn, seq, workflows_pb2.TaskRun(name=spec.name, handler=True))
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
        self._check_end(txn, seq, wrun, now_ms)  # when nothing reset runs again (all kept or marked)

    def action(self, txn: lmdb.Transaction, cmd: commands_pb2.WorkflowRunAction,
               now_ms: int) -> commands_pb2.CommandResult:
        with self._operation(txn, now_ms):
            return self._action(txn, cmd, now_ms)

    def _action(self, txn: lmdb.Transaction, cmd: commands_pb2.WorkflowRunAction,
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
            ready.sort(key=lambda t: order.get(t.name, len(order)))
            self._advance(txn, wf, wrun, seq, progress, [(t.name, dag.Decision.RUN) for t in ready], now_ms, "",
                          launch=True)
            return ok(run_ids=[wrun.id])
        if cmd.action != "kill":
            return err(grpc.StatusCode.INVALID_ARGUMENT, "action: kill, pause or resume")
        self._kill(txn, seq, wrun, f"workflow run {wrun.id} was killed", now_ms)
        return ok(run_ids=[wrun.id])

    def _kill(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun, cause: str,
              now_ms: int) -> None:
        """Its running tasks' runs are killed (their ends arrive as usual), the rest skipped, its
        sub-workflow runs killed too."""
        wrun.state, wrun.paused = WF.WF_KILLED, False
        tasks = self._tasks(txn, seq)
        started = [t for t in tasks if t.state == TS.TASK_STARTED]
        for t in tasks:
            if t.state in (TS.TASK_WAITING, TS.TASK_HELD):
                t.ready = False
                self._unhold(txn, seq, t)
                self._end_task(txn, seq, wrun, t, dag.Outcome.SKIPPED, now_ms, "the workflow run was killed")
            elif t.state == TS.TASK_RETRYING:
                self._end_task(txn, seq, wrun, t, dag.Outcome.FAILED, now_ms, "the workflow run was killed before "
                                                                              "its retry")
        self._put_run(txn, seq, wrun)
        for t in started:
            if t.child_run_id:
                child_seq = wrun_seq(t.child_run_id)
                child = self.get_run(txn, t.child_run_id, with_tasks=False)
                if child is not None and child_seq is not None and child.state == WF.WF_RUNNING:
                    self._kill(txn, child_seq, child, f"its parent workflow run {wrun.id} was killed", now_ms)
                continue
            run = self.runs.get_run(txn, t.run_id)
            if run is not None and run.state not in FINAL_STATES:
                # A run no agent has ends at once, and its task with it (task_final, in this apply).
                self.runs.kill(txn, run, cause, now_ms)

    def task_final(self, txn: lmdb.Transaction, run: runs_pb2.Run, now_ms: int) -> None:
        """A run became final: a workflow task's outcome (its downstream tasks, a retry, the run's end),
        and for any run of a business date, what waits for its job."""
        with self._operation(txn, now_ms):
            if run.state == RS.SUCCEEDED and run.business_date and run.job_name:
                self._record_fact(txn, task_policy.job_fact(run.job_name, run.business_date))
            if run.workflow_run_id:
                self._task_final(txn, run, now_ms)

    def _task_final(self, txn: lmdb.Transaction, run: runs_pb2.Run, now_ms: int) -> None:
        seq = wrun_seq(run.workflow_run_id)
        found = self._loaded(txn, seq) if seq else None
        task = self.get_task(txn, seq, run.task) if seq else None
        if found is None or seq is None or task is None or task.state != TS.TASK_STARTED or task.run_id != run.run_id:
            return  # not this task's current run (or already decided): nothing moves twice
        wrun, wf = found
        self._merge_context(wrun, run.outputs)
        code = run.exit_code if run.state == RS.FAILED else task_policy.NO_EXIT_CODE
        task.exit_code = run.exit_code if run.state in (RS.FAILED, RS.SUCCEEDED) else task_policy.NO_EXIT_CODE
        outcome = run_outcome(run.state)
        spec = self._compiled_for(wf).tasks.get(task.name)
        if outcome is dag.Outcome.FAILED and run.state != RS.KILLED and wrun.state == WF.WF_RUNNING and \
                spec is not None and task_policy.should_retry(spec.retry, task.attempt, code):
            self._retry(txn, wf, wrun, seq, spec, task, run, now_ms)
            self._put_run(txn, seq, wrun)
            return
        if outcome is dag.Outcome.FAILED:
            code_text = f", exit code {run.exit_code}" if run.state == RS.FAILED else ""
            reason = run.error or f"run {run.run_id} ended {RS.Name(run.state)}{code_text}"
            if task.attempt > 1:
                reason = f"attempt {task.attempt} (the last) failed: {reason}"
        else:
            # A retry's note ("attempt 2 at ...") is history now; another note (ran without its
            # wait) stays.
            kept = "" if task.reason.startswith("attempt ") else task.reason
            done = f"succeeded on attempt {task.attempt}" if task.attempt > 1 else ""
            reason = "; ".join(r for r in (kept, done) if r)
        self._finish(txn, wf, wrun, seq, task, outcome, now_ms, reason)

    def _finish(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                seq: int, task: workflows_pb2.TaskRun, outcome: dag.Outcome, now_ms: int, reason: str) -> None:
        """``task`` ended with ``outcome``: record it, decide what comes after it, start that."""
        self._end_task(txn, seq, wrun, task, outcome, now_ms, reason, keep_reason=True)
        if task.handler:
            self._advance(txn, wf, wrun, seq, _StoredProgress(self, txn, seq), [], now_ms, "")
            return
        progress = _StoredProgress(self, txn, seq)
        progress.loaded[task.name] = task
        decisions = dag.propagate(self.graph(wf), progress, task.name, outcome)
        self._advance(txn, wf, wrun, seq, progress, decisions, now_ms, "")

    def _retry(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
               seq: int, spec: workflows_pb2.WorkflowTask, task: workflows_pb2.TaskRun, run: runs_pb2.Run,
               now_ms: int) -> None:
        task.previous_run_ids.append(run.run_id)
        delay = task_policy.retry_delay_ms(spec.retry, task.attempt)
        what = f"run {run.run_id} {RS.Name(run.state).lower()}"
        if delay == 0 and not wrun.paused:
            task.reason = f"attempt {task.attempt} failed ({what}): retried"
            problem = self._start_task(txn, wf, wrun, seq, spec, task, now_ms, "")
            if problem:
                self._finish(txn, wf, wrun, seq, task, dag.Outcome.FAILED, now_ms, problem)
            return
        task.state, task.retry_at_ms, task.run_id = TS.TASK_RETRYING, now_ms + delay, ""
        task.reason = f"attempt {task.attempt} failed ({what}): attempt {task.attempt + 1} at {_iso(now_ms + delay)}"
        self.put_task(txn, seq, task)
        txn.put(_timer_key(now_ms + delay, seq, task.name), _TIMER_RETRY + _I64.pack(delay), db=self.timers)

    def _advance(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                 seq: int, progress: _StoredProgress, decisions: list[tuple[str, dag.Decision]], now_ms: int,
                 idempotency_key: str, launch: bool = False) -> None:
        """Carry out ``decisions``: skips, and runs (each through its condition, switch and waits,
        unless ``launch``: those were passed already), and what each causes in turn."""
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
            spec = specs[name]
            ended: tuple[dag.Outcome, str, dict[str, dag.Outcome] | None] | None = None
            if not launch:
                ended = self._gate(txn, wf, wrun, seq, spec, task, now_ms)
            if ended is None:
                problem = self._launch(txn, wf, wrun, seq, spec, task, now_ms, idempotency_key)
                if problem:  # it could not start (its job is gone, a template failed): that is its outcome
                    ended = (dag.Outcome.FAILED, problem, None)
            if ended is not None and ended[0] is not None:
                outcome, reason, per_child = ended
                self._end_task(txn, seq, wrun, task, outcome, now_ms, reason, keep_reason=True)
                pending += dag.propagate(graph, progress, name, outcome, per_child)
        self._handlers(txn, wf, wrun, seq, now_ms)
        self._put_run(txn, seq, wrun)

    def _gate(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
              seq: int, spec: workflows_pb2.WorkflowTask, task: workflows_pb2.TaskRun,
              now_ms: int) -> tuple[Any, str, dict[str, dag.Outcome] | None] | None:
        """What a task whose rule holds meets before it starts: its condition, its switch, its waits.
        None: start it; (outcome, reason, per-child outcomes): it ended here; (None, ...): it is held."""
        if spec.when:
            try:
                holds = expressions.truthy(expressions.evaluate(_expr(spec.when),
                                                                self._resolver(txn, seq, wrun, task.attempt + 1)))
            except expressions.ExpressionError as e:
                return dag.Outcome.FAILED, f"its condition could not be evaluated: {e}", None
            if not holds:
                return dag.Outcome.SKIPPED, f"its condition is false: {spec.when}", None
        if spec.cases:
            resolve = self._resolver(txn, seq, wrun, task.attempt + 1)
            try:
                chosen = task_policy.choose_case(spec.cases, lambda text: expressions.truthy(
                    expressions.evaluate(_expr(text), resolve)))
            except expressions.ExpressionError as e:
                return dag.Outcome.FAILED, f"its cases could not be evaluated: {e}", None
            task.chosen[:] = chosen
            others = {t for case in spec.cases for t in case.run} - set(chosen)
            reason = f"chose {', '.join(chosen)}" if chosen else "no case held: every branch skipped"
            return dag.Outcome.SUCCEEDED, reason, dict.fromkeys(sorted(others), dag.Outcome.SKIPPED)
        if spec.wait_for:
            unmet = self._unmet(txn, wf, wrun, spec)
            if unmet:
                self._hold(txn, seq, task, unmet, now_ms)
                return None, "", None
        return None

    def _launch(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                seq: int, spec: workflows_pb2.WorkflowTask, task: workflows_pb2.TaskRun, now_ms: int,
                idempotency_key: str) -> str:
        if task.state == TS.TASK_HELD:  # its waits were met, or timed out with "run"
            self._unhold(txn, seq, task)
            task.state, task.waiting_for, task.held_until_ms = TS.TASK_WAITING, "", 0
        if wrun.paused:
            task.ready = True  # starts at resume
            self.put_task(txn, seq, task)
            return ""
        return self._start_task(txn, wf, wrun, seq, spec, task, now_ms, idempotency_key)

    def _start_task(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                    seq: int, spec: workflows_pb2.WorkflowTask, task: workflows_pb2.TaskRun, now_ms: int,
                    idempotency_key: str) -> str:
        task.attempt += 1
        task.retry_at_ms = 0
        resolve = self._resolver(txn, seq, wrun, task.attempt)
        if spec.workflow:
            return self._start_child(txn, wrun, seq, spec, task, resolve, now_ms)
        if spec.job:
            raw = txn.get(spec.job.encode(), db=self.jobs)
            if raw is None:
                return f"job {spec.job!r} no longer exists"
            job = jobs_pb2.JobVersion.FromString(raw)
        else:
            job = jobs_pb2.JobVersion(spec=task_job_spec(wf.spec, spec), version=wf.version)
            try:
                _render_command(job.spec, resolve)
            except expressions.ExpressionError as e:
                return f"a template in its command or env: {e}"
        env = job.spec.env
        env.update({"WLOADCTL_WORKFLOW": wrun.workflow_name, "WLOADCTL_WORKFLOW_RUN": wrun.id,
                    "WLOADCTL_TASK": spec.name, "WLOADCTL_TASK_ATTEMPT": str(task.attempt)})
        # What the upstream tasks published reaches this one as WLOADCTL_UPSTREAM_<TASK>_<KEY>, the
        # run's context as WLOADCTL_CONTEXT_<KEY> (bounded: a join of many tasks does not build an
        # environment no process could be started with).
        room = MAX_UPSTREAM_ENV_BYTES
        for key, value in sorted(wrun.context.items()):
            env[f"WLOADCTL_CONTEXT_{env_name(key)}"] = value
        for upstream in spec.depends_on:
            done = self.get_task(txn, seq, upstream)
            run = self.runs.get_run(txn, done.run_id) if done is not None and done.run_id else None
            for key, value in sorted(run.outputs.items()) if run is not None else []:
                name = upstream_env(upstream, key)
                room -= len(name) + len(value.encode())
                if room < 0:
                    break
                env[name] = value
        run_id = self.runs.create_run(txn, job, dict(wrun.params), f"task {spec.name} of workflow run {wrun.id}",
                                      now_ms, workflow_run_id=wrun.id, task=spec.name,
                                      business_date=wrun.business_date)
        task.state, task.run_id, task.started_ms, task.ready = TS.TASK_STARTED, run_id, now_ms, False
        self.put_task(txn, seq, task)
        return ""

    def _start_child(self, txn: lmdb.Transaction, wrun: workflows_pb2.WorkflowRun, seq: int,
                     spec: workflows_pb2.WorkflowTask, task: workflows_pb2.TaskRun,
                     resolve: Callable[[tuple[str, ...]], object], now_ms: int) -> str:
        child_wf = self.get(txn, spec.workflow)
        if child_wf is None:
            return f"workflow {spec.workflow!r} does not exist"
        if wrun.depth + 1 > MAX_DEPTH:
            return f"sub-workflows nest at most {MAX_DEPTH} deep (this one would be {wrun.depth + 1})"
        params: dict[str, str] = {}
        try:
            for key, value in sorted(spec.workflow_params.items()):
                params[key] = _render(value, resolve)
        except expressions.ExpressionError as e:
            return f"a template in its params: {e}"
        problem = self._params_problem(child_wf, params)
        if problem:
            return problem
        child = self._create_run(txn, child_wf, params, wrun.business_date,
                                 f"task {spec.name} of workflow run {wrun.id}", now_ms, "", parent=wrun.id,
                                 parent_task=spec.name, depth=wrun.depth + 1)
        task.state, task.child_run_id, task.run_id, task.started_ms = TS.TASK_STARTED, child.id, "", now_ms
        task.ready = False
        self.put_task(txn, seq, task)
        return ""

    def _end_task(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun, task: workflows_pb2.TaskRun,
                  outcome: dag.Outcome, now_ms: int, reason: str, keep_reason: bool = False) -> None:
        task.state, task.ended_ms, task.ready = _OUTCOME_STATE[outcome], now_ms, False
        if reason and (keep_reason or outcome is not dag.Outcome.SUCCEEDED):
            task.reason = reason[:500]
        self.put_task(txn, seq, task)
        if task.handler:
            wrun.handlers_done += 1
            wrun.handlers_failed += outcome is dag.Outcome.FAILED
        elif outcome is dag.Outcome.SUCCEEDED:
            wrun.tasks_succeeded += 1
            self._record_fact(txn, task_policy.task_fact(wrun.workflow_name, task.name, wrun.business_date))
        elif outcome is dag.Outcome.FAILED:
            wrun.tasks_failed += 1
        else:
            wrun.tasks_skipped += 1
        self._check_end(txn, seq, wrun, now_ms)

    def _check_end(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun, now_ms: int) -> None:
        if wrun.ended_ms or wrun.tasks_succeeded + wrun.tasks_failed + wrun.tasks_skipped < wrun.tasks_total:
            return
        if wrun.handlers_started and wrun.handlers_done < wrun.handlers_total:
            return  # its handlers still run
        if wrun.tasks_failed and wrun.handlers_total and not wrun.handlers_started and wrun.state != WF.WF_KILLED:
            return  # its handlers start (_handlers, at the end of this change)
        if wrun.state != WF.WF_KILLED:
            wrun.state = WF.WF_FAILED if wrun.tasks_failed else WF.WF_SUCCEEDED
        wrun.ended_ms = now_ms
        self._put_run(txn, seq, wrun)
        if wrun.state == WF.WF_SUCCEEDED:
            self._record_fact(txn, task_policy.task_fact(wrun.workflow_name, "", wrun.business_date))
        if wrun.parent_run_id:
            self._ended_children.append((wrun.id, wrun.parent_run_id, wrun.parent_task, wrun.state))
        self._trim_runs(txn, wrun.workflow_name)

    def _handlers(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                  seq: int, now_ms: int) -> None:
        """Every task ended and one failed: the workflow's on-failure handlers start (once)."""
        if not wrun.handlers_total or wrun.handlers_started or wrun.ended_ms or not wrun.tasks_failed or \
                wrun.state == WF.WF_KILLED or \
                wrun.tasks_succeeded + wrun.tasks_failed + wrun.tasks_skipped < wrun.tasks_total:
            return
        wrun.handlers_started = True
        failed = [t.name for t in self._tasks(txn, seq) if t.state == TS.TASK_FAILED and not t.handler]
        wrun.context["failed_tasks"] = ",".join(failed)[:4000]
        for spec in wf.spec.on_failure:
            task = self.get_task(txn, seq, spec.name) or workflows_pb2.TaskRun(name=spec.name, handler=True)
            problem = self._launch(txn, wf, wrun, seq, spec, task, now_ms, "")
            if problem:
                self._end_task(txn, seq, wrun, task, dag.Outcome.FAILED, now_ms, problem)

    def _put_run(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun) -> None:
        stored = workflows_pb2.WorkflowRun()
        stored.CopyFrom(wrun)
        stored.ClearField("tasks")  # one record per task instead
        txn.put(_U64.pack(seq), encode(stored), db=self.wruns)
        # A watch reads the whole run (with its tasks) when it sends the change.
        self.runs.changes.put(WORKFLOW_RUN, f"w{seq}", b"")

    # ---- context and expressions

    def _merge_context(self, wrun: workflows_pb2.WorkflowRun, outputs: Mapping[str, str]) -> None:
        """A task's outputs join the run's context (a later task's value for a key replaces an
        earlier one), within bounds."""
        if not outputs:
            return
        merged = dict(wrun.context)
        merged.update(outputs)
        kept: dict[str, str] = {}
        size = 0
        for key in sorted(merged):
            size += len(key) + len(merged[key].encode())
            if len(kept) >= MAX_CONTEXT_KEYS or size > MAX_CONTEXT_BYTES:
                break
            kept[key] = merged[key]
        wrun.context.clear()
        wrun.context.update(kept)

    def _resolver(self, txn: lmdb.Transaction, seq: int, wrun: workflows_pb2.WorkflowRun,
                  attempt: int) -> Callable[[tuple[str, ...]], object]:
        """Names of expressions and templates (docs/expressions.md) as of this entry."""

        def resolve(path: tuple[str, ...]) -> object:
            root = path[0] if path else ""
            if root == "params" and len(path) == 2:
                return wrun.params.get(path[1])
            if root == "context" and len(path) == 2:
                return wrun.context.get(path[1])
            if root == "business_date" and len(path) == 1:
                return wrun.business_date
            if root == "run" and len(path) == 2:
                if path[1] == "attempt":
                    return attempt
                return {"id": wrun.id, "workflow": wrun.workflow_name}.get(path[1])
            if root == "tasks" and len(path) >= 3:
                t = self.get_task(txn, seq, path[1])
                if t is None:
                    return None
                if path[2] == "state" and len(path) == 3:
                    return _STATE_NAMES.get(t.state)
                ended_run = t.state in (TS.TASK_SUCCEEDED, TS.TASK_FAILED) and (t.run_id or t.child_run_id)
                if path[2] == "exit_code" and len(path) == 3:
                    return t.exit_code if ended_run and t.run_id else None
                if path[2] == "outputs" and len(path) == 4 and t.run_id:
                    run = self.runs.get_run(txn, t.run_id)
                    return run.outputs.get(path[3]) if run is not None else None
            return None

        return resolve

    # ---- waits on other workflows

    def _unmet(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
               spec: workflows_pb2.WorkflowTask) -> list[tuple[str, str, int, str]]:
        """(key, description, timeout s, on-timeout) of each wait of ``spec`` not met yet."""
        out = []
        for dep in spec.wait_for:
            date = self._dep_date(txn, wf, wrun, dep)
            key = task_policy.dependency_key(dep, wrun.workflow_name, date)
            if txn.get(key.encode(), db=self.facts) is None:
                out.append((key, task_policy.describe_dependency(
                    workflows_pb2.ExternalDependency(workflow=dep.workflow or wrun.workflow_name, task=dep.task,
                                                     job=dep.job), date), dep.timeout_seconds, dep.on_timeout))
        return out

    def _dep_date(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                  dep: workflows_pb2.ExternalDependency) -> str:
        day = parse_date(wrun.business_date)
        if day is None or dep.business_days == 0:
            return wrun.business_date
        calendar = dep.calendar or (wf.spec.trigger.calendars[0] if wf.spec.trigger.calendars else "")
        if calendar and self.working is not None:
            working = self.working(txn)
            if working.known(calendar):
                return task_policy.shift_business_days(day, dep.business_days,
                                                       lambda d: working.is_working(calendar, d)).isoformat()
        return task_policy.shift_business_days(day, dep.business_days, task_policy.weekday_working).isoformat()

    def _hold(self, txn: lmdb.Transaction, seq: int, task: workflows_pb2.TaskRun,
              unmet: list[tuple[str, str, int, str]], now_ms: int) -> None:
        """Hold a task on its unmet waits; one held already keeps its deadline (counted from when it
        began waiting)."""
        timed = [(timeout, policy) for _, _, timeout, policy in unmet if timeout]
        if task.state != TS.TASK_HELD:
            task.held_until_ms = now_ms + min(timed)[0] * 1000 if timed else 0
            if task.held_until_ms:
                txn.put(_timer_key(task.held_until_ms, seq, task.name),
                        _TIMER_WAIT + _I64.pack(task.held_until_ms - now_ms), db=self.timers)
        task.state = TS.TASK_HELD
        text = "waits for " + "; ".join(d for _, d, _, _ in unmet)
        if task.held_until_ms and timed:
            policy = task_policy.timeout_outcome(min(timed)[1])
            text += f" (until {_iso(task.held_until_ms)}, then " + \
                    {"failed": "it fails", "skipped": "it is skipped", "run": "it runs anyway"}[policy] + ")"
        task.waiting_for = text[:1000]
        for key, _, _, _ in unmet:
            txn.put(key.encode() + b"\x01" + _U64.pack(seq) + task.name.encode(), b"", db=self.waits)
        self.put_task(txn, seq, task)

    def _unhold(self, txn: lmdb.Transaction, seq: int, task: workflows_pb2.TaskRun) -> None:
        """Forget what a held task waited for (it runs, ends or is killed)."""
        if task.state != TS.TASK_HELD:
            return
        wf_run = self.get_run(txn, f"w{seq}", with_tasks=False)
        wf = self.get(txn, wf_run.workflow_name, wf_run.workflow_version) if wf_run is not None else None
        spec = self._compiled_for(wf).tasks.get(task.name) if wf is not None else None
        if wf_run is None or wf is None or spec is None:
            return
        for dep in spec.wait_for:
            key = task_policy.dependency_key(dep, wf_run.workflow_name, self._dep_date(txn, wf, wf_run, dep))
            txn.delete(key.encode() + b"\x01" + _U64.pack(seq) + task.name.encode(), db=self.waits)
        if task.held_until_ms:
            txn.delete(_timer_key(task.held_until_ms, seq, task.name), db=self.timers)

    def _record_fact(self, txn: lmdb.Transaction, key: str) -> None:
        """Something succeeded for a business date: remember it (counted: each run that proves it), and
        the first time, wake what waited for it."""
        raw = key.encode()
        known = add_fact(txn, self.facts, raw, 1)
        if known:
            return  # whoever waited for it was woken then
        prefix = raw + b"\x01"
        cur = txn.cursor(db=self.waits)
        found = []
        if cur.set_range(prefix):
            for k in cur.iternext(keys=True, values=False):
                if not k.startswith(prefix):
                    break
                found.append(bytes(k))
        for k in found:
            txn.delete(k, db=self.waits)
            rest = k[len(prefix):]
            self._woken.append((_U64.unpack(rest[:8])[0], rest[8:].decode()))

    # ---- what one change causes elsewhere, and timers

    def begin_command(self) -> None:
        """A new command is applied (the last one may have ended in an error half way)."""
        self._woken.clear()
        self._ended_children.clear()
        self._nesting = 0

    @contextmanager
    def _operation(self, txn: lmdb.Transaction, now_ms: int) -> Iterator[None]:
        """One change from outside (a command, a run's end); nested ones (a kill ending a task run
        at once) leave what they cause to the outermost, which does it once its records are written."""
        self._nesting += 1
        try:
            yield
            if self._nesting == 1:
                self._drain(txn, now_ms)
        finally:
            self._nesting -= 1

    def _drain(self, txn: lmdb.Transaction, now_ms: int) -> None:
        """Held tasks whose waits were met and parents whose sub-workflow ended, each loaded afresh
        (the change that caused it has written its records), until nothing more moves."""
        for _ in range(10_000_000):  # a guard against a bug looping, far above any real fan-in
            if self._ended_children:
                self._child_ended(txn, *self._ended_children.pop(0), now_ms)
            elif self._woken:
                seq, name = self._woken.pop(0)
                self._wake(txn, seq, name, now_ms)
            else:
                return

    def _loaded(self, txn: lmdb.Transaction, seq: int) -> tuple[workflows_pb2.WorkflowRun,
                                                                  workflows_pb2.WorkflowVersion] | None:
        raw = txn.get(_U64.pack(seq), db=self.wruns)
        if raw is None:
            return None
        wrun = workflows_pb2.WorkflowRun.FromString(raw)
        wf = self.get(txn, wrun.workflow_name, wrun.workflow_version)
        return (wrun, wf) if wf is not None else None

    def _wake(self, txn: lmdb.Transaction, seq: int, name: str, now_ms: int) -> None:
        found = self._loaded(txn, seq)
        task = self.get_task(txn, seq, name)
        if found is None or task is None or task.state != TS.TASK_HELD:
            return
        wrun, wf = found
        spec = self._compiled_for(wf).tasks.get(name)
        if spec is None:
            return
        unmet = self._unmet(txn, wf, wrun, spec)
        progress = _StoredProgress(self, txn, seq)
        progress.loaded[name] = task
        if unmet:  # another of its waits is still open: held on (same deadline), with the new text
            self._hold(txn, seq, task, unmet, now_ms)
            return
        self._advance(txn, wf, wrun, seq, progress, [(name, dag.Decision.RUN)], now_ms, "", launch=True)

    def _child_ended(self, txn: lmdb.Transaction, child_id: str, parent_id: str, parent_task: str, state: int,
                     now_ms: int) -> None:
        parent_seq = wrun_seq(parent_id)
        found = self._loaded(txn, parent_seq) if parent_seq else None
        if found is None or parent_seq is None:
            return
        wrun, wf = found
        task = self.get_task(txn, parent_seq, parent_task)
        if task is None or task.state != TS.TASK_STARTED or task.child_run_id != child_id:
            return
        outcome = dag.Outcome.SUCCEEDED if state == WF.WF_SUCCEEDED else dag.Outcome.FAILED
        reason = "" if outcome is dag.Outcome.SUCCEEDED else \
            f"its workflow run {child_id} {WF.Name(state).removeprefix('WF_').lower()}"
        self._finish(txn, wf, wrun, parent_seq, task, outcome, now_ms, reason)

    def next_timer_ms(self, txn: lmdb.Transaction) -> int:
        """When the earliest retry or wait timeout is due (0: none)."""
        cur = txn.cursor(db=self.timers)
        return _U64.unpack(cur.key()[:8])[0] if cur.first() else 0

    def timers_by_due(self, txn: lmdb.Transaction, limit: int) -> list[commands_pb2.WorkflowTimer]:
        """The earliest ``limit`` timers, with their delays (the leader decides which are due)."""
        out: list[commands_pb2.WorkflowTimer] = []
        cur = txn.cursor(db=self.timers)
        if cur.first():
            for key, value in cur:
                if len(out) >= limit:
                    break
                delay = _I64.unpack(value[1:9])[0] if len(value) >= 9 else 0
                out.append(commands_pb2.WorkflowTimer(due_ms=_U64.unpack(key[:8])[0], run_seq=_U64.unpack(key[8:16])[0],
                                                      task=bytes(key[16:]).decode(), delay_ms=delay))
        return out

    def fire_timers(self, txn: lmdb.Transaction, cmd: commands_pb2.FireWorkflowTimers,
                    now_ms: int) -> commands_pb2.CommandResult:
        """Retries whose delay passed and waits whose timeout passed, as of this entry's time."""
        with self._operation(txn, now_ms):
            return self._fire_timers(txn, cmd, now_ms)

    def _fire_timers(self, txn: lmdb.Transaction, cmd: commands_pb2.FireWorkflowTimers,
                     now_ms: int) -> commands_pb2.CommandResult:
        due: list[tuple[bytes, bytes]] = []
        if cmd.timers:  # the leader's choice: those still set (a timer fires once)
            for key in dict.fromkeys(_timer_key(t.due_ms, t.run_seq, t.task) for t in cmd.timers[:10_000]):
                value = txn.get(key, db=self.timers)
                if value is not None:
                    due.append((key, bytes(value)))
        else:
            cur = txn.cursor(db=self.timers)
            if cur.first():
                for key, value in cur:
                    if len(due) >= (cmd.limit or 1000) or _U64.unpack(key[:8])[0] > now_ms:
                        break
                    due.append((bytes(key), bytes(value)))
        for key, value in due:
            kind = value[:1]
            txn.delete(key, db=self.timers)
            when, seq, name = _U64.unpack(key[:8])[0], _U64.unpack(key[8:16])[0], key[16:].decode()
            found = self._loaded(txn, seq)
            task = self.get_task(txn, seq, name)
            if found is None or task is None:
                continue
            wrun, wf = found
            spec = self._compiled_for(wf).tasks.get(name)
            if spec is None:
                continue
            if kind == _TIMER_RETRY and task.state == TS.TASK_RETRYING and task.retry_at_ms == when:
                task.state = TS.TASK_WAITING
                progress = _StoredProgress(self, txn, seq)
                progress.loaded[name] = task
                self._advance(txn, wf, wrun, seq, progress, [(name, dag.Decision.RUN)], now_ms, "", launch=True)
            elif kind == _TIMER_WAIT and task.state == TS.TASK_HELD and task.held_until_ms == when:
                self._timed_out(txn, wf, wrun, seq, spec, task, now_ms)
            self._drain(txn, now_ms)  # each timer sees what the ones before it caused
        return ok(message=str(len(due)))

    def _timed_out(self, txn: lmdb.Transaction, wf: workflows_pb2.WorkflowVersion, wrun: workflows_pb2.WorkflowRun,
                   seq: int, spec: workflows_pb2.WorkflowTask, task: workflows_pb2.TaskRun, now_ms: int) -> None:
        unmet = self._unmet(txn, wf, wrun, spec)
        timed = sorted((timeout, policy) for _, _, timeout, policy in unmet if timeout)
        policy = task_policy.timeout_outcome(timed[0][1] if timed else "")
        waited = task.waiting_for.removeprefix("waits for ").split(" (until ")[0].removesuffix(" to succeed")
        self._unhold(txn, seq, task)
        task.state, task.held_until_ms = TS.TASK_WAITING, 0
        progress = _StoredProgress(self, txn, seq)
        progress.loaded[task.name] = task
        if policy == "run":
            task.waiting_for = ""
            task.reason = f"ran without {waited}: the wait timed out"[:500]
            self._advance(txn, wf, wrun, seq, progress, [(task.name, dag.Decision.RUN)], now_ms, "", launch=True)
            return
        outcome = dag.Outcome.FAILED if policy == "failed" else dag.Outcome.SKIPPED
        task.waiting_for = ""
        self._finish(txn, wf, wrun, seq, task, outcome, now_ms, f"timed out waiting for {waited}")

    # ---- retention

    def _trim_runs(self, txn: lmdb.Transaction, workflow: str) -> None:
        """Keep the newest ended runs of a workflow (its keepRuns, else DEFAULT_KEEP_RUNS): the oldest
        ended one goes when one more ends. Running ones are never removed."""
        wf = self.get(txn, workflow)
        keep = (wf.spec.keep_runs if wf is not None else 0) or DEFAULT_KEEP_RUNS
        prefix = workflow.encode() + b"\0"
        cur = txn.cursor(db=self.by_workflow)
        seqs: list[int] = []
        if cur.set_range(prefix):
            for key in cur.iternext(keys=True, values=False):
                if not key.startswith(prefix) or len(seqs) > keep + 64:
                    break
                seqs.append(_U64.unpack(key[len(prefix):])[0])
        if len(seqs) <= keep:
            return
        ended = []
        for seq in seqs:
            raw = txn.get(_U64.pack(seq), db=self.wruns)
            if raw is not None and workflows_pb2.WorkflowRun.FromString(raw).ended_ms:
                ended.append(seq)
        for seq in ended[:max(0, len(ended) - keep)]:
            self._remove_run(txn, workflow, seq)

    def _remove_run(self, txn: lmdb.Transaction, workflow: str, seq: int) -> None:
        """Its records, and what it proved for its business date: a wait on a run that is no longer
        kept (keepRuns ended runs newer than it) waits for a new one."""
        raw = txn.get(_U64.pack(seq), db=self.wruns)
        wrun = workflows_pb2.WorkflowRun.FromString(raw) if raw else None
        date = wrun.business_date if wrun is not None else ""
        if wrun is not None and date and wrun.state == WF.WF_SUCCEEDED:
            add_fact(txn, self.facts, task_policy.task_fact(workflow, "", date).encode(), -1)
        for task in self._tasks(txn, seq):
            if date and task.state == TS.TASK_SUCCEEDED:
                add_fact(txn, self.facts, task_policy.task_fact(workflow, task.name, date).encode(), -1)
            txn.delete(_U64.pack(seq) + b"\0" + task.name.encode(), db=self.wtasks)
        txn.delete(_U64.pack(seq), db=self.wruns)
        self.runs.changes.delete(WORKFLOW_RUN, f"w{seq}")
        txn.delete(workflow.encode() + b"\0" + _U64.pack(seq), db=self.by_workflow)


@functools.lru_cache(maxsize=1024)
def _expr(text: str) -> expressions.Expression:
    """Parsed once per text (immutable, so shared): a hop's condition costs an evaluation, not a parse."""
    return expressions.parse(text)


@functools.lru_cache(maxsize=1024)
def _template(text: str) -> expressions.Template:
    return expressions.parse_template(text)


def _timer_key(due_ms: int, seq: int, task: str) -> bytes:
    return _U64.pack(max(0, due_ms)) + _U64.pack(seq) + task.encode()


def _render(text: str, resolve: Callable[[tuple[str, ...]], object]) -> str:
    if "{{" not in text:
        return text
    return expressions.render(_template(text), resolve)


def _render_command(job: jobs_pb2.JobSpec, resolve: Callable[[tuple[str, ...]], object]) -> None:
    """The task's templates filled in: its script or arguments, and its environment's values."""
    kind = job.command.WhichOneof("kind")
    if kind == "shell":
        job.command.shell = _render(job.command.shell, resolve)
    elif kind == "argv":
        job.command.argv.args[:] = [_render(a, resolve) for a in job.command.argv.args]
    for key in sorted(job.env):
        job.env[key] = _render(job.env[key], resolve)


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _uncount(c: dag.Counts, outcome: dag.Outcome) -> None:
    if outcome is dag.Outcome.SUCCEEDED:
        c.succeeded = max(0, c.succeeded - 1)
    elif outcome is dag.Outcome.FAILED:
        c.failed = max(0, c.failed - 1)
    else:
        c.skipped = max(0, c.skipped - 1)


def _date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()

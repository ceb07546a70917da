"""Runs, agents and epochs in the replicated state (applied inside Store.apply).

Every function here is part of the pure state machine: it reads and writes
only the LMDB transaction it is given, takes time from the command batch and
refuses stale decisions deterministically (principle 11).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import grpc
import lmdb

from wloadctl.model import outputs
from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.scheduler import task_policy
from wloadctl.scheduler.triggers import ScheduleError, business_date
from wloadctl.state.changes import AGENT, CLUSTER, RUN, ChangeSink
from wloadctl.state.encoding import encode
from wloadctl.state.facts import add_fact
from wloadctl.state.reports import first_key_at
from wloadctl.state.results import err as _err
from wloadctl.state.results import ok as _ok
from wloadctl.state.stats import StatsTables

RS = runs_pb2.RunState
FINAL_STATES = frozenset({RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED})
ON_AGENT_STATES = frozenset({RS.DISPATCHED, RS.RUNNING})
OUTPUT_TAIL_BYTES = 64 << 10
MAX_TRANSITIONS = 200
DEFAULT_MAX_ATTEMPTS = 3
MAX_PARAMS = 64

RUN_DBS = (b"runs", b"runs_by_job", b"runs_active", b"runs_queue", b"agents", b"runs_on_agent", b"runs_job_active")

_U64 = struct.Struct(">Q")
EPOCH_KEY = b"epoch_info"
_EPOCH = EPOCH_KEY
_RUN_SEQ = b"run_seq"


def run_seq(run_id: str) -> int | None:
    if len(run_id) < 2 or run_id[0] != "r" or not run_id[1:].isdigit() or len(run_id) > 20:
        return None
    return int(run_id[1:])


def state_name(state: int) -> str:
    return RS.Name(state)


@dataclass(frozen=True)
class RunWhere:
    """Filters of a run listing besides job and state (each empty/zero: no filter)."""

    domains: frozenset[str] | None = None   # None: any domain
    agent: str = ""                         # the agent of its current (or last) attempt
    created_from_ms: int = 0                # created at or after
    created_before_ms: int = 0              # created before

    def matches(self, run: runs_pb2.Run) -> bool:
        if self.domains is not None and (run.spec.domain or "default") not in self.domains:
            return False
        if self.agent and run.agent_id != self.agent:
            return False
        return not (self.created_before_ms and run.created_ms >= self.created_before_ms)


class RunTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database]) -> None:
        self.meta = dbs[b"meta"]
        self.jobs = dbs[b"jobs"]
        self.runs = dbs[b"runs"]
        self.by_job = dbs[b"runs_by_job"]
        self.active = dbs[b"runs_active"]
        self.queue = dbs[b"runs_queue"]
        self.agents = dbs[b"agents"]
        self.on_agent = dbs[b"runs_on_agent"]  # agent_id \0 seq -> b"" for DISPATCHED/RUNNING runs
        self.job_active = dbs[b"runs_job_active"]  # job \0 seq -> b"" for runs not final (overlap policies)
        self.facts = dbs[b"wfacts"]  # what workflow waits are met by (state/workflows.py)
        self.stats = StatsTables(dbs)  # counts per domain (state/stats.py)
        # What the entry being applied changed, for watches (state/changes.py).
        self.changes = ChangeSink()
        # Called when a run of a workflow task becomes final (state/workflows.py), in the same apply.
        self.on_task_final: Callable[[lmdb.Transaction, runs_pb2.Run, int], None] | None = None

    # ---- reads (any transaction)

    def epoch(self, txn: lmdb.Transaction) -> runs_pb2.EpochInfo:
        raw = txn.get(_EPOCH, db=self.meta)
        return runs_pb2.EpochInfo.FromString(raw) if raw else runs_pb2.EpochInfo()

    def get_run(self, txn: lmdb.Transaction, run_id: str) -> runs_pb2.Run | None:
        seq = run_seq(run_id)
        raw = txn.get(_U64.pack(seq), db=self.runs) if seq is not None else None
        return runs_pb2.Run.FromString(raw) if raw else None

    def get_agent(self, txn: lmdb.Transaction, agent_id: str) -> runs_pb2.Agent | None:
        raw = txn.get(agent_id.encode(), db=self.agents)
        return runs_pb2.Agent.FromString(raw) if raw else None

    def list_agents(self, txn: lmdb.Transaction) -> list[runs_pb2.Agent]:
        return [runs_pb2.Agent.FromString(v) for _, v in txn.cursor(db=self.agents)]

    def active_runs(self, txn: lmdb.Transaction) -> Iterator[runs_pb2.Run]:
        for key, _ in txn.cursor(db=self.active):
            raw = txn.get(key, db=self.runs)
            if raw:
                yield runs_pb2.Run.FromString(raw)

    def on_agent_runs(self, txn: lmdb.Transaction, agent_id: str = "") -> Iterator[runs_pb2.Run]:
        """DISPATCHED and RUNNING runs (of one agent, or all): work is proportional to them only."""
        cur = txn.cursor(db=self.on_agent)
        prefix = agent_id.encode() + b"\0" if agent_id else b""
        if not cur.set_range(prefix):
            return
        for key in cur.iternext(keys=True, values=False):
            if not key.startswith(prefix):
                return
            raw = txn.get(key[-8:], db=self.runs)
            if raw:
                yield runs_pb2.Run.FromString(raw)

    def runs_after(self, txn: lmdb.Transaction, seq: int, limit: int) -> list[tuple[int, runs_pb2.Run]]:
        """Up to ``limit`` runs with a sequence number above ``seq``, oldest first."""
        out: list[tuple[int, runs_pb2.Run]] = []
        cur = txn.cursor(db=self.runs)
        if not cur.set_range(_U64.pack(seq + 1)):
            return out
        for key, value in cur:
            if len(out) >= limit:
                break
            out.append((_U64.unpack(key)[0], runs_pb2.Run.FromString(value)))
        return out

    def newer_runs_of_job(self, txn: lmdb.Transaction, job_name: str, seq: int, limit: int) -> int:
        """How many runs of the job came after run ``seq`` (counting stops at ``limit``)."""
        prefix = job_name.encode() + b"\0"
        cur = txn.cursor(db=self.by_job)
        count = 0
        if cur.set_range(prefix + _U64.pack(seq + 1)):
            for key in cur.iternext(keys=True, values=False):
                if not key.startswith(prefix) or count >= limit:
                    break
                count += 1
        return count

    def prune(self, txn: lmdb.Transaction, cmd: commands_pb2.PruneRuns) -> commands_pb2.CommandResult:
        """Remove the named runs that are final (others, and runs already gone, are left alone)."""
        removed = []
        for run_id in cmd.run_ids:
            run = self.get_run(txn, run_id)
            if run is None or run.state not in FINAL_STATES:
                continue
            key = _U64.pack(run_seq(run_id) or 0)
            txn.delete(key, db=self.runs)
            self.stats.run_removed(txn, run)
            self.changes.delete(RUN, run_id)
            txn.delete(run.job_name.encode() + b"\0" + key, db=self.by_job)
            if run.state == RS.SUCCEEDED and run.business_date:
                # What it proved for workflow waits goes with it (runs are pruned oldest first).
                add_fact(txn, self.facts, task_policy.job_fact(run.job_name, run.business_date).encode(), -1)
            removed.append(run_id)
        return _ok(run_ids=removed)

    def active_of_job(self, txn: lmdb.Transaction, job_name: str) -> list[runs_pb2.Run]:
        """The job's runs that are not final, oldest first."""
        prefix = job_name.encode() + b"\0"
        cur = txn.cursor(db=self.job_active)
        out = []
        if not cur.set_range(prefix):
            return out
        for key in cur.iternext(keys=True, values=False):
            if not key.startswith(prefix):
                break
            raw = txn.get(key[-8:], db=self.runs)
            if raw:
                out.append(runs_pb2.Run.FromString(raw))
        return out

    def on_agent_counts(self, txn: lmdb.Transaction) -> dict[str, int]:
        """DISPATCHED + RUNNING runs per agent, from the index keys alone (nothing parsed)."""
        counts: dict[str, int] = {}
        for key in txn.cursor(db=self.on_agent).iternext(keys=True, values=False):
            agent = bytes(key[:-9]).decode()
            counts[agent] = counts.get(agent, 0) + 1
        return counts

    def queued_runs(self, txn: lmdb.Transaction, limit: int) -> list[runs_pb2.Run]:
        out = []
        for key, _ in txn.cursor(db=self.queue):
            if len(out) >= limit:
                break
            raw = txn.get(key, db=self.runs)
            if raw:
                out.append(runs_pb2.Run.FromString(raw))
        return out

    def list_runs(self, txn: lmdb.Transaction, job_name: str, state: int, page_size: int,
                  before_seq: int, max_scan: int, max_bytes: int, where: RunWhere | None = None) \
            -> tuple[list[runs_pb2.Run], int]:
        """Newest first; returns (runs, seq to continue before, or 0 at the end). At most
        ``max_scan`` runs are looked at: a filter that matches few of them gives a short (maybe
        empty) page and a seq to go on from. A page stops before ``max_bytes`` of runs (one larger
        run fills a page alone). ``where``: more filters (domains, agent, creation time)."""
        where = where or RunWhere()
        out: list[runs_pb2.Run] = []
        top = (before_seq - 1) if before_seq else (1 << 64) - 1
        if where.created_before_ms:
            # Runs are stored in creation order: start below the first run created at or after the bound.
            bound = first_key_at(txn, self.runs, where.created_before_ms)
            if bound is not None:
                top = min(top, _U64.unpack(bound)[0] - 1)
        if job_name:
            prefix = job_name.encode() + b"\0"
            cur = txn.cursor(db=self.by_job)
            seqs = iter_back(cur, prefix + _U64.pack(top), prefix, lambda k: _U64.unpack(k[len(prefix):])[0])
        elif state and state not in FINAL_STATES:
            # Unfinished runs: runs_active holds each one's state, so only the matching ones are read.
            cur = txn.cursor(db=self.active)
            seqs = iter_back(cur, _U64.pack(top), b"", lambda k: _U64.unpack(k)[0])
        else:
            cur = txn.cursor(db=self.runs)
            seqs = iter_back(cur, _U64.pack(top), b"", lambda k: _U64.unpack(k)[0])
        last = 0
        size = 0
        for scanned, seq in enumerate(seqs):
            if len(out) >= page_size or scanned >= max_scan:
                return out, last
            key = _U64.pack(seq)
            if state and not job_name and state not in FINAL_STATES:
                known = txn.get(key, db=self.active)
                if known and known[0] != state:
                    last = seq
                    continue
            raw = txn.get(key, db=self.runs)
            run = runs_pb2.Run.FromString(raw) if raw is not None else None
            if run is not None and where.created_from_ms and run.created_ms < where.created_from_ms:
                return out, 0  # older runs follow: the range is done
            if run is not None and (not state or run.state == state) and where.matches(run):
                run.ClearField("output_tail")
                if out and size + run.ByteSize() > max_bytes:
                    return out, last  # it opens the next page
                out.append(run)
                size += run.ByteSize()
            last = seq
        return out, 0

    # ---- writes (inside Store.apply)

    def _previous_state(self, txn: lmdb.Transaction, key: bytes) -> int | None:
        """The state a run is stored in (None: not stored), without parsing it when it is active:
        runs_active holds the state of every unfinished run."""
        active = txn.get(key, db=self.active)
        if active:
            return active[0]
        raw = txn.get(key, db=self.runs)
        return None if raw is None else int(runs_pb2.Run.FromString(raw).state)

    def _put_run(self, txn: lmdb.Transaction, run: runs_pb2.Run, now_ms: int) -> None:
        key = _U64.pack(run_seq(run.run_id) or 0)
        self.stats.run_changed(txn, self._previous_state(txn, key), run)
        run.updated_ms = now_ms
        data = encode(run)
        txn.put(key, data, db=self.runs)
        self.changes.put(RUN, run.run_id, data)
        job_key = run.job_name.encode() + b"\0" + key
        if run.state in FINAL_STATES:
            txn.delete(key, db=self.active)
            if txn.delete(job_key, db=self.job_active):
                self._release_waiting(txn, run.job_name, now_ms)
                if self.on_task_final is not None and (run.workflow_run_id or (run.business_date and
                                                       run.state == RS.SUCCEEDED)):
                    # Its workflow moves on in the same entry; what waits for its job wakes.
                    self.on_task_final(txn, run, now_ms)
        else:
            txn.put(key, bytes([run.state]), db=self.active)
            txn.put(job_key, b"", db=self.job_active)
        if run.state == RS.QUEUED:
            txn.put(key, b"", db=self.queue)
        else:
            txn.delete(key, db=self.queue)
        if run.agent_id:
            agent_key = run.agent_id.encode() + b"\0" + key
            if run.state in ON_AGENT_STATES:
                txn.put(agent_key, b"", db=self.on_agent)
            else:
                txn.delete(agent_key, db=self.on_agent)

    @staticmethod
    def _move(run: runs_pb2.Run, state: int, now_ms: int, cause: str, epoch: int = 0) -> None:
        run.state = state
        run.transitions.add(state=state, time_ms=now_ms, attempt=run.attempt, agent_id=run.agent_id,
                            epoch=epoch or run.epoch, cause=cause[:500])
        if len(run.transitions) > MAX_TRANSITIONS:
            del run.transitions[1:len(run.transitions) - MAX_TRANSITIONS + 1]

    def begin_epoch(self, txn: lmdb.Transaction, cmd: commands_pb2.BeginEpoch,
                    now_ms: int) -> commands_pb2.CommandResult:
        current = self.epoch(txn)
        if cmd.expected_epoch != current.epoch + 1:
            return _err(grpc.StatusCode.FAILED_PRECONDITION,
                        f"expected_epoch: {cmd.expected_epoch} is not {current.epoch + 1} (another leader began it)")
        info = runs_pb2.EpochInfo(epoch=cmd.expected_epoch, leader_id=cmd.leader_id, began_ms=now_ms)
        txn.put(_EPOCH, encode(info), db=self.meta)
        self.changes.put(CLUSTER, "", b"")
        return _ok(epoch=info.epoch)

    def force_activate(self, txn: lmdb.Transaction, cmd: commands_pb2.ForceActivate) -> commands_pb2.CommandResult:
        info = self.epoch(txn)
        if cmd.epoch != info.epoch:
            return _err(grpc.StatusCode.FAILED_PRECONDITION, f"epoch: {cmd.epoch} is not the current {info.epoch}")
        if not cmd.reason.strip():
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "reason: required")
        info.forced, info.forced_by, info.forced_reason = True, cmd.operator[:128], cmd.reason[:1000]
        txn.put(_EPOCH, encode(info), db=self.meta)
        self.changes.put(CLUSTER, "", b"")
        return _ok(epoch=info.epoch)

    def register_agent(self, txn: lmdb.Transaction, agent: runs_pb2.Agent, now_ms: int) -> commands_pb2.CommandResult:
        if not agent.agent_id or len(agent.agent_id) > 64:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "agent.agent_id: required, at most 64 characters")
        old = self.get_agent(txn, agent.agent_id)
        record = runs_pb2.Agent()
        record.CopyFrom(agent)
        record.registered_ms = old.registered_ms if old else now_ms
        record.lost_count = old.lost_count if old else 0
        record.lost_ms = 0
        data = encode(record)
        txn.put(agent.agent_id.encode(), data, db=self.agents)
        self.changes.put(AGENT, agent.agent_id, data)
        return _ok()

    def mark_agent_lost(self, txn: lmdb.Transaction, cmd: commands_pb2.MarkAgentLost,
                        now_ms: int) -> commands_pb2.CommandResult:
        if cmd.epoch != self.epoch(txn).epoch:
            return _err(grpc.StatusCode.ABORTED, f"epoch: {cmd.epoch} is stale")
        agent = self.get_agent(txn, cmd.agent_id)
        if agent is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"agent_id: no agent {cmd.agent_id!r}")
        if not agent.lost_ms:
            agent.lost_ms = now_ms
            agent.lost_count += 1
            data = encode(agent)
            txn.put(agent.agent_id.encode(), data, db=self.agents)
            self.changes.put(AGENT, agent.agent_id, data)
        affected = []
        for run in list(self.on_agent_runs(txn, cmd.agent_id)):
            self._lose(run, now_ms, cmd.cause or f"agent {cmd.agent_id} lost", f"agent {cmd.agent_id} lost")
            self._put_run(txn, run, now_ms)
            affected.append(run.run_id)
        return _ok(run_ids=affected)

    def _lose(self, run: runs_pb2.Run, now_ms: int, cause: str, error: str, epoch: int = 0) -> None:
        """LOST, then what the job's lost policy says: QUEUED for another attempt, or FAILED."""
        self._move(run, RS.LOST, now_ms, cause, epoch)
        spec = run.spec
        limit = spec.max_attempts or DEFAULT_MAX_ATTEMPTS
        if spec.lost_policy == jobs_pb2.RETRY and run.attempt < limit and not run.kill_requested:
            self._move(run, RS.QUEUED, now_ms, f"retry after lost agent (attempt {run.attempt} of {limit})")
        elif run.kill_requested:
            self._move(run, RS.KILLED, now_ms, "kill requested; the agent was lost")
        else:
            why = "lost policy is fail" if spec.lost_policy == jobs_pb2.FAIL else f"{limit} attempts used"
            run.error = f"{error}; {why}"
            self._move(run, RS.FAILED, now_ms, run.error)

    def _release_waiting(self, txn: lmdb.Transaction, job_name: str, now_ms: int) -> None:
        """A run of the job ended: the oldest run waiting under its overlap policy goes, once none
        other is on its way."""
        active = self.active_of_job(txn, job_name)
        if any(r.state != RS.PENDING for r in active):
            return
        for run in active:
            if run.waiting_for == "overlap":
                run.waiting_for = ""
                self._move(run, RS.QUEUED, now_ms, "the earlier run of its job ended")
                self._put_run(txn, run, now_ms)
                return

    def create_run(self, txn: lmdb.Transaction, job: jobs_pb2.JobVersion, params: Mapping[str, str], cause: str,
                   now_ms: int, idempotency_key: str = "", slot_ms: int = 0, waiting_for: str = "",
                   event: str = "", workflow_run_id: str = "", task: str = "", business_date: str = "") -> str:
        """A new run of ``job``: QUEUED, or PENDING while it waits for ``waiting_for``."""
        raw_seq = txn.get(_RUN_SEQ, db=self.meta)
        seq = (_U64.unpack(raw_seq)[0] if raw_seq else 0) + 1
        txn.put(_RUN_SEQ, _U64.pack(seq), db=self.meta)
        run = runs_pb2.Run(run_id=f"r{seq}", job_name=job.spec.name, job_version=job.version, params=params,
                           created_ms=now_ms, spec=job.spec, idempotency_key=idempotency_key, slot_ms=slot_ms,
                           waiting_for=waiting_for,
                           business_date=business_date or _business_date(job.spec, slot_ms or now_ms),
                           event=event, workflow_run_id=workflow_run_id, task=task)
        self._move(run, RS.PENDING if waiting_for else RS.QUEUED, now_ms, cause)
        txn.put(job.spec.name.encode() + b"\0" + _U64.pack(seq), b"", db=self.by_job)
        self._put_run(txn, run, now_ms)
        return run.run_id

    def trigger_run(self, txn: lmdb.Transaction, cmd: commands_pb2.TriggerRun, now_ms: int,
                    idempotency_key: str) -> commands_pb2.CommandResult:
        raw = txn.get(cmd.job_name.encode(), db=self.jobs) if cmd.job_name else None
        if raw is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"job_name: job {cmd.job_name!r} not found")
        if len(cmd.params) > MAX_PARAMS or any(len(k) > 128 or len(v) > 4096 for k, v in cmd.params.items()):
            return _err(grpc.StatusCode.INVALID_ARGUMENT,
                        f"params: at most {MAX_PARAMS}, keys ≤ 128 and values ≤ 4096 characters")
        job = jobs_pb2.JobVersion.FromString(raw)
        run_id = self.create_run(txn, job, cmd.params, cmd.cause or "manual run", now_ms, idempotency_key)
        return _ok(run_ids=[run_id])

    def dispatch(self, txn: lmdb.Transaction, cmd: commands_pb2.DispatchRuns,
                 now_ms: int) -> commands_pb2.CommandResult:
        info = self.epoch(txn)
        if cmd.epoch != info.epoch:
            return _err(grpc.StatusCode.ABORTED, f"epoch: {cmd.epoch} is stale (current {info.epoch})")
        dispatched = []
        for d in cmd.decisions:
            run = self.get_run(txn, d.run_id)
            agent = self.get_agent(txn, d.agent_id)
            if run is None or run.state != RS.QUEUED or d.attempt != run.attempt + 1 or agent is None \
                    or agent.lost_ms:
                continue  # a stale decision: refused, the leader decides again
            run.attempt = d.attempt
            run.agent_id = d.agent_id  # QUEUED runs hold no runs_on_agent key under an older agent
            run.epoch = cmd.epoch
            run.exit_code = 0
            run.pid = 0
            self._move(run, RS.DISPATCHED, now_ms, f"placed on {d.agent_id}", cmd.epoch)
            self._put_run(txn, run, now_ms)
            dispatched.append(run.run_id)
        return _ok(run_ids=dispatched, epoch=cmd.epoch)

    def record_events(self, txn: lmdb.Transaction, cmd: commands_pb2.RecordRunEvents,
                      now_ms: int) -> commands_pb2.CommandResult:
        changed = []
        for ev in cmd.events:
            run = self.get_run(txn, ev.run_id)
            if run is None or ev.attempt != run.attempt or run.agent_id != cmd.agent_id:
                if run is not None and ev.kind == agent_pb2.RunEvent.FINISHED and ev.attempt < run.attempt:
                    # A returning agent reports an attempt the state had written off.
                    run.transitions.add(state=run.state, time_ms=now_ms, attempt=ev.attempt, agent_id=cmd.agent_id,
                                        epoch=ev.epoch, cause=f"late report: attempt {ev.attempt} ended with "
                                        f"exit {ev.exit_code}{' (orphan kill)' if ev.orphaned else ''}")
                    self._put_run(txn, run, now_ms)
                continue
            if ev.kind == agent_pb2.RunEvent.STARTED and run.state == RS.DISPATCHED:
                run.started_ms = ev.time_ms or now_ms
                run.pid = ev.pid
                # The epoch the agent acted under (a re-sent attempt starts under the new leader's).
                self._move(run, RS.RUNNING, now_ms, f"started on {cmd.agent_id} (pid {ev.pid})", ev.epoch)
            elif ev.kind == agent_pb2.RunEvent.OUTPUT and run.state in (RS.DISPATCHED, RS.RUNNING, RS.LOST):
                if not _record_output(run, ev):
                    continue
            elif ev.kind == agent_pb2.RunEvent.FINISHED and ev.lost and run.state in (RS.DISPATCHED, RS.RUNNING):
                # The agent restarted under the attempt: as good as a lost agent for this run.
                run.exit_code = 0
                self._lose(run, now_ms, f"{cmd.agent_id} restarted while attempt {ev.attempt} ran; outcome unknown",
                           f"{cmd.agent_id} restarted while attempt {ev.attempt} ran", ev.epoch)
            elif ev.kind == agent_pb2.RunEvent.FINISHED and run.state in (RS.DISPATCHED, RS.RUNNING, RS.LOST):
                run.finished_ms = ev.time_ms or now_ms
                run.exit_code = ev.exit_code
                run.error = ev.error
                run.outputs.clear()
                run.outputs.update(outputs.clean(ev.outputs))  # the last attempt's
                if ev.killed or ev.orphaned:
                    state, cause = RS.KILLED, "killed" + (" (orphan policy: lease expired)" if ev.orphaned else "")
                elif ev.timed_out:
                    state, cause = RS.TIMED_OUT, "timed out"
                elif ev.error:
                    state, cause = RS.FAILED, f"could not start: {ev.error}"
                elif ev.exit_code == 0:
                    state, cause = RS.SUCCEEDED, "exit code 0"
                else:
                    state, cause = RS.FAILED, f"exit code {ev.exit_code}"
                self._move(run, state, now_ms, cause, ev.epoch)
            elif ev.kind == agent_pb2.RunEvent.REJECTED and run.state == RS.DISPATCHED and ev.policy:
                # The agent's policy refuses the job (runAs, command, script): final. Queued again it
                # could bounce between agents for ever; placement already skips agents that refuse it.
                run.error = f"rejected by {cmd.agent_id}: {ev.error}"
                run.finished_ms = now_ms
                self._move(run, RS.FAILED, now_ms, run.error)
            elif ev.kind == agent_pb2.RunEvent.REJECTED and run.state == RS.DISPATCHED:
                self._move(run, RS.QUEUED, now_ms, f"rejected by {cmd.agent_id}: {ev.error}")
            else:
                continue
            self._put_run(txn, run, now_ms)
            changed.append(run.run_id)
        return _ok(run_ids=changed)

    def request_kill(self, txn: lmdb.Transaction, cmd: commands_pb2.RequestKill,
                     now_ms: int) -> commands_pb2.CommandResult:
        run = self.get_run(txn, cmd.run_id)
        if run is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"run_id: no run {cmd.run_id!r}")
        if run.state in FINAL_STATES:
            return _err(grpc.StatusCode.FAILED_PRECONDITION,
                        f"run_id: {cmd.run_id} already ended ({state_name(run.state)})")
        self.kill(txn, run, cmd.cause or "kill requested", now_ms)
        return _ok(run_ids=[run.run_id])

    def kill(self, txn: lmdb.Transaction, run: runs_pb2.Run, cause: str, now_ms: int) -> None:
        """Kill a run that is not final: at once when no agent has it, else the leader sends the kill."""
        run.kill_requested = True
        if run.state not in ON_AGENT_STATES:
            run.waiting_for = ""
            self._move(run, RS.KILLED, now_ms, cause)
        else:
            run.transitions.add(state=run.state, time_ms=now_ms, attempt=run.attempt, agent_id=run.agent_id,
                                epoch=run.epoch, cause=cause)
        self._put_run(txn, run, now_ms)


def _business_date(spec: jobs_pb2.JobSpec, ms: int) -> str:
    try:
        return business_date(spec, ms)
    except ScheduleError:  # a zone this tz database lacks (refused at apply since): the UTC date
        return business_date(jobs_pb2.JobSpec(), ms)


def gap_marker(missing: int) -> bytes:
    return (f"\n[wloadctl: {missing} bytes of output missing here; "
            "`wloadctl logs` reads the full log from the agent]\n").encode()


def _record_output(run: runs_pb2.Run, ev: agent_pb2.RunEvent) -> bool:
    """Add an OUTPUT event to the run's tail; False when it holds nothing the state lacks.

    Output sent to a leader that was deposed before committing it is never sent again, so an
    event can start past what the state has of the attempt: the missing bytes are counted and
    marked in the tail rather than silently spliced over. An event the state already covers (a
    batch proposed again after an unknown outcome) adds nothing. Older agents send no offset:
    their events are taken to follow on."""
    known = run.output_offset if run.output_attempt == ev.attempt else 0
    start = ev.offset if ev.HasField("offset") else known
    end = start + len(ev.data)
    if end <= known:
        return False
    fresh = ev.data[max(0, known - start):]
    if start > known:
        missing = start - known
        run.output_gap_bytes += missing
        fresh = gap_marker(missing) + fresh
    # The truthful size: everything up to where this event ends, received or not.
    run.output_bytes += end - known
    run.output_tail = (run.output_tail + fresh)[-OUTPUT_TAIL_BYTES:]
    run.output_attempt = ev.attempt
    run.output_offset = end
    return True


def iter_back(cur: lmdb.Cursor, start: bytes, prefix: bytes, to_seq: object) -> Iterator[int]:
    """Keys at or below ``start`` with ``prefix``, descending."""
    if not cur.set_range(start):
        if not cur.last():
            return
    elif cur.key() > start and not cur.prev():
        return
    while True:
        key = cur.key()
        if not key.startswith(prefix):
            return
        yield to_seq(key)  # type: ignore[operator]
        if not cur.prev():
            return

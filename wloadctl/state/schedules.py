"""Job schedules in the replicated state: next slots, exactly-once firing, misfires, overlap.

Each job with schedules has a ScheduleState: the slot it expects next and the last one decided.
A time-ordered index (due time, job) lets the leader find what is due without looking at the other
jobs. A firing is applied only when it names the slot the state expects next for the job's current
version; applying it moves the expectation past every slot it decided, so a slot is fired or
recorded as a misfire once, whichever leader proposed it and however often.

Next slots are computed here, at apply, from the spec and the batch's time (the same on every
replica): when a job is applied (from its last decided slot, or from now when that is long past, for
a new job and on resume) and after each firing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import lmdb

from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2
from wloadctl.scheduler.calendars import WorkingDays
from wloadctl.scheduler.firing import DueJob, grace_ms
from wloadctl.scheduler.triggers import ScheduleError, jitter_ms, next_slot
from wloadctl.state.calendars import CalendarTables
from wloadctl.state.encoding import encode
from wloadctl.state.results import ok as _ok
from wloadctl.state.runs import FINAL_STATES, RunTables, iter_back

RS = runs_pb2.RunState
OP = jobs_pb2.OverlapPolicy
SCHEDULE_DBS = (b"sched", b"sched_due", b"misfires", b"misfires_by_job")
SCHEDULE_MESSAGES = {b"sched": jobs_pb2.ScheduleState, b"misfires": jobs_pb2.Misfire}
MAX_MISFIRES = 100_000          # kept (the oldest go first)
MAX_BUFFERED = 100              # runs of one job waiting under overlap buffer all
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_MISFIRE_SEQ = b"misfire_seq"
_FIRED_TOTAL = b"sched_fired_total"
_MISFIRED_PREFIX = b"sched_misfired/"   # + reason: slots recorded as misfires, per reason


def _due_key(due_ms: int, name: str) -> bytes:
    return _U64.pack(max(0, due_ms)) + name.encode()


class ScheduleTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database], runs: RunTables, calendars: CalendarTables) -> None:
        self.meta = dbs[b"meta"]
        self.jobs = dbs[b"jobs"]
        self.sched = dbs[b"sched"]
        self.due = dbs[b"sched_due"]
        self.misfires = dbs[b"misfires"]
        self.misfires_by_job = dbs[b"misfires_by_job"]
        self.runs = runs
        self.calendars = calendars
        # Workflows have schedules too (state/workflows.py; set by the store, which owns both).
        self.workflow_trigger: Callable[[lmdb.Transaction, str], jobs_pb2.JobVersion | None] | None = None
        self.start_workflow: Callable[[lmdb.Transaction, jobs_pb2.JobVersion, int, int], str] | None = None
        self.workflow_running: Callable[[lmdb.Transaction, str], str] | None = None

    # ---- reads

    def state(self, txn: lmdb.Transaction, name: str) -> jobs_pb2.ScheduleState | None:
        raw = txn.get(name.encode(), db=self.sched) if name else None
        return jobs_pb2.ScheduleState.FromString(raw) if raw else None

    def _schedulable(self, txn: lmdb.Transaction, name: str) -> jobs_pb2.JobVersion | None:
        """A job, or a workflow's scheduling fields as a job without a command."""
        raw = txn.get(name.encode(), db=self.jobs) if name else None
        if raw is not None:
            return jobs_pb2.JobVersion.FromString(raw)
        return self.workflow_trigger(txn, name) if self.workflow_trigger is not None else None

    def due_jobs(self, txn: lmdb.Transaction, now_ms: int, limit: int) -> list[DueJob]:
        """Jobs whose next slot (plus jitter) is at or before ``now_ms``, earliest first: the work
        is proportional to them, never to the jobs defined."""
        out: list[DueJob] = []
        cur = txn.cursor(db=self.due)
        if not cur.first():
            return out
        for key in cur.iternext(keys=True, values=False):
            if len(out) >= limit or _U64.unpack(key[:8])[0] > now_ms:
                break
            name = bytes(key[8:]).decode()
            found = self._schedulable(txn, name)
            state = self.state(txn, name)
            if found is None or state is None:
                continue
            job = found
            working = self._working(txn, job.spec)
            out.append(DueJob(job.spec, job.version, state.next_slot_ms, working))
        return out

    def next_due_ms(self, txn: lmdb.Transaction) -> int:
        """The earliest due time of any job (0: none)."""
        cur = txn.cursor(db=self.due)
        return _U64.unpack(cur.key()[:8])[0] if cur.first() else 0

    def totals(self, txn: lmdb.Transaction) -> tuple[int, dict[str, int]]:
        """(slots fired, slots recorded as misfires per reason) since the cluster began."""
        raw = txn.get(_FIRED_TOTAL, db=self.meta)
        misfired: dict[str, int] = {}
        cur = txn.cursor(db=self.meta)
        if cur.set_range(_MISFIRED_PREFIX):
            for key, value in cur:
                if not bytes(key).startswith(_MISFIRED_PREFIX):
                    break
                misfired[bytes(key[len(_MISFIRED_PREFIX):]).decode()] = _U64.unpack(value)[0]
        return (_U64.unpack(raw)[0] if raw else 0), misfired

    def _add(self, txn: lmdb.Transaction, key: bytes, n: int) -> None:
        raw = txn.get(key, db=self.meta)
        txn.put(key, _U64.pack((_U64.unpack(raw)[0] if raw else 0) + n), db=self.meta)

    def scheduled_count(self, txn: lmdb.Transaction) -> int:
        return int(txn.stat(self.due)["entries"])

    def list_misfires(self, txn: lmdb.Transaction, job_name: str, before_seq: int,
                      limit: int) -> tuple[list[jobs_pb2.Misfire], int]:
        """Newest first; (records, seq to continue before or 0)."""
        out: list[jobs_pb2.Misfire] = []
        top = _U64.pack(before_seq - 1 if before_seq else (1 << 64) - 1)
        if job_name:
            prefix = job_name.encode() + b"\0"
            seqs = _back(txn.cursor(db=self.misfires_by_job), prefix + top, prefix)
        else:
            seqs = _back(txn.cursor(db=self.misfires), top, b"")
        last = 0
        for seq in seqs:
            if len(out) >= limit:
                return out, last
            raw = txn.get(_U64.pack(seq), db=self.misfires)
            if raw:
                out.append(jobs_pb2.Misfire.FromString(raw))
            last = seq
        return out, 0

    # ---- writes (inside Store.apply)

    def job_changed(self, txn: lmdb.Transaction, job: jobs_pb2.JobVersion, now_ms: int) -> None:
        """A job was applied, suspended, resumed or deleted: its next slot from now on."""
        name = job.spec.name
        old = self.state(txn, name)
        if job.deleted or not job.spec.schedules:
            if old is not None:
                self._set_due(txn, old, 0)
                txn.delete(name.encode(), db=self.sched)
            return
        state = old or jobs_pb2.ScheduleState(job_name=name)
        state.job_version = job.version
        upcoming = 0
        if not job.spec.suspended:
            upcoming = self._first_slot(job.spec, state, now_ms, self._working(txn, job.spec))
        self._set_next(txn, state, job.spec, upcoming)

    def _working(self, txn: lmdb.Transaction, spec: jobs_pb2.JobSpec) -> WorkingDays | None:
        """The state's calendars, for a job that uses any (one lookup less per firing for the others)."""
        return self.calendars.working(txn) if spec.calendars else None

    def _first_slot(self, spec: jobs_pb2.JobSpec, state: jobs_pb2.ScheduleState, now_ms: int,
                    working: WorkingDays | None) -> int:
        jitter = jitter_ms(spec.name, spec.jitter_seconds)
        try:
            if state.next_slot_ms:
                # A running schedule that changed: carry on from the slot it expected next (a slot
                # due right now is not lost to the update), or from now if that came later; unless
                # that would only produce misfires (then from now, as for a new or resumed one).
                base = max(state.last_slot_ms, min(state.next_slot_ms - 1, now_ms))
                slot = next_slot(spec, base, working)
                if slot is not None and now_ms - (slot.ms + jitter) <= grace_ms(spec):
                    return slot.ms
            slot = next_slot(spec, now_ms, working)
        except ScheduleError:
            return 0  # refused at validation; an old entry must not stop the replica
        return slot.ms if slot is not None else 0

    def _set_next(self, txn: lmdb.Transaction, state: jobs_pb2.ScheduleState, spec: jobs_pb2.JobSpec,
                  slot_ms: int) -> None:
        due = slot_ms + jitter_ms(spec.name, spec.jitter_seconds) if slot_ms else 0
        self._set_due(txn, state, due)
        state.next_slot_ms = slot_ms
        state.next_due_ms = due
        txn.put(state.job_name.encode(), encode(state), db=self.sched)

    def _set_due(self, txn: lmdb.Transaction, state: jobs_pb2.ScheduleState, due_ms: int) -> None:
        if state.next_due_ms:
            txn.delete(_due_key(state.next_due_ms, state.job_name), db=self.due)
        if due_ms:
            txn.put(_due_key(due_ms, state.job_name), b"", db=self.due)

    def fire(self, txn: lmdb.Transaction, cmd: commands_pb2.FireSchedules, now_ms: int) -> commands_pb2.CommandResult:
        created: list[str] = []
        stale = 0
        for firing in cmd.firings:
            runs = self._fire_one(txn, firing, now_ms)
            if runs is None:
                stale += 1
            else:
                created += runs
        return _ok(run_ids=created, message=f"{stale} stale firings refused" if stale else "")

    def _fire_one(self, txn: lmdb.Transaction, f: commands_pb2.Firing, now_ms: int) -> list[str] | None:
        found = self._schedulable(txn, f.job_name)
        state = self.state(txn, f.job_name)
        if found is None or state is None:
            return None
        job = found
        # What the planner assumed: this version, this next slot, slots within what it decided.
        slots = [*f.fire_slots, *(m.first_slot_ms for m in f.misfires), *(m.last_slot_ms for m in f.misfires)]
        if job.version != f.job_version or state.next_slot_ms != f.expected_next_ms or job.spec.suspended \
                or f.through_ms < f.expected_next_ms \
                or any(s < f.expected_next_ms or s > f.through_ms for s in slots):
            return None
        created: list[str] = []
        for misfire in f.misfires:
            self._record_misfire(txn, job, misfire.first_slot_ms, misfire.last_slot_ms, misfire.count,
                                 misfire.reason, misfire.detail, now_ms)
            state.misfired += misfire.count
        for slot in sorted(set(f.fire_slots)):
            run_id = self._start(txn, job, slot, now_ms)
            if run_id:
                created.append(run_id)
                state.fired += 1
                state.last_run_id = run_id
                self._add(txn, _FIRED_TOTAL, 1)
            else:
                state.misfired += 1
        state.last_slot_ms = f.through_ms
        try:
            upcoming = next_slot(job.spec, f.through_ms, self._working(txn, job.spec))
        except ScheduleError:
            upcoming = None
        self._set_next(txn, state, job.spec, upcoming.ms if upcoming is not None else 0)
        return created

    def _start(self, txn: lmdb.Transaction, job: jobs_pb2.JobVersion, slot_ms: int, now_ms: int) -> str:
        """The run of one slot, as the job's overlap policy says ("" when it is a misfire)."""
        policy = job.spec.overlap
        cause = f"schedule slot {slot_ms}"
        if not job.spec.HasField("command") and self.start_workflow is not None:  # a workflow's schedule
            running = self.workflow_running(txn, job.spec.name) if self.workflow_running is not None else ""
            if policy == OP.OVERLAP_FORBID and running:
                self._record_misfire(txn, job, slot_ms, slot_ms, 1, "overlap",
                                     f"{running} not finished (overlap policy forbid)", now_ms)
                return ""
            return self.start_workflow(txn, job, slot_ms, now_ms)
        if policy == OP.OVERLAP_ALLOW:
            return self.runs.create_run(txn, job, {}, cause, now_ms, slot_ms=slot_ms)
        active = self.runs.active_of_job(txn, job.spec.name)
        if not active:
            return self.runs.create_run(txn, job, {}, cause, now_ms, slot_ms=slot_ms)
        working = [r for r in active if r.state != RS.PENDING]
        waiting = [r for r in active if r.state == RS.PENDING and r.waiting_for == "overlap"]
        names = ", ".join(r.run_id for r in working[:5]) or ", ".join(r.run_id for r in waiting[:5])
        if policy == OP.OVERLAP_FORBID:
            self._record_misfire(txn, job, slot_ms, slot_ms, 1, "overlap",
                                 f"{names} not finished (overlap policy forbid)", now_ms)
            return ""
        if policy == OP.OVERLAP_BUFFER_ONE and waiting:
            self._record_misfire(txn, job, slot_ms, slot_ms, 1, "overlap",
                                 f"{waiting[0].run_id} already waits (overlap policy buffer one)", now_ms)
            return ""
        if policy == OP.OVERLAP_BUFFER_ALL and len(waiting) >= MAX_BUFFERED:
            self._record_misfire(txn, job, slot_ms, slot_ms, 1, "overlap",
                                 f"{MAX_BUFFERED} runs already wait (overlap policy buffer all)", now_ms)
            return ""
        if policy == OP.OVERLAP_REPLACE:
            for run in working:
                self.runs.kill(txn, run, f"replaced by the run of schedule slot {slot_ms} (overlap policy replace)",
                               now_ms)
            for run in waiting:  # superseded too: only the newest slot runs next
                self.runs.kill(txn, run, f"replaced by the run of schedule slot {slot_ms}", now_ms)
            if not any(r.state != RS.PENDING for r in self.runs.active_of_job(txn, job.spec.name)):
                # Nothing was on an agent: the kills ended them at once, and nothing will end later.
                return self.runs.create_run(txn, job, {}, f"{cause}; replaced {names}", now_ms, slot_ms=slot_ms)
        return self.runs.create_run(txn, job, {}, f"{cause}; waits for {names} (overlap)", now_ms,
                                    slot_ms=slot_ms, waiting_for="overlap")

    def _record_misfire(self, txn: lmdb.Transaction, job: jobs_pb2.JobVersion, first_ms: int, last_ms: int,
                        count: int, reason: str, detail: str, now_ms: int) -> None:
        raw = txn.get(_MISFIRE_SEQ, db=self.meta)
        seq = (_U64.unpack(raw)[0] if raw else 0) + 1
        txn.put(_MISFIRE_SEQ, _U64.pack(seq), db=self.meta)
        self._add(txn, _MISFIRED_PREFIX + reason[:64].encode(), count)
        record = jobs_pb2.Misfire(seq=seq, job_name=job.spec.name, first_slot_ms=first_ms, last_slot_ms=last_ms,
                                  count=count, reason=reason[:64], detail=detail[:500], recorded_ms=now_ms,
                                  job_version=job.version)
        txn.put(_U64.pack(seq), encode(record), db=self.misfires)
        txn.put(job.spec.name.encode() + b"\0" + _U64.pack(seq), b"", db=self.misfires_by_job)
        if seq > MAX_MISFIRES:
            old_key = _U64.pack(seq - MAX_MISFIRES)
            old = txn.get(old_key, db=self.misfires)
            if old is not None:
                txn.delete(old_key, db=self.misfires)
                txn.delete(jobs_pb2.Misfire.FromString(old).job_name.encode() + b"\0" + old_key,
                           db=self.misfires_by_job)


def _back(cur: lmdb.Cursor, start: bytes, prefix: bytes) -> Iterator[int]:
    """Sequence numbers (the last 8 bytes of keys under ``prefix``) from ``start`` backwards."""
    return iter_back(cur, start, prefix, lambda k: _U64.unpack(bytes(k[-8:]))[0])


__all__ = ["FINAL_STATES", "SCHEDULE_DBS", "SCHEDULE_MESSAGES", "ScheduleTables"]

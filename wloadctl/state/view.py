"""A read-only view of the state bound to one LMDB read transaction.

The leader plans each tick from one view, so every decision of a tick sees the same snapshot (the
runs it places, the agents it places them on, the slots that are due). Only valid inside
`Store.view()`.
"""

from __future__ import annotations

import lmdb

from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2
from wloadctl.scheduler.firing import DueJob
from wloadctl.state.events import EventTables
from wloadctl.state.runs import RunTables
from wloadctl.state.schedules import ScheduleTables
from wloadctl.state.workflows import WorkflowTables


class StateView:
    def __init__(self, txn: lmdb.Transaction, runs: RunTables, schedules: ScheduleTables,
                 events: EventTables | None = None, workflows: WorkflowTables | None = None) -> None:
        self._txn = txn
        self._workflows = workflows
        self._jobs = runs.jobs
        self._runs = runs
        self._schedules = schedules
        self._events = events

    def file_trigger_jobs(self, limit: int) -> list[jobs_pb2.JobVersion]:
        """The jobs with file triggers (an index kept at apply: no scan of the other jobs)."""
        if self._events is None:
            return []
        out = []
        for name in self._events.jobs_with_file_triggers(self._txn)[:limit]:
            raw = self._txn.get(name.encode(), db=self._jobs)
            if raw:
                out.append(jobs_pb2.JobVersion.FromString(raw))
        return out

    def next_workflow_timer_ms(self) -> int:
        """When the earliest workflow retry or wait timeout is due (0: none)."""
        return self._workflows.next_timer_ms(self._txn) if self._workflows is not None else 0

    def workflow_timers(self, limit: int) -> list[commands_pb2.WorkflowTimer]:
        """The earliest workflow timers, with their delays."""
        return self._workflows.timers_by_due(self._txn, limit) if self._workflows is not None else []

    def epoch_info(self) -> runs_pb2.EpochInfo:
        return self._runs.epoch(self._txn)

    def agents(self) -> list[runs_pb2.Agent]:
        return self._runs.list_agents(self._txn)

    def get_run(self, run_id: str) -> runs_pb2.Run | None:
        return self._runs.get_run(self._txn, run_id)

    def on_agent_counts(self) -> dict[str, int]:
        return self._runs.on_agent_counts(self._txn)

    def queued_runs(self, limit: int) -> list[runs_pb2.Run]:
        return self._runs.queued_runs(self._txn, limit)

    def due_jobs(self, now_ms: int, limit: int) -> list[DueJob]:
        return self._schedules.due_jobs(self._txn, now_ms, limit)

    def schedule_state(self, name: str) -> jobs_pb2.ScheduleState | None:
        return self._schedules.state(self._txn, name)

    def runs_after(self, seq: int, limit: int) -> list[tuple[int, runs_pb2.Run]]:
        return self._runs.runs_after(self._txn, seq, limit)

    def newer_runs_of_job(self, job_name: str, seq: int, limit: int) -> int:
        return self._runs.newer_runs_of_job(self._txn, job_name, seq, limit)

    def job_spec(self, name: str) -> jobs_pb2.JobSpec | None:
        raw = self._txn.get(name.encode(), db=self._jobs) if name else None
        return jobs_pb2.JobVersion.FromString(raw).spec if raw else None

"""Event-driven runs: jobs subscribe to named events; an emitted event starts a run of each.

An index (event, job) kept at apply finds the subscribers without looking at other jobs. The
command's idempotency key (Store.apply's table) makes a retried emit start nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import lmdb

from wloadctl.model import files
from wloadctl.proto.v1 import commands_pb2, jobs_pb2
from wloadctl.state.results import ok as _ok
from wloadctl.state.runs import MAX_PARAMS, RunTables

EVENT_DBS = (b"event_subs", b"file_jobs")


class EventTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database], runs: RunTables) -> None:
        self.subs = dbs[b"event_subs"]  # event \0 job -> b""
        self.file_jobs = dbs[b"file_jobs"]  # job -> b"": the jobs with file triggers (the leader's watch list)
        self.jobs = dbs[b"jobs"]
        self.runs = runs
        # A subscriber that is a workflow: (txn, workflow, params, cause, now_ms, idempotency key) -> its run
        # ("" when none started). Set by the store.
        self.start_workflow: Callable[[lmdb.Transaction, str, dict[str, str], str, int, str], str] | None = None
        self.workflow_trigger: Callable[[lmdb.Transaction, str], jobs_pb2.JobVersion | None] | None = None

    def subscribers(self, txn: lmdb.Transaction, event: str) -> list[str]:
        prefix = event.encode() + b"\0"
        cur = txn.cursor(db=self.subs)
        out: list[str] = []
        if cur.set_range(prefix):
            for key in cur.iternext(keys=True, values=False):
                if not key.startswith(prefix):
                    break
                out.append(bytes(key[len(prefix):]).decode())
        return out

    def job_applied(self, txn: lmdb.Transaction, old: jobs_pb2.JobSpec | None, new: jobs_pb2.JobSpec | None) -> None:
        spec = new or old
        if spec is None:
            return
        for trigger in old.events if old is not None else []:
            txn.delete(trigger.name.encode() + b"\0" + spec.name.encode(), db=self.subs)
        for trigger in new.events if new is not None else []:
            txn.put(trigger.name.encode() + b"\0" + spec.name.encode(), b"", db=self.subs)
        if new is not None and new.file_triggers:
            txn.put(spec.name.encode(), b"", db=self.file_jobs)
        else:
            txn.delete(spec.name.encode(), db=self.file_jobs)

    def jobs_with_file_triggers(self, txn: lmdb.Transaction) -> list[str]:
        return [bytes(k).decode() for k in txn.cursor(db=self.file_jobs).iternext(keys=True, values=False)]

    def file_arrived(self, txn: lmdb.Transaction, cmd: commands_pb2.FileArrived, now_ms: int,
                     idempotency_key: str) -> commands_pb2.CommandResult:
        """A run for a file an agent found, if the job still has that trigger and the file fits it;
        otherwise nothing (an answer, so that the agent stops reporting it)."""
        raw = txn.get(cmd.job_name.encode(), db=self.jobs) if 0 < len(cmd.job_name) <= 512 else None
        if raw is None:
            return _ok(message=f"job {cmd.job_name[:100]!r} no longer exists")
        job = jobs_pb2.JobVersion.FromString(raw)
        if job.spec.suspended:
            return _ok(message="the job is suspended")
        for index, trigger in enumerate(job.spec.file_triggers):
            if files.watch_id(job.spec.name, index, trigger) != cmd.watch_id:
                continue
            if len(cmd.path) > files.MAX_PATH or "\0" in cmd.path or not files.matches(trigger, cmd.path):
                return commands_pb2.CommandResult(code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                                  message=f"path: not a file matching {trigger.glob!r} in "
                                                          f"{trigger.directory!r}")
            cause = f"file {cmd.path} (found by agent {cmd.agent_id[:100]})"
            run_id = self.runs.create_run(txn, job, {files.param(trigger): cmd.path}, cause, now_ms,
                                          idempotency_key, event=f"file:{trigger.directory}/{trigger.glob}"[:300])
            return _ok(run_ids=[run_id])
        return _ok(message="the job no longer has that file trigger")

    def emit(self, txn: lmdb.Transaction, cmd: commands_pb2.EmitEvent, now_ms: int,
             idempotency_key: str) -> commands_pb2.CommandResult:
        if not cmd.name or len(cmd.name) > 128 or "\0" in cmd.name:
            return commands_pb2.CommandResult(code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                              message="name: 1-128 characters, no NUL")
        domains = set(cmd.domains)
        started: list[str] = []
        for job_name in self.subscribers(txn, cmd.name):
            raw = txn.get(job_name.encode(), db=self.jobs)
            found = jobs_pb2.JobVersion.FromString(raw) if raw is not None else \
                self.workflow_trigger(txn, job_name) if self.workflow_trigger is not None else None
            if found is None:
                continue
            job = found
            if job.spec.suspended or (domains and job.spec.domain not in domains):
                continue
            for trigger in job.spec.events:
                if trigger.name != cmd.name:
                    continue
                if trigger.params:
                    params = {run_key: cmd.params[event_key] for run_key, event_key in sorted(trigger.params.items())
                              if event_key in cmd.params}
                else:
                    params = dict(sorted(cmd.params.items()))
                params = dict(list(params.items())[:MAX_PARAMS])
                cause = f"event {cmd.name}" + (f" from {cmd.source}" if cmd.source else "")
                if raw is None and self.start_workflow is not None:  # a workflow's event trigger
                    run_id = self.start_workflow(txn, job_name, params, cause, now_ms, idempotency_key)
                    if run_id:
                        started.append(run_id)
                    break
                started.append(self.runs.create_run(txn, job, params, cause, now_ms, idempotency_key,
                                                    event=cmd.name))
                break  # one run per job and event, however many triggers name it
        return _ok(run_ids=started)

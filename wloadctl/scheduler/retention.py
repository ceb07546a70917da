"""Which finished runs the retention policy no longer keeps (pure: the time is given).

A sweep looks at a bounded number of runs, oldest first from where the previous sweep stopped, so
its cost does not grow with the history; the leader commits what it finds (PruneRuns) and every
replica removes the same runs.
"""

from __future__ import annotations

from typing import Protocol

from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2

FINAL = frozenset({runs_pb2.SUCCEEDED, runs_pb2.FAILED, runs_pb2.TIMED_OUT, runs_pb2.KILLED, runs_pb2.SKIPPED})


class RetentionView(Protocol):
    def runs_after(self, seq: int, limit: int) -> list[tuple[int, runs_pb2.Run]]: ...
    def newer_runs_of_job(self, job_name: str, seq: int, limit: int) -> int: ...
    def job_spec(self, name: str) -> jobs_pb2.JobSpec | None: ...


def plan_prune(view: RetentionView, after_seq: int, now_ms: int, keep_s: float, keep_per_job: int,
               scan: int) -> tuple[commands_pb2.PruneRuns | None, int]:
    """(runs to remove, the seq the next sweep starts after: 0 to start over)."""
    runs = view.runs_after(after_seq, scan)
    specs: dict[str, jobs_pb2.JobSpec | None] = {}
    doomed: list[str] = []
    for seq, run in runs:
        if run.state not in FINAL:
            continue
        if run.job_name not in specs:
            specs[run.job_name] = view.job_spec(run.job_name)
        spec = specs[run.job_name] or run.spec
        max_age_ms = (spec.keep_runs_seconds or keep_s) * 1000
        newest = spec.keep_runs or keep_per_job
        ended = run.finished_ms or run.updated_ms
        if now_ms - ended > max_age_ms or view.newer_runs_of_job(run.job_name, seq, newest) >= newest:
            doomed.append(run.run_id)
    next_seq = runs[-1][0] if len(runs) >= scan else 0
    return (commands_pb2.PruneRuns(run_ids=doomed) if doomed else None), next_seq

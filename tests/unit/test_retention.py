"""Run retention: a bounded sweep decides, apply removes only final runs, every replica the same."""

from __future__ import annotations

from pathlib import Path

from wloadctl.proto.v1 import commands_pb2, runs_pb2
from wloadctl.scheduler.retention import plan_prune
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

DAY_MS = 86_400_000


class S:
    def __init__(self, path: Path) -> None:
        self.store, self.index, self.time = Store(path), 0, 1_800_000_000_000

    def do(self, cmd: commands_pb2.Command) -> commands_pb2.CommandResult:
        self.index += 1
        out = self.store.apply(commands_pb2.CommandBatch(time_ms=self.time, commands=[cmd]).SerializeToString(),
                               self.index)
        assert out is not None
        return out[0]

    def run(self, name: str, finish: bool = True) -> str:
        run_id = self.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name=name))).run_ids[0]
        if finish:
            self.do(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=run_id)))
        return run_id

    def sweep(self, keep_s: float = 30 * 86400, keep_n: int = 1000, scan: int = 1000, after: int = 0) \
            -> tuple[list[str], int]:
        with self.store.view() as view:
            prune, nxt = plan_prune(view, after, self.time, keep_s, keep_n, scan)
        removed = list(self.do(commands_pb2.Command(prune_runs=prune)).run_ids) if prune else []
        return removed, nxt


def test_keep_the_newest_per_job_and_nothing_unfinished(tmp_path: Path) -> None:
    s = S(tmp_path / "s")
    keep_three = job("three")
    keep_three.keep_runs = 3
    s.do(apply_cmd(keep_three, job("default")))
    old = [s.run("three") for _ in range(5)]
    running = s.run("three", finish=False)
    others = [s.run("default") for _ in range(3)]
    removed, _ = s.sweep(keep_n=2)  # the cluster default (2) for "default", the job's own (3) for "three"
    # "three": 6 runs, the newest 3 (old[3], old[4], running) stay; the unfinished one is never removed.
    assert removed == [*old[:3], others[0]]
    assert s.store.get_run(old[0]) is None and s.store.get_run(running) is not None
    assert [r.run_id for r in s.store.list_runs("three")[0]] == [running, old[4], old[3]]


def test_age_and_bounded_sweeps(tmp_path: Path) -> None:
    s = S(tmp_path / "s")
    s.do(apply_cmd(job("j")))
    early = [s.run("j") for _ in range(4)]
    s.time += 10 * DAY_MS
    late = [s.run("j") for _ in range(2)]
    first, nxt = s.sweep(keep_s=5 * 86400, scan=3)  # looks at 3 runs only
    assert first == early[:3] and nxt == 3
    rest, nxt = s.sweep(keep_s=5 * 86400, scan=3, after=nxt)
    assert rest == early[3:] and nxt == 6  # r4 (old), r5, r6 (kept): a full sweep goes on next time
    assert s.sweep(keep_s=5 * 86400, scan=3, after=nxt) == ([], 0)  # the end: start over
    assert all(s.store.get_run(r) is not None for r in late)


def test_prune_is_refused_for_runs_not_final(tmp_path: Path) -> None:
    s = S(tmp_path / "s")
    s.do(apply_cmd(job("j")))
    queued = s.run("j", finish=False)
    result = s.do(commands_pb2.Command(prune_runs=commands_pb2.PruneRuns(run_ids=[queued, "r999"])))
    assert list(result.run_ids) == [] and s.store.get_run(queued).state == runs_pb2.QUEUED  # type: ignore[union-attr]

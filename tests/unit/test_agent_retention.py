"""Retention on the agent: per-attempt work directories by age and count (never a running one), and
the accepted-attempt records once the leader acknowledged their results long enough ago."""

from __future__ import annotations

import os
from pathlib import Path

from wloadctl.agent.durable import AgentDurableState
from wloadctl.agent.workdirs import expire_run_dirs
from wloadctl.proto.v1 import agent_pb2

NOW = 2_000_000_000.0


def _dirs(root: Path, ages_s: dict[str, float]) -> None:
    for name, age in ages_s.items():
        (root / name).mkdir(parents=True)
        (root / name / "out.txt").write_text("x")
        os.utime(root / name, (NOW - age, NOW - age))


def test_old_dirs_go_then_the_oldest_beyond_the_count_never_a_running_one(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _dirs(root, {"r1-1": 9000, "r2-1": 8000, "r3-1": 50, "r4-1": 40, "r5-1": 30, "r6-1": 9500})
    assert expire_run_dirs(root, {"r6-1"}, retention_s=3600, max_dirs=10, now=NOW) == 2
    assert sorted(p.name for p in root.iterdir()) == ["r3-1", "r4-1", "r5-1", "r6-1"]
    assert expire_run_dirs(root, {"r6-1"}, retention_s=3600, max_dirs=2, now=NOW) == 1  # r3-1, the oldest
    assert sorted(p.name for p in root.iterdir()) == ["r4-1", "r5-1", "r6-1"]
    assert expire_run_dirs(tmp_path / "missing", set(), 1, 1, NOW) == 0


def test_attempt_records_go_only_after_an_old_enough_acknowledgement(tmp_path: Path) -> None:
    durable = AgentDurableState(tmp_path / "state")
    assert durable.accept([("r1", 1), ("r2", 1), ("r3", 1)]) == [True, True, True]
    finished = [agent_pb2.RunEvent(kind=agent_pb2.RunEvent.FINISHED, run_id=r, attempt=1) for r in ("r1", "r2")]
    durable.add_unacked(finished)
    durable.ack(finished[-1].seq, now_ms=1_000)
    assert durable.prune_attempts(before_ms=500) == 0      # acknowledged, not long enough ago
    assert durable.prune_attempts(before_ms=2_000) == 2    # r3 has no acknowledged result: kept
    assert durable.attempt_records() == 1
    assert durable.accept([("r3", 1)]) == [False]          # a re-sent assignment still never runs twice
    durable.close()

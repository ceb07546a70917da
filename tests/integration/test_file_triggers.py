"""File-arrival triggers end to end: a real agent watches a directory, each new file starts one run
with its path as a parameter once its size is stable; files there before the trigger are ignored;
no file starts twice across a kill -9 of the agent or of the leader. Judged by the runs and by the
job's own records of its executions."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from wloadctl.client import Client
from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration
RS = runs_pb2.RunState


def _paths(c: Client) -> list[str]:
    return sorted(r.params["path"] for r in c.iter_runs(job_name="load-orders"))


def _land(inbox: Path, name: str, text: str = "order\n") -> str:
    # Written elsewhere and renamed in, as batch senders do; the stability wait covers slow writers too.
    tmp = inbox.parent / f".{name}.part"
    tmp.write_text(text)
    os.rename(tmp, inbox / name)
    return str(inbox / name)


def test_each_new_file_starts_one_run_across_agent_and_leader_kills(cluster_factory: Any, tmp_path: Path) -> None:
    inbox, records = tmp_path / "inbox", tmp_path / "records"
    inbox.mkdir()
    records.mkdir()
    old = _land(inbox, "orders-old.csv")
    os.utime(old, (1_000_000_000, 1_000_000_000))  # long before the trigger
    (inbox / "notes.txt").write_text("not matched")
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    agent = cluster.add_agent("a1")
    script = f'echo "$WLOADCTL_PARAM_PATH" > "{records}/$WLOADCTL_RUN_ID.$$"'
    spec = jobs_pb2.JobSpec(name="load-orders", command=jobs_pb2.JobCommand(shell=script))
    spec.file_triggers.add(directory=str(inbox), glob="orders-*.csv", stable_ms=300, param="path")
    landed: list[str] = []
    with cluster.client() as c:
        c.apply_jobs([spec])
        landed.append(_land(inbox, "orders-1.csv"))
        wait_for(lambda: _paths(c) == landed, 30, "a run for the first file")

        agent.signal(signal.SIGKILL)
        landed.append(_land(inbox, "orders-2.csv"))
        agent.start()
        wait_for(lambda: _paths(c) == sorted(landed), 30, "a run for the file that landed while the agent was down")

        leader = cluster.wait_for_leader()
        cluster.kill(leader)
        cluster.wait_for_leader(exclude=leader)
        landed.append(_land(inbox, "orders-3.csv"))
        wait_for(lambda: _paths(c) == sorted(landed), 60, "a run for a file under the new leader")
        cluster.start(leader)
        # A file rewritten in place is a new file; so is one removed and landed again.
        landed.append(_land(inbox, "orders-1.csv", "order, corrected\n"))
        wait_for(lambda: _paths(c) == sorted(landed), 30, "a run for the rewritten file")
        runs = wait_for(lambda: (rs := list(c.iter_runs(job_name="load-orders"))) and
                        all(r.state == RS.SUCCEEDED for r in rs) and rs, 60, "every run to succeed")

    assert str(inbox / "orders-old.csv") not in _paths_of(runs)  # there before the trigger
    # The job's own records: one execution per run, each with its file's path.
    executed = sorted(p.read_text().strip() for p in records.iterdir())
    assert executed == sorted(landed) and len(runs) == len(landed)
    assert all("found by agent a1" in r.transitions[0].cause for r in runs)


def _paths_of(runs: list[runs_pb2.Run]) -> list[str]:
    return [r.params["path"] for r in runs]

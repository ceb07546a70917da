"""Time-driven firing with real replicas and an agent: every slot fires exactly once or is recorded
as a misfire, across kill -9 of the leader, judged by the jobs' own records of their executions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wloadctl.client import Client
from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration
RS = runs_pb2.RunState
FINAL = {RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED}


def every_second(name: str, records: Path) -> jobs_pb2.JobSpec:
    # The job's own record of each execution: its slot and run, one file per execution (never
    # overwritten: a second execution of a run would leave a second file).
    script = f'echo "$WLOADCTL_SLOT_MS $WLOADCTL_RUN_ID" > "{records}/$WLOADCTL_RUN_ID.$WLOADCTL_ATTEMPT.$$"'
    spec = jobs_pb2.JobSpec(name=name, command=jobs_pb2.JobCommand(shell=script))
    spec.schedules.add(cron="* * * * * *")
    return spec


def all_runs(c: Client, job: str) -> list[runs_pb2.Run]:
    return list(c.iter_runs(job_name=job))


def test_every_slot_once_across_leader_kills(cluster_factory: Any, tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1", capacity=8)
    with cluster.client() as c:
        c.apply_jobs([every_second("tick", records)])
        wait_for(lambda: len(all_runs(c, "tick")) >= 3, 30, "the first firings")
        for _ in range(2):
            old = cluster.wait_for_leader()
            cluster.kill(old)
            cluster.wait_for_leader(exclude=old)
            seen = len(all_runs(c, "tick"))
            wait_for(lambda s=seen: len(all_runs(c, "tick")) >= s + 3, 60, "firings under the new leader")
            cluster.start(old)
        c.suspend_job("tick")
        state = c.next_fire_times("tick").state
        runs = wait_for(lambda: (rs := all_runs(c, "tick")) and all(r.state in FINAL for r in rs) and rs, 60,
                        "every run to end")
        misfires = list(c.iter_misfires("tick"))

    slots = sorted(r.slot_ms for r in runs)
    assert len(slots) == len(set(slots)), "a slot fired twice"
    missed = {m.first_slot_ms + 1000 * i for m in misfires for i in range(m.count)}
    assert not missed & set(slots), "a slot both fired and recorded as a misfire"
    # Every second from the first slot to the last one decided: a run or a misfire record.
    expected = set(range(slots[0], state.last_slot_ms + 1, 1000))
    unaccounted = sorted(expected - set(slots) - missed)
    assert not unaccounted and set(slots) | missed <= expected, f"slots neither fired nor recorded: {unaccounted}"
    assert state.fired == len(slots) and state.misfired == len(missed)
    # The jobs' own records: each run executed once, with its own slot, and each succeeded.
    lines = [p.read_text().split() for p in records.iterdir()]
    by_run = {run_id: int(slot) for slot, run_id in lines}
    assert len(lines) == len(by_run), "a run executed twice"
    assert by_run == {r.run_id: r.slot_ms for r in runs if r.state == RS.SUCCEEDED}
    assert all(r.state == RS.SUCCEEDED for r in runs), [(r.run_id, RS.Name(r.state)) for r in runs
                                                        if r.state != RS.SUCCEEDED]


def test_scheduling_metrics_and_misfires_over_the_api(cluster_factory: Any, tmp_path: Path) -> None:
    import urllib.request

    cluster: LocalCluster = cluster_factory(size=1, metrics=True)
    cluster.start()
    cluster.add_agent("a1", capacity=4)
    r = cluster.replicas[0]
    records = tmp_path / "records"
    records.mkdir()
    with cluster.client([r.api_address]) as c:
        slow = every_second("overlapping", records)
        slow.command.shell = "sleep 3"  # runs 3 s, a slot every second: forbid leaves misfires
        slow.overlap = jobs_pb2.OVERLAP_FORBID
        c.apply_jobs([slow])
        wait_for(lambda: len(list(c.iter_misfires("overlapping"))) >= 2, 30, "overlap misfires")
        c.suspend_job("overlapping")
        misfires = list(c.iter_misfires("overlapping"))
        state = c.next_fire_times("overlapping").state

    assert {m.reason for m in misfires} == {"overlap"} and all("forbid" in m.detail for m in misfires)
    with urllib.request.urlopen(f"http://{r.metrics_address}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values = {line.rpartition(" ")[0]: float(line.rpartition(" ")[2]) for line in text.splitlines()
              if line.startswith("wloadctl_") and " " in line}
    assert values["wloadctl_schedule_firings_total"] == state.fired >= 1
    assert values['wloadctl_schedule_misfires_total{reason="overlap"}'] == state.misfired >= 2
    assert values["wloadctl_schedule_jobs_scheduled"] == 0  # suspended
    assert values["wloadctl_schedule_firing_lateness_seconds_count"] == state.fired
    assert values['wloadctl_schedule_firing_lateness_seconds_bucket{le="+Inf"}'] == state.fired


def test_retention_prunes_the_same_runs_on_every_replica(cluster_factory: Any, tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1", capacity=4)
    spec = every_second("pruned", records)
    spec.keep_runs = 3
    with cluster.client() as c:
        c.apply_jobs([spec])
        wait_for(lambda: c.next_fire_times("pruned").state.fired >= 10, 60, "ten firings")
        c.suspend_job("pruned")
        wait_for(lambda: (rs := all_runs(c, "pruned")) and all(r.state in FINAL for r in rs) and len(rs) <= 3, 60,
                 "retention to keep the newest 3 finished runs")
        fired = c.next_fire_times("pruned").state.fired
        kept = all_runs(c, "pruned")
    # The job's runs are the cluster's only runs (r1, r2, ... one per slot): the newest three stay.
    assert sorted(int(r.run_id[1:]) for r in kept) == [fired - 2, fired - 1, fired]
    assert len(list(records.iterdir())) == fired  # every pruned run had executed (its own record)
    digests = cluster.wait_converged()
    assert len(set(digests.values())) == 1 and len(digests) == 3

"""Run reports over a real state (Store.report_runs): runs ended through the state machine's own
paths get the documented failure class, only the runs of the range are read, domains are
filtered, workflow names resolved, and a capped scan stops at a millisecond boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.model.runreport import RunReportBuilder
from wloadctl.proto.v1 import agent_pb2, api_pb2, commands_pb2, jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.state.reports import first_key_at
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

RS = runs_pb2.RunState
EV = agent_pb2.RunEvent
T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z


class S:
    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = 0
        self.time = T0 - 100_000  # the setup happens before the runs under test

    def do(self, *cmds: commands_pb2.Command, at: int | None = None) -> list[commands_pb2.CommandResult]:
        self.index += 1
        self.time = at if at is not None else self.time + 10
        out = self.store.apply(commands_pb2.CommandBatch(time_ms=self.time, commands=list(cmds)).SerializeToString(),
                               self.index)
        assert out is not None
        return out

    def trigger(self, name: str, at: int | None = None, count: int = 1) -> list[str]:
        results = self.do(*(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name=name))
                            for _ in range(count)), at=at)
        assert all(r.code == 0 for r in results), results
        return [r.run_ids[0] for r in results]

    def dispatch(self, run_id: str, agent: str = "a1", attempt: int = 1) -> None:
        result = self.do(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(epoch=1, decisions=[
            commands_pb2.DispatchDecision(run_id=run_id, attempt=attempt, agent_id=agent)])))[0]
        assert result.run_ids == [run_id]

    def events(self, *evs: agent_pb2.RunEvent, agent: str = "a1") -> None:
        self.do(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id=agent, events=list(evs))))

    def report(self, by: str, from_ms: int, to_ms: int = 0, bucket: str = "none", domains: set[str] | None = None,
               max_runs: int = 1_000_000) -> api_pb2.RunReport:
        builder = RunReportBuilder(by, from_ms, to_ms, bucket)
        scan = self.store.report_runs(builder, domains, max_runs)
        return builder.report(scan.truncated, scan.covered_to_ms)


@pytest.fixture(params=[20_000, 2], ids=["one-chunk", "chunks-of-2"])
def s(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> S:
    # Chunks of 2 runs: a report reads in many read transactions, resuming where the last one stopped.
    monkeypatch.setattr("wloadctl.state.store.REPORT_CHUNK", request.param)
    st = S(tmp_path / "s")
    fail_when_lost = job("fragile", "hr")
    fail_when_lost.lost_policy = jobs_pb2.FAIL
    st.do(apply_cmd(job("etl", "finance"), job("load", "finance"), fail_when_lost))
    st.do(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)))
    for a in ("a1", "a2"):
        st.do(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
            agent=runs_pb2.Agent(agent_id=a, capacity=100))))
    return st


def started(rid: str, at: int = 5) -> agent_pb2.RunEvent:
    return EV(kind=EV.STARTED, run_id=rid, attempt=1, epoch=1, pid=7, time_ms=T0 + at)


def finished(rid: str, at: int, **fields: object) -> agent_pb2.RunEvent:
    return EV(kind=EV.FINISHED, run_id=rid, attempt=1, epoch=1, time_ms=T0 + at, **fields)  # type: ignore[arg-type]


def test_each_way_a_run_ends_in_the_state_machine_has_its_class(s: S) -> None:
    ok, code3, nostart, refused, timeout, killed, orphan, waiting = s.trigger("etl", at=T0, count=8)
    [lost] = s.trigger("fragile")
    for rid in (ok, code3, nostart, refused, timeout, killed, orphan):
        s.dispatch(rid)
    s.dispatch(lost, agent="a2")
    s.events(started(lost), agent="a2")
    s.events(started(ok), finished(ok, 1005, exit_code=0),
             started(code3), finished(code3, 2005, exit_code=3),
             finished(nostart, 6, exit_code=-1, error="spawn failed: /bin/nope: no such file"),
             EV(kind=EV.REJECTED, run_id=refused, attempt=1, epoch=1, error="runAs root not allowed", policy=True),
             started(timeout), finished(timeout, 3005, exit_code=-9, timed_out=True),
             started(orphan), finished(orphan, 4005, exit_code=-9, orphaned=True))
    s.do(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=killed, cause="kill requested by user bob")))
    s.events(started(killed), finished(killed, 505, exit_code=-15, killed=True))
    s.do(commands_pb2.Command(mark_agent_lost=commands_pb2.MarkAgentLost(agent_id="a2", epoch=1)))
    assert s.store.get_run(waiting).state == RS.QUEUED  # type: ignore[union-attr]
    assert s.store.get_run(lost).state == RS.FAILED  # type: ignore[union-attr]

    report = s.report("job", T0, bucket="none")
    etl, fragile = report.rows
    assert (etl.key, etl.runs, etl.succeeded, etl.failed, etl.timed_out, etl.killed, etl.unfinished) == \
        ("etl", 8, 1, 3, 1, 2, 1)
    assert dict(etl.failure_classes) == {"exit_code": 1, "start_failed": 1, "rejected": 1, "timed_out": 1,
                                         "killed": 1, "orphaned": 1}
    assert dict(fragile.failure_classes) == {"agent_lost": 1} and fragile.durations == 0
    # started -> finished on the agent: 1000, 2000, 3000, 4000 and the kill's 500 (the others never started)
    assert etl.durations == 5 and (etl.duration_p50_ms, etl.duration_p95_ms, etl.duration_max_ms) == (2000, 4000, 4000)
    assert etl.success_rate == pytest.approx(1 / 7)
    by_agent = {r.key: r.runs for r in s.report("agent", T0).rows}
    assert by_agent == {"": 1, "a1": 7, "a2": 1}


def test_only_the_runs_of_the_range_are_read(s: S) -> None:
    hour = 3_600_000
    for h in range(10):
        s.trigger("etl", at=T0 + h * hour, count=3)  # three runs per hour, in one entry each
    assert first_key_at(s.store.read_txn(), s.store._dbs[b"runs"], T0 + 4 * hour) is not None
    builder = RunReportBuilder("job", T0 + 4 * hour, T0 + 6 * hour, "hour")
    scan = s.store.report_runs(builder, None, 1_000_000)
    assert (scan.scanned, scan.counted, scan.truncated) == (6, 6, False)
    report = builder.report(scan.truncated, scan.covered_to_ms)
    assert [(r.bucket_start_ms, r.runs) for r in report.rows] == [(T0 + 4 * hour, 3), (T0 + 5 * hour, 3)]
    # Bounds: from inclusive, to exclusive; before everything, after everything, between two runs.
    assert s.report("job", T0 - hour, T0).total.runs == 0
    assert s.report("job", T0, T0 + 1).total.runs == 3
    assert s.report("job", T0 + 9 * hour).total.runs == 3
    assert s.report("job", T0 + 9 * hour + 1).total.runs == 0
    assert s.report("job", T0 + hour + 1, T0 + 2 * hour).total.runs == 0
    assert s.report("job", 1).total.runs == 30


def test_the_search_skips_pruned_runs(s: S) -> None:
    ids = [rid for m in range(20) for rid in s.trigger("etl", at=T0 + m * 1000)]
    for rid in ids:
        s.dispatch(rid)
        s.events(finished(rid, 1, exit_code=0))
    # Retention removed the runs of seconds 3 to 14: the keys have a hole the binary search must jump.
    assert s.do(commands_pb2.Command(prune_runs=commands_pb2.PruneRuns(run_ids=ids[3:15])))[0].code == 0
    for start, expected in ((0, 8), (2000, 6), (3000, 5), (9000, 5), (15000, 5), (16000, 4), (19000, 1)):
        assert s.report("job", T0 + start).total.runs == expected, start


def test_domains_are_filtered_and_a_cap_stops_between_milliseconds(s: S) -> None:
    s.trigger("etl", at=T0, count=3)
    s.trigger("fragile", at=T0 + 1, count=2)
    s.trigger("load", at=T0 + 2, count=3)
    assert {r.key for r in s.report("domain", T0, domains={"hr"}).rows} == {"hr"}
    assert s.report("domain", T0, domains=set()).total.runs == 0
    assert s.report("domain", T0, domains={"finance", "hr"}).total.runs == 8
    # max_runs 4: the fourth run is at T0+1, so its millisecond's fifth run is read too, then it stops.
    capped = s.report("job", T0, domains={"finance"}, max_runs=4)
    assert capped.truncated and capped.covered_to_ms == T0 + 2
    assert [(r.key, r.runs) for r in capped.rows] == [("etl", 3)]  # the hr runs were read, not counted
    assert capped.total.bucket_end_ms == T0 + 2
    whole = s.report("job", T0, domains={"finance"}, max_runs=8)
    assert not whole.truncated and whole.total.runs == 6
    assert s.report("job", T0, max_runs=3).covered_to_ms == T0 + 1


def test_a_passed_deadline_stops_the_scan_before_the_next_millisecond(s: S) -> None:
    s.trigger("etl", at=T0, count=2)
    s.trigger("etl", at=T0 + 5)
    builder = RunReportBuilder("job", T0)
    scan = s.store.report_runs(builder, None, 1_000_000, deadline=100.0, clock=lambda: 101.0)  # a passed deadline
    assert (scan.truncated, scan.counted, scan.covered_to_ms) == (True, 0, T0)
    assert builder.report(scan.truncated, scan.covered_to_ms).total.runs == 0


def test_reports_by_workflow_name_the_workflow_of_each_task_run(tmp_path: Path) -> None:
    s = S(tmp_path / "w")
    s.do(apply_cmd(job("etl", "finance")))
    spec = workflows_pb2.WorkflowSpec(name="nightly", domain="finance")
    spec.tasks.add(name="extract", command=jobs_pb2.JobCommand(shell="echo extract"))
    spec.tasks.add(name="load", job="etl")
    assert s.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[spec])))[0].code == 0
    for _ in range(2):
        result = s.do(commands_pb2.Command(trigger_workflow=commands_pb2.TriggerWorkflow(name="nightly")))[0]
        assert result.code == 0, result.message
    s.trigger("etl")
    rows = s.report("workflow", 1).rows
    assert [(r.key, r.runs) for r in rows] == [("", 1), ("nightly", 4)]

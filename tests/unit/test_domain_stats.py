"""Per-domain counters (state/stats.py): always equal to a recount of the state, whatever happened."""

from __future__ import annotations

import struct
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from wloadctl.proto.v1 import agent_pb2, commands_pb2, runs_pb2, workflows_pb2
from wloadctl.state.stats import day_of, hour_of
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, delete_cmd, job

RS = runs_pb2.RunState
EV = agent_pb2.RunEvent
T0 = 1_767_225_600_000 - 5_000  # just before midnight UTC: runs fall on two days
DOMAINS = ("finance", "hr")


class World:
    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = 0
        self.time = T0
        self.runs: list[str] = []
        self.do(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)),
                commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
                    agent=runs_pb2.Agent(agent_id="a1", capacity=1000))))

    def do(self, *cmds: commands_pb2.Command) -> list[commands_pb2.CommandResult]:
        self.index += 1
        self.time += 1_000
        out = self.store.apply(commands_pb2.CommandBatch(time_ms=self.time, commands=list(cmds)).SerializeToString(),
                               self.index)
        assert out is not None
        return out

    def stats(self) -> dict[bytes, int]:
        store = self.store
        with store.env.begin() as txn:
            return {bytes(k): struct.unpack(">Q", v)[0] for k, v in txn.cursor(db=store._dbs[b"stats"])}

    def recount(self) -> dict[bytes, int]:
        store = self.store
        with store.env.begin(write=True) as txn:
            store._build_stats(txn)
            out = {bytes(k): struct.unpack(">Q", v)[0] for k, v in txn.cursor(db=store._dbs[b"stats"])}
            txn.abort()
        return out


def step(w: World, op: int, a: int, b: int) -> None:
    name = f"j{a % 4}"
    if op == 0:
        w.do(apply_cmd(job(name, domain=DOMAINS[b % 2])))
    elif op == 1:
        w.do(delete_cmd(name))
    elif op == 2:
        r = w.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name=name)))[0]
        w.runs.extend(r.run_ids)
    elif w.runs:
        rid = w.runs[a % len(w.runs)]
        run = w.store.get_run(rid)
        if run is None:
            return
        if op == 3 and run.state == RS.QUEUED:
            w.do(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(epoch=1, decisions=[
                commands_pb2.DispatchDecision(run_id=rid, attempt=run.attempt or 1, agent_id="a1")])))
        elif op == 4 and run.state in (RS.DISPATCHED, RS.RUNNING):
            w.do(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
                EV(kind=EV.FINISHED, run_id=rid, attempt=run.attempt, exit_code=b % 3)])))
        elif op == 5:
            w.do(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=rid)))
        elif op == 6:
            w.do(commands_pb2.Command(prune_runs=commands_pb2.PruneRuns(run_ids=[rid])))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 50), st.integers(0, 5)), max_size=60))
def test_counters_always_equal_a_recount(tmp_path_factory: object, ops: list[tuple[int, int, int]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "s")
        for i, (op, a, b) in enumerate(ops):
            step(w, op, a, b)
            if i % 10 == 9:
                assert w.stats() == w.recount()
        assert w.stats() == w.recount()
        w.store.close()


def test_summary_reads_per_domain_days_and_hours(tmp_path: Path) -> None:
    w = World(tmp_path / "s")
    w.do(apply_cmd(job("pay", domain="finance"), job("ledger", domain="finance"), job("people", domain="hr")))
    w.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[workflows_pb2.WorkflowSpec(
        name="close", domain="finance", tasks=[workflows_pb2.WorkflowTask(name="t", job="pay")])])))
    first = w.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="pay")))[0].run_ids[0]
    w.time += 10_000  # the next day (UTC)
    second = w.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="pay")))[0].run_ids[0]
    w.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="people")))
    w.do(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=first)))
    day1, day2 = day_of(w.store.get_run(first).created_ms), day_of(w.store.get_run(second).created_ms)
    assert day1 != day2
    _, everything = w.store.summary(None, [day1, day2], day2)
    by = {s.domain: s for s in everything}
    assert by["finance"].jobs == 2 and by["finance"].workflows == 1 and by["hr"].jobs == 1
    assert by["finance"].runs_by_state == {RS.KILLED: 1, RS.QUEUED: 1}
    assert by["finance"].days == {day1: {RS.KILLED: 1}, day2: {RS.QUEUED: 1}}
    assert by["finance"].hours == {hour_of(w.store.get_run(second).created_ms): (1, 0)}
    _, hr_only = w.store.summary(["hr"], [day2], day2)
    assert [s.domain for s in hr_only] == ["hr"] and hr_only[0].runs_by_state == {RS.QUEUED: 1}
    assert w.store.summary(["nobody"], [day2], day2)[1] == []
    # Moving a job to another domain moves its count; deleting it removes it.
    w.do(apply_cmd(job("ledger", domain="hr")))
    w.do(delete_cmd("people"))
    by = {s.domain: s for s in w.store.summary(None, [], day2)[1]}
    assert by["finance"].jobs == 1 and by["hr"].jobs == 1
    assert w.stats() == w.recount()


def test_an_older_store_builds_its_counters_once_when_it_opens(tmp_path: Path) -> None:
    w = World(tmp_path / "s")
    w.do(apply_cmd(job("pay", domain="finance")))
    for _ in range(3):
        w.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="pay")))
    expected = w.stats()
    store = w.store
    with store.env.begin(write=True) as txn:  # as format 3 left it: no counters, no states in runs_active
        txn.drop(store._dbs[b"stats"], delete=False)
        for key, _ in list(txn.cursor(db=store._dbs[b"runs_active"])):
            txn.put(bytes(key), b"", db=store._dbs[b"runs_active"])
        txn.put(b"format", struct.pack(">Q", 3), db=store._dbs[b"meta"])
    store.close()
    reopened = Store(tmp_path / "s")
    w.store = reopened
    assert reopened.format_version() == 4 and w.stats() == expected
    with reopened.env.begin() as txn:
        assert {bytes(v) for _, v in txn.cursor(db=reopened._dbs[b"runs_active"])} == {bytes([RS.QUEUED])}

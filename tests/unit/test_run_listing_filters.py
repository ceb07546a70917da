"""Run listings filtered by the state: domains, agent, creation time, unfinished states by index."""

from __future__ import annotations

from pathlib import Path

from wloadctl.proto.v1 import agent_pb2, commands_pb2, runs_pb2
from wloadctl.state.runs import RunWhere
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

RS = runs_pb2.RunState
EV = agent_pb2.RunEvent


class W:
    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index, self.time = 0, 10_000

    def do(self, *cmds: commands_pb2.Command) -> list[commands_pb2.CommandResult]:
        self.index += 1
        self.time += 1_000
        out = self.store.apply(commands_pb2.CommandBatch(time_ms=self.time, commands=list(cmds)).SerializeToString(),
                               self.index)
        assert out is not None
        return out

    def trigger(self, name: str) -> str:
        return self.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name=name)))[0].run_ids[0]


def ids(runs: list[runs_pb2.Run]) -> list[str]:
    return [r.run_id for r in runs]


def test_filters_by_domain_agent_time_and_state(tmp_path: Path) -> None:
    w = W(tmp_path / "s")
    w.do(apply_cmd(job("pay", domain="finance"), job("people", domain="hr")),
         commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)),
         commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(agent=runs_pb2.Agent(agent_id="a1",
                                                                                               capacity=9))))
    runs = [w.trigger(name) for name in ("pay", "people", "pay", "people", "pay")]  # created 12s, 13s, ... 16s
    created = {r: w.store.get_run(r).created_ms for r in runs}  # type: ignore[union-attr]
    w.do(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(epoch=1, decisions=[
        commands_pb2.DispatchDecision(run_id=runs[0], attempt=1, agent_id="a1")])))
    w.do(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
        EV(kind=EV.FINISHED, run_id=runs[0], attempt=1, exit_code=0)])))

    def listed(state: int = 0, where: RunWhere | None = None, size: int = 100, token: str = "",
               max_scan: int = 10_000) -> tuple[list[str], str]:
        found, next_token = w.store.list_runs("", state, size, token, max_scan=max_scan, where=where)
        return ids(found), next_token

    assert listed(where=RunWhere(domains=frozenset({"finance"})))[0] == [runs[4], runs[2], runs[0]]
    assert listed(where=RunWhere(domains=frozenset()))[0] == []
    assert listed(where=RunWhere(agent="a1"))[0] == [runs[0]]
    window = RunWhere(created_from_ms=created[runs[1]], created_before_ms=created[runs[3]])
    assert listed(where=window)[0] == [runs[2], runs[1]]
    assert listed(where=RunWhere(created_before_ms=created[runs[0]]))[0] == []
    assert listed(where=RunWhere(created_from_ms=created[runs[4]] + 1))[0] == []
    # Unfinished states are read from runs_active: only matching runs are parsed.
    assert listed(RS.QUEUED)[0] == [runs[4], runs[3], runs[2], runs[1]]
    assert listed(RS.QUEUED, RunWhere(domains=frozenset({"hr"})))[0] == [runs[3], runs[1]]
    assert listed(RS.SUCCEEDED)[0] == [runs[0]]
    # Pages: a bounded scan gives a short page and a token to go on from.
    page, token = listed(RS.QUEUED, RunWhere(domains=frozenset({"hr"})), max_scan=1)
    assert page == [] and token
    page, token = listed(RS.QUEUED, RunWhere(domains=frozenset({"hr"})), size=1)
    assert page == [runs[3]] and token
    assert listed(RS.QUEUED, RunWhere(domains=frozenset({"hr"})), token=token)[0] == [runs[1]]

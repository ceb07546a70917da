"""The leader's tick decisions as pure functions of one view, the agents' streams and a given time."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.proto.v1 import agent_pb2, commands_pb2, runs_pb2
from wloadctl.scheduler.plan import (
    LinkView,
    agent_record,
    free_slots,
    plan_dispatch,
    plan_lost_agents,
    plan_registrations,
    plan_resends,
    plan_sweep,
)
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job
from wloadctl.testing.clock import ManualClock


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s")
    cmds = [apply_cmd(job("etl")),
            commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)),
            *[commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
                agent=runs_pb2.Agent(agent_id=a, capacity=2, lease_ms=3000))) for a in ("a1", "a2")],
            *[commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="etl")) for _ in range(5)]]
    for i, cmd in enumerate(cmds, 1):
        s.apply(commands_pb2.CommandBatch(time_ms=1000 + i, commands=[cmd]).SerializeToString(), i)
    return s


def test_dispatch_places_on_fenced_agents_heard_lately(store: Store) -> None:
    clock = ManualClock(100.0)
    links = [LinkView("a1", 99.5, 1), LinkView("a2", 95.0, 1)]  # a2 silent for 5 s
    with store.view() as view:
        slots = free_slots(view, links, epoch=1, now=clock(), silence_s=2.0)
        decision = plan_dispatch(view, slots, epoch=1, max_batch=100)
    assert [s.agent_id for s in slots] == ["a1"]
    assert decision is not None and decision.epoch == 1
    assert [(d.run_id, d.attempt, d.agent_id) for d in decision.decisions] == [("r1", 1, "a1"), ("r2", 1, "a1")]


def test_an_agent_fenced_to_another_epoch_gets_nothing(store: Store) -> None:
    with store.view() as view:
        slots = free_slots(view, [LinkView("a1", 100.0, 0)], epoch=1, now=100.0, silence_s=2.0)
        assert slots == [] and plan_dispatch(view, slots, 1, 100) is None


def test_lost_agents_after_lease_and_margin_counted_from_the_takeover(store: Store) -> None:
    clock = ManualClock(1000.0)
    heard = {"a1": 999.0}  # a2 never heard by this leader
    with store.view() as view:
        assert plan_lost_agents(view, heard, takeover_started=997.0, now=clock(), margin_s=1.5, epoch=1) == []
        clock.advance(2.0)  # a2: 5 s since the takeover > 3 s lease + 1.5 s margin
        marks = plan_lost_agents(view, heard, takeover_started=997.0, now=clock(), margin_s=1.5, epoch=1)
    assert [(m.agent_id, m.epoch) for m in marks] == [("a2", 1)]
    assert "silent for 5.0 s" in marks[0].cause


def _run(run_id: str, agent: str, state: int, attempt: int = 1, kill: bool = False) -> runs_pb2.Run:
    return runs_pb2.Run(run_id=run_id, attempt=attempt, agent_id=agent, state=state, kill_requested=kill)  # type: ignore[arg-type]


def test_registration_for_new_lost_or_changed_agents_only() -> None:
    hello = agent_pb2.AgentHello(agent_id="a1", capacity=4, labels={"zone": "a"}, lease_ms=3000)
    registered = agent_record(hello)
    registered.registered_ms, registered.lost_count = 1000, 2  # set by apply: not a difference
    assert plan_registrations({"a1": registered}, [hello]) == []
    bigger = agent_pb2.AgentHello(agent_id="a1", capacity=8, labels={"zone": "a"}, lease_ms=3000)
    assert [r.capacity for r in plan_registrations({"a1": registered}, [bigger])] == [8]
    lost = runs_pb2.Agent()
    lost.CopyFrom(registered)
    lost.lost_ms = 5000
    assert [r.agent_id for r in plan_registrations({"a1": lost}, [hello])] == ["a1"]
    assert [r.agent_id for r in plan_registrations({}, [hello])] == ["a1"]


def test_reconcile_resends_what_the_agent_does_not_hold() -> None:
    on_agent = [_run("r1", "a1", runs_pb2.RUNNING), _run("r2", "a1", runs_pb2.DISPATCHED),
                _run("r3", "a2", runs_pb2.DISPATCHED)]
    assert [r.run_id for r in plan_resends(on_agent, "a1", {("r1", 1)})] == ["r2"]
    assert plan_resends(on_agent, "a1", {("r1", 1), ("r2", 1)}) == []


def test_sweep_repeats_kills_each_second_and_resends_dispatched_attempts_after_a_while() -> None:
    clock = ManualClock(100.0)
    on_agent = [_run("r1", "a1", runs_pb2.RUNNING, kill=True), _run("r2", "a1", runs_pb2.DISPATCHED),
                _run("r3", "a9", runs_pb2.DISPATCHED, kill=True)]  # a9: no stream to this leader
    sweep = plan_sweep(on_agent, {"a1"}, {}, {("r2", 1): 99.0}, clock(), kill_every_s=1.0, resend_after_s=5.0)
    assert sweep.kills == [("a1", "r1", 1)] and sweep.resends == {}
    assert sweep.live == {("r1", 1), ("r2", 1), ("r3", 1)}
    clock.advance(0.5)
    assert plan_sweep(on_agent, {"a1"}, {("r1", 1): 100.0}, {("r2", 1): 99.0}, clock(), 1.0, 5.0).kills == []
    clock.advance(5.0)
    later = plan_sweep(on_agent, {"a1"}, {("r1", 1): 100.0}, {("r2", 1): 99.0}, clock(), 1.0, 5.0)
    assert later.kills == [("a1", "r1", 1)] and [r.run_id for r in later.resends["a1"]] == ["r2"]

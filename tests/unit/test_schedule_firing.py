"""Exactly-once firing: the pure planner (misfire policies, with a manual clock) and the state's
re-checks (a slot decided once whoever proposes it, overlap policies, suspend and resume, updates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.scheduler.firing import DueJob, plan_firing
from wloadctl.scheduler.plan import plan_schedules
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job
from wloadctl.testing.clock import ManualClock

RS = runs_pb2.RunState
MA = jobs_pb2.MisfireAction
OP = jobs_pb2.OverlapPolicy
T0 = 1_800_000_000  # a whole minute (seconds)


def every(seconds: int, name: str = "tick", **fields: object) -> jobs_pb2.JobSpec:
    spec = job(name)
    spec.schedules.add(every_seconds=seconds)
    for key, value in fields.items():
        if key == "misfire":
            spec.misfire.CopyFrom(value)  # type: ignore[arg-type]
        else:
            setattr(spec, key, value)
    return spec


# ---- the planner (pure)

def firing(spec: jobs_pb2.JobSpec, next_slot_s: int, now_s: float) -> commands_pb2.Firing | None:
    return plan_firing(DueJob(spec, 1, next_slot_s * 1000), int(now_s * 1000))


def test_nothing_before_the_slot_and_the_slot_on_time() -> None:
    assert firing(every(10), T0 + 10, T0 + 9.999) is None
    f = firing(every(10), T0 + 10, T0 + 10.2)
    assert f is not None and list(f.fire_slots) == [(T0 + 10) * 1000] and not f.misfires
    assert f.expected_next_ms == f.through_ms == (T0 + 10) * 1000


def test_slots_within_grace_all_run_late() -> None:
    f = firing(every(10), T0 + 10, T0 + 45)  # 10, 20, 30, 40: the oldest 35 s late, grace 60 s
    assert f is not None and [s // 1000 - T0 for s in f.fire_slots] == [10, 20, 30, 40] and not f.misfires


@pytest.mark.parametrize(("policy", "fired", "missed"), [
    (jobs_pb2.MisfirePolicy(action=MA.MISFIRE_SKIP), [], 30),
    (jobs_pb2.MisfirePolicy(action=MA.MISFIRE_RUN_LATEST), [300], 29),
    (jobs_pb2.MisfirePolicy(action=MA.MISFIRE_RUN_ALL, max_count=5), [260, 270, 280, 290, 300], 25),
    (jobs_pb2.MisfirePolicy(action=MA.MISFIRE_RUN_ALL, window_seconds=100), [280, 290, 300], 27),
])
def test_after_downtime_each_misfire_policy(policy: jobs_pb2.MisfirePolicy, fired: list[int], missed: int) -> None:
    # Down from T0+5 to T0+380: slots 10..300 are more than 60 s late (310..370 would be on time,
    # but the schedule's window ends at 300, so only the late ones exist).
    spec = every(10, misfire=policy, end_ms=(T0 + 300) * 1000)
    f = firing(spec, T0 + 10, T0 + 380)
    assert f is not None
    assert [s // 1000 - T0 for s in f.fire_slots] == fired
    assert sum(m.count for m in f.misfires) == missed
    assert all(m.reason == "late" for m in f.misfires)
    assert f.through_ms == (T0 + 300) * 1000


def test_run_latest_runs_nothing_late_when_a_slot_is_on_time() -> None:
    f = firing(every(10), T0 + 10, T0 + 125)  # 10..60 late, 70..120 within grace
    assert f is not None
    assert [s // 1000 - T0 for s in f.fire_slots] == [70, 80, 90, 100, 110, 120]
    assert [(m.first_slot_ms // 1000 - T0, m.last_slot_ms // 1000 - T0, m.count) for m in f.misfires] == [(10, 60, 6)]
    assert "superseded" in f.misfires[0].detail


def test_a_long_outage_is_decided_in_bounded_steps() -> None:
    f = plan_firing(DueJob(every(1), 1, (T0 + 1) * 1000), (T0 + 86_400) * 1000, limit=2000)
    assert f is not None and not f.fire_slots  # run-latest: the latest is not in this step
    assert sum(m.count for m in f.misfires) == 2000 and f.through_ms == (T0 + 2000) * 1000


def test_jitter_delays_the_due_time_not_the_slot() -> None:
    from wloadctl.scheduler.triggers import jitter_ms
    spec = every(60, jitter_seconds=30)
    offset = jitter_ms(spec.name, 30)
    assert firing(spec, T0 + 60, T0 + 60 + (offset - 1) / 1000) is None
    f = firing(spec, T0 + 60, T0 + 60 + (offset + 1) / 1000)
    assert f is not None and list(f.fire_slots) == [(T0 + 60) * 1000]


def test_suspended_jobs_do_not_fire() -> None:
    assert firing(every(10, suspended=True), T0 + 10, T0 + 11) is None


# ---- the state: apply re-checks, overlap, suspend

class Cluster:
    """A store driven by commands, and a planner with a manual clock: a leader without processes."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = 0
        self.clock = ManualClock(T0)

    def apply(self, *cmds: commands_pb2.Command) -> list[commands_pb2.CommandResult]:
        self.index += 1
        batch = commands_pb2.CommandBatch(time_ms=self.clock.ms, commands=list(cmds))
        out = self.store.apply(batch.SerializeToString(), self.index)
        assert out is not None
        return out

    def plan(self) -> list[commands_pb2.FireSchedules]:
        with self.store.view() as view:
            return plan_schedules(view, self.clock.ms, 5000)

    def tick(self) -> list[str]:
        """Plan and commit, as the leader does; the runs created."""
        runs: list[str] = []
        for fire in self.plan():
            runs += self.apply(commands_pb2.Command(fire_schedules=fire))[0].run_ids
        return runs

    def runs(self, name: str = "tick") -> list[runs_pb2.Run]:
        return list(reversed(self.store.list_runs(name, page_size=1000)[0]))

    def finish(self, run_id: str) -> None:
        self.apply(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=run_id, cause="test")))


@pytest.fixture
def c(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path / "s")


def test_each_slot_fires_once_however_often_it_is_proposed(c: Cluster) -> None:
    c.apply(apply_cmd(every(10)))
    state = c.store.schedule_state("tick")
    assert state is not None and state.next_slot_ms == (T0 + 10) * 1000
    c.clock.advance(10.1)
    plans = c.plan()
    first = c.apply(commands_pb2.Command(fire_schedules=plans[0]))[0]
    again = c.apply(commands_pb2.Command(fire_schedules=plans[0]))[0]  # a deposed leader's copy
    assert len(first.run_ids) == 1 and not again.run_ids and "1 stale" in again.message
    assert c.plan() == []
    runs = c.runs()
    assert [r.slot_ms for r in runs] == [(T0 + 10) * 1000] and runs[0].state == RS.QUEUED


def test_a_clock_jump_backwards_fires_nothing_twice(c: Cluster) -> None:
    c.apply(apply_cmd(every(10)))
    for _ in range(3):
        c.clock.advance(10)
        c.tick()
    c.clock.advance(-25)  # the new leader's clock is behind
    assert c.tick() == []
    c.clock.advance(25 + 10)
    c.tick()
    assert [r.slot_ms // 1000 - T0 for r in c.runs()] == [10, 20, 30, 40]


def test_a_clock_jump_forward_applies_the_misfire_policy_and_records_it(c: Cluster) -> None:
    c.apply(apply_cmd(every(10, misfire=jobs_pb2.MisfirePolicy(action=MA.MISFIRE_SKIP))))
    c.clock.advance(10)
    c.tick()
    c.clock.advance(3600)
    c.tick()
    records, _ = c.store.list_misfires("tick")
    # Slots 20..3540 are more than the 60 s grace late; 3550..3610 run late.
    assert sum(m.count for m in records) == 353 and {m.reason for m in records} == {"late"}
    assert [r.slot_ms // 1000 - T0 for r in c.runs()] == [10, *range(3550, 3611, 10)]
    assert c.store.schedule_state("tick").misfired == 353  # type: ignore[union-attr]


def test_an_update_keeps_the_sequence_and_a_stale_version_is_refused(c: Cluster) -> None:
    c.apply(apply_cmd(every(10)))
    c.clock.advance(10)
    stale = c.plan()
    updated = every(10)
    updated.description = "changed"
    c.apply(apply_cmd(updated))
    assert c.apply(commands_pb2.Command(fire_schedules=stale[0]))[0].run_ids == []  # planned for version 1
    assert len(c.tick()) == 1  # the same slot, for version 2
    assert [(r.slot_ms // 1000 - T0, r.job_version) for r in c.runs()] == [(10, 2)]


def test_suspend_stops_and_resume_restarts_from_now(c: Cluster) -> None:
    c.apply(apply_cmd(every(10)))
    c.apply(commands_pb2.Command(suspend_job=commands_pb2.SuspendJob(name="tick", suspended=True)))
    c.clock.advance(100)
    assert c.tick() == [] and c.store.schedule_state("tick").next_slot_ms == 0  # type: ignore[union-attr]
    c.apply(commands_pb2.Command(suspend_job=commands_pb2.SuspendJob(name="tick", suspended=False)))
    assert c.store.schedule_state("tick").next_slot_ms == (T0 + 110) * 1000  # type: ignore[union-attr]
    c.clock.advance(10)
    c.tick()
    assert [r.slot_ms // 1000 - T0 for r in c.runs()] == [110]
    assert c.store.list_misfires("tick")[0] == []  # suspended slots are not misfires


def test_deleting_a_job_ends_its_schedule(c: Cluster) -> None:
    c.apply(apply_cmd(every(10)))
    c.apply(commands_pb2.Command(delete_job=commands_pb2.DeleteJob(name="tick")))
    c.clock.advance(30)
    assert c.tick() == [] and c.store.schedule_state("tick") is None


@pytest.mark.parametrize(("policy", "states", "misfires"), [
    (OP.OVERLAP_ALLOW, [RS.QUEUED, RS.QUEUED, RS.QUEUED], 0),
    (OP.OVERLAP_FORBID, [RS.QUEUED], 2),
    (OP.OVERLAP_BUFFER_ONE, [RS.QUEUED, RS.PENDING], 1),
    (OP.OVERLAP_BUFFER_ALL, [RS.QUEUED, RS.PENDING, RS.PENDING], 0),
    (OP.OVERLAP_REPLACE, [RS.KILLED, RS.KILLED, RS.QUEUED], 0),  # nothing on an agent: killed at once
])
def test_overlap_policies(c: Cluster, policy: int, states: list[int], misfires: int) -> None:
    c.apply(apply_cmd(every(10, overlap=policy)))
    for _ in range(3):  # the first run never ends
        c.clock.advance(10)
        c.tick()
    assert [r.state for r in c.runs()] == states
    records, _ = c.store.list_misfires("tick")
    assert sum(m.count for m in records) == misfires and all(m.reason == "overlap" for m in records)


def test_a_buffered_run_goes_when_the_earlier_one_ends(c: Cluster) -> None:
    c.apply(apply_cmd(every(10, overlap=OP.OVERLAP_BUFFER_ALL)))
    for _ in range(3):
        c.clock.advance(10)
        c.tick()
    first, second, _ = c.runs()
    c.finish(first.run_id)
    assert [r.state for r in c.runs()] == [RS.KILLED, RS.QUEUED, RS.PENDING]
    c.finish(second.run_id)
    assert [r.state for r in c.runs()] == [RS.KILLED, RS.KILLED, RS.QUEUED]
    assert c.runs()[2].waiting_for == ""


def test_replace_starts_the_new_run_once_the_killed_one_has_ended(c: Cluster) -> None:
    c.apply(apply_cmd(every(10, overlap=OP.OVERLAP_REPLACE)))
    c.apply(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)))
    c.apply(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
        agent=runs_pb2.Agent(agent_id="a1", capacity=4))))
    c.clock.advance(10)
    (first,) = c.tick()
    c.apply(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(
        epoch=1, decisions=[commands_pb2.DispatchDecision(run_id=first, attempt=1, agent_id="a1")])))
    c.clock.advance(10)
    (second,) = c.tick()
    runs = {r.run_id: r for r in c.runs()}
    assert runs[first].kill_requested and runs[first].state == RS.DISPATCHED and runs[second].state == RS.PENDING
    c.apply(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
        agent_pb2.RunEvent(kind=agent_pb2.RunEvent.FINISHED, run_id=first, attempt=1, epoch=1, killed=True)])))
    runs = {r.run_id: r for r in c.runs()}
    assert runs[first].state == RS.KILLED and runs[second].state == RS.QUEUED


def test_replace_of_a_run_no_agent_has_starts_the_new_one_at_once(c: Cluster) -> None:
    c.apply(apply_cmd(every(10, overlap=OP.OVERLAP_REPLACE)))
    c.clock.advance(10)
    (first,) = c.tick()  # QUEUED: no agent has it, so the kill ends it at once
    c.clock.advance(10)
    (second,) = c.tick()
    runs = {r.run_id: r for r in c.runs()}
    assert runs[first].state == RS.KILLED and runs[second].state == RS.QUEUED and not runs[second].waiting_for


def test_due_jobs_are_found_without_looking_at_the_others(c: Cluster) -> None:
    c.apply(apply_cmd(*[every(3600, name=f"hourly-{i}") for i in range(200)], every(10)))
    c.clock.advance(10)
    with c.store.view() as view:
        due = view.due_jobs(c.clock.ms, 1000)
    assert [d.spec.name for d in due] == ["tick"]
    assert c.store.schedule_counts()["scheduled"] == 201

"""What Store.apply tells the change feed: each entry's runs, jobs, agents and cluster changes."""

from __future__ import annotations

from pathlib import Path

from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.state.changes import AGENT, CLUSTER, JOB, RUN, Change
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

RS = runs_pb2.RunState
EV = agent_pb2.RunEvent


class Applier:
    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = 0

    def entry(self, *cmds: commands_pb2.Command) -> tuple[Change, ...]:
        self.index += 1
        batch = commands_pb2.CommandBatch(time_ms=1000 + self.index, commands=list(cmds))
        assert self.store.apply(batch.SerializeToString(), self.index) is not None
        entries, _ = self.store.feed.since(self.index - 1)
        return entries[0].changes if entries and entries[0].index == self.index else ()


def test_each_entry_lists_the_objects_it_wrote_as_stored_after_it(tmp_path: Path) -> None:
    a = Applier(tmp_path / "s")
    changes = a.entry(apply_cmd(job("etl")))
    assert [(c.kind, c.key) for c in changes] == [(JOB, "etl")]
    assert jobs_pb2.JobVersion.FromString(changes[0].data or b"").version == 1
    changes = a.entry(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)),
                      commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
                          agent=runs_pb2.Agent(agent_id="a1", capacity=2))))
    assert {(c.kind, c.key) for c in changes} == {(CLUSTER, ""), (AGENT, "a1")}
    # Triggered and dispatched in one entry: one change, the run as the entry left it.
    trigger = commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="etl"))
    changes = a.entry(trigger)
    run_id = changes[0].key
    changes = a.entry(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(epoch=1, decisions=[
                          commands_pb2.DispatchDecision(run_id=run_id, attempt=1, agent_id="a1")])),
                      commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
                          EV(kind=EV.STARTED, run_id=run_id, attempt=1, pid=7, time_ms=5)])))
    assert [(c.kind, c.key) for c in changes] == [(RUN, run_id)]
    run = runs_pb2.Run.FromString(changes[0].data or b"")
    assert run.state == RS.RUNNING and [t.state for t in run.transitions][-2:] == [RS.DISPATCHED, RS.RUNNING]


def test_a_delete_is_a_change_without_data_and_a_refused_command_changes_nothing(tmp_path: Path) -> None:
    a = Applier(tmp_path / "s")
    a.entry(apply_cmd(job("etl")))
    changes = a.entry(commands_pb2.Command(delete_job=commands_pb2.DeleteJob(name="etl")))
    assert changes == (Change(JOB, "etl", None),)
    assert a.entry(commands_pb2.Command(delete_job=commands_pb2.DeleteJob(name="etl"))) == ()
    assert a.store.feed.head == a.index


def test_the_feed_starts_at_the_applied_index_of_a_reopened_store(tmp_path: Path) -> None:
    a = Applier(tmp_path / "s")
    a.entry(apply_cmd(job("etl")))
    a.entry(apply_cmd(job("etl2")))
    a.store.close()
    again = Store(tmp_path / "s")
    assert again.feed.head == 2 and again.feed.base == 2
    assert again.feed.since(2) == ([], 2)

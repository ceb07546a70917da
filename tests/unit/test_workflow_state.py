"""Workflow runs in the state machine: the first tasks start with the run, each task's end starts
what its rules allow in the same entry, skips propagate, a task whose job vanished fails without
running, the run ends once every task has an outcome; replicas applying the same entries agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

TR = workflows_pb2.TriggerRule
TS = workflows_pb2.TaskState
WF = workflows_pb2.WorkflowRunState
RS = runs_pb2.RunState


class World:
    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = 0
        self.do(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)))
        self.do(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
            agent=runs_pb2.Agent(agent_id="a1", capacity=100))))

    def do(self, cmd: commands_pb2.Command) -> commands_pb2.CommandResult:
        self.index += 1
        out = self.store.apply(commands_pb2.CommandBatch(time_ms=1_000_000 + self.index, commands=[cmd])
                               .SerializeToString(), self.index)
        assert out is not None
        return out[0]

    def finish(self, run_id: str, exit_code: int = 0) -> None:
        self.do(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(
            epoch=1, decisions=[commands_pb2.DispatchDecision(run_id=run_id, attempt=1, agent_id="a1")])))
        self.do(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
            agent_pb2.RunEvent(kind=agent_pb2.RunEvent.FINISHED, run_id=run_id, attempt=1, epoch=1,
                               exit_code=exit_code)])))

    def tasks(self, wrun_id: str) -> dict[str, workflows_pb2.TaskRun]:
        wrun = self.store.get_workflow_run(wrun_id)
        assert wrun is not None
        return {t.name: t for t in wrun.tasks}


def nightly() -> workflows_pb2.WorkflowSpec:
    spec = workflows_pb2.WorkflowSpec(name="nightly", domain="finance", params={"region": "eu", "mode": "full"})
    sh = jobs_pb2.JobCommand

    spec.tasks.add(name="extract", command=sh(shell="echo extract"))
    spec.tasks.add(name="transform", command=sh(shell="echo transform"), depends_on=["extract"])
    spec.tasks.add(name="load", job="load-warehouse", depends_on=["transform"])
    spec.tasks.add(name="alert", command=sh(shell="echo alert"), depends_on=["transform"],
                   trigger_rule=TR.ANY_FAILED)
    spec.tasks.add(name="report", command=sh(shell="echo report"), depends_on=["load", "alert"],
                   trigger_rule=TR.NONE_FAILED)
    return spec


@pytest.fixture
def w(tmp_path: Path) -> World:
    world = World(tmp_path / "s")
    assert world.do(apply_cmd(job("load-warehouse", "finance"))).code == 0
    result = world.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[nightly()])))
    assert result.code == 0, result.message
    return world


def trigger(w: World, **params: str) -> str:
    result = w.do(commands_pb2.Command(trigger_workflow=commands_pb2.TriggerWorkflow(
        name="nightly", params=params, business_date="2026-11-27")))
    assert result.code == 0, result.message
    return result.run_ids[0]


def test_a_run_goes_task_by_task_and_succeeds(w: World) -> None:
    wrun = trigger(w, region="us")
    tasks = w.tasks(wrun)
    assert tasks["extract"].state == TS.TASK_STARTED and tasks["transform"].state == TS.TASK_WAITING
    run = w.store.get_run(tasks["extract"].run_id)
    assert run is not None and (run.job_name, run.workflow_run_id, run.task) == ("nightly.extract", wrun, "extract")
    assert dict(run.params) == {"region": "us", "mode": "full"} and run.business_date == "2026-11-27"
    w.finish(tasks["extract"].run_id)
    w.finish(w.tasks(wrun)["transform"].run_id)
    tasks = w.tasks(wrun)
    # transform succeeded: load (a job) starts, alert (any failed) is skipped at once.
    assert tasks["load"].state == TS.TASK_STARTED and tasks["alert"].state == TS.TASK_SKIPPED
    assert w.store.get_run(tasks["load"].run_id).job_name == "load-warehouse"  # type: ignore[union-attr]
    w.finish(tasks["load"].run_id)
    w.finish(w.tasks(wrun)["report"].run_id)
    done = w.store.get_workflow_run(wrun)
    assert done is not None and done.state == WF.WF_SUCCEEDED and done.ended_ms
    assert (done.tasks_succeeded, done.tasks_failed, done.tasks_skipped) == (4, 0, 1)


def test_a_failure_runs_the_handler_skips_the_rest_and_fails_the_run(w: World) -> None:
    wrun = trigger(w)
    w.finish(w.tasks(wrun)["extract"].run_id)
    w.finish(w.tasks(wrun)["transform"].run_id, exit_code=3)
    tasks = w.tasks(wrun)
    assert tasks["load"].state == TS.TASK_SKIPPED and tasks["alert"].state == TS.TASK_STARTED
    w.finish(tasks["alert"].run_id)
    tasks = w.tasks(wrun)
    # report's upstreams: load skipped, alert succeeded: none failed, so it runs (the handler path).
    assert tasks["report"].state == TS.TASK_STARTED
    w.finish(tasks["report"].run_id)
    done = w.store.get_workflow_run(wrun)
    assert done is not None and done.state == WF.WF_FAILED


def test_a_task_whose_job_is_gone_fails_without_running_and_versions_are_kept(w: World) -> None:
    wrun = trigger(w)
    w.do(commands_pb2.Command(delete_job=commands_pb2.DeleteJob(name="load-warehouse")))
    # A new version of the workflow does not change the running one.
    changed = nightly()
    changed.tasks[0].command.shell = "echo v2"
    w.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[changed])))
    w.finish(w.tasks(wrun)["extract"].run_id)
    run = w.store.get_run(w.tasks(wrun)["transform"].run_id)
    assert run is not None and run.spec.command.shell == "echo transform" and run.job_version == 1
    w.finish(run.run_id)
    tasks = w.tasks(wrun)
    assert tasks["load"].state == TS.TASK_FAILED and "no longer exists" in tasks["load"].reason
    assert tasks["alert"].state == TS.TASK_SKIPPED and tasks["report"].state == TS.TASK_SKIPPED
    assert w.store.get_workflow_run(wrun).state == WF.WF_FAILED  # type: ignore[union-attr]


def test_bad_definitions_and_triggers_are_refused_with_the_field(w: World) -> None:
    cyclic = nightly()
    cyclic.tasks[0].depends_on.append("report")
    result = w.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[cyclic])))
    assert result.code != 0 and "cycle" in result.message
    missing = nightly()
    missing.tasks[2].job = "no-such-job"
    result = w.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[missing])))
    assert "tasks[2].job: no job 'no-such-job'" in result.message
    result = w.do(commands_pb2.Command(trigger_workflow=commands_pb2.TriggerWorkflow(name="nightly",
                                                                                      params={"nope": "1"})))
    assert result.code != 0 and "params.nope: not a parameter" in result.message


def test_replicas_applying_the_same_entries_agree(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        world = World(tmp_path / name)
        world.do(apply_cmd(job("load-warehouse", "finance")))
        world.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[nightly()])))
        wrun = trigger(world)
        world.finish(world.tasks(wrun)["extract"].run_id)
        world.finish(world.tasks(wrun)["transform"].run_id, exit_code=1)
        digests.append(world.store.digest()[1])
    assert digests[0] == digests[1]


def act(w: World, wrun: str, action: str) -> commands_pb2.CommandResult:
    return w.do(commands_pb2.Command(workflow_run_action=commands_pb2.WorkflowRunAction(run_id=wrun, action=action)))


def test_pause_holds_new_tasks_and_resume_starts_them(w: World) -> None:
    wrun = trigger(w)
    assert act(w, wrun, "pause").code == 0
    w.finish(w.tasks(wrun)["extract"].run_id)  # a running task finishes while paused
    tasks = w.tasks(wrun)
    assert tasks["transform"].state == TS.TASK_WAITING and tasks["transform"].ready and not tasks["transform"].run_id
    assert w.store.get_workflow_run(wrun).paused  # type: ignore[union-attr]
    assert act(w, wrun, "resume").code == 0
    tasks = w.tasks(wrun)
    assert tasks["transform"].state == TS.TASK_STARTED and not tasks["transform"].ready


def test_kill_kills_running_tasks_skips_the_rest_and_starts_nothing(w: World) -> None:
    wrun = trigger(w)
    extract = w.tasks(wrun)["extract"].run_id
    w.do(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(
        epoch=1, decisions=[commands_pb2.DispatchDecision(run_id=extract, attempt=1, agent_id="a1")])))
    assert act(w, wrun, "kill").code == 0
    run = w.store.get_workflow_run(wrun)
    assert run is not None and run.state == WF.WF_KILLED and not run.ended_ms  # extract is still being killed
    assert w.store.get_run(extract).kill_requested  # type: ignore[union-attr]
    assert {t.state for n, t in w.tasks(wrun).items() if n != "extract"} == {TS.TASK_SKIPPED}
    w.do(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
        agent_pb2.RunEvent(kind=agent_pb2.RunEvent.FINISHED, run_id=extract, attempt=1, epoch=1, killed=True)])))
    run = w.store.get_workflow_run(wrun)
    assert run is not None and run.state == WF.WF_KILLED and run.ended_ms  # over, and no handler started
    assert act(w, wrun, "kill").code != 0  # not running any more


def mark(w: World, wrun: str, task: str, outcome: str) -> commands_pb2.CommandResult:
    return w.do(commands_pb2.Command(mark_workflow_task=commands_pb2.MarkWorkflowTask(run_id=wrun, task=task,
                                                                                        outcome=outcome)))


def test_marking_a_failed_task_succeeded_decides_what_follows_again(w: World) -> None:
    wrun = trigger(w)
    w.finish(w.tasks(wrun)["extract"].run_id)
    w.finish(w.tasks(wrun)["transform"].run_id, exit_code=2)
    w.finish(w.tasks(wrun)["alert"].run_id)
    w.finish(w.tasks(wrun)["report"].run_id)
    assert w.store.get_workflow_run(wrun).state == WF.WF_FAILED  # type: ignore[union-attr]
    assert mark(w, wrun, "transform", "succeeded").code == 0
    tasks = w.tasks(wrun)
    assert tasks["transform"].state == TS.TASK_SUCCEEDED and "marked succeeded" in tasks["transform"].reason
    # transform "succeeded": load starts now, the handler is ruled out, report waits for load again.
    assert tasks["load"].state == TS.TASK_STARTED and tasks["alert"].state == TS.TASK_SKIPPED
    assert tasks["report"].state == TS.TASK_WAITING
    w.finish(tasks["load"].run_id)
    w.finish(w.tasks(wrun)["report"].run_id)
    assert w.store.get_workflow_run(wrun).state == WF.WF_SUCCEEDED  # type: ignore[union-attr]


def test_marking_a_waiting_task_skipped_moves_the_run_on(w: World) -> None:
    wrun = trigger(w)
    assert mark(w, wrun, "extract", "skipped").code != 0  # running: refused
    assert mark(w, wrun, "transform", "skipped").code == 0
    tasks = w.tasks(wrun)
    assert tasks["transform"].state == TS.TASK_SKIPPED and tasks["load"].state == TS.TASK_SKIPPED
    assert mark(w, wrun, "nope", "skipped").code != 0 and mark(w, wrun, "load", "failed").code != 0

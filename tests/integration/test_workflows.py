"""Workflows end to end over real replicas and an agent: a multi-level workflow passes its
parameters to every task, survives a kill -9 of the leader in the middle, runs each task once in
dependency order (judged by the tasks' own records), skips what its rules rule out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wloadctl.proto.v1 import jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration
TR = workflows_pb2.TriggerRule
TS = workflows_pb2.TaskState
WF = workflows_pb2.WorkflowRunState
RS = runs_pb2.RunState


def _task(records: Path, name: str, extra: str = "") -> jobs_pb2.JobCommand:
    # Each execution leaves its own file: task, run, the parameter it got, and when it began and ended.
    return jobs_pb2.JobCommand(shell=f'b=$(date +%s%N); {extra} echo "{name} $WLOADCTL_RUN_ID $WLOADCTL_PARAM_REGION '
                                     f'$b $(date +%s%N)" > "{records}/{name}.$WLOADCTL_RUN_ID.$$"')


def test_a_workflow_runs_in_order_with_its_params_across_a_leader_kill(cluster_factory: Any, tmp_path: Path) -> None:
    records, gate = tmp_path / "records", tmp_path / "gate"
    records.mkdir()
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1", capacity=8)
    spec = workflows_pb2.WorkflowSpec(name="nightly", params={"region": "eu"})
    # extract waits for the test's gate file, so the leader dies while the workflow is mid-way.
    spec.tasks.add(name="extract", command=_task(records, "extract", f'while [ ! -e "{gate}" ]; do sleep 0.05; done;'))
    spec.tasks.add(name="transform", command=_task(records, "transform"), depends_on=["extract"])
    spec.tasks.add(name="load", command=_task(records, "load"), depends_on=["transform"])
    spec.tasks.add(name="audit", command=_task(records, "audit"), depends_on=["transform"])
    spec.tasks.add(name="alert", command=_task(records, "alert"), depends_on=["load", "audit"],
                   trigger_rule=TR.ANY_FAILED)
    spec.tasks.add(name="report", command=_task(records, "report"), depends_on=["load", "audit", "alert"],
                   trigger_rule=TR.NONE_FAILED)
    with cluster.client() as c:
        c.apply_workflows([spec])
        wrun = c.run_workflow("nightly", params={"region": "us"}, business_date="2026-11-27")
        assert wrun.id.startswith("w") and wrun.state == WF.WF_RUNNING
        wait_for(lambda: c.get_workflow_run(wrun.id).tasks[0].state == TS.TASK_STARTED, 30, "extract to start")
        old = cluster.wait_for_leader()
        cluster.kill(old)
        cluster.wait_for_leader(exclude=old)
        gate.write_text("go")
        done = wait_for(lambda: (r := c.get_workflow_run(wrun.id)).state != WF.WF_RUNNING and r, 90,
                        "the workflow run to end")
        cluster.start(old)
        task_runs = {t.name: c.get_run(t.run_id) for t in done.tasks if t.run_id}

    assert done.state == WF.WF_SUCCEEDED, done
    states = {t.name: t.state for t in done.tasks}
    assert states == {"extract": TS.TASK_SUCCEEDED, "transform": TS.TASK_SUCCEEDED, "load": TS.TASK_SUCCEEDED,
                      "audit": TS.TASK_SUCCEEDED, "alert": TS.TASK_SKIPPED, "report": TS.TASK_SUCCEEDED}
    assert all(r.business_date == "2026-11-27" and r.workflow_run_id == wrun.id for r in task_runs.values())
    # The tasks' own records: each ran once, with the run's parameter, after its upstreams ended.
    lines = [p.read_text().split() for p in records.iterdir()]
    executed = {name: (run_id, region, int(begin), int(end)) for name, run_id, region, begin, end in lines}
    assert len(lines) == len(executed) == 5
    assert {name: rec[0] for name, rec in executed.items()} == {n: r.run_id for n, r in task_runs.items()}
    assert {rec[1] for rec in executed.values()} == {"us"}
    for name, ups in (("transform", ["extract"]), ("load", ["transform"]), ("audit", ["transform"]),
                      ("report", ["load", "audit"])):
        assert all(executed[name][2] >= executed[up][3] for up in ups), f"{name} began before an upstream ended"


def test_outputs_flow_to_downstream_tasks(cluster_factory: Any, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1")
    spec = workflows_pb2.WorkflowSpec(name="handoff")
    spec.tasks.add(name="extract", command=jobs_pb2.JobCommand(
        shell='echo "working"; echo "::set-output rows=42"; echo "::set-output file=/out/x y.csv"'))
    spec.tasks.add(name="load", depends_on=["extract"], command=jobs_pb2.JobCommand(
        shell=f'echo "$WLOADCTL_UPSTREAM_EXTRACT_ROWS|$WLOADCTL_UPSTREAM_EXTRACT_FILE" > "{seen}"'))
    with cluster.client() as c:
        c.apply_workflows([spec])
        wrun = c.run_workflow("handoff")
        done = wait_for(lambda: (r := c.get_workflow_run(wrun.id)).state != WF.WF_RUNNING and r, 60, "the run to end")
        extract = c.get_run(done.tasks[0].run_id)
    assert done.state == WF.WF_SUCCEEDED
    assert dict(extract.outputs) == {"rows": "42", "file": "/out/x y.csv"}
    assert seen.read_text() == "42|/out/x y.csv\n"


def test_rerun_from_the_failed_task(cluster_factory: Any, tmp_path: Path) -> None:
    records, fixed = tmp_path / "records", tmp_path / "fixed"
    records.mkdir()
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1")
    spec = workflows_pb2.WorkflowSpec(name="fragile")
    spec.tasks.add(name="extract", command=_task(records, "extract"))
    # load fails until the operator "fixes" its input
    spec.tasks.add(name="load", depends_on=["extract"], command=_task(records, "load", f'[ -e "{fixed}" ] || exit 4;'))
    spec.tasks.add(name="report", depends_on=["load"], command=_task(records, "report"))
    spec.tasks.add(name="on-failure", depends_on=["load"], trigger_rule=TR.ANY_FAILED,
                   command=_task(records, "on-failure"))

    def ended(c: Any, wrun_id: str) -> workflows_pb2.WorkflowRun:
        return wait_for(lambda: (r := c.get_workflow_run(wrun_id)).state != WF.WF_RUNNING and r, 60, "the end")

    with cluster.client() as c:
        c.apply_workflows([spec])
        wrun = c.run_workflow("fragile")
        first = ended(c, wrun.id)
        assert first.state == WF.WF_FAILED
        assert {t.name: t.state for t in first.tasks} == {"extract": TS.TASK_SUCCEEDED, "load": TS.TASK_FAILED,
                                                           "report": TS.TASK_SKIPPED, "on-failure": TS.TASK_SUCCEEDED}
        assert list(c.rerun_workflow(wrun.id, "load", dry_run=True).tasks) == ["load", "report", "on-failure"]
        impact = c.impact(wrun.id, "extract")
        assert [(t.name, t.state) for t in impact.affected] == [
            ("load", TS.TASK_FAILED), ("report", TS.TASK_SKIPPED), ("on-failure", TS.TASK_SUCCEEDED)]
        assert impact.domain == "default" and list(c.impact(wrun.id, "report").affected) == []
        assert c.get_workflow_run(wrun.id).state == WF.WF_FAILED  # a dry run changes nothing
        fixed.write_text("")
        c.rerun_workflow(wrun.id, "load")
        second = ended(c, wrun.id)
    assert second.state == WF.WF_SUCCEEDED, second
    assert {t.name: t.state for t in second.tasks} == {"extract": TS.TASK_SUCCEEDED, "load": TS.TASK_SUCCEEDED,
                                                        "report": TS.TASK_SUCCEEDED, "on-failure": TS.TASK_SKIPPED}
    executed = sorted(p.name.split(".")[0] for p in records.iterdir())
    # extract once (kept), load: its failed attempt wrote nothing, the rerun once; report once.
    assert executed == ["extract", "load", "on-failure", "report"]


def test_pause_resume_and_kill_a_workflow_run(cluster_factory: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1")
    spec = workflows_pb2.WorkflowSpec(name="long")
    spec.tasks.add(name="wait", command=jobs_pb2.JobCommand(shell=f'while [ ! -e "{gate}" ]; do sleep 0.05; done'))
    spec.tasks.add(name="next", depends_on=["wait"], command=jobs_pb2.JobCommand(shell="sleep 600"))
    spec.tasks.add(name="after", depends_on=["next"], command=jobs_pb2.JobCommand(shell="true"))
    with cluster.client() as c:
        c.apply_workflows([spec])
        wrun = c.run_workflow("long")
        wait_for(lambda: c.get_run(c.get_workflow_run(wrun.id).tasks[0].run_id).state == RS.RUNNING, 30,
                 "the first task to run")
        assert c.workflow_run_action("pause", wrun.id).paused
        gate.write_text("")
        held = wait_for(lambda: (r := c.get_workflow_run(wrun.id)).tasks[1].ready and r, 30,
                        "the next task to be ready but held")
        assert held.tasks[0].state == TS.TASK_SUCCEEDED and not held.tasks[1].run_id
        c.workflow_run_action("resume", wrun.id)
        nxt = wait_for(lambda: (t := c.get_workflow_run(wrun.id).tasks[1]).run_id and
                       c.get_run(t.run_id).state == RS.RUNNING and t, 30, "the next task to run after resume")
        killed = c.workflow_run_action("kill", wrun.id)
        assert killed.state == WF.WF_KILLED
        done = wait_for(lambda: (r := c.get_workflow_run(wrun.id)).ended_ms and r, 30, "the kill to end the run")
        assert c.get_run(nxt.run_id).state == RS.KILLED
    assert {t.name: t.state for t in done.tasks} == {"wait": TS.TASK_SUCCEEDED, "next": TS.TASK_FAILED,
                                                     "after": TS.TASK_SKIPPED}


def test_a_branch_a_retry_and_a_wait_for_yesterdays_settlement_across_a_leader_kill(
        cluster_factory: Any, tmp_path: Path) -> None:
    """A nightly chain: count publishes rows, a switch picks the big branch, the big load fails once
    and is retried by the leader's timer after its backoff, publish waits for the settlement of the
    business day before (held across a kill -9 of the leader) and gets a templated argument, and a
    sub-workflow archives with a templated parameter. Judged by the tasks' own records."""
    records, failed_once = tmp_path / "records", tmp_path / "failed-once"
    records.mkdir()
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1", capacity=8)
    sh = jobs_pb2.JobCommand

    def record(name: str, what: str = "") -> str:
        return f'echo "{name} $WLOADCTL_TASK_ATTEMPT {what}" > "{records}/{name}.$WLOADCTL_RUN_ID"'

    settle = workflows_pb2.WorkflowSpec(name="settlement")
    settle.tasks.add(name="close-books", command=sh(shell=record("close-books")))
    archive = workflows_pb2.WorkflowSpec(name="archive", params={"target": ""})
    archive.tasks.add(name="copy", command=sh(shell=record("copy", "{{ params.target }} $WLOADCTL_BUSINESS_DATE")))
    nightly = workflows_pb2.WorkflowSpec(name="nightly", params={"region": "eu"})
    nightly.tasks.add(name="count", command=sh(shell=f'{record("count")}; echo "::set-output rows=5000"'))
    nightly.tasks.add(name="route", depends_on=["count"], cases=[
        workflows_pb2.SwitchCase(when="tasks.count.outputs.rows > 1000", run=["big"]),
        workflows_pb2.SwitchCase(run=["small"])])
    nightly.tasks.add(name="big", depends_on=["route"], retry=workflows_pb2.RetryPolicy(attempts=2, delay_seconds=1),
                      command=sh(shell=f'{record("big")}; [ -e "{failed_once}" ] || {{ touch "{failed_once}"; '
                                       'exit 75; }'))
    nightly.tasks.add(name="small", depends_on=["route"], command=sh(shell=record("small")))
    nightly.tasks.add(name="publish", depends_on=["big", "small"], trigger_rule=TR.NONE_FAILED,
                      wait_for=[workflows_pb2.ExternalDependency(workflow="settlement", task="close-books",
                                                                 business_days=-1)],
                      command=sh(shell=record("publish", "{{ params.region }}:{{ tasks.count.outputs.rows }}:"
                                                         "$WLOADCTL_CONTEXT_ROWS")))
    nightly.tasks.add(name="archive", depends_on=["publish"], workflow="archive",
                      workflow_params={"target": "s3://{{ params.region }}"})
    with cluster.client() as c:
        c.apply_workflows([settle, archive, nightly])
        wrun = c.run_workflow("nightly", business_date="2026-11-30")  # a Monday
        held = wait_for(lambda: (t := {x.name: x for x in c.get_workflow_run(wrun.id).tasks}["publish"]).state
                        == TS.TASK_HELD and t, 60, "publish to wait for the settlement")
        assert "settlement (business date 2026-11-27)" in held.waiting_for
        old = cluster.wait_for_leader()
        cluster.kill(old)
        cluster.wait_for_leader(exclude=old)
        assert {x.name: x for x in c.get_workflow_run(wrun.id).tasks}["publish"].state == TS.TASK_HELD
        friday = c.run_workflow("settlement", business_date="2026-11-27")
        done = wait_for(lambda: (r := c.get_workflow_run(wrun.id)).state != WF.WF_RUNNING and r, 90,
                        "the nightly run to end")
        cluster.start(old)
        assert c.get_workflow_run(friday.id).state == WF.WF_SUCCEEDED
        tasks = {t.name: t for t in done.tasks}
        child = c.get_workflow_run(tasks["archive"].child_run_id)
    assert done.state == WF.WF_SUCCEEDED, done
    assert {n: t.state for n, t in tasks.items()} == {
        "count": TS.TASK_SUCCEEDED, "route": TS.TASK_SUCCEEDED, "big": TS.TASK_SUCCEEDED, "small": TS.TASK_SKIPPED,
        "publish": TS.TASK_SUCCEEDED, "archive": TS.TASK_SUCCEEDED}
    assert tasks["big"].attempt == 2 and len(tasks["big"].previous_run_ids) == 1
    assert child.state == WF.WF_SUCCEEDED and child.parent_run_id == wrun.id
    executed = sorted(p.read_text().split() and " ".join(p.read_text().split()) for p in records.iterdir())
    assert executed == ["big 1", "big 2", "close-books 1", "copy 1 s3://eu 2026-11-30", "count 1",
                        "publish 1 eu:5000:5000"]


def test_a_scheduled_workflow_runs_per_slot_and_an_event_starts_one(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1")
    spec = workflows_pb2.WorkflowSpec(name="every-second", params={"path": ""})
    spec.tasks.add(name="a", command=jobs_pb2.JobCommand(shell="true"))
    spec.trigger.schedules.add(every_seconds=1)
    spec.trigger.events.add(name="file.landed")
    with cluster.client() as c:
        c.apply_workflows([spec])
        runs = wait_for(lambda: (rs := [r for r in c.list_workflow_runs("every-second").runs
                                        if r.slot_time and r.state == WF.WF_SUCCEEDED]) and len(rs) >= 2 and rs,
                        30, "two scheduled runs to succeed")
        slots = sorted(r.slot_time for r in runs)
        assert len(set(slots)) == len(slots)  # one run per slot
        assert all(r.cause.startswith("schedule slot") for r in runs)
        emitted = c.emit_event("file.landed", params={"path": "/in/x.csv"})
        started = [r for r in emitted.run_ids if r.startswith("w")]
        assert len(started) == 1
        by_event = c.get_workflow_run(started[0])
        assert by_event.params["path"] == "/in/x.csv" and by_event.cause.startswith("event file.landed")
        assert c.next_fire_times("every-second", count=3).times  # `job next` previews a workflow's slots
        suspended = c.suspend_job("every-second", True)  # as a job's: no slot fires and no event starts a run
        assert suspended.job.changed and c.get_workflow("every-second").spec.trigger.suspended
        assert [r for r in c.emit_event("file.landed").run_ids if r.startswith("w")] == []

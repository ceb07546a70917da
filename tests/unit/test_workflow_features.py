"""Workflow features in the state machine, with the entries' times chosen by the test (a manual
clock): retries and their backoff, conditions and switches, templates and the shared context,
waits on another workflow's business date (met, and timed out), on-failure handlers,
sub-workflows, schedules and events, and retention of ended runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.scheduler.plan import plan_schedules
from wloadctl.state.store import Store

TR = workflows_pb2.TriggerRule
TS = workflows_pb2.TaskState
WF = workflows_pb2.WorkflowRunState
RS = runs_pb2.RunState
sh = jobs_pb2.JobCommand
T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z (a Friday)


class Clocked:
    """The state machine with a clock the test moves."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = 0
        self.now = T0
        self.attempts: dict[str, int] = {}
        self.do(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)))
        self.do(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
            agent=runs_pb2.Agent(agent_id="a1", capacity=1000))))

    def do(self, cmd: commands_pb2.Command) -> commands_pb2.CommandResult:
        self.index += 1
        self.now += 1
        out = self.store.apply(commands_pb2.CommandBatch(time_ms=self.now, commands=[cmd]).SerializeToString(),
                               self.index)
        assert out is not None
        return out[0]

    def apply(self, *specs: workflows_pb2.WorkflowSpec) -> None:
        result = self.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=specs)))
        assert result.code == 0, result.message

    def trigger(self, name: str, date: str = "2027-01-15", **params: str) -> str:
        result = self.do(commands_pb2.Command(trigger_workflow=commands_pb2.TriggerWorkflow(
            name=name, params=params, business_date=date)))
        assert result.code == 0, result.message
        return result.run_ids[0]

    def finish(self, run_id: str, exit_code: int = 0, outputs: dict[str, str] | None = None) -> None:
        self.do(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(
            epoch=1, decisions=[commands_pb2.DispatchDecision(run_id=run_id, attempt=1, agent_id="a1")])))
        self.do(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id="a1", events=[
            agent_pb2.RunEvent(kind=agent_pb2.RunEvent.FINISHED, run_id=run_id, attempt=1, epoch=1,
                               exit_code=exit_code, outputs=outputs or {})])))

    def timers(self) -> commands_pb2.CommandResult:
        return self.do(commands_pb2.Command(fire_workflow_timers=commands_pb2.FireWorkflowTimers()))

    def run(self, wrun_id: str) -> workflows_pb2.WorkflowRun:
        wrun = self.store.get_workflow_run(wrun_id)
        assert wrun is not None
        return wrun

    def tasks(self, wrun_id: str) -> dict[str, workflows_pb2.TaskRun]:
        return {t.name: t for t in self.run(wrun_id).tasks}

    def job_run(self, run_id: str) -> runs_pb2.Run:
        run = self.store.get_run(run_id)
        assert run is not None
        return run


@pytest.fixture
def c(tmp_path: Path) -> Clocked:
    return Clocked(tmp_path / "s")


def _wf(name: str, **params: str) -> workflows_pb2.WorkflowSpec:
    return workflows_pb2.WorkflowSpec(name=name, params=params)


# ---- retries


def test_a_failed_task_is_retried_after_its_backoff_then_succeeds(c: Clocked) -> None:
    spec = _wf("r")
    spec.tasks.add(name="flaky", command=sh(shell="x"), retry=workflows_pb2.RetryPolicy(
        attempts=2, delay_seconds=10, exponential=True))
    spec.tasks.add(name="after", command=sh(shell="y"), depends_on=["flaky"])
    c.apply(spec)
    w = c.trigger("r")
    first = c.tasks(w)["flaky"].run_id
    c.finish(first, exit_code=1)
    t = c.tasks(w)["flaky"]
    assert t.state == TS.TASK_RETRYING and t.retry_at_ms == c.now + 10_000 - 0 and t.attempt == 1
    assert "attempt 2 at" in t.reason
    c.timers()  # not due yet
    assert c.tasks(w)["flaky"].state == TS.TASK_RETRYING
    c.now += 10_000
    c.timers()
    t = c.tasks(w)["flaky"]
    assert t.state == TS.TASK_STARTED and t.attempt == 2 and t.run_id != first
    assert list(t.previous_run_ids) == [first]
    assert c.job_run(t.run_id).spec.env["WLOADCTL_TASK_ATTEMPT"] == "2"
    c.finish(t.run_id, exit_code=1)
    t = c.tasks(w)["flaky"]
    assert t.state == TS.TASK_RETRYING and t.retry_at_ms == c.now + 20_000  # doubled
    c.now += 20_000
    c.timers()
    c.finish(c.tasks(w)["flaky"].run_id, exit_code=0)
    tasks = c.tasks(w)
    assert tasks["flaky"].state == TS.TASK_SUCCEEDED and tasks["flaky"].attempt == 3
    assert tasks["flaky"].reason == "succeeded on attempt 3"
    assert tasks["after"].state == TS.TASK_STARTED  # downstream started once, after the last attempt


def test_retries_are_bounded_and_only_for_listed_exit_codes(c: Clocked) -> None:
    spec = _wf("codes")
    spec.tasks.add(name="a", command=sh(shell="x"), retry=workflows_pb2.RetryPolicy(attempts=1, exit_codes=[75]))
    c.apply(spec)
    w = c.trigger("codes")
    c.finish(c.tasks(w)["a"].run_id, exit_code=3)  # not retried: 3 is not listed
    assert c.tasks(w)["a"].state == TS.TASK_FAILED and c.run(w).state == WF.WF_FAILED
    w2 = c.trigger("codes")
    c.finish(c.tasks(w2)["a"].run_id, exit_code=75)  # retried at once (no delay)
    t = c.tasks(w2)["a"]
    assert t.state == TS.TASK_STARTED and t.attempt == 2
    c.finish(t.run_id, exit_code=75)  # no attempts left
    assert c.tasks(w2)["a"].state == TS.TASK_FAILED and c.run(w2).state == WF.WF_FAILED
    assert c.tasks(w2)["a"].reason == f"attempt 2 (the last) failed: run {t.run_id} ended FAILED, exit code 75"


def test_killing_a_run_ends_a_task_waiting_for_its_retry(c: Clocked) -> None:
    spec = _wf("k")
    spec.tasks.add(name="a", command=sh(shell="x"), retry=workflows_pb2.RetryPolicy(attempts=3, delay_seconds=60))
    c.apply(spec)
    w = c.trigger("k")
    c.finish(c.tasks(w)["a"].run_id, exit_code=1)
    assert c.do(commands_pb2.Command(workflow_run_action=commands_pb2.WorkflowRunAction(
        run_id=w, action="kill"))).code == 0
    assert c.tasks(w)["a"].state == TS.TASK_FAILED and c.run(w).state == WF.WF_KILLED
    c.now += 60_000
    c.timers()
    assert c.tasks(w)["a"].state == TS.TASK_FAILED  # the retry's timer found nothing to do


# ---- conditions, switches, templates, context


def _branchy() -> workflows_pb2.WorkflowSpec:
    spec = _wf("branchy", mode="full")
    spec.tasks.add(name="count", command=sh(shell="x"))
    spec.tasks.add(name="route", depends_on=["count"], cases=[
        workflows_pb2.SwitchCase(when='params.mode == "full"', run=["full-load"]),
        workflows_pb2.SwitchCase(when="tasks.count.outputs.rows > 1000", run=["big-delta"]),
        workflows_pb2.SwitchCase(run=["small-delta"])])
    for name in ("full-load", "big-delta", "small-delta"):
        spec.tasks.add(name=name, command=sh(shell=f"load {name} {{{{ params.mode }}}}"), depends_on=["route"])
    spec.tasks.add(name="join", command=sh(shell="j"), depends_on=["full-load", "big-delta", "small-delta"],
                   trigger_rule=TR.NONE_FAILED)
    spec.tasks.add(name="audit", command=sh(shell="a"), depends_on=["count"],
                   when="int(tasks.count.outputs.rows) >= 1 and business_date == '2027-01-15'")
    return spec


@pytest.mark.parametrize(("mode", "rows", "chosen"), [("full", "5", "full-load"), ("delta", "5000", "big-delta"),
                                                      ("delta", "7", "small-delta")])
def test_a_switch_runs_one_branch_and_skips_the_others(c: Clocked, mode: str, rows: str, chosen: str) -> None:
    c.apply(_branchy())
    w = c.trigger("branchy", mode=mode)
    c.finish(c.tasks(w)["count"].run_id, outputs={"rows": rows})
    tasks = c.tasks(w)
    assert tasks["route"].state == TS.TASK_SUCCEEDED and list(tasks["route"].chosen) == [chosen]
    assert tasks["route"].run_id == ""  # a switch runs nothing
    for name in ("full-load", "big-delta", "small-delta"):
        assert tasks[name].state == (TS.TASK_STARTED if name == chosen else TS.TASK_SKIPPED), name
    assert c.job_run(tasks[chosen].run_id).spec.command.shell == f"load {chosen} {mode}"  # templated
    assert tasks["audit"].state == TS.TASK_STARTED  # its condition held
    assert c.job_run(tasks[chosen].run_id).spec.env["WLOADCTL_CONTEXT_ROWS"] == rows  # the shared context
    c.finish(tasks[chosen].run_id)
    c.finish(tasks["audit"].run_id)
    tasks = c.tasks(w)
    assert tasks["join"].state == TS.TASK_STARTED  # skipped branches count as fine for none-failed
    c.finish(tasks["join"].run_id)
    assert c.run(w).state == WF.WF_SUCCEEDED


def test_a_false_condition_skips_the_task_and_what_needs_it(c: Clocked) -> None:
    spec = _wf("cond")
    spec.tasks.add(name="a", command=sh(shell="x"))
    spec.tasks.add(name="b", command=sh(shell="y"), depends_on=["a"], when="tasks.a.outputs.go == 'yes'")
    spec.tasks.add(name="c", command=sh(shell="z"), depends_on=["b"])
    c.apply(spec)
    w = c.trigger("cond")
    c.finish(c.tasks(w)["a"].run_id, outputs={"go": "no"})
    tasks = c.tasks(w)
    assert tasks["b"].state == TS.TASK_SKIPPED and "condition is false" in tasks["b"].reason
    assert tasks["c"].state == TS.TASK_SKIPPED and c.run(w).state == WF.WF_SUCCEEDED


def test_a_template_that_renders_nothing_fails_the_task_with_the_reason(c: Clocked) -> None:
    spec = _wf("tpl")
    spec.tasks.add(name="a", command=sh(shell="x"))
    spec.tasks.add(name="b", command=sh(argv=jobs_pb2.ArgvCommand(args=["load", "{{ tasks.a.outputs.file }}"])),
                   depends_on=["a"])
    c.apply(spec)
    w = c.trigger("tpl")
    c.finish(c.tasks(w)["a"].run_id, outputs={"other": "1"})
    b = c.tasks(w)["b"]
    assert b.state == TS.TASK_FAILED and b.run_id == "" and "tasks.a.outputs.file" in b.reason
    assert c.run(w).state == WF.WF_FAILED


def test_definitions_with_bad_expressions_are_refused_with_the_field(c: Clocked) -> None:
    spec = _wf("bad", region="eu")
    spec.tasks.add(name="a", command=sh(shell="echo {{ params.regoin }}"))
    spec.tasks.add(name="b", command=sh(shell="x"), depends_on=["a"], when="tasks.a.state ==")
    spec.tasks.add(name="s", depends_on=["a"], cases=[workflows_pb2.SwitchCase(run=["a"])])
    result = c.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[spec])))
    assert result.code != 0
    assert "tasks[0].command.shell: no parameter 'regoin'" in result.message
    assert "tasks[1].when" in result.message
    assert "tasks[2].cases[0].run: 'a' does not depend on 's'" in result.message


# ---- waits on other workflows by business date


def _upstream_and_report(timeout: int = 0, on_timeout: str = "") -> tuple[workflows_pb2.WorkflowSpec, ...]:
    up = _wf("settle")
    up.tasks.add(name="close-books", command=sh(shell="x"))
    report = _wf("report")
    report.tasks.add(name="prepare", command=sh(shell="p"))
    report.tasks.add(name="publish", command=sh(shell="y"), depends_on=["prepare"], wait_for=[
        workflows_pb2.ExternalDependency(workflow="settle", task="close-books", business_days=-1,
                                         timeout_seconds=timeout, on_timeout=on_timeout)])
    report.tasks.add(name="notify", command=sh(shell="n"), depends_on=["publish"])
    return up, report


def test_a_task_waits_for_the_previous_business_day_of_another_workflow(c: Clocked) -> None:
    c.apply(*_upstream_and_report())
    w = c.trigger("report", date="2027-01-18")  # a Monday: the business day before is Friday the 15th
    c.finish(c.tasks(w)["prepare"].run_id)
    publish = c.tasks(w)["publish"]
    assert publish.state == TS.TASK_HELD and publish.run_id == ""
    assert publish.waiting_for == ("waits for task close-books of workflow settle (business date 2027-01-15) to "
                                   "succeed")
    other_day = c.trigger("settle", date="2027-01-14")
    c.finish(c.tasks(other_day)["close-books"].run_id)
    assert c.tasks(w)["publish"].state == TS.TASK_HELD  # another date does not count
    friday = c.trigger("settle", date="2027-01-15")
    c.finish(c.tasks(friday)["close-books"].run_id)
    publish = c.tasks(w)["publish"]  # started in the entry that ended close-books
    assert publish.state == TS.TASK_STARTED and publish.waiting_for == ""
    c.finish(publish.run_id)
    c.finish(c.tasks(w)["notify"].run_id)
    assert c.run(w).state == WF.WF_SUCCEEDED


def test_a_wait_met_already_does_not_hold_the_task(c: Clocked) -> None:
    c.apply(*_upstream_and_report())
    friday = c.trigger("settle", date="2027-01-15")
    c.finish(c.tasks(friday)["close-books"].run_id)
    w = c.trigger("report", date="2027-01-18")
    c.finish(c.tasks(w)["prepare"].run_id)
    assert c.tasks(w)["publish"].state == TS.TASK_STARTED


@pytest.mark.parametrize(("policy", "state"), [("fail", TS.TASK_FAILED), ("skip", TS.TASK_SKIPPED),
                                                ("run", TS.TASK_STARTED)])
def test_a_wait_that_times_out_follows_its_policy(c: Clocked, policy: str, state: int) -> None:
    c.apply(*_upstream_and_report(timeout=600, on_timeout=policy))
    w = c.trigger("report", date="2027-01-18")
    c.finish(c.tasks(w)["prepare"].run_id)
    held = c.tasks(w)["publish"]
    assert held.state == TS.TASK_HELD and held.held_until_ms == c.now + 600_000
    c.now += 599_000
    c.timers()
    assert c.tasks(w)["publish"].state == TS.TASK_HELD
    c.now += 1_000
    c.timers()
    publish = c.tasks(w)["publish"]
    assert publish.state == state, publish
    if policy == "run":
        c.finish(publish.run_id)  # its note stays once it succeeded
        assert c.tasks(w)["publish"].reason == ("ran without task close-books of workflow settle (business date "
                                                "2027-01-15): the wait timed out")
    else:
        assert publish.reason == "timed out waiting for task close-books of workflow settle (business date 2027-01-15)"
        assert c.tasks(w)["notify"].state == TS.TASK_SKIPPED
        assert c.run(w).state == (WF.WF_FAILED if policy == "fail" else WF.WF_SUCCEEDED)


def test_a_job_run_of_the_business_date_meets_a_wait(c: Clocked) -> None:
    assert c.do(commands_pb2.Command(apply_jobs=commands_pb2.ApplyJobs(jobs=[jobs_pb2.JobSpec(
        name="fx-rates", command=sh(shell="x"))]))).code == 0
    spec = _wf("uses-rates")
    spec.tasks.add(name="price", command=sh(shell="p"), wait_for=[workflows_pb2.ExternalDependency(job="fx-rates")])
    c.apply(spec)
    w = c.trigger("uses-rates", date="2027-01-15")
    assert c.tasks(w)["price"].state == TS.TASK_HELD
    result = c.do(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="fx-rates")))
    assert result.code == 0
    run = c.job_run(result.run_ids[0])
    assert run.business_date == "2027-01-15"
    c.finish(run.run_id)
    assert c.tasks(w)["price"].state == TS.TASK_STARTED
    # Pruned by the jobs' retention: the date is no longer proven.
    assert c.do(commands_pb2.Command(prune_runs=commands_pb2.PruneRuns(run_ids=[run.run_id]))).run_ids == [run.run_id]
    again = c.trigger("uses-rates", date="2027-01-15")
    assert c.tasks(again)["price"].state == TS.TASK_HELD


# ---- on-failure handlers, sub-workflows


def test_on_failure_handlers_run_once_every_task_ended_and_the_run_stays_failed(c: Clocked) -> None:
    spec = _wf("h")
    spec.tasks.add(name="a", command=sh(shell="x"))
    spec.tasks.add(name="b", command=sh(shell="y"))
    spec.on_failure.add(name="page", command=sh(shell="page {{ context.failed_tasks }}"))
    c.apply(spec)
    w = c.trigger("h")
    c.finish(c.tasks(w)["a"].run_id, exit_code=2)
    assert c.tasks(w)["page"].state == TS.TASK_WAITING  # b still runs
    c.finish(c.tasks(w)["b"].run_id)
    page = c.tasks(w)["page"]
    assert page.state == TS.TASK_STARTED and page.handler
    assert c.job_run(page.run_id).spec.command.shell == "page a"
    assert c.run(w).state == WF.WF_RUNNING
    c.finish(page.run_id)
    wrun = c.run(w)
    assert wrun.state == WF.WF_FAILED and wrun.handlers_done == 1 and wrun.ended_ms
    ok_run = c.trigger("h")
    c.finish(c.tasks(ok_run)["a"].run_id)
    c.finish(c.tasks(ok_run)["b"].run_id)
    assert c.run(ok_run).state == WF.WF_SUCCEEDED and c.tasks(ok_run)["page"].state == TS.TASK_WAITING


def test_a_sub_workflow_is_a_task_whose_outcome_is_its_run(c: Clocked) -> None:
    child = _wf("child", region="")
    child.tasks.add(name="x", command=sh(shell="x {{ params.region }}"))
    parent = _wf("parent", region="eu")
    parent.tasks.add(name="sub", workflow="child", workflow_params={"region": "{{ params.region }}-1"})
    parent.tasks.add(name="after", command=sh(shell="y"), depends_on=["sub"])
    c.apply(child, parent)
    w = c.trigger("parent", date="2027-01-15")
    sub = c.tasks(w)["sub"]
    assert sub.state == TS.TASK_STARTED and sub.child_run_id
    kid = c.run(sub.child_run_id)
    assert kid.parent_run_id == w and kid.depth == 1 and kid.params["region"] == "eu-1"
    assert kid.business_date == "2027-01-15"
    x = c.tasks(kid.id)["x"]
    assert c.job_run(x.run_id).spec.command.shell == "x eu-1"
    c.finish(x.run_id)
    assert c.run(kid.id).state == WF.WF_SUCCEEDED
    assert c.tasks(w)["sub"].state == TS.TASK_SUCCEEDED and c.tasks(w)["after"].state == TS.TASK_STARTED
    # killing a parent kills its running sub-workflow
    w2 = c.trigger("parent")
    kid2 = c.tasks(w2)["sub"].child_run_id
    assert c.do(commands_pb2.Command(workflow_run_action=commands_pb2.WorkflowRunAction(
        run_id=w2, action="kill"))).code == 0
    assert c.run(kid2).state == WF.WF_KILLED and c.run(w2).state == WF.WF_KILLED


# ---- schedules, events, retention


def test_a_scheduled_workflow_fires_with_the_slots_business_date(c: Clocked) -> None:
    spec = _wf("nightly")
    spec.tasks.add(name="a", command=sh(shell="x"))
    spec.trigger.schedules.add(cron="0 22 * * *")
    spec.trigger.time_zone = "Europe/Zurich"
    c.apply(spec)
    state = c.store.schedule_state("nightly")
    assert state is not None and state.next_slot_ms == T0 + 13 * 3_600_000  # 22:00 in Zurich = 21:00Z
    c.now = state.next_due_ms
    with c.store.view() as view:
        fired = plan_schedules(view, c.now, 10)
    assert fired, "nothing fired"
    result = c.do(commands_pb2.Command(fire_schedules=fired[0]))
    assert result.code == 0 and result.run_ids and result.run_ids[0].startswith("w"), result
    wrun = c.run(result.run_ids[0])
    assert wrun.business_date == "2027-01-15" and wrun.slot_time == "2027-01-15T21:00:00Z"
    assert wrun.cause.startswith("schedule slot")


def test_an_event_starts_a_workflow_with_its_declared_params(c: Clocked) -> None:
    spec = _wf("on-file", path="")
    spec.tasks.add(name="a", command=sh(shell="x {{ params.path }}"))
    spec.trigger.events.add(name="file.landed")
    c.apply(spec)
    result = c.do(commands_pb2.Command(emit_event=commands_pb2.EmitEvent(
        name="file.landed", params={"path": "/in/a.csv", "extra": "1"})))
    assert result.code == 0 and len(result.run_ids) == 1
    wrun = c.run(result.run_ids[0])
    assert dict(wrun.params) == {"path": "/in/a.csv"} and wrun.cause.startswith("event file.landed")


def test_only_the_newest_ended_runs_are_kept(c: Clocked) -> None:
    spec = _wf("kept")
    spec.tasks.add(name="a", command=sh(shell="x"))
    spec.keep_runs = 2
    c.apply(spec)
    ids = []
    running = c.trigger("kept")
    for _ in range(4):
        w = c.trigger("kept")
        c.finish(c.tasks(w)["a"].run_id)
        ids.append(w)
    left = [r.id for r in c.store.list_workflow_runs("kept")]
    assert running in left  # a running one is never removed
    assert [i for i in ids if i in left] == ids[-2:]
    assert c.store.get_workflow_run(ids[0]) is None


def test_replicas_applying_the_same_feature_entries_agree(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        c = Clocked(tmp_path / name)
        c.apply(*_upstream_and_report(timeout=60, on_timeout="skip"), _branchy())
        w = c.trigger("report", date="2027-01-18")
        c.finish(c.tasks(w)["prepare"].run_id)
        b = c.trigger("branchy", mode="delta")
        c.finish(c.tasks(b)["count"].run_id, outputs={"rows": "9"})
        c.now += 61_000
        c.timers()
        digests.append(c.store.digest()[1])
    assert digests[0] == digests[1]


def test_what_proves_a_wait_goes_with_the_last_run_that_proved_it(c: Clocked) -> None:
    up, report = _upstream_and_report()
    up.keep_runs = 1
    c.apply(up, report)
    first = c.trigger("settle", date="2027-01-15")
    c.finish(c.tasks(first)["close-books"].run_id)
    second = c.trigger("settle", date="2027-01-15")  # the same date again
    c.finish(c.tasks(second)["close-books"].run_id)
    assert c.store.get_workflow_run(first) is None  # keepRuns 1: removed, the second still proves it
    w = c.trigger("report", date="2027-01-18")
    c.finish(c.tasks(w)["prepare"].run_id)
    assert c.tasks(w)["publish"].state == TS.TASK_STARTED
    # A rerun of close-books: until it succeeds again, the date's settlement is not proven.
    assert c.do(commands_pb2.Command(rerun_workflow=commands_pb2.RerunWorkflow(
        run_id=second, task="close-books", mode="only"))).code == 0
    w2 = c.trigger("report", date="2027-01-18")
    c.finish(c.tasks(w2)["prepare"].run_id)
    assert c.tasks(w2)["publish"].state == TS.TASK_HELD
    c.finish(c.tasks(second)["close-books"].run_id)
    assert c.tasks(w2)["publish"].state == TS.TASK_STARTED
    # A later date's run removes the second by retention: the 15th is no longer proven.
    third = c.trigger("settle", date="2027-01-16")
    c.finish(c.tasks(third)["close-books"].run_id)
    assert c.store.get_workflow_run(second) is None
    w3 = c.trigger("report", date="2027-01-18")
    c.finish(c.tasks(w3)["prepare"].run_id)
    assert c.tasks(w3)["publish"].state == TS.TASK_HELD


def test_the_leader_fires_timers_by_its_clock_or_their_delay_when_the_state_time_stands_still(c: Clocked) -> None:
    """A state time left ahead of every clock (a leader's clock had jumped forward) stands still:
    a timer set from it is due by no clock for as long. The leader fires it once its own delay has
    passed on the leader's monotonic clock; apply fires what the leader lists, once."""
    from wloadctl.scheduler.plan import plan_workflow_timers

    spec = _wf("frozen")
    spec.tasks.add(name="a", command=sh(shell="x"), retry=workflows_pb2.RetryPolicy(attempts=1, delay_seconds=30))
    c.apply(spec)
    w = c.trigger("frozen")
    c.finish(c.tasks(w)["a"].run_id, exit_code=1)
    with c.store.view() as view:
        timers = view.workflow_timers(10)
    assert [(t.task, t.delay_ms) for t in timers] == [("a", 30_000)]
    seen: dict[tuple[int, int, str], float] = {}
    wall_behind = c.now - 3_600_000  # every clock an hour behind the state time
    assert plan_workflow_timers(timers, wall_behind, now=100.0, first_seen=seen) == []
    assert plan_workflow_timers(timers, wall_behind, now=129.9, first_seen=seen) == []
    due = plan_workflow_timers(timers, wall_behind, now=130.0, first_seen=seen)
    assert due == timers
    fired = c.do(commands_pb2.Command(fire_workflow_timers=commands_pb2.FireWorkflowTimers(timers=due)))
    assert fired.message == "1" and c.tasks(w)["a"].attempt == 2  # fired although the entry's time is before due
    again = c.do(commands_pb2.Command(fire_workflow_timers=commands_pb2.FireWorkflowTimers(timers=due)))
    assert again.message == "0" and c.tasks(w)["a"].attempt == 2  # once
    assert plan_workflow_timers([], wall_behind, now=131.0, first_seen=seen) == [] and seen == {}
    # By the clock: due at once.
    assert plan_workflow_timers(timers, timers[0].due_ms, now=0.0, first_seen={}) == timers

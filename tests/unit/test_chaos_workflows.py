"""The chaos suite's workflows: the workload's specs, their records, and the workflow_order checker
on histories that keep and that break it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from chaos.checkers import RunData, WorkflowOrder, check_all
from chaos.history import (
    EXECUTIONS_FILE,
    FINAL_RUNS_FILE,
    HISTORY_FILE,
    WORKFLOW_RUNS_FILE,
    ExecutionRecord,
    FinalRun,
    HistoryError,
    HistoryWriter,
    TaskRecord,
    Transition,
    WorkflowRunRecord,
    load_executions,
    load_final_runs,
    load_workflow_runs,
    pair_operations,
)
from chaos.workload import (
    BIG_FAIL_CODE,
    BIG_RETRIES,
    FLOW,
    RETRY_DELAY_S,
    ROWS_SPLIT,
    SETTLE,
    WAIT_TIMEOUT_S,
    WORKFLOW_TASK_JOBS,
    WORKFLOW_TASKS,
    workflows,
)
from wloadctl.model import expressions
from wloadctl.model.workflows import validate_workflow
from wloadctl.proto.v1 import workflows_pb2

T0 = 1_900_000_000_000  # state time, ms
NS = 1_000_000


# --- builders ------------------------------------------------------------------------------------


def frun(run_id: str, wrun: str, task: str, created: int, ended: int, state: str = "SUCCEEDED") -> FinalRun:
    return FinalRun(run_id=run_id, job=f"{'chaos-settle' if task == 'close' else 'chaos-flow'}.{task}", state=state,
                    attempt=1, created_ms=created, workflow_run_id=wrun, task=task,
                    transitions=(Transition("QUEUED", created), Transition("DISPATCHED", created + 10, 1, "a1", 1),
                                 Transition("RUNNING", created + 20, 1, "a1", 1), Transition(state, ended, 1, "a1", 1)))


def records(run: FinalRun, task_attempt: int = 1, code: int = 0, **seen: str) -> list[ExecutionRecord]:
    """The start and end its process wrote (on the agent's clock: here the state's, plus a little)."""
    common = {"run": run.run_id, "attempt": 1, "epoch": 1, "agent": "a1", "task": run.task,
              "wrun": run.workflow_run_id, "task_attempt": task_attempt, **seen}
    return [ExecutionRecord(event="start", time_ns=(run.created_ms + 30) * NS, **common),  # type: ignore[arg-type]
            ExecutionRecord(event="end", time_ns=(run.created_ms + 200) * NS, code=code,  # type: ignore[arg-type]
                            **common)]


def task(name: str, state: str = "TASK_SUCCEEDED", runs: tuple[str, ...] = (), reason: str = "",
         chosen: tuple[str, ...] = ()) -> TaskRecord:
    return TaskRecord(name=name, state=state, run_id=runs[-1] if runs else "", previous_run_ids=runs[:-1],
                      attempt=len(runs), reason=reason, chosen=chosen)


@dataclasses.dataclass
class Built:
    wruns: list[WorkflowRunRecord]
    runs: list[FinalRun]
    executions: list[ExecutionRecord]

    def data(self, **changes: object) -> RunData:
        return RunData(workflow_runs=self.wruns, final_runs=self.runs, executions=self.executions,
                       workflows=frozenset({FLOW, SETTLE}), **changes)  # type: ignore[arg-type]


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"r{self.n}"


def flow(b: Built, ids: Ids, wrun: str, day: str, batch: str, rows: int, start: int, *, big_fails: int = 0,
         close_ms: int | None = None) -> None:
    """A chaos-flow run that keeps every rule: count at ``start``; big (after ``big_fails`` failed
    attempts) or small by ``rows``; publish when its rule holds, or when close succeeds (``close_ms``
    later than that), or 20 s later without it (``close_ms`` None: no settle for the day)."""
    count = frun(ids(), wrun, "count", start, start + 500)
    runs, execs = [count], records(count, rows=str(rows))
    branch = "big" if rows > ROWS_SPLIT else "small"
    at, branch_runs = start + 500, []
    for attempt in range(1, big_fails + 2 if branch == "big" else 2):
        failed = attempt <= big_fails
        run = frun(ids(), wrun, branch, at, at + 400, "FAILED" if failed else "SUCCEEDED")
        branch_runs.append(run)
        execs += records(run, attempt, code=BIG_FAIL_CODE if failed else 0)
        at = at + 400 + (RETRY_DELAY_S * 1000 if failed else 0)
    ready = _ends(branch_runs[-1])
    reason = ""
    if close_ms is None:
        created, reason = ready + WAIT_TIMEOUT_S * 1000, f"ran without task close of workflow chaos-settle (business " \
                                                         f"date {day}) to succeed (timed out)"
    else:
        created = max(ready, close_ms)
    publish = frun(ids(), wrun, "publish", created, created + 300)
    join = frun(ids(), wrun, "join", created + 300, created + 500)
    runs += [*branch_runs, publish, join]
    execs += records(publish, rows=str(rows), batch=batch) + records(join)
    other = "small" if branch == "big" else "big"
    b.wruns.append(WorkflowRunRecord(
        wrun_id=wrun, workflow=FLOW, state="WF_SUCCEEDED", business_date=day, params={"batch": batch},
        created_ms=start, ended_ms=created + 500, tasks=(
            task("count", runs=(count.run_id,)), task("route", reason=f"chose {branch}", chosen=(branch,)),
            task(branch, runs=tuple(r.run_id for r in branch_runs)),
            task(other, "TASK_SKIPPED", reason="its trigger rule ruled it out"),
            task("publish", runs=(publish.run_id,), reason=reason), task("join", runs=(join.run_id,)))))
    b.runs += runs
    b.executions += execs


def settle(b: Built, ids: Ids, wrun: str, day: str, start: int, ended: int) -> None:
    close = frun(ids(), wrun, "close", start, ended)
    b.wruns.append(WorkflowRunRecord(wrun_id=wrun, workflow=SETTLE, state="WF_SUCCEEDED", business_date=day,
                                     created_ms=start, ended_ms=ended, tasks=(task("close", runs=(close.run_id,)),)))
    b.runs.append(close)
    b.executions += records(close)


def _ends(run: FinalRun) -> int:
    return next(t.time_ms for t in run.transitions if t.state in ("SUCCEEDED", "FAILED"))


def good() -> Built:
    """Three business dates: big after one retry with close done before; small held until close
    ended; big with no settle at all (publish times out and runs anyway)."""
    b, ids = Built([], [], []), Ids()
    settle(b, ids, "w2", "2030-01-02", T0, T0 + 200)
    flow(b, ids, "w1", "2030-01-02", "1", 70, T0, big_fails=1, close_ms=T0 + 200)
    flow(b, ids, "w3", "2030-01-03", "2", 20, T0 + 5000, close_ms=T0 + 9000)
    settle(b, ids, "w4", "2030-01-03", T0 + 8000, T0 + 9000)
    flow(b, ids, "w5", "2030-01-04", "3", 99, T0 + 10_000)
    return b


def check(data: RunData) -> list[str]:
    finding = WorkflowOrder().check(data)
    assert not finding.ok, "expected a violation"
    return finding.details


def replace_task(b: Built, wrun: str, name: str, **changes: object) -> None:
    i = next(i for i, w in enumerate(b.wruns) if w.wrun_id == wrun)
    w = b.wruns[i]
    b.wruns[i] = dataclasses.replace(w, tasks=tuple(dataclasses.replace(t, **changes) if t.name == name else t
                                                    for t in w.tasks))


def replace_run(b: Built, run_id: str, **changes: object) -> FinalRun:
    i = next(i for i, r in enumerate(b.runs) if r.run_id == run_id)
    b.runs[i] = dataclasses.replace(b.runs[i], **changes)
    return b.runs[i]


def task_of(b: Built, wrun: str, name: str) -> TaskRecord:
    found = next(w for w in b.wruns if w.wrun_id == wrun).task(name)
    assert found is not None
    return found


# --- the checker ---------------------------------------------------------------------------------


def test_runs_that_keep_every_rule_pass_with_counts() -> None:
    finding = WorkflowOrder().check(good().data())
    assert finding.ok, finding.details
    assert finding.summary.startswith("5 workflow runs (3 chaos-flow, 2 chaos-settle); 15 task runs, 1 retries; "
                                      "branches big 2 / small 1; waits met 2 (1 held until close) / timed out 1")


def test_no_workflow_runs_is_nothing_to_check() -> None:
    finding = WorkflowOrder().check(RunData())
    assert finding.ok and finding.summary == "nothing to check: no workflow runs"


def test_a_task_created_before_its_upstream_ended_fails() -> None:
    b = good()
    publish = task_of(b, "w1", "publish").run_id
    big = task_of(b, "w1", "big").run_id
    replace_run(b, publish, created_ms=_ends(next(r for r in b.runs if r.run_id == big)) - 1)
    assert any(f"before upstream big's run {big} became final" in p for p in check(b.data()))


def test_a_branch_downstream_of_the_switch_stands_on_the_switchs_upstream() -> None:
    b = good()
    small = task_of(b, "w3", "small").run_id
    count = next(r for r in b.runs if r.run_id == task_of(b, "w3", "count").run_id)
    replace_run(b, small, created_ms=_ends(count) - 5)
    assert any(f"before upstream count's run {count.run_id}" in p for p in check(b.data()))


def test_a_branch_that_was_not_chosen_but_ran_fails() -> None:
    b = good()
    extra = frun("r99", "w1", "small", T0 + 500, T0 + 700)
    b.runs.append(extra)
    replace_task(b, "w1", "small", state="TASK_SUCCEEDED", run_id="r99", attempt=1, reason="")
    assert any("small ran (r99) but route chose ['big']" in p for p in check(b.data()))


def test_a_switch_that_chose_against_the_recorded_rows_fails() -> None:
    b = good()
    replace_task(b, "w1", "route", chosen=("small",))
    assert any("route chose ['small'], count recorded rows=70" in p for p in check(b.data()))


def test_a_task_attempt_started_twice_fails() -> None:
    b = good()
    big = task_of(b, "w1", "big")
    twice = next(r for r in b.executions if r.run == big.previous_run_ids[0] and r.event == "start")
    b.executions.append(dataclasses.replace(twice, agent="a2", time_ns=twice.time_ns + 5))
    assert any(f"{twice.run} attempt 1 started 2 times" in p for p in check(b.data()))


def test_a_second_run_for_one_task_attempt_fails() -> None:
    b = good()
    b.runs.append(frun("r77", "w3", "count", T0 + 5000, T0 + 5400))  # created for the task, not listed by it
    b.executions += records(b.runs[-1], rows="20")
    details = check(b.data())
    assert any("runs r77 say they are its runs" in p for p in details)
    assert any("task count attempt 1 started as r77" in p for p in details)


def test_a_start_record_for_another_task_attempt_fails() -> None:
    b = good()
    big = task_of(b, "w1", "big")
    i = next(i for i, r in enumerate(b.executions) if r.run == big.run_id and r.event == "start")
    b.executions[i] = dataclasses.replace(b.executions[i], task_attempt=1)
    assert any("as task 'big' of 'w1' attempt 1" in p for p in check(b.data()))


def test_too_many_attempts_or_a_miscounted_attempt_fails() -> None:
    b = good()
    replace_task(b, "w1", "big", attempt=3)
    assert any("is at attempt 3 with 2 runs" in p for p in check(b.data()))
    b = good()
    replace_task(b, "w3", "small", previous_run_ids=("r50",), attempt=2)
    b.runs.append(frun("r50", "w3", "small", T0 + 5500, T0 + 5600, "FAILED"))
    assert any("ran 2 times" in p and "its policy allows 1" in p for p in check(b.data()))


def test_a_retry_sooner_than_its_delay_fails() -> None:
    b = good()
    big = task_of(b, "w1", "big")
    first = next(r for r in b.runs if r.run_id == big.previous_run_ids[0])
    replace_run(b, big.run_id, created_ms=_ends(first) + RETRY_DELAY_S * 1000 - 1)
    assert any(f"999 ms after {first.run_id} became final" in p for p in check(b.data()))


def test_a_retry_of_an_exit_code_not_retried_fails() -> None:
    b = good()
    big = task_of(b, "w1", "big")
    i = next(i for i, r in enumerate(b.executions) if r.run == big.previous_run_ids[0] and r.event == "end")
    b.executions[i] = dataclasses.replace(b.executions[i], code=1)
    assert any("retried without ending with exit code 75" in p for p in check(b.data()))


def test_publish_before_settle_without_a_timeout_reason_fails() -> None:
    b = good()
    # the close of w3's day succeeded at T0 + 9000; publish is made to start before it, no timeout said
    publish = task_of(b, "w3", "publish")
    replace_run(b, publish.run_id, created_ms=T0 + 8000)
    details = check(b.data())
    assert any("close of 2030-01-03 succeeded at" in p and "does not say it ran without it" in p for p in details)


def test_publish_that_timed_out_too_soon_or_after_close_had_succeeded_fails() -> None:
    b = good()
    publish = task_of(b, "w5", "publish")
    run = next(r for r in b.runs if r.run_id == publish.run_id)
    replace_run(b, publish.run_id, created_ms=run.created_ms - 1)
    assert any("ran without close 19999 ms after its rule held" in p for p in check(b.data()))
    b = good()
    replace_task(b, "w1", "publish", reason="ran without task close of workflow chaos-settle (timed out)")
    assert any("but close of 2030-01-02 had succeeded" in p for p in check(b.data()))


def test_publish_neither_at_its_rule_nor_at_close_fails() -> None:
    b = good()
    publish = task_of(b, "w1", "publish")
    run = next(r for r in b.runs if r.run_id == publish.run_id)
    replace_run(b, publish.run_id, created_ms=run.created_ms + 5)
    assert any("neither when its rule held" in p for p in check(b.data()))


def test_a_run_left_running_or_a_task_not_final_fails() -> None:
    b = good()
    b.wruns[1] = dataclasses.replace(b.wruns[1], state="WF_RUNNING")
    replace_task(b, "w1", "join", state="TASK_HELD", run_id="", attempt=0, waiting_for="waits for something")
    details = check(b.data())
    assert any("w1 (chaos-flow 2030-01-02) is WF_RUNNING, not final" in p for p in details)
    assert any("task join is TASK_HELD, not final (waits for something)" in p for p in details)


def test_a_rows_or_batch_mismatch_fails() -> None:
    b = good()
    publish = task_of(b, "w3", "publish")
    i = next(i for i, r in enumerate(b.executions) if r.run == publish.run_id and r.event == "start")
    b.executions[i] = dataclasses.replace(b.executions[i], rows="21")
    assert any("saw rows='21' batch='2'; count recorded rows='20'" in p for p in check(b.data()))
    b = good()
    b.wruns[1] = dataclasses.replace(b.wruns[1], params={"batch": "9"})
    assert any("the run's batch is '9'" in p for p in check(b.data()))


def test_publish_after_a_failed_branch_or_skipped_join_fails() -> None:
    b = good()
    replace_task(b, "w3", "small", state="TASK_FAILED")
    replace_run(b, task_of(b, "w3", "small").run_id, state="FAILED")
    details = check(b.data())
    assert any("publish ran" in p and "although small failed" in p for p in details)
    b = good()
    replace_task(b, "w3", "join", state="TASK_SKIPPED", run_id="", attempt=0)
    assert any("join (all-done) was skipped" in p for p in check(b.data()))


def test_calls_must_name_their_runs_and_dates_hold_one_run_per_workflow(tmp_path: Path) -> None:
    b = good()
    with HistoryWriter(tmp_path / HISTORY_FILE) as h:
        for key, wf, day, answer in (("k1", FLOW, "2030-01-02", "w1"), ("k1", FLOW, "2030-01-02", "w1"),
                                     ("k2", SETTLE, "2030-01-03", "w4"), ("k3", FLOW, "2030-01-05", "w9")):
            h.complete(h.invoke(4, "run_workflow", key, {"workflow": wf, "business_date": day}), "ok",
                       {"workflow": wf, "business_date": day, "wrun_id": answer})
    from chaos.history import load_history

    ops = pair_operations(load_history(tmp_path / HISTORY_FILE))
    details = check(b.data(operations=ops))
    assert details == ["run_workflow chaos-flow 2030-01-05 op 6 (process 4, key 'k3') returned 'w9', which is not "
                       "among the collected workflow runs"]
    b.wruns.append(dataclasses.replace(b.wruns[0], wrun_id="w8", tasks=()))  # a second settle for one date
    assert any("chaos-settle has 2 runs for business date 2030-01-02: w2, w8" in p
               for p in check(b.data(operations=ops[:3])))


def test_the_checker_is_registered() -> None:
    assert any(f.checker == "workflow_order" and f.ok for f in check_all(good().data()))


# --- records and loaders -------------------------------------------------------------------------


def test_workflow_runs_final_runs_and_records_round_trip(tmp_path: Path) -> None:
    b = good()
    # As the runner writes them (chaos/runner.py _collect, _collect_workflow_runs).
    with open(tmp_path / WORKFLOW_RUNS_FILE, "w") as f:
        for w in b.wruns:
            f.write(json.dumps({"id": w.wrun_id, "workflow": w.workflow, "state": w.state,
                                "business_date": w.business_date, "params": w.params, "created_ms": w.created_ms,
                                "ended_ms": w.ended_ms, "cause": w.cause,
                                "tasks": [{"name": t.name, "state": t.state, "run_id": t.run_id,
                                           "previous_run_ids": list(t.previous_run_ids), "attempt": t.attempt,
                                           "reason": t.reason, "chosen": list(t.chosen),
                                           "waiting_for": t.waiting_for, "started_ms": t.started_ms,
                                           "ended_ms": t.ended_ms, "exit_code": t.exit_code}
                                          for t in w.tasks]}) + "\n")
    with open(tmp_path / FINAL_RUNS_FILE, "w") as f:
        for r in b.runs:
            f.write(json.dumps({"run_id": r.run_id, "job": r.job, "state": r.state, "attempt": r.attempt,
                                "created_ms": str(r.created_ms), "workflow_run_id": r.workflow_run_id,
                                "task": r.task, "transitions": [dataclasses.asdict(t) for t in r.transitions]}) + "\n")
    with open(tmp_path / EXECUTIONS_FILE, "w") as f:
        for e in b.executions:
            rec = {"run": e.run, "attempt": e.attempt, "epoch": e.epoch, "agent": e.agent, "event": e.event,
                   "time_ns": e.time_ns, "accepted_ns": 0, "slot": "", "task": e.task, "wrun": e.wrun,
                   "task_attempt": e.task_attempt}
            if e.code is not None:
                rec["code"] = e.code
            if e.rows:
                rec["rows"] = e.rows
            if e.batch:
                rec["batch"] = e.batch
            f.write(json.dumps(rec) + "\n")
    assert load_workflow_runs(tmp_path / WORKFLOW_RUNS_FILE) == b.wruns
    assert load_final_runs(tmp_path / FINAL_RUNS_FILE) == b.runs
    assert load_executions(tmp_path / EXECUTIONS_FILE) == b.executions
    data = RunData.load(tmp_path, workflows=[FLOW, SETTLE])
    assert data.workflow_runs == b.wruns and WorkflowOrder().check(data).ok
    assert RunData.load(tmp_path).workflow_runs == []  # only read when the runner names the workflows


def test_records_without_the_task_fields_still_load(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"run":"r1","attempt":1,"epoch":2,"agent":"a1","event":"start","time_ns":5,"accepted_ns":4,'
                    '"slot":""}\n'
                    '{"run":"r2","attempt":1,"epoch":2,"agent":"a1","event":"end","time_ns":6,"code":0,'
                    '"task":"count","wrun":"w3","task_attempt":"2","rows":42}\n')
    old, new = load_executions(path)
    assert (old.task, old.wrun, old.task_attempt, old.rows) == ("", "", 0, "")
    assert (new.task, new.wrun, new.task_attempt, new.rows, new.code) == ("count", "w3", 2, "42", 0)
    runs = tmp_path / "runs.jsonl"
    runs.write_text('{"run_id":"r1","job":"j","state":"SUCCEEDED","attempt":1}\n')
    assert load_final_runs(runs)[0].workflow_run_id == "" and load_final_runs(runs)[0].task == ""


def test_malformed_workflow_runs_are_named(tmp_path: Path) -> None:
    path = tmp_path / WORKFLOW_RUNS_FILE
    path.write_text('{"id":"w1","workflow":"chaos-flow","state":"WF_SUCCEEDED","tasks":[{"name":"a","state":"S"},'
                    '{"name":"a","state":"S"}]}\n')
    with pytest.raises(HistoryError, match=r"workflow_runs.jsonl:1: a task is listed twice"):
        load_workflow_runs(path)
    path.write_text('{"id":"w1","workflow":"f","state":"WF_RUNNING"}\n{"id":"w1","workflow":"f","state":"x"}\n')
    with pytest.raises(HistoryError, match=r":2: workflow run w1 already reported on line 1"):
        load_workflow_runs(path)
    path.write_text('{"id":"w1","workflow":"f","state":"S","tasks":[{"name":"a","state":"S","chosen":[1]}]}\n')
    with pytest.raises(HistoryError, match=r"'tasks\[0\].chosen' must be a list of strings"):
        load_workflow_runs(path)


# --- the workload's workflows --------------------------------------------------------------------


def test_the_workflows_validate_and_match_the_checkers_model(tmp_path: Path) -> None:
    specs = {s.name: s for s in workflows(tmp_path)}
    assert set(specs) == {FLOW, SETTLE}
    for spec in specs.values():
        assert validate_workflow(spec) == [], spec.name
        assert spec.domain == "chaos"
        assert {t.name: tuple(t.depends_on) for t in spec.tasks} == WORKFLOW_TASKS[spec.name]
    assert WorkflowOrder.TASKS == WORKFLOW_TASKS
    flow_tasks = {t.name: t for t in specs[FLOW].tasks}
    route = flow_tasks[WorkflowOrder.SWITCH]
    assert [(c.when, list(c.run)) for c in route.cases] == [(f"tasks.count.outputs.rows > {ROWS_SPLIT}", ["big"]),
                                                           ("", ["small"])]
    assert WorkflowOrder.ROWS_SPLIT == ROWS_SPLIT
    big = flow_tasks["big"]
    assert (big.retry.attempts, big.retry.delay_seconds, list(big.retry.exit_codes)) == \
        (BIG_RETRIES, RETRY_DELAY_S, [BIG_FAIL_CODE])
    assert WorkflowOrder.MAX_ATTEMPTS == {"big": BIG_RETRIES + 1}
    assert (WorkflowOrder.RETRY_CODE, WorkflowOrder.RETRY_DELAY_MS) == (BIG_FAIL_CODE, RETRY_DELAY_S * 1000)
    publish = flow_tasks[WorkflowOrder.WAITER]
    assert publish.trigger_rule == workflows_pb2.NONE_FAILED
    assert flow_tasks["join"].trigger_rule == workflows_pb2.ALL_DONE
    (wait,) = publish.wait_for
    assert (wait.workflow, wait.task, wait.business_days, wait.timeout_seconds, wait.on_timeout) == \
        (SETTLE, WorkflowOrder.WAITED, 0, WAIT_TIMEOUT_S, "run")
    assert WorkflowOrder.WAIT_TIMEOUT_MS == WAIT_TIMEOUT_S * 1000
    expected = {f"{FLOW}.{t}" for t in ("count", "big", "small", "publish", "join")} | {f"{SETTLE}.close"}
    assert expected == WORKFLOW_TASK_JOBS


def _run_task(spec: workflows_pb2.WorkflowSpec, name: str, tmp_path: Path, attempt: int = 1,
              resolve: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The task's script as its run would execute it: templates filled, under /bin/sh, the agent's env."""
    t = next(t for t in spec.tasks if t.name == name)
    shell = t.command.shell
    if "{{" in shell:
        shell = expressions.render(expressions.parse_template(shell), lambda path: (resolve or {})[path[0]])
    env = {**os.environ, **t.env, "WLOADCTL_RUN_ID": f"r-{name}", "WLOADCTL_ATTEMPT": "1", "WLOADCTL_EPOCH": "2",
           "WLOADCTL_AGENT_ID": "a1", "WLOADCTL_ACCEPTED_NS": "5", "WLOADCTL_TASK": name,
           "WLOADCTL_WORKFLOW_RUN": "w7", "WLOADCTL_TASK_ATTEMPT": str(attempt), "WLOADCTL_WORKFLOW": spec.name}
    return subprocess.run(["/bin/sh", "-c", shell], env=env, capture_output=True, text=True, timeout=30)


def test_the_tasks_record_themselves_publish_rows_and_fill_templates(tmp_path: Path) -> None:
    specs = {s.name: s for s in workflows(tmp_path)}
    count = _run_task(specs[FLOW], "count", tmp_path)
    assert count.returncode == 0, count.stderr
    assert count.stdout.startswith("::set-output rows=")
    rows = count.stdout.strip().removeprefix("::set-output rows=")
    assert 1 <= int(rows) <= 100
    publish = _run_task(specs[FLOW], "publish", tmp_path, resolve={"params": "12", "tasks": rows})
    assert publish.returncode == 0, publish.stderr
    codes = {_run_task(specs[FLOW], "big", tmp_path, attempt=a).returncode for a in range(1, 13)}
    assert codes <= {0, BIG_FAIL_CODE} and 0 in codes  # the run fails exactly when its work does
    recs = load_executions(tmp_path / "exec-a1.jsonl")
    by_task = {(r.task, r.event) for r in recs}
    assert {("count", "start"), ("count", "end"), ("publish", "start"), ("big", "end")} <= by_task
    assert all(r.wrun == "w7" and r.task_attempt >= 1 for r in recs)
    assert {r.rows for r in recs if r.task == "count"} == {rows}
    assert {(r.rows, r.batch) for r in recs if r.task == "publish"} == {(rows, "12")}
    ends = [r for r in recs if r.task == "big" and r.event == "end"]
    assert {r.code for r in ends} == codes


def test_durations_are_not_judged_when_clocks_jumped() -> None:
    """A retry created sooner than its delay, or a wait timed out sooner than its timeout, in state
    time: failures, unless clocks jumped (the state time then stands still; orders are still judged)."""
    b = good()
    big = task_of(b, "w1", "big")
    first = next(r for r in b.runs if r.run_id == big.previous_run_ids[0])
    replace_run(b, big.run_id, created_ms=_ends(first))
    publish = task_of(b, "w5", "publish")
    run = next(r for r in b.runs if r.run_id == publish.run_id)
    replace_run(b, publish.run_id, created_ms=run.created_ms - 5000)
    assert len(check(b.data())) == 2
    data = b.data()
    data.clocks_jumped = True
    assert WorkflowOrder().check(data).ok

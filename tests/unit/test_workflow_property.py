"""The state machine's workflow runs on random DAGs (hypothesis): random trigger rules, random task
outcomes in random orders, and a random rerun or mark once the run has ended. Judged from the outside:
no task's run is created before its rule holds on its upstreams' outcomes at that moment, no task
gets two runs in one pass, and every run ends."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_dag import _holds
from tests.unit.test_workflow_features import Clocked
from tests.unit.test_workflow_state import World
from wloadctl.proto.v1 import commands_pb2, jobs_pb2, workflows_pb2
from wloadctl.scheduler.dag import Outcome

TR = workflows_pb2.TriggerRule
TS = workflows_pb2.TaskState
WF = workflows_pb2.WorkflowRunState
RULES = [TR.ALL_SUCCEEDED, TR.ALL_DONE, TR.ANY_FAILED, TR.ANY_SUCCEEDED, TR.NONE_FAILED, TR.ALWAYS]
OUTCOME = {TS.TASK_SUCCEEDED: Outcome.SUCCEEDED, TS.TASK_FAILED: Outcome.FAILED, TS.TASK_SKIPPED: Outcome.SKIPPED}


def _spec(rng: random.Random, size: int) -> workflows_pb2.WorkflowSpec:
    spec = workflows_pb2.WorkflowSpec(name="random")
    for i in range(size):
        ups = sorted(rng.sample(range(i), k=rng.randint(0, min(i, 3)))) if i else []
        spec.tasks.add(name=f"t{i}", depends_on=[f"t{u}" for u in ups], trigger_rule=rng.choice(RULES),
                       command=jobs_pb2.JobCommand(shell="true"))
    return spec


def _drive(w: World, wrun: str, spec: workflows_pb2.WorkflowSpec, rng: random.Random) -> None:
    """Finish started tasks one at a time, checking every task that got a run in this pass (a run
    from before a rerun, of a task the rerun kept, is not new)."""
    upstream = {t.name: list(t.depends_on) for t in spec.tasks}
    rules = {t.name: t.trigger_rule for t in spec.tasks}
    before = {n: t.run_id for n, t in w.tasks(wrun).items() if t.state != TS.TASK_STARTED and t.run_id}
    seen_runs: dict[str, str] = dict(before)
    for _ in range(4 * len(spec.tasks) + 4):
        tasks = w.tasks(wrun)
        outcomes = {n: OUTCOME.get(t.state) for n, t in tasks.items()}
        for name, t in tasks.items():
            if t.run_id and seen_runs.get(name) != t.run_id:
                assert name not in seen_runs or seen_runs[name] == before.get(name), \
                    f"{name} got a second run in one pass"
                seen_runs[name] = t.run_id
                # Judged now: its upstreams' outcomes when its run appeared (they cannot change later).
                ups = [outcomes[u] for u in upstream[name]]
                assert _holds(rules[name], ups) or rules[name] == TR.ALWAYS, f"{name} started early: {ups}"
        started = [t for t in tasks.values() if t.state == TS.TASK_STARTED]
        if not started:
            break
        task = rng.choice(started)
        w.finish(task.run_id, exit_code=rng.choice([0, 0, 1]))
    run = w.store.get_workflow_run(wrun)
    assert run is not None and run.state != WF.WF_RUNNING, "the run did not end"
    assert run.tasks_succeeded + run.tasks_failed + run.tasks_skipped == run.tasks_total


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=14), st.integers(min_value=0, max_value=2**32 - 1))
def test_random_workflows_through_the_state_machine(size: int, seed: int) -> None:
    rng = random.Random(seed)
    spec = _spec(rng, size)
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "s")
        assert w.do(commands_pb2.Command(apply_workflows=commands_pb2.ApplyWorkflows(workflows=[spec]))).code == 0
        wrun = w.do(commands_pb2.Command(trigger_workflow=commands_pb2.TriggerWorkflow(name="random"))).run_ids[0]
        _drive(w, wrun, spec, rng)
        mode = rng.choice(["only", "downstream", "all", "mark-succeeded", "mark-skipped"])
        task = rng.choice(spec.tasks).name
        if mode.startswith("mark-"):
            result = w.do(commands_pb2.Command(mark_workflow_task=commands_pb2.MarkWorkflowTask(
                run_id=wrun, task=task, outcome=mode.removeprefix("mark-"))))
        else:
            result = w.do(commands_pb2.Command(rerun_workflow=commands_pb2.RerunWorkflow(run_id=wrun, task=task,
                                                                                          mode=mode)))
        assert result.code == 0, result.message
        _drive(w, wrun, spec, rng)
        w.store.close()


def _retry_spec(rng: random.Random, size: int) -> workflows_pb2.WorkflowSpec:
    spec = _spec(rng, size)
    for task in spec.tasks:
        if rng.random() < 0.4:
            task.retry.attempts = rng.randint(1, 2)
            task.retry.delay_seconds = rng.choice([0, 5])
            task.retry.exponential = rng.random() < 0.5
    return spec


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=2**32 - 1))
def test_random_workflows_with_retries_and_operator_actions(size: int, seed: int) -> None:
    """Random DAGs with random retry policies, driven by random task ends, timer firings (a manual
    clock), pauses and resumes, marks of waiting tasks and kills: no task's run appears while its
    rule does not hold or while the run is paused, each attempt of a task starts once and within its
    retry budget, and every run ends."""
    rng = random.Random(seed)
    spec = _retry_spec(rng, size)
    upstream = {t.name: list(t.depends_on) for t in spec.tasks}
    rules = {t.name: t.trigger_rule for t in spec.tasks}
    budget = {t.name: t.retry.attempts + 1 for t in spec.tasks}
    with tempfile.TemporaryDirectory() as tmp:
        c = Clocked(Path(tmp) / "s")
        c.apply(spec)
        wrun = c.trigger("random")
        runs_seen: dict[str, list[str]] = {}
        paused = killed = False

        def check() -> None:
            current = c.run(wrun)
            tasks = {t.name: t for t in current.tasks}
            outcomes = {n: OUTCOME.get(t.state) for n, t in tasks.items()}
            for name, t in tasks.items():
                if not t.run_id or t.run_id in runs_seen.get(name, []):
                    continue
                assert not paused, f"{name} started while the run was paused"
                seen = runs_seen.setdefault(name, [])
                seen.append(t.run_id)
                assert t.attempt == len(seen) <= budget[name], f"{name}: attempt {t.attempt}, runs {seen}"
                assert list(t.previous_run_ids) == seen[:-1]
                ups = [outcomes[u] for u in upstream[name]]
                assert _holds(rules[name], ups) or rules[name] == TR.ALWAYS, f"{name} started early: {ups}"

        for _ in range(6 * size + 10):
            check()
            current = c.run(wrun)
            if current.state != WF.WF_RUNNING:
                break
            tasks = list(current.tasks)
            started = [t for t in tasks if t.state == TS.TASK_STARTED]
            action = rng.random()
            if action < 0.08:
                paused = not paused
                assert c.do(commands_pb2.Command(workflow_run_action=commands_pb2.WorkflowRunAction(
                    run_id=wrun, action="pause" if paused else "resume"))).code == 0
            elif action < 0.14:
                waiting = [t for t in tasks if t.state in (TS.TASK_WAITING, TS.TASK_RETRYING)]
                if waiting:
                    task = rng.choice(waiting)
                    result = c.do(commands_pb2.Command(mark_workflow_task=commands_pb2.MarkWorkflowTask(
                        run_id=wrun, task=task.name, outcome=rng.choice(["succeeded", "skipped"]))))
                    assert result.code == 0, result.message
            elif action < 0.16:
                assert c.do(commands_pb2.Command(workflow_run_action=commands_pb2.WorkflowRunAction(
                    run_id=wrun, action="kill"))).code == 0
                killed, paused = True, False
            elif started:
                c.finish(rng.choice(started).run_id, exit_code=rng.choice([0, 0, 1]))
            else:
                c.now += rng.choice([1_000, 6_000, 30_000])
                c.timers()
        if paused:
            paused = False
            c.do(commands_pb2.Command(workflow_run_action=commands_pb2.WorkflowRunAction(run_id=wrun,
                                                                                         action="resume")))
        for _ in range(8 * size + 10):  # finish it: end what runs, let timers fire
            check()
            current = c.run(wrun)
            if current.state != WF.WF_RUNNING and not any(t.state == TS.TASK_STARTED for t in current.tasks):
                break
            started = [t for t in current.tasks if t.state == TS.TASK_STARTED]
            if started:
                c.finish(started[0].run_id, exit_code=rng.choice([0, 1]))
            else:
                c.now += 60_000
                c.timers()
        final = c.run(wrun)
        assert final.state != WF.WF_RUNNING, "the run did not end"
        assert (final.state == WF.WF_KILLED) == killed
        assert final.tasks_succeeded + final.tasks_failed + final.tasks_skipped == final.tasks_total
        c.store.close()

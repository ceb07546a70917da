"""Workflow DAGs (scheduler/dag.py): structure checks naming the problem, every trigger rule, skip
propagation, and a property test over random DAGs, outcomes and finishing orders: no task starts
before its rule holds, none is decided twice, and every run ends."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from wloadctl.proto.v1 import workflows_pb2
from wloadctl.scheduler.dag import Counts, Dag, Decision, Outcome, RunProgress, decide, find_cycle, problems

TR = workflows_pb2.TriggerRule
S, F, K = Outcome.SUCCEEDED, Outcome.FAILED, Outcome.SKIPPED


def wf(*tasks: tuple[str, list[str]] | tuple[str, list[str], int]) -> workflows_pb2.WorkflowSpec:
    spec = workflows_pb2.WorkflowSpec(name="w")
    for t in tasks:
        spec.tasks.add(name=t[0], depends_on=t[1], trigger_rule=t[2] if len(t) > 2 else TR.ALL_SUCCEEDED)  # type: ignore[misc]
    return spec


def test_structure_problems_name_the_field_and_the_cycle() -> None:
    assert problems(wf(("a", []), ("b", ["a"])).tasks) == []
    assert problems(wf(("a", []), ("a", [])).tasks) == [("tasks[1].name", "'a' is also tasks[0]")]
    assert problems(wf(("a", ["nope"])).tasks) == [("tasks[0].dependsOn[0]", "no task 'nope' in this workflow")]
    assert problems(wf(("a", ["a"])).tasks) == [("tasks[0].dependsOn[0]", "task 'a' cannot depend on itself")]
    assert problems(wf(("a", []), ("b", ["a", "a"])).tasks) == [("tasks[1].dependsOn[1]", "'a' listed twice")]
    cyclic = wf(("extract", ["load"]), ("transform", ["extract"]), ("load", ["transform"]), ("report", ["load"]))
    assert problems(cyclic.tasks) == [("tasks", "the dependencies form a cycle: extract -> transform -> load -> "
                                                "extract")]


def test_a_long_chain_has_no_cycle_and_no_recursion_limit() -> None:
    chain = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(50_000)}
    assert find_cycle(chain) == []
    chain["t0"] = ["t49999"]
    cycle = find_cycle(chain)
    assert cycle[0] == cycle[-1] and len(cycle) == 50_001


def test_each_rule_decides_as_early_as_it_can() -> None:
    def d(rule: int, up: int, s: int = 0, f: int = 0, k: int = 0) -> Decision:
        return decide(rule, Counts(up, s, f, k))

    assert [d(TR.ALL_SUCCEEDED, 2, s=1), d(TR.ALL_SUCCEEDED, 2, s=2), d(TR.ALL_SUCCEEDED, 2, f=1),
            d(TR.ALL_SUCCEEDED, 2, k=1)] == [Decision.WAIT, Decision.RUN, Decision.SKIP, Decision.SKIP]
    assert [d(TR.ALL_DONE, 2, f=1), d(TR.ALL_DONE, 2, f=1, k=1)] == [Decision.WAIT, Decision.RUN]
    assert [d(TR.ANY_FAILED, 3, s=1), d(TR.ANY_FAILED, 3, f=1), d(TR.ANY_FAILED, 2, s=1, k=1)] == \
        [Decision.WAIT, Decision.RUN, Decision.SKIP]
    assert [d(TR.ANY_SUCCEEDED, 3, f=1), d(TR.ANY_SUCCEEDED, 3, s=1), d(TR.ANY_SUCCEEDED, 2, f=1, k=1)] == \
        [Decision.WAIT, Decision.RUN, Decision.SKIP]
    assert [d(TR.NONE_FAILED, 2, k=1), d(TR.NONE_FAILED, 2, s=1, k=1), d(TR.NONE_FAILED, 2, f=1)] == \
        [Decision.WAIT, Decision.RUN, Decision.SKIP]
    assert d(TR.ALWAYS, 3) == Decision.RUN and d(TR.ALL_SUCCEEDED, 0) == Decision.RUN


def test_a_failure_skips_its_chain_and_a_handler_runs() -> None:
    spec = wf(("extract", []), ("transform", ["extract"]), ("load", ["transform"]),
              ("alert", ["extract"], TR.ANY_FAILED), ("cleanup", ["load", "alert"], TR.ALL_DONE))
    dag = Dag.of(spec)
    progress, first = RunProgress.start(dag)
    assert first == [("extract", Decision.RUN)]
    decided = progress.finished(dag, "extract", F)
    assert sorted(decided, key=lambda x: x[0]) == [("alert", Decision.RUN), ("load", Decision.SKIP),
                                                   ("transform", Decision.SKIP)]
    assert progress.finished(dag, "extract", S) == []  # reported twice: decided once
    assert progress.finished(dag, "alert", S) == [("cleanup", Decision.RUN)]
    assert not progress.complete(dag)
    progress.finished(dag, "cleanup", S)
    assert progress.complete(dag) and progress.outcomes["load"] is K


# ---- property: random DAGs, outcomes and orders


def _holds(rule: int, outcomes: list[Outcome | None]) -> bool:
    """The rule, judged from scratch on the upstreams' outcomes now (None: not ended)."""
    ended = [o for o in outcomes if o is not None]
    if rule == TR.ALWAYS or not outcomes:
        return True
    if rule == TR.ALL_SUCCEEDED:
        return len(ended) == len(outcomes) and all(o is S for o in ended)
    if rule == TR.ALL_DONE:
        return len(ended) == len(outcomes)
    if rule == TR.ANY_FAILED:
        return F in ended
    if rule == TR.ANY_SUCCEEDED:
        return S in ended
    return len(ended) == len(outcomes) and F not in ended  # NONE_FAILED


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=25), st.integers(min_value=0, max_value=2**32 - 1))
def test_random_dags_never_start_early_never_twice_and_always_end(size: int, seed: int) -> None:
    rng = random.Random(seed)
    rules = [TR.ALL_SUCCEEDED, TR.ALL_DONE, TR.ANY_FAILED, TR.ANY_SUCCEEDED, TR.NONE_FAILED, TR.ALWAYS]
    tasks = []
    for i in range(size):
        ups = sorted(rng.sample(range(i), k=rng.randint(0, min(i, 4)))) if i else []
        tasks.append((f"t{i}", [f"t{u}" for u in ups], rng.choice(rules)))
    spec = wf(*tasks)
    assert problems(spec.tasks) == []
    dag = Dag.of(spec)
    progress, first = RunProgress.start(dag)
    started: list[str] = []
    running: list[str] = []
    outcome_of: dict[str, Outcome] = {}

    def apply(decisions: list[tuple[str, Decision]]) -> None:
        for name, decision in decisions:
            assert name not in started, f"{name} decided twice"
            if decision is Decision.RUN:
                ups = [outcome_of.get(u) for u in dag.upstream[name]]
                assert _holds(dag.rules[name], ups), f"{name} started before its rule held: {ups}"
                started.append(name)
                running.append(name)
            else:
                outcome_of[name] = K
                started.append(name)

    apply(first)
    steps = 0
    while running:
        steps += 1
        assert steps <= 2 * size
        name = running.pop(rng.randrange(len(running)))
        result = rng.choice([S, S, F])
        outcome_of[name] = result
        apply(progress.finished(dag, name, result))
    assert progress.complete(dag), "a task was never decided: the run would not end"
    assert set(outcome_of) == set(dag.order)

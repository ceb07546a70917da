"""Workflow DAGs: structure checks and incremental readiness. Pure: no clock, no I/O.

A workflow run keeps, per task, counters of its upstreams' outcomes. When a task ends (or is
skipped), only its downstream tasks are looked at (cost proportional to the out-degree, never a
rescan of the DAG): each one's trigger rule says run now, skip now, or wait. A skip is an outcome
too and propagates by the same rules, iteratively (no recursion, whatever the depth).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from wloadctl.proto.v1 import workflows_pb2

TR = workflows_pb2.TriggerRule
# Plain ints: an enum wrapper's attribute lookup costs more than the rest of a hop's arithmetic.
ALL_SUCCEEDED, ALL_DONE, ANY_FAILED = TR.ALL_SUCCEEDED, TR.ALL_DONE, TR.ANY_FAILED
ANY_SUCCEEDED, NONE_FAILED, ALWAYS = TR.ANY_SUCCEEDED, TR.NONE_FAILED, TR.ALWAYS


class Outcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


_SUCCEEDED = Outcome.SUCCEEDED


class Decision(Enum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"


@dataclass(slots=True)
class Counts:
    """A task's upstreams: how many there are and how each that ended ended."""

    upstream: int
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.skipped

    def add(self, outcome: Outcome) -> None:
        if outcome is _SUCCEEDED:
            self.succeeded += 1
        elif outcome is Outcome.FAILED:
            self.failed += 1
        else:
            self.skipped += 1


def decide(rule: int, c: Counts) -> Decision:
    """What ``rule`` says of a task whose upstreams are at ``c`` (decided as early as it can be)."""
    all_done = c.done == c.upstream
    if rule == ALWAYS or c.upstream == 0:
        return Decision.RUN
    if rule == ALL_SUCCEEDED:
        if c.failed or c.skipped:
            return Decision.SKIP
        return Decision.RUN if all_done else Decision.WAIT
    if rule == ALL_DONE:
        return Decision.RUN if all_done else Decision.WAIT
    if rule == ANY_FAILED:
        if c.failed:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT
    if rule == ANY_SUCCEEDED:
        if c.succeeded:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT
    if rule == NONE_FAILED:
        if c.failed:
            return Decision.SKIP
        return Decision.RUN if all_done else Decision.WAIT
    raise ValueError(f"unknown trigger rule {rule}")


@dataclass(frozen=True)
class Dag:
    """A workflow's tasks as a graph (built once per workflow version)."""

    rules: Mapping[str, int]
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]          # the tasks as written
    indegree: Mapping[str, int] = field(default_factory=dict)   # len(upstream[task])

    @classmethod
    def of(cls, spec: workflows_pb2.WorkflowSpec) -> Dag:
        down: dict[str, list[str]] = {t.name: [] for t in spec.tasks}
        for t in spec.tasks:
            for up in t.depends_on:
                down[up].append(t.name)
        return cls(rules={t.name: t.trigger_rule for t in spec.tasks},
                   upstream={t.name: tuple(t.depends_on) for t in spec.tasks},
                   downstream={k: tuple(v) for k, v in down.items()}, order=tuple(t.name for t in spec.tasks),
                   indegree={t.name: len(t.depends_on) for t in spec.tasks})


class Progress(Protocol):
    """Where one workflow run stands, however it is stored (in memory for tests and the planner's
    previews, in LMDB records by the state machine)."""

    def counts(self, task: str) -> Counts: ...
    def is_decided(self, task: str) -> bool: ...
    def record(self, task: str, counts: Counts, decision: Decision | None) -> None: ...


def propagate(dag: Dag, progress: Progress, task: str, outcome: Outcome,
              per_child: Mapping[str, Outcome] | None = None) -> list[tuple[str, Decision]]:
    """``task`` ended with ``outcome``: update its downstream tasks' counters and return what this
    decides (run or skip), skips propagated by the same rules, iteratively (whatever the depth).
    Looks at the downstream tasks only: cost proportional to the out-degrees involved.

    ``per_child`` gives some direct downstream tasks another outcome than ``outcome`` (a switch
    task succeeded, but the branches it did not choose see it as SKIPPED)."""
    out: list[tuple[str, Decision]] = []
    # (an outcome, the tasks after the task that ended with it, which see that outcome)
    if per_child:
        by_outcome: dict[Outcome, list[str]] = {}
        for child in dag.downstream[task]:
            by_outcome.setdefault(per_child.get(child, outcome), []).append(child)
        ended = [(o, tuple(children)) for o, children in by_outcome.items()]
    else:
        ended = [(outcome, dag.downstream[task])]
    if isinstance(progress, RunProgress):
        return _propagate_in_memory(dag, progress, ended, out)
    counts_of, is_decided, record = progress.counts, progress.is_decided, progress.record
    rules, downstream = dag.rules, dag.downstream
    while ended:
        result, children = ended.pop()
        for child in children:
            counts = counts_of(child)
            counts.add(result)
            if is_decided(child):
                record(child, counts, None)
                continue
            decision = decide(rules[child], counts)
            record(child, counts, None if decision is Decision.WAIT else decision)
            if decision is Decision.WAIT:
                continue
            out.append((child, decision))
            if decision is Decision.SKIP:
                ended.append((Outcome.SKIPPED, downstream[child]))
    return out


# RunProgress packs a task's upstream outcomes into one int: succeeded, failed and skipped counts in
# fields of _BITS bits (1,000 upstreams at most: far from the field's limit).
_BITS = 21
_MASK = (1 << _BITS) - 1
_ONE = {Outcome.SUCCEEDED: 1, Outcome.FAILED: 1 << _BITS, Outcome.SKIPPED: 1 << (2 * _BITS)}


def _unpack(upstream: int, packed: int) -> Counts:
    return Counts(upstream, packed & _MASK, (packed >> _BITS) & _MASK, packed >> (2 * _BITS))


def _propagate_in_memory(dag: Dag, progress: RunProgress, ended: list[tuple[Outcome, tuple[str, ...]]],
                         out: list[tuple[str, Decision]]) -> list[tuple[str, Decision]]:
    """propagate() on a RunProgress: the hot loop of a large DAG (the planner's previews, the
    benchmarks), on packed counters, the default rule decided without the general rule table."""
    packed, decided, outcomes = progress.packed, progress.decided, progress.outcomes
    rules, downstream, indegree = dag.rules, dag.downstream, dag.indegree
    all_succeeded, run, wait, skip = ALL_SUCCEEDED, Decision.RUN, Decision.WAIT, Decision.SKIP
    while ended:
        result, children = ended.pop()
        one = _ONE[result]
        for child in children:
            value = packed[child] + one
            packed[child] = value
            if child in decided:
                continue
            rule = rules[child]
            if rule == all_succeeded:
                if value > _MASK:  # one failed or was skipped
                    decision = skip
                elif value == indegree[child]:
                    decision = run
                else:
                    continue
            else:
                decision = decide(rule, _unpack(indegree[child], value))
                if decision is wait:
                    continue
            decided[child] = decision
            out.append((child, decision))
            if decision is skip:
                outcomes[child] = Outcome.SKIPPED
                ended.append((Outcome.SKIPPED, downstream[child]))
    return out


def first_tasks(dag: Dag) -> list[str]:
    """The tasks a new run starts with: those without upstreams, and ALWAYS ones."""
    return [name for name in dag.order if not dag.upstream[name] or dag.rules[name] == ALWAYS]


@dataclass
class RunProgress:
    """A workflow run's progress in memory (Progress): per task, its upstreams' outcomes packed in
    one int (what a 1,000,000-task DAG costs is mostly these counters)."""

    indegree: Mapping[str, int]
    packed: dict[str, int]
    decided: dict[str, Decision] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def counts(self, task: str) -> Counts:
        return _unpack(self.indegree[task], self.packed[task])

    def is_decided(self, task: str) -> bool:
        return task in self.decided

    def record(self, task: str, counts: Counts, decision: Decision | None) -> None:
        self.packed[task] = counts.succeeded + (counts.failed << _BITS) + (counts.skipped << (2 * _BITS))
        if decision is not None:
            self.decided[task] = decision
            if decision is Decision.SKIP:
                self.outcomes[task] = Outcome.SKIPPED

    @classmethod
    def start(cls, dag: Dag) -> tuple[RunProgress, list[tuple[str, Decision]]]:
        progress = cls(dag.indegree, dict.fromkeys(dag.order, 0))
        first = [(name, Decision.RUN) for name in first_tasks(dag)]
        for name, decision in first:
            progress.decided[name] = decision
        return progress, first

    def finished(self, dag: Dag, task: str, outcome: Outcome) -> list[tuple[str, Decision]]:
        """Each task ends once; a second report of the same task changes nothing."""
        if task in self.outcomes or self.decided.get(task) is not Decision.RUN:
            return []
        self.outcomes[task] = outcome
        return _propagate_in_memory(dag, self, [(outcome, dag.downstream[task])], [])

    def complete(self, dag: Dag) -> bool:
        """Every task has an outcome (ran and ended, or was skipped)."""
        return len(self.outcomes) == len(dag.order)


# ---- reruns


class RerunMode(Enum):
    ONLY = "only"                # the task alone; what came after it keeps its outcome
    DOWNSTREAM = "downstream"    # the task and everything after it, transitively
    ALL = "all"                  # the whole workflow run from its first tasks


def descendants(dag: Dag, task: str) -> list[str]:
    """Every task after ``task``, transitively, in the order written."""
    seen = {task}
    stack = [task]
    while stack:
        for child in dag.downstream[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    seen.discard(task)
    return [t for t in dag.order if t in seen]


def rerun_set(dag: Dag, mode: RerunMode, task: str = "") -> list[str]:
    """The tasks a rerun resets to waiting, in the order written."""
    if mode is RerunMode.ALL:
        return list(dag.order)
    if mode is RerunMode.ONLY:
        return [task]
    return [task, *descendants(dag, task)]


# ---- structure


def problems(tasks: Sequence[workflows_pb2.WorkflowTask]) -> list[tuple[str, str]]:
    """(field, reason) for duplicate names, unknown or repeated upstreams, and cycles (named)."""
    found: list[tuple[str, str]] = []
    index: dict[str, int] = {}
    for i, t in enumerate(tasks):
        if t.name in index:
            found.append((f"tasks[{i}].name", f"{t.name!r} is also tasks[{index[t.name]}]"))
        else:
            index[t.name] = i
    for i, t in enumerate(tasks):
        seen: set[str] = set()
        for j, up in enumerate(t.depends_on):
            where = f"tasks[{i}].dependsOn[{j}]"
            if up == t.name:
                found.append((where, f"task {t.name!r} cannot depend on itself"))
            elif up not in index:
                found.append((where, f"no task {up!r} in this workflow"))
            elif up in seen:
                found.append((where, f"{up!r} listed twice"))
            seen.add(up)
    if found:
        return found
    cycle = find_cycle({t.name: [u for u in t.depends_on] for t in tasks})
    if cycle:
        found.append(("tasks", "the dependencies form a cycle: " + " -> ".join(cycle)))
    return found


def find_cycle(upstream: Mapping[str, Iterable[str]]) -> list[str]:
    """One cycle as a path that returns to its start (a -> b -> a), or [] when the graph is a DAG.
    Iterative depth-first search: a 100,000-task chain does not hit the recursion limit."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(upstream, WHITE)
    for root in upstream:
        if color[root] != WHITE:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(upstream[root]))]
        color[root] = GREY
        path.append(root)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                color[node] = BLACK
                stack.pop()
                path.pop()
                continue
            if color[child] == GREY:
                start = path.index(child)
                # `path` runs from a task to an upstream of it; read it the way dependencies flow.
                return list(reversed([*path[start:], child]))
            if color[child] == WHITE:
                color[child] = GREY
                path.append(child)
                stack.append((child, iter(upstream[child])))
    return []

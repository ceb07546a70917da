"""Linearizability of client histories: Wing & Gong's search, with Lowe's memoization as in Porcupine.

Why a search at all: the per-fact checkers (``acknowledged_writes``, ``final_specs``) compare the
history with the cluster's final state, so a read that saw a value too old, too new or never
written in the middle of a run goes unnoticed. Linearizability is the property a replicated store
promises its clients: every operation appears to take effect at one instant between its invoke and
its completion, in an order consistent with one sequential object (the ``Model``). Deciding it is
NP-complete in general, but the histories the chaos workload makes are small per key and have
little concurrency, so an exact search with memoization finishes in milliseconds; a ``budget`` of
model steps bounds the work anyway, and a search that runs out says "unknown" instead of hanging or
guessing.

The algorithm (Wing & Gong 1993; Lowe 2017 "Testing for linearizability"; Porcupine, Athalye 2017):
every operation becomes a call and a return event on a doubly-linked list in time order. The search
walks the list from its head; at a call it tries to make that operation take effect next (the
model accepts its input and output in the current state), and if so removes the operation's two
events from the list (lifts it), pushes it and starts again from the head. Reaching a return means
the operation that returns there had to take effect already and did not: the last choice is undone
(popped, its events put back) and the next call after it is tried. An empty stack at a return means
no order works. Memoization: the future of the search depends only on which operations took effect
and on the model's state, so a (set, state) pair already explored is never explored again
(``Model`` states must be hashable for that); the set is a bitmask. P-compositionality (Herlihy &
Wing): a history is linearizable iff its restriction to each key is, so ``check_keys`` checks keys
one by one, which keeps every search small.

Outcomes: ``fail`` operations are to be dropped by the caller (they never took effect). Operations
whose outcome is unknown (``info``) have their return at ``math.inf``: they may take effect at any
point after their invoke, or never. "Never" is the same as "last, after everything observed": so
the search succeeds as soon as every operation with a finite return has taken effect, whatever
info operations are left (that is also why it needs no model rule for placing them last).

Cost: exponential in the worst case, in practice in the number of operations of unknown outcome
pending at once, since each may or may not have taken effect at every later point. Operations that
returned are therefore tried before those of unknown outcome: a linearizable history is found
without first wandering through the placements of writes that never took effect. Proving a history
*not* linearizable still means trying them all, so a key with many unknown writes can exhaust the
budget ("unknown"). The chaos writers are sequential and give up on a call only after seconds, so
a name sees a handful of unknown writes in a run at most.

Everything here is pure (no I/O): the chaos checker ``linearizable_jobs`` (chaos/checkers.py) turns
the recorded history into ``Op`` values for ``JobRegister``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

# Model steps per key. A chaos key's history (a few hundred operations, two or three at once, a few
# of unknown outcome) needs hundreds to thousands; a million is about 4 s of Python and bounds the
# (bitmask, state) cache to as many entries.
DEFAULT_BUDGET = 1_000_000

S = TypeVar("S", bound=Hashable)
InT = TypeVar("InT")
OutT = TypeVar("OutT")
InT_contra = TypeVar("InT_contra", contravariant=True)
OutT_contra = TypeVar("OutT_contra", contravariant=True)

Outcome = Literal["linearizable", "not linearizable", "unknown"]

_SHOWN = 6  # operations an explanation lists before it says how many more there are


class Model(Protocol[S, InT_contra, OutT_contra]):
    """A sequential object: what one operation does to a state, and whether its output is possible.

    States must be hashable and immutable (they are memoized and shared between search branches).
    ``step`` receives ``op_output=None`` for an operation whose outcome is unknown; it must then
    accept whatever the operation could have returned.
    """

    def init(self) -> S:
        """The state before any operation."""
        ...

    def step(self, state: S, op_input: InT_contra, op_output: OutT_contra | None) -> tuple[bool, S]:
        """(whether ``op_input`` in ``state`` may answer ``op_output``, the state after it)."""
        ...

    def describe_state(self, state: S) -> str:
        """The state in words, for explanations."""
        ...


@dataclass(frozen=True)
class Op(Generic[InT, OutT]):
    """One operation of one key's history.

    ``call`` and ``ret`` are positions in one total order of events (the history's indexes): an
    operation whose ``ret`` is before another's ``call`` must take effect first. ``ret`` is
    ``math.inf`` when the outcome is unknown; ``output`` is then None.
    """

    id: int          # for explanations: the invoke's index in the history
    call: float
    ret: float
    input: InT
    output: OutT | None
    label: str = ""  # the operation in words; "" = "op ID: INPUT -> OUTPUT"

    def describe(self) -> str:
        what = self.label or f"op {self.id}: {self.input!r} -> {self.output!r}"
        until = "never returned" if math.isinf(self.ret) else f"returned at {_when(self.ret)}"
        return f"{what} [invoked at {_when(self.call)}, {until}]"


def _when(t: float) -> str:
    """A time as the history wrote it: an index stays a whole number however large."""
    return str(int(t)) if float(t).is_integer() else f"{t:g}"


@dataclass(frozen=True)
class Result(Generic[InT, OutT]):
    """The verdict on one key's history, with what a reader needs to see why.

    On "not linearizable" (and on "unknown", as far as the search got): ``prefix`` is the longest
    sequence of operations found that can take effect in that order, ``state`` the model's state
    after it, ``blocked`` the operation whose return the search then reached without it having taken
    effect, and ``pending`` the operations invoked and not yet placed at that point (``blocked``
    among them): none of them could be placed next in a way that let ``blocked`` take effect in time.
    """

    key: str
    outcome: Outcome
    operations: int     # operations checked (``fail`` ones are dropped before)
    steps: int          # model steps taken
    budget: int
    prefix: tuple[Op[InT, OutT], ...] = ()
    state: str = ""
    blocked: Op[InT, OutT] | None = None
    pending: tuple[Op[InT, OutT], ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == "linearizable"

    @property
    def decided(self) -> bool:
        return self.outcome != "unknown"

    def explain(self) -> str:
        """One paragraph: the verdict and, when not linearizable, where the search got stuck."""
        where = f"key {self.key!r}" if self.key else "history"
        if self.outcome == "linearizable":
            return f"{where}: {self.operations} operations are linearizable ({self.steps} steps)"
        if self.outcome == "unknown":
            head = (f"{where}: undecided, the search budget of {self.budget} steps ran out over "
                    f"{self.operations} operations")
            if not self.prefix:
                return head
            return f"{head}; the longest linearizable prefix found has {len(self.prefix)} operations"
        text = (f"{where}: not linearizable; the longest linearizable prefix has {len(self.prefix)} of "
                f"{self.operations} operations")
        if self.prefix:
            shown = self.prefix[-_SHOWN:]
            skipped = f"{len(self.prefix) - len(shown)} earlier, then " if len(self.prefix) > len(shown) else ""
            text += f" ({skipped}{'; '.join(op.describe() for op in shown)})"
        text += f", leaving {self.state}"
        if self.blocked is not None:
            others = [op for op in self.pending if op is not self.blocked]
            text += f"; then {self.blocked.describe()} cannot take effect before it returned"
            if others:
                listed = "; ".join(op.describe() for op in others[:_SHOWN])
                more = f" and {len(others) - _SHOWN} more" if len(others) > _SHOWN else ""
                text += f", whatever is placed first of the concurrent {listed}{more}"
        return text


def check(model: Model[S, InT, OutT], ops: Sequence[Op[InT, OutT]], *, key: str = "",
          budget: int = DEFAULT_BUDGET) -> Result[InT, OutT]:
    """Whether ``ops`` (one key's history, ``fail`` operations left out) is linearizable for ``model``.

    At most ``budget`` model steps are taken; past them the outcome is "unknown". Raises ValueError
    for an operation that returns before it is invoked (a caller's bug, not a verdict).
    """
    ops = list(ops)
    for op in ops:
        if op.ret < op.call:
            raise ValueError(f"{op.describe()}: returns before it is invoked")
    # Events in time order; at equal times calls first, so operations that touch count as concurrent.
    order = sorted([(op.call, 0, i) for i, op in enumerate(ops)]
                   + [(op.ret, 1, i) for i, op in enumerate(ops) if not math.isinf(op.ret)])
    m = len(order)
    head = m  # sentinel node before the first event
    node_op = [i for _t, _kind, i in order]
    is_call = [kind == 0 for _t, kind, _i in order]
    ret_node = [-1] * len(ops)  # op -> its return event's node (-1: unknown outcome, none)
    for node, (_t, kind, i) in enumerate(order):
        if kind == 1:
            ret_node[i] = node
    nxt = [*range(1, m + 1), -1]  # nxt[head] is the first event; -1 ends the list
    prv = [*range(-1, m - 1), -1]
    if m:
        nxt[m - 1] = -1
        nxt[head] = 0
        prv[0] = head

    def unlink(node: int) -> None:
        before, after = prv[node], nxt[node]
        nxt[before] = after
        if after != -1:
            prv[after] = before

    def relink(node: int) -> None:  # exact inverse of unlink, when undone in reverse order
        before, after = prv[node], nxt[node]
        nxt[before] = node
        if after != -1:
            prv[after] = node

    remaining = sum(1 for node in ret_node if node != -1)  # operations that must take effect
    state = model.init()
    taken = 0  # bitmask of the operations that took effect
    seen: set[tuple[int, S]] = set()
    stack: list[tuple[int, S, int]] = []  # (call node, state before it, phase it was tried in)
    steps = 0
    best_depth = -1
    best: tuple[tuple[int, ...], S, int, tuple[int, ...]] = ((), state, -1, ())

    def verdict(outcome: Outcome) -> Result[InT, OutT]:
        prefix, at, blocked, pending = best
        return Result(key=key, outcome=outcome, operations=len(ops), steps=steps, budget=budget,
                      prefix=tuple(ops[i] for i in prefix), state=model.describe_state(at),
                      blocked=ops[blocked] if blocked >= 0 else None, pending=tuple(ops[i] for i in pending))

    # Of the operations that may take effect next, those that returned are tried first (phase 0),
    # those of unknown outcome only after them (phase 1): trying every candidate in any order is
    # complete, and this order does not put a write that never took effect (invoked early, so
    # first on the list) first at every point.
    entry, phase = nxt[head], 0
    while remaining:
        # A return of every operation still to take effect is on the list after its call, so the
        # walk meets one before the end.
        assert entry != -1, "linearizability search walked off its event list"
        i = node_op[entry]
        if is_call[entry]:
            if (ret_node[i] == -1) != (phase == 1):
                entry = nxt[entry]
                continue
            if steps >= budget:
                return verdict("unknown")
            steps += 1
            op = ops[i]
            legal, after = model.step(state, op.input, op.output)
            if legal:
                memo = (taken | (1 << i), after)
                if memo not in seen:
                    seen.add(memo)
                    stack.append((entry, state, phase))
                    taken, state = memo
                    unlink(entry)
                    if ret_node[i] != -1:
                        unlink(ret_node[i])
                        remaining -= 1
                    entry, phase = nxt[head], 0
                    continue
            entry = nxt[entry]
            continue
        if phase == 0:
            entry, phase = nxt[head], 1
            continue
        # Operation i returns here without having taken effect: this branch is dead.
        if len(stack) > best_depth:
            best_depth = len(stack)
            pending: list[int] = []
            node = nxt[head]
            while node != entry:
                if is_call[node]:
                    pending.append(node_op[node])
                node = nxt[node]
            best = (tuple(node_op[call] for call, _, _ in stack), state, i, tuple(pending))
        if not stack:
            return verdict("not linearizable")
        call, state, phase = stack.pop()
        j = node_op[call]
        taken &= ~(1 << j)
        if ret_node[j] != -1:
            relink(ret_node[j])
            remaining += 1
        relink(call)
        entry = nxt[call]
    return Result(key=key, outcome="linearizable", operations=len(ops), steps=steps, budget=budget)


def check_keys(model: Model[S, InT, OutT], histories: Mapping[str, Sequence[Op[InT, OutT]]], *,
               budget: int = DEFAULT_BUDGET) -> dict[str, Result[InT, OutT]]:
    """Each key's history checked on its own (P-compositionality), each with its own ``budget``: one
    hard key cannot starve the others, and the whole check takes at most keys x budget steps."""
    return {key: check(model, ops, key=key, budget=budget) for key, ops in histories.items()}


# --- the job register ----------------------------------------------------------------------------

JobState = tuple[int, str | None]  # (version counter, spec digest; None = absent: never written or deleted)


@dataclass(frozen=True)
class JobInput:
    """What a client asked of one job name: an apply (with the digest it wrote), a delete or a read."""

    kind: Literal["apply", "delete", "read"]
    spec: str | None = None  # apply: the digest of the definition written


@dataclass(frozen=True)
class JobOutput:
    """What the cluster answered. Writes: ``version`` acknowledged. Reads: ``version`` and ``spec``
    seen, or ``absent`` (NOT_FOUND: never written or deleted)."""

    version: int | None = None
    spec: str | None = None
    absent: bool = False


class JobRegister:
    """One job name as a versioned register: state (version counter, spec digest or None).

    Every apply makes exactly one new version (the counter + 1) holding its digest, and so does a
    delete of a live definition, holding a tombstone (absent). A delete of a name with no live
    definition makes none, as the store does (wloadctl/state/store.py ``_delete_job``): never
    written, it is refused with NOT_FOUND (recorded as ``fail``, so an acknowledged one is illegal);
    already deleted, it answers the tombstone's version again (a writer may delete twice when its
    first delete's outcome was unknown). The workload's applies always change the definition (a
    label counts the writes), so none is answered as "unchanged" with the current version; the model
    does not allow that. A write acknowledged with version v must be exactly that next version: a
    skipped or repeated number is a lost or doubled write. A write of unknown outcome takes effect
    without a version check (or never: the search also tries that). A read must see the state exactly:
    the version and digest, or absent when the name holds no definition (whatever the counter). A
    read of unknown outcome constrains nothing (the checker drops those).

    The initial state is (0, None): the chaos cluster starts empty and only the workload writes
    these names, so a name's first apply is version 1. A history that began on a name written
    before it (another run's leftovers) would fail at its first acknowledged version, by design
    rather than silently assuming an unknown start.
    """

    def init(self) -> JobState:
        return (0, None)

    def step(self, state: JobState, op_input: JobInput, op_output: JobOutput | None) -> tuple[bool, JobState]:
        counter, spec = state
        if op_input.kind == "read":
            if op_output is None:
                return True, state
            if op_output.absent:
                return spec is None, state
            return spec is not None and op_output.version == counter and op_output.spec == spec, state
        acknowledged = None if op_output is None else op_output.version
        if op_input.kind == "delete" and spec is None:
            # Nothing to delete: NOT_FOUND (a definite failure, dropped) if never written, else the
            # tombstone's version again without a new one. Unknown: no effect either way.
            if op_output is None:
                return True, state
            return counter > 0 and acknowledged in (None, counter), state
        if acknowledged is not None and acknowledged != counter + 1:
            return False, state
        return True, (counter + 1, op_input.spec if op_input.kind == "apply" else None)

    def describe_state(self, state: JobState) -> str:
        counter, spec = state
        if spec is not None:
            return f"version {counter} with spec {spec}"
        return "absent (never written)" if counter == 0 else f"absent (deleted at version {counter})"

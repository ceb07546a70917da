"""The linearizability checker (chaos/linearizability.py), its job register, the linearizable_jobs
checker and the workload's readers, on handcrafted and randomized histories."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import grpc
import pytest

from chaos.checkers import REGISTRY, LinearizableJobReads, RunData
from chaos.history import HistoryWriter, Operation, load_history, pair_operations
from chaos.linearizability import JobInput, JobOutput, JobRegister, JobState, Op, check, check_keys
from chaos.workload import READER_PROCESSES, Workload, job_spec, rotated, spec_digest
from wloadctl.client import ClientError
from wloadctl.proto.v1 import jobs_pb2

JobOp = Op[JobInput, JobOutput]
MODEL = JobRegister()


def apply(call: float, ret: float | None, spec: str, version: int | None = None) -> JobOp:
    """An apply of ``spec`` acknowledged with ``version``; ``ret=None``: outcome unknown (info)."""
    return Op(int(call), call, math.inf if ret is None else ret, JobInput("apply", spec),
              None if ret is None else JobOutput(version), f"apply {spec}")


def delete(call: float, ret: float | None, version: int | None = None) -> JobOp:
    return Op(int(call), call, math.inf if ret is None else ret, JobInput("delete"),
              None if ret is None else JobOutput(version), "delete")


def read(call: float, ret: float, version: int | None = None, spec: str | None = None) -> JobOp:
    """A read that saw (version, spec), or absent when ``version`` is None."""
    output = JobOutput(absent=True) if version is None else JobOutput(version, spec)
    return Op(int(call), call, ret, JobInput("read"), output, f"read -> {version} {spec}")


def verdict(*ops: JobOp, budget: int = 100_000) -> str:
    return check(MODEL, ops, key="j", budget=budget).outcome


# --- linearizable ------------------------------------------------------------------------------


def test_a_sequential_history_is_linearizable() -> None:
    result = check(MODEL, [read(0, 1), apply(2, 3, "a", 1), read(4, 5, 1, "a"), apply(6, 7, "b", 2),
                           read(8, 9, 2, "b"), delete(10, 11, 3), read(12, 13), apply(14, 15, "c", 4),
                           read(16, 17, 4, "c")], key="j-0-1")
    assert result.ok and result.decided
    assert result.explain() == f"key 'j-0-1': 9 operations are linearizable ({result.steps} steps)"


def test_the_empty_history_and_one_of_info_writes_only_are_linearizable() -> None:
    assert verdict() == "linearizable"
    assert verdict(apply(0, None, "a"), delete(1, None)) == "linearizable"


def test_concurrent_writes_take_effect_in_the_order_their_versions_say() -> None:
    # b was invoked second but acknowledged first: its version says it took effect first
    assert verdict(apply(0, 10, "a", 2), apply(1, 9, "b", 1), read(2, 3, 1, "b"), read(4, 5, 2, "a")) == \
        "linearizable"
    assert verdict(apply(0, 10, "a", 2), apply(1, 9, "b", 1), read(2, 3, 2, "a")) == "linearizable"
    assert verdict(apply(0, 10, "a", 2), apply(1, 9, "b", 1), read(2, 3, 1, "a")) == "not linearizable"


@pytest.mark.parametrize("first", ["a", "b"])
def test_concurrent_info_writes_seen_in_either_order(first: str) -> None:
    second = "b" if first == "a" else "a"
    # two readers, one after the other, agree on whichever order the writes took
    assert verdict(apply(0, None, "a"), apply(1, None, "b"), read(2, 3, 1, first), read(4, 6, 2, second),
                   read(5, 7, 2, second)) == "linearizable"


def test_info_writes_that_never_showed() -> None:
    assert verdict(apply(0, 1, "a", 1), apply(2, None, "lost"), read(3, 4, 1, "a"), apply(5, 6, "b", 2),
                   read(7, 8, 2, "b"), delete(9, None), read(10, 11, 2, "b")) == "linearizable"


def test_an_info_write_that_shows_later() -> None:
    # it took effect long after its client gave up on it, after the next acknowledged write even
    assert verdict(apply(0, None, "late"), read(1, 2), apply(3, 4, "a", 1), read(5, 6, 1, "a"),
                   read(100, 101, 2, "late")) == "linearizable"
    # ... but then the next acknowledged write's version must count it
    assert verdict(apply(0, None, "x"), read(10, 11, 1, "x"), apply(12, 13, "a", 1)) == "not linearizable"


@pytest.mark.parametrize("seen", [(None, None), (1, "a")])
def test_a_read_concurrent_with_a_write_sees_the_old_or_the_new(seen: tuple[int | None, str | None]) -> None:
    assert verdict(apply(0, 10, "a", 1), read(2, 5, *seen)) == "linearizable"
    assert verdict(apply(0, 1, "a", 1), delete(2, 10, 2), read(3, 4, *seen)) == "linearizable"


# --- not linearizable --------------------------------------------------------------------------


def test_a_stale_read_after_a_write_completed() -> None:
    result = check(MODEL, [apply(0, 1, "a", 1), apply(2, 3, "b", 2), read(4, 5, 1, "a")], key="j-1-7")
    assert result.outcome == "not linearizable" and not result.ok and result.decided
    assert [op.id for op in result.prefix] == [0, 2]
    assert result.state == "version 2 with spec b"
    assert result.blocked is not None and result.blocked.id == 4
    text = result.explain()
    assert text.startswith("key 'j-1-7': not linearizable; the longest linearizable prefix has 2 of 3 operations")
    assert "read -> 1 a [invoked at 4, returned at 5] cannot take effect" in text


def test_a_stale_absent_after_an_apply_completed() -> None:
    assert verdict(apply(0, 1, "a", 1), read(2, 3)) == "not linearizable"
    assert verdict(apply(0, 1, "a", 1), delete(2, 3, 2), read(4, 5, 1, "a")) == "not linearizable"


def test_a_read_of_a_value_never_written() -> None:
    assert verdict(apply(0, 1, "a", 1), read(2, 3, 1, "zzz")) == "not linearizable"
    assert verdict(read(0, 1, 1, "a")) == "not linearizable"  # before any write
    assert verdict(apply(0, None, "a"), read(2, 3, 2, "a")) == "not linearizable"  # a version not made


def test_two_readers_seeing_the_writes_in_opposite_orders() -> None:
    writes = (apply(0, None, "a"), apply(1, None, "b"))
    # reader 5 sees a then b, reader 6 b then a; each pair of first and second reads overlaps
    result = check(MODEL, [*writes, read(10, 20, 1, "a"), read(21, 30, 2, "b"),
                           read(11, 19, 2, "b"), read(22, 29, 1, "a")], key="j")
    assert result.outcome == "not linearizable"
    assert result.blocked is not None and result.blocked in result.pending
    assert result.blocked.id == 22 and result.state == "version 2 with spec b"


def test_a_read_going_back_in_time() -> None:
    assert verdict(apply(0, 1, "a", 1), apply(2, 20, "b", 2), read(3, 4, 2, "b"), read(5, 6, 1, "a")) == \
        "not linearizable"


def test_a_second_delete_answers_the_tombstone() -> None:
    # the first delete's outcome was unknown to its writer, which deleted again
    assert verdict(apply(0, 1, "a", 1), delete(2, None), read(3, 4), delete(5, 6, 2), read(7, 8),
                   apply(9, 10, "b", 3)) == "linearizable"
    assert verdict(apply(0, 1, "a", 1), delete(2, 3, 2), delete(4, 5, 3)) == "not linearizable"
    assert verdict(delete(0, 1, 1)) == "not linearizable"  # never written: NOT_FOUND, not an answer


def test_a_skipped_version_number() -> None:
    assert verdict(apply(0, 1, "a", 1), apply(2, 3, "b", 3)) == "not linearizable"
    assert verdict(apply(0, 1, "a", 1), delete(2, 3, 3)) == "not linearizable"  # a delete too makes the next one
    # an unknown write in between explains it
    assert verdict(apply(0, 1, "a", 1), delete(2, None), apply(4, 5, "b", 3)) == "linearizable"
    # a doubled one has no explanation
    assert verdict(apply(0, 1, "a", 1), apply(2, 3, "b", 1)) == "not linearizable"


# --- the budget and the model ------------------------------------------------------------------


def test_the_budget_gives_unknown() -> None:
    ops = [apply(i, None, f"s{i}") for i in range(8)] + [read(20, 21, 9, "never")]
    result = check(MODEL, ops, key="j-0-0", budget=50)
    assert result.outcome == "unknown" and not result.ok and not result.decided
    assert result.steps == 50
    assert "undecided, the search budget of 50 steps ran out over 9 operations" in result.explain()
    assert check(MODEL, ops, budget=1_000_000).outcome == "not linearizable"


def test_writes_that_never_took_effect_do_not_slow_a_linearizable_history() -> None:
    # operations that returned are tried before those of unknown outcome, at every point
    ops = [apply(i, None, f"lost{i}") for i in range(16)]
    for v in range(1, 26):
        ops += [apply(100 * v, 100 * v + 1, f"s{v}", v), read(100 * v + 2, 100 * v + 3, v, f"s{v}")]
    result = check(MODEL, ops, budget=1000)
    assert result.ok and result.steps == 50


def test_an_operation_returning_before_its_invoke_is_refused() -> None:
    with pytest.raises(ValueError, match="returns before it is invoked"):
        check(MODEL, [apply(5, 4, "a", 1)])


def test_keys_are_checked_one_by_one() -> None:
    results = check_keys(MODEL, {"x": [apply(0, 1, "a", 1), read(2, 3, 1, "a")],
                                 "y": [apply(0, 1, "a", 1), read(2, 3)]})
    assert {k: r.outcome for k, r in results.items()} == {"x": "linearizable", "y": "not linearizable"}
    assert results["y"].key == "y"


def test_the_job_register_rules() -> None:
    start = MODEL.init()
    assert start == (0, None)
    assert MODEL.step(start, JobInput("apply", "a"), JobOutput(1)) == (True, (1, "a"))
    assert MODEL.step(start, JobInput("apply", "a"), JobOutput(2))[0] is False
    assert MODEL.step(start, JobInput("apply", "a"), None) == (True, (1, "a"))  # unknown: no version check
    assert MODEL.step((4, "a"), JobInput("delete"), JobOutput(5)) == (True, (5, None))
    assert MODEL.step((4, "a"), JobInput("delete"), JobOutput(4))[0] is False
    assert MODEL.step((4, "a"), JobInput("delete"), None) == (True, (5, None))
    # deleting what is deleted answers the tombstone again and makes no version; never written: NOT_FOUND
    assert MODEL.step((5, None), JobInput("delete"), JobOutput(5)) == (True, (5, None))
    assert MODEL.step((5, None), JobInput("delete"), JobOutput(6))[0] is False
    assert MODEL.step((5, None), JobInput("delete"), None) == (True, (5, None))
    assert MODEL.step((0, None), JobInput("delete"), JobOutput(1))[0] is False
    assert MODEL.step((0, None), JobInput("delete"), None) == (True, (0, None))
    assert MODEL.step((5, None), JobInput("apply", "b"), JobOutput(6)) == (True, (6, "b"))  # numbering goes on
    # reads change nothing and must match exactly; absent matches any counter without a definition
    assert MODEL.step((3, "a"), JobInput("read"), JobOutput(3, "a")) == (True, (3, "a"))
    for state, output in [((3, "a"), JobOutput(2, "a")), ((3, "a"), JobOutput(3, "b")),
                          ((3, "a"), JobOutput(absent=True)), ((3, None), JobOutput(3, None)),
                          ((0, None), JobOutput(0, "a"))]:
        assert MODEL.step(state, JobInput("read"), output)[0] is False, (state, output)
    assert MODEL.step((0, None), JobInput("read"), JobOutput(absent=True))[0] is True
    assert MODEL.step((7, None), JobInput("read"), JobOutput(absent=True))[0] is True
    assert MODEL.step((7, "a"), JobInput("read"), None)[0] is True
    assert [MODEL.describe_state(s) for s in [(0, None), (3, None), (2, "ab")]] == \
        ["absent (never written)", "absent (deleted at version 3)", "version 2 with spec ab"]


# --- randomized --------------------------------------------------------------------------------


def _random_history(rng: random.Random, length: int = 24) -> tuple[list[JobOp], list[JobState]]:
    """A random sequential execution of the register, each operation at time 10k + 5, widened into
    an interval around that time (so the execution is a linearization of it), some writes of
    unknown outcome, and some unknown writes that never took effect. Also the state after each."""
    state = MODEL.init()
    ops: list[JobOp] = []
    states = [state]
    for k in range(length):
        at = 10 * k + 5
        call, ret = at - rng.randint(1, 20), at + rng.randint(1, 20)
        roll = rng.random()
        if roll < 0.4 or (roll < 0.5 and state[1] is None):
            op_input = JobInput("apply", f"s{k}")
        elif roll < 0.5:
            op_input = JobInput("delete")
        else:
            ops.append(read(call, ret, *(state if state[1] is not None else (None, None))))
            continue
        state = MODEL.step(state, op_input, None)[1]
        states.append(state)
        if rng.random() < 0.15:
            ops.append(Op(call, call, math.inf, op_input, None, f"{op_input.kind} (unknown)"))
        else:
            ops.append(Op(call, call, ret, op_input, JobOutput(state[0]), f"{op_input.kind} -> {state[0]}"))
        if rng.random() < 0.05:
            ops.append(Op(call + 1, call + 1, math.inf, JobInput("apply", f"phantom{k}"), None, "phantom"))
    return ops, states


def _with(ops: list[JobOp], old: JobOp, output: JobOutput) -> list[JobOp]:
    new = Op(old.id, old.call, old.ret, old.input, output, "corrupted")
    return [new if op is old else op for op in ops]


def test_random_widened_sequential_executions_are_linearizable_and_their_corruptions_not() -> None:
    stale_cases = illegal_random = 0
    for seed in range(60):
        rng = random.Random(seed)
        ops, states = _random_history(rng)
        assert check(MODEL, ops).ok, seed
        reads = [op for op in ops if op.input.kind == "read"]
        if not reads:
            continue
        # a read of a digest nobody wrote is never explained
        victim = rng.choice(reads)
        assert check(MODEL, _with(ops, victim, JobOutput(1, "never-written"))).outcome == "not linearizable", seed
        # a read of an older version after a write acknowledged with a newer one completed: surely stale
        for r in reads:
            floor = max((op.output.version or 0 for op in ops if op.input.kind != "read" and op.output is not None
                         and op.ret < r.call), default=0)
            older = [s for s in states if s[1] is not None and s[0] < floor]
            if older:
                stale_cases += 1
                seen = rng.choice(older)
                assert check(MODEL, _with(ops, r, JobOutput(*seen))).outcome == "not linearizable", seed
                break
        # any other state of the execution, at random: mostly wrong
        other = rng.choice([s for s in states if s != (victim.output.version, victim.output.spec)]
                           if victim.output is not None else states)
        wrong = JobOutput(absent=True) if other[1] is None else JobOutput(*other)
        illegal_random += check(MODEL, _with(ops, victim, wrong)).outcome == "not linearizable"
    assert stale_cases >= 50
    assert illegal_random >= 35


# --- the checker -------------------------------------------------------------------------------


def _op(process: int, f: str, invoke: int, complete: int | None, value: dict[str, Any],
        answer: dict[str, Any] | None = None, type: str = "ok") -> Operation:
    result = {**value, **(answer or {})} if complete is not None else {}
    return Operation(process, f, "", type, invoke, complete, float(invoke), None if complete is None else
                     float(complete), value, result)


def _apply(invoke: int, complete: int | None, name: str, spec: str, version: int | None = None,
           type: str = "ok", **extra: Any) -> Operation:
    return _op(0, "apply_job", invoke, complete, {"name": name, "spec": spec, **extra},
               None if version is None else {"version": version}, type)


def _get(invoke: int, complete: int, name: str, version: int | None = None, spec: str | None = None,
         process: int = 5, type: str = "ok") -> Operation:
    answer = {"absent": True} if version is None else {"version": version, "spec": spec}
    return _op(process, "get_job", invoke, complete, {"name": name}, answer if type == "ok" else {"error": "x"},
               type)


def test_the_checker_is_registered() -> None:
    assert "linearizable_jobs" in [c.name for c in REGISTRY]


def test_the_checker_passes_linearizable_histories() -> None:
    ops = [_get(0, 1, "j-0-1"), _apply(2, 3, "j-0-1", "a", 1), _get(4, 5, "j-0-1", 1, "a", process=6),
           _apply(6, 7, "j-0-1", "a", 1, repeat=True),  # a retry of the same write, not a second one
           _apply(8, 9, "j-0-2", "b", 5, type="fail"),  # never took effect
           _apply(10, None, "j-0-2", "c", type="info"), _get(11, 12, "j-0-2"),
           _get(13, 14, "j-0-2", type="info"), _get(15, 16, "j-0-2", type="fail"),
           _op(1, "delete_job", 17, 18, {"name": "j-0-1"}, {"version": 2}), _get(19, 20, "j-0-1")]
    finding = LinearizableJobReads().check(RunData(operations=ops))
    assert finding.ok, finding
    assert finding.summary == "4 reads and 3 writes over 2 jobs are linearizable"


def test_the_checker_without_reads() -> None:
    assert LinearizableJobReads().check(RunData()).ok
    finding = LinearizableJobReads().check(RunData(operations=[_apply(0, 1, "j-0-1", "a", 1)]))
    assert (finding.ok, finding.summary) == (True, "nothing to check: no get_job reads")
    finding = LinearizableJobReads().check(RunData(operations=[_get(0, 1, "j-0-1", type="info")]))
    assert not finding.ok and "none answered" in finding.summary


def test_the_checker_names_the_key_and_why() -> None:
    ops = [_apply(0, 1, "j-0-1", "a", 1), _apply(2, 3, "j-0-1", "b", 2), _get(4, 5, "j-0-1", 1, "a"),
           _apply(6, 7, "j-0-2", "c", 1), _get(8, 9, "j-0-2", 1, "c")]
    finding = LinearizableJobReads().check(RunData(operations=ops))
    assert not finding.ok
    assert finding.summary == "1 of 2 jobs have non-linearizable histories"
    (detail,) = finding.details
    assert detail.startswith("key 'j-0-1': not linearizable")
    assert "op 4 (process 5) get_job -> version 1 spec a" in detail and "leaving version 2 with spec b" in detail


def test_the_checker_does_not_pass_an_undecided_search() -> None:
    ops = [_apply(i, None, "j-0-1", f"s{i}", type="info") for i in range(8)] + [_get(20, 21, "j-0-1", 9, "x")]
    finding = LinearizableJobReads(budget=20).check(RunData(operations=ops))
    assert not finding.ok
    assert finding.summary.startswith("could not decide: the search budget (20 steps per job) ran out on 1 of 1")


def test_the_checker_reports_malformed_operations() -> None:
    ops = [_op(5, "get_job", 0, 1, {"name": "j-0-1"}, {"version": "3"}), _apply(2, 3, "j-0-1", "a")]
    finding = LinearizableJobReads().check(RunData(operations=ops))
    assert not finding.ok and len(finding.details) == 2


# --- the workload's readers ----------------------------------------------------------------------


class _FakeClient:
    def __init__(self, answer: jobs_pb2.JobVersion | ClientError) -> None:
        self.answer = answer

    def get_job(self, name: str) -> jobs_pb2.JobVersion:
        if isinstance(self.answer, ClientError):
            raise self.answer
        return self.answer


def test_readers_prefer_different_replicas() -> None:
    servers = ["r1", "r2", "r3"]
    assert [rotated(servers, i + 1)[0] for i in range(len(READER_PROCESSES))] == ["r2", "r3"]
    assert rotated(servers, 4) == ["r2", "r3", "r1"] and rotated([], 1) == []


def test_a_reader_records_versions_absence_and_errors(tmp_path: Path) -> None:
    spec = job_spec("j-0-3", 1, random.Random(1))
    answers: list[jobs_pb2.JobVersion | ClientError] = [
        jobs_pb2.JobVersion(spec=spec, version=3), ClientError(grpc.StatusCode.NOT_FOUND, "name: not found"),
        jobs_pb2.JobVersion(spec=spec, version=4, deleted=True),
        ClientError(grpc.StatusCode.UNAVAILABLE, "down"), ClientError(grpc.StatusCode.PERMISSION_DENIED, "no")]
    with HistoryWriter(tmp_path / "history.jsonl") as writer:
        workload = Workload(["r1", "r2", "r3"], writer, seed=1)
        for answer in answers:
            workload._read_job(5, _FakeClient(answer), "j-0-3")  # type: ignore[arg-type]
    ops = pair_operations(load_history(tmp_path / "history.jsonl"))
    assert [(op.process, op.f, op.key, op.type) for op in ops] == [(5, "get_job", "", t) for t in
                                                                   ("ok", "ok", "ok", "info", "fail")]
    assert ops[0].result == {"name": "j-0-3", "version": 3, "spec": spec_digest(spec)}
    assert ops[1].result == ops[2].result == {"name": "j-0-3", "absent": True}
    assert ops[3].result["error"].startswith("UNAVAILABLE")

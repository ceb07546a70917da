"""Chaos history loaders, the history writer, and every built-in checker on passing and violating records."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from chaos.checkers import (
    MAX_DETAILS,
    REGISTRY,
    AcknowledgedRunsFinal,
    AcknowledgedWrites,
    EqualDigests,
    FinalSpecs,
    Finding,
    LogsComplete,
    NoDoubleExecution,
    NoOverlap,
    NoStaleEpochStart,
    NoStuckRuns,
    NothingAliveAtEnd,
    OneRunPerKey,
    PlacementRespectsSelectors,
    RecordsExplainOutcomes,
    RunData,
    StaleRejectionsObserved,
    check_all,
    register,
)
from chaos.history import (
    Digest,
    EpochAdopted,
    EpochRejected,
    ExecutionRecord,
    FinalRun,
    HistoryError,
    HistoryEvent,
    HistoryWriter,
    Operation,
    Transition,
    load_agent_epochs,
    load_digests,
    load_executions,
    load_final_runs,
    load_history,
    pair_operations,
)


class H:
    """Builds a client history event by event, as the workload writes it."""

    def __init__(self) -> None:
        self.events: list[HistoryEvent] = []
        self.open: dict[int, HistoryEvent] = {}

    def _add(self, process: int, type: str, f: str, key: str, value: dict[str, Any]) -> HistoryEvent:
        index = len(self.events)
        ev = HistoryEvent(index, process, type, f, key, value, float(index), line=index + 1)
        self.events.append(ev)
        return ev

    def invoke(self, process: int, f: str, key: str | None = None, **value: Any) -> H:
        """Invoke ``f``; ``key`` repeats an idempotency key as a client retry would (default: a fresh one)."""
        self.open[process] = self._add(process, "invoke", f, key or f"k{len(self.events)}", value)
        return self

    def done(self, process: int, type: str, **value: Any) -> H:
        inv = self.open.pop(process)
        self._add(process, type, inv.f, inv.key, value)
        return self

    def apply(self, process: int, name: str, type: str = "ok", version: int | None = None) -> H:
        self.invoke(process, "apply_job", name=name, spec_hash="h")
        return self.done(process, type, **({"version": version} if version is not None else {}))

    def delete(self, process: int, name: str, type: str = "ok") -> H:
        return self.invoke(process, "delete_job", name=name).done(process, type)

    def read(self, process: int, jobs: dict[str, int]) -> H:
        return self.invoke(process, "read_jobs").done(process, "ok", jobs=jobs)

    def ops(self) -> list[Operation]:
        return pair_operations(self.events)


def start(run: str, attempt: int, t: int, agent: str = "a1", epoch: int = 1) -> ExecutionRecord:
    return ExecutionRecord(run, attempt, epoch, agent, "start", t)


def alive(run: str, attempt: int, t: int, agent: str = "a1", epoch: int = 1) -> ExecutionRecord:
    return ExecutionRecord(run, attempt, epoch, agent, "alive", t)


def end(run: str, attempt: int, t: int, agent: str = "a1", epoch: int = 1, code: int | None = 0) -> ExecutionRecord:
    return ExecutionRecord(run, attempt, epoch, agent, "end", t, code=code)


def final_run(run_id: str, state: str = "SUCCEEDED", job: str = "j", attempt: int = 1,
              transitions: tuple[Transition, ...] = (), key: str = "") -> FinalRun:
    return FinalRun(run_id, job, state, attempt, transitions, key)


def tr(state: str, attempt: int = 1, agent: str = "a1", epoch: int = 1, cause: str = "") -> Transition:
    return Transition(state, 0, attempt, agent, epoch, cause)


def ran(attempt: int = 1, agent: str = "a1", epoch: int = 1) -> tuple[Transition, ...]:
    """An attempt placed on ``agent`` that the cluster then saw RUNNING."""
    return tr("DISPATCHED", attempt, agent, epoch, f"placed on {agent}"), tr("RUNNING", attempt, agent, epoch)


def write_lines(path: Path, *lines: Any) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def names_in(finding: Finding, *needles: str) -> bool:
    return any(all(n in d for n in needles) for d in finding.details)


# --- loaders and pairing -------------------------------------------------------------------------


def _event(index: int, process: int, type: str, f: str = "apply_job", **value: Any) -> dict[str, Any]:
    return {"index": index, "process": process, "type": type, "f": f, "key": f"k{process}", "value": value,
            "time": index * 0.5}


def test_load_history_round_trip(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "history.jsonl", _event(0, 1, "invoke", name="j"), "",
                       _event(1, 1, "ok", version=2))
    events = load_history(path)
    assert [(e.index, e.type, e.line) for e in events] == [(0, "invoke", 1), (1, "ok", 3)]
    (op,) = pair_operations(events)
    assert (op.type, op.get("name"), op.get("version"), op.complete_index) == ("ok", "j", 2, 1)


@pytest.mark.parametrize(("bad", "message"), [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps({k: v for k, v in _event(1, 1, "ok").items() if k != "process"}), "missing field 'process'"),
    (json.dumps(_event(1, 1, "done")), "field 'type' must be one of"),
    (json.dumps({**_event(1, 1, "ok"), "index": "1"}), "field 'index' must be an integer"),
    (json.dumps({**_event(1, 1, "ok"), "process": True}), "field 'process' must be an integer"),
    (json.dumps({**_event(1, 1, "ok"), "value": []}), "field 'value' must be an object"),
    (json.dumps(_event(0, 1, "ok")), "index 0 does not follow index 0"),
])
def test_malformed_history_line_names_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write_lines(tmp_path / "history.jsonl", _event(0, 1, "invoke"), bad)
    with pytest.raises(HistoryError, match=message) as err:
        load_history(path)
    assert str(err.value).startswith(f"{path}:2: ")
    assert err.value.line == 2


def test_invalid_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "executions.jsonl"
    path.write_bytes(b'{"run": "r1"}\n\xff\xfe\n')
    with pytest.raises(HistoryError, match=r"executions\.jsonl:1: missing field 'attempt'"):
        load_executions(path)
    path.write_bytes(b"\xff\xfe\n")
    with pytest.raises(HistoryError, match=r":1: not UTF-8"):
        load_executions(path)


def test_pairing_missing_completion_is_info() -> None:
    h = H().invoke(1, "apply_job", name="a").invoke(2, "apply_job", name="b").done(2, "ok", version=1)
    h.invoke(1, "apply_job", name="c")  # process 1 invokes again: the first invoke's outcome is unknown
    ops = h.ops()
    assert [(op.get("name"), op.type, op.complete_index) for op in ops] == [
        ("a", "info", None), ("b", "ok", 2), ("c", "info", None)]


def test_pairing_rejects_orphan_and_mismatched_completions() -> None:
    orphan = [HistoryEvent(0, 1, "ok", "apply_job", "k", {}, 0.0, line=7)]
    with pytest.raises(HistoryError, match=r"history\.jsonl:7: ok completion .* no open invoke"):
        pair_operations(orphan)
    mismatch = [HistoryEvent(0, 1, "invoke", "apply_job", "k", {}, 0.0, line=1),
                HistoryEvent(1, 1, "ok", "delete_job", "k", {}, 1.0, line=2)]
    with pytest.raises(HistoryError, match=r":2: .*delete_job"):
        pair_operations(mismatch, "h.jsonl")


def test_other_loaders(tmp_path: Path) -> None:
    ex = load_executions(write_lines(tmp_path / "e", {"run": "r1", "attempt": 1, "epoch": 3, "agent": "a1",
                                                       "event": "start", "time_ns": 5}))
    assert ex == [start("r1", 1, 5, epoch=3)]
    common = {"run": "r1", "attempt": 1, "epoch": 3, "agent": "a1"}
    ex = load_executions(write_lines(tmp_path / "e2", {**common, "event": "alive", "time_ns": 6},
                                     {**common, "event": "end", "time_ns": 7, "code": 3},
                                     {**common, "event": "end", "time_ns": 8},  # written before codes existed
                                     {**common, "event": "end", "time_ns": 9, "code": None}))
    assert ex == [alive("r1", 1, 6, epoch=3), end("r1", 1, 7, epoch=3, code=3), end("r1", 1, 8, epoch=3, code=None),
                  end("r1", 1, 9, epoch=3, code=None)]
    with pytest.raises(HistoryError, match=r":1: field 'code' must be an integer"):
        load_executions(write_lines(tmp_path / "e3", {**common, "event": "end", "time_ns": 7, "code": "0"}))
    with pytest.raises(HistoryError, match=r":1: field 'event' must be one of start, alive, end"):
        load_executions(write_lines(tmp_path / "e4", {**common, "event": "beat", "time_ns": 7}))
    epochs = load_agent_epochs(write_lines(tmp_path / "p", {"agent": "a1", "epoch": 3, "time_ns": 1},
                                           {"agent": "a1", "rejected_epoch": 2, "highest": 3, "time_ns": 2}))
    assert epochs == [EpochAdopted("a1", 3, 1), EpochRejected("a1", 2, 3, 2)]
    with pytest.raises(HistoryError, match=":1: expected exactly one of"):
        load_agent_epochs(write_lines(tmp_path / "p2", {"agent": "a1", "epoch": 3, "rejected_epoch": 2,
                                                        "time_ns": 1}))
    # protobuf's JSON mapping writes 64-bit integers as strings and omits zero values
    runs = load_final_runs(write_lines(tmp_path / "f", {
        "run_id": "r1", "job": "j", "state": "LOST", "attempt": 1,
        "transitions": [{"state": "PENDING", "time_ms": "10"}, {"state": "LOST", "time_ms": "20", "attempt": 1,
                                                                 "agent": "a1", "epoch": "3"}]}))
    assert runs[0].transitions == (Transition("PENDING", 10), Transition("LOST", 20, 1, "a1", 3))
    assert runs[0].idempotency_key == ""
    runs = load_final_runs(write_lines(tmp_path / "f4", {
        "run_id": "r1", "state": "KILLED", "attempt": 1, "idempotency_key": "r-2-17",
        "transitions": [{"state": "KILLED", "time_ms": 20, "attempt": 1, "cause": "killed (orphan policy)"}]}))
    assert runs[0].idempotency_key == "r-2-17"
    assert runs[0].transitions == (Transition("KILLED", 20, 1, cause="killed (orphan policy)"),)
    with pytest.raises(HistoryError, match=r":2: run r1 already reported on line 1"):
        load_final_runs(write_lines(tmp_path / "f2", {"run_id": "r1", "state": "QUEUED"},
                                    {"run_id": "r1", "state": "QUEUED"}))
    with pytest.raises(HistoryError, match=r":1: field 'transitions\[0\]\.time_ms' must be an integer"):
        load_final_runs(write_lines(tmp_path / "f3", {"run_id": "r1", "state": "LOST",
                                                      "transitions": [{"state": "LOST", "time_ms": 1.5}]}))
    (tmp_path / "d.json").write_text(json.dumps({"r1": [10, "ab"], "r2": [10, "ab"]}))
    assert load_digests(tmp_path / "d.json") == {"r1": Digest(10, "ab"), "r2": Digest(10, "ab")}
    (tmp_path / "d2.json").write_text(json.dumps({"r1": [10]}))
    with pytest.raises(HistoryError, match="replica 'r1'"):
        load_digests(tmp_path / "d2.json")


# --- writer --------------------------------------------------------------------------------------


def test_history_writer_round_trip_with_threads(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    threads, per_thread = 8, 50
    with HistoryWriter(path) as writer:

        def work(process: int) -> None:
            for i in range(per_thread):
                index = writer.invoke(process, "apply_job", f"k-{process}-{i}", {"name": f"j-{process}-{i}"})
                writer.complete(index, ("ok", "fail", "info")[i % 3], {"version": i} if i % 3 == 0 else None)

        workers = [threading.Thread(target=work, args=(p,)) for p in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        dangling = writer.invoke(99, "read_jobs", "")  # never completed: reads back as info

    events = load_history(path)
    assert [e.index for e in events] == list(range(2 * threads * per_thread + 1))
    ops = pair_operations(events, str(path))
    assert len(ops) == threads * per_thread + 1
    for op in ops:
        if op.process == 99:
            assert (op.invoke_index, op.type, op.complete_index) == (dangling, "info", None)
            continue
        _, p, i = op.key.split("-")
        assert op.get("name") == f"j-{p}-{i}"
        assert op.type == ("ok", "fail", "info")[int(i) % 3]
        assert op.result == ({"version": int(i)} if int(i) % 3 == 0 else {})


def test_history_writer_continues_and_refuses_bad_completions(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path, clock=lambda: 1.0) as writer:
        first = writer.invoke(1, "delete_job", "k1", {"name": "j"})
        second = writer.invoke(1, "delete_job", "k2", {"name": "j"})
        with pytest.raises(ValueError, match="superseded"):
            writer.complete(first, "ok")
        with pytest.raises(ValueError, match="completion type"):
            writer.complete(second, "done")  # type: ignore[arg-type]
        writer.complete(second, "ok")
        with pytest.raises(ValueError, match="already completed"):
            writer.complete(second, "ok")
    with HistoryWriter(path) as writer:
        assert writer.invoke(2, "read_jobs", "") == 3
    assert [op.type for op in pair_operations(load_history(path))] == ["info", "ok", "info"]


# --- registry and loading ------------------------------------------------------------------------


def test_registry_holds_builtins_and_refuses_duplicates() -> None:
    assert [c.name for c in REGISTRY][:8] == [
        "acknowledged_writes", "no_double_execution", "no_stale_epoch_start", "stale_rejections_observed",
        "no_overlap", "no_stuck_runs", "equal_digests", "acknowledged_runs_final"]
    names = [c.name for c in REGISTRY]
    for name in ("outcomes_match_records", "nothing_alive_at_end", "one_run_per_key"):
        assert name in names
    with pytest.raises(ValueError, match="already registered"):
        register(NoStuckRuns())


def test_check_all_on_empty_data_passes_and_reports_raising_checker() -> None:
    assert all(f.ok for f in check_all(RunData()))

    class Broken:
        name = "broken"

        def check(self, data: RunData) -> Finding:
            raise RuntimeError("boom")

    (finding,) = check_all(RunData(), [Broken()])
    assert (finding.checker, finding.ok) == ("broken", False)
    assert "boom" in finding.summary


def test_run_data_load(tmp_path: Path) -> None:
    h = H().apply(1, "j", version=1).invoke(2, "trigger_run", job="j").done(2, "ok", run_id="r1").read(1, {"j": 1})
    write_lines(tmp_path / "history.jsonl", *[
        {"index": e.index, "process": e.process, "type": e.type, "f": e.f, "key": e.key, "value": e.value,
         "time": e.time} for e in h.events])
    trigger_key = h.events[2].key
    rec = {"run": "r1", "attempt": 1, "epoch": 1, "agent": "a1"}
    write_lines(tmp_path / "executions.jsonl", {**rec, "event": "start", "time_ns": 5, "accepted_ns": 4},
                {**rec, "event": "alive", "time_ns": 6}, {**rec, "event": "end", "time_ns": 7, "code": 0})
    write_lines(tmp_path / "final_runs.jsonl", {
        "run_id": "r1", "job": "j", "state": "SUCCEEDED", "attempt": 1, "idempotency_key": trigger_key,
        "transitions": [
            {"state": "QUEUED", "time_ms": "1", "cause": "manual run"},
            {"state": "DISPATCHED", "time_ms": "2", "attempt": 1, "agent": "a1", "epoch": "1", "cause": "placed on a1"},
            {"state": "RUNNING", "time_ms": "3", "attempt": 1, "agent": "a1", "epoch": "1"},
            {"state": "SUCCEEDED", "time_ms": "4", "attempt": 1, "agent": "a1", "epoch": "1", "cause": "exit code 0"}]})
    write_lines(tmp_path / "agent_epochs.jsonl", {"agent": "a1", "epoch": 1, "time_ns": 1})
    (tmp_path / "digests.json").write_text(json.dumps({"n1": [10, "ab"], "n2": [10, "ab"]}))
    data = RunData.load(tmp_path, expect_rejections=True, members=["n1", "n2"], settled_ns=100, recorded_jobs=["j"])
    assert len(data.operations) == 3 and len(data.final_runs) == 1 and data.missing == []
    assert (data.members, data.settled_ns, data.recorded_jobs) == (["n1", "n2"], 100, frozenset({"j"}))
    assert [(e.event, e.code) for e in data.executions] == [("start", None), ("alive", None), ("end", 0)]
    (run,) = data.final_runs
    assert run.idempotency_key == trigger_key
    assert [t.cause for t in run.transitions] == ["manual run", "placed on a1", "", "exit code 0"]
    verdict = {f.checker: f for f in check_all(data)}
    assert verdict["stale_rejections_observed"].ok is False
    assert all(f.ok for name, f in verdict.items() if name != "stale_rejections_observed"), verdict
    assert "1 runs and 1 attempts" in verdict["outcomes_match_records"].summary

    empty = RunData.load(tmp_path / "nothing-here")
    assert empty.missing == ["history.jsonl", "executions.jsonl", "agent_epochs.jsonl", "final_runs.jsonl",
                             "digests.json"]
    assert (empty.members, empty.settled_ns, empty.recorded_jobs) == ([], 0, frozenset())
    assert all(f.ok for f in check_all(empty))


def test_details_are_capped() -> None:
    runs = [final_run(f"r{i}", "RUNNING") for i in range(MAX_DETAILS + 5)]
    finding = NoStuckRuns().check(RunData(final_runs=runs))
    assert not finding.ok and len(finding.details) == MAX_DETAILS
    assert finding.summary == f"{MAX_DETAILS + 5} runs not final (first {MAX_DETAILS} shown)"


# --- 1. acknowledged_writes ----------------------------------------------------------------------


def test_acknowledged_writes_pass() -> None:
    h = (H().apply(1, "kept", version=1).apply(1, "kept", version=2)
         .apply(1, "gone", version=1).delete(1, "gone")
         .apply(1, "maybe", "info")
         .apply(1, "refused", "fail")
         .apply(1, "back", version=1).delete(1, "back").apply(1, "back", "info"))
    # a delete of "racy" still in flight when the apply is acknowledged may be ordered after it
    h.apply(2, "racy", version=1).invoke(3, "delete_job", name="racy").apply(2, "racy", version=2).done(3, "info")
    # an apply acknowledged only after the read started may or may not be visible
    h.invoke(4, "apply_job", name="late").read(1, {"kept": 2, "back": 3}).done(4, "ok", version=1)
    finding = AcknowledgedWrites().check(RunData(operations=h.ops()))
    assert finding.ok, finding


@pytest.mark.parametrize(("history", "needles"), [
    (H().apply(1, "lost", version=1).read(1, {}), ("apply_job lost", "absent")),
    (H().apply(1, "old", version=3).read(1, {"old": 2}), ("apply_job old", "version 3", "version 2")),
    (H().apply(1, "zombie", version=1).delete(1, "zombie").read(1, {"zombie": 1}), ("delete_job zombie",)),
    (H().apply(1, "ghost", "fail").read(1, {"ghost": 1}), ("apply_job ghost", "failed")),
    # a failed delete cannot explain the absence of an acknowledged apply
    (H().apply(1, "kept", version=1).delete(1, "kept", "fail").read(1, {}), ("apply_job kept", "absent")),
    # a delete that completed before the apply was invoked cannot undo it
    (H().delete(1, "redo").apply(1, "redo", version=2).read(1, {}), ("apply_job redo", "absent")),
    (H().apply(1, "unread", version=1), ("unread", "no final read")),
])
def test_acknowledged_writes_violation(history: H, needles: tuple[str, ...]) -> None:
    finding = AcknowledgedWrites().check(RunData(operations=history.ops()))
    assert not finding.ok
    assert names_in(finding, *needles), finding.details


# --- 2. no_double_execution ----------------------------------------------------------------------


def test_no_double_execution() -> None:
    ok = [start("r1", 1, 10), end("r1", 1, 20), start("r1", 2, 30, "a2"), start("r2", 1, 15)]
    assert NoDoubleExecution().check(RunData(executions=ok)).ok
    bad = NoDoubleExecution().check(RunData(executions=[*ok, start("r1", 2, 31, "a3", epoch=2)]))
    assert not bad.ok
    assert names_in(bad, "r1 attempt 2 started 2 times", "a2", "a3")


# --- 3. epochs -----------------------------------------------------------------------------------


def test_no_stale_epoch_start() -> None:
    epochs = [EpochAdopted("a1", 2, 100), EpochAdopted("a1", 3, 200), EpochAdopted("a2", 5, 100)]
    ok = [start("r1", 1, 150, epoch=2), start("r2", 1, 200, epoch=2),  # adopted at the same instant: not before
          start("r3", 1, 250, epoch=3), start("r4", 1, 50, "a2", epoch=1)]
    assert NoStaleEpochStart().check(RunData(executions=ok, epochs=epochs)).ok
    bad = NoStaleEpochStart().check(RunData(executions=[*ok, start("r6", 1, 201, epoch=2)], epochs=epochs))
    assert not bad.ok
    assert names_in(bad, "r6 attempt 1", "a1", "epoch 2", "epoch 3")


def test_start_by_agent_missing_from_the_epoch_log() -> None:
    epochs = [EpochAdopted("a1", 2, 100)]
    unknown = NoStaleEpochStart().check(RunData(executions=[start("r5", 1, 50, "a9", epoch=4)], epochs=epochs))
    assert not unknown.ok
    assert names_in(unknown, "r5 attempt 1 on a9", "epoch 4", "no adoption by a9")
    # an empty log was not collected: nothing to judge the start against
    assert NoStaleEpochStart().check(RunData(executions=[start("r5", 1, 50, "a9", epoch=4)])).ok


def test_stale_epoch_judged_at_acceptance_when_recorded() -> None:
    epochs = [EpochAdopted("a1", 2, 100)]
    # Accepted under epoch 1 just before the adoption; the process exec'd just after: legitimate.
    late_exec = ExecutionRecord("r1", 1, 1, "a1", "start", 120, accepted_ns=90)
    assert NoStaleEpochStart().check(RunData(executions=[late_exec], epochs=epochs)).ok
    # Accepted under epoch 1 after the agent had adopted epoch 2: a fencing failure.
    stale = ExecutionRecord("r2", 1, 1, "a1", "start", 120, accepted_ns=110)
    bad = NoStaleEpochStart().check(RunData(executions=[stale], epochs=epochs))
    assert not bad.ok and names_in(bad, "r2 attempt 1", "epoch 2")


def test_rejection_record_proves_the_highest_epoch() -> None:
    epochs = [EpochRejected("a1", 2, 4, 100)]
    bad = NoStaleEpochStart().check(RunData(executions=[start("r1", 1, 150, epoch=3)], epochs=epochs))
    assert not bad.ok and names_in(bad, "r1", "epoch 4")


def test_stale_rejections_observed() -> None:
    adopted = [EpochAdopted("a1", 1, 10), EpochAdopted("a1", 2, 20)]
    quiet = StaleRejectionsObserved().check(RunData(epochs=adopted))
    assert quiet.ok and quiet.summary == "not expected in this run"
    seen = StaleRejectionsObserved().check(RunData(epochs=[*adopted, EpochRejected("a1", 1, 2, 30)],
                                                   expect_rejections=True))
    assert seen.ok
    missing = StaleRejectionsObserved().check(RunData(epochs=adopted, expect_rejections=True))
    assert not missing.ok
    assert names_in(missing, "a1", "rejected none")


# --- 4. no_overlap -------------------------------------------------------------------------------


def test_no_overlap_pass() -> None:
    ex = [start("r1", 1, 100), alive("r1", 1, 150), end("r1", 1, 200), start("r1", 2, 200, "a2"),
          end("r1", 2, 300, "a2"), start("r2", 1, 100), start("r3", 1, 100)]
    finding = NoOverlap().check(RunData(executions=ex))
    assert finding.ok and finding.summary == "4 attempts of 3 runs never overlapped"


def test_no_overlap_violation_with_ends() -> None:
    ex = [start("r1", 1, 100), end("r1", 1, 250), start("r1", 2, 200, "a2"), end("r1", 2, 300, "a2")]
    finding = NoOverlap().check(RunData(executions=ex))
    assert not finding.ok
    assert names_in(finding, "r1", "attempt 1 on a1 [100 .. 250]", "attempt 2 on a2 [200")


def test_beats_after_the_next_attempt_started_overlap() -> None:
    # Attempt 1 was declared LOST and never wrote an end, but its process kept beating after
    # attempt 2 started elsewhere: the cluster's LOST transition must not bound it.
    lost = (*ran(1), tr("LOST"), tr("QUEUED"), *ran(2, "a2"))
    runs = [final_run("r1", attempt=2, transitions=lost)]
    ex = [start("r1", 1, 100), alive("r1", 1, 300), alive("r1", 1, 500), start("r1", 2, 400, "a2"),
          end("r1", 2, 600, "a2")]
    finding = NoOverlap().check(RunData(executions=ex, final_runs=runs, orphan_kill=True))
    assert not finding.ok
    assert names_in(finding, "r1", "attempt 1 on a1 [100 .. 500] (3 records)", "attempt 2 on a2 [400 .. 600]")


def test_last_beat_before_the_next_start_passes() -> None:
    ex = [start("r1", 1, 100), alive("r1", 1, 300), start("r1", 2, 400, "a2"), alive("r1", 2, 600, "a2")]
    assert NoOverlap().check(RunData(executions=ex)).ok
    # a start alone is a point: it overlaps only an attempt alive on both sides of it
    inside = [start("r1", 1, 100), alive("r1", 1, 300), start("r1", 2, 200, "a2")]
    finding = NoOverlap().check(RunData(executions=inside))
    assert not finding.ok and names_in(finding, "attempt 2 on a2 [200 .. 200]")


# --- 5. no_stuck_runs ----------------------------------------------------------------------------


def test_no_stuck_runs() -> None:
    finals = [final_run(f"r{i}", s) for i, s in enumerate(["SUCCEEDED", "FAILED", "TIMED_OUT", "KILLED", "SKIPPED"])]
    assert NoStuckRuns().check(RunData(final_runs=finals)).ok
    bad = NoStuckRuns().check(RunData(final_runs=[*finals, final_run("r9", "RETRY_WAIT"),
                                                  final_run("r10", "RUN_STATE_UNSPECIFIED"), final_run("r11", "LOST")]))
    assert not bad.ok
    assert names_in(bad, "r9", "RETRY_WAIT") and names_in(bad, "r10", "unknown state")
    # the state machine always leaves LOST (retry, or the lost policy's verdict): a run left there is stuck
    assert names_in(bad, "r11", "is LOST")


# --- 6. equal_digests ----------------------------------------------------------------------------


def test_equal_digests() -> None:
    same = {"r1": Digest(10, "ab"), "r2": Digest(10, "ab"), "r3": Digest(10, "ab")}
    assert EqualDigests().check(RunData(digests=same)).ok
    behind = EqualDigests().check(RunData(digests={**same, "r3": Digest(9, "cd")}))
    assert not behind.ok and "9, 10" in behind.summary
    assert names_in(behind, "r3", "applied index 9") and names_in(behind, "r1", "applied index 10")
    diverged = EqualDigests().check(RunData(digests={**same, "r2": Digest(10, "ee")}))
    assert not diverged.ok and names_in(diverged, "r2", "ee")


def test_equal_digests_requires_every_member() -> None:
    same = {"r1": Digest(10, "ab"), "r2": Digest(10, "ab")}
    assert EqualDigests().check(RunData(digests=same, members=["r1", "r2"])).ok
    silent = EqualDigests().check(RunData(digests=same, members=["r1", "r2", "r3"]))
    assert not silent.ok and silent.summary == "1 of 3 members reported no digest"
    assert names_in(silent, "r3") and not names_in(silent, "r1")
    none = EqualDigests().check(RunData(members=["r1", "r2"]))
    assert not none.ok and names_in(none, "r1") and names_in(none, "r2")


# --- 7. acknowledged_runs_final ------------------------------------------------------------------


def _trigger(h: H, process: int, job: str, type: str = "ok", run_id: str | None = None) -> H:
    h.invoke(process, "trigger_run", job=job)
    return h.done(process, type, **({"run_id": run_id} if run_id else {}))


def test_acknowledged_runs_final_pass() -> None:
    h = _trigger(_trigger(_trigger(H(), 1, "j", run_id="r1"), 1, "j", "info"), 2, "j", "fail")
    runs = [final_run("r1", "SKIPPED"), final_run("r2", "RUNNING")]  # r2 was never acknowledged
    assert AcknowledgedRunsFinal().check(RunData(operations=h.ops(), final_runs=runs)).ok


@pytest.mark.parametrize(("runs", "needles"), [
    ([], ("r1", "missing")),
    ([final_run("r1", "QUEUED")], ("r1", "QUEUED")),
    ([final_run("r1", "LOST")], ("r1", "LOST", "not final")),
    ([final_run("r1", job="other")], ("r1", "other")),
])
def test_acknowledged_runs_final_violation(runs: list[FinalRun], needles: tuple[str, ...]) -> None:
    h = _trigger(H(), 1, "j", run_id="r1")
    finding = AcknowledgedRunsFinal().check(RunData(operations=h.ops(), final_runs=runs))
    assert not finding.ok
    assert names_in(finding, *needles), finding.details


def test_monotonic_state_time() -> None:
    from chaos.checkers import MonotonicStateTime
    from chaos.history import FinalRun, Transition

    def run(run_id: str, t: int) -> FinalRun:
        return FinalRun(run_id, "j", "SUCCEEDED", 1, (Transition("QUEUED", t),))

    ok = [run("r1", 100), run("r2", 100), run("r10", 300), run("r3", 200)]  # ids sort numerically
    assert MonotonicStateTime().check(RunData(final_runs=ok)).ok
    bad = MonotonicStateTime().check(RunData(final_runs=[*ok, run("r11", 250)]))
    assert not bad.ok and names_in(bad, "r11", "r10")


# --- 8. outcomes_match_records -------------------------------------------------------------------


def _outcomes(runs: list[FinalRun], executions: list[ExecutionRecord], ops: list[Operation] | None = None) -> Finding:
    return RecordsExplainOutcomes().check(RunData(operations=ops or [], executions=executions, final_runs=runs,
                                                  recorded_jobs=frozenset({"j"})))


def _kill(run_id: str, type: str = "ok") -> list[Operation]:
    return H().invoke(1, "kill_run", run_id=run_id).done(1, type, run_id=run_id).ops()


def test_outcomes_match_records_pass() -> None:
    runs = [
        # started under a newer leader's epoch than the dispatch carried: a re-sent attempt
        final_run("r1", transitions=(tr("QUEUED", 0), *ran(1, "a1", 1), tr("SUCCEEDED", epoch=2))),
        final_run("r2", "FAILED", transitions=(*ran(), tr("LOST"), tr("FAILED", cause="agent a1 lost"))),
        final_run("r3", "FAILED", transitions=(*ran(), tr("FAILED", cause="exit code 3"))),
        final_run("r4", "KILLED", transitions=(*ran(), tr("KILLED", cause="killed"))),
        final_run("r5", "KILLED", transitions=(*ran(), tr("KILLED", cause="killed (orphan policy: lease expired)"))),
        final_run("r6", "TIMED_OUT", transitions=(*ran(), tr("TIMED_OUT", cause="timed out"))),
        # attempt 1 was lost before its process wrote anything; attempt 2 succeeded elsewhere
        final_run("r7", attempt=2, transitions=(*ran(1), tr("LOST"), tr("QUEUED"), *ran(2, "a2"), tr("SUCCEEDED", 2))),
        final_run("r8", "KILLED", transitions=(*ran(), tr("KILLED", cause="kill requested"))),  # killed before start
        final_run("r9", job="unrecorded", transitions=ran()),  # not a recorded job: not judged
        final_run("r10", "SKIPPED", attempt=0),
    ]
    ex = [start("r1", 1, 10, epoch=2), alive("r1", 1, 20, epoch=2), end("r1", 1, 30, epoch=2),
          start("r2", 1, 10), alive("r2", 1, 20),
          start("r3", 1, 10), end("r3", 1, 20, code=3),
          start("r4", 1, 10), start("r5", 1, 10), start("r6", 1, 10), end("r6", 1, 90, code=-15),
          start("r7", 2, 50, "a2"), end("r7", 2, 60, "a2")]
    finding = _outcomes(runs, ex, _kill("r4") + H().invoke(1, "kill_run", run_id="r8").ops())  # info kill
    assert finding.ok, finding
    # r7 has two attempts and r10 none; r9 is not a recorded job
    assert finding.summary.startswith("9 runs and 9 attempts") and "(2 attempts LOST or KILLED" in finding.summary


@pytest.mark.parametrize(("runs", "executions", "ops", "needles"), [
    ([final_run("r1", transitions=(*ran(), tr("SUCCEEDED")))], [start("r1", 1, 10), end("r1", 1, 20),
                                                               start("r99", 1, 10)], [],
     ("start record for unknown run", "r99 attempt 1")),
    ([final_run("r1", "FAILED", transitions=(*ran(1, "a1"), tr("LOST")))], [start("r1", 1, 10, "a2")], [],
     ("r1 attempt 1 on a2", "dispatched to a1")),
    ([final_run("r1", "FAILED", transitions=(*ran(1, "a1", 3), tr("LOST")))], [start("r1", 1, 10, epoch=2)], [],
     ("r1 attempt 1 on a1 epoch 2", "older than its dispatch", "epoch 3")),
    ([final_run("r1", transitions=(*ran(), tr("SUCCEEDED")))], [start("r1", 1, 10), end("r1", 1, 20, code=1)], [],
     ("r1 (job j) ended SUCCEEDED", "dispatched to a1", "end code 1")),
    ([final_run("r1", transitions=(*ran(), tr("SUCCEEDED")))], [start("r1", 1, 10)], [],
     ("r1 (job j) ended SUCCEEDED", "start on a1")),
    ([final_run("r1", "FAILED", transitions=(*ran(), tr("FAILED", cause="exit code 1")))],
     [start("r1", 1, 10), end("r1", 1, 20)], [],
     ("r1 (job j) ended FAILED but the job's own records show", "end code 0", "exit code 1")),
    ([final_run("r1", "FAILED", transitions=(*ran(), tr("FAILED", cause="could not start: no such user")))],
     [start("r1", 1, 10)], [], ("r1 (job j) ended FAILED but nothing explains it", "no such user")),
    ([final_run("r1", "KILLED", transitions=(*ran(), tr("KILLED", cause="killed")))], [start("r1", 1, 10)],
     _kill("r1", "fail"), ("r1 (job j) ended KILLED but nothing explains it", "'killed'")),
    # an orphan kill of an earlier attempt explains nothing about the last one
    ([final_run("r1", "KILLED", attempt=2, transitions=(
        *ran(1), tr("LOST", cause="agent a1 lost"), tr("KILLED", 1, cause="late report (orphan kill)"),
        *ran(2), tr("KILLED", 2, cause="killed")))], [start("r1", 1, 10), start("r1", 2, 20)], [],
     ("r1 (job j) ended KILLED",)),
    ([final_run("r1", "TIMED_OUT", transitions=(*ran(), tr("TIMED_OUT")))], [start("r1", 1, 10), end("r1", 1, 20)],
     [], ("r1 (job j) ended TIMED_OUT", "finished cleanly", "end code 0")),
    ([final_run("r1", transitions=(*ran(), tr("SUCCEEDED"))), final_run("r2", "TIMED_OUT", transitions=ran())],
     [start("r1", 1, 10), end("r1", 1, 20)], [], ("r2 attempt 1 (job j) was RUNNING without a start record",)),
])
def test_outcomes_match_records_violation(runs: list[FinalRun], executions: list[ExecutionRecord],
                                          ops: list[Operation], needles: tuple[str, ...]) -> None:
    finding = _outcomes(runs, executions, ops)
    assert not finding.ok
    assert names_in(finding, *needles), finding.details


def test_outcomes_never_pass_without_records() -> None:
    runs = [final_run("r1", transitions=(*ran(), tr("SUCCEEDED"))), final_run("r2", "SKIPPED", attempt=0)]
    finding = _outcomes(runs, [])
    assert not finding.ok and finding.summary == "no execution records although 1 attempts ran"
    assert names_in(finding, "r1 attempt 1")
    # no recorded job named: the runner did not ask for the check
    unasked = RecordsExplainOutcomes().check(RunData(final_runs=runs))
    assert unasked.ok and unasked.summary == "nothing to check: no recorded jobs"


# --- 9. nothing_alive_at_end ---------------------------------------------------------------------


def test_nothing_alive_at_end() -> None:
    settled = 10**9
    runs = [final_run("r1"), final_run("r2", "RUNNING")]
    quiet = [start("r1", 1, 100), end("r1", 1, settled), alive("r2", 1, settled + 10**6),  # r2 is not final
             start("r9", 1, settled + 10**6)]  # not in the final runs: outcomes_match_records reports it
    assert NothingAliveAtEnd().check(RunData(executions=quiet, final_runs=runs, settled_ns=settled)).ok
    orphan = [alive("r1", 1, settled + 5 * 10**6, "a2"), alive("r1", 1, settled + 250 * 10**6, "a2")]
    finding = NothingAliveAtEnd().check(RunData(executions=quiet + orphan, final_runs=runs, settled_ns=settled))
    assert not finding.ok and len(finding.details) == 1
    assert names_in(finding, "r1 attempt 1 on a2 still alive 250 ms after everything was final", "alive")


def test_nothing_alive_at_end_needs_the_settling_time() -> None:
    unmeasured = NothingAliveAtEnd().check(RunData(final_runs=[final_run("r1")], executions=[start("r1", 1, 5)]))
    assert not unmeasured.ok
    assert unmeasured.summary == "not measured: the runner did not record when the runs settled"
    empty = NothingAliveAtEnd().check(RunData())
    assert empty.ok and empty.summary.startswith("nothing to check")


# --- 10. one_run_per_key -------------------------------------------------------------------------


def _keyed_trigger(h: H, key: str, run_id: str, type: str = "ok") -> H:
    return h.invoke(1, "trigger_run", key, job="j").done(1, type, job="j", run_id=run_id)


def _keyed_apply(h: H, key: str, version: int) -> H:
    return h.invoke(2, "apply_job", key, name="j").done(2, "ok", name="j", version=version)


def test_one_run_per_key_pass() -> None:
    h = _keyed_trigger(_keyed_trigger(H(), "r-1", "r1"), "r-1", "r1")  # a client retry: the same run
    h = _keyed_trigger(_keyed_trigger(h, "r-2", "r2"), "r-3", "r3", "info")
    h = _keyed_apply(_keyed_apply(h, "w-1", 4), "w-1", 4)
    runs = [final_run("r1", key="r-1"), final_run("r2", key="r-2"), final_run("r3", key="r-3"),
            final_run("r4")]  # no key: a run the workload did not trigger
    finding = OneRunPerKey().check(RunData(operations=h.ops(), final_runs=runs))
    assert finding.ok, finding
    assert finding.summary == "3 run keys unique; 3 call keys checked, 2 repeated calls answered like the first"


def test_one_run_per_key_cannot_pass_without_keys() -> None:
    h = _keyed_trigger(H(), "r-1", "r1")
    finding = OneRunPerKey().check(RunData(operations=h.ops(), final_runs=[final_run("r1")]))
    assert not finding.ok and "no final run carries an idempotency key" in finding.summary
    assert names_in(finding, "trigger_run op 0", "r1")
    assert OneRunPerKey().check(RunData(final_runs=[final_run("r1")])).ok  # nothing acknowledged: nothing to tell


@pytest.mark.parametrize(("history", "runs", "needles"), [
    (_keyed_trigger(H(), "r-1", "r1"), [final_run("r1", key="r-1"), final_run("r2", key="r-1")],
     ("'r-1' is carried by 2 runs", "r1, r2")),
    (_keyed_trigger(H(), "r-1", "r1"), [final_run("r1", key="r-9")],
     ("r1 was returned by trigger_run", "'r-1'", "carries key 'r-9'")),
    (_keyed_trigger(_keyed_trigger(H(), "r-1", "r1"), "r-1", "r2"), [final_run("r1", key="r-1"), final_run("r2")],
     ("2 ok trigger_run calls with key 'r-1' returned different run_ids", "'r1'", "'r2'")),
    (_keyed_apply(_keyed_apply(_keyed_trigger(H(), "r-1", "r1"), "w-1", 1), "w-1", 2), [final_run("r1", key="r-1")],
     ("2 ok apply_job calls with key 'w-1' returned different versions", "1 (op", "2 (op")),
])
def test_one_run_per_key_violation(history: H, runs: list[FinalRun], needles: tuple[str, ...]) -> None:
    finding = OneRunPerKey().check(RunData(operations=history.ops(), final_runs=runs))
    assert not finding.ok
    assert names_in(finding, *needles), finding.details


# --- final specs, placement, logs ----------------------------------------------------------------


def _specs_history(final_spec: str, second_version: int = 2) -> H:
    h = H()
    h.invoke(0, "apply_job", name="j-0-1", spec="aaa").done(0, "ok", version=1)
    h.invoke(0, "apply_job", name="j-0-1", spec="bbb").done(0, "ok", version=second_version)
    h.invoke(0, "apply_job", key="k3", name="j-0-1", spec="bbb", repeat=True).done(0, "ok", version=second_version)
    return h.invoke(9, "read_jobs").done(9, "ok", jobs={"j-0-1": second_version}, specs={"j-0-1": final_spec})


def test_final_specs_pass() -> None:
    found = FinalSpecs().check(RunData(operations=_specs_history("bbb").ops()))
    assert found.ok, found


def test_final_specs_catch_content_of_another_write() -> None:
    found = FinalSpecs().check(RunData(operations=_specs_history("aaa").ops()))
    assert not found.ok and "j-0-1 at version 2 holds spec aaa" in found.details[0]


def test_final_specs_catch_a_version_that_went_backwards() -> None:
    found = FinalSpecs().check(RunData(operations=_specs_history("bbb", second_version=1).ops()))
    assert not found.ok and "acknowledged version 1 after version 1" in found.details[0]


def test_final_specs_without_specs_in_the_final_read_fail() -> None:
    h = H().invoke(0, "apply_job", name="x", spec="aaa").done(0, "ok", version=1).read(9, {"x": 1})
    found = FinalSpecs().check(RunData(operations=h.ops()))
    assert not found.ok and "no final read with specs" in found.summary


def test_placement_respects_selectors() -> None:
    good = final_run("r1", job="picky", transitions=ran(1, "a1"))
    bad = final_run("r2", job="picky", transitions=ran(1, "a2"))
    other = final_run("r3", job="any", transitions=ran(1, "a2"))
    allowed = {"picky": frozenset({"a1"})}
    ok = PlacementRespectsSelectors().check(RunData(final_runs=[good, other], allowed_agents=allowed,
                                                    executions=[start("r1", 1, 5, "a1")]))
    assert ok.ok and "1 dispatches" in ok.summary
    found = PlacementRespectsSelectors().check(RunData(final_runs=[good, bad], allowed_agents=allowed,
                                                       executions=[start("r2", 1, 5, "a2")]))
    assert not found.ok and any("r2 (job picky) attempt 1 was dispatched to a2" in d for d in found.details)
    assert any("r2 attempt 1 started on a2" in d for d in found.details)


def test_logs_complete() -> None:
    runs = [final_run("r1", job="out"), final_run("r2", job="out")]
    h = H()
    h.invoke(0, "read_logs", run_id="r1").done(0, "ok", bytes=100, complete=True, source="agent")
    h.invoke(0, "read_logs", run_id="r2").done(0, "ok", bytes=40, complete=False, source="state")
    assert LogsComplete().check(RunData(operations=h.ops(), final_runs=runs, output_bytes={"out": 100})).ok
    h.invoke(0, "read_logs", run_id="r2").done(0, "ok", bytes=99, complete=True, source="agent")
    found = LogsComplete().check(RunData(operations=h.ops(), final_runs=runs, output_bytes={"out": 100}))
    assert not found.ok and "r2: read 99 bytes" in found.details[0]


def test_logs_complete_fails_when_no_read_proved_anything() -> None:
    h = H().invoke(0, "read_logs", run_id="r1").done(0, "ok", bytes=4, complete=False, source="state")
    found = LogsComplete().check(RunData(operations=h.ops(), final_runs=[final_run("r1", job="out")],
                                         output_bytes={"out": 100}))
    assert not found.ok and "nothing was proved" in found.summary

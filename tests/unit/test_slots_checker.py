"""The chaos suite's slots_exactly_once checker, on histories that keep and that break it."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.checkers import RunData, SlotsExactlyOnce
from chaos.history import ExecutionRecord, FinalRun, MisfireRecord, ScheduleRecord, load_schedules

S = 1_800_000_000_000  # a slot, ms


def run(run_id: str, slot: int, created: int | None = None) -> FinalRun:
    return FinalRun(run_id=run_id, job="cron", state="SUCCEEDED", attempt=1, slot_ms=slot,
                    created_ms=slot + 30 if created is None else created)


def start(run_id: str, slot: int, at_ms: int | None = None) -> ExecutionRecord:
    return ExecutionRecord(run=run_id, attempt=1, epoch=1, agent="a1", event="start",
                           time_ns=((slot + 50) if at_ms is None else at_ms) * 1_000_000, slot_ms=slot)


def data(runs: list[FinalRun], misfires: tuple[MisfireRecord, ...] = (), last: int = S + 5000,
         executions: list[ExecutionRecord] | None = None, fired: int | None = None,
         misfired: int | None = None) -> RunData:
    count = sum(m.count for m in misfires)
    record = ScheduleRecord(job="cron", every_ms=1000, grace_ms=2000, last_slot_ms=last,
                            fired=len({r.slot_ms for r in runs}) if fired is None else fired,
                            misfired=count if misfired is None else misfired, misfires=misfires)
    return RunData(final_runs=runs, schedules=[record], scheduled_jobs=frozenset({"cron"}),
                   executions=[start(r.run_id, r.slot_ms) for r in runs] if executions is None else executions)


GOOD_RUNS = [run(f"r{i}", S + i * 1000) for i in (0, 1, 4, 5)]
GOOD_MISFIRES = (MisfireRecord(S + 2000, S + 3000, 2, "late"),)


def check(d: RunData) -> list[str]:
    finding = SlotsExactlyOnce().check(d)
    return [] if finding.ok else finding.details


def test_every_slot_fired_or_recorded_passes() -> None:
    finding = SlotsExactlyOnce().check(data(GOOD_RUNS, GOOD_MISFIRES))
    assert finding.ok, finding.details
    assert "6 slots, 4 fired (0 late), 2 misfires (2 late)" in finding.summary


def test_a_duplicate_slot_fails() -> None:
    assert any("fired 2 times" in p for p in check(data([*GOOD_RUNS, run("r9", S + 1000)], GOOD_MISFIRES)))


def test_a_missed_slot_fails() -> None:
    assert any(f"slot {S + 3000} neither fired" in p
               for p in check(data(GOOD_RUNS, (MisfireRecord(S + 2000, S + 2000, 1, "late"),))))


def test_fired_and_misfired_fails() -> None:
    misfires = (MisfireRecord(S + 1000, S + 3000, 3, "late"),)
    assert any("both fired" in p for p in check(data(GOOD_RUNS, misfires, misfired=3)))


def test_a_slot_after_the_last_decided_one_fails() -> None:
    assert any("outside" in p for p in check(data([*GOOD_RUNS, run("r9", S + 7000)], GOOD_MISFIRES)))


def test_counters_that_disagree_fail() -> None:
    assert any("the schedule counts" in p for p in check(data(GOOD_RUNS, GOOD_MISFIRES, fired=5)))


def test_a_malformed_misfire_range_fails() -> None:
    assert any("does not hold" in p for p in check(data(GOOD_RUNS, (MisfireRecord(S + 2000, S + 3000, 3, "late"),))))


def test_an_execution_for_another_slot_or_before_its_slot_fails() -> None:
    wrong = [start(r.run_id, r.slot_ms) for r in GOOD_RUNS[1:]] + [start("r0", S + 1000)]
    assert any("ran for slot" in p for p in check(data(GOOD_RUNS, GOOD_MISFIRES, executions=wrong)))
    early = [start(r.run_id, r.slot_ms) for r in GOOD_RUNS[1:]] + [start("r0", S, at_ms=S - 5)]
    assert any("before its slot" in p for p in check(data(GOOD_RUNS, GOOD_MISFIRES, executions=early)))


def test_no_evidence_never_passes() -> None:
    assert not SlotsExactlyOnce().check(data([], GOOD_MISFIRES)).ok
    assert not SlotsExactlyOnce().check(RunData(scheduled_jobs=frozenset({"cron"}))).ok


def test_late_firings_are_counted_not_failed() -> None:
    runs = [*GOOD_RUNS[:-1], run("r5", S + 5000, created=S + 9000)]
    finding = SlotsExactlyOnce().check(data(runs, GOOD_MISFIRES))
    assert finding.ok and "(1 late)" in finding.summary


def test_schedules_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "schedules.json"
    path.write_text(json.dumps({"cron": {"every_ms": 1000, "grace_ms": 2000, "last_slot_ms": S, "fired": 1,
                                         "misfired": 2, "misfires": [{"first_slot_ms": S - 2000,
                                                                      "last_slot_ms": S - 1000, "count": 2,
                                                                      "reason": "late"}]}}))
    (rec,) = load_schedules(path)
    assert rec.misfires == (MisfireRecord(S - 2000, S - 1000, 2, "late"),) and rec.every_ms == 1000


def test_a_start_before_its_slot_is_explained_only_by_a_leader_clock_ahead() -> None:
    runs = [*GOOD_RUNS[:-1], run("r5", S + 5000)]
    early = [start(r.run_id, r.slot_ms) for r in runs[:-1]] + [start("r5", S + 5000, at_ms=S + 5000 - 3_000)]
    assert any("before its slot" in p for p in check(data(runs, GOOD_MISFIRES, executions=early)))
    d = data(runs, GOOD_MISFIRES, executions=early)
    d.clock_ahead_ms = 4_000
    finding = SlotsExactlyOnce().check(d)
    assert finding.ok and "1 early by a leader clock ahead" in finding.summary
    d.clock_ahead_ms = 2_000
    assert not SlotsExactlyOnce().check(d).ok

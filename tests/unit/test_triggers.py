"""Schedule triggers: cron in local time with each DST policy (Berlin, New York, Lord Howe's 30-minute
change), intervals, one-shot times, windows, several schedules, jitter (the same in every process)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from wloadctl.proto.v1 import jobs_pb2
from wloadctl.scheduler.preview import fire_times
from wloadctl.scheduler.triggers import jitter_ms, next_slot, schedule_problems, slots_after, slots_between

SKIP, SHIFT = jobs_pb2.DST_GAP_SKIP, jobs_pb2.DST_GAP_SHIFT
ONCE, TWICE = jobs_pb2.DST_REPEAT_ONCE, jobs_pb2.DST_REPEAT_TWICE


def cron(expr: str, tz: str = "", gap: int = SHIFT, repeat: int = ONCE, name: str = "j") -> jobs_pb2.JobSpec:
    spec = jobs_pb2.JobSpec(name=name, time_zone=tz, dst_gap=gap, dst_repeat=repeat)
    spec.schedules.add(cron=expr)
    return spec


def ms(text: str, tz: str = "UTC") -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return int(moment.timestamp() * 1000)


def local(spec: jobs_pb2.JobSpec, start: str, n: int) -> list[str]:
    """The next n slots as local ISO times with offsets, and their DST mark."""
    tz = ZoneInfo(spec.time_zone or "UTC")
    out = []
    for slot in itertools.islice(slots_after(spec, ms(start, spec.time_zone or "UTC")), n):
        text = datetime.fromtimestamp(slot.ms / 1000, UTC).astimezone(tz).isoformat()
        out.append(f"{text} {slot.dst}".strip())
    return out


# ---- DST: Europe/Berlin (2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00)

def test_berlin_spring_gap_shift_fires_at_the_change() -> None:
    assert local(cron("30 2 * * *", "Europe/Berlin"), "2026-03-28T12:00", 3) == [
        "2026-03-29T03:00:00+02:00 shifted", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_berlin_spring_gap_skip_leaves_the_day_out() -> None:
    assert local(cron("30 2 * * *", "Europe/Berlin", gap=SKIP), "2026-03-28T12:00", 2) == [
        "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_several_missing_times_shift_to_one_instant_and_fire_once() -> None:
    got = local(cron("*/15 2 * * *", "Europe/Berlin"), "2026-03-29T00:00", 2)
    assert got == ["2026-03-29T03:00:00+02:00 shifted", "2026-03-30T02:00:00+02:00"]


def test_berlin_fall_repeat_once_and_twice() -> None:
    assert local(cron("30 2 * * *", "Europe/Berlin"), "2026-10-24T12:00", 2) == [
        "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    assert local(cron("30 2 * * *", "Europe/Berlin", repeat=TWICE), "2026-10-24T12:00", 3) == [
        "2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00 repeated", "2026-10-26T02:30:00+01:00"]


def test_a_slot_between_the_two_occurrences_keeps_its_place() -> None:
    # After the first 02:30 (CEST) and before the second (CET): only the second is left.
    spec = cron("30 2 * * *", "Europe/Berlin", repeat=TWICE)
    after = ms("2026-10-25T02:45:00+02:00")
    slot = next_slot(spec, after)
    assert slot is not None and slot.ms == ms("2026-10-25T02:30:00+01:00") and slot.dst == "repeated"


# ---- America/New_York (2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00)

def test_new_york_spring_and_fall() -> None:
    assert local(cron("0 2 * * *", "America/New_York"), "2026-03-07T12:00", 2) == [
        "2026-03-08T03:00:00-04:00 shifted", "2026-03-09T02:00:00-04:00"]
    assert local(cron("0 2 * * *", "America/New_York", gap=SKIP), "2026-03-07T12:00", 1) == [
        "2026-03-09T02:00:00-04:00"]
    assert local(cron("*/30 1 * * *", "America/New_York", repeat=TWICE), "2026-10-31T12:00", 5) == [
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00 repeated",
        "2026-11-01T01:30:00-05:00 repeated", "2026-11-02T01:00:00-05:00"]
    assert local(cron("*/30 1 * * *", "America/New_York"), "2026-10-31T12:00", 3) == [
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"]


# ---- Australia/Lord_Howe: a 30-minute change (2026-10-04 02:00 -> 02:30, 2026-04-05 02:00 -> 01:30)

def test_lord_howe_half_hour_gap() -> None:
    assert local(cron("*/20 2 * * *", "Australia/Lord_Howe"), "2026-10-03T12:00", 3) == [
        "2026-10-04T02:30:00+11:00 shifted", "2026-10-04T02:40:00+11:00", "2026-10-05T02:00:00+11:00"]
    assert local(cron("*/20 2 * * *", "Australia/Lord_Howe", gap=SKIP), "2026-10-03T12:00", 2) == [
        "2026-10-04T02:40:00+11:00", "2026-10-05T02:00:00+11:00"]


def test_lord_howe_half_hour_repeat() -> None:
    assert local(cron("*/20 1 * * *", "Australia/Lord_Howe", repeat=TWICE), "2026-04-04T12:00", 5) == [
        "2026-04-05T01:00:00+11:00", "2026-04-05T01:20:00+11:00", "2026-04-05T01:40:00+11:00",
        "2026-04-05T01:40:00+10:30 repeated", "2026-04-06T01:00:00+10:30"]


# ---- other kinds, windows, combinations

def test_six_fields_put_seconds_first() -> None:
    spec = cron("*/20 * * * * *")
    start = ms("2026-12-01T00:00:00")
    assert [s.ms - start for s in itertools.islice(slots_after(spec, start), 4)] == [20_000, 40_000, 60_000, 80_000]


def test_interval_counts_from_start_in_utc() -> None:
    spec = jobs_pb2.JobSpec(name="j", time_zone="Europe/Berlin", start_ms=ms("2026-03-29T00:00:07"))
    spec.schedules.add(every_seconds=3600)
    slots = [s.ms for s in itertools.islice(slots_after(spec, 0), 4)]
    assert slots == [ms("2026-03-29T00:00:07") + i * 3_600_000 for i in range(4)]  # DST never moves it


def test_one_shot_fires_once() -> None:
    spec = jobs_pb2.JobSpec(name="j")
    spec.schedules.add(at_ms=ms("2027-01-04T08:00:00"))
    assert [s.ms for s in slots_after(spec, 0)] == [ms("2027-01-04T08:00:00")]
    assert next_slot(spec, ms("2027-01-04T08:00:00")) is None


def test_several_schedules_merge_and_the_same_instant_fires_once() -> None:
    spec = cron("0 * * * *")
    spec.schedules.add(cron="30 * * * *")
    spec.schedules.add(every_seconds=3600)  # on the hour too
    start = ms("2026-12-01T00:00:00")
    assert [(s.ms - start) // 60_000 for s in itertools.islice(slots_after(spec, start), 4)] == [30, 60, 90, 120]


def test_start_and_end_bound_the_slots() -> None:
    spec = cron("0 * * * *")
    spec.start_ms, spec.end_ms = ms("2026-12-01T10:30:00"), ms("2026-12-01T13:00:00")
    assert [s.ms for s in slots_after(spec, 0)] == [ms("2026-12-01T11:00:00"), ms("2026-12-01T12:00:00"),
                                                  ms("2026-12-01T13:00:00")]


def test_slots_between_is_bounded() -> None:
    spec = cron("* * * * * *")
    slots, more = slots_between(spec, 0, 10_000_000, 100)
    assert len(slots) == 100 and more
    slots, more = slots_between(spec, 0, 10_000, 100)
    assert [s.ms for s in slots] == list(range(1000, 10_001, 1000)) and not more


def test_jitter_is_fixed_per_job_and_within_bounds() -> None:
    offsets = {jitter_ms(f"job-{i}", 60) for i in range(200)}
    assert all(0 <= o < 60_000 for o in offsets) and len(offsets) > 150
    assert jitter_ms("job-1", 0) == 0


def test_jitter_is_the_same_in_processes_with_different_hash_seeds() -> None:
    code = "from wloadctl.scheduler.triggers import jitter_ms; print([jitter_ms(f'j{i}', 300) for i in range(20)])"
    answers = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        answers.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True, timeout=60).stdout)
    assert len(answers) == 1
    assert answers.pop().strip() == str([jitter_ms(f"j{i}", 300) for i in range(20)])


@pytest.mark.parametrize(("spec", "field", "words"), [
    (cron("0 0 30 2 *"), "schedules[0].cron", "never fires"),
    (cron("61 * * * *"), "schedules[0].cron", "not a valid"),
    (cron("* * * *"), "schedules[0].cron", "4 fields"),
    (cron("0 * * * *", "Mars/Base"), "time_zone", "unknown time zone"),
    (jobs_pb2.JobSpec(name="j", start_ms=2, end_ms=1, schedules=[jobs_pb2.Schedule(cron="0 * * * *")]), "end",
     "before start"),
    (jobs_pb2.JobSpec(name="j", start_ms=ms("2026-12-01T10:10:00"), end_ms=ms("2026-12-01T10:20:00"),
                      schedules=[jobs_pb2.Schedule(cron="0 * * * *")]), "schedules", "no slot"),
])
def test_unusable_schedules_are_named(spec: jobs_pb2.JobSpec, field: str, words: str) -> None:
    problems = schedule_problems(spec)
    assert any(p.field == field and words in p.reason for p in problems), problems


def test_leap_day_is_a_valid_schedule() -> None:
    assert schedule_problems(cron("0 0 29 2 *")) == []


def test_preview_marks_dst_changes() -> None:
    spec = cron("30 2 * * *", "Europe/Berlin")
    preview = fire_times(spec, ms("2026-03-28T12:00", "Europe/Berlin"), 2)
    assert [(t.local_time, t.dst, t.nominal_local) for t in preview.times] == [
        ("2026-03-29T03:00:00+02:00", "shifted", "2026-03-29T02:30:00"),
        ("2026-03-30T02:30:00+02:00", "", "2026-03-30T02:30:00")]
    skipping = cron("30 2 * * *", "Europe/Berlin", gap=SKIP)
    preview = fire_times(skipping, ms("2026-03-28T12:00", "Europe/Berlin"), 2)
    assert preview.skipped == ["2026-03-29T02:30:00"]
    assert [t.local_time for t in preview.times] == ["2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]

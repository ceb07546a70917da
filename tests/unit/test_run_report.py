"""Run reports counted from plain runs (wloadctl/model/runreport.py): groups, buckets, rates,
percentiles, failure classes, empty input and refused requests."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from wloadctl.model.runreport import (
    FAILURE_CLASSES,
    ReportError,
    RunReportBuilder,
    TooManyRows,
    bucket_bounds,
    duration_ms,
    failure_class,
    percentile,
)
from wloadctl.proto.v1 import jobs_pb2, runs_pb2

RS = runs_pb2.RunState
T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z, a Monday
HOUR = 3_600_000
DAY = 24 * HOUR


def ms(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def run(state: int = RS.SUCCEEDED, created: int = T0, job: str = "etl", domain: str = "finance", agent: str = "a1",
        took: int | None = 1000, exit_code: int = 0, error: str = "", causes: tuple[tuple[int, str], ...] = (),
        kill_requested: bool = False, workflow_run: str = "") -> runs_pb2.Run:
    r = runs_pb2.Run(run_id="r1", job_name=job, state=state, created_ms=created, agent_id=agent, exit_code=exit_code,
                     error=error, kill_requested=kill_requested, workflow_run_id=workflow_run,
                     spec=jobs_pb2.JobSpec(name=job, domain=domain))
    if took is not None:
        r.started_ms, r.finished_ms = created + 50, created + 50 + took
    for s, cause in causes:
        r.transitions.add(state=s, cause=cause)
    return r


# ---- failure classes and durations

@pytest.mark.parametrize(("given", "expected"), [
    (run(), ""),
    (run(RS.RUNNING, took=None), ""),
    (run(RS.SKIPPED, took=None), ""),
    (run(RS.FAILED, exit_code=3, causes=((RS.RUNNING, "started"), (RS.FAILED, "exit code 3"))), "exit_code"),
    (run(RS.FAILED, exit_code=-1, error="spawn failed: no such file",
         causes=((RS.FAILED, "could not start: spawn failed: no such file"),)), "start_failed"),
    (run(RS.FAILED, took=None, error="rejected by a1: run_as root not allowed",
         causes=((RS.FAILED, "rejected by a1: run_as root not allowed"),)), "rejected"),
    (run(RS.FAILED, took=None, error="agent a1 lost; lost policy is fail",
         causes=((RS.RUNNING, "started"), (RS.LOST, "agent a1 lost"), (RS.FAILED, "agent a1 lost; ..."))),
     "agent_lost"),
    (run(RS.TIMED_OUT, causes=((RS.TIMED_OUT, "timed out"),)), "timed_out"),
    (run(RS.KILLED, kill_requested=True, causes=((RS.KILLED, "killed"),)), "killed"),
    (run(RS.KILLED, took=None, kill_requested=True, causes=((RS.KILLED, "kill requested by user bob"),)), "killed"),
    (run(RS.KILLED, causes=((RS.KILLED, "killed (orphan policy: lease expired)"),)), "orphaned"),
    (run(RS.FAILED, exit_code=0), "other"),
])
def test_failure_classes(given: runs_pb2.Run, expected: str) -> None:
    assert failure_class(given) == expected
    assert expected in FAILURE_CLASSES or expected == ""


def test_durations_are_of_final_runs_that_started_and_finished() -> None:
    assert duration_ms(run(took=1234)) == 1234
    assert duration_ms(run(RS.RUNNING, took=1234)) is None  # not final
    assert duration_ms(run(RS.FAILED, took=None)) is None  # never started
    odd = run(took=10)
    odd.finished_ms = odd.started_ms - 1
    assert duration_ms(odd) is None


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) == 0
    assert percentile([7], 50) == percentile([7], 95) == 7
    values = list(range(1, 101))  # 1..100
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50, 95, 100)
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 95) == 4
    assert percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], 95) == 1000
    assert percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], 50) == 50


# ---- buckets

def test_utc_buckets() -> None:
    t = ms("2025-12-03T14:35:10+00:00")  # a Wednesday
    assert bucket_bounds(t, "hour") == (ms("2025-12-03T14:00:00+00:00"), ms("2025-12-03T15:00:00+00:00"))
    assert bucket_bounds(t, "day") == (ms("2025-12-03T00:00:00+00:00"), ms("2025-12-04T00:00:00+00:00"))
    assert bucket_bounds(t, "week") == (ms("2025-12-01T00:00:00+00:00"), ms("2025-12-08T00:00:00+00:00"))
    assert bucket_bounds(T0, "week") == (T0, T0 + 7 * DAY)  # Monday midnight starts its own week
    assert bucket_bounds(T0 - 1, "week") == (T0 - 7 * DAY, T0)


def test_local_buckets_follow_the_zone_and_its_dst_changes() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    t = ms("2025-12-03T23:30:00+00:00")  # already Thursday 00:30 in Berlin
    assert bucket_bounds(t, "day", berlin) == (ms("2025-12-03T23:00:00+00:00"), ms("2025-12-04T23:00:00+00:00"))
    assert bucket_bounds(t, "hour", berlin) == (ms("2025-12-03T23:00:00+00:00"), ms("2025-12-04T00:00:00+00:00"))
    # 2026-03-29: clocks go from 02:00 to 03:00, the day has 23 hours; 2026-10-25 has 25.
    spring = bucket_bounds(ms("2026-03-29T12:00:00+02:00"), "day", berlin)
    assert spring == (ms("2026-03-29T00:00:00+01:00"), ms("2026-03-30T00:00:00+02:00"))
    assert spring[1] - spring[0] == 23 * HOUR
    autumn = bucket_bounds(ms("2026-10-25T12:00:00+01:00"), "day", berlin)
    assert autumn[1] - autumn[0] == 25 * HOUR
    week = bucket_bounds(ms("2026-03-29T12:00:00+02:00"), "week", berlin)  # a Sunday
    assert week == (ms("2026-03-23T00:00:00+01:00"), ms("2026-03-30T00:00:00+02:00"))
    # Both 02:xx hours of the autumn change are hours of their own.
    first = bucket_bounds(ms("2026-10-25T02:30:00+02:00"), "hour", berlin)
    second = bucket_bounds(ms("2026-10-25T02:30:00+01:00"), "hour", berlin)
    assert first == (ms("2026-10-25T02:00:00+02:00"), ms("2026-10-25T03:00:00+02:00"))
    assert second == (ms("2026-10-25T02:00:00+01:00"), ms("2026-10-25T03:00:00+01:00"))
    # A half-hour zone: local hours begin at :30 UTC.
    assert bucket_bounds(ms("2025-12-03T10:10:00+00:00"), "hour", ZoneInfo("Asia/Kolkata"))[0] == \
        ms("2025-12-03T09:30:00+00:00")


# ---- the builder

def test_groups_counts_rates_durations_and_classes() -> None:
    b = RunReportBuilder("job", T0, T0 + 2 * DAY, "day")
    for took in (100, 200, 300, 400):
        b.add(run(took=took, created=T0 + HOUR))
    b.add(run(RS.FAILED, exit_code=2, took=1000, created=T0 + 2 * HOUR))
    b.add(run(RS.TIMED_OUT, took=5000, created=T0 + 3 * HOUR))
    b.add(run(RS.KILLED, took=None, kill_requested=True, created=T0 + 3 * HOUR))
    b.add(run(RS.SKIPPED, took=None, created=T0 + 4 * HOUR))
    b.add(run(RS.RUNNING, took=None, created=T0 + 5 * HOUR))
    b.add(run(job="load", took=50, created=T0 + HOUR))
    b.add(run(RS.FAILED, exit_code=1, took=70, created=T0 + DAY + HOUR))  # the next day
    report = b.report()
    assert [(r.bucket_start_ms, r.key) for r in report.rows] == [(T0, "etl"), (T0, "load"), (T0 + DAY, "etl")]
    etl = report.rows[0]
    assert (etl.bucket_end_ms, etl.runs, etl.succeeded, etl.failed, etl.timed_out, etl.killed, etl.skipped,
            etl.unfinished) == (T0 + DAY, 9, 4, 1, 1, 1, 1, 1)
    assert etl.success_rate == pytest.approx(4 / 7)
    assert etl.durations == 6  # four successes, the failure and the timeout (the kill never started)
    assert (etl.duration_p50_ms, etl.duration_p95_ms, etl.duration_max_ms) == (300, 5000, 5000)
    assert dict(etl.failure_classes) == {"exit_code": 1, "timed_out": 1, "killed": 1}
    assert report.rows[1].success_rate == 1.0 and report.rows[1].duration_p50_ms == 50
    next_day = report.rows[2]
    assert (next_day.runs, next_day.success_rate, dict(next_day.failure_classes)) == (1, 0.0, {"exit_code": 1})
    total = report.total
    assert (total.key, total.bucket_start_ms, total.bucket_end_ms) == ("", T0, T0 + 2 * DAY)
    assert (total.runs, total.succeeded, total.failed, total.durations) == (11, 5, 2, 8)
    assert total.runs == sum(r.runs for r in report.rows)
    assert dict(total.failure_classes) == {"exit_code": 2, "timed_out": 1, "killed": 1}
    assert total.duration_max_ms == 5000 and total.duration_p50_ms == 200  # of 50,70,100,200,300,400,1000,5000
    assert (report.by, report.bucket, report.from_ms, report.to_ms) == ("job", "day", T0, T0 + 2 * DAY)
    assert not report.truncated and report.covered_to_ms == T0 + 2 * DAY


def test_every_grouping_key() -> None:
    r = run(job="etl", domain="hr", agent="a7", workflow_run="w3")
    keys = {by: RunReportBuilder(by, T0).key(r, "nightly") for by in ("domain", "agent", "job", "workflow")}
    assert keys == {"domain": "hr", "agent": "a7", "job": "etl", "workflow": "nightly"}
    b = RunReportBuilder("workflow", T0, bucket="none")
    b.add_all([run(workflow_run="w3"), run(workflow_run="w4"), run()], {"w3": "nightly", "w4": "nightly"})
    assert [(row.key, row.runs) for row in b.report().rows] == [("", 1), ("nightly", 2)]


def test_bucket_none_is_one_row_per_key_over_the_range() -> None:
    b = RunReportBuilder("domain", T0, T0 + 30 * DAY, "none")
    for day in range(30):
        b.add(run(created=T0 + day * DAY, domain="finance" if day % 3 else "hr"))
    rows = b.report().rows
    assert [(r.key, r.runs, r.bucket_start_ms, r.bucket_end_ms) for r in rows] == [
        ("finance", 20, T0, T0 + 30 * DAY), ("hr", 10, T0, T0 + 30 * DAY)]


def test_an_empty_report_has_no_rows_and_a_zero_total() -> None:
    report = RunReportBuilder("agent", T0, T0 + DAY, "hour").report()
    assert list(report.rows) == []
    t = report.total
    assert (t.runs, t.success_rate, t.durations, t.duration_p50_ms, t.duration_max_ms, dict(t.failure_classes)) == \
        (0, 0.0, 0, 0, 0, {})


def test_truncation_is_reported_with_where_counting_stopped() -> None:
    report = RunReportBuilder("job", T0, T0 + DAY).report(truncated=True, covered_to_ms=T0 + HOUR)
    assert report.truncated and report.covered_to_ms == T0 + HOUR and report.total.bucket_end_ms == T0 + HOUR


def test_rows_are_capped() -> None:
    b = RunReportBuilder("job", T0, bucket="hour", max_rows=3)
    for i in range(3):
        b.add(run(job=f"j{i}"))
    b.add(run(job="j0"))  # an existing row is fine
    with pytest.raises(TooManyRows, match="more than 3 rows"):
        b.add(run(job="j3"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"by": "user"}, "by: 'user'"),
    ({"bucket": "month"}, "bucket: 'month'"),
    ({"from_ms": 0}, "from_ms: required"),
    ({"to_ms": T0}, "to_ms"),
    ({"zone_name": "Mars/Olympus"}, "time_zone: 'Mars/Olympus'"),
    ({"zone_name": "../../etc/passwd"}, "time_zone"),
])
def test_requests_it_cannot_answer_name_the_field(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"by": "job", "from_ms": T0, "to_ms": 0, "bucket": "day", "zone_name": ""}
    args.update(kwargs)
    with pytest.raises(ReportError, match=message.replace("(", r"\(")):
        RunReportBuilder(**args)  # type: ignore[arg-type]

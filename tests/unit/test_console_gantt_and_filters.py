"""The pure parts of the console's Gantt, misfires, audit, calendars and reports pages: the Gantt's lanes,
rows, bars and axis from runs; the pages' query parsing; the audit export's JSON Lines against the
CLI's JSON; and the route table covering the new pages."""

from __future__ import annotations

import json

import grpc
import pytest

from wloadctl.cli import output, render
from wloadctl.console import gantt
from wloadctl.console.pages import report_bucket, report_rate, weekdays
from wloadctl.console.pages_query import (
    QueryError,
    iso_ms,
    parse_audit,
    parse_date,
    parse_gantt,
    parse_misfires,
    parse_moment,
    parse_report,
)
from wloadctl.console.routes import NAVIGATION, ROUTES
from wloadctl.model import auditfiles
from wloadctl.proto.v1 import api_pb2, audit_pb2, auth_pb2, jobs_pb2, runs_pb2

RS = runs_pb2.RunState
T0 = 1_796_083_200_000  # 2026-12-01T00:00:00Z
H = 3_600_000


def run(run_id: str, created: int, started: int = 0, finished: int = 0, state: int = RS.SUCCEEDED,
        domain: str = "finance", agent: str = "a1", job: str = "etl") -> runs_pb2.Run:
    return runs_pb2.Run(run_id=run_id, job_name=job, created_ms=created, started_ms=started, finished_ms=finished,
                        state=state, agent_id=agent, spec=jobs_pb2.JobSpec(domain=domain), business_date="2026-12-01")


# ---- Gantt geometry


def test_lanes_per_domain_in_name_order_with_rows_for_overlapping_runs() -> None:
    runs = [run("r1", T0, T0 + H, T0 + 2 * H),
            run("r2", T0 + 30 * 60_000, T0 + H, T0 + 3 * H, state=RS.FAILED),   # overlaps r1: a second row
            run("r3", T0 + 2 * H + 60_000, T0 + 2 * H + 60_000, T0 + 4 * H),   # after r1 ended: r1's row again
            run("r4", T0 + H, T0 + H, T0 + 2 * H, domain="")]                  # no domain: "default"
    chart = gantt.layout(runs, "domain", now_ms=T0 + 10 * H)
    assert [lane.name for lane in chart.lanes] == ["default", "finance"]
    default, finance = chart.lanes
    assert default.rows == 1 and finance.rows == 2
    rows = {b.run_id: b.row for b in finance.bars}
    assert rows == {"r1": 0, "r2": 1, "r3": 0}
    assert finance.top == default.top + default.height
    assert chart.height == finance.top + finance.height
    bars = {b.run_id: b for b in chart.bars}
    assert bars["r2"].css == "failed" and bars["r1"].css == "ok"
    assert len(chart.bars) == 4 and chart.counts == {"ok": 3, "failed": 1}
    # Bars in the same row do not overlap; each row has its own y.
    assert bars["r1"].x_end <= bars["r3"].x_queued and bars["r1"].y == bars["r3"].y != bars["r2"].y


def test_a_bar_is_queued_then_running_on_a_linear_axis() -> None:
    chart = gantt.layout([run("r1", T0, T0 + H, T0 + 4 * H)], "agent", now_ms=T0 + 10 * H)
    (bar,) = chart.bars
    # 4 hours: ticks every 30 minutes (at most 12), the axis from the first to the last tick.
    assert gantt.tick_step(4 * H) == 30 * 60_000 and len(chart.ticks) == 9
    assert (chart.start_ms, chart.end_ms) == (T0, T0 + 4 * H)
    assert chart.ticks[0].x == gantt.LABEL_WIDTH and chart.ticks[-1].x == gantt.LABEL_WIDTH + gantt.PLOT_WIDTH
    assert chart.ticks[0].label == "12-01 00:00" and chart.ticks[1].label == "00:30"
    assert bar.x_queued == gantt.LABEL_WIDTH and bar.queued_width == gantt.PLOT_WIDTH / 4
    assert bar.run_width == gantt.PLOT_WIDTH * 3 / 4
    assert chart.now_x is None  # now is after the axis
    assert chart.lanes[0].name == "a1"
    text = bar.describe("agent")
    assert text.splitlines() == ["r1 · etl · SUCCEEDED", "agent a1 · domain finance", "created  2026-12-01T00:00:00Z",
                                 "started  2026-12-01T01:00:00Z", "finished 2026-12-01T04:00:00Z",
                                 "waited 1h 00m, ran 3h 00m"]


def test_running_runs_reach_now_and_unplaced_ones_share_a_lane() -> None:
    now = T0 + 2 * H
    chart = gantt.layout([run("r1", T0, T0 + H, state=RS.RUNNING),
                          run("r2", T0 + H, state=RS.QUEUED, agent="")], "agent", now_ms=now)
    bars = {b.run_id: b for b in chart.bars}
    assert bars["r1"].end_ms == now and not bars["r1"].finished and bars["r1"].css == "running"
    # Never started: only a queued part, up to now.
    assert bars["r2"].started_ms == 0 and bars["r2"].run_width == 0 and bars["r2"].queued_width > 0
    assert bars["r2"].css == "waiting" and bars["r2"].lane == gantt.NO_AGENT
    assert chart.now_x is not None and bars["r1"].x_end == chart.now_x
    assert "not finished yet" in bars["r1"].describe("domain")


def test_tiny_runs_stay_visible_and_rows_are_capped() -> None:
    runs = [run(f"r{i}", T0 + i, T0 + i, T0 + i + 1) for i in range(gantt.MAX_ROWS_PER_LANE + 50)]
    runs.append(run("rlong", T0, T0, T0 + H))
    chart = gantt.layout(runs, "domain", now_ms=T0 + H)
    assert all(b.x_end - b.x_queued >= gantt.MIN_BAR_WIDTH for b in chart.bars)
    assert chart.lanes[0].rows == gantt.MAX_ROWS_PER_LANE
    assert len(chart.bars) == len(runs)


def test_an_empty_chart_and_a_wrong_grouping() -> None:
    chart = gantt.layout([], "domain", now_ms=T0)
    assert chart.lanes == [] and chart.ticks == [] and chart.bars == []
    with pytest.raises(ValueError, match="by"):
        gantt.layout([], "job", now_ms=T0)
    assert gantt.tick_step(1) == 1000 and gantt.tick_step(30 * 24 * H) == 7 * 24 * H


def test_states_have_colours_failed_ones_red() -> None:
    assert {gantt.state_class(runs_pb2.Run(state=s)) for s in (RS.FAILED, RS.TIMED_OUT, RS.LOST)} == {"failed"}
    assert gantt.state_class(runs_pb2.Run(state=RS.KILLED)) == "killed"
    assert gantt.state_class(runs_pb2.Run(state=RS.PENDING)) == "waiting"


# ---- query parsing


def test_gantt_query() -> None:
    q = parse_gantt({}, "2026-12-01")
    assert (q.date, q.by) == ("2026-12-01", "domain")
    q = parse_gantt({"date": "2024-02-29", "by": "agent"}, "2026-12-01")
    assert (q.date, q.by, q.shifted(1), q.shifted(-1)) == ("2024-02-29", "agent", "2024-03-01", "2024-02-28")
    for query, name in (({"date": "2023-02-29"}, "date"), ({"date": "2026-1-01"}, "date"),
                        ({"date": "<script>"}, "date"), ({"by": "job"}, "by"), ({"x": "1"}, "x"),
                        ({"date": "2" * 300}, "253")):
        with pytest.raises(QueryError, match=name):
            parse_gantt(query, "2026-12-01")
    assert parse_date("d", "2026-12-31") == "2026-12-31"


def test_misfires_query_names_by_the_model_rules_and_api_page_tokens() -> None:
    assert parse_misfires({"job": "etl.load-1", "page": "m42"}).job == "etl.load-1"
    for query, name in (({"job": "-bad"}, "job"), ({"job": "a" * 129}, "job"), ({"job": "<b>"}, "job"),
                        ({"page": "r1"}, "page"), ({"page": "m" + "1" * 30}, "page"), ({"limit": "1"}, "limit")):
        with pytest.raises(QueryError, match=name):
            parse_misfires(query)


def test_times_are_the_clis_iso_or_a_duration_ago() -> None:
    now = T0 + 12 * H
    assert parse_moment("t", "2026-12-01", now) == T0
    assert parse_moment("t", "2026-12-01T01:00", now) == T0 + H
    assert parse_moment("t", "2026-12-01T02:00:00+01:00", now) == T0 + H
    assert parse_moment("t", "2026-12-01T01:00:00.123Z", now) == T0 + H + 123
    assert parse_moment("t", "24h", now) == now - 24 * H and parse_moment("t", "1h30m", now) == now - 90 * 60_000
    for bad in ("yesterday", "0s", "12", "-1h"):
        with pytest.raises(QueryError, match="t:"):
            parse_moment("t", bad, now)
    for ms in (T0, T0 + 1, T0 + 999, T0 + H + 120):
        assert parse_moment("t", iso_ms(ms), now) == ms
    assert iso_ms(T0) == "2026-12-01T00:00:00Z"


def test_audit_query() -> None:
    now = T0 + 48 * H
    q = parse_audit({}, now)
    assert q.since_ms == now - 24 * H and q.until_ms == 0 and q.text == {"since": "24h"}
    q = parse_audit({"user": "olivia", "operation": "job.", "resource": "job/", "since": "all",
                     "until": "2026-12-02", "outcome": "failed", "page": "17"}, now)
    assert (q.user, q.operation, q.resource, q.since_ms, q.until_ms, q.after_seq) == \
        ("olivia", "job.", "job/", 0, T0 + 24 * H, 17)
    assert q.matches(7) and not q.matches(0)
    assert parse_audit({"outcome": "ok"}, now).matches(0) and parse_audit({}, now).matches(3)
    assert parse_audit({"operation": "login.failed", "resource": "run/r12", "user": "k57"}, now).operation == \
        "login.failed"
    # Links select the same records later: resolved times, no page.
    assert q.exact() == {"user": "olivia", "operation": "job.", "resource": "job/", "outcome": "failed",
                         "until": "2026-12-02T00:00:00Z"}
    assert parse_audit({"format": "csv"}, now, extra=frozenset({"format"})).text == {"since": "24h"}
    for query, name in (({"user": "a b"}, "user"), ({"operation": "Job.Apply"}, "operation"),
                        ({"resource": "nightly"}, "resource"), ({"outcome": "maybe"}, "outcome"),
                        ({"page": "x"}, "page"), ({"page": "9" * 25}, "page"), ({"since": "soon"}, "since"),
                        ({"since": "2026-12-02", "until": "2026-12-01"}, "until"), ({"format": "csv"}, "format")):
        with pytest.raises(QueryError, match=name):
            parse_audit(query, now)


def test_report_query_as_report_runs_takes_it() -> None:
    now = T0 + 12 * H
    q = parse_report({}, now)
    assert (q.by, q.from_ms, q.to_ms, q.bucket, q.domain, q.time_zone) == ("domain", now - 7 * 24 * H, now, "day",
                                                                            "", "")
    q = parse_report({"by": "agent", "from": "2026-12-01", "to": "2026-12-01T06:00:00Z", "bucket": "hour",
                      "domain": "finance", "tz": "Europe/Berlin"}, now)
    assert q.exact() == {"by": "agent", "from": "2026-12-01T00:00:00Z", "to": "2026-12-01T06:00:00Z",
                         "bucket": "hour", "domain": "finance", "tz": "Europe/Berlin"}
    for query, name in (({"by": "host"}, "by"), ({"bucket": "month"}, "bucket"), ({"tz": "Mars/Base"}, "tz"),
                        ({"tz": "../../etc/passwd"}, "tz"), ({"domain": "a" * 65}, "domain"),
                        ({"from": "2026-12-02", "to": "2026-12-01"}, "to"), ({"format": "csv"}, "format")):
        with pytest.raises(QueryError, match=name):
            parse_report(query, now)


# ---- reports and calendars as the CLI prints them


def test_report_cells_read_like_the_clis_table() -> None:
    from wloadctl.cli.commands import reports

    report = api_pb2.RunReport(by="job", bucket="hour", time_zone="Europe/Berlin")
    row = api_pb2.RunReportRow(key="etl", runs=4, succeeded=3, failed=1, success_rate=0.75)
    assert report_rate(row) == reports._rate(row) == "75.0%"
    assert report_rate(api_pb2.RunReportRow(skipped=2)) == "-"
    assert report_bucket(report, T0) == reports._bucket_label(report, T0) == "2026-12-01T01:00"
    assert weekdays([]) == "mon,tue,wed,thu,fri" and weekdays([6, 7]) == "sat,sun"


# ---- audit export


def records() -> list[audit_pb2.AuditRecord]:
    return [audit_pb2.AuditRecord(seq=1, time_ms=T0 + 5, operation="login", result="ok", raft_index=2 ** 40,
                                  actor=auth_pb2.Actor(kind="user", name="olivia", source="console:127.0.0.1:5"),
                                  resources=["user/olivia", "session/s4"], hash=bytes(range(32)), prev_hash=b"\x01"),
            audit_pb2.AuditRecord(seq=2, time_ms=T0 + 9, operation="job.delete", content="=cmd|' /C calc'!A0",
                                  result_code=grpc.StatusCode.PERMISSION_DENIED.value[0], result="no",
                                  actor=auth_pb2.Actor(kind="apikey", name="k5", via="r2"))]


def test_json_lines_hold_each_record_as_audit_get_prints_it() -> None:
    lines = auditfiles.jsonl_bytes(records()).decode().splitlines()
    assert [json.loads(line) for line in lines] == [output.message_to_dict(r) for r in records()]
    assert list(json.loads(lines[0])) == [f.name for f in audit_pb2.AuditRecord.DESCRIPTOR.fields]
    assert auditfiles.jsonl_bytes([]) == b""


def test_the_csv_is_the_cli_exports_and_the_cli_shares_the_wording() -> None:
    data = auditfiles.csv_bytes(auditfiles.row(r) for r in records())
    assert data.startswith(b"\xef\xbb\xbfoperator,time,source IP,")
    assert b"\r\nuser/olivia,2026-12-01T00:00:00.005Z,console:127.0.0.1:5,,ok,user/olivia session/s4,1," in data
    assert b",'=cmd|" in data  # never a formula
    assert render.actor_text is auditfiles.actor_text and render.audit_result is auditfiles.audit_result


# ---- routes


def test_the_new_pages_are_routes_and_in_the_navigation() -> None:
    table = {r.name: r for r in ROUTES}
    for name in ("gantt", "misfires", "audit", "audit_verify", "audit_export", "calendars", "reports",
                 "report_download"):
        assert table[name].method == "GET" and table[name].access == "session"
    assert table["audit_export"].kind == table["report_download"].kind == "data"
    links = {name: href for name, href, _ in NAVIGATION}
    assert {links[n] for n in ("gantt", "misfires", "audit", "calendars", "reports")} == \
        {"/gantt", "/misfires", "/audit", "/calendars", "/reports"}

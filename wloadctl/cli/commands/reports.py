"""Reports: `report runs` (counted by the replica: RunService/ReportRuns) and `report summary`
(the per-domain counts the state keeps: RunService/Summarize)."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Mapping

from wloadctl.cli import output
from wloadctl.cli.context import EXIT_OK, EXIT_USAGE, Context, emit, emit_bytes, error
from wloadctl.cli.parser import Verbs, int_at_least, time_ms
from wloadctl.cli.privatefile import write_private
from wloadctl.model import reportfiles
from wloadctl.model.runreport import BUCKETS, DEFAULT_BUCKET, FAILURE_CLASSES, GROUP_BY
from wloadctl.proto.v1 import api_pb2

FORMATS = ("table", "json", "yaml", "csv", "xlsx")
TIME_HELP = "ISO-8601 UTC (2026-12-01T00:00:00Z or 2026-12-01) or a duration ago (24h, 7d)"


def register(verbs: Verbs) -> None:
    classes = "\n".join(f"  {name:13} {text}" for name, text in FAILURE_CLASSES.items())
    report = verbs.add_to(
        "report", "runs", "runs by domain, agent, job or workflow and time bucket",
        description="Count the runs created from --from to --to, grouped by --by and a time bucket of their\n"
                    "creation (trigger) time: runs, succeeded, failed, timed out, killed, skipped and\n"
                    "unfinished, the success rate (succeeded of those that succeeded, failed, timed out or\n"
                    "were killed), durations p50/p95/max (started -> finished of final runs' last attempt)\n"
                    "and the failure classes. The replica counts them, only in the domains where you hold\n"
                    "run.read. -o csv|xlsx give one row per group (xlsx adds the total and what the\n"
                    "columns mean); xlsx is binary, so it needs -f FILE or stdout redirected to a file.",
        epilog="examples:\n  wloadctl report runs --by job --from 7d\n"
               "  wloadctl report runs --by domain --from 2026-11-01 --to 2026-12-01 --bucket week -o xlsx "
               "-f nov.xlsx\n"
               "  wloadctl report runs --by agent --from 24h --bucket hour -o csv > agents.csv\n"
               "  wloadctl report runs --by workflow --from 30d --bucket none -o json | jq '.rows[]'\n\n"
               f"failure classes:\n{classes}",
        handler=cmd_report_runs,
        output_option=False,
    )
    add_summary(verbs)
    report.add_argument("--by", required=True, choices=GROUP_BY, help="what a row groups runs by")
    report.add_argument("--from", dest="from_ms", type=time_ms, required=True, metavar="T",
                        help=f"runs created at or after T: {TIME_HELP}")
    report.add_argument("--to", dest="to_ms", type=time_ms, default=None, metavar="T",
                        help=f"and before T (default: now): {TIME_HELP}")
    report.add_argument("--bucket", choices=BUCKETS, default=DEFAULT_BUCKET,
                        help=f"time bucket of a row (default {DEFAULT_BUCKET}; week starts on Monday; none: one "
                             "row per group)")
    report.add_argument("--domain", default="", metavar="D", help="only runs of this business domain")
    report.add_argument("--tz", dest="time_zone", default="", metavar="ZONE",
                        help="IANA time zone of the buckets' hours and midnights (default UTC), e.g. Europe/Berlin")
    report.add_argument("--max-runs", type=int_at_least(1), default=0, metavar="N",
                        help="read at most N runs (default and most: the replica's report_max_runs); a report "
                             "that stops early says where")
    report.add_argument("-o", "--output", dest="report_format", choices=FORMATS, default=None, metavar="FORMAT",
                        help="table (default), json, yaml, csv or xlsx")
    report.add_argument("-f", "--file", default="", metavar="FILE",
                        help="write the report to FILE (mode 0600) instead of stdout")


def add_summary(verbs: Verbs) -> None:
    summary = verbs.add_to(
        "report", "summary", "jobs, workflows and runs per business domain, now and by day",
        description="What the console's overview shows, per business domain you may read runs of: jobs and\n"
                    "workflows defined, runs stored now by state, and the runs created today, yesterday and\n"
                    "the same day last week (UTC days of --date) by their state now: succeeded, failed\n"
                    "(FAILED, TIMED_OUT, LOST), killed, skipped and still active. The state keeps these\n"
                    "counts: the answer costs the same with a million jobs and runs. Runs removed by\n"
                    "retention are no longer counted.",
        epilog="examples:\n  wloadctl report summary\n  wloadctl report summary --date 2026-11-30 -o json",
        handler=cmd_report_summary,
    )
    summary.add_argument("--date", default="", metavar="YYYY-MM-DD",
                         help="the day counted as today (default: today, UTC)")


SUMMARY_DAYS = (("today", 0), ("yesterday", 1), ("last week", 7))
FAILED_NAMES = ("FAILED", "TIMED_OUT", "LOST")
ACTIVE_NAMES = ("PENDING", "QUEUED", "DISPATCHED", "RUNNING", "RETRY_WAIT")


def summary_days(date: str) -> list[str]:
    day = datetime.date.fromisoformat(date)
    return [(day - datetime.timedelta(days=back)).isoformat() for _, back in SUMMARY_DAYS]


def _outcomes(by_state: Mapping[str, int]) -> list[int]:
    return [sum(by_state.values()), by_state.get("SUCCEEDED", 0), sum(by_state.get(n, 0) for n in FAILED_NAMES),
            by_state.get("KILLED", 0), by_state.get("SKIPPED", 0), sum(by_state.get(n, 0) for n in ACTIVE_NAMES)]


def summary_table(summary: api_pb2.Summary, days: list[str]) -> str:
    headers = ["DOMAIN", "JOBS", "WORKFLOWS", "ACTIVE NOW", "DAY", "RUNS", "OK", "FAILED", "KILLED", "SKIPPED",
               "ACTIVE", "SUCCESS"]
    rows: list[list[object]] = []
    for d in [*summary.domains, summary.total]:
        now = sum(d.runs_by_state.get(n, 0) for n in ACTIVE_NAMES)
        for i, day in enumerate(d.days):
            runs, ok, failed, killed, skipped, active = _outcomes(day.runs_by_state)
            rate = f"{ok / (ok + failed) * 100:.1f}%" if ok + failed else "-"
            first = i == 0
            rows.append([(d.domain or "TOTAL") if first else "", d.jobs if first else "",
                         d.workflows if first else "", now if first else "",
                         f"{SUMMARY_DAYS[i][0]} {days[i]}", runs, ok, failed, killed, skipped, active, rate])
    return output.render_table(headers, rows)


def cmd_report_summary(args: argparse.Namespace, ctx: Context) -> int:
    date = args.date or datetime.datetime.now(datetime.UTC).date().isoformat()
    try:
        days = summary_days(date)
    except ValueError:
        error(f"--date: a date YYYY-MM-DD, got {args.date!r}")
        return EXIT_USAGE
    summary = ctx.client().summarize(days, date)
    if ctx.output in ("json", "yaml"):
        emit(output.dump(output.message_to_dict(summary), ctx.output))
    else:
        emit(summary_table(summary, days))
    return EXIT_OK


def _rate(row: api_pb2.RunReportRow) -> str:
    return f"{row.success_rate * 100:.1f}%" if row.succeeded + row.failed + row.timed_out + row.killed else "-"


def _duration(row: api_pb2.RunReportRow, ms: int) -> str:
    if not row.durations:
        return "-"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return output.format_duration(ms // 1000)


def _classes(row: api_pb2.RunReportRow, names: list[str]) -> str:
    return " ".join(f"{name}={row.failure_classes[name]}" for name in names if row.failure_classes.get(name)) or "-"


def _bucket_label(report: api_pb2.RunReport, ms: int) -> str:
    text = reportfiles.iso(ms, report.time_zone)
    return text[:10] if report.bucket in ("day", "week") else text[:16]


def report_table(report: api_pb2.RunReport) -> str:
    names = reportfiles.class_names(report)
    with_bucket = report.bucket != "none"
    zone = report.time_zone or "UTC"
    headers = ([f"{report.bucket.upper()} ({zone})"] if with_bucket else []) + [
        report.by.upper(), "RUNS", "OK", "FAILED", "TIMED_OUT", "KILLED", "SKIPPED", "ACTIVE", "SUCCESS",
        "P50", "P95", "MAX", "FAILURE CLASSES"]

    def cells(row: api_pb2.RunReportRow, bucket: str, key: str) -> list[object]:
        return ([bucket] if with_bucket else []) + [
            key, row.runs, row.succeeded, row.failed, row.timed_out, row.killed, row.skipped, row.unfinished,
            _rate(row), _duration(row, row.duration_p50_ms), _duration(row, row.duration_p95_ms),
            _duration(row, row.duration_max_ms), _classes(row, names)]

    rows = [cells(r, _bucket_label(report, r.bucket_start_ms), r.key or "-") for r in report.rows]
    rows.append(cells(report.total, "", "TOTAL"))
    return output.render_table(headers, rows)


def cmd_report_runs(args: argparse.Namespace, ctx: Context) -> int:
    fmt = args.report_format or ctx.output
    if fmt == "xlsx" and not args.file and sys.stdout.isatty():
        error("-o xlsx writes a binary file: give -f FILE (or redirect stdout to a file)")
        return EXIT_USAGE
    to_ms = args.to_ms if args.to_ms is not None else time.time_ns() // 1_000_000
    if to_ms <= args.from_ms:
        error(f"--to ({output.format_ms(to_ms)}) must be after --from ({output.format_ms(args.from_ms)})")
        return EXIT_USAGE
    report = ctx.client().report_runs(args.by, args.from_ms, to_ms, args.bucket, args.domain, args.time_zone,
                                      args.max_runs)
    if fmt == "xlsx":
        data = reportfiles.xlsx_bytes(report)
    elif fmt == "csv":
        data = reportfiles.csv_bytes(report, bom=bool(args.file))
    elif fmt in ("json", "yaml"):
        data = output.dump(output.message_to_dict(report), fmt).encode()
    else:
        data = report_table(report).encode() if report.rows else b""
    if report.truncated:
        print(f"note: the replica stopped after reading its limit of runs (--max-runs, report_max_runs): only runs "
              f"created before {output.format_ms(report.covered_to_ms)} (covered_to_ms "
              f"{report.covered_to_ms}) are counted; report the rest from there", file=sys.stderr)
    if args.file:
        write_private(args.file, data)
        rows, runs = len(report.rows), report.total.runs
        emit(f"report of runs by {report.by} ({rows} row{'' if rows == 1 else 's'}, "
             f"{runs} run{'' if runs == 1 else 's'}) written to {args.file} ({fmt})\n")
    elif fmt == "table" and not report.rows:
        print("No runs found.", file=sys.stderr)
    else:
        emit_bytes(data)
    return EXIT_OK

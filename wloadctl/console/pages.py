"""The Gantt, misfires, audit, calendars and reports pages, and the audit and report downloads.

Mixed into views.Views: like every page, each handler is the logged-in user's own API calls through
the gateway (ListRuns, ListMisfires, ListAudit, VerifyAudit, ListCalendars, ListJobs, ListWorkflows,
NextFireTimes, ReportRuns), so permissions, domain filtering and audit are the CLI's, and the
downloads are the bytes the CLI writes (wloadctl/model/auditfiles.py, wloadctl/model/reportfiles.py),
built off the event loop. Every listing is bounded; a page says when it stopped short.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from wloadctl.console import gantt
from wloadctl.console.gateway import ApiError, Caller
from wloadctl.console.pages_query import (
    AuditQuery,
    QueryError,
    ReportQuery,
    parse_audit,
    parse_gantt,
    parse_misfires,
    parse_report,
)
from wloadctl.console.viewbase import ViewBase, http_status, section
from wloadctl.model import auditfiles, reportfiles
from wloadctl.model.runreport import BUCKETS, GROUP_BY
from wloadctl.proto.v1 import api_pb2, audit_pb2, runs_pb2

if TYPE_CHECKING:
    pass

DAY_MS = 86_400_000
# Gantt: the runs of one business date, read newest first down to the date's first possible creation
# (its midnight in the earliest time zone, UTC+14); at most GANTT_MAX_RUNS of the date are drawn and at
# most GANTT_MAX_CALLS ListRuns pages (of LIST_PAGE runs) are read.
GANTT_MAX_RUNS = 5_000
GANTT_MAX_CALLS = 50
LIST_PAGE = 1000
EARLIEST_ZONE_MS = 14 * 3_600_000
MISFIRES_PAGE = 50
AUDIT_PAGE = 50
AUDIT_API_PAGE = 500
AUDIT_MAX_CALLS = 20            # per page shown: a filter that matches little gives a short page and "more"
AUDIT_EXPORT_LIMIT = 50_000     # records in one download (the CLI exports any number)
# Calendars page: the scheduled jobs and workflows whose next firings are asked for, and how many each.
SCHEDULED_LIMIT = 100
JOBS_LIMIT = 20_000
FIRINGS_EACH = 5
TIMELINE = 50
NEXT_FIRE_CONCURRENCY = 8
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
AUDIT_FORMATS = ("csv", "xlsx", "jsonl")
REPORT_FORMATS = ("csv", "xlsx")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _stamp(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def weekdays(days: Any) -> str:
    """A calendar's working weekdays as `wloadctl get calendars` prints them (mon,tue,...)."""
    return ",".join(_WEEKDAYS[d - 1] for d in (list(days) or [1, 2, 3, 4, 5]) if 1 <= d <= 7)


def report_rate(row: api_pb2.RunReportRow) -> str:
    return f"{row.success_rate * 100:.1f}%" if row.succeeded + row.failed + row.timed_out + row.killed else "-"


def report_bucket(report: api_pb2.RunReport, ms: int) -> str:
    text = reportfiles.iso(ms, report.time_zone)
    return text[:10] if report.bucket in ("day", "week") else text[:16]


def report_classes(report: api_pb2.RunReport, row: api_pb2.RunReportRow) -> str:
    names = reportfiles.class_names(report)
    return " ".join(f"{n}={row.failure_classes[n]}" for n in names if row.failure_classes.get(n)) or "-"


@dataclass(frozen=True)
class Firing:
    name: str
    kind: str            # job | workflow
    time: api_pb2.FireTime
    time_zone: str


@dataclass
class Scheduled:
    name: str
    kind: str
    domain: str
    answer: api_pb2.NextFireTimesResponse | None = None
    error: str = ""


class PageViews(ViewBase):
    """The handlers of this module's routes (routes.py names them; app.py finds them here)."""

    def _caller(self, request: web.Request) -> Caller:
        return self.ctx(request).caller

    def _bad_query(self, request: web.Request, template: str, e: QueryError, **values: Any) -> web.StreamResponse:
        return self.console.page(request, template, http_status=400, error=str(e), **values)

    # ---- Gantt

    async def gantt(self, request: web.Request) -> web.StreamResponse:
        now_ms = _now_ms()
        today = datetime.datetime.fromtimestamp(now_ms / 1000, datetime.UTC).date().isoformat()
        empty = gantt.layout([], "domain", now_ms)
        try:
            q = parse_gantt(dict(request.query), today)
        except QueryError as e:
            return self._bad_query(request, "gantt.html", e, q=None, chart=empty, scan=None, today=today)
        try:
            scan = await self._runs_of_date(self._caller(request), q.date)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "gantt.html", http_status=http_status(e), error=e.message, q=q,
                                     chart=empty, scan=None, today=today)
        chart = gantt.layout(scan.runs, q.by, now_ms)
        return self.console.page(request, "gantt.html", error="", q=q, chart=chart, scan=scan, today=today,
                                 now_ms=now_ms)

    async def _runs_of_date(self, caller: Caller, date: str) -> DateScan:
        """The runs whose business date is ``date``, newest first, down to the first moment a run of that
        date can have been created (its midnight in UTC+14); bounded (GANTT_MAX_RUNS, GANTT_MAX_CALLS)."""
        day = datetime.date.fromisoformat(date)
        midnight = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
        lower = int(midnight.timestamp() * 1000) - EARLIEST_ZONE_MS
        scan = DateScan()
        token = ""
        for _ in range(GANTT_MAX_CALLS):
            page = await self.gw.list_runs(caller, page_size=LIST_PAGE, page_token=token)
            for run in page.runs:
                scan.scanned += 1
                if run.created_ms < lower:
                    return scan  # newest first: nothing older belongs to the date
                if run.business_date == date:
                    if len(scan.runs) >= GANTT_MAX_RUNS:
                        scan.more = True
                        return scan
                    scan.runs.append(run)
            token = page.next_page_token
            if not token:
                return scan
        scan.budget_hit = True
        return scan

    # ---- misfires

    async def misfires(self, request: web.Request) -> web.StreamResponse:
        try:
            q = parse_misfires(dict(request.query))
        except QueryError as e:
            return self._bad_query(request, "misfires.html", e, job="", records=[], next_page="", first=True)
        try:
            answer = await self.gw.list_misfires(self._caller(request), q.job, MISFIRES_PAGE, q.page)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "misfires.html", http_status=http_status(e), error=e.message,
                                     job=q.job, records=[], next_page="", first=not q.page)
        next_page = ""
        if answer.next_page_token:
            next_page = "/misfires?" + urlencode({**({"job": q.job} if q.job else {}),
                                                  "page": answer.next_page_token})
        return self.console.page(request, "misfires.html", error="", job=q.job, records=list(answer.misfires),
                                 next_page=next_page, first=not q.page)

    # ---- audit

    def _audit_request(self, q: AuditQuery, after_seq: int, size: int) -> audit_pb2.ListAuditRequest:
        return audit_pb2.ListAuditRequest(user=q.user, since_ms=q.since_ms, until_ms=q.until_ms,
                                          operation=q.operation, resource=q.resource, page_size=size,
                                          after_seq=after_seq)

    async def _audit_page(self, caller: Caller, q: AuditQuery) -> tuple[list[audit_pb2.AuditRecord], int, bool]:
        """A page of records (oldest first, as the API and `wloadctl audit get` list them), the position of
        the next page (0: none) and whether it stopped at its budget of calls before filling the page."""
        shown: list[audit_pb2.AuditRecord] = []
        after = q.after_seq
        size = AUDIT_API_PAGE if q.outcome else AUDIT_PAGE  # the API filters all but the outcome itself
        for _ in range(AUDIT_MAX_CALLS):
            answer = await self.gw.list_audit(caller, self._audit_request(q, after, size))
            for i, record in enumerate(answer.records):
                if q.matches(record.result_code):
                    shown.append(record)
                    if len(shown) == AUDIT_PAGE:
                        last = i == len(answer.records) - 1 and not answer.next_after_seq
                        return shown, 0 if last else record.seq, False
            if not answer.next_after_seq:
                return shown, 0, False
            after = answer.next_after_seq
        return shown, after, True

    def _audit_links(self, q: AuditQuery) -> dict[str, str]:
        exact = q.exact()
        return {fmt: "/audit/export?" + urlencode({**exact, "format": fmt}) for fmt in AUDIT_FORMATS}

    async def audit(self, request: web.Request) -> web.StreamResponse:
        values: dict[str, Any] = {"records": [], "next_page": "", "budget_hit": False, "links": {}, "first": True,
                                  "outcomes": ("ok", "failed")}
        try:
            q = parse_audit(dict(request.query), _now_ms())
        except QueryError as e:
            return self._bad_query(request, "audit.html", e, filters={}, **values)
        values.update(filters=q.text, links=self._audit_links(q), first=not q.after_seq)
        try:
            records, after, budget_hit = await self._audit_page(self._caller(request), q)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "audit.html", http_status=http_status(e), error=e.message, **values)
        if after:
            values["next_page"] = "/audit?" + urlencode({**q.exact(), "page": str(after)})
        values.update(records=records, budget_hit=budget_hit)
        return self.console.page(request, "audit.html", error="", actor_text=auditfiles.actor_text,
                                 audit_result=auditfiles.audit_result, **values)

    async def audit_verify(self, request: web.Request) -> web.StreamResponse:
        # VerifyAudit is a read (audit.read, like ListAudit): a GET, no CSRF token needed.
        verdict, error = await section(self.gw.verify_audit(self._caller(request)))
        return self.console.page(request, "audit_verify.html", http_status=200 if verdict is not None else 403,
                                 verdict=verdict, error=error, active="audit")

    async def audit_export(self, request: web.Request) -> web.StreamResponse:
        """The records the search selects, as `wloadctl audit export` writes them (CSV, XLSX) or as
        JSON Lines of `wloadctl audit get -o json`'s records; at most AUDIT_EXPORT_LIMIT."""
        now_ms = _now_ms()
        try:
            fmt = request.query.get("format", "")
            if fmt not in AUDIT_FORMATS:
                raise QueryError(f"format: one of {', '.join(AUDIT_FORMATS)}")
            q = parse_audit(dict(request.query), now_ms, extra=frozenset({"format"}))
        except QueryError as e:
            return self._download_error(request, 400, str(e))
        records: list[audit_pb2.AuditRecord] = []
        after = q.after_seq
        try:
            while True:
                answer = await self.gw.list_audit(self._caller(request), self._audit_request(q, after, 5000))
                records.extend(r for r in answer.records if q.matches(r.result_code))
                if len(records) > AUDIT_EXPORT_LIMIT:
                    return self._download_error(
                        request, 413, f"more than {AUDIT_EXPORT_LIMIT} records match: narrow the time range, or "
                                      "use wloadctl audit export (no limit)")
                if not answer.next_after_seq:
                    break
                after = answer.next_after_seq
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self._download_error(request, http_status(e), e.message)

        def build() -> bytes:
            if fmt == "jsonl":
                return auditfiles.jsonl_bytes(records)
            rows = [auditfiles.row(r) for r in records]
            return auditfiles.csv_bytes(rows) if fmt == "csv" else auditfiles.xlsx_bytes(rows)

        data = await asyncio.to_thread(build)  # an XLSX of many records takes a while: not on the replica's loop
        return _attachment(data, fmt, f"audit-{_stamp(now_ms)}.{fmt}")

    def _download_error(self, request: web.Request, status: int, message: str) -> web.StreamResponse:
        return self.console.page(request, "error.html", http_status=status, title="No download", message=message)

    # ---- calendars and next firings

    async def calendars(self, request: web.Request) -> web.StreamResponse:
        if request.query:
            return self.console.page(request, "error.html", http_status=400, title="Calendars",
                                     message="this page takes no parameters")
        caller = self._caller(request)
        (calendars, calendars_error), (scheduled, scheduled_error) = await asyncio.gather(
            section(self.gw.list_calendars(caller)), section(self._scheduled(caller)))
        items, more = scheduled if scheduled is not None else ([], False)
        semaphore = asyncio.Semaphore(NEXT_FIRE_CONCURRENCY)

        async def preview(item: Scheduled) -> None:
            async with semaphore:
                item.answer, item.error = await section(self.gw.next_fire_times(caller, item.name,
                                                                                     FIRINGS_EACH))

        await asyncio.gather(*(preview(i) for i in items))
        timeline = sorted((Firing(i.name, i.kind, t, i.answer.time_zone)
                           for i in items if i.answer is not None and not i.answer.suspended
                           for t in i.answer.times),
                          key=lambda f: (f.time.due_ms, f.name))[:TIMELINE]
        rows = sorted(calendars.calendars, key=lambda c: c.spec.name) if calendars is not None else []
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        return self.console.page(request, "calendars.html", calendars=rows, calendars_error=calendars_error,
                                 scheduled=items, scheduled_error=scheduled_error, more=more, timeline=timeline,
                                 weekdays=weekdays, today=today, limit=SCHEDULED_LIMIT, each=FIRINGS_EACH)

    async def _scheduled(self, caller: Caller) -> tuple[list[Scheduled], bool]:
        """The user's jobs and workflows with schedules (ListJobs, ListWorkflows: the user's domains), by
        name, at most SCHEDULED_LIMIT (and whether there were more)."""
        found: list[Scheduled] = []
        token, read = "", 0
        while read < JOBS_LIMIT:
            page = await self.gw.list_jobs(caller, LIST_PAGE, token)
            read += len(page.jobs)
            found += [Scheduled(j.spec.name, "job", j.spec.domain or "default") for j in page.jobs
                      if j.spec.schedules and not j.deleted]
            token = page.next_page_token
            if not token:
                break
        workflows = await self.gw.list_workflows(caller)
        found += [Scheduled(w.spec.name, "workflow", w.spec.domain or "default") for w in workflows.workflows
                  if w.spec.trigger.schedules and not w.deleted]
        found.sort(key=lambda s: (s.name, s.kind))
        return found[:SCHEDULED_LIMIT], len(found) > SCHEDULED_LIMIT or bool(token)

    # ---- reports

    async def _report(self, caller: Caller, q: ReportQuery) -> api_pb2.RunReport:
        request = api_pb2.ReportRunsRequest(by=q.by, from_ms=q.from_ms, to_ms=q.to_ms, bucket=q.bucket,
                                            domain=q.domain, time_zone=q.time_zone)
        return await self.gw.report_runs(caller, request)

    async def reports(self, request: web.Request) -> web.StreamResponse:
        values: dict[str, Any] = {"report": None, "links": {}, "group_by": GROUP_BY, "buckets": BUCKETS,
                                  "rate": report_rate, "bucket_label": report_bucket, "classes": report_classes}
        try:
            q = parse_report(dict(request.query), _now_ms())
        except QueryError as e:
            return self._bad_query(request, "reports.html", e, filters=dict(request.query), **values)
        values["filters"] = q.text
        try:
            report = await self._report(self._caller(request), q)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "reports.html", http_status=http_status(e), error=e.message, **values)
        exact = q.exact()
        values["links"] = {fmt: "/reports/download?" + urlencode({**exact, "format": fmt}) for fmt in REPORT_FORMATS}
        values["cli"] = " ".join(["wloadctl report runs", f"--by {q.by}", f"--from {exact['from']}",
                                  f"--to {exact['to']}", f"--bucket {q.bucket}",
                                  *([f"--domain {q.domain}"] if q.domain else []),
                                  *([f"--tz {q.time_zone}"] if q.time_zone else [])])
        values["report"] = report
        return self.console.page(request, "reports.html", error="", **values)

    async def report_download(self, request: web.Request) -> web.StreamResponse:
        """The report as `wloadctl report runs -o csv|xlsx -f FILE` writes it (the same bytes: a file's CSV
        has the byte-order mark)."""
        try:
            fmt = request.query.get("format", "")
            if fmt not in REPORT_FORMATS:
                raise QueryError(f"format: one of {', '.join(REPORT_FORMATS)}")
            q = parse_report(dict(request.query), _now_ms(), extra=frozenset({"format"}))
        except QueryError as e:
            return self._download_error(request, 400, str(e))
        try:
            report = await self._report(self._caller(request), q)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self._download_error(request, http_status(e), e.message)
        data = await asyncio.to_thread(reportfiles.csv_bytes if fmt == "csv" else reportfiles.xlsx_bytes, report)
        return _attachment(data, fmt, f"runs-by-{q.by}-{_stamp(q.from_ms)}-{_stamp(q.to_ms)}.{fmt}")


@dataclass
class DateScan:
    runs: list[runs_pb2.Run] = field(default_factory=list)
    scanned: int = 0
    more: bool = False         # the date has more than GANTT_MAX_RUNS runs: the newest are drawn
    budget_hit: bool = False   # stopped after GANTT_MAX_CALLS pages before reaching the date's start


def _attachment(data: bytes, fmt: str, filename: str) -> web.Response:
    # filename is built from checked values only (a format, dates, a fixed word): nothing to quote.
    return web.Response(body=data, headers={
        "Content-Type": _CONTENT_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
    })


"""A RunReport as cells, CSV and XLSX bytes: one layout for the CLI and the web console. Pure: the
writers return bytes and never touch a file.

Columns (COLUMNS, then one per failure class): the bucket's start and end (ISO-8601 in the
report's time zone), the group key (headed by what the report groups by), the counts, the success
rate (a fraction, 0.75), how many durations there are and their p50, p95 and max in seconds, and
the runs per failure class (`class_exit_code`, ...). A row per group; the report's total is not a
row of the CSV (every row is one group, for scripts), it is the `total` sheet of the XLSX.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Sequence

from wloadctl.model.runreport import FAILURE_CLASSES, time_zone
from wloadctl.proto.v1 import api_pb2

__all__ = ["COUNT_COLUMNS", "Cell", "class_names", "csv_bytes", "header", "iso", "row_cells", "xlsx_bytes"]

Cell = str | int | float
COUNT_COLUMNS = ("runs", "succeeded", "failed", "timed_out", "killed", "skipped", "unfinished", "success_rate",
                 "durations", "duration_p50_s", "duration_p95_s", "duration_max_s")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a CSV
# cell gets a leading apostrophe. XLSX cells are typed as strings instead (as in `audit export`).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def class_names(report: api_pb2.RunReport) -> list[str]:
    """The documented failure classes, then any other a (newer) replica reported, sorted."""
    seen = {name for r in (*report.rows, report.total) for name in r.failure_classes}
    return [*FAILURE_CLASSES, *sorted(seen - set(FAILURE_CLASSES))]


def header(report: api_pb2.RunReport) -> list[str]:
    return ["bucket_start", "bucket_end", report.by or "key", *COUNT_COLUMNS,
            *(f"class_{name}" for name in class_names(report))]


def iso(ms: int, zone_name: str = "") -> str:
    """ISO-8601 to the second: UTC with Z, else local time with its offset; "" for 0 (no end)."""
    if ms <= 0:
        return ""
    zone = time_zone(zone_name)
    moment = datetime.datetime.fromtimestamp(ms // 1000, tz=zone or datetime.UTC)
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if zone is None else text


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def row_cells(report: api_pb2.RunReport, row: api_pb2.RunReportRow, classes: Sequence[str]) -> list[Cell]:
    """The cells of ``row`` in header() order."""
    return [iso(row.bucket_start_ms, report.time_zone), iso(row.bucket_end_ms, report.time_zone), row.key,
            row.runs, row.succeeded, row.failed, row.timed_out, row.killed, row.skipped, row.unfinished,
            row.success_rate, row.durations, _seconds(row.duration_p50_ms), _seconds(row.duration_p95_ms),
            _seconds(row.duration_max_ms), *(row.failure_classes.get(name, 0) for name in classes)]


def _csv_cell(value: Cell) -> Cell:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def csv_bytes(report: api_pb2.RunReport, bom: bool = True) -> bytes:
    """UTF-8, with a byte-order mark unless ``bom`` is False (spreadsheets read a file with one as
    UTF-8; a script reading a pipe is better off without), CRLF line ends (RFC 4180)."""
    classes = class_names(report)
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header(report))
    for row in report.rows:
        writer.writerow([_csv_cell(c) for c in row_cells(report, row, classes)])
    return (("\ufeff" if bom else "") + text.getvalue()).encode("utf-8")


def _about(report: api_pb2.RunReport) -> list[tuple[str, Cell]]:
    lines: list[tuple[str, Cell]] = [
        ("runs by", report.by), ("bucket", report.bucket), ("from", iso(report.from_ms, report.time_zone)),
        ("to", iso(report.to_ms, report.time_zone) or "(no end)"), ("time zone", report.time_zone or "UTC"),
        ("truncated", "yes: only runs created before covered_to are counted" if report.truncated else "no"),
        ("covered_to", iso(report.covered_to_ms, report.time_zone)),
        ("bucket of a run", "its creation time (trigger)"),
        ("success_rate", "succeeded / (succeeded + failed + timed_out + killed)"),
        ("durations", "started -> finished of the last attempt of final runs, in seconds; nearest-rank percentiles"),
    ]
    return lines + [(f"class_{name}", text) for name, text in FAILURE_CLASSES.items()]


def xlsx_bytes(report: api_pb2.RunReport) -> bytes:
    """Three sheets: `runs` (a row per group), `total` (one row) and `about` (what the report is)."""
    # Imported here: only the report and audit exports need openpyxl.
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING

    classes = class_names(report)
    book = Workbook()
    sheets = [(book.active, "runs", list(report.rows)), (book.create_sheet(), "total", [report.total])]
    rate = 3 + COUNT_COLUMNS.index("success_rate") + 1  # its 1-based column
    for sheet, title, rows in sheets:
        sheet.title = title
        sheet.append(header(report))
        for row in rows:
            sheet.append(row_cells(report, row, classes))
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = TYPE_STRING  # never a formula, whatever the text starts with
            sheet.cell(row=sheet.max_row, column=rate).number_format = "0.0%"
        sheet.freeze_panes = "A2"
    about = book.create_sheet("about")
    for name, value in _about(report):
        about.append([name, value])
        for cell in about[about.max_row]:
            cell.data_type = TYPE_STRING if isinstance(cell.value, str) else cell.data_type
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

"""`wloadctl audit export`: audit records as a CSV or XLSX file for auditors.

One row per record. The first six columns are the owner's six elements of an audit record
(operator, time, source IP, operation content, result, associated resources); the record's own
fields follow, so that nothing the log holds is lost in the export.

The file is written with mode 0600 (the log says who did what from where), to a temporary file
first and then renamed, so a failed export never leaves half a file under the name asked for.
"""

from __future__ import annotations

import csv
import datetime
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from wloadctl.cli import render
from wloadctl.proto.v1 import audit_pb2

__all__ = ["COLUMNS", "FORMATS", "row", "write_export"]

FORMATS = ("csv", "xlsx")
COLUMNS = ("operator", "time", "source IP", "operation content", "result", "associated resources",
           "seq", "operation", "before", "after", "approved by", "hash")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a
# CSV cell gets a leading apostrophe, which spreadsheets show as text. XLSX cells are typed as
# strings instead, so they keep their value unchanged.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with milliseconds (records can be ms apart)."""
    if ms <= 0:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def row(record: audit_pb2.AuditRecord) -> list[str | int]:
    """The cells of one record, in COLUMNS order."""
    operator = render.actor_text(record.actor)
    if record.actor.via:
        operator += f" (via {record.actor.via})"
    return [operator, iso_ms(record.time_ms), render.source_ip(record.actor.source), record.content,
            render.audit_result(record), " ".join(record.resources), record.seq, record.operation,
            record.before, record.after, record.approved_by, record.hash.hex()]


def _csv_cell(value: str | int) -> str | int:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _csv_bytes(rows: Iterable[Sequence[str | int]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")  # RFC 4180
    writer.writerow(COLUMNS)
    for cells in rows:
        writer.writerow([_csv_cell(c) for c in cells])
    # With a BOM, spreadsheets read the file as UTF-8 (names and content may be non-ASCII).
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def _xlsx_bytes(rows: Iterable[Sequence[str | int]]) -> bytes:
    # Imported here: only this command needs openpyxl.
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING

    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = "audit"
    sheet.append(list(COLUMNS))
    for cells in rows:
        sheet.append(list(cells))
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = TYPE_STRING  # never a formula, whatever the text starts with
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_export(records: Iterable[audit_pb2.AuditRecord], fmt: str, path: str | Path) -> int:
    """Write ``records`` to ``path`` as ``fmt`` (csv or xlsx), mode 0600; returns how many."""
    if fmt not in FORMATS:
        raise ValueError(f"--format: csv or xlsx, got {fmt!r}")
    rows = [row(r) for r in records]
    data = _csv_bytes(rows) if fmt == "csv" else _xlsx_bytes(rows)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # also when an older temporary file allowed more
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(rows)

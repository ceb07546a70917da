"""Audit records as export rows, CSV, XLSX and JSON Lines bytes: one layout for `wloadctl audit export`
and the web console's audit download. Pure: the writers return bytes and never touch a file.

One row per record. The first six columns are the owner's six elements of an audit record
(operator, time, source IP, operation content, result, associated resources); the record's own
fields follow, so that nothing the log holds is lost in the export. JSON Lines holds one record per
line with every field under its proto name, as `wloadctl audit get -o json` prints each record.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor
from google.protobuf.message import Message

from wloadctl.proto.v1 import audit_pb2, auth_pb2

__all__ = ["COLUMNS", "FORMATS", "actor_text", "audit_result", "csv_bytes", "iso_ms", "jsonl_bytes", "record_dict",
           "row", "source_ip", "status_text", "xlsx_bytes"]

FORMATS = ("csv", "xlsx")
COLUMNS = ("operator", "time", "source IP", "operation content", "result", "associated resources",
           "seq", "operation", "before", "after", "approved by", "hash")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a
# CSV cell gets a leading apostrophe, which spreadsheets show as text. XLSX cells are typed as
# strings instead, so they keep their value unchanged.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_INT64 = {descriptor.FieldDescriptor.CPPTYPE_INT64, descriptor.FieldDescriptor.CPPTYPE_UINT64}


def actor_text(actor: auth_pb2.Actor) -> str:
    """`user/alice`, `apikey/k57`, `replica/r1`, `system`: who did it."""
    if not actor.kind and not actor.name:
        return "-"
    return f"{actor.kind}/{actor.name}" if actor.name else actor.kind


def source_ip(source: str) -> str:
    """The IP address of an `ip:port` or `[ipv6]:port` source (as the audit record keeps it)."""
    if source.startswith("["):
        return source[1:].partition("]")[0]
    host, sep, port = source.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else source


def status_text(code: int, message: str) -> str:
    """A recorded result: `ok`, or the gRPC status name and why (`PERMISSION_DENIED: ...`)."""
    if not code:
        return message or "ok"
    name = next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))
    return f"{name}: {message}" if message else name


def audit_result(record: audit_pb2.AuditRecord) -> str:
    return status_text(record.result_code, record.result)


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with milliseconds (records can be ms apart)."""
    if ms <= 0:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def row(record: audit_pb2.AuditRecord) -> list[str | int]:
    """The cells of one record, in COLUMNS order."""
    operator = actor_text(record.actor)
    if record.actor.via:
        operator += f" (via {record.actor.via})"
    return [operator, iso_ms(record.time_ms), source_ip(record.actor.source), record.content,
            audit_result(record), " ".join(record.resources), record.seq, record.operation,
            record.before, record.after, record.approved_by, record.hash.hex()]


def _csv_cell(value: str | int) -> str | int:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def csv_bytes(rows: Iterable[Sequence[str | int]]) -> bytes:
    """RFC 4180 (CRLF), UTF-8 with a byte-order mark: spreadsheets then read it as UTF-8 (names and
    content may be non-ASCII)."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for cells in rows:
        writer.writerow([_csv_cell(c) for c in cells])
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def xlsx_bytes(rows: Iterable[Sequence[str | int]]) -> bytes:
    # Imported here: only the exports need openpyxl.
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


def _is_repeated(field: descriptor.FieldDescriptor) -> bool:
    # `label` is deprecated in newer protobuf releases in favour of `is_repeated`.
    is_repeated = getattr(field, "is_repeated", None)
    if isinstance(is_repeated, bool):
        return is_repeated
    return field.label == descriptor.FieldDescriptor.LABEL_REPEATED


def record_dict(message: Message) -> dict[str, Any]:
    """Every field under its proto name in declaration order, 64-bit integers as numbers and bytes as
    base64: the form `wloadctl audit get -o json` prints (an audit record has no maps or enums)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        repeated = _is_repeated(field)
        values = list(value) if repeated else [value]
        if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            converted: list[Any] = [record_dict(v) for v in values]
        elif field.type == descriptor.FieldDescriptor.TYPE_BYTES:
            converted = [base64.b64encode(v).decode() for v in values]
        elif field.cpp_type in _INT64:
            converted = [int(v) for v in values]
        else:
            converted = values
        out[field.name] = converted if repeated else converted[0]
    return out


def jsonl_bytes(records: Iterable[audit_pb2.AuditRecord]) -> bytes:
    """One JSON document per line (UTF-8, LF), oldest record first."""
    return b"".join(json.dumps(record_dict(r), ensure_ascii=False).encode() + b"\n" for r in records)

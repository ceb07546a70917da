"""`wloadctl audit export`: audit records as a CSV or XLSX file for auditors.

One row per record. The first six columns are the owner's six elements of an audit record
(operator, time, source IP, operation content, result, associated resources); the record's own
fields follow, so that nothing the log holds is lost in the export.

The file is written with mode 0600 (the log says who did what from where), to a temporary file
first and then renamed, so a failed export never leaves half a file under the name asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from wloadctl.cli.privatefile import write_private
from wloadctl.model.auditfiles import COLUMNS, FORMATS, csv_bytes, iso_ms, row, xlsx_bytes
from wloadctl.proto.v1 import audit_pb2

# The layout and the writers live in wloadctl/model/auditfiles.py: the web console's download is
# the same bytes.
__all__ = ["COLUMNS", "FORMATS", "iso_ms", "row", "write_export"]


def write_export(records: Iterable[audit_pb2.AuditRecord], fmt: str, path: str | Path) -> int:
    """Write ``records`` to ``path`` as ``fmt`` (csv or xlsx), mode 0600; returns how many."""
    if fmt not in FORMATS:
        raise ValueError(f"--format: csv or xlsx, got {fmt!r}")
    rows = [row(r) for r in records]
    data = csv_bytes(rows) if fmt == "csv" else xlsx_bytes(rows)
    write_private(path, data)
    return len(rows)

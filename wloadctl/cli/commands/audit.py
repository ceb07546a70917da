"""The audit log: `audit get`, `audit verify`, `audit export`."""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterator

from wloadctl.cli import auditexport, output, render
from wloadctl.cli.context import EXIT_FAILURE, EXIT_OK, Context, emit, emit_data, error, listing
from wloadctl.cli.parser import Verbs, int_at_least, time_ms
from wloadctl.client import Client
from wloadctl.proto.v1 import audit_pb2

TIME_HELP = "ISO-8601 UTC (2026-12-01T00:00:00Z or 2026-12-01) or a duration ago (24h, 7d)"
PAGE_SIZE = 1000


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default="", metavar="U", help="only what this user (or key id) did")
    parser.add_argument("--since", type=time_ms, default=0, metavar="T", help=f"only records from T on: {TIME_HELP}")
    parser.add_argument("--until", type=time_ms, default=0, metavar="T", help=f"only records before T: {TIME_HELP}")
    parser.add_argument("--operation", default="", metavar="OP",
                        help="only this operation (job.apply), or those starting with a prefix ending in '.' (job.)")
    parser.add_argument("--resource", default="", metavar="R",
                        help="only records about this resource (job/nightly-backup), or a prefix ending in '/' (job/)")


def register(verbs: Verbs) -> None:
    get = verbs.add_to(
        "audit", "get", "list audit records (oldest first)",
        description="List audit records, oldest first: SEQ TIME OPERATOR SOURCE OPERATION RESULT\n"
                    "RESOURCES. Every change, login and denied request is recorded, with what was asked\n"
                    "(content), the values before and after a change, and who approved it (-o json|yaml\n"
                    "shows every field). Needs audit.read.",
        epilog="examples:\n  wloadctl audit get --since 24h\n"
               "  wloadctl audit get --user alice --operation job. --limit 20\n"
               "  wloadctl audit get --resource job/nightly-backup -o json | jq '.records[].after'",
        handler=cmd_audit_get,
    )
    _filters(get)
    get.add_argument("--limit", type=int_at_least(1), default=None, metavar="N",
                     help="only the newest N records that match (still printed oldest first)")
    verbs.add_to(
        "audit", "verify", "check the audit log's hash chain",
        description="Ask a replica to check its copy of the audit log: every record's hash and its link\n"
                    "to the previous one. Exit 0 when the chain holds, 1 (naming the first broken record)\n"
                    "when a record was changed, removed or inserted.",
        epilog="example:\n  wloadctl audit verify\n\noutput: audit log verified: 120 records (seq 1..120)",
        handler=cmd_audit_verify,
    )
    export = verbs.add_to(
        "audit", "export", "write audit records to a CSV or XLSX file",
        description="Write the audit records that match to FILE (mode 0600), one row per record. The first\n"
                    "columns are the six elements of an audit record: operator, time, source IP, operation\n"
                    "content, result, associated resources; then seq, operation, before, after, approved\n"
                    "by and hash. Here -o names the file.",
        epilog="examples:\n  wloadctl audit export --format xlsx -o audit-2026-11.xlsx --since 2026-11-01 \\\n"
               "      --until 2026-12-01\n"
               "  wloadctl audit export --format csv -o audit.csv",
        handler=cmd_audit_export,
        output_option=False,
    )
    export.add_argument("--format", required=True, choices=auditexport.FORMATS, help="csv or xlsx")
    export.add_argument("-o", "--output", dest="file", required=True, metavar="FILE", help="the file to write")
    _filters(export)


def _request(args: argparse.Namespace) -> audit_pb2.ListAuditRequest:
    return audit_pb2.ListAuditRequest(user=args.user, since_ms=args.since, until_ms=args.until,
                                      operation=args.operation, resource=args.resource, page_size=PAGE_SIZE)


def _records(client: Client, args: argparse.Namespace) -> Iterator[audit_pb2.AuditRecord]:
    return client.iter_audit(_request(args))


def cmd_audit_get(args: argparse.Namespace, ctx: Context) -> int:
    records: Iterator[audit_pb2.AuditRecord] = _records(ctx.client(), args)
    if args.limit:
        # The log is read oldest first: keep the newest N that match.
        records = iter(collections.deque(records, maxlen=args.limit))
    return listing(ctx, records, 0, "records", render.audit_table)


def cmd_audit_verify(args: argparse.Namespace, ctx: Context) -> int:
    result = ctx.client().verify_audit()
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(result))
    elif result.ok:
        emit(f"audit log verified: {result.records} records (seq {result.first_seq}..{result.last_seq})\n")
    if not result.ok:
        error(f"audit log broken at record {result.broken_seq}: {result.problem}")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.cli.progress import Progress

    records: list[audit_pb2.AuditRecord] = []
    # The log may hold millions of records: on a terminal, stderr counts them as they come.
    with Progress(ctx.output, "reading audit records") as progress:
        for record in _records(ctx.client(), args):
            records.append(record)
            progress.update(len(records))
        progress.phase(f"writing {len(records)} records to {args.file}")
        count = auditexport.write_export(records, args.format, args.file)
    span = f" (seq {records[0].seq}..{records[-1].seq})" if records else ""
    emit(f"{count} audit records{span} written to {args.file} ({args.format})\n")
    return EXIT_OK

"""Four-eyes approvals: `approval get`, `approval approve`, `approval reject`."""

from __future__ import annotations

import argparse
import sys

import grpc

from wloadctl.cli import render
from wloadctl.cli.context import EXIT_FAILURE, EXIT_OK, Context, answer, error, show
from wloadctl.cli.parser import Verbs, non_blank

APPROVAL_STATES = ("pending", "approved", "rejected", "expired")


def register(verbs: Verbs) -> None:
    get = verbs.add_to(
        "approval", "get", "list approvals (newest first), or show one",
        description="List the four-eyes approvals you may see: those you requested, and those of the\n"
                    "domains where you may approve (ID STATE OPERATION DOMAIN REQUESTED-BY REQUESTED\n"
                    "SUMMARY), or one. A write that a four-eyes rule holds exits 3 and names its approval.",
        epilog="examples:\n  wloadctl approval get --state pending\n  wloadctl approval get a42 -o yaml",
        handler=cmd_approval_get,
    )
    get.add_argument("approval_id", metavar="ID", nargs="?", default="", help="one approval, e.g. a42")
    get.add_argument("--state", choices=APPROVAL_STATES, default="", help="only approvals in this state")
    approve = verbs.add_to(
        "approval", "approve", "approve another user's request: it runs now",
        description="Approve a pending request of another user. The operation then runs, as its\n"
                    "requester, and both names go into the audit record. Exit 1 when the operation\n"
                    "itself fails.",
        epilog="example:\n  wloadctl approval approve a42 --reason 'checked with the finance team'",
        handler=cmd_approval_approve,
    )
    approve.add_argument("approval_id", metavar="ID", help="approval id, e.g. a42")
    approve.add_argument("--reason", default="", metavar="TEXT", help="why (recorded)")
    reject = verbs.add_to(
        "approval", "reject", "reject a request: it never runs",
        description="Reject a pending request of another user; the operation never runs.",
        epilog="example:\n  wloadctl approval reject a42 --reason 'wrong job'",
        handler=cmd_approval_reject,
    )
    reject.add_argument("approval_id", metavar="ID", help="approval id, e.g. a42")
    reject.add_argument("--reason", required=True, type=non_blank, metavar="TEXT", help="why (required; recorded)")


def cmd_approval_get(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    if args.approval_id:
        approval = client.get_approval(args.approval_id)
        return show(ctx, approval, render.approvals_table([approval]))
    response = client.list_approvals(args.state)
    if not response.approvals and ctx.output == "table":
        print("No approvals found.", file=sys.stderr)
        return EXIT_OK
    return show(ctx, response, render.approvals_table(response.approvals))


def cmd_approval_approve(args: argparse.Namespace, ctx: Context) -> int:
    approval = ctx.client().approve(args.approval_id, args.reason)
    summary = f": {approval.summary}" if approval.summary else ""
    answer(ctx, approval, f"approval/{approval.id or args.approval_id} approved{summary}")
    if approval.result_code != grpc.StatusCode.OK.value[0]:
        error(f"the approved operation failed: {render.status_text(approval.result_code, approval.result)}")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_approval_reject(args: argparse.Namespace, ctx: Context) -> int:
    approval = ctx.client().reject(args.approval_id, args.reason)
    return answer(ctx, approval, f"approval/{approval.id or args.approval_id} rejected")

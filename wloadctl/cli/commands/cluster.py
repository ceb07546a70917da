"""The replica set: `cluster status`, `add-member`, `remove-member`, `transfer-leader`,
`force-dispatch` and `digest`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import grpc

from wloadctl.cli import output, render, watching
from wloadctl.cli.context import (
    EXIT_FAILURE,
    EXIT_OK,
    Context,
    answer,
    emit,
    emit_data,
    error,
    rpc_error_message,
)
from wloadctl.cli.parser import Verbs, address, non_blank, positive_float
from wloadctl.client import ClientError
from wloadctl.proto.v1 import api_pb2

STATUS_POLL_SECONDS = 0.5  # `cluster status --wait`


def register(verbs: Verbs) -> None:
    status = verbs.add_to(
        "cluster", "status", "show the leader, indexes and every member",
        description="Show the cluster as the leader sees it: term, commit and applied index, the\n"
                    "epoch and its takeover phase, agent quorum, and each member's role, connectivity\n"
                    "and replication lag.",
        epilog="examples:\n  wloadctl cluster status\n"
               "  wloadctl cluster status --wait 120   # after a restart or a membership change\n"
               "  wloadctl cluster status -w           # again whenever the leader, roles, members or "
               "takeover change",
        handler=cmd_status,
    )
    status.add_argument("--wait", type=positive_float, default=None, metavar="SECONDS",
                        help="first wait (at most SECONDS) until a leader dispatches and every member is "
                             "connected and caught up; exit 1 if it does not happen in time")
    status.add_argument("-w", "--watch", action="store_true",
                        help="then print the status again whenever the leader, term, roles, members, quorum, "
                             "epoch or takeover phase change, until Ctrl-C (a stream from the leader, not polling)")
    add_member = verbs.add_to(
        "cluster", "add-member", "add a replica to the cluster",
        description="Add a member. Start the new replica first, with a config listing the current\n"
                    "members and itself as peers; this command then commits the membership change.",
        epilog="example:\n  wloadctl cluster add-member r4 10.0.0.4:18681 --api-address 10.0.0.4:18581",
        handler=cmd_add_member,
    )
    add_member.add_argument("id", metavar="ID", help="the new member's node id")
    add_member.add_argument("raft_address", metavar="ADDR", type=address,
                            help="the new member's Raft address HOST:PORT")
    add_member.add_argument("--api-address", type=address, default=None, metavar="API_ADDR",
                            help="the new member's API address HOST:PORT (so clients can be redirected to it)")
    remove_member = verbs.add_to(
        "cluster", "remove-member", "remove a replica from the cluster",
        description="Remove a member. Removing the leader makes it step down first.",
        handler=cmd_remove_member,
    )
    remove_member.add_argument("id", metavar="ID", help="node id of the member to remove")
    transfer = verbs.add_to(
        "cluster", "transfer-leader", "hand leadership to another replica",
        description="Make another member the leader (default: the most caught-up follower).",
        handler=cmd_transfer_leader,
    )
    transfer.add_argument("target", metavar="ID", nargs="?", default="",
                          help="node id of the new leader (optional)")
    force = verbs.add_to(
        "cluster", "force-dispatch", "dispatch runs without an agent quorum (operator override)",
        description="Let the leader dispatch runs in the current epoch although too few agents have\n"
                    "confirmed it (takeover phase degraded). Runs on unconfirmed agents may then still\n"
                    "be running elsewhere: use it only when those agents are known to be gone. The\n"
                    "override, the operator and the reason are recorded in the replicated state.",
        epilog='example:\n  wloadctl cluster force-dispatch --reason "rack 4 powered off, agents a7-a9 are gone"',
        handler=cmd_force_dispatch,
    )
    force.add_argument("--reason", required=True, type=non_blank, metavar="TEXT",
                       help="why (required; recorded in the state)")
    force.add_argument("--operator", default=None, metavar="NAME",
                       help="who (default: $USER)")
    verbs.add_to(
        "cluster", "digest", "compare the state digest of every replica",
        description="Ask every server in the --server list for the digest of its state.\n"
                    "Exits 1 when two replicas at the same applied index have different digests,\n"
                    "or when a server does not answer.",
        handler=cmd_digest,
    )


def cluster_not_ready(status: api_pb2.ClusterStatus) -> list[str]:
    """Why the cluster is not healthy yet, as the leader reports it ([] = healthy): a leader that
    dispatches, and every member connected to it with nothing left to replicate."""
    if not status.leader_id:
        return ["no leader elected"]
    if status.role != "leader":
        return [f"the leader {status.leader_id} did not answer (this is {status.self_id}'s view)"]
    reasons = []
    if status.takeover_phase != "active":
        reasons.append(f"the leader is not dispatching yet (takeover phase {status.takeover_phase or 'unknown'})")
    for m in status.members:
        if not m.connected:
            reasons.append(f"{m.id} is not connected")
        elif m.lag:
            reasons.append(f"{m.id} is {m.lag} entries behind")
    return reasons


def _wait_ready(ctx: Context, seconds: float) -> tuple[api_pb2.ClusterStatus | None, list[str]]:
    deadline = time.monotonic() + seconds
    client = ctx.new_client(timeout=min(ctx.timeout, 2.0), retry_for=0)
    status: api_pb2.ClusterStatus | None = None
    reasons = ["no replica answered"]
    try:
        while True:
            try:
                status = client.status()
                reasons = cluster_not_ready(status)
            except (ClientError, grpc.RpcError) as failure:
                reasons = [str(getattr(failure, "message", None) or failure)]
            if not reasons or time.monotonic() >= deadline:
                return status, reasons
            time.sleep(STATUS_POLL_SECONDS)
    finally:
        client.close()


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    reasons: list[str] = []
    if args.wait is not None:
        waited, reasons = _wait_ready(ctx, args.wait)
        status = waited if waited is not None else ctx.client().status()
    else:
        status = ctx.client().status()
    if args.watch:
        if reasons:
            error(f"the cluster is not ready after {args.wait:g}s: {'; '.join(reasons)}")
        return _watch_status(ctx, status)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(status))
    else:
        emit(render.cluster_status(status))
    if reasons:
        error(f"the cluster is not ready after {args.wait:g}s: {'; '.join(reasons)}")
        return EXIT_FAILURE
    return EXIT_OK


def _watch_status(ctx: Context, first: api_pb2.ClusterStatus) -> int:
    """The status as the leader sees it, then again on each change; after a leader change the
    stream moves to the new leader (the old one's view would be a follower's)."""
    client = ctx.client()
    server = first.leader_api_address or None
    while True:
        try:
            for event in client.watch_cluster(server):
                if not event.HasField("cluster"):
                    continue
                status = event.cluster
                if ctx.output != "table":
                    emit(watching.event_line(ctx, event))
                else:
                    emit(f"# {time.strftime('%H:%M:%S')} (index {event.index})\n" + render.cluster_status(status)
                         + "\n")
                sys.stdout.flush()
                if status.leader_api_address and status.role != "leader" and status.leader_api_address != server:
                    server = status.leader_api_address
                    break
            else:
                server = None  # the stream ended: any replica, then its leader
        except ClientError:
            if server is None:
                raise
            server = None  # that replica is gone: any other, then its leader


def _members_line(response: Any) -> str:
    ids = [m.id for m in response.members]
    return f"{len(ids)} members: {', '.join(ids)}" if ids else "no members"


def cmd_add_member(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().add_member(args.id, args.raft_address, args.api_address or "")
    return answer(ctx, response, f"member/{args.id} added ({_members_line(response)})")


def cmd_remove_member(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().remove_member(args.id)
    return answer(ctx, response, f"member/{args.id} removed ({_members_line(response)})")


def cmd_transfer_leader(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().transfer_leader(args.target)
    return answer(ctx, response, f"leader is now {response.leader_id}")


def cmd_force_dispatch(args: argparse.Namespace, ctx: Context) -> int:
    operator = args.operator if args.operator is not None else os.environ.get("USER", "")
    response = ctx.client().force_dispatch(args.reason, operator)
    return answer(ctx, response, f"dispatching forced for epoch {response.epoch}")


def cmd_digest(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    results: list[dict[str, Any]] = []
    for server in ctx.server_list():
        entry: dict[str, Any] = {"server": server, "self_id": "", "applied_index": 0, "digest": "", "error": ""}
        try:
            reply = client.digest(server)
        except grpc.RpcError as failure:
            # Per server, so "cannot reach the cluster" would overstate it.
            if failure.code() == grpc.StatusCode.UNAVAILABLE:
                entry["error"] = f"unreachable: {failure.details() or 'no answer'}"
            else:
                entry["error"] = rpc_error_message(failure)
        else:
            entry.update(self_id=reply.self_id, applied_index=reply.applied_index, digest=reply.digest)
        results.append(entry)

    by_index: dict[int, dict[str, list[str]]] = {}
    for entry in results:
        if not entry["error"]:
            who = entry["self_id"] or entry["server"]
            by_index.setdefault(entry["applied_index"], {}).setdefault(entry["digest"], []).append(who)
    divergent = {index: digests for index, digests in by_index.items() if len(digests) > 1}
    comparable = any(sum(len(w) for w in digests.values()) > 1 for digests in by_index.values())
    failed = [e for e in results if e["error"]]

    if ctx.output != "table":
        emit_data(ctx, {"servers": results, "consistent": not divergent, "comparable": comparable})
    else:
        emit(render.digest_table(results))

    for index, digests in sorted(divergent.items()):
        groups = "; ".join(f"{', '.join(who)}: {digest[:16]}" for digest, who in digests.items())
        error(f"digests differ at applied index {index}: {groups}")
    if failed:
        error(f"{len(failed)} of {len(results)} servers did not answer")
    if divergent or failed:
        return EXIT_FAILURE
    if not comparable and len(results) > 1:
        print("note: no two replicas are at the same applied index yet; run again to compare",
              file=sys.stderr)
    return EXIT_OK

"""Four-eyes approvals and the audit log over the API, and the recording of permission denials.

`hold(...)` is what a servicer calls before committing a high-risk operation: when the security
policy names the operation (in that domain), the operation is recorded as a pending approval
instead, and the call ends with FAILED_PRECONDITION and the approval's id in the trailer
`x-wloadctl-approval` (the CLI exits 3). Approving it runs it, once, as its requester.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import grpc

from wloadctl.api.authn import Principal
from wloadctl.api.authz import principal, require
from wloadctl.api.context import ApiContext
from wloadctl.api.headers import APPROVAL_HEADER, REPLICA_HEADER
from wloadctl.api.ratelimit import TokenBucket
from wloadctl.proto.v1 import approval_pb2, approval_pb2_grpc, audit_pb2, audit_pb2_grpc, auth_pb2, commands_pb2
from wloadctl.security.permissions import Permission
from wloadctl.state.audit import capped
from wloadctl.state.encoding import encode

log = logging.getLogger(__name__)
_S = "/wloadctl.v1."
P = Permission
# The permission an approver needs besides approval.approve: the operation's own.
OPERATION_PERMISSIONS = {"job.delete": P.JOB_DELETE, "run.kill": P.RUN_KILL,
                         "cluster.force_dispatch": P.CLUSTER_FORCE_DISPATCH,
                         "cluster.membership": P.CLUSTER_MEMBERSHIP, "role.change": P.USER_ADMIN}
MAX_AUDIT_PAGE = 5000
DEFAULT_AUDIT_PAGE = 500


def needs_approval(policy: auth_pb2.SecurityPolicy, operation: str, domain: str) -> bool:
    return any(rule.operation == operation and (not rule.domains or domain in rule.domains)
               for rule in policy.approvals)


async def hold(api: ApiContext, context: grpc.aio.ServicerContext, operation: str, domain: str,
               command: commands_pb2.Command, summary: str, resources: Sequence[str]) -> None:
    """Return when ``operation`` may run now; otherwise record it as pending and end the call."""
    if not needs_approval(api.store.security_policy(), operation, domain):
        return
    caller = principal()
    if caller.kind == "anonymous":  # --insecure: nobody to tell apart, no second person to ask
        return
    held = commands_pb2.Command()
    held.CopyFrom(command)
    held.ClearField("idempotency_key")  # the request below carries it: a retry finds the same approval
    approval = approval_pb2.Approval(operation=operation, domain=domain, summary=summary, command=encode(held),
                                     resources=list(resources))
    request = commands_pb2.Command(idempotency_key=command.idempotency_key, actor=caller.actor(),
                                   request_approval=approval_pb2.RequestApproval(approval=approval))
    result = await api.commit(request, context)
    context.set_trailing_metadata(((APPROVAL_HEADER, result.id), (REPLICA_HEADER, api.config.node_id)))
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                        f"{summary} needs a second person's approval ({operation}): recorded as {result.id}, "
                        f"pending until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(result.expires_ms / 1000))}")


def _may_see(caller: Principal, approval: approval_pb2.Approval) -> bool:
    mine = approval.requested_by.kind == caller.kind and approval.requested_by.name == caller.name
    return mine or caller.allows(P.APPROVE, approval.domain or None)


class ApprovalServicer(approval_pb2_grpc.ApprovalServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def ListApprovals(self, request: approval_pb2.ListApprovalsRequest, context: grpc.aio.ServicerContext) \
            -> approval_pb2.ListApprovalsResponse:
        caller = principal()
        shown = [a for a in self.api.store.list_approvals()
                 if (not request.state or a.state == request.state) and _may_see(caller, a)]
        for a in shown:
            a.ClearField("command")  # what it does is in summary; the held request stays in the state
        return approval_pb2.ListApprovalsResponse(approvals=shown)

    async def GetApproval(self, request: approval_pb2.GetApprovalRequest, context: grpc.aio.ServicerContext) \
            -> approval_pb2.Approval:
        approval = self.api.store.approval(request.id)
        if approval is None or not _may_see(principal(), approval):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"id: no approval {request.id!r}")
        approval.ClearField("command")
        return approval

    async def _decide(self, method: str, request: approval_pb2.DecideRequest, approve: bool,
                      context: grpc.aio.ServicerContext) -> approval_pb2.Approval:
        approval = self.api.store.approval(request.id)
        if approval is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"id: no approval {request.id!r}")
        domain = approval.domain or None
        await require(context, P.APPROVE, domain)
        needed = OPERATION_PERMISSIONS.get(approval.operation)
        if needed is not None:
            await require(context, needed, domain)
        if not approve and not request.reason.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "reason: required to reject")

        async def here() -> approval_pb2.Approval:
            decide = approval_pb2.DecideApproval(id=request.id, approve=approve, reason=request.reason)
            await self.api.commit(commands_pb2.Command(actor=principal().actor(), decide_approval=decide), context)
            decided = self.api.store.approval(request.id) or approval
            complete = self.api.completions.get(decided.operation)
            if approve and decided.state == "approved" and decided.result_code == 0 and complete is not None:
                await complete(decided, context)
            decided.ClearField("command")
            return decided

        return await self.api.on_leader(_S + f"ApprovalService/{method}", request, approval_pb2.Approval, context,
                                        here)

    async def Approve(self, request: approval_pb2.DecideRequest, context: grpc.aio.ServicerContext) \
            -> approval_pb2.Approval:
        return await self._decide("Approve", request, True, context)

    async def Reject(self, request: approval_pb2.DecideRequest, context: grpc.aio.ServicerContext) \
            -> approval_pb2.Approval:
        return await self._decide("Reject", request, False, context)


def _matches(record: audit_pb2.AuditRecord, request: audit_pb2.ListAuditRequest) -> bool:
    if request.user and record.actor.name != request.user:
        return False
    if request.since_ms and record.time_ms < request.since_ms:
        return False
    if request.until_ms and record.time_ms >= request.until_ms:
        return False
    op = request.operation
    if op and not (record.operation == op or (op.endswith(".") and record.operation.startswith(op))):
        return False
    res = request.resource
    return not res or any(r == res or (res.endswith("/") and r.startswith(res)) for r in record.resources)


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def ListAudit(self, request: audit_pb2.ListAuditRequest, context: grpc.aio.ServicerContext) \
            -> audit_pb2.ListAuditResponse:
        size = request.page_size or DEFAULT_AUDIT_PAGE
        if size > MAX_AUDIT_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size: at most {MAX_AUDIT_PAGE}")

        def scan() -> audit_pb2.ListAuditResponse:
            # A bounded number of records per call, whatever the filter keeps: the page token is the
            # last record looked at, so a filter that matches little costs several short calls.
            looked = self.api.store.audit_records(request.after_seq, limit=size * 4)
            kept = [r for r in looked if _matches(r, request)][:size]
            last = kept[-1].seq if len(kept) == size else (looked[-1].seq if looked else 0)
            more = len(looked) == size * 4 or len(kept) == size
            return audit_pb2.ListAuditResponse(records=kept, next_after_seq=last if more else 0)

        try:
            return await asyncio.to_thread(scan)
        except ValueError as e:  # a record that no longer decrypts: say which, as verify does
            await context.abort(grpc.StatusCode.DATA_LOSS, f"the audit log is damaged: {e}; run wloadctl audit verify")
            raise AssertionError("unreachable") from None

    async def VerifyAudit(self, request: audit_pb2.VerifyAuditRequest, context: grpc.aio.ServicerContext) \
            -> audit_pb2.VerifyAuditResponse:
        verdict = await asyncio.to_thread(self.api.store.verify_audit)
        return audit_pb2.VerifyAuditResponse(ok=verdict.ok, records=verdict.records, first_seq=verdict.first_seq,
                                             last_seq=verdict.last_seq, broken_seq=verdict.broken_seq,
                                             problem=verdict.problem, self_id=self.api.config.node_id)

    async def ReportEvent(self, request: audit_pb2.ReportEventRequest, context: grpc.aio.ServicerContext) \
            -> audit_pb2.ReportEventResponse:
        if not self.api.node.is_leader():
            await self.api.abort_not_leader(context)
        await self.api.commit(commands_pb2.Command(actor=request.actor, record_audit=request.event), context)
        return audit_pb2.ReportEventResponse()


class DenialReporter:
    """Puts permission denials into the audit log, at a bounded rate.

    Each denial becomes a replicated record (written by the leader; a follower hands it over), so a
    caller hammering a forbidden call could make the cluster write without end: beyond the rate the
    denials are counted, and the next record says how many were left out."""

    RATE_PER_S = 20.0
    BURST = 50.0

    def __init__(self, api: ApiContext) -> None:
        self.api = api
        self.bucket = TokenBucket(self.RATE_PER_S, self.BURST)
        self.suppressed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, caller: Principal, method: str, message: str, operation: str = "permission.denied",
               code: grpc.StatusCode = grpc.StatusCode.PERMISSION_DENIED,
               extra: dict[str, object] | None = None) -> None:
        if self.bucket.take():
            self.suppressed += 1
            return
        skipped, self.suppressed = self.suppressed, 0
        event = audit_pb2.RecordAudit(
            operation=operation, result_code=code.value[0], result=message,
            content=capped({"method": method, "left_out_before": skipped, **(extra or {})}))
        task = asyncio.get_running_loop().create_task(self._send(caller.actor(), event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, actor: auth_pb2.Actor, event: audit_pb2.RecordAudit) -> None:
        try:
            if self.api.node.is_leader():
                await self.api.proposer.submit(commands_pb2.Command(actor=actor, record_audit=event), timeout=5)
                return
            leader = self.api.leader_api_address()
            if leader:
                stub = audit_pb2_grpc.AuditServiceStub(self.api.channel(leader))
                await stub.ReportEvent(audit_pb2.ReportEventRequest(event=event, actor=actor), timeout=5,
                                       metadata=self.api.replica_metadata())
        except Exception as e:  # the denial itself was answered; losing its record is logged, not raised
            log.warning("could not record a permission denial in the audit log: %s", e)

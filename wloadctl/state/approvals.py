"""Four-eyes approvals in the replicated state: pending requests, decisions, expiry.

The held operation is a complete Command (its actor is the requester). Approving it runs it, in
the same transaction as the decision, through the state machine's own dispatch, so it takes
effect exactly once and its result is recorded with the approval. Apply re-checks what the API
checked (pending, not expired, decided by another person), so two approvals racing each other,
or an approval racing the expiry, resolve the same way on every replica.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import grpc
import lmdb

from wloadctl.proto.v1 import approval_pb2, auth_pb2, commands_pb2
from wloadctl.state.encoding import encode
from wloadctl.state.results import err as _err
from wloadctl.state.results import ok as _ok

APPROVAL_DBS = (b"approvals", b"approval_expiry")
APPROVAL_MESSAGES = {b"approvals": approval_pb2.Approval}
DEFAULT_TTL_MS = 24 * 3600 * 1000
MAX_TTL_MS = 7 * 24 * 3600 * 1000
_U64 = struct.Struct(">Q")
_EXPIRE_PER_BATCH = 200
MAX_REASON = 1000


def _seq(approval_id: str) -> int | None:
    return int(approval_id[1:]) if approval_id[:1] == "a" and approval_id[1:].isdigit() \
        and len(approval_id) < 21 else None


class ApprovalTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database]) -> None:
        self.db = dbs[b"approvals"]
        self.expiry = dbs[b"approval_expiry"]

    def get(self, txn: lmdb.Transaction, approval_id: str) -> approval_pb2.Approval | None:
        seq = _seq(approval_id)
        raw = txn.get(_U64.pack(seq), db=self.db) if seq is not None else None
        return approval_pb2.Approval.FromString(raw) if raw else None

    def newest_first(self, txn: lmdb.Transaction) -> Iterator[approval_pb2.Approval]:
        cur = txn.cursor(db=self.db)
        if not cur.last():
            return
        while True:
            yield approval_pb2.Approval.FromString(cur.value())
            if not cur.prev():
                return

    def _put(self, txn: lmdb.Transaction, approval: approval_pb2.Approval) -> None:
        txn.put(_U64.pack(_seq(approval.id) or 0), encode(approval), db=self.db)

    def request(self, txn: lmdb.Transaction, cmd: approval_pb2.RequestApproval, actor: auth_pb2.Actor,
                now_ms: int, raft_index: int) -> commands_pb2.CommandResult:
        held = cmd.approval
        try:
            inner = commands_pb2.Command.FromString(held.command)
        except Exception:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "command: not a command")
        if inner.WhichOneof("body") in (None, "request_approval", "decide_approval"):
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "command: not an operation that can wait for approval")
        if len(held.reason) > MAX_REASON:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, f"reason: at most {MAX_REASON} characters")
        ttl = held.expires_ms - now_ms if held.expires_ms else DEFAULT_TTL_MS
        approval = approval_pb2.Approval()
        approval.CopyFrom(held)
        approval.id = f"a{raft_index}"
        approval.requested_by.CopyFrom(actor)
        approval.requested_ms = now_ms
        approval.state = "pending"
        approval.expires_ms = now_ms + max(60_000, min(ttl, MAX_TTL_MS))
        self._put(txn, approval)
        txn.put(_U64.pack(approval.expires_ms) + _U64.pack(raft_index), b"", db=self.expiry)
        return _ok(id=approval.id, expires_ms=approval.expires_ms)

    def decide(self, txn: lmdb.Transaction, cmd: approval_pb2.DecideApproval, actor: auth_pb2.Actor, now_ms: int,
               person: Callable[[auth_pb2.Actor], str],
               run: Callable[[commands_pb2.Command], commands_pb2.CommandResult]) -> commands_pb2.CommandResult:
        approval = self.get(txn, cmd.id)
        if approval is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"id: no approval {cmd.id!r}")
        if approval.state != "pending":
            return _err(grpc.StatusCode.FAILED_PRECONDITION, f"id: {cmd.id} is {approval.state} already")
        if now_ms >= approval.expires_ms:
            self._finish(txn, approval, "expired", None, now_ms, "")
            return _err(grpc.StatusCode.FAILED_PRECONDITION, f"id: {cmd.id} expired")
        if person(actor) == person(approval.requested_by):
            return _err(grpc.StatusCode.PERMISSION_DENIED,
                        f"id: {cmd.id} was requested by {person(approval.requested_by)}; another person must decide")
        if not cmd.approve and not cmd.reason.strip():
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "reason: required to reject")
        if not cmd.approve:
            self._finish(txn, approval, "rejected", actor, now_ms, cmd.reason)
            return _ok(id=approval.id)
        inner = commands_pb2.Command.FromString(approval.command)
        result = run(inner)
        approval.result_code, approval.result = result.code, result.message or "ok"
        self._finish(txn, approval, "approved", actor, now_ms, cmd.reason)
        out = commands_pb2.CommandResult()
        out.CopyFrom(result)
        out.id = approval.id
        return out

    def _finish(self, txn: lmdb.Transaction, approval: approval_pb2.Approval, state: str,
                actor: auth_pb2.Actor | None, now_ms: int, reason: str) -> None:
        approval.state = state
        approval.decided_ms = now_ms
        if actor is not None:
            approval.decided_by.CopyFrom(actor)
        approval.decision_reason = reason[:MAX_REASON]
        self._put(txn, approval)
        txn.delete(_U64.pack(approval.expires_ms) + _U64.pack(_seq(approval.id) or 0), db=self.expiry)

    def expire(self, txn: lmdb.Transaction, now_ms: int) -> list[approval_pb2.Approval]:
        """Pending requests past their expiry become `expired` (never run), a bounded number per entry."""
        cur = txn.cursor(db=self.expiry)
        expired = []
        horizon = _U64.pack(max(0, now_ms))
        while len(expired) < _EXPIRE_PER_BATCH and cur.first() and cur.key()[:8] <= horizon:
            seq = _U64.unpack(cur.key()[8:])[0]
            cur.delete()
            approval = self.get(txn, f"a{seq}")
            if approval is not None and approval.state == "pending":
                approval.state, approval.decided_ms = "expired", now_ms
                self._put(txn, approval)
                expired.append(approval)
        return expired

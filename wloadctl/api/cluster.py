"""ClusterService: status, membership, leadership transfer, digests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from pysyncobj.config import FAIL_REASON

from wloadctl.api.authz import principal
from wloadctl.api.consistency import catch_up_limit
from wloadctl.api.context import ApiContext
from wloadctl.api.governance import hold
from wloadctl.api.jobs import check_key
from wloadctl.model.members import MemberError, check_member_id, normalized_member
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, approval_pb2, commands_pb2
from wloadctl.raft.node import FAIL_REASON_NAMES
from wloadctl.raft.proposer import NotLeaderError
from wloadctl.raft.reads import ReadIndexTimeout

_SERVICE = "/wloadctl.v1.ClusterService/"
_REMOVE_MARK = b"wloadctl:remove-member:"


class ClusterServicer(api_pb2_grpc.ClusterServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api
        api.completions["cluster.membership"] = self._complete_membership

    def build_status(self) -> api_pb2.ClusterStatus:
        api = self.api
        raw = api.node.status()
        leader = raw["leader"]
        status = api_pb2.ClusterStatus(
            self_id=api.config.node_id, leader_id=api.member_id_of(leader) if leader else "",
            leader_api_address=api.api_address_of(leader) if leader else "", term=raw["term"],
            commit_index=raw["commit_index"], applied_index=raw["applied_index"], has_quorum=raw["has_quorum"],
            role=raw["role"], log_entries=raw["log_entries"], snapshot_index=raw["snapshot_index"],
            state_time_ms=api.store.state_time_ms())
        status.state.CopyFrom(api.store.sizes())
        status.state.journal_entries = raw["log_entries"]
        info = api.store.epoch_info()
        status.epoch = info.epoch
        status.dispatch_forced = info.forced and info.epoch == status.epoch
        if api.controller is not None:
            view = api.controller.view()
            status.takeover_phase = str(view["phase"])
            status.agents_confirmed = int(view["confirmed"])  # type: ignore[call-overload]
            status.agents_required = int(view["required"])  # type: ignore[call-overload]
            status.agents_registered = int(view["registered"])  # type: ignore[call-overload]
            status.agents_connected = int(view["connected"])  # type: ignore[call-overload]
        for address in api.node.members():
            is_self = address == api.node.raft_address
            peer = raw["members"].get(address, {})
            match = raw["commit_index"] if is_self else peer.get("match_index", 0)
            is_leader_view = raw["role"] == "leader"
            status.members.add(
                id=api.member_id_of(address), raft_address=address, api_address=api.api_address_of(address),
                role="leader" if address == leader else ("follower" if leader else "unknown"),
                connected=True if is_self else bool(peer.get("connected")),
                match_index=match if is_leader_view else 0,
                lag=max(0, raw["commit_index"] - match) if is_leader_view else 0,
                is_self=is_self)
        return status

    async def Status(self, request: api_pb2.StatusRequest,
                     context: grpc.aio.ServicerContext) -> api_pb2.ClusterStatus:
        return self.build_status()

    async def Digest(self, request: api_pb2.DigestRequest,
                     context: grpc.aio.ServicerContext) -> api_pb2.DigestResponse:
        applied, digest = await asyncio.to_thread(self.api.store.digest)
        return api_pb2.DigestResponse(applied_index=applied, digest=digest, self_id=self.api.config.node_id)

    async def Noop(self, request: api_pb2.NoopRequest,
                   context: grpc.aio.ServicerContext) -> api_pb2.NoopResponse:
        if len(request.payload) > 1 << 20:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "payload: larger than 1 MiB")
        await check_key(request.idempotency_key, context)

        async def here() -> api_pb2.NoopResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key,
                                           noop=commands_pb2.Noop(payload=request.payload))
            result = await self.api.commit(command, context)
            return api_pb2.NoopResponse(raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "Noop", request, api_pb2.NoopResponse, context, here)

    async def ReadIndex(self, request: api_pb2.ReadIndexRequest,
                        context: grpc.aio.ServicerContext) -> api_pb2.ReadIndexResponse:
        """A follower's linearizable read asks the leader for its read index (api/consistency.py)."""
        api = self.api
        if api.reads is None or not api.node.is_leader():
            await api.abort_not_leader(context)
        limit = catch_up_limit(context, share=1.0)
        try:
            index = await api.reads.read_index(limit)
        except NotLeaderError:
            await api.abort_not_leader(context)
        except ReadIndexTimeout as e:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"read index: {e}")
        return api_pb2.ReadIndexResponse(index=index, leader_id=api.config.node_id, term=api.reads.term)

    async def _raft_call(self, start: Any, context: grpc.aio.ServicerContext, what: str,
                         denied: str = " (one membership change at a time; the previous one may still be in progress)",
                         ) -> None:
        """Run a pysyncobj membership/transfer call and wait for its callback; ``denied`` explains a refusal."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()

        def done(_result: Any, error: int) -> None:
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(error))

        start(done)
        try:
            error = await asyncio.wait_for(fut, 30)
        except TimeoutError:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{what}: not committed in 30 s; check cluster status")
        if error != FAIL_REASON.SUCCESS:
            reason = FAIL_REASON_NAMES.get(error, str(error))
            code = grpc.StatusCode.FAILED_PRECONDITION if error == FAIL_REASON.REQUEST_DENIED \
                else grpc.StatusCode.UNAVAILABLE
            hint = denied if error == FAIL_REASON.REQUEST_DENIED else ""
            await context.abort(code, f"{what}: {reason}{hint}")

    def _members(self) -> api_pb2.MembershipResponse:
        api = self.api
        return api_pb2.MembershipResponse(members=[
            commands_pb2.Member(id=api.member_id_of(a), raft_address=a, api_address=api.api_address_of(a))
            for a in api.node.members()])

    async def AddMember(self, request: api_pb2.AddMemberRequest,
                        context: grpc.aio.ServicerContext) -> api_pb2.MembershipResponse:
        try:
            # The normal form is what pysyncobj, the log and every replica's member tables hold.
            m = normalized_member(request.member)
        except MemberError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        await check_key(request.idempotency_key, context)

        async def here() -> api_pb2.MembershipResponse:
            api = self.api
            current = self._recorded_member(m.id)
            if current is not None and (current.raft_address, current.api_address) != (m.raft_address, m.api_address):
                # Followers forward writes to the recorded API address: add-member never moves a member.
                await context.abort(grpc.StatusCode.ALREADY_EXISTS,
                                    f"member.id: {m.id} is already a member at {current.raft_address} (API "
                                    f"{current.api_address or 'unknown'}); to change its addresses, remove it "
                                    f"(wloadctl cluster remove-member {m.id}) and add it again")
            # Record who the member is first, so status and forwarding know its API address.
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           set_member=commands_pb2.SetMember(member=m))
            if m.raft_address not in api.node.members():
                await _refuse_quorum_loss(api, m, context)
                await hold(api, context, "cluster.membership", "", command,
                           f"add member {m.id} at {m.raft_address}", [f"member/{m.id}"])
            await api.commit(command, context)
            await self._join(m, context)
            return self._members()

        return await self.api.on_leader(_SERVICE + "AddMember", request, api_pb2.MembershipResponse, context, here)

    async def _join(self, m: commands_pb2.Member, context: grpc.aio.ServicerContext) -> None:
        if m.raft_address not in self.api.node.members():
            await self._raft_call(lambda cb: self.api.node.add_member(m.raft_address, cb), context,
                                  "member.raft_address")

    async def _leave(self, member_id: str, address: str, context: grpc.aio.ServicerContext) -> None:
        if address == self.api.node.raft_address:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"id: {member_id} is the leader; move leadership first "
                                f"(wloadctl cluster transfer-leader), then remove it")
        if address in self.api.node.members():
            await self._raft_call(lambda cb: self.api.node.remove_member(address, cb), context, "id")

    async def _complete_membership(self, approval: approval_pb2.Approval, context: grpc.aio.ServicerContext) -> None:
        """An approved membership change: its Raft half, on the leader (the record half was its command)."""
        held = commands_pb2.Command.FromString(approval.command)
        if held.HasField("set_member"):
            await self._join(held.set_member.member, context)
        elif held.HasField("noop") and held.noop.payload.startswith(_REMOVE_MARK):
            member_id, _, address = held.noop.payload[len(_REMOVE_MARK):].decode().partition("|")
            await self._leave(member_id, address, context)

    def _recorded_member(self, member_id: str) -> commands_pb2.Member | None:
        """The member as the state records it (or as the config names it, before the bootstrap;
        after it, a removed member's config entry no longer counts)."""
        for r in self.api.store.members():
            if r.id == member_id:
                return r
        if self.api.store.raft_members():
            return None
        for p in self.api.config.peers:
            if p.id == member_id:
                return commands_pb2.Member(id=p.id, raft_address=p.raft_address, api_address=p.api_address)
        return None

    async def RemoveMember(self, request: api_pb2.RemoveMemberRequest,
                           context: grpc.aio.ServicerContext) -> api_pb2.MembershipResponse:
        try:
            check_member_id(request.id, "id")
        except MemberError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

        async def here() -> api_pb2.MembershipResponse:
            api = self.api
            address = api.raft_address_of(request.id)
            if not address or address not in api.node.members():
                if any(r.id == request.id for r in api.store.members()):
                    # Recorded but not a Raft member (an add-member cut short): forget the record,
                    # so that the member can be added again, at other addresses too.
                    await api.commit(commands_pb2.Command(remove_member=commands_pb2.RemoveMember(id=request.id)),
                                     context)
                    return self._members()
                if address:  # removed already (a retried request)
                    return self._members()
                await context.abort(grpc.StatusCode.NOT_FOUND, f"id: no member {request.id!r}")
            if address != api.node.raft_address:
                # The Raft half is no command: the held request names it, and the approval completes it.
                marker = commands_pb2.Command(actor=principal().actor(), noop=commands_pb2.Noop(
                    payload=_REMOVE_MARK + f"{request.id}|{address}".encode()))
                await hold(api, context, "cluster.membership", "", marker, f"remove member {request.id}",
                           [f"member/{request.id}"])
            await self._leave(request.id, address, context)
            return self._members()

        return await self.api.on_leader(_SERVICE + "RemoveMember", request, api_pb2.MembershipResponse, context,
                                        here)

    async def TransferLeader(self, request: api_pb2.TransferLeaderRequest,
                             context: grpc.aio.ServicerContext) -> api_pb2.TransferLeaderResponse:
        async def here() -> api_pb2.TransferLeaderResponse:
            api = self.api
            target = None
            peers = api.node.status()["members"]
            if request.target_id:
                target = api.raft_address_of(request.target_id)
                if not target or target not in api.node.members():
                    await context.abort(grpc.StatusCode.NOT_FOUND, f"target_id: no member {request.target_id!r}")
                if target == api.node.raft_address:
                    return api_pb2.TransferLeaderResponse(leader_id=api.config.node_id)
                # pysyncobj refuses a disconnected target with the same "request denied" as anything else.
                if not peers.get(target, {}).get("connected"):
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                        f"target_id: {request.target_id} is not connected to the leader (down or "
                                        "unreachable); leadership can only move to a running replica")
                denied = f" ({request.target_id} has not caught up with the leader's log yet; retry in a moment)"
            else:
                if not any(peer.get("connected") for peer in peers.values()):
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                        "target_id: no other replica is connected to the leader; leadership can "
                                        "only move to a running replica")
                denied = " (no connected follower has caught up with the leader's log yet; retry in a moment)"
            await self._raft_call(lambda cb: api.node.transfer_leadership(target, cb), context, "target_id", denied)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                leader = api.node.leader_address()
                if leader and leader != api.node.raft_address and (target is None or leader == target):
                    return api_pb2.TransferLeaderResponse(leader_id=api.member_id_of(leader))
                await asyncio.sleep(0.05)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "target_id: leadership did not move within 10 s")
            raise AssertionError("unreachable")

        return await self.api.on_leader(_SERVICE + "TransferLeader", request, api_pb2.TransferLeaderResponse,
                                        context, here)


async def _refuse_quorum_loss(api: ApiContext, m: commands_pb2.Member, context: grpc.aio.ServicerContext) -> None:
    """Strict reconfiguration (etcd's default): a new member counts from the moment its entry is
    appended, before it runs. With a member already down that can leave the new configuration
    without a majority of reachable members, and then not even the change itself can commit:
    the cluster stops until the missing member returns. Refused instead, saying who is missing."""
    members = api.node.members()
    reachable = api.node.heard_members()
    after = len(members) + 1
    # With every member reachable the change can commit as soon as the new one starts (growing a
    # single replica to two has no other way); refused only when one is already missing.
    if reachable < len(members) and reachable < after // 2 + 1:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"member: adding {m.id} would leave {reachable} of {after} members reachable, no majority "
                            f"(the new member counts at once, before it runs); bring the missing members back first, "
                            f"see wloadctl cluster status")

"""What every servicer needs: the node, the store, the proposer, forwarding."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import Message

from wloadctl.api.authn import AUTHORIZATION, SOURCE_HEADER, Authenticator, replica_auth, sign_source
from wloadctl.api.consistency import (
    MAX_CATCH_UP_S,
    AppliedWaiter,
    Coalescer,
    catch_up_limit,
    note_forwarded_index,
    wait_applied,
)
from wloadctl.api.headers import (
    FORWARDED_HEADER,
    INDEX_HEADER,
    LEADER_HEADER,
    MIN_INDEX_HEADER,
    REPLICA_AUTH_HEADER,
    REPLICA_HEADER,
    SEES_HEADER,
    WEBHOOK_HEADER,
)
from wloadctl.config import ServerConfig
from wloadctl.control.controller import Controller
from wloadctl.observability.api import ApiMetrics
from wloadctl.proto.v1 import api_pb2, commands_pb2
from wloadctl.raft.node import RaftNode
from wloadctl.raft.proposer import BackpressureError, NotLeaderError, ProposalFailedError, Proposer
from wloadctl.raft.reads import ReadBarrier, ReadIndexTimeout
from wloadctl.state.store import Store

R = TypeVar("R", bound=Message)


@dataclass
class ApiContext:
    config: ServerConfig
    node: RaftNode
    store: Store
    proposer: Proposer
    request_timeout: float = 10.0
    controller: Controller | None = None
    # The cluster secret (signs the caller's address on forwarded calls and replica-to-replica
    # calls) and the CA that signed the replicas' certificates (None: the API is plaintext).
    secret: bytes | None = None
    ca_pem: bytes | None = None
    # What an approved four-eyes request still needs done on the leader besides its command (a Raft
    # membership change is not a command): operation -> completion (api/governance.py).
    completions: dict[str, Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]] = field(default_factory=dict)
    # Linearizable reads (api/consistency.py): the leader's ReadIndex, and waiting for an index to
    # be applied. Without them (tests that build a bare context) reads are answered at once.
    reads: ReadBarrier | None = None
    applied_waiter: AppliedWaiter | None = None
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    _channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    _read_index_calls: dict[str, Coalescer] = field(default_factory=dict)

    # ---- addresses

    def api_address_of(self, raft_address: str) -> str:
        for m in self.store.members():
            if m.raft_address == raft_address and m.api_address:
                return m.api_address
        for p in self.config.peers:
            if p.raft_address == raft_address:
                return p.api_address
        return ""

    def member_id_of(self, raft_address: str) -> str:
        for m in self.store.members():
            if m.raft_address == raft_address:
                return m.id
        for p in self.config.peers:
            if p.raft_address == raft_address:
                return p.id
        return raft_address

    def raft_address_of(self, member_id: str) -> str:
        for m in self.store.members():
            if m.id == member_id:
                return m.raft_address
        for p in self.config.peers:
            if p.id == member_id:
                return p.raft_address
        return ""

    def leader_api_address(self) -> str:
        """The API address of the leader, if this replica is connected to it ("" otherwise).

        A follower cut off from every peer never starts an election (pysyncobj waits to be
        connected to someone), so it keeps naming a leader that may be long dead: forwarding to it
        would only fail, and "no leader" is the useful answer."""
        leader = self.node.leader_address()
        if not leader or self._unreachable(leader):
            return ""
        return self.api_address_of(leader)

    def _unreachable(self, raft_address: str) -> bool:
        if raft_address == self.node.raft_address:
            return False
        return not self.node.status()["members"].get(raft_address, {}).get("connected")

    # ---- writes

    async def commit(self, command: commands_pb2.Command, context: grpc.aio.ServicerContext) \
            -> commands_pb2.CommandResult:
        """Propose on the leader; map every failure to a status code."""
        try:
            result = await self.proposer.submit(command, self.request_timeout)
        except NotLeaderError:
            await self.abort_not_leader(context)
        except BackpressureError as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        except ProposalFailedError as e:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
        except TimeoutError:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "not committed in time; the outcome is unknown: retry with the same idempotency key")
        if result.code != 0:
            await context.abort(status_code(result.code), result.message)
        return result

    def members_seen(self) -> tuple[int, int]:
        """(members this replica is connected to, itself included; members in all)."""
        others = self.node.status()["members"]
        return 1 + sum(1 for peer in others.values() if peer.get("connected")), len(self.node.members())

    async def abort_not_leader(self, context: grpc.aio.ServicerContext, prefix: str = "") -> NoReturn:
        leader = self.leader_api_address()
        metadata: list[tuple[str, str]] = [(REPLICA_HEADER, self.config.node_id)]
        if leader:
            metadata.append((LEADER_HEADER, leader))
            message = f"not the leader; the leader is {leader}"
        else:
            seen, members = self.members_seen()
            metadata.append((SEES_HEADER, f"{seen}/{members}"))
            message = no_leader_message(seen, members, known=bool(self.node.leader_address()))
        context.set_trailing_metadata(tuple(metadata))
        await context.abort(grpc.StatusCode.UNAVAILABLE, prefix + message)
        raise AssertionError("unreachable")

    @staticmethod
    def forwarded(context: grpc.aio.ServicerContext) -> bool:
        return any(k == FORWARDED_HEADER for k, _ in context.invocation_metadata() or ())

    async def forward(self, method: str, request: R, response_type: type[Message],
                      context: grpc.aio.ServicerContext, share: float = 1.0) -> Any:
        """Send the call to the leader and return its answer; grpc.aio.AioRpcError when there is none.

        ``share``: the part of the caller's remaining time the leader gets (a read that falls back to
        this replica's own answer keeps the rest for that)."""
        leader = self.leader_api_address()
        call = self.channel(leader).unary_unary(method, request_serializer=type(request).SerializeToString,
                                                response_deserializer=response_type.FromString)
        remaining = context.time_remaining()
        # The caller's credential goes along unchanged (the leader authenticates the caller itself),
        # and its address signed, so that the leader's audit records and network rules see the caller.
        metadata: list[tuple[str, str]] = [(FORWARDED_HEADER, self.config.node_id)]
        metadata += [(k, v) for k, v in context.invocation_metadata() or ()
                     if k in (AUTHORIZATION, WEBHOOK_HEADER) and isinstance(v, str)]
        if self.secret is not None:
            source = Authenticator(self.store, self.secret).source_of(context.invocation_metadata(), context.peer())
            metadata.append((SOURCE_HEADER, sign_source(self.secret, self.config.node_id, source)))
        metadata += [(k, v) for k, v in context.invocation_metadata() or () if k == MIN_INDEX_HEADER]
        pending = call(request, timeout=(remaining if remaining else self.request_timeout) * share,
                       metadata=tuple(metadata))
        response = await pending
        note_forwarded_index(dict(await pending.trailing_metadata() or ()).get(INDEX_HEADER))
        return response

    def channel(self, address: str) -> grpc.aio.Channel:
        """A channel to another replica's API: TLS with the cluster CA (only a replica certificate can serve)."""
        channel = self._channels.get(address)
        if channel is None:
            options = [("grpc.max_receive_message_length", self.config.max_message_bytes),
                       ("grpc.max_send_message_length", self.config.max_message_bytes)]
            channel = grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(self.ca_pem), options=options) \
                if self.ca_pem is not None else grpc.aio.insecure_channel(address, options=options)
            self._channels[address] = channel
        return channel

    def replica_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata of a call this replica makes to another for itself."""
        if self.secret is None:
            return ()
        return ((REPLICA_AUTH_HEADER, replica_auth(self.secret, self.config.node_id)),)

    async def on_leader(self, method: str, request: R, response_type: type[Message],
                        context: grpc.aio.ServicerContext, handler: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``handler`` here if this replica leads, else forward the call to the leader."""
        if self.node.is_leader():
            return await handler()
        leader = self.leader_api_address()
        if self.forwarded(context) or not leader:
            await self.abort_not_leader(context)
        try:
            return await self.forward(method, request, response_type, context)
        except grpc.aio.AioRpcError as e:
            details = e.details() or e.code().name
            metadata = tuple(e.trailing_metadata() or ())
            if not any(k == REPLICA_HEADER for k, _ in metadata):
                # The leader itself did not answer: say so, or the client would take this replica,
                # which did answer, for the one it could not reach.
                metadata = ((REPLICA_HEADER, self.config.node_id),)
                details = f"the leader ({leader}) did not answer this replica: {details}"
            context.set_trailing_metadata(metadata)
            await context.abort(e.code(), details)

    # ---- linearizable reads

    async def wait_applied(self, index: int, timeout: float) -> int:
        if self.applied_waiter is not None:
            return await self.applied_waiter.wait(index, timeout)
        return await wait_applied(self.store.applied_index, index, timeout)

    async def linearize(self, context: grpc.aio.ServicerContext) -> int:
        """Wait until this replica may answer a linearizable read: it has applied the read index
        (the leader's commit index once a majority confirmed it still leads). Returns that index;
        aborts UNAVAILABLE when there is no leader to confirm one (a stale read can still answer)."""
        if self.reads is None:
            return self.store.applied_index()
        limit = catch_up_limit(context)
        try:
            if self.node.is_leader():
                index = await self.reads.read_index(limit)
            else:
                leader = self.leader_api_address()
                if not leader:
                    await self.abort_not_leader(context, "a linearizable read needs the leader (--stale reads this "
                                                         "replica's copy): ")
                index = await asyncio.wait_for(self._read_index_call(leader).get(), limit)
        except NotLeaderError:
            await self.abort_not_leader(context, "a linearizable read needs the leader: ")
        except TimeoutError as e:
            why = str(e) if isinstance(e, ReadIndexTimeout) else f"no read index from the leader within {limit:g} s"
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"linearizable read: {why} (the leader may be cut off "
                                                             "from its majority; --stale reads this replica's copy)")
        except grpc.aio.AioRpcError as e:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"linearizable read: the leader gave no read index ({e.code().name}: {e.details()})")
        reached = await self.wait_applied(index, limit)
        if reached < index:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"linearizable read: this replica has applied the log up to index {reached}, behind "
                                f"the leader's read index {index}; another replica can answer")
        return index

    def _read_index_call(self, leader: str) -> Coalescer:
        calls = self._read_index_calls.get(leader)
        if calls is None:
            method = self.channel(leader).unary_unary(
                "/wloadctl.v1.ClusterService/ReadIndex", request_serializer=api_pb2.ReadIndexRequest.SerializeToString,
                response_deserializer=api_pb2.ReadIndexResponse.FromString)

            async def call() -> int:
                answer = await method(api_pb2.ReadIndexRequest(), timeout=MAX_CATCH_UP_S,
                                      metadata=self.replica_metadata())
                return int(answer.index)

            calls = self._read_index_calls[leader] = Coalescer(call)
        return calls

    async def close(self) -> None:
        await asyncio.gather(*(ch.close() for ch in self._channels.values()), return_exceptions=True)


def no_leader_message(seen: int, members: int, known: bool = False) -> str:
    """Why a replica has no leader to offer: too few members, or an election under way. ``known``:
    it still knows of a leader, but is not connected to it."""
    what = "no leader reachable" if known else "no leader elected"
    if seen <= members // 2:
        return f"{what} (no quorum: this replica sees {seen} of {members} members)"
    return f"{what} yet (an election is under way: this replica sees {seen} of {members} members)"


def status_code(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN

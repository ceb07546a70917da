"""What every servicer needs: the node, the store, the proposer, forwarding."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import Message

from wloadctl.control.controller import Controller
from wloadctl.proto.v1 import commands_pb2
from wloadctl.raft.node import RaftNode
from wloadctl.raft.proposer import BackpressureError, NotLeaderError, ProposalFailedError, Proposer
from wloadctl.server.config import ServerConfig
from wloadctl.state.store import Store

FORWARDED_HEADER = "x-wloadctl-forwarded"
LEADER_HEADER = "x-wloadctl-leader"
_MAX_MESSAGE = 64 << 20

R = TypeVar("R", bound=Message)


@dataclass
class ApiContext:
    config: ServerConfig
    node: RaftNode
    store: Store
    proposer: Proposer
    request_timeout: float = 10.0
    controller: Controller | None = None
    _channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)

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
        leader = self.node.leader_address()
        return self.api_address_of(leader) if leader else ""

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

    async def abort_not_leader(self, context: grpc.aio.ServicerContext) -> NoReturn:
        leader = self.leader_api_address()
        if leader:
            context.set_trailing_metadata(((LEADER_HEADER, leader),))
        await context.abort(grpc.StatusCode.UNAVAILABLE,
                            f"not the leader; the leader is {leader}" if leader else "no leader elected yet")
        raise AssertionError("unreachable")

    async def on_leader(self, method: str, request: R, response_type: type[Message],
                        context: grpc.aio.ServicerContext, handler: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``handler`` here if this replica leads, else forward the call to the leader."""
        if self.node.is_leader():
            return await handler()
        forwarded = any(k == FORWARDED_HEADER for k, _ in context.invocation_metadata() or ())
        leader = self.leader_api_address()
        if forwarded or not leader:
            await self.abort_not_leader(context)
        channel = self._channels.get(leader)
        if channel is None:
            channel = grpc.aio.insecure_channel(leader, options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
            ])
            self._channels[leader] = channel
        call = channel.unary_unary(method, request_serializer=type(request).SerializeToString,
                                   response_deserializer=response_type.FromString)
        remaining = context.time_remaining()
        try:
            return await call(request, timeout=remaining if remaining else self.request_timeout,
                              metadata=((FORWARDED_HEADER, self.config.node_id),))
        except grpc.aio.AioRpcError as e:
            await context.abort(e.code(), e.details() or e.code().name)

    async def close(self) -> None:
        await asyncio.gather(*(ch.close() for ch in self._channels.values()), return_exceptions=True)


def status_code(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN

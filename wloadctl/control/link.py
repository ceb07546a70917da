"""AgentLink: the bidirectional stream each agent keeps to every replica (thin)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator

import grpc

from wloadctl.control.controller import Controller
from wloadctl.proto.v1 import agent_pb2, agent_pb2_grpc

log = logging.getLogger(__name__)
_AGENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_CAPACITY = 10_000


class AgentLinkServicer(agent_pb2_grpc.AgentLinkServicer):
    def __init__(self, controller: Controller, identity: object = None) -> None:
        self.controller = controller
        # identity(context) -> (kind, name) | None, when agents authenticate with mTLS
        self.identity = identity

    async def Connect(self, request_iterator: AsyncIterator[agent_pb2.AgentMessage],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[agent_pb2.ReplicaMessage]:
        try:
            first = await anext(request_iterator)
        except StopAsyncIteration:
            return
        if first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first message: must be hello")
        hello = first.hello
        if not _AGENT_ID.match(hello.agent_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "hello.agent_id: 1-64 letters, digits, '.', '_' or '-'")
        if not 0 < hello.capacity <= MAX_CAPACITY:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"hello.capacity: 1 to {MAX_CAPACITY}")
        if self.identity is not None:
            peer = self.identity(context)  # type: ignore[operator]
            if peer != ("agent", hello.agent_id):
                await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                    f"hello.agent_id: the client certificate is not agent {hello.agent_id}")
        conn = self.controller.attach(hello)
        aborting: list[asyncio.Task[None]] = []

        async def abort() -> None:
            # From another task: this writer may be blocked on a peer that reads nothing. The agent
            # reads what was already sent, then this status, and reconnects. (Cancelling the
            # handler's task instead leaves the call open, without a status, for ever.)
            with contextlib.suppress(grpc.aio.AbortError, grpc.aio.UsageError):
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    "the replica's messages to this agent fell too far behind; reconnect")

        conn.stop_stream = lambda: aborting.append(asyncio.get_running_loop().create_task(abort()))
        log.info("agent connected", extra={"agent": hello.agent_id, "peer": context.peer()})

        async def read() -> None:
            try:
                async for msg in request_iterator:
                    if msg.WhichOneof("body") in (None, "hello"):
                        raise ValueError("unexpected message")
                    self.controller.on_message(conn, msg)
            finally:
                conn.closed = True
                with contextlib.suppress(asyncio.QueueFull):  # full: the writer is not waiting
                    conn.outbox.put_nowait(agent_pb2.ReplicaMessage())

        reader = asyncio.create_task(read())
        try:
            while not conn.closed:
                msg = await conn.outbox.get()
                if conn.closed:
                    break
                yield msg
            if reader.done() and reader.exception() is not None:
                exc = reader.exception()
                if isinstance(exc, ValueError):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"agent message: {exc}")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self.controller.detach(conn)
            log.info("agent disconnected", extra={"agent": hello.agent_id})

"""Wrapping of servicer methods, done once when services are registered.

(A grpc.aio ServerInterceptor runs on every call; wrapping the method
handlers at registration time costs nothing per request.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from wloadctl.api.authz import Guard
from wloadctl.api.consistency import (
    LINEARIZABLE,
    READ_METHODS,
    STALE,
    catch_up_limit,
    forwarded_index,
    requested_consistency,
    requested_min_index,
)
from wloadctl.api.context import ApiContext
from wloadctl.api.headers import CONSISTENCY_HEADER, INDEX_HEADER, MIN_INDEX_HEADER, REPLICA_HEADER


class _Capture:
    """Stands in for a server to collect what a generated add_*_to_server registers."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.service = service
        self.handlers = handlers


def _wrap(handler: grpc.RpcMethodHandler, replica_id: str, method: str, guard: Guard | None,
          api: ApiContext | None = None) -> grpc.RpcMethodHandler:
    """gRPC answers a request it cannot parse with UNKNOWN; a client deserves
    INVALID_ARGUMENT. Parsing moves into the handler so it can say so.

    Every answer also names the replica that gave it (trailing metadata; handlers that set their
    own include it): an error without it is one no replica gave, a transport failure.

    With ``api``: a request that carries a min index waits until this replica has applied it; a
    read (api/consistency.py READ_METHODS) is linearizable unless it asks for a stale one, after
    authentication and before it reads; a successful unary answer carries the index it reflects."""
    streaming = handler.unary_stream is not None
    raw_behaviour = handler.unary_stream if streaming else handler.unary_unary
    if raw_behaviour is None or handler.request_deserializer is None:
        return handler
    parse = handler.request_deserializer
    inner = raw_behaviour
    if api is not None and method in READ_METHODS:
        inner = _linearized(raw_behaviour, api)
    # Authentication and the method's permission (api/authz.py) run after the request parses.
    behaviour = guard.wrap(method, inner) if guard is not None else inner

    async def call(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        if api is None:
            return await _call(raw, context)
        metrics = api.metrics
        start = time.perf_counter()
        code: grpc.StatusCode | None = grpc.StatusCode.UNKNOWN
        if streaming:
            metrics.stream_opened(method)
        try:
            response = await _call(raw, context)
            code = context.code()
            return response
        except grpc.aio.AbortError:
            code = context.code()
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            if streaming:
                metrics.stream_closed(method)
            metrics.observe(method, code, time.perf_counter() - start, streaming)

    async def _call(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        if replica_id:
            context.set_trailing_metadata(((REPLICA_HEADER, replica_id),))
        try:
            request = parse(raw)
        except DecodeError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request: not a valid message ({e})")
        if api is None:
            return await behaviour(request, context)
        if requested_consistency(context) is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"{CONSISTENCY_HEADER}: must be {LINEARIZABLE!r} or {STALE!r}")
        await _catch_up(context, api.wait_applied)
        forwarded_index.set(0)
        response = await behaviour(request, context)
        if not streaming:
            index = max(api.store.applied_index(), forwarded_index.get())
            context.set_trailing_metadata(((REPLICA_HEADER, replica_id), (INDEX_HEADER, str(index))))
        return response

    if streaming:
        # Watches write events encoded once for every stream (api/watch.py): bytes pass as they are.
        serialize = handler.response_serializer
        return handler._replace(unary_stream=call, request_deserializer=None,
                                response_serializer=lambda m: m if isinstance(m, bytes) else serialize(m))
    return handler._replace(unary_unary=call, request_deserializer=None)


def _linearized(behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]], api: ApiContext) \
        -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def linearized(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if requested_consistency(context) == LINEARIZABLE:
            await api.linearize(context)
        return await behaviour(request, context)

    return linearized


async def _catch_up(context: grpc.aio.ServicerContext, wait: Callable[[int, float], Awaitable[int]]) -> None:
    wanted = requested_min_index(context)
    if wanted is None:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{MIN_INDEX_HEADER}: must be a non-negative integer")
    if not wanted:
        return
    reached = await wait(wanted, catch_up_limit(context))
    if reached < wanted:
        await context.abort(grpc.StatusCode.UNAVAILABLE,
                            f"this replica has applied the log up to index {reached}, behind index {wanted} that "
                            f"the caller has already seen; another replica can answer")


def add_service(server: grpc.aio.Server, servicer: Any, add_to_server: Callable[[Any, Any], None],
                guard: Guard | None = None) -> str:
    """Register ``servicer`` via its generated ``add_*_to_server`` with our wrappers; returns the service name.

    With a ``guard``, every method must have an entry in the permission table (LookupError at
    registration otherwise), and every call is authenticated and authorized before it runs."""
    capture = _Capture()
    add_to_server(servicer, capture)
    api = getattr(servicer, "api", None)
    if not isinstance(api, ApiContext):
        api = None
    replica_id = api.config.node_id if api is not None else ""
    handlers = {name: _wrap(h, replica_id, f"/{capture.service}/{name}", guard, api)
                for name, h in capture.handlers.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(capture.service, handlers),))
    return capture.service

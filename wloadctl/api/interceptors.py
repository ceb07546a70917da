"""Wrapping of servicer methods, done once when services are registered.

(A grpc.aio ServerInterceptor runs on every call; wrapping the method
handlers at registration time costs nothing per request.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from wloadctl.api.authz import Guard
from wloadctl.api.consistency import MAX_CATCH_UP_S, forwarded_index, requested_min_index, wait_applied
from wloadctl.api.context import ApiContext
from wloadctl.api.headers import INDEX_HEADER, MIN_INDEX_HEADER, REPLICA_HEADER


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
          applied: Callable[[], int] | None = None) -> grpc.RpcMethodHandler:
    """gRPC answers a request it cannot parse with UNKNOWN; a client deserves
    INVALID_ARGUMENT. Parsing moves into the handler so it can say so.

    Every answer also names the replica that gave it (trailing metadata; handlers that set their
    own include it): an error without it is one no replica gave, a transport failure.

    With ``applied`` (the replica's applied index), a request that carries a min index waits until
    this replica has applied it, and a successful answer carries the index it reflects
    (api/consistency.py)."""
    if handler.unary_unary is None or handler.request_deserializer is None:
        return handler
    parse = handler.request_deserializer
    # Authentication and the method's permission (api/authz.py) run after the request parses.
    behaviour = guard.wrap(method, handler.unary_unary) if guard is not None else handler.unary_unary

    async def unary_unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        if replica_id:
            context.set_trailing_metadata(((REPLICA_HEADER, replica_id),))
        try:
            request = parse(raw)
        except DecodeError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request: not a valid message ({e})")
        if applied is None:
            return await behaviour(request, context)
        await _catch_up(context, applied)
        forwarded_index.set(0)
        response = await behaviour(request, context)
        index = max(applied(), forwarded_index.get())
        context.set_trailing_metadata(((REPLICA_HEADER, replica_id), (INDEX_HEADER, str(index))))
        return response

    return handler._replace(unary_unary=unary_unary, request_deserializer=None)


async def _catch_up(context: grpc.aio.ServicerContext, applied: Callable[[], int]) -> None:
    wanted = requested_min_index(context)
    if wanted is None:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{MIN_INDEX_HEADER}: must be a non-negative integer")
    if not wanted:
        return
    remaining = context.time_remaining()
    limit = MAX_CATCH_UP_S if remaining is None else min(MAX_CATCH_UP_S, remaining / 2)
    reached = await wait_applied(applied, wanted, limit)
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
    replica_id = api.config.node_id if isinstance(api, ApiContext) else ""
    applied = api.store.applied_index if isinstance(api, ApiContext) else None
    handlers = {name: _wrap(h, replica_id, f"/{capture.service}/{name}", guard, applied)
                for name, h in capture.handlers.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(capture.service, handlers),))
    return capture.service

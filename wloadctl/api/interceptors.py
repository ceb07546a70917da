"""Server interceptors applied to every API call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError


class DecodeErrorsAsInvalidArgument(grpc.aio.ServerInterceptor):
    """gRPC answers a request it cannot parse with UNKNOWN; a client deserves
    INVALID_ARGUMENT. Parsing moves into the handler so it can say so."""

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer
        behaviour = handler.unary_unary

        async def unary_unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                request = parse(raw)
            except DecodeError as e:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request: not a valid message ({e})")
            return await behaviour(request, context)

        return handler._replace(unary_unary=unary_unary, request_deserializer=None)

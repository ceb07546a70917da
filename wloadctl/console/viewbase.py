"""What every module of console handlers shares: the gateway, the request's context, the HTTP status
of an API error, and page sections that may fail on their own."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

import grpc
from aiohttp import web

from wloadctl.console.gateway import ApiError, Gateway

if TYPE_CHECKING:
    from wloadctl.console.app import Console, RequestContext

T = TypeVar("T")

# The API's refusals as HTTP answers; anything else is the API failing the console (502).
_HTTP_STATUS = {grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
                grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 409,
                grpc.StatusCode.RESOURCE_EXHAUSTED: 413, grpc.StatusCode.UNAVAILABLE: 503,
                grpc.StatusCode.DEADLINE_EXCEEDED: 504}


def http_status(e: ApiError) -> int:
    return _HTTP_STATUS.get(e.code, 502)


async def section(call: Awaitable[T]) -> tuple[T | None, str]:
    """A part of a page: its value, or why it is missing (permission, no leader); the session's end raises."""
    try:
        return await call, ""
    except ApiError as e:
        if e.unauthenticated:
            raise
        return None, e.message


class ViewBase:
    """The handlers of one module of routes (routes.py names them; app.py finds them)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @property
    def gw(self) -> Gateway:
        assert self.console.gateway is not None
        return self.console.gateway

    @staticmethod
    def ctx(request: web.Request) -> RequestContext:
        return request["console"]  # type: ignore[no-any-return]

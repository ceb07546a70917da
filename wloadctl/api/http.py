"""What a handler on the replica's HTTP port sees and answers (``http_address``, default port 18881).

The port itself is served by aiohttp (api/http_app.py): the event webhook, ``/metrics`` and the web
console. Handlers written against these small types (the webhook, api/webhooks.py) stay free of the
web framework: http_app.py adapts an aiohttp request to an ``HttpRequest`` (body read and bounded,
headers lower-cased, a header given twice refused) and an ``HttpResponse`` back to JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BODY_BYTES = 1 << 20
# aiohttp's own limits on the request head (api/http_app.py passes them on).
MAX_LINE_BYTES = 8190           # the request line, and each header line
MAX_HEADERS = 100
# A request's body must arrive within this; an idle connection (also one that never completes
# its headers) is closed after this long (aiohttp's keep-alive timer).
READ_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 256
# Kept for compatibility: the whole request head must fit in this (aiohttp checks it per line).
MAX_HEADER_BYTES = 16 << 10


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str                       # decoded path, without the query
    raw_path: str                   # as sent (the query stripped)
    headers: Mapping[str, str]      # lower-case names
    body: bytes
    peer: str                       # HOST:PORT of the client

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class HttpResponse:
    status: int
    body: Any = None                # JSON-serializable
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body, sort_keys=True).encode() + b"\n"


def error(status: int, message: str, **extra: Any) -> HttpResponse:
    return HttpResponse(status, {"error": message, **extra})


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    prefix: str                     # the path starts with it (a trailing part is the handler's)
    handler: Handler

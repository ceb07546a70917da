"""The replica's HTTP port (``http_address``, default port 18881).

It serves the event webhook (``POST /v1/events/NAME``) today; the console and ``/metrics`` will join
it. A deliberately small HTTP/1.1 server on asyncio streams (the product's dependencies have no web
framework): one request per connection, ``Content-Length`` bodies only, every size and wait bounded,
JSON answers. Plain HTTP on loopback; on any other interface HTTPS with the replica's certificate
unless the replica runs ``--insecure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 10
MAX_HEADERS = 100
# Headers and body must arrive within this; a slow client cannot hold a connection open longer.
READ_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 256
# Up to this much of a refused oversized body is read (and dropped) so that its sender gets the answer.
DISCARD_LIMIT_BYTES = 64 << 20


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

    def encode(self) -> bytes:
        payload = b"" if self.body is None else json.dumps(self.body, sort_keys=True).encode() + b"\n"
        reason = HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {reason}", "Content-Type: application/json",
                 f"Content-Length: {len(payload)}", "Connection: close", "Cache-Control: no-store",
                 "X-Content-Type-Options: nosniff"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


async def _discard(reader: asyncio.StreamReader, count: int) -> None:
    while count > 0:
        chunk = await reader.read(min(count, 65536))
        if not chunk:
            return
        count -= len(chunk)


def error(status: int, message: str, **extra: Any) -> HttpResponse:
    return HttpResponse(status, {"error": message, **extra})


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    prefix: str                     # the path starts with it (a trailing part is the handler's)
    handler: Handler


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, unread: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.unread = unread  # body bytes the client will still send


class HttpServer:
    def __init__(self, routes: Sequence[Route], max_body: int = MAX_BODY_BYTES) -> None:
        self.routes = list(routes)
        self.max_body = max_body
        self._server: asyncio.Server | None = None
        self._open = 0
        self.requests = 0

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, ssl=tls, reuse_address=True,
                                                  limit=MAX_HEADER_BYTES)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > MAX_CONNECTIONS:
                response = error(503, "too many connections; retry later")
            else:
                unread = 0
                try:
                    request = await asyncio.wait_for(self._read(reader, writer), READ_TIMEOUT_S)
                    response = await self._dispatch(request)
                except _BadRequest as e:
                    response = error(e.status, str(e))
                    unread = e.unread
                except TimeoutError:
                    response = error(408, f"the request did not arrive within {READ_TIMEOUT_S:.0f} s")
                except (ConnectionError, asyncio.IncompleteReadError):
                    return
            writer.write(response.encode())
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
                if 0 < unread <= DISCARD_LIMIT_BYTES:
                    # A client still sending its body would see a reset instead of the answer.
                    await asyncio.wait_for(_discard(reader, unread), READ_TIMEOUT_S)
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> HttpRequest:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest(414, "request line too long") from None
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "not an HTTP/1.x request line")
        method, target, _ = parts
        headers: dict[str, str] = {}
        size = 0
        while True:
            try:
                raw = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError:
                raise _BadRequest(431, "header line too long") from None
            size += len(raw)
            if raw == b"\r\n":
                break
            if size > MAX_HEADER_BYTES or len(headers) >= MAX_HEADERS:
                raise _BadRequest(431, "request headers too large")
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "malformed header line")
            key = name.lower()
            if key in headers:
                raise _BadRequest(400, f"header {name} given twice")
            headers[key] = value.strip()
        if "transfer-encoding" in headers:
            raise _BadRequest(411, "send the body with Content-Length (chunked bodies are not accepted)")
        body = b""
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise _BadRequest(400, "Content-Length: must be a number of bytes")
        length = int(length_text)
        if length > self.max_body:
            raise _BadRequest(413, f"request body larger than {self.max_body} bytes", unread=length)
        if length:
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await reader.readexactly(length)
        split = urlsplit(target)
        peer = writer.get_extra_info("peername")
        host, port = (peer[0], peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else ("", 0)
        return HttpRequest(method=method.upper(), path=unquote(split.path), raw_path=split.path, headers=headers,
                           body=body, peer=f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}")

    async def _dispatch(self, request: HttpRequest) -> HttpResponse:
        self.requests += 1
        if not self.routes:
            return error(503, "this replica is starting; retry in a moment")
        matching = [r for r in self.routes if request.raw_path.startswith(r.prefix)]
        if not matching:
            return error(404, f"no such resource: {request.raw_path[:200]}")
        for route in matching:
            if route.method == request.method:
                try:
                    return await route.handler(request)
                except Exception:
                    log.exception("HTTP handler failed", extra={"path": request.raw_path[:200]})
                    return error(500, "internal error (logged on the replica)")
        allowed = ", ".join(sorted({r.method for r in matching}))
        return HttpResponse(405, {"error": f"{request.method[:16]} is not allowed here (allowed: {allowed})"},
                            {"Allow": allowed})

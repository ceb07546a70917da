"""The replica's HTTP port (``http_address``, default port 18881) on aiohttp.

One aiohttp application on the replica's own (uvloop) event loop serves three things:

* ``/v1/...``: handlers written against api/http.py's small request/response types (today the event
  webhook, ``POST /v1/events/NAME``), dispatched by path prefix as before;
* ``GET /metrics``: the replica's Prometheus metrics, unauthenticated (Prometheus' convention; they
  carry no secrets), rendered in a worker thread so a scrape never stalls the loop;
* the web console (wloadctl/console), which adds its own routes and middleware before the start.

What the hand-written server did and aiohttp does too: bounded request line and headers (aiohttp's
parser answers 400 beyond them), a body limit (413), idle connections closed. What this module adds
in front of every handler: 503 until the replica is ready, 503 once too many connections are open,
411 for chunked bodies, 413 from Content-Length before any body is read, JSON error answers, and
the security headers every answer carries. Slow clients: aiohttp has no timer for a request head
that trickles in, but its keep-alive timer (``READ_TIMEOUT_S`` here) closes any connection that has
no complete request within that time; a body must arrive within ``READ_TIMEOUT_S`` too (408).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import unquote

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from wloadctl.api.http import (
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    READ_TIMEOUT_S,
    HttpRequest,
    HttpResponse,
    Route,
    error,
)

log = logging.getLogger(__name__)

LEGACY_PREFIX = "/v1/"
# Scrapes rendered at once (each in a thread); more wait their turn instead of piling up threads.
CONCURRENT_SCRAPES = 2
# Headers every answer carries unless its handler set its own (the console sets a page CSP).
BASELINE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(answer: HttpResponse) -> web.Response:
    response = web.Response(status=answer.status, body=answer.payload(), content_type="application/json")
    response.headers.update(answer.headers)
    return response


def peer_of(request: web.BaseRequest) -> str:
    """HOST:PORT of the client, [HOST]:PORT for IPv6 (as the gRPC side writes it in audit records)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    host, port = (peer[0], peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else ("", 0)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class HttpServer:
    """The port's aiohttp application and its listener.

    ``routes`` (under ``/v1/``) may be given after the start; until ``activate()`` every request is
    answered 503 (the replica is starting). Other routes (the console's) go into ``app`` before
    ``start()``: aiohttp freezes its router then."""

    def __init__(self, routes: Sequence[Route] = (), max_body: int = MAX_BODY_BYTES,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.routes = list(routes)
        self.ready = bool(self.routes)
        self.max_body = max_body
        self.max_connections = max_connections
        self.registry: CollectorRegistry | None = None
        self.requests = 0
        self._scrapes = asyncio.Semaphore(CONCURRENT_SCRAPES)
        self.app = web.Application(client_max_size=max_body, middlewares=[self._guard])
        self.app.router.add_route("*", LEGACY_PREFIX + "{tail:.*}", self._legacy, name="v1")
        self.app.router.add_get("/metrics", self._metrics, name="metrics")
        self._runner: web.AppRunner | None = None

    def activate(self, routes: Sequence[Route] = (), registry: CollectorRegistry | None = None) -> None:
        """The replica is ready: serve these ``/v1/`` routes and metrics from ``registry``."""
        self.routes = list(routes)
        self.registry = registry
        self.ready = True

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
            # An idle connection, and one that has not completed a request yet, is closed after this.
            keepalive_timeout=READ_TIMEOUT_S, lingering_time=READ_TIMEOUT_S,
            max_line_size=MAX_LINE_BYTES, max_field_size=MAX_LINE_BYTES, max_headers=MAX_HEADERS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host or None, port, ssl_context=tls, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise

    @property
    def port(self) -> int:
        assert self._runner is not None
        return int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- in front of every handler

    @web.middleware
    async def _guard(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        self.requests += 1
        response = self._refusal(request)
        if response is None:
            try:
                response = await handler(request)
            except web.HTTPException as e:
                if e.status < 400:
                    raise
                response = _json_error(e, request)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("HTTP handler failed", extra={"path": request.path[:200]})
                response = json_response(error(500, "internal error (logged on the replica)"))
        if not response.prepared:
            for name, value in BASELINE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    def _refusal(self, request: web.Request) -> web.StreamResponse | None:
        """An answer given before the handler runs (and before any body is read), or None."""
        if not self.ready:
            return json_response(error(503, "this replica is starting; retry in a moment"))
        server = self._runner.server if self._runner is not None else None
        if server is not None and len(server.connections) > self.max_connections:
            refused = json_response(error(503, "too many connections; retry later"))
            refused.force_close()
            return refused
        if "Transfer-Encoding" in request.headers:
            return json_response(error(411, "send the body with Content-Length (chunked bodies are not accepted)"))
        if request.content_length is not None and request.content_length > self.max_body:
            # aiohttp reads (and drops) up to lingering_time's worth of the body, so the client sees this.
            return json_response(error(413, f"request body larger than {self.max_body} bytes"))
        return None

    # ---- /v1/: handlers on api/http.py's types

    async def _legacy(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.partition("?")[0]
        matching = [r for r in self.routes if raw_path.startswith(r.prefix)]
        if not matching:
            return json_response(error(404, f"no such resource: {raw_path[:200]}"))
        route = next((r for r in matching if r.method == request.method), None)
        if route is None:
            allowed = ", ".join(sorted({r.method for r in matching}))
            return json_response(HttpResponse(405, {"error": f"{request.method[:16]} is not allowed here "
                                                             f"(allowed: {allowed})"}, {"Allow": allowed}))
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            if key in headers:  # which of two Authorization headers counts? Neither.
                return json_response(error(400, f"header {name[:64]} given twice"))
            headers[key] = value
        try:
            body = await asyncio.wait_for(request.read(), READ_TIMEOUT_S)
        except TimeoutError:
            return json_response(error(408, f"the request body did not arrive within {READ_TIMEOUT_S:.0f} s"))
        parsed = HttpRequest(method=request.method, path=unquote(raw_path), raw_path=raw_path, headers=headers,
                             body=body, peer=peer_of(request))
        try:
            answer = await route.handler(parsed)
        except Exception:
            log.exception("HTTP handler failed", extra={"path": raw_path[:200]})
            answer = error(500, "internal error (logged on the replica)")
        return json_response(answer)

    # ---- /metrics

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        registry = self.registry
        if registry is None:
            return json_response(error(503, "metrics are not ready yet"))
        async with self._scrapes:
            body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _json_error(e: web.HTTPException, request: web.Request) -> web.StreamResponse:
    """aiohttp's own 404, 405, 413 ... as the JSON answers this port gives."""
    if e.status == 404:
        message = f"no such resource: {request.raw_path.partition('?')[0][:200]}"
    elif e.status == 405:
        message = f"this method is not allowed here (allowed: {e.headers.get('Allow', '')})"
    else:
        message = e.reason or "refused"
    response = json_response(error(e.status, message))
    for name in ("Allow", "WWW-Authenticate", "Location"):
        if name in e.headers:
            response.headers[name] = e.headers[name]
    return response

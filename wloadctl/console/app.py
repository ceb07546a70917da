"""The console on the replica's HTTP port: its routes, and what every console request goes through.

``Console.install(app)`` adds the routes of routes.py and the static files to the port's aiohttp
application before it starts; ``Console.connect(api)`` hands it this replica's API once that is ready
(until then the port answers 503). Per request, in this order: the session cookie (none: a redirect
to the login page, or 401), the CSRF token of every non-GET request (403), WhoAmI on the user's
session (refused: the cookie is dropped and the user logs in again; an expired password: only the
password form), then the page. Every answer carries the security headers of security.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from wloadctl.api.context import ApiContext
from wloadctl.api.http_app import peer_of
from wloadctl.console import filters
from wloadctl.console.gateway import ApiError, Caller, Gateway
from wloadctl.console.routes import NAVIGATION, PASSWORD_CHANGE_ROUTES, ROUTES, STATIC_PREFIX, ConsoleRoute
from wloadctl.console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    PAGE_HEADERS,
    Cookies,
    csrf_key,
    csrf_ok,
    csrf_token,
    new_pre_session_nonce,
    pre_session_binding,
    session_binding,
)
from wloadctl.proto.v1 import auth_pb2

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RequestContext:
    """What a console handler knows about its request (request["console"])."""

    route: ConsoleRoute
    caller: Caller
    csrf: str
    me: auth_pb2.WhoAmIResponse | None = None
    new_pre_session: str = ""   # a pre-session cookie to set with the answer


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST the browser GETs the target (a reload does not post again)."""
    return web.Response(status=303, headers={"Location": location})


class Console:
    def __init__(self, https: bool = False) -> None:
        self.cookies = Cookies(secure=https)
        self.gateway: Gateway | None = None
        self.authenticate = True
        self.node_id = ""
        self._csrf_key = csrf_key(None)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
            autoescape=True,  # every value is text unless a template says otherwise (none does)
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        filters.install(self.templates)
        self.stopping = False
        self.streams: set[asyncio.Event] = set()  # each open log stream's wake-up (logstream.py)
        from wloadctl.console.views import Views  # views import this module's types
        self.views = Views(self)
        from wloadctl.console.pages import PageViews  # Gantt, misfires, audit, calendars, reports
        from wloadctl.console.workflows import WorkflowViews  # the business link view and approvals
        # Where a route's handler is found (routes.py names it): the first of these that has it.
        self.handlers: list[object] = [self.views, WorkflowViews(self), PageViews(self)]

    # ---- wiring

    def use_https(self, https: bool) -> None:
        """Whether the port serves HTTPS (known once its TLS is set up): the cookies' Secure flag."""
        self.cookies = Cookies(secure=https)

    def install(self, app: web.Application) -> None:
        for route in ROUTES:
            app.router.add_route(route.method, route.path, self._handler(route), name=f"console.{route.name}")
        app.router.add_static(STATIC_PREFIX, PACKAGE_DIR / "static", name="console.static", follow_symlinks=False)
        app.middlewares.append(self._middleware)
        app.on_shutdown.append(self._on_shutdown)

    def connect(self, api: ApiContext, authenticate: bool) -> None:
        self.gateway = Gateway(api)
        self.authenticate = authenticate
        self.node_id = api.config.node_id
        self._csrf_key = csrf_key(api.secret)

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.stopping = True  # log streams end now (logstream.py), not at their next ping
        for wake in self.streams:
            wake.set()

    def _handler(self, route: ConsoleRoute) -> _Handler:
        method = next(getattr(h, route.name) for h in self.handlers if hasattr(h, route.name))

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, route, method)

        return handle

    # ---- every console request

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        response = await handler(request)
        name = request.match_info.route.name or ""
        if not response.prepared and name.startswith("console."):
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            if name == "console.static":
                response.headers["Cache-Control"] = "no-cache"  # revalidated: an upgrade shows at once
        return response

    async def _serve(self, request: web.Request, route: ConsoleRoute, handler: _Handler) -> web.StreamResponse:
        if self.gateway is None:
            return web.json_response({"error": "the console is starting; retry in a moment"}, status=503)
        token = self.cookies.session_token(request) if self.authenticate else ""
        if route.access == "session" and self.authenticate and not token:
            return self.unauthenticated(request, route)
        nonce = self.cookies.pre_session_nonce(request)
        new_nonce = ""
        if not token and not nonce:
            nonce = new_nonce = new_pre_session_nonce()
        binding = session_binding(token) if token else pre_session_binding(nonce)
        if request.method != "GET":
            given = request.headers.get(CSRF_HEADER, "")
            if not given:
                form = await request.post()
                value = form.get(CSRF_FIELD, "")
                given = value if isinstance(value, str) else ""
            if not csrf_ok(self._csrf_key, binding, given):
                return self.refuse(request, route, 403, "the form is out of date or did not come from this console "
                                                        "(CSRF token missing or wrong): reload the page and retry")
        ctx = RequestContext(route, Caller(token, peer_of(request)), csrf_token(self._csrf_key, binding),
                             new_pre_session=new_nonce)
        request["console"] = ctx
        try:
            if route.access == "session" and self.authenticate:
                ctx.me = await self.gateway.whoami(ctx.caller)
                if ctx.me.password_change_required and route.name not in PASSWORD_CHANGE_ROUTES:
                    if route.kind == "data":
                        return self.refuse(request, route, 403, "change your password first")
                    return redirect("/account/password")
            response = await handler(request)
        except ApiError as e:
            if e.unauthenticated and route.access == "session":
                response = self.unauthenticated(request, route, e.message)
                self.cookies.clear_session(response)
                return response
            raise
        if new_nonce and not response.prepared:
            self.cookies.set_pre_session(response, new_nonce)
        return response

    def unauthenticated(self, request: web.Request, route: ConsoleRoute, why: str = "") -> web.StreamResponse:
        if route.kind == "data":
            return web.json_response({"error": why or "log in first"}, status=401)
        target = "/login"
        wanted = request.path_qs
        if request.method == "GET" and wanted != "/" and len(wanted) <= 500:
            target += "?next=" + quote(wanted, safe="")
        return redirect(target)

    def refuse(self, request: web.Request, route: ConsoleRoute, status: int, message: str) -> web.StreamResponse:
        if route.kind == "data":
            return web.json_response({"error": message}, status=status)
        ctx: RequestContext | None = request.get("console")
        return self.page(request, "error.html", http_status=status, title=f"{status}", message=message,
                         me=ctx.me if ctx else None, csrf=ctx.csrf if ctx else "")

    # ---- rendering

    def page(self, request: web.Request, template: str, http_status: int = 200, **values: Any) -> web.Response:
        ctx: RequestContext | None = request.get("console")
        values.setdefault("me", ctx.me if ctx else None)
        values.setdefault("csrf", ctx.csrf if ctx else "")
        values.setdefault("active", ctx.route.name if ctx else "")
        html = self.templates.get_template(template).render(
            navigation=NAVIGATION, node_id=self.node_id, authenticate=self.authenticate, csrf_field=CSRF_FIELD,
            **values)
        return web.Response(status=http_status, text=html, content_type="text/html", charset="utf-8")

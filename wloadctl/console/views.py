"""The console's pages: each one a few calls through the gateway (the user's own API calls) and a template."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import grpc
from aiohttp import web

from wloadctl.console import overview
from wloadctl.console.gateway import ApiError, Caller, Gateway
from wloadctl.console.logstream import stream_log
from wloadctl.console.runs_query import (
    API_PAGE_SIZE,
    PAGE_SIZE,
    SCAN_BUDGET,
    Position,
    QueryError,
    RunFilter,
    matches,
    parse_filter,
    source_of,
)
from wloadctl.console.viewbase import ViewBase, http_status, section
from wloadctl.proto.v1 import runs_pb2

if TYPE_CHECKING:
    pass

RS = runs_pb2.RunState
RUN_ID = re.compile(r"r[0-9]{1,19}")
MAX_USER_CHARS = 64
MAX_PASSWORD_CHARS = 1024
# The part of a run's log its page shows at once (the rest: `wloadctl logs`); the stream goes on from there.
FIRST_LOG_BYTES = 256 << 10
# Listings the overview and the agents page read through, at most.
LIST_PAGE = 1000
FINAL = frozenset({RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED})


def _safe_next(target: str) -> str:
    """A console path to go to after login: local, no scheme, no other host ("//evil" is one)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 500:
        return "/"
    return target


class Views(ViewBase):

    # ---- login, logout, password

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        if not self.console.authenticate:
            return _redirect("/")
        return self.console.page(request, "login.html", error="", user="",
                                 next=_safe_next(request.query.get("next", "/")))

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        user = str(form.get("user", ""))[:MAX_USER_CHARS + 1].strip()
        password = str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "/")))
        ctx = self.ctx(request)
        if not user or len(user) > MAX_USER_CHARS or not password or len(password) > MAX_PASSWORD_CHARS:
            return self.console.page(request, "login.html", http_status=400, error="enter a user name and a password",
                                     user=user[:MAX_USER_CHARS], next=target)
        try:
            answer = await self.gw.login(ctx.caller, user, password)
        except ApiError as e:
            status = 429 if e.code == grpc.StatusCode.RESOURCE_EXHAUSTED else 401
            return self.console.page(request, "login.html", http_status=status, error=e.message, user=user, next=target)
        old = self.console.cookies.session_token(request)
        if old:
            # No fixation and no orphans: the session the browser held before is closed.
            await _close_quietly(self.gw, Caller(old, ctx.caller.peer))
        response = _redirect("/account/password" if answer.password_change_required else target)
        self.console.cookies.set_session(response, answer.token)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        await _close_quietly(self.gw, self.ctx(request).caller)
        response = _redirect("/login")
        self.console.cookies.clear_session(response)
        return response

    async def password_form(self, request: web.Request) -> web.StreamResponse:
        return self.console.page(request, "password.html", error="", done=False)

    async def change_password(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        old, new, again = (str(form.get(k, ""))[:MAX_PASSWORD_CHARS] for k in ("old", "new", "again"))
        ctx = self.ctx(request)
        if not old or not new or new != again:
            return self.console.page(request, "password.html", http_status=400, done=False,
                                     error="enter the current password and the new one twice (both the same)")
        try:
            await self.gw.change_password(ctx.caller, old, new)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "password.html", http_status=400, error=e.message, done=False)
        me = ctx.me
        if me is not None and me.password_change_required:
            # That session may do nothing but change the password (as the CLI does): a full one replaces it.
            answer = await self.gw.login(ctx.caller, me.name, new)
            await _close_quietly(self.gw, ctx.caller)
            response = _redirect("/")
            self.console.cookies.set_session(response, answer.token)
            return response
        return self.console.page(request, "password.html", error="", done=True)

    # ---- overview

    async def _overview(self, caller: Caller) -> dict[str, Any]:
        gw = self.gw
        now_ms = int(time.time() * 1000)
        activity = overview.new_activity(now_ms)
        # One call for the counts (kept by the state per domain, whatever the number of jobs and runs).
        (summary, summary_error), (agents, agents_error), (status, status_error) = await asyncio.gather(
            section(gw.summarize(caller, [d.date for d in activity.days], activity.days[0].date)),
            section(gw.list_agents(caller)), section(gw.status(caller)))
        if summary is not None:
            overview.activity_from_summary(activity, summary)
        loads = overview.agent_loads(agents) if agents is not None else []
        return {
            "now_ms": now_ms,
            "jobs": summary.total.jobs if summary is not None else None, "jobs_error": summary_error,
            "workflows": summary.total.workflows if summary is not None else None,
            "workflows_error": summary_error,
            # Not "active": that name is the navigation's current page (app.py page()).
            "runs_now": overview.active_from_summary(summary) if summary is not None else None,
            "runs_now_error": summary_error,
            "activity": activity, "activity_error": summary_error,
            "agents": loads, "agents_online": sum(1 for a in loads if a.online), "agents_error": agents_error,
            "slots_used": sum(a.running for a in loads), "slots": sum(a.capacity for a in loads if a.online),
            "status": status, "status_error": status_error,
        }

    async def overview(self, request: web.Request) -> web.StreamResponse:
        values = await self._overview(self.ctx(request).caller)
        return self.console.page(request, "overview.html", **values)

    async def overview_data(self, request: web.Request) -> web.StreamResponse:
        """The overview's numbers as JSON (the page refreshes itself from it)."""
        v = await self._overview(self.ctx(request).caller)
        activity: overview.Activity = v["activity"]
        status = v["status"]
        return web.json_response({
            "jobs": v["jobs"], "workflows": v["workflows"], "active": v["runs_now"],
            "agents_online": v["agents_online"], "slots_used": v["slots_used"], "slots": v["slots"],
            "days": [{"label": d.label, "date": d.date, "created": d.created, "succeeded": d.succeeded,
                      "failed": d.failed, "killed": d.killed, "skipped": d.skipped,
                      "success_rate": d.success_rate} for d in activity.days],
            "hourly": activity.hourly, "peak_hour": activity.peak_hour, "partial": activity.partial,
            "leader": status.leader_id if status is not None else None,
            "quorum": status.has_quorum if status is not None else None,
            "epoch": status.epoch if status is not None else None,
            "takeover": status.takeover_phase if status is not None else None,
        })

    async def _runs_in_state(self, caller: Caller, state: int, limit: int) -> list[runs_pb2.Run]:
        found: list[runs_pb2.Run] = []
        token = ""
        while len(found) < limit:
            page = await self.gw.list_runs(caller, state=state, page_size=LIST_PAGE, page_token=token)
            found.extend(page.runs)
            token = page.next_page_token
            if not token:
                break
        return found

    # ---- runs

    async def runs(self, request: web.Request) -> web.StreamResponse:
        try:
            query = {k: request.query[k] for k in request.query}
            f = parse_filter(query)
            position = Position.decode(query.get("page", ""))
        except QueryError as e:
            return self.console.page(request, "runs.html", http_status=400, error=str(e), runs=[], filters=RunFilter(),
                                     next_page="", scanned=0, budget_hit=False, source_of=source_of)
        caller = self.ctx(request).caller
        try:
            shown, next_position, scanned, budget_hit = await self._find_runs(caller, f, position)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "runs.html", http_status=http_status(e), error=e.message, runs=[],
                                     filters=f, next_page="", scanned=0, budget_hit=False, source_of=source_of)
        next_page = ""
        if next_position is not None:
            next_query = dict(f.text, page=next_position.encode())
            next_page = "/runs?" + "&".join(f"{k}={_q(v)}" for k, v in sorted(next_query.items()))
        return self.console.page(request, "runs.html", error="", runs=shown, filters=f, next_page=next_page,
                                 scanned=scanned, budget_hit=budget_hit, source_of=source_of,
                                 first_page=not position.api_token and not position.skip)

    async def _find_runs(self, caller: Caller, f: RunFilter, position: Position) \
            -> tuple[list[runs_pb2.Run], Position | None, int, bool]:
        workflow_runs: frozenset[str] = frozenset()
        if f.workflow:
            answer = await self.gw.list_workflow_runs(caller, f.workflow, 1000)
            workflow_runs = frozenset(r.id for r in answer.runs)
        # Without filters of its own the console's pages are the API's pages.
        api_page = API_PAGE_SIZE if f.filters_here else PAGE_SIZE
        token, skip = position.api_token, position.skip
        shown: list[runs_pb2.Run] = []
        scanned = 0
        while True:
            page = await self.gw.list_runs(caller, job=f.job, state=f.state, page_size=api_page, page_token=token,
                                           domain=f.domain, agent=f.agent, created_from_ms=f.from_ms,
                                           created_before_ms=f.to_ms)
            runs = list(page.runs)
            for i in range(skip, len(runs)):
                run = runs[i]
                scanned += 1
                if f.from_ms and run.created_ms < f.from_ms:
                    return shown, None, scanned, False  # newest first: nothing older can match
                if matches(f, run, workflow_runs):
                    shown.append(run)
                    if len(shown) == PAGE_SIZE:
                        if i + 1 < len(runs):
                            return shown, Position(token, i + 1), scanned, False
                        following = Position(page.next_page_token) if page.next_page_token else None
                        return shown, following, scanned, False
            if not page.next_page_token:
                return shown, None, scanned, False
            token, skip = page.next_page_token, 0
            if scanned >= SCAN_BUDGET:
                return shown, Position(token), scanned, True

    async def run(self, request: web.Request) -> web.StreamResponse:
        run_id = request.match_info["run_id"]
        if not RUN_ID.fullmatch(run_id):
            return self.console.page(request, "error.html", http_status=404, title="No such run",
                                     message="run ids look like r12 (workflow runs get their page later)")
        caller = self.ctx(request).caller
        try:
            run = await self.gw.get_run(caller, run_id)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "error.html", http_status=http_status(e), title=f"Run {run_id}",
                                     message=e.message)
        logs, logs_error = await section(self.gw.run_logs(caller, run_id, 0, 0, FIRST_LOG_BYTES))
        text = logs.data.decode("utf-8", errors="replace") if logs is not None else ""
        offset = (logs.next_offset or len(logs.data)) if logs is not None else 0
        complete = logs is not None and logs.complete
        follow = logs is not None and not complete and run.state not in FINAL and len(logs.data) < FIRST_LOG_BYTES
        return self.console.page(request, "run.html", run=run, log_text=text, log_offset=offset,
                                 log_complete=complete, log_error=logs_error, logs=logs, follow=follow,
                                 truncated=logs is not None and not complete and len(logs.data) >= FIRST_LOG_BYTES,
                                 source=source_of(run), params=sorted(run.params.items()),
                                 labels=sorted(run.spec.labels.items()), outputs=sorted(run.outputs.items()))

    async def run_log(self, request: web.Request) -> web.StreamResponse:
        run_id = request.match_info["run_id"]
        if not RUN_ID.fullmatch(run_id):
            return web.json_response({"error": "run ids look like r12"}, status=404)
        return await stream_log(request, self.console, self.gw, self.ctx(request).caller, run_id)

    # ---- agents, cluster

    async def agents(self, request: web.Request) -> web.StreamResponse:
        caller = self.ctx(request).caller
        (answer, error), (running, running_error) = await asyncio.gather(
            section(self.gw.list_agents(caller)), section(self._runs_in_state(caller, RS.RUNNING, 2000)))
        by_agent: dict[str, list[runs_pb2.Run]] = {}
        for r in running or []:
            by_agent.setdefault(r.agent_id, []).append(r)
        agents = sorted(answer.agents, key=lambda a: a.agent.agent_id) if answer is not None else []
        return self.console.page(request, "agents.html", agents=agents, error=error, running=by_agent,
                                 running_error=running_error, answer=answer)

    async def cluster(self, request: web.Request) -> web.StreamResponse:
        status, error = await section(self.gw.status(self.ctx(request).caller))
        return self.console.page(request, "cluster.html", status=status, error=error)


def _q(value: str) -> str:
    return quote(value, safe="")


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


async def _close_quietly(gw: Gateway, caller: Caller) -> None:
    """Logout that never fails the page: an already closed or expired session is closed enough."""
    with contextlib.suppress(ApiError):
        await gw.logout(caller)

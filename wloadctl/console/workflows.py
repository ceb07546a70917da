"""The business link view (a workflow run's DAG, live, with its actions) and the approvals page.

Pages and data, each a few of the user's own API calls through the gateway (so the same permissions,
four-eyes rules and audit records as the CLI):

* ``/workflows/runs``: workflow runs, newest first (ListWorkflowRuns), by workflow and state, paged.
* ``/workflows/runs/{id}``: the link view; its script (static/linkview.js) loads ``.../graph`` (the
  run and its workflow version as nodes and edges: linkgraph.py), lays it out with ELK, follows
  ``.../events`` (node states, live: wfstream.py), and per selected node loads ``.../task`` (the
  task, its run, its impact set from the Impact API) and the task run's log (the run log stream).
* Actions: ``.../preview`` (what the CLI prints for ``--dry-run``: previews.py) and a POST of
  ``.../action`` with the CSRF token: rerun (downstream or only), mark succeeded or skipped, pause,
  resume, kill. A four-eyes rule answers with an approval id instead of acting.
* ``/approvals``: pending approvals the user may see, with their summary; approve or reject (POST).
  Approving runs the held operation at once, as its requester (as ``wloadctl approval approve``).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web

from wloadctl.console import filters, linkgraph, previews
from wloadctl.console.gateway import ApiError, Caller
from wloadctl.console.viewbase import ViewBase, http_status, section
from wloadctl.console.wfstream import stream_workflow_run
from wloadctl.proto.v1 import approval_pb2, workflows_pb2

if TYPE_CHECKING:
    pass

WF = workflows_pb2.WorkflowRunState
TS = workflows_pb2.TaskState
TR = workflows_pb2.TriggerRule
RUNS_PAGE = 50
MAX_LISTED = 1000   # ListWorkflowRuns answers at most this many, newest first
LIMITS = (25, 50, 100, 200, 500, 1000)
RUN_STATES = {"running": WF.WF_RUNNING, "succeeded": WF.WF_SUCCEEDED, "failed": WF.WF_FAILED,
              "killed": WF.WF_KILLED}
_WORKFLOW_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
APPROVAL_STATES = ("pending", "approved", "rejected", "expired", "all")
MAX_REASON = 1000           # the state machine's limit on a decision's reason
MAX_APPROVALS_SHOWN = 500
KILL_IMPACT_CALLS = 64      # Impact calls a kill preview makes at most (concurrently, 8 at a time)


class BadInput(ValueError):
    """A parameter that is not acceptable; the message names it."""


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _workflow_run_id(request: web.Request) -> str:
    run_id = request.match_info["run_id"]
    if not linkgraph.WORKFLOW_RUN_ID.fullmatch(run_id):
        raise BadInput("workflow run ids look like w12")
    return run_id


def _task(value: str, required: bool = True) -> str:
    if not value and not required:
        return ""
    if len(value) > 64 or not linkgraph.valid_task_name(value):
        raise BadInput("task: a task name (1-64 letters, digits, '_' or '-')")
    return value


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadInput(f"{name}: one of {', '.join(allowed)}")
    return value


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _rule_name(rule: int) -> str:
    return TR.Name(rule).lower().replace("_", "-") if rule in TR.values() else str(rule)


def _wait_text(dep: workflows_pb2.ExternalDependency) -> str:
    what = f"job {dep.job}" if dep.job else (f"task {dep.task} of workflow {dep.workflow}" if dep.task
                                             else f"workflow {dep.workflow}")
    days = f", business day {dep.business_days:+d}" if dep.business_days else ", same business date"
    timeout = f", timeout {dep.timeout_seconds}s then {dep.on_timeout or 'fail'}" if dep.timeout_seconds else ""
    return what + days + timeout


class WorkflowViews(ViewBase):

    def _page_error(self, request: web.Request, status: int, title: str, message: str) -> web.Response:
        return self.console.page(request, "error.html", http_status=status, title=title, message=message)

    # ---- the workflow runs list

    async def workflow_runs(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        values = {"workflow": "", "state": "", "limit": str(RUNS_PAGE), "page": "0"}
        try:
            unknown = sorted(set(query) - set(values))
            if unknown:
                raise BadInput(f"{unknown[0][:40]}: unknown parameter (known: {', '.join(sorted(values))})")
            values.update({k: query[k].strip() for k in values if query.get(k, "").strip()})
            workflow, state_text = values["workflow"], values["state"].lower()
            if workflow and not _WORKFLOW_NAME.fullmatch(workflow):
                raise BadInput("workflow: letters, digits, '.', '_' and '-' (at most 253)")
            if state_text and state_text not in RUN_STATES:
                raise BadInput(f"state: one of {', '.join(RUN_STATES)}")
            if not values["limit"].isdigit() or int(values["limit"]) not in LIMITS:
                raise BadInput(f"limit: one of {', '.join(map(str, LIMITS))}")
            limit = int(values["limit"])
            if not values["page"].isdigit() or len(values["page"]) > 4 or int(values["page"]) * limit >= MAX_LISTED:
                raise BadInput(f"page: a page number (the newest {MAX_LISTED} workflow runs are listed)")
            page = int(values["page"])
        except BadInput as e:
            return self.console.page(request, "workflow_runs.html", http_status=400, error=str(e), runs=[],
                                     values=values, states=RUN_STATES, limits=LIMITS, next_page="", prev_page="",
                                     capped=False)
        caller = self.ctx(request).caller
        wanted = (page + 1) * limit
        try:
            # One more than the page needs says whether there is a next page; a state filter is
            # applied here, over the newest MAX_LISTED.
            answer = await self.gw.list_workflow_runs(caller, workflow, MAX_LISTED if state_text
                                                      else min(MAX_LISTED, wanted + 1))
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self.console.page(request, "workflow_runs.html", http_status=http_status(e), error=e.message,
                                     runs=[], values=values, states=RUN_STATES, limits=LIMITS, next_page="",
                                     prev_page="", capped=False)
        runs = [r for r in answer.runs if not state_text or r.state == RUN_STATES[state_text]]
        shown = runs[page * limit:wanted]

        def link(p: int) -> str:
            params = {k: v for k, v in (("workflow", workflow), ("state", state_text)) if v}
            params.update(limit=str(limit), page=str(p))
            return "/workflows/runs?" + "&".join(f"{k}={v}" for k, v in params.items())  # all checked above

        more = len(runs) > wanted and wanted < MAX_LISTED
        return self.console.page(request, "workflow_runs.html", error="", runs=shown, values=values,
                                 states=RUN_STATES, limits=LIMITS, next_page=link(page + 1) if more else "",
                                 prev_page=link(page - 1) if page else "",
                                 capped=len(answer.runs) >= MAX_LISTED, run_state=linkgraph.run_state)

    # ---- the link view

    async def workflow_run(self, request: web.Request) -> web.StreamResponse:
        try:
            run_id = _workflow_run_id(request)
        except BadInput as e:
            return self._page_error(request, 404, "No such workflow run", str(e))
        try:
            selected = _task(request.query.get("task", ""), required=False)
        except BadInput as e:
            return self._page_error(request, 400, f"Workflow run {run_id}", str(e))
        ctx = self.ctx(request)
        try:
            wrun = await self.gw.get_workflow_run(ctx.caller, run_id)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return self._page_error(request, http_status(e), f"Workflow run {run_id}", e.message)
        tasks = [(t, linkgraph.node_state(t)) for t in wrun.tasks]
        return self.console.page(request, "workflow_run.html", wrun=wrun, tasks=tasks, selected=selected,
                                 run_state=linkgraph.run_state(wrun.state), node_states=linkgraph.NODE_STATES,
                                 running=wrun.state == WF.WF_RUNNING)

    async def workflow_graph(self, request: web.Request) -> web.StreamResponse:
        try:
            run_id = _workflow_run_id(request)
        except BadInput as e:
            return _error(str(e), 404)
        caller = self.ctx(request).caller
        try:
            wrun = await self.gw.get_workflow_run(caller, run_id)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return _error(e.message, http_status(e))
        spec: workflows_pb2.WorkflowSpec | None = None
        edges_error = ""
        try:
            spec = (await self.gw.get_workflow(caller, wrun.workflow_name, wrun.workflow_version)).spec
        except ApiError as e:
            if e.unauthenticated:
                raise
            edges_error = e.message  # the tasks without their dependencies: better than nothing
        found = linkgraph.graph(wrun, spec)
        if edges_error:
            found["edges_error"] = edges_error
        return web.json_response(found, dumps=_dumps)

    async def workflow_events(self, request: web.Request) -> web.StreamResponse:
        try:
            run_id = _workflow_run_id(request)
        except BadInput as e:
            return _error(str(e), 404)
        try:
            return await stream_workflow_run(request, self.console, self.gw, self.ctx(request).caller, run_id)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return _error(e.message, http_status(e))

    async def workflow_task(self, request: web.Request) -> web.StreamResponse:
        """One node's details: the task, its definition, its run (agent, outputs) and its impact set."""
        try:
            run_id = _workflow_run_id(request)
            name = _task(request.query.get("name", ""))
        except BadInput as e:
            return _error(str(e), 400)
        caller = self.ctx(request).caller
        try:
            wrun = await self.gw.get_workflow_run(caller, run_id)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return _error(e.message, http_status(e))
        task = next((t for t in wrun.tasks if t.name == name), None)
        if task is None:
            return _error(f"name: no task {name!r} in workflow run {run_id}", 404)
        (version, _), (impact, impact_error), (run, run_error) = await asyncio.gather(
            section(self.gw.get_workflow(caller, wrun.workflow_name, wrun.workflow_version)),
            section(self.gw.impact(caller, run_id, name)) if not task.handler else _none(),
            section(self.gw.get_run(caller, task.run_id)) if task.run_id else _none())
        spec = next((t for t in (*version.spec.tasks, *version.spec.on_failure) if t.name == name), None) \
            if version is not None else None
        return web.json_response({
            "task": _task_json(task), "spec": _spec_json(spec) if spec is not None else None,
            "run": _run_json(run) if run is not None else None, "run_error": run_error,
            "impact": linkgraph.impact_set(impact) if impact is not None else None, "impact_error": impact_error,
            "log": f"/runs/{task.run_id}/log" if task.run_id else "",
        }, dumps=_dumps)

    # ---- actions: preview, then the action

    def _action_input(self, values: Any) -> dict[str, str]:
        action = _one_of("action", str(values.get("action", "")), previews.ACTIONS)
        got = {"action": action, "task": "", "mode": "", "outcome": ""}
        if action in ("rerun", "mark"):
            got["task"] = _task(str(values.get("task", "")))
        if action == "rerun":
            got["mode"] = _one_of("mode", str(values.get("mode", "") or "downstream"), previews.RERUN_MODES)
        if action == "mark":
            got["outcome"] = _one_of("outcome", str(values.get("outcome", "")), previews.OUTCOMES)
        return got

    async def workflow_preview(self, request: web.Request) -> web.StreamResponse:
        try:
            run_id = _workflow_run_id(request)
            what = self._action_input(request.query)
        except BadInput as e:
            return _error(str(e), 400)
        caller = self.ctx(request).caller
        try:
            preview = await self._preview(caller, run_id, what)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return _error(e.message, http_status(e))
        # A key per preview: a confirm sent twice (a double click, a retried request) acts at most once,
        # and a held one finds the same approval.
        return web.json_response({**what, "run_id": run_id, "text": preview.text, "highlight": preview.highlight,
                                  "changes_nothing": preview.changes_nothing, "key": secrets.token_urlsafe(24)},
                                 dumps=_dumps)

    async def _preview(self, caller: Caller, run_id: str, what: dict[str, str]) -> previews.Preview:
        action = what["action"]
        if action == "rerun":
            answer = await self.gw.rerun_workflow(caller, run_id, what["task"], what["mode"], dry_run=True)
            return previews.rerun(answer, what["mode"])
        if action == "mark":
            return previews.mark(await self.gw.impact(caller, run_id, what["task"]), what["task"], what["outcome"])
        wrun = await self.gw.get_workflow_run(caller, run_id)
        if action == "pause":
            return previews.pause(wrun)
        if action == "resume":
            return previews.resume(wrun)
        upstream: dict[str, list[str]] = {}
        if wrun.state == WF.WF_RUNNING:
            version, _ = await section(self.gw.get_workflow(caller, wrun.workflow_name, wrun.workflow_version))
            upstream = {t.name: list(t.depends_on) for t in version.spec.tasks} if version is not None else {}
        frontier = previews.kill_frontier(wrun, upstream)[:KILL_IMPACT_CALLS] if wrun.state == WF.WF_RUNNING else []
        gate = asyncio.Semaphore(8)

        async def impact(task: str) -> workflows_pb2.ImpactResponse:
            async with gate:
                return await self.gw.impact(caller, run_id, task)

        return previews.kill(wrun, await asyncio.gather(*(impact(t) for t in frontier)))

    async def workflow_action(self, request: web.Request) -> web.StreamResponse:
        """POST (CSRF-checked by the app): the action, as the user; JSON for the page's script, else a page."""
        form = await request.post()
        try:
            run_id = _workflow_run_id(request)
            what = self._action_input(form)
            key = str(form.get("key", ""))
            if key and not _KEY.fullmatch(key):
                raise BadInput("key: the key of the preview (letters, digits, '_' and '-')")
        except BadInput as e:
            return self._action_answer(request, "", 400, error=str(e))
        caller = self.ctx(request).caller
        key = key or secrets.token_urlsafe(24)
        action, task = what["action"], what["task"]
        try:
            if action == "rerun":
                answer = await self.gw.rerun_workflow(caller, run_id, task, what["mode"], dry_run=False, key=key)
                text = previews.done_text(action, run_id, answer.run, tasks=answer.tasks)
            elif action == "mark":
                wrun = await self.gw.mark_task(caller, run_id, task, what["outcome"], key=key)
                text = previews.done_text(action, run_id, wrun, task=task, outcome=what["outcome"])
            else:
                wrun = await self.gw.workflow_run_action(caller, action, run_id, key=key)
                text = previews.done_text(action, run_id, wrun)
        except ApiError as e:
            if e.unauthenticated:
                raise
            if e.approval_id:
                return self._action_answer(request, run_id, 202, approval_id=e.approval_id, message=e.message)
            return self._action_answer(request, run_id, http_status(e), error=e.message)
        return self._action_answer(request, run_id, 200, text=text)

    def _action_answer(self, request: web.Request, run_id: str, status: int, text: str = "", error: str = "",
                       approval_id: str = "", message: str = "") -> web.StreamResponse:
        if approval_id:
            text = f"approval requested: {approval_id}, waiting for a second user"
        if _wants_json(request):
            found: dict[str, Any] = {"ok": status == 200, "text": text}
            if error:
                found["error"] = error
            if approval_id:
                found.update(approval_id=approval_id, message=message, approvals="/approvals")
            return web.json_response(found, status=status)
        return self.console.page(request, "workflow_action.html", http_status=status, run_id=run_id, text=text,
                                 error=error, approval_id=approval_id, message=message)

    # ---- approvals

    async def approvals(self, request: web.Request) -> web.StreamResponse:
        state = request.query.get("state", "pending")
        if state not in APPROVAL_STATES or set(request.query) - {"state"}:
            return await self._approvals_page(request, "pending", 400,
                                              error=f"state: one of {', '.join(APPROVAL_STATES)} (the only parameter)")
        return await self._approvals_page(request, state)

    async def _approvals_page(self, request: web.Request, state: str, status: int = 200, error: str = "",
                              done: str = "", failed: str = "") -> web.StreamResponse:
        ctx = self.ctx(request)
        listed: list[approval_pb2.Approval] = []
        list_error = ""
        try:
            answer = await self.gw.list_approvals(ctx.caller, "" if state == "all" else state)
            listed = list(answer.approvals[:MAX_APPROVALS_SHOWN])
        except ApiError as e:
            if e.unauthenticated:
                raise
            list_error = e.message
        me = ctx.me

        def mine(a: approval_pb2.Approval) -> bool:
            return me is not None and a.requested_by.kind == me.kind and a.requested_by.name == me.name

        return self.console.page(request, "approvals.html", http_status=status, approvals=listed, state=state,
                                 states=APPROVAL_STATES, error=error, list_error=list_error, done=done, failed=failed,
                                 mine=mine, actor=_actor_text, max_reason=MAX_REASON,
                                 resource_link=_resource_link)

    async def _decide(self, request: web.Request, approve: bool) -> web.StreamResponse:
        form = await request.post()
        approval_id = str(form.get("id", ""))
        reason = str(form.get("reason", "")).strip()
        if not linkgraph.APPROVAL_ID.fullmatch(approval_id):
            return await self._approvals_page(request, "pending", 400, error="id: approval ids look like a42")
        if len(reason) > MAX_REASON:
            return await self._approvals_page(request, "pending", 400,
                                              error=f"reason: at most {MAX_REASON} characters")
        if not approve and not reason:
            return await self._approvals_page(request, "pending", 400, error="reason: required to reject")
        try:
            decided = await self.gw.decide_approval(self.ctx(request).caller, approval_id, approve, reason)
        except ApiError as e:
            if e.unauthenticated:
                raise
            return await self._approvals_page(request, "pending", http_status(e),
                                              error=f"approval/{approval_id}: {e.message}")
        if not approve:
            return await self._approvals_page(request, "pending", done=f"approval/{decided.id or approval_id} rejected")
        summary = f": {decided.summary}" if decided.summary else ""
        done = f"approval/{decided.id or approval_id} approved{summary}"
        failed = ""
        if decided.result_code != grpc.StatusCode.OK.value[0]:
            failed = f"the approved operation failed: {_status_text(decided.result_code, decided.result)}"
        else:
            done += f" (it ran, as {_actor_text(decided.requested_by)})"
        return await self._approvals_page(request, "pending", done=done, failed=failed)

    async def approval_approve(self, request: web.Request) -> web.StreamResponse:
        return await self._decide(request, True)

    async def approval_reject(self, request: web.Request) -> web.StreamResponse:
        return await self._decide(request, False)


# ---- helpers

async def _none() -> tuple[None, str]:
    return None, ""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _actor_text(actor: Any) -> str:
    return f"{actor.kind}/{actor.name}" if actor.kind else (actor.name or "-")


def _status_text(code: int, message: str) -> str:
    if not code:
        return message or "ok"
    name = next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))
    return f"{name}: {message}" if message else name


def _resource_link(resource: str) -> str:
    """A console page for an approval's resource (workflowrun/w3, run/r12), else ""."""
    kind, _, name = resource.partition("/")
    if kind == "workflowrun" and linkgraph.WORKFLOW_RUN_ID.fullmatch(name):
        return f"/workflows/runs/{name}"
    if kind == "run" and linkgraph.RUN_ID.fullmatch(name):
        return f"/runs/{name}"
    return ""


def _task_json(t: workflows_pb2.TaskRun) -> dict[str, Any]:
    ended = t.state in previews.ENDED
    return {
        "name": t.name, "state": linkgraph.node_state(t), "api_state": previews.task_state(t.state),
        "attempt": t.attempt, "previous_runs": list(t.previous_run_ids), "run": t.run_id, "child": t.child_run_id,
        "started": filters.format_ms(t.started_ms), "ended": filters.format_ms(t.ended_ms),
        "took": filters.between(t.started_ms, t.ended_ms), "reason": t.reason, "waiting_for": t.waiting_for,
        "held_until": filters.format_ms(t.held_until_ms) if t.held_until_ms else "",
        "retry_at": filters.format_ms(t.retry_at_ms) if t.state == TS.TASK_RETRYING else "",
        "exit_code": t.exit_code if ended and t.run_id else None, "ready": t.ready, "handler": t.handler,
        "chosen": list(t.chosen),
        "upstream": {"total": t.upstream, "succeeded": t.upstream_succeeded, "failed": t.upstream_failed,
                     "skipped": t.upstream_skipped},
    }


def _spec_json(spec: workflows_pb2.WorkflowTask) -> dict[str, Any]:
    return {"kind": linkgraph.task_kind(spec), "depends_on": list(spec.depends_on),
            "trigger_rule": _rule_name(spec.trigger_rule), "job": spec.job, "workflow": spec.workflow,
            "description": spec.description, "when": spec.when, "waits": [_wait_text(w) for w in spec.wait_for]}


def _run_json(run: Any) -> dict[str, Any]:
    return {"id": run.run_id, "state": filters.state_name(run.state), "attempt": run.attempt, "agent": run.agent_id,
            "pid": run.pid, "exit_code": run.exit_code if run.finished_ms else None, "error": run.error,
            "created": filters.format_ms(run.created_ms), "started": filters.format_ms(run.started_ms),
            "finished": filters.format_ms(run.finished_ms), "outputs": sorted(run.outputs.items())}

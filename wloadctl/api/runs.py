"""RunService: manual runs, run queries, kills, logs, agents, forced dispatch."""

from __future__ import annotations

import asyncio
import time

import grpc

from wloadctl.api.authz import principal, require, visible_domains
from wloadctl.api.context import ApiContext
from wloadctl.api.governance import hold
from wloadctl.api.jobs import check_key, check_name
from wloadctl.control.controller import Controller
from wloadctl.model.runreport import ReportError, RunReportBuilder, TooManyRows
from wloadctl.model.summary import summary_message, summary_request_problem
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, commands_pb2, runs_pb2
from wloadctl.security.permissions import Permission
from wloadctl.state.runs import FINAL_STATES, MAX_PARAMS, OUTPUT_TAIL_BYTES, RunWhere, run_seq

_SERVICE = "/wloadctl.v1.RunService/"
REPORTS_AT_ONCE = 2
MAX_LOG_CHUNK = 4 << 20


async def check_run_id(run_id: str, context: grpc.aio.ServicerContext) -> None:
    if run_seq(run_id) is None:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"run_id: {run_id[:40]!r} is not a run id (like r42)")


def attempts_of(run: runs_pb2.Run) -> str:
    if run.attempt == 0:
        return f"run {run.run_id} has no attempt yet (it was never dispatched)"
    return f"run {run.run_id} has {run.attempt} attempt{'s' if run.attempt > 1 else ''}"


def missing_from_state(run: runs_pb2.Run, attempt: int) -> str:
    """What the cluster state lacks of an attempt's output, in words; "" when it holds all of it so far."""
    if attempt != run.attempt:
        return f"the cluster state keeps no output of attempt {attempt}, only of the current attempt ({run.attempt})"
    kept, total, gap = len(run.output_tail), run.output_bytes, run.output_gap_bytes
    # Gap markers take room in the tail too, so with a gap a full tail has surely lost its start.
    cut = total - gap > kept or (gap > 0 and kept >= OUTPUT_TAIL_BYTES)
    if cut and gap:
        return (f"only the last {kept} of {total} bytes of output are kept in the cluster state, and {gap} bytes "
                "never reached it")
    if cut:
        return f"only the last {kept} of {total} bytes of output are kept in the cluster state"
    if gap:
        return f"{gap} of {total} bytes of output never reached the cluster state (marked where they are missing)"
    return ""


class RunServicer(api_pb2_grpc.RunServiceServicer):
    def __init__(self, api: ApiContext, controller: Controller) -> None:
        self.api = api
        self.controller = controller
        # Reports read up to report_max_runs runs each in a worker thread: two at a time per replica, so
        # they never take every thread that listings and digests use; the others wait their turn.
        self._reports = asyncio.Semaphore(REPORTS_AT_ONCE)

    async def _run_or_404(self, run_id: str, context: grpc.aio.ServicerContext,
                          permission: Permission = Permission.RUN_READ) -> runs_pb2.Run:
        """The run, once the caller holds ``permission`` in the run's domain."""
        run = self.api.store.get_run(run_id)
        if run is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"run_id: no run {run_id!r}")
        await require(context, permission, run.spec.domain)
        return run

    async def TriggerRun(self, request: api_pb2.TriggerRunRequest,
                         context: grpc.aio.ServicerContext) -> runs_pb2.Run:
        await check_name(request.job_name, context)
        await check_key(request.idempotency_key, context)
        if len(request.params) > MAX_PARAMS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"params: at most {MAX_PARAMS}")
        for k, v in request.params.items():
            if not k or len(k) > 128 or len(v) > 4096 or "\0" in k + v:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"params.{k[:40]}: keys 1-128 and values up to 4096 characters, no NUL")
        job = self.api.store.get_job(request.job_name)
        if job is not None:
            await require(context, Permission.RUN_TRIGGER, job.spec.domain)

        async def here() -> runs_pb2.Run:
            caller = principal()
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=caller.actor(),
                                           trigger_run=commands_pb2.TriggerRun(
                                               job_name=request.job_name, params=request.params,
                                               cause=f"manual run by {caller.kind} {caller.name}".strip()))
            result = await self.api.commit(command, context)
            self.controller.wake()
            return await self._run_or_404(result.run_ids[0], context, Permission.RUN_TRIGGER)

        return await self.api.on_leader(_SERVICE + "TriggerRun", request, runs_pb2.Run, context, here)

    async def EmitEvent(self, request: api_pb2.EmitEventRequest,
                        context: grpc.aio.ServicerContext) -> api_pb2.EmitEventResponse:
        if not request.name or len(request.name) > 128 or "\0" in request.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: 1-128 characters, no NUL")
        await check_key(request.idempotency_key, context)
        if len(request.params) > MAX_PARAMS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"params: at most {MAX_PARAMS}")
        for k, v in request.params.items():
            if not k or len(k) > 128 or len(v) > 4096 or "\0" in k + v:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"params.{k[:40]}: keys 1-128 and values up to 4096 characters, no NUL")
        await require(context, Permission.EVENT_EMIT)  # in at least one domain

        async def here() -> api_pb2.EmitEventResponse:
            caller = principal()
            # Only the jobs of the domains where the caller may emit events start (isolation).
            visible = visible_domains(Permission.EVENT_EMIT)
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=caller.actor(),
                                           emit_event=commands_pb2.EmitEvent(
                                               name=request.name, params=request.params,
                                               domains=sorted(visible) if visible is not None else [],
                                               source=f"{caller.kind} {caller.name}".strip()))
            result = await self.api.commit(command, context)
            self.controller.wake()
            return api_pb2.EmitEventResponse(run_ids=result.run_ids, raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "EmitEvent", request, api_pb2.EmitEventResponse, context, here)

    async def GetRun(self, request: api_pb2.GetRunRequest,
                     context: grpc.aio.ServicerContext) -> runs_pb2.Run:
        await check_run_id(request.run_id, context)
        return await self._run_or_404(request.run_id, context)

    async def ListRuns(self, request: api_pb2.ListRunsRequest,
                       context: grpc.aio.ServicerContext) -> api_pb2.ListRunsResponse:
        size = request.page_size or 100
        if size > 1000:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size: at most 1000")
        if request.page_token and run_seq(request.page_token) is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_token: not a token this server issued")
        if request.state not in runs_pb2.RunState.values():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"state: unknown value {request.state}")
        if len(request.domain.encode()) > 128 or "\0" in request.domain:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "domain: not a domain (at most 128 bytes)")
        if len(request.agent_id.encode()) > 128:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "agent_id: at most 128 bytes")
        if request.created_from_ms < 0 or request.created_before_ms < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "created_from_ms, created_before_ms: not negative")
        # The caller's domains are filtered in the scan (pages fill up with what it may see); asking
        # for another domain by name is refused (and audited), as ReportRuns does.
        visible = visible_domains(Permission.RUN_READ)
        if request.domain and visible is not None and request.domain not in visible:
            await require(context, Permission.RUN_READ, request.domain)
        domains = frozenset({request.domain}) if request.domain else visible
        where = RunWhere(domains=domains, agent=request.agent_id, created_from_ms=request.created_from_ms,
                         created_before_ms=request.created_before_ms)
        # Off the event loop, and bounded like ListJobs: a filter that matches few runs gives a short
        # or empty page with a next_page_token ("keep going").
        runs, token = await asyncio.to_thread(self.api.store.list_runs, request.job_name, request.state, size,
                                              request.page_token, where=where)
        return api_pb2.ListRunsResponse(runs=runs, next_page_token=token)

    async def ReportRuns(self, request: api_pb2.ReportRunsRequest,
                         context: grpc.aio.ServicerContext) -> api_pb2.RunReport:
        if len(request.domain.encode()) > 128 or "\0" in request.domain:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "domain: not a domain (at most 128 bytes)")
        # Only the runs of the domains where the caller holds run.read, as in ListRuns; asking for
        # another domain by name is refused (and audited) rather than answered empty.
        visible = visible_domains(Permission.RUN_READ)
        if request.domain and visible is not None and request.domain not in visible:
            await require(context, Permission.RUN_READ, request.domain)
        domains = frozenset({request.domain}) if request.domain else visible
        try:
            builder = RunReportBuilder(request.by, request.from_ms, request.to_ms, request.bucket, request.time_zone)
        except ReportError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        limit = int(self.api.config.control.report_max_runs)
        max_runs = min(request.max_runs or limit, limit)
        # Bounded by max_runs, and by the caller's deadline: an answer nobody waits for is not worth reading on.
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining * 0.8 if remaining is not None else None

        def count() -> api_pb2.RunReport:
            scan = self.api.store.report_runs(builder, domains, max_runs, deadline, time.monotonic)
            return builder.report(scan.truncated, scan.covered_to_ms)

        try:
            async with self._reports:
                return await asyncio.to_thread(count)  # off the event loop, like ListRuns
        except TooManyRows as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))

    async def Summarize(self, request: api_pb2.SummarizeRequest,
                        context: grpc.aio.ServicerContext) -> api_pb2.Summary:
        problem = summary_request_problem(request)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        # The domains where the caller may read runs, as ListRuns; definitions only where it may read jobs.
        visible = visible_domains(Permission.RUN_READ)
        jobs_visible = visible_domains(Permission.JOB_READ)
        days = list(request.days)
        index, domains = await asyncio.to_thread(self.api.store.summary, visible, days, request.hours_of_day)
        return summary_message(index, domains, days, jobs_visible)

    async def KillRun(self, request: api_pb2.KillRunRequest,
                      context: grpc.aio.ServicerContext) -> runs_pb2.Run:
        await check_run_id(request.run_id, context)
        await check_key(request.idempotency_key, context)
        run = await self._run_or_404(request.run_id, context, Permission.RUN_KILL)

        async def here() -> runs_pb2.Run:
            caller = principal()
            kill = commands_pb2.RequestKill(run_id=request.run_id,
                                            cause=f"kill requested by {caller.kind} {caller.name}".strip())
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=caller.actor(),
                                           request_kill=kill)
            if run.state not in FINAL_STATES:
                await hold(self.api, context, "run.kill", run.spec.domain, command,
                           f"kill run {run.run_id} of job {run.job_name}", [f"run/{run.run_id}", f"job/{run.job_name}"])
            await self.api.commit(command, context)
            self.controller.wake()
            return await self._run_or_404(request.run_id, context, Permission.RUN_KILL)

        return await self.api.on_leader(_SERVICE + "KillRun", request, runs_pb2.Run, context, here)

    async def GetRunLogs(self, request: api_pb2.GetRunLogsRequest,
                         context: grpc.aio.ServicerContext) -> api_pb2.GetRunLogsResponse:
        await check_run_id(request.run_id, context)
        run = await self._run_or_404(request.run_id, context, Permission.RUN_LOGS)
        if request.attempt > run.attempt:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"attempt: {attempts_of(run)}")
        attempt = request.attempt or run.attempt
        limit = min(request.limit or (1 << 20), MAX_LOG_CHUNK)
        if attempt == 0:  # never dispatched: nothing was written anywhere
            return api_pb2.GetRunLogsResponse(complete=run.state in FINAL_STATES, source="state", state=run.state)
        agent_id = run.agent_id if attempt == run.attempt else self._agent_of_attempt(run, attempt)
        chunk = await self.controller.request_logs(agent_id, run.run_id, attempt, request.offset, limit) \
            if agent_id else None
        if chunk is not None and chunk.found:
            return api_pb2.GetRunLogsResponse(data=chunk.data, next_offset=chunk.next_offset, complete=chunk.complete,
                                              source="agent", state=run.state, agent_id=agent_id)
        # The agent is unreachable from this replica: the capped tail kept in the state.
        tail = run.output_tail[request.offset:] if attempt == run.attempt else b""
        missing = missing_from_state(run, attempt)
        return api_pb2.GetRunLogsResponse(data=tail, next_offset=request.offset + len(tail),
                                          complete=run.state in FINAL_STATES and not missing, source="state",
                                          state=run.state, agent_id=agent_id, missing=missing)

    @staticmethod
    def _agent_of_attempt(run: runs_pb2.Run, attempt: int) -> str:
        for t in run.transitions:
            if t.attempt == attempt and t.state == runs_pb2.DISPATCHED:
                return t.agent_id
        return ""

    async def ListAgents(self, request: api_pb2.ListAgentsRequest,
                         context: grpc.aio.ServicerContext) -> api_pb2.ListAgentsResponse:
        api = self.api
        # Which agents confirmed the epoch is known on the leader only: ask it, as writes are forwarded.
        if not api.node.is_leader() and not api.forwarded(context) and api.leader_api_address():
            try:
                return await api.forward(_SERVICE + "ListAgents", request, api_pb2.ListAgentsResponse, context,
                                         share=0.5)
            except grpc.aio.AioRpcError:
                pass  # no leader reachable: this replica's own view, labelled with who answered
        now = time.monotonic()
        out = api_pb2.ListAgentsResponse(answered_by=api.config.node_id, role=api.node.status()["role"])
        running = api.store.on_agent_counts()
        confirmed = self.controller.confirmed_agents()
        for agent in api.store.agents():
            conn = self.controller.conns.get(agent.agent_id)
            out.agents.add(agent=agent, connected=conn is not None, confirmed=agent.agent_id in confirmed,
                           running=running.get(agent.agent_id, 0),
                           free_slots=max(0, agent.capacity - running.get(agent.agent_id, 0)),
                           last_heard_s=round(now - conn.last_heard, 3) if conn is not None else -1)
        return out

    async def ForceDispatch(self, request: api_pb2.ForceDispatchRequest,
                            context: grpc.aio.ServicerContext) -> api_pb2.ForceDispatchResponse:
        if not request.reason.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "reason: required (it is recorded in the state)")

        async def here() -> api_pb2.ForceDispatchResponse:
            if self.controller.epoch == 0:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the leader has not begun its epoch yet; retry")
            caller = principal()
            # The operator on record is who authenticated, never a name the client sends (only without
            # authentication, --insecure, is the client's word all there is).
            operator = request.operator or "anonymous" if caller.kind == "anonymous" else f"{caller.kind}/{caller.name}"
            command = commands_pb2.Command(actor=caller.actor(), force_activate=commands_pb2.ForceActivate(
                epoch=self.controller.epoch, operator=operator, reason=request.reason))
            await hold(self.api, context, "cluster.force_dispatch", "", command,
                       f"force dispatching in epoch {self.controller.epoch}", ["cluster/dispatch"])
            result = await self.api.commit(command, context)
            self.controller.wake()
            return api_pb2.ForceDispatchResponse(epoch=result.epoch)

        return await self.api.on_leader(_SERVICE + "ForceDispatch", request, api_pb2.ForceDispatchResponse, context,
                                        here)

"""The console's only way to the cluster: gRPC calls to this replica's own API, as the logged-in user.

Every call carries the user's session token (``authorization: Bearer``) and, signed with the cluster
secret, the browser's address as ``console:HOST:PORT`` (``x-wloadctl-source``). So authentication,
permissions, domain filtering, four-eyes approvals, forwarding to the leader and the audit record
are exactly those of the CLI, and ``wloadctl audit get`` shows the console as the source. Nothing
here reads the replica's state directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from wloadctl.api.authn import AUTHORIZATION, SOURCE_HEADER, sign_source
from wloadctl.api.context import ApiContext
from wloadctl.api.headers import APPROVAL_HEADER
from wloadctl.api.webhooks import _dialable
from wloadctl.proto.v1 import (
    api_pb2,
    api_pb2_grpc,
    approval_pb2,
    approval_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    watch_pb2,
    watch_pb2_grpc,
    workflows_pb2,
    workflows_pb2_grpc,
)

SOURCE_PREFIX = "console:"


class ApiError(Exception):
    """A refused or failed call: ``code`` the gRPC status, ``message`` the API's (safe to show)."""

    def __init__(self, code: grpc.StatusCode, message: str, approval_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.approval_id = approval_id

    @property
    def unauthenticated(self) -> bool:
        return self.code == grpc.StatusCode.UNAUTHENTICATED


@dataclass(frozen=True)
class Caller:
    """Who the console acts for: the session token from the cookie ("" before login) and the browser."""

    token: str
    peer: str


class Gateway:
    def __init__(self, api: ApiContext, timeout: float = 10.0) -> None:
        self.api = api
        self.timeout = timeout
        self.address = _dialable(api.config.api_address)

    def metadata(self, caller: Caller) -> tuple[tuple[str, str], ...]:
        metadata: list[tuple[str, str]] = []
        if caller.token:
            metadata.append((AUTHORIZATION, f"Bearer {caller.token}"))
        if self.api.secret is not None:
            metadata.append((SOURCE_HEADER, sign_source(self.api.secret, self.api.config.node_id,
                                                        SOURCE_PREFIX + caller.peer)))
        return tuple(metadata)

    @property
    def _channel(self) -> grpc.aio.Channel:
        return self.api.channel(self.address)

    async def _unary(self, call: Any, request: Any, caller: Caller, timeout: float | None = None) -> Any:
        try:
            return await call(request, timeout=timeout or self.timeout, metadata=self.metadata(caller))
        except grpc.aio.AioRpcError as e:
            approval = dict(e.trailing_metadata() or ()).get(APPROVAL_HEADER, "")
            raise ApiError(e.code(), e.details() or e.code().name, str(approval or "")) from None

    # ---- sessions

    async def login(self, caller: Caller, user: str, password: str) -> auth_pb2.LoginResponse:
        stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        return await self._unary(stub.Login, auth_pb2.LoginRequest(user=user, password=password),
                                 Caller("", caller.peer), timeout=self.timeout + 10)

    async def logout(self, caller: Caller) -> None:
        await self._unary(auth_pb2_grpc.AuthServiceStub(self._channel).Logout, auth_pb2.LogoutRequest(), caller)

    async def whoami(self, caller: Caller) -> auth_pb2.WhoAmIResponse:
        return await self._unary(auth_pb2_grpc.AuthServiceStub(self._channel).WhoAmI, auth_pb2.WhoAmIRequest(),
                                 caller)

    async def change_password(self, caller: Caller, old: str, new: str) -> None:
        request = auth_pb2.ChangePasswordRequest(old_password=old, new_password=new)
        await self._unary(auth_pb2_grpc.AuthServiceStub(self._channel).ChangePassword, request, caller,
                          timeout=self.timeout + 10)

    # ---- reads

    async def status(self, caller: Caller) -> api_pb2.ClusterStatus:
        return await self._unary(api_pb2_grpc.ClusterServiceStub(self._channel).Status, api_pb2.StatusRequest(),
                                 caller)

    async def summarize(self, caller: Caller, days: list[str], hours_of_day: str) -> api_pb2.Summary:
        request = api_pb2.SummarizeRequest(days=days, hours_of_day=hours_of_day)
        return await self._unary(api_pb2_grpc.RunServiceStub(self._channel).Summarize, request, caller)

    async def list_jobs(self, caller: Caller, page_size: int, page_token: str = "") -> api_pb2.ListJobsResponse:
        request = api_pb2.ListJobsRequest(page_size=page_size, page_token=page_token)
        return await self._unary(api_pb2_grpc.JobServiceStub(self._channel).ListJobs, request, caller)

    async def list_workflows(self, caller: Caller) -> workflows_pb2.ListWorkflowsResponse:
        return await self._unary(workflows_pb2_grpc.WorkflowServiceStub(self._channel).ListWorkflows,
                                 workflows_pb2.ListWorkflowsRequest(), caller)

    async def list_workflow_runs(self, caller: Caller, workflow: str, limit: int) \
            -> workflows_pb2.ListWorkflowRunsResponse:
        request = workflows_pb2.ListWorkflowRunsRequest(workflow_name=workflow, limit=limit)
        return await self._unary(workflows_pb2_grpc.WorkflowServiceStub(self._channel).ListWorkflowRuns, request,
                                 caller)

    # ---- workflow runs (the business link view) and approvals

    def _workflows(self) -> workflows_pb2_grpc.WorkflowServiceStub:
        return workflows_pb2_grpc.WorkflowServiceStub(self._channel)

    async def get_workflow_run(self, caller: Caller, run_id: str) -> workflows_pb2.WorkflowRun:
        return await self._unary(self._workflows().GetWorkflowRun, workflows_pb2.GetWorkflowRunRequest(id=run_id),
                                 caller)

    async def get_workflow(self, caller: Caller, name: str, version: int) -> workflows_pb2.WorkflowVersion:
        return await self._unary(self._workflows().GetWorkflow,
                                 workflows_pb2.GetWorkflowRequest(name=name, version=version), caller)

    async def impact(self, caller: Caller, run_id: str, task: str) -> workflows_pb2.ImpactResponse:
        return await self._unary(self._workflows().Impact, workflows_pb2.ImpactRequest(run_id=run_id, task=task),
                                 caller)

    async def rerun_workflow(self, caller: Caller, run_id: str, task: str, mode: str, dry_run: bool,
                             key: str = "") -> workflows_pb2.RerunWorkflowResponse:
        request = workflows_pb2.RerunWorkflowRequest(run_id=run_id, task=task, mode=mode, dry_run=dry_run,
                                                     idempotency_key=key)
        return await self._unary(self._workflows().RerunWorkflow, request, caller)

    async def workflow_run_action(self, caller: Caller, action: str, run_id: str,
                                  key: str = "") -> workflows_pb2.WorkflowRun:
        stub = self._workflows()
        call = {"kill": stub.KillWorkflowRun, "pause": stub.PauseWorkflowRun, "resume": stub.ResumeWorkflowRun}[action]
        return await self._unary(call, workflows_pb2.WorkflowRunActionRequest(run_id=run_id, idempotency_key=key),
                                 caller)

    async def mark_task(self, caller: Caller, run_id: str, task: str, outcome: str,
                        key: str = "") -> workflows_pb2.WorkflowRun:
        request = workflows_pb2.MarkTaskRequest(run_id=run_id, task=task, outcome=outcome, idempotency_key=key)
        return await self._unary(self._workflows().MarkTask, request, caller)

    async def list_approvals(self, caller: Caller, state: str = "") -> approval_pb2.ListApprovalsResponse:
        return await self._unary(approval_pb2_grpc.ApprovalServiceStub(self._channel).ListApprovals,
                                 approval_pb2.ListApprovalsRequest(state=state), caller)

    async def decide_approval(self, caller: Caller, approval_id: str, approve: bool,
                              reason: str) -> approval_pb2.Approval:
        stub = approval_pb2_grpc.ApprovalServiceStub(self._channel)
        return await self._unary(stub.Approve if approve else stub.Reject,
                                 approval_pb2.DecideRequest(id=approval_id, reason=reason), caller)

    async def watch_workflow_run(self, caller: Caller, run_id: str) -> AsyncIterator[watch_pb2.WatchEvent]:
        """The changes of one workflow run (a snapshot of it first, each change the whole run with its
        tasks), until the stream ends or is cancelled."""
        stub = watch_pb2_grpc.WatchServiceStub(self._channel)
        async for event in _events(stub.WatchWorkflowRuns(watch_pb2.WatchWorkflowRunsRequest(run_id=run_id),
                                                          metadata=self.metadata(caller))):
            yield event

    async def list_runs(self, caller: Caller, job: str = "", state: int = 0, page_size: int = 100,
                        page_token: str = "", domain: str = "", agent: str = "", created_from_ms: int = 0,
                        created_before_ms: int = 0) -> api_pb2.ListRunsResponse:
        request = api_pb2.ListRunsRequest(job_name=job, state=state, page_size=page_size, page_token=page_token,
                                          domain=domain, agent_id=agent, created_from_ms=created_from_ms,
                                          created_before_ms=created_before_ms)
        return await self._unary(api_pb2_grpc.RunServiceStub(self._channel).ListRuns, request, caller)

    async def get_run(self, caller: Caller, run_id: str) -> Any:
        return await self._unary(api_pb2_grpc.RunServiceStub(self._channel).GetRun,
                                 api_pb2.GetRunRequest(run_id=run_id), caller)

    async def get_job(self, caller: Caller, name: str, version: int) -> Any:
        return await self._unary(api_pb2_grpc.JobServiceStub(self._channel).GetJob,
                                 api_pb2.GetJobRequest(name=name, version=version), caller)

    async def run_logs(self, caller: Caller, run_id: str, attempt: int, offset: int,
                       limit: int) -> api_pb2.GetRunLogsResponse:
        request = api_pb2.GetRunLogsRequest(run_id=run_id, attempt=attempt, offset=offset, limit=limit)
        return await self._unary(api_pb2_grpc.RunServiceStub(self._channel).GetRunLogs, request, caller,
                                 timeout=self.timeout + 10)

    async def list_agents(self, caller: Caller) -> api_pb2.ListAgentsResponse:
        return await self._unary(api_pb2_grpc.RunServiceStub(self._channel).ListAgents,
                                 api_pb2.ListAgentsRequest(), caller)

    # ---- schedules, audit and reports (the Gantt, misfires, audit, calendars and reports pages: pages.py)

    async def list_misfires(self, caller: Caller, job: str = "", page_size: int = 100,
                            page_token: str = "") -> api_pb2.ListMisfiresResponse:
        request = api_pb2.ListMisfiresRequest(job_name=job, page_size=page_size, page_token=page_token)
        return await self._unary(api_pb2_grpc.JobServiceStub(self._channel).ListMisfires, request, caller)

    async def list_calendars(self, caller: Caller) -> api_pb2.ListCalendarsResponse:
        return await self._unary(api_pb2_grpc.JobServiceStub(self._channel).ListCalendars,
                                 api_pb2.ListCalendarsRequest(), caller)

    async def next_fire_times(self, caller: Caller, name: str, count: int) -> api_pb2.NextFireTimesResponse:
        request = api_pb2.NextFireTimesRequest(name=name, count=count)
        return await self._unary(api_pb2_grpc.JobServiceStub(self._channel).NextFireTimes, request, caller)

    async def list_audit(self, caller: Caller, request: audit_pb2.ListAuditRequest) -> audit_pb2.ListAuditResponse:
        return await self._unary(audit_pb2_grpc.AuditServiceStub(self._channel).ListAudit, request, caller,
                                 timeout=self.timeout + 20)

    async def verify_audit(self, caller: Caller) -> audit_pb2.VerifyAuditResponse:
        return await self._unary(audit_pb2_grpc.AuditServiceStub(self._channel).VerifyAudit,
                                 audit_pb2.VerifyAuditRequest(), caller, timeout=max(self.timeout, 60))

    async def report_runs(self, caller: Caller, request: api_pb2.ReportRunsRequest) -> api_pb2.RunReport:
        # As the CLI: a report that reads many runs takes a while (the replica stops in time and says so).
        return await self._unary(api_pb2_grpc.RunServiceStub(self._channel).ReportRuns, request, caller,
                                 timeout=max(self.timeout, 60))

    async def watch_run(self, caller: Caller, run_id: str) -> AsyncIterator[watch_pb2.WatchEvent]:
        """The changes of one run (a snapshot of it first), until the stream ends or is cancelled."""
        stub = watch_pb2_grpc.WatchServiceStub(self._channel)
        async for event in _events(stub.WatchRuns(watch_pb2.WatchRunsRequest(run_id=run_id),
                                                  metadata=self.metadata(caller))):
            yield event


async def _events(call: Any) -> AsyncIterator[watch_pb2.WatchEvent]:
    """The events of a watch stream; its failure as ApiError; the call cancelled when the reader stops."""
    try:
        async for response in call:
            for event in response.events:
                yield event
    except grpc.aio.AioRpcError as e:
        raise ApiError(e.code(), e.details() or e.code().name) from None
    finally:
        call.cancel()

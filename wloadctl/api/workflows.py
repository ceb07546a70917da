"""WorkflowService: validate -> (forward to the leader | propose) or read the local state.

Permissions are the jobs' (a workflow is a definition like a job, its runs are runs): job.read,
job.write and job.delete on workflows, run.trigger and run.read on their runs, in the workflow's
domain.
"""

from __future__ import annotations

import re

import grpc

from wloadctl.api.authz import principal, require, visible_domains
from wloadctl.api.context import ApiContext
from wloadctl.api.governance import hold
from wloadctl.api.jobs import check_key, check_name
from wloadctl.model.rules import DEFAULT_DOMAIN
from wloadctl.model.workflows import validate_workflow
from wloadctl.proto.v1 import commands_pb2, workflows_pb2, workflows_pb2_grpc
from wloadctl.scheduler import dag
from wloadctl.security.permissions import Permission

_ENDED = (workflows_pb2.TASK_SUCCEEDED, workflows_pb2.TASK_FAILED, workflows_pb2.TASK_SKIPPED)
_SERVICE = "/wloadctl.v1.WorkflowService/"
_MAX_ERRORS_SHOWN = 20
MAX_RUNS_LISTED = 1000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class WorkflowServicer(workflows_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def ApplyWorkflows(self, request: workflows_pb2.ApplyWorkflowsRequest,
                             context: grpc.aio.ServicerContext) -> workflows_pb2.ApplyWorkflowsResponse:
        if not request.workflows:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "workflows: at least one")
        limit = self.api.config.max_workflow_tasks
        errors = [f"workflows[{i}].{e.field}: {e.reason}" if e.field else f"workflows[{i}]: {e.reason}"
                  for i, spec in enumerate(request.workflows) for e in validate_workflow(spec, limit)]
        if errors:
            more = f" (and {len(errors) - _MAX_ERRORS_SHOWN} more)" if len(errors) > _MAX_ERRORS_SHOWN else ""
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(errors[:_MAX_ERRORS_SHOWN]) + more)
        await check_key(request.idempotency_key, context)
        for spec in request.workflows:
            await require(context, Permission.JOB_WRITE, spec.domain or DEFAULT_DOMAIN)
            current = self.api.store.get_workflow(spec.name)
            if current is not None and current.spec.domain != (spec.domain or DEFAULT_DOMAIN):
                await require(context, Permission.JOB_WRITE, current.spec.domain)
            await self._check_references(spec, context)

        async def here() -> workflows_pb2.ApplyWorkflowsResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           apply_workflows=commands_pb2.ApplyWorkflows(
                                               workflows=request.workflows, max_tasks=limit))
            result = await self.api.commit(command, context)
            return workflows_pb2.ApplyWorkflowsResponse(
                workflows=[workflows_pb2.WorkflowRef(name=j.name, version=j.version, changed=j.changed)
                           for j in result.jobs], raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "ApplyWorkflows", request, workflows_pb2.ApplyWorkflowsResponse,
                                        context, here)

    async def _check_references(self, spec: workflows_pb2.WorkflowSpec, context: grpc.aio.ServicerContext) -> None:
        """A workflow that starts another domain's job or workflow, or waits on one, needs the caller's
        right to do so there: writing a workflow must not be a way around the other domain's roles."""
        own = spec.domain or DEFAULT_DOMAIN
        for task in (*spec.tasks, *spec.on_failure):
            started = self.api.store.get_job(task.job) if task.job else None
            child = self.api.store.get_workflow(task.workflow) if task.workflow else None
            for found in (started, child):
                if found is not None and found.spec.domain != own:
                    await require(context, Permission.RUN_TRIGGER, found.spec.domain)
            for dep in task.wait_for:
                target = self.api.store.get_job(dep.job) if dep.job else \
                    self.api.store.get_workflow(dep.workflow) if dep.workflow else None
                if target is not None and target.spec.domain != own:
                    await require(context, Permission.RUN_READ, target.spec.domain)

    async def GetWorkflow(self, request: workflows_pb2.GetWorkflowRequest,
                          context: grpc.aio.ServicerContext) -> workflows_pb2.WorkflowVersion:
        await check_name(request.name, context)
        found = self.api.store.get_workflow(request.name, request.version)
        if found is None:
            what = f"version {request.version} of workflow" if request.version else "workflow"
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: {what} {request.name!r} not found")
        await require(context, Permission.JOB_READ, found.spec.domain)
        return found

    async def ListWorkflows(self, request: workflows_pb2.ListWorkflowsRequest,
                            context: grpc.aio.ServicerContext) -> workflows_pb2.ListWorkflowsResponse:
        visible = visible_domains(Permission.JOB_READ)
        if request.domain:
            await require(context, Permission.JOB_READ, request.domain)
        found = [w for w in self.api.store.list_workflows()
                 if (visible is None or w.spec.domain in visible) and (not request.domain or
                                                                       w.spec.domain == request.domain)]
        return workflows_pb2.ListWorkflowsResponse(workflows=found)

    async def DeleteWorkflow(self, request: workflows_pb2.DeleteWorkflowRequest,
                             context: grpc.aio.ServicerContext) -> workflows_pb2.DeleteWorkflowResponse:
        await check_name(request.name, context)
        await check_key(request.idempotency_key, context)
        current = self.api.store.get_workflow(request.name)
        # As DeleteJob: a deleted workflow's domain is its tombstone's (a retried delete).
        domain = current.spec.domain if current is not None else \
            (self.api.store.workflow_domain(request.name) or DEFAULT_DOMAIN)
        await require(context, Permission.JOB_DELETE, domain)

        async def here() -> workflows_pb2.DeleteWorkflowResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           delete_workflow=commands_pb2.DeleteWorkflow(name=request.name))
            if current is not None:
                await hold(self.api, context, "job.delete", domain, command, f"delete workflow {request.name}",
                           [f"workflow/{request.name}"])
            result = await self.api.commit(command, context)
            return workflows_pb2.DeleteWorkflowResponse(version=result.jobs[0].version if result.jobs else 0,
                                                        raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "DeleteWorkflow", request, workflows_pb2.DeleteWorkflowResponse,
                                        context, here)

    async def RunWorkflow(self, request: workflows_pb2.RunWorkflowRequest,
                          context: grpc.aio.ServicerContext) -> workflows_pb2.WorkflowRun:
        await check_name(request.name, context)
        await check_key(request.idempotency_key, context)
        if request.business_date and not _DATE.fullmatch(request.business_date):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "business_date: YYYY-MM-DD")
        current = self.api.store.get_workflow(request.name)
        await require(context, Permission.RUN_TRIGGER, current.spec.domain if current is not None else DEFAULT_DOMAIN)

        async def here() -> workflows_pb2.WorkflowRun:
            caller = principal()
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=caller.actor(),
                                           trigger_workflow=commands_pb2.TriggerWorkflow(
                                               name=request.name, params=request.params,
                                               business_date=request.business_date,
                                               cause=f"manual run by {caller.kind} {caller.name}".strip()))
            result = await self.api.commit(command, context)
            found = self.api.store.get_workflow_run(result.run_ids[0])
            if found is None:
                await context.abort(grpc.StatusCode.INTERNAL, f"workflow run {result.run_ids[0]} not found after "
                                                              "its commit")
            return found

        return await self.api.on_leader(_SERVICE + "RunWorkflow", request, workflows_pb2.WorkflowRun, context, here)

    async def GetWorkflowRun(self, request: workflows_pb2.GetWorkflowRunRequest,
                             context: grpc.aio.ServicerContext) -> workflows_pb2.WorkflowRun:
        found = self.api.store.get_workflow_run(request.id) if len(request.id) < 24 else None
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"id: no workflow run {request.id[:40]!r}")
        await require(context, Permission.RUN_READ, found.domain)
        return found

    async def ListWorkflowRuns(self, request: workflows_pb2.ListWorkflowRunsRequest,
                               context: grpc.aio.ServicerContext) -> workflows_pb2.ListWorkflowRunsResponse:
        if request.limit > MAX_RUNS_LISTED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit: at most {MAX_RUNS_LISTED}")
        visible = visible_domains(Permission.RUN_READ)
        if visible is not None and not visible:
            await require(context, Permission.RUN_READ)
        runs = self.api.store.list_workflow_runs(request.workflow_name, request.limit or 100)
        return workflows_pb2.ListWorkflowRunsResponse(
            runs=[r for r in runs if visible is None or r.domain in visible])

    async def RerunWorkflow(self, request: workflows_pb2.RerunWorkflowRequest,
                            context: grpc.aio.ServicerContext) -> workflows_pb2.RerunWorkflowResponse:
        await check_key(request.idempotency_key, context)
        found = self.api.store.get_workflow_run(request.run_id) if len(request.run_id) < 24 else None
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"run_id: no workflow run {request.run_id[:40]!r}")
        await require(context, Permission.RUN_RERUN, found.domain)
        try:
            mode = dag.RerunMode(request.mode or "downstream")
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "mode: only, downstream or all")
        if mode is not dag.RerunMode.ALL and not request.task:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "task: required (or mode all)")
        version = self.api.store.get_workflow(found.workflow_name, found.workflow_version)
        if version is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"version {found.workflow_version} of workflow "
                                                                     f"{found.workflow_name!r} is no longer kept")
        graph = dag.Dag.of(version.spec)
        if mode is not dag.RerunMode.ALL and request.task not in graph.upstream:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"task: no task {request.task[:64]!r} in workflow {found.workflow_name!r}")
        tasks = dag.rerun_set(graph, mode, request.task)
        if request.dry_run:
            return workflows_pb2.RerunWorkflowResponse(tasks=tasks)

        async def here() -> workflows_pb2.RerunWorkflowResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           rerun_workflow=commands_pb2.RerunWorkflow(
                                               run_id=request.run_id, task=request.task, mode=mode.value))
            what = f"rerun {mode.value} of {request.task} in" if request.task else "rerun of"
            await hold(self.api, context, "run.rerun", found.domain, command,
                       f"{what} workflow run {request.run_id} ({len(tasks)} tasks: {', '.join(tasks[:20])})"
                       + self._elsewhere_text(found, tasks), [f"workflowrun/{request.run_id}"])
            await self.api.commit(command, context)
            return workflows_pb2.RerunWorkflowResponse(tasks=tasks, run=self.api.store.get_workflow_run(request.run_id))

        return await self.api.on_leader(_SERVICE + "RerunWorkflow", request, workflows_pb2.RerunWorkflowResponse,
                                        context, here)

    async def _action(self, action: str, request: workflows_pb2.WorkflowRunActionRequest,
                      context: grpc.aio.ServicerContext, permission: Permission) -> workflows_pb2.WorkflowRun:
        await check_key(request.idempotency_key, context)
        found = self.api.store.get_workflow_run(request.run_id) if len(request.run_id) < 24 else None
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"run_id: no workflow run {request.run_id[:40]!r}")
        await require(context, permission, found.domain)
        method = {"kill": "KillWorkflowRun", "pause": "PauseWorkflowRun", "resume": "ResumeWorkflowRun"}[action]

        async def here() -> workflows_pb2.WorkflowRun:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           workflow_run_action=commands_pb2.WorkflowRunAction(
                                               run_id=request.run_id, action=action))
            if action == "kill":
                open_tasks = [t.name for t in found.tasks if t.state not in _ENDED and not t.handler]
                await hold(self.api, context, "run.kill", found.domain, command,
                           f"kill workflow run {request.run_id} ({len(open_tasks)} tasks not ended: "
                           f"{', '.join(open_tasks[:20])})" + self._elsewhere_text(found, open_tasks),
                           [f"workflowrun/{request.run_id}"])
            await self.api.commit(command, context)
            after = self.api.store.get_workflow_run(request.run_id)
            assert after is not None
            return after

        return await self.api.on_leader(_SERVICE + method, request, workflows_pb2.WorkflowRun, context, here)

    def _elsewhere_text(self, found: workflows_pb2.WorkflowRun, tasks: list[str]) -> str:
        """The impact on other workflow runs, for an approval request's description."""
        elsewhere = self.api.store.workflow_impact_elsewhere(found, tasks)
        if not elsewhere:
            return ""
        names = ", ".join(f"{e.run_id}/{e.task.name} ({e.domain})" for e in elsewhere[:10])
        return f"; affects {len(elsewhere)} task(s) of other workflow runs: {names}"

    async def KillWorkflowRun(self, request: workflows_pb2.WorkflowRunActionRequest,
                              context: grpc.aio.ServicerContext) -> workflows_pb2.WorkflowRun:
        return await self._action("kill", request, context, Permission.RUN_KILL)

    async def PauseWorkflowRun(self, request: workflows_pb2.WorkflowRunActionRequest,
                               context: grpc.aio.ServicerContext) -> workflows_pb2.WorkflowRun:
        return await self._action("pause", request, context, Permission.RUN_KILL)

    async def ResumeWorkflowRun(self, request: workflows_pb2.WorkflowRunActionRequest,
                                context: grpc.aio.ServicerContext) -> workflows_pb2.WorkflowRun:
        return await self._action("resume", request, context, Permission.RUN_TRIGGER)

    async def Impact(self, request: workflows_pb2.ImpactRequest,
                     context: grpc.aio.ServicerContext) -> workflows_pb2.ImpactResponse:
        found = self.api.store.get_workflow_run(request.run_id) if len(request.run_id) < 24 else None
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"run_id: no workflow run {request.run_id[:40]!r}")
        await require(context, Permission.RUN_READ, found.domain)
        version = self.api.store.get_workflow(found.workflow_name, found.workflow_version)
        if version is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"version {found.workflow_version} of workflow "
                                                                     f"{found.workflow_name!r} is no longer kept")
        graph = dag.Dag.of(version.spec)
        if request.task not in graph.upstream:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"task: no task {request.task[:64]!r} in workflow {found.workflow_name!r}")
        tasks = {t.name: t for t in found.tasks}
        after = [n for n in dag.descendants(graph, request.task) if n in tasks]
        elsewhere = self.api.store.workflow_impact_elsewhere(found, [request.task, *after])
        return workflows_pb2.ImpactResponse(run_id=found.id, task=request.task, domain=found.domain,
                                            affected=[tasks[n] for n in after], elsewhere=elsewhere)

    async def MarkTask(self, request: workflows_pb2.MarkTaskRequest,
                       context: grpc.aio.ServicerContext) -> workflows_pb2.WorkflowRun:
        await check_key(request.idempotency_key, context)
        if request.outcome not in ("succeeded", "skipped"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "outcome: succeeded or skipped")
        found = self.api.store.get_workflow_run(request.run_id) if len(request.run_id) < 24 else None
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"run_id: no workflow run {request.run_id[:40]!r}")
        await require(context, Permission.RUN_RERUN, found.domain)

        async def here() -> workflows_pb2.WorkflowRun:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           mark_workflow_task=commands_pb2.MarkWorkflowTask(
                                               run_id=request.run_id, task=request.task, outcome=request.outcome))
            version = self.api.store.get_workflow(found.workflow_name, found.workflow_version)
            after = dag.descendants(dag.Dag.of(version.spec), request.task) \
                if version is not None and request.task in {t.name for t in version.spec.tasks} else []
            await hold(self.api, context, "run.rerun", found.domain, command,
                       f"mark task {request.task} of workflow run {request.run_id} {request.outcome} "
                       f"({len(after)} tasks after it decided again: {', '.join(after[:20]) or '-'})"
                       + self._elsewhere_text(found, [request.task, *after]), [f"workflowrun/{request.run_id}"])
            await self.api.commit(command, context)
            after = self.api.store.get_workflow_run(request.run_id)
            assert after is not None
            return after

        return await self.api.on_leader(_SERVICE + "MarkTask", request, workflows_pb2.WorkflowRun, context, here)

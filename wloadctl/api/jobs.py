"""JobService: validate -> (forward to the leader | propose) or read the local state."""

from __future__ import annotations

import asyncio

import grpc

from wloadctl.api.authz import principal, require, visible_domains
from wloadctl.api.context import ApiContext
from wloadctl.api.governance import hold
from wloadctl.model.rules import DEFAULT_DOMAIN, validate_specs
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, commands_pb2, jobs_pb2
from wloadctl.security.permissions import Permission
from wloadctl.state.store import MAX_IDEMPOTENCY_KEY

_SERVICE = "/wloadctl.v1.JobService/"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_MAX_ERRORS_SHOWN = 20


async def check_key(key: str, context: grpc.aio.ServicerContext) -> None:
    if len(key.encode()) > MAX_IDEMPOTENCY_KEY:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"idempotency_key: longer than {MAX_IDEMPOTENCY_KEY} bytes")


async def check_name(name: str, context: grpc.aio.ServicerContext) -> None:
    if not name:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: required")
    if len(name) > 128:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: longer than 128 characters")


class JobServicer(api_pb2_grpc.JobServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def ApplyJobs(self, request: api_pb2.ApplyJobsRequest,
                        context: grpc.aio.ServicerContext) -> api_pb2.ApplyJobsResponse:
        errors = validate_specs(request.jobs)
        if errors:
            shown = "; ".join(str(e) for e in errors[:_MAX_ERRORS_SHOWN])
            more = f" (and {len(errors) - _MAX_ERRORS_SHOWN} more)" if len(errors) > _MAX_ERRORS_SHOWN else ""
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, shown + more)
        await check_key(request.idempotency_key, context)
        for spec in request.jobs:
            # job.write in the job's domain, and in the domain it leaves if it moves
            await require(context, Permission.JOB_WRITE, spec.domain or DEFAULT_DOMAIN)
            current = self.api.store.get_job(spec.name)
            if current is not None and current.spec.domain != (spec.domain or DEFAULT_DOMAIN):
                await require(context, Permission.JOB_WRITE, current.spec.domain)
            if spec.secret_env:
                # Its values reach the job's environment, and so whatever the job does with them:
                # job.write alone must not let one use secrets one may not even see.
                await require(context, Permission.SECRET_READ, spec.domain or DEFAULT_DOMAIN)
        # Answered here rather than after a commit; apply checks again against the state it applies to.
        ref_errors = self.api.store.secret_ref_errors(request.jobs)
        if ref_errors:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                "; ".join(str(e) for e in ref_errors[:_MAX_ERRORS_SHOWN]))

        async def here() -> api_pb2.ApplyJobsResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           apply_jobs=commands_pb2.ApplyJobs(jobs=request.jobs))
            result = await self.api.commit(command, context)
            return api_pb2.ApplyJobsResponse(jobs=result.jobs, raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "ApplyJobs", request, api_pb2.ApplyJobsResponse, context, here)

    async def DeleteJob(self, request: api_pb2.DeleteJobRequest,
                        context: grpc.aio.ServicerContext) -> api_pb2.DeleteJobResponse:
        await check_name(request.name, context)
        await check_key(request.idempotency_key, context)
        current = self.api.store.get_job(request.name)
        domain = current.spec.domain if current is not None else DEFAULT_DOMAIN
        await require(context, Permission.JOB_DELETE, domain)

        async def here() -> api_pb2.DeleteJobResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           delete_job=commands_pb2.DeleteJob(name=request.name))
            if current is not None:
                await hold(self.api, context, "job.delete", domain, command, f"delete job {request.name}",
                           [f"job/{request.name}"])
            result = await self.api.commit(command, context)
            return api_pb2.DeleteJobResponse(job=result.jobs[0] if result.jobs else None,
                                             raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "DeleteJob", request, api_pb2.DeleteJobResponse, context, here)

    async def GetJob(self, request: api_pb2.GetJobRequest,
                     context: grpc.aio.ServicerContext) -> jobs_pb2.JobVersion:
        await check_name(request.name, context)
        job = self.api.store.get_job(request.name, request.version)
        if job is None:
            what = f"version {request.version} of job {request.name!r}" if request.version else \
                f"job {request.name!r}"
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: {what} not found")
        await require(context, Permission.JOB_READ, job.spec.domain)
        return job

    async def ListJobs(self, request: api_pb2.ListJobsRequest,
                       context: grpc.aio.ServicerContext) -> api_pb2.ListJobsResponse:
        size = request.page_size or DEFAULT_PAGE_SIZE
        if size > MAX_PAGE_SIZE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size: at most {MAX_PAGE_SIZE}")
        # Bytes, not characters: with the domain they form an LMDB key (at most 511 bytes).
        if len(request.page_token.encode()) > 256 or "\0" in request.page_token:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_token: not a token this server issued")
        if len(request.domain.encode()) > 128 or "\0" in request.domain:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "domain: not a domain (at most 128 bytes)")
        # Off the event loop, and bounded (store.MAX_SCAN_PER_PAGE): a selector that matches few jobs
        # gives a short or empty page with a next_page_token ("keep going"), never a scan of every job.
        visible = visible_domains(Permission.JOB_READ)
        if request.domain and visible is not None and request.domain not in visible:
            await require(context, Permission.JOB_READ, request.domain)
        page = await asyncio.to_thread(self.api.store.list_jobs, request.domain, dict(request.label_selector),
                                       size, request.page_token)
        # Only what the caller may read; the page may come back shorter ("keep going" still holds).
        jobs = [j for j in page.jobs if visible is None or j.spec.domain in visible]
        return api_pb2.ListJobsResponse(jobs=jobs, next_page_token=page.next_token)

"""JobService: validate -> (forward to the leader | propose) or read the local state."""

from __future__ import annotations

import asyncio
import time

import grpc

from wloadctl.api.authz import principal, require, visible_domains
from wloadctl.api.context import ApiContext
from wloadctl.api.governance import hold
from wloadctl.model.rules import DEFAULT_DOMAIN, validate_specs
from wloadctl.model.workflows import trigger_job
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, commands_pb2, jobs_pb2
from wloadctl.scheduler.calendars import days_between, parse_date
from wloadctl.scheduler.calendars import spec_problems as calendar_problems
from wloadctl.scheduler.preview import fire_times
from wloadctl.security.permissions import Permission
from wloadctl.state.store import JOB_VERSIONS_KEPT, MAX_IDEMPOTENCY_KEY

_SERVICE = "/wloadctl.v1.JobService/"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_MAX_ERRORS_SHOWN = 20
MAX_FIRE_TIMES = 1000
MAX_CALENDAR_SPAN_DAYS = 3660


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
        # Calendars are checked at apply only: `apply -f` commits a file's calendars just before its jobs,
        # and this replica may not have applied them yet (the state's verdict is the same everywhere).

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
        # A deleted job's domain is its tombstone's: a retry of a delete that went through (its
        # answer lost in a leader change) is authorized as the first attempt was, and gets that
        # attempt's answer, not a refusal in another domain (found by the chaos suite's
        # linearizable_jobs: a delete answered PERMISSION_DENIED had deleted the job).
        domain = current.spec.domain if current is not None else \
            (self.api.store.job_domain(request.name) or DEFAULT_DOMAIN)
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
            oldest = self.api.store.oldest_version(request.name) if request.version else 0
            if oldest and request.version < oldest:
                await context.abort(grpc.StatusCode.NOT_FOUND,
                                    f"version: {what} was removed by retention (the newest {JOB_VERSIONS_KEPT} "
                                    f"versions are kept; the oldest now is {oldest})")
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

    async def SuspendJob(self, request: api_pb2.SuspendJobRequest,
                         context: grpc.aio.ServicerContext) -> api_pb2.SuspendJobResponse:
        await check_name(request.name, context)
        await check_key(request.idempotency_key, context)
        current = self._schedulable(request.name)
        if current is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: no job or workflow {request.name!r}")
        await require(context, Permission.JOB_ACTIVATE, current.spec.domain)

        async def here() -> api_pb2.SuspendJobResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           suspend_job=commands_pb2.SuspendJob(name=request.name,
                                                                               suspended=request.suspended))
            result = await self.api.commit(command, context)
            return api_pb2.SuspendJobResponse(job=result.jobs[0] if result.jobs else None,
                                              raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "SuspendJob", request, api_pb2.SuspendJobResponse, context, here)

    def _schedulable(self, name: str) -> jobs_pb2.JobVersion | None:
        """A job, or a workflow's scheduling fields as one (jobs and workflows share names)."""
        job = self.api.store.get_job(name)
        if job is not None:
            return job
        workflow = self.api.store.get_workflow(name)
        return trigger_job(workflow) if workflow is not None and not workflow.deleted else None

    async def NextFireTimes(self, request: api_pb2.NextFireTimesRequest,
                            context: grpc.aio.ServicerContext) -> api_pb2.NextFireTimesResponse:
        await check_name(request.name, context)
        count = request.count or 10
        if count > MAX_FIRE_TIMES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"count: at most {MAX_FIRE_TIMES}")
        if request.from_ms < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "from_ms: must not be negative")
        job = self._schedulable(request.name)
        if job is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: no job or workflow {request.name!r}")
        await require(context, Permission.JOB_READ, job.spec.domain)
        from_ms = request.from_ms or int(time.time() * 1000)
        state = self.api.store.schedule_state(request.name)
        # A whole year of every-second slots is cheap enough, but keep a bound on the work anyway.
        working = self.api.store.working_days() if job.spec.calendars else None
        preview = await asyncio.to_thread(fire_times, job.spec, from_ms, count, working)
        response = api_pb2.NextFireTimesResponse(name=job.spec.name, version=job.version,
                                                 time_zone=job.spec.time_zone or "UTC",
                                                 suspended=job.spec.suspended, times=preview.times,
                                                 skipped=preview.skipped,
                                                 skipped_non_working=preview.skipped_non_working)
        if state is not None:
            response.state.CopyFrom(state)
        return response

    async def ListMisfires(self, request: api_pb2.ListMisfiresRequest,
                           context: grpc.aio.ServicerContext) -> api_pb2.ListMisfiresResponse:
        size = request.page_size or DEFAULT_PAGE_SIZE
        if size > MAX_PAGE_SIZE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size: at most {MAX_PAGE_SIZE}")
        if len(request.page_token) > 24:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_token: not a token this server issued")
        if len(request.job_name) > 128 or "\0" in request.job_name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "job_name: longer than 128 characters")
        visible = visible_domains(Permission.JOB_READ)
        if request.job_name:
            job = self._schedulable(request.job_name)
            await require(context, Permission.JOB_READ, job.spec.domain if job is not None else DEFAULT_DOMAIN)
        records, token = await asyncio.to_thread(self.api.store.list_misfires, request.job_name, size,
                                                 request.page_token)
        if visible is not None:
            domains = {}
            for r in records:
                if r.job_name not in domains:
                    job = self.api.store.get_job(r.job_name)
                    domains[r.job_name] = job.spec.domain if job is not None else DEFAULT_DOMAIN
            records = [r for r in records if domains[r.job_name] in visible]
        return api_pb2.ListMisfiresResponse(misfires=records, next_page_token=token)

    # ---- business calendars (shared by every domain: cluster-wide permissions)

    async def ApplyCalendars(self, request: api_pb2.ApplyCalendarsRequest,
                             context: grpc.aio.ServicerContext) -> api_pb2.ApplyCalendarsResponse:
        await require(context, Permission.CALENDAR_WRITE)
        await check_key(request.idempotency_key, context)
        problems = [f"calendars[{i}].{field}: {reason}" for i, spec in enumerate(request.calendars)
                    for field, reason in calendar_problems(spec)]
        if not request.calendars:
            problems.append("calendars: at least one is required")
        if problems:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems[:_MAX_ERRORS_SHOWN]))

        async def here() -> api_pb2.ApplyCalendarsResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           apply_calendars=commands_pb2.ApplyCalendars(calendars=request.calendars))
            result = await self.api.commit(command, context)
            return api_pb2.ApplyCalendarsResponse(calendars=result.jobs, raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "ApplyCalendars", request, api_pb2.ApplyCalendarsResponse,
                                        context, here)

    async def DeleteCalendar(self, request: api_pb2.DeleteCalendarRequest,
                             context: grpc.aio.ServicerContext) -> api_pb2.DeleteCalendarResponse:
        await require(context, Permission.CALENDAR_WRITE)
        await check_name(request.name, context)
        await check_key(request.idempotency_key, context)

        async def here() -> api_pb2.DeleteCalendarResponse:
            command = commands_pb2.Command(idempotency_key=request.idempotency_key, actor=principal().actor(),
                                           delete_calendar=commands_pb2.DeleteCalendar(name=request.name))
            result = await self.api.commit(command, context)
            return api_pb2.DeleteCalendarResponse(calendar=result.jobs[0] if result.jobs else None,
                                                  raft_index=result.raft_index)

        return await self.api.on_leader(_SERVICE + "DeleteCalendar", request, api_pb2.DeleteCalendarResponse,
                                        context, here)

    async def GetCalendar(self, request: api_pb2.GetCalendarRequest,
                          context: grpc.aio.ServicerContext) -> jobs_pb2.CalendarVersion:
        await require(context, Permission.CALENDAR_READ)
        await check_name(request.name, context)
        calendar = self.api.store.get_calendar(request.name, request.version)
        if calendar is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: no calendar {request.name!r}")
        return calendar

    async def ListCalendars(self, request: api_pb2.ListCalendarsRequest,
                            context: grpc.aio.ServicerContext) -> api_pb2.ListCalendarsResponse:
        await require(context, Permission.CALENDAR_READ)
        return api_pb2.ListCalendarsResponse(calendars=self.api.store.list_calendars())

    async def CalendarDays(self, request: api_pb2.CalendarDaysRequest,
                           context: grpc.aio.ServicerContext) -> api_pb2.CalendarDaysResponse:
        await require(context, Permission.CALENDAR_READ)
        await check_name(request.name, context)
        first, last = parse_date(request.from_date), parse_date(request.to_date)
        if first is None or last is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "from_date, to_date: dates YYYY-MM-DD required")
        if not 0 <= (last - first).days <= MAX_CALENDAR_SPAN_DAYS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"to_date: from from_date to at most {MAX_CALENDAR_SPAN_DAYS} days later")
        calendar = self.api.store.get_calendar(request.name)
        if calendar is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: no calendar {request.name!r}")
        working, non_working = days_between(self.api.store.working_days(), request.name, first, last)
        return api_pb2.CalendarDaysResponse(name=request.name, version=calendar.version, working_days=working,
                                            non_working_days=non_working)

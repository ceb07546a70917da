"""Runs: `run`, `get runs`, `get run`, `describe run`, `logs`, `kill`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import grpc

from wloadctl.cli import output, render, watching, workflow_render
from wloadctl.cli.commands.workflows import kill_workflow_run, run_workflow
from wloadctl.cli.context import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    answer,
    emit,
    emit_bytes,
    emit_data,
    error,
    listing,
    page_size,
)
from wloadctl.cli.parser import RUN_STATE_NAMES, Verbs, int_at_least, param, positive_float, run_state, time_ms
from wloadctl.client import FINAL_RUN_STATES, Client, ClientError
from wloadctl.proto.v1 import api_pb2, runs_pb2, watch_pb2, workflows_pb2

DEFAULT_WAIT_TIMEOUT = 3600.0
WATCH_SNAPSHOT_RUNS = 1000  # `get runs -w` without --limit

RS = runs_pb2.RunState
WE = watch_pb2.WatchEvent
WF = workflows_pb2.WorkflowRunState


def register(verbs: Verbs) -> None:
    get_runs = verbs.add_to(
        "get", "runs", "list runs, newest first",
        description="List runs, newest first, optionally only those of one job, in one state, of one business\n"
                    "domain, on one agent or created in a time range (--since/--until; filtered by the replica).",
        epilog="examples:\n  wloadctl get runs --job nightly-backup --limit 10\n"
               "  wloadctl get runs --domain finance --since 24h --state failed\n"
               "  wloadctl get runs --state failed -o json | jq -r '.runs[].run_id'\n"
               "  wloadctl get runs -w                      # then every change, as it happens\n"
               "  wloadctl get runs --job etl -w -o json    # one WatchEvent per line\n\n"
               f"states: {', '.join(n.lower() for n in RUN_STATE_NAMES)}",
        handler=cmd_get_runs,
    )
    get_runs.add_argument("--job", default="", metavar="J", help="only runs of this job")
    get_runs.add_argument("--state", type=run_state, default=0, metavar="S",
                          help="only runs in this state (case-insensitive, e.g. running, failed)")
    get_runs.add_argument("--domain", default="", metavar="D", help="only runs of this business domain")
    get_runs.add_argument("--agent", default="", metavar="A",
                          help="only runs whose current (or last) attempt is on this agent")
    get_runs.add_argument("--since", type=time_ms, default=0, metavar="T",
                          help="only runs created at or after T (2026-12-01, 2026-12-01T08:00:00Z, or 24h, 7d ago)")
    get_runs.add_argument("--until", type=time_ms, default=0, metavar="T", help="only runs created before T")
    get_runs.add_argument("--limit", type=int_at_least(1), default=None, metavar="N",
                          help="show at most N runs (default: all)")
    get_runs.add_argument("--workflow", default="", metavar="W",
                          help="the runs of this workflow (newest first, at most 1000), instead of job runs")
    get_runs.add_argument("-w", "--watch", action="store_true",
                          help="after the listing (the newest --limit runs, default 1000), print every change as "
                               "it happens until Ctrl-C (a stream, not polling)")
    get_runs.set_defaults(parser=get_runs)
    get_run = verbs.add_to(
        "get", "run", "show one run",
        description="Show one run as a table row (the full document with -o json|yaml).",
        handler=cmd_get_run,
    )
    get_run.add_argument("run_id", metavar="ID", help="run id (r12), or workflow run id (w3)")

    describe_run = verbs.add_to(
        "describe", "run", "show one run in detail",
        description="Show a run in a readable form: its job, state, attempt, agent, times, exit code,\n"
                    f"every state transition with its cause, and the last {render.DESCRIBE_OUTPUT_LINES} lines "
                    "of output\n"
                    "kept in the cluster state. With -o json|yaml this prints the same document as `get run`.",
        handler=cmd_describe_run,
    )
    describe_run.add_argument("run_id", metavar="ID",
                              help="run id (r12), or workflow run id (w3): its tasks, their runs and what they wait "
                                   "for")
    describe_run.add_argument("-w", "--watch", action="store_true",
                              help="print it again whenever it changes, until it ends (Ctrl-C stops)")

    run = verbs.add(
        "run", "start a run of a job or a workflow",
        description="Start a run of the latest version of a job (or of a workflow of that name: jobs and\n"
                    "workflows share names). Without --wait this prints the new\n"
                    "run's id and returns at once. With --wait it then waits for the run's final state and\n"
                    "exits 0 only if the run SUCCEEDED (1 for FAILED, TIMED_OUT, KILLED, LOST, SKIPPED,\n"
                    "or when --wait-timeout runs out; the run itself keeps going).",
        epilog="examples:\n  wloadctl run nightly-backup\n"
               "  wloadctl run report --param day=2024-05-01 --param mode=full --wait --wait-timeout 600\n"
               "  wloadctl run report --idempotency-key report-2024-05-01   # started at most once",
        handler=cmd_run,
    )
    run.add_argument("job", metavar="NAME", help="job or workflow name")
    run.add_argument("--business-date", default="", metavar="YYYY-MM-DD",
                     help="a workflow run's business date (default: today, UTC)")
    run.add_argument("--param", action="append", type=param, default=[], metavar="KEY=VALUE",
                     help="a parameter of this run; repeatable (a later KEY replaces an earlier one)")
    run.add_argument("--idempotency-key", default="", metavar="KEY",
                     help="retrying with the same key starts at most one run (default: random)")
    run.add_argument("--wait", action="store_true", help="wait for the final state; exit 0 only if it SUCCEEDED")
    run.add_argument("--wait-timeout", type=positive_float, default=None, metavar="SECONDS",
                     help=f"with --wait: give up waiting after this long (default {DEFAULT_WAIT_TIMEOUT:g})")
    run.set_defaults(parser=run)

    logs = verbs.add(
        "logs", "print the output of a run",
        description="Print the output (stdout and stderr interleaved) of a run's attempt as raw bytes.\n"
                    "The full log is read from the agent that ran the attempt. When that agent is\n"
                    "unreachable, only the capped tail kept in the cluster state is available: if it holds\n"
                    "the whole output a note on stderr says so (exit 0), else what is missing is an error\n"
                    "(exit 1). With -o json|yaml the output is one document (data base64-encoded).",
        epilog="examples:\n  wloadctl logs r12\n"
               "  wloadctl logs r12 -f              # until the attempt ends (Ctrl-C stops)\n"
               "  wloadctl logs r12 --attempt 1     # an earlier attempt\n"
               "  wloadctl logs w3 --task load      # a task of a workflow run (its latest run)\n"
               "  wloadctl logs w3 --task load --task-attempt 1   # the run of a retried task's first attempt",
        handler=cmd_logs,
    )
    logs.add_argument("run_id", metavar="RUN", help="run id (e.g. r12), or a workflow run id (w3) with --task")
    logs.add_argument("--task", default="", metavar="T", help="with a workflow run id: the task whose run to print")
    logs.add_argument("--task-attempt", type=int_at_least(1), default=0, metavar="N",
                      help="with --task: the run of that attempt of the task (default: its latest)")
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing new output as the run's changes arrive (a watch) until the attempt ends")
    logs.add_argument("--attempt", type=int_at_least(1), default=0, metavar="N",
                      help="which attempt (default: the run's current one)")

    kill = verbs.add(
        "kill", "kill a run",
        description="Request that a run be killed. A run waiting for an agent ends KILLED at once; a\n"
                    "running one is killed by its agent, which then reports the final state.",
        handler=cmd_kill,
    )
    kill.add_argument("run_id", metavar="RUN",
                      help="run id (r12), or workflow run id (w3: its running tasks killed, the others skipped)")
    kill.add_argument("--idempotency-key", default="", metavar="KEY",
                      help="retrying with the same key requests the kill at most once (default: random)")
    kill.add_argument("--dry-run", action="store_true",
                      help="a workflow run: print what the kill would kill and skip, here and in other workflow "
                           "runs waiting on it; change nothing")


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    if args.wait_timeout is not None and not args.wait:
        args.parser.error("--wait-timeout needs --wait")
    client = ctx.client()
    if args.business_date:
        return run_workflow(args, ctx, client)
    try:
        run = client.trigger_run(args.job, dict(args.param), idempotency_key=args.idempotency_key)
    except ClientError as e:
        if e.code != grpc.StatusCode.NOT_FOUND or "job_name:" not in e.message:
            raise
        if not _is_workflow(client, args.job):
            error(f"no job or workflow named {args.job!r}")
            return EXIT_FAILURE
        return run_workflow(args, ctx, client)
    started = f"run/{run.run_id} {render.state_name(run.state)} (job {run.job_name or args.job})"
    if not args.wait:
        return answer(ctx, run, started)
    if ctx.output == "table":
        emit(started + "\n")
        sys.stdout.flush()  # the run id, while waiting
    timeout = args.wait_timeout if args.wait_timeout is not None else DEFAULT_WAIT_TIMEOUT
    try:
        final = client.wait_run(run.run_id, timeout)
    except TimeoutError as timed_out:
        error(f"{timed_out}; the run goes on (see `wloadctl get run {run.run_id}`)")
        return EXIT_FAILURE
    answer(ctx, final, f"run/{final.run_id} {render.state_name(final.state)} (exit {final.exit_code})")
    if final.state == RS.SUCCEEDED:
        return EXIT_OK
    cause = final.error or (final.transitions[-1].cause if final.transitions else "")
    error(f"run {final.run_id} ended {render.enum_name(RS, final.state)}" + (f": {cause}" if cause else ""))
    return EXIT_FAILURE


def _is_workflow(client: Client, name: str) -> bool:
    try:
        client.get_workflow(name)
        return True
    except ClientError as e:
        if e.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED):  # (a server without workflows)
            return False
        raise


def cmd_get_runs(args: argparse.Namespace, ctx: Context) -> int:
    filtered = args.domain or args.agent or args.since or args.until
    if args.workflow and (args.job or args.state or filtered):
        args.parser.error("--workflow lists workflow runs: it does not combine with --job, --state, --domain, "
                          "--agent, --since or --until")
    if args.watch and filtered:
        args.parser.error("-w follows --job and --state only (--domain, --agent, --since and --until list without it)")
    if args.watch:
        client = ctx.client()
        if args.workflow:
            events = client.watch_workflow_runs(workflow_name=args.workflow, relist=True,
                                                snapshot_limit=min(args.limit or 100, 1000))
            return watching.follow(ctx, events, workflow_render.workflow_runs_table, lambda e: e.workflow_run)
        events = client.watch_runs(job_name=args.job, states=[args.state] if args.state else [],
                                   snapshot_limit=min(args.limit or WATCH_SNAPSHOT_RUNS, 10_000), relist=True)
        return watching.follow(ctx, events, render.runs_table, lambda e: e.run)
    if args.workflow:
        found = ctx.client().list_workflow_runs(args.workflow, limit=min(args.limit or 1000, 1000)).runs
        return listing(ctx, iter(found), 0, "runs", workflow_render.workflow_runs_table)
    runs = ctx.client().iter_runs(args.job, args.state, page_size=page_size(args.limit), domain=args.domain,
                                  agent_id=args.agent, created_from_ms=args.since, created_before_ms=args.until)
    return listing(ctx, runs, args.limit, "runs", render.runs_table)


def cmd_get_run(args: argparse.Namespace, ctx: Context) -> int:
    if args.run_id.startswith("w"):
        wrun = ctx.client().get_workflow_run(args.run_id)
        if ctx.output != "table":
            emit_data(ctx, output.message_to_dict(wrun))
        else:
            emit(workflow_render.workflow_runs_table([wrun]))
        return EXIT_OK
    run = ctx.client().get_run(args.run_id)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(run))
        return EXIT_OK
    emit(render.runs_table([run]))
    return EXIT_OK


def cmd_describe_run(args: argparse.Namespace, ctx: Context) -> int:
    if args.watch:
        return _describe_watch(args, ctx)
    if args.run_id.startswith("w"):
        client = ctx.client()
        wrun = client.get_workflow_run(args.run_id)
        if ctx.output != "table":
            emit_data(ctx, output.message_to_dict(wrun))
            return EXIT_OK
        spec = client.get_workflow(wrun.workflow_name, wrun.workflow_version).spec
        runs = {t.run_id: client.get_run(t.run_id) for t in wrun.tasks if t.run_id}
        emit(workflow_render.describe_workflow_run(wrun, spec, runs))
        return EXIT_OK
    run = ctx.client().get_run(args.run_id)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(run))
        return EXIT_OK
    emit(render.describe_run(run))
    return EXIT_OK


def _describe_watch(args: argparse.Namespace, ctx: Context) -> int:
    """`describe run ID -w`: the description again on each change of the run, until it ends."""
    client = ctx.client()
    workflow = args.run_id.startswith("w")
    events = client.watch_workflow_runs(run_id=args.run_id, relist=True) if workflow \
        else client.watch_runs(run_id=args.run_id, relist=True)
    seen = False
    for event in events:
        if event.type == WE.SYNCED and not seen:
            error(f"no {'workflow ' if workflow else ''}run {args.run_id!r}")
            return EXIT_FAILURE
        if event.type == WE.DELETE:
            error(f"{args.run_id} was removed (retention)")
            return EXIT_FAILURE
        if not event.WhichOneof("object"):
            continue
        seen = True
        if workflow:
            wrun = event.workflow_run
            if ctx.output != "table":
                emit(watching.event_line(ctx, event))
            else:
                spec = client.get_workflow(wrun.workflow_name, wrun.workflow_version).spec
                runs = {t.run_id: client.get_run(t.run_id) for t in wrun.tasks if t.run_id}
                emit(f"# index {event.index}\n")
                emit(workflow_render.describe_workflow_run(wrun, spec, runs) + "\n")
            sys.stdout.flush()
            if wrun.state != WF.WF_RUNNING:
                return EXIT_OK
            continue
        run = event.run
        if ctx.output != "table":
            emit(watching.event_line(ctx, event))
        else:
            emit(f"# {output.format_ms(run.updated_ms)} (index {event.index})\n")
            emit(render.describe_run(run) + "\n")
        sys.stdout.flush()
        if run.state in FINAL_RUN_STATES:
            return EXIT_OK
    return EXIT_OK


def _task_run_id(args: argparse.Namespace, client: Client) -> str | None:
    """The run of ``--task`` (and ``--task-attempt``) of workflow run ``args.run_id``; None after an error."""
    wrun = client.get_workflow_run(args.run_id)
    task = next((t for t in wrun.tasks if t.name == args.task), None)
    if task is None:
        error(f"workflow run {wrun.id} has no task {args.task!r} (it has: {', '.join(t.name for t in wrun.tasks)})")
        return None
    runs = [*task.previous_run_ids, task.run_id] if task.run_id else list(task.previous_run_ids)
    if task.child_run_id:
        error(f"task {args.task} runs workflow run {task.child_run_id}: `wloadctl describe run {task.child_run_id}`")
        return None
    if not runs:
        error(f"task {args.task} of {wrun.id} has not run ({workflow_render.task_state(task.state)})")
        return None
    if args.task_attempt > len(runs):
        error(f"task {args.task} of {wrun.id} has {len(runs)} attempt(s)")
        return None
    return runs[args.task_attempt - 1] if args.task_attempt else runs[-1]


def cmd_logs(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    if args.run_id.startswith("w") or args.task:
        if not args.task or not args.run_id.startswith("w"):
            error("--task goes with a workflow run id (wloadctl logs w3 --task load)")
            return EXIT_USAGE
        run_id = _task_run_id(args, client)
        if run_id is None:
            return EXIT_FAILURE
        args.run_id = run_id
    elif args.task_attempt:
        error("--task-attempt goes with --task")
        return EXIT_USAGE
    raw = ctx.output == "table"
    collected: list[bytes] = []
    offset = 0
    noted = False
    changes: Iterator[watch_pb2.WatchEvent] | None = None  # -f: the run's changes say when to read again
    while True:
        page = client.get_run_logs(args.run_id, args.attempt, offset)
        if page.source == "state" and not noted and not page.missing:  # else the error at the end says more
            noted = True
            print(f"note: the agent of run {args.run_id} is unreachable: only the capped tail of its output "
                  "kept in the cluster state is available", file=sys.stderr)
        if page.data:
            if raw:
                emit_bytes(page.data)
            else:
                collected.append(page.data)
        next_offset = page.next_offset or offset + len(page.data)
        progressed = bool(page.data) and next_offset > offset
        offset = max(offset, next_offset)
        if page.complete:
            break
        if progressed:
            continue  # more may be there already
        # No new data: without -f that is the end; with -f so is a finished run whose agent is gone.
        if not args.follow or (page.source == "state" and page.state in FINAL_RUN_STATES):
            break
        if changes is None:
            changes = client.watch_runs(run_id=args.run_id, from_index=max(1, client.last_index), relist=True)
        next(changes, None)  # new output, a new state, or a bookmark: read again
    if not raw:
        document = api_pb2.GetRunLogsResponse(data=b"".join(collected), next_offset=offset, complete=page.complete,
                                              source=page.source, state=page.state, agent_id=page.agent_id,
                                              missing=page.missing)
        emit_data(ctx, output.message_to_dict(document))
    if page.source == "state" and page.missing:
        agent = f" ({page.agent_id})" if page.agent_id else ""
        error(f"the agent of run {args.run_id}{agent} is unreachable and the output printed is incomplete: "
              f"{page.missing}")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_kill(args: argparse.Namespace, ctx: Context) -> int:
    if args.run_id.startswith("w"):
        return kill_workflow_run(args, ctx)
    if args.dry_run:
        error("--dry-run is for workflow runs (w3); a run's kill affects that run alone")
        return EXIT_USAGE
    run = ctx.client().kill_run(args.run_id, idempotency_key=args.idempotency_key)
    return answer(ctx, run, f"run/{run.run_id or args.run_id} kill requested (state {render.state_name(run.state)})")

"""Workflows: `get workflows`, `get workflow`, `delete workflow` (apply, run, get runs and describe
run cover workflows too: see commands/jobs.py and commands/runs.py)."""

from __future__ import annotations

import argparse
import time

from wloadctl.cli import output, workflow_render
from wloadctl.cli.context import EXIT_FAILURE, EXIT_OK, Context, answer, emit, emit_data, error, listing
from wloadctl.cli.parser import Verbs
from wloadctl.client import Client
from wloadctl.proto.v1 import workflows_pb2

WF = workflows_pb2.WorkflowRunState


def register(verbs: Verbs) -> None:
    get_all = verbs.add_to("get", "workflows", "list workflows",
                           description="List the workflows (their latest versions) of the domains you may read.",
                           handler=cmd_get_workflows)
    get_all.add_argument("--domain", default="", metavar="D", help="only this domain's")
    get_one = verbs.add_to("get", "workflow", "show one workflow",
                           description="Show one workflow as a table row; -o json|yaml prints its WorkflowVersion, "
                                       "--export its document (to apply elsewhere).",
                           handler=cmd_get_workflow)
    get_one.add_argument("name", metavar="NAME", help="workflow name")
    get_one.add_argument("--version", type=int, default=0, metavar="N", help="an earlier version")
    get_one.add_argument("--export", action="store_true", help="print the kind: Workflow document")
    delete = verbs.add_to("delete", "workflow", "delete a workflow",
                          description="Delete a workflow. Runs under way go on with the version they started with.",
                          handler=cmd_delete_workflow)
    delete.add_argument("name", metavar="NAME", help="workflow name")
    delete.add_argument("--idempotency-key", default="", metavar="KEY",
                        help="retrying with the same key deletes at most once (default: random)")
    rerun = verbs.add(
        "rerun", "run tasks of an ended workflow run again",
        description="Run tasks of an ended workflow run again, in the same run: a task and everything after it\n"
                    "(--downstream, the default), the task alone (--only), or every task (--all). The other tasks\n"
                    "keep their outcomes and count for the rules of those that run again. --dry-run prints\n"
                    "which tasks it would run again and changes nothing.",
        epilog="examples:\n  wloadctl rerun w3 --task load --dry-run\n  wloadctl rerun w3 --task load\n"
               "  wloadctl rerun w3 --task report --only\n  wloadctl rerun w3 --all",
        handler=cmd_rerun)
    rerun.add_argument("run_id", metavar="RUN", help="workflow run id (w3)")
    rerun.add_argument("--task", default="", metavar="T", help="the task to run again")
    how = rerun.add_mutually_exclusive_group()
    how.add_argument("--downstream", action="store_true", help="the task and everything after it (default)")
    how.add_argument("--only", action="store_true", help="the task alone")
    how.add_argument("--all", action="store_true", help="every task of the run")
    rerun.add_argument("--dry-run", action="store_true", help="say which tasks it would run again; change nothing")
    rerun.add_argument("--idempotency-key", default="", metavar="KEY",
                       help="retrying with the same key reruns at most once (default: random)")
    rerun.set_defaults(parser=rerun)
    mark = verbs.add("mark", "give a task of a workflow run an outcome without running it",
                     description="Mark a task of a workflow run succeeded or skipped without running it. A task that\n"
                                 "waits ends so at once and the run goes on; a task that ended (in a run that ended)\n"
                                 "takes the outcome, and the tasks after it are decided again from it.",
                     epilog="examples:\n  wloadctl mark w3 load succeeded\n  wloadctl mark w3 report skipped",
                     handler=cmd_mark)
    mark.add_argument("run_id", metavar="RUN", help="workflow run id (w3)")
    mark.add_argument("task", metavar="TASK", help="task name")
    mark.add_argument("outcome", choices=("succeeded", "skipped"), help="the outcome to give it")
    mark.add_argument("--idempotency-key", default="", metavar="KEY",
                      help="retrying with the same key marks at most once (default: random)")
    mark.add_argument("--dry-run", action="store_true",
                      help="print the tasks decided again from it (here and in other workflow runs); change nothing")
    impact = verbs.add("impact", "the tasks after a task of a workflow run, transitively",
                       description="List the tasks that come after TASK in a workflow run, transitively, with their\n"
                                   "state: what waits on it, or what a rerun of it would run again.",
                       epilog="example:\n  wloadctl impact w3 load", handler=cmd_impact)
    impact.add_argument("run_id", metavar="RUN", help="workflow run id (w3)")
    impact.add_argument("task", metavar="TASK", help="task name")
    for verb, handler, text in (("pause", cmd_pause, "stop a workflow run from starting tasks (running ones finish)"),
                                ("resume", cmd_resume, "let a paused workflow run start tasks again")):
        action = verbs.add(verb, text, handler=handler,
                           epilog=f"example:\n  wloadctl {verb} w3\n\n(`wloadctl kill w3` kills a workflow run)")
        action.add_argument("run_id", metavar="RUN", help="workflow run id (w3)")
        action.add_argument("--idempotency-key", default="", metavar="KEY",
                            help="retrying with the same key acts at most once (default: random)")


def cmd_rerun(args: argparse.Namespace, ctx: Context) -> int:
    mode = "only" if args.only else "all" if args.all else "downstream"
    if mode != "all" and not args.task:
        args.parser.error("--task is required (or --all)")
    if mode == "all" and args.task:
        args.parser.error("--all reruns every task: leave out --task")
    response = ctx.client().rerun_workflow(args.run_id, args.task, mode, dry_run=args.dry_run,
                                           idempotency_key=args.idempotency_key)
    if args.dry_run:
        return answer(ctx, response, f"would run again ({mode}): {', '.join(response.tasks)}")
    state = workflow_render.run_state(response.run.state)
    return answer(ctx, response, f"workflowrun/{args.run_id} {state}: running again {', '.join(response.tasks)}")


def cmd_pause(args: argparse.Namespace, ctx: Context) -> int:
    wrun = ctx.client().workflow_run_action("pause", args.run_id, idempotency_key=args.idempotency_key)
    return answer(ctx, wrun, f"workflowrun/{wrun.id} paused: no task starts until `wloadctl resume {wrun.id}`")


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    wrun = ctx.client().workflow_run_action("resume", args.run_id, idempotency_key=args.idempotency_key)
    return answer(ctx, wrun, f"workflowrun/{wrun.id} resumed")


def kill_workflow_run(args: argparse.Namespace, ctx: Context) -> int:
    if getattr(args, "dry_run", False):
        return _kill_preview(args, ctx)
    wrun = ctx.client().workflow_run_action("kill", args.run_id, idempotency_key=args.idempotency_key)
    return answer(ctx, wrun, f"workflowrun/{wrun.id} {workflow_render.run_state(wrun.state)}: running tasks are "
                             "being killed, the others skipped")


def cmd_impact(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().impact(args.run_id, args.task)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    if not response.affected and not response.elsewhere:
        emit(f"nothing comes after {response.task} in {response.run_id}\n")
        return EXIT_OK
    emit(f"after {response.task} in {response.run_id} (domain {response.domain}), "
         f"{len(response.affected)} task(s):\n")
    emit(output.render_table(("TASK", "STATE", "RUN"), [(t.name, workflow_render.task_state(t.state), t.run_id or "-")
                                                        for t in response.affected]))
    _print_elsewhere(list(response.elsewhere))
    return EXIT_OK


def _kill_preview(args: argparse.Namespace, ctx: Context) -> int:
    """What `kill wN` would do: its running tasks killed, the waiting ones skipped, and the tasks of
    other workflow runs held on them."""
    client = ctx.client()
    wrun = client.get_workflow_run(args.run_id)
    ended = (workflows_pb2.TASK_SUCCEEDED, workflows_pb2.TASK_FAILED, workflows_pb2.TASK_SKIPPED)
    open_tasks = [t for t in wrun.tasks if t.state not in ended]
    elsewhere: list[workflows_pb2.ImpactedTask] = []
    seen: set[tuple[str, str]] = set()
    for t in open_tasks:
        for e in client.impact(wrun.id, t.name).elsewhere if not t.handler else []:
            if (e.run_id, e.task.name) not in seen:
                seen.add((e.run_id, e.task.name))
                elsewhere.append(e)
    response = workflows_pb2.ImpactResponse(run_id=wrun.id, domain=wrun.domain, affected=open_tasks,
                                            elsewhere=elsewhere)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    if wrun.state != WF.WF_RUNNING:
        emit(f"workflow run {wrun.id} is {workflow_render.run_state(wrun.state)}: a kill would change nothing\n")
        return EXIT_OK
    emit(f"kill {wrun.id} (domain {wrun.domain}) would end {len(open_tasks)} task(s) (dry run: nothing changed):\n")
    emit(output.render_table(("TASK", "STATE", "WOULD BE"), [
        (t.name, workflow_render.task_state(t.state), "killed" if t.state == workflows_pb2.TASK_STARTED else
         "failed" if t.state == workflows_pb2.TASK_RETRYING else "skipped") for t in open_tasks]))
    _print_elsewhere(elsewhere)
    return EXIT_OK


def _print_elsewhere(elsewhere: list[workflows_pb2.ImpactedTask]) -> None:
    if elsewhere:
        emit(f"\nwaiting on them in other workflow runs, {len(elsewhere)} task(s):\n")
        emit(output.render_table(("WORKFLOW RUN", "WORKFLOW", "DOMAIN", "TASK", "STATE"),
                                 [(e.run_id, e.workflow, e.domain, e.task.name,
                                   workflow_render.task_state(e.task.state)) for e in elsewhere]))


def cmd_mark(args: argparse.Namespace, ctx: Context) -> int:
    if args.dry_run:
        response = ctx.client().impact(args.run_id, args.task)
        if ctx.output != "table":
            emit_data(ctx, output.message_to_dict(response))
            return EXIT_OK
        emit(f"marking {args.task} {args.outcome} in {response.run_id} decides again {len(response.affected)} "
             "task(s) after it (dry run: nothing changed):\n")
        if response.affected:
            emit(output.render_table(("TASK", "STATE", "RUN"), [
                (t.name, workflow_render.task_state(t.state), t.run_id or "-") for t in response.affected]))
        _print_elsewhere(list(response.elsewhere))
        return EXIT_OK
    wrun = ctx.client().mark_task(args.run_id, args.task, args.outcome, idempotency_key=args.idempotency_key)
    return answer(ctx, wrun, f"workflowrun/{wrun.id} {workflow_render.run_state(wrun.state)}: task {args.task} "
                             f"marked {args.outcome}")


def cmd_get_workflows(args: argparse.Namespace, ctx: Context) -> int:
    found = ctx.client().list_workflows(args.domain).workflows
    return listing(ctx, iter(found), 0, "workflows", workflow_render.workflows_table)


def cmd_get_workflow(args: argparse.Namespace, ctx: Context) -> int:
    version = ctx.client().get_workflow(args.name, args.version)
    if args.export:
        from wloadctl.model.documents import API_VERSION
        from wloadctl.model.workflow_documents import workflow_to_dict

        emit(output.dump(workflow_to_dict(version.spec, API_VERSION), "json" if ctx.output == "json" else "yaml"))
        return EXIT_OK
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(version))
        return EXIT_OK
    emit(workflow_render.workflows_table([version]))
    return EXIT_OK


def cmd_delete_workflow(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().delete_workflow(args.name, idempotency_key=args.idempotency_key)
    return answer(ctx, response, f"workflow/{args.name} deleted (version {response.version})")


def run_workflow(args: argparse.Namespace, ctx: Context, client: Client) -> int:
    """`run NAME` for a workflow: start a run, and with --wait follow it to its end."""
    wrun = client.run_workflow(args.job, dict(args.param), business_date=args.business_date,
                               idempotency_key=args.idempotency_key)
    started = f"workflowrun/{wrun.id} {workflow_render.run_state(wrun.state)} (workflow {wrun.workflow_name}, " \
              f"business date {wrun.business_date})"
    if not args.wait:
        return answer(ctx, wrun, started)
    if ctx.output == "table":
        emit(started + "\n")
    deadline = time.monotonic() + (args.wait_timeout or 3600.0)
    try:
        for event in client.watch_workflow_runs(run_id=wrun.id, deadline=deadline, relist=True):
            if event.HasField("workflow_run"):
                wrun = event.workflow_run
                if wrun.state != WF.WF_RUNNING:
                    break
    except TimeoutError:
        pass
    if wrun.state == WF.WF_RUNNING:
        error(f"workflow run {wrun.id} has not ended in time; it goes on (see `wloadctl describe run {wrun.id}`)")
        return EXIT_FAILURE
    answer(ctx, wrun, f"workflowrun/{wrun.id} {workflow_render.run_state(wrun.state)}")
    if wrun.state == WF.WF_SUCCEEDED:
        return EXIT_OK
    failed = [t.name for t in wrun.tasks if t.state == workflows_pb2.TASK_FAILED]
    error(f"workflow run {wrun.id} ended FAILED (failed: {', '.join(failed) or '-'})")
    return EXIT_FAILURE

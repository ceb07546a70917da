"""Job definitions: `apply`, `get jobs`, `get job`, `describe job`, `delete job`."""

from __future__ import annotations

import argparse

from wloadctl.cli import output, render
from wloadctl.cli.context import EXIT_OK, Context, emit, emit_data, listing, page_size
from wloadctl.cli.parser import Verbs, int_at_least, label_selector


def register(verbs: Verbs) -> None:
    apply = verbs.add(
        "apply", "create or update jobs from YAML files",
        description="Create or update the jobs defined in YAML files. All documents are validated\n"
                    "first; if any is invalid, every error is reported and nothing is applied.\n"
                    "The jobs of one apply are committed atomically.",
        epilog="examples:\n  wloadctl apply -f backup.yaml\n  wloadctl apply -f jobs/ -f extra.yaml\n"
               "  cat job.yaml | wloadctl apply -f -\n\n"
               "output: one line per job: job/NAME created|configured|unchanged (version N)",
        handler=cmd_apply,
    )
    apply.add_argument("-f", "--filename", action="append", dest="file", required=True,
                       metavar="FILE|DIR|-",
                       help="a YAML file, a directory of *.yaml/*.yml files, or - for stdin; repeatable")
    apply.add_argument("--idempotency-key", default="", metavar="KEY",
                       help="retrying with the same key applies the change at most once (default: random)")

    get_jobs = verbs.add_to(
        "get", "jobs", "list jobs",
        description="List the latest version of every job, optionally filtered by domain and labels.",
        epilog="examples:\n  wloadctl get jobs\n  wloadctl get jobs --domain finance -l team=ops,tier=1\n"
               "  wloadctl get jobs -o json | jq -r '.jobs[].spec.name'",
        handler=cmd_get_jobs,
    )
    get_jobs.add_argument("--domain", default="", metavar="D", help="only jobs of this domain")
    get_jobs.add_argument("-l", "--selector", action="append", type=label_selector, default=[],
                          metavar="KEY=VALUE",
                          help="only jobs with this label; repeat or comma-separate, all must match")
    get_jobs.add_argument("--limit", type=int_at_least(1), default=None, metavar="N",
                          help="show at most N jobs (default: all)")
    get_job = verbs.add_to(
        "get", "job", "show one job",
        description="Show one job (the latest version unless --version is given).",
        epilog="examples:\n  wloadctl get job nightly-backup -o yaml\n"
               "  wloadctl get job nightly-backup --export > backup.yaml   # re-appliable",
        handler=cmd_get_job,
    )
    get_job.add_argument("name", metavar="NAME", help="job name")
    get_job.add_argument("--version", type=int_at_least(1), default=0, metavar="N",
                         help="a specific stored version (default: the latest)")
    get_job.add_argument("--export", action="store_true",
                         help="print the job as a YAML document for `wloadctl apply -f` (json with -o json)")

    describe_job = verbs.add_to(
        "describe", "job", "show one job in detail",
        description="Show every field of a job in a readable form. With -o json|yaml this prints\n"
                    "the same document as `get job`.",
        handler=cmd_describe_job,
    )
    describe_job.add_argument("name", metavar="NAME", help="job name")
    describe_job.add_argument("--version", type=int_at_least(1), default=0, metavar="N",
                              help="a specific stored version (default: the latest)")

    delete_job = verbs.add_to(
        "delete", "job", "delete a job",
        description="Delete a job. Its history is kept as a tombstone version.",
        handler=cmd_delete_job,
    )
    delete_job.add_argument("name", metavar="NAME", help="job name")
    delete_job.add_argument("--idempotency-key", default="", metavar="KEY",
                            help="retrying with the same key deletes at most once (default: random)")


# From this many documents on, apply says at once what it is applying (on a terminal only).
LARGE_APPLY = 200


def cmd_apply(args: argparse.Namespace, ctx: Context) -> int:
    # Only apply and `get job --export` need the document parser; the other commands start without it.
    from wloadctl.cli.progress import Progress
    from wloadctl.model.documents import load_documents

    # On a terminal, a large apply shows what it is doing on stderr (cli/progress.py).
    with Progress(ctx.output, "reading files") as progress:
        specs, calendars, workflows = load_documents(args.file, progress=progress.update)
        large = len(specs) + len(calendars) + len(workflows) >= LARGE_APPLY
        client = ctx.client()
        # Calendars first: the jobs of the same files may use them.
        key = args.idempotency_key
        if calendars:
            progress.phase(f"applying {len(calendars)} calendars", force=large)
        cal_response = client.apply_calendars(calendars, idempotency_key=f"{key}/calendars" if key else "") \
            if calendars else None
        if specs:
            progress.phase(f"applying {len(specs)} jobs", force=large)
        response = client.apply_jobs(specs, idempotency_key=key) if specs else None
        # Workflows last: their tasks may run jobs of the same files.
        if workflows:
            progress.phase(f"applying {len(workflows)} workflows", force=large)
        wf_response = client.apply_workflows(workflows, idempotency_key=f"{key}/workflows" if key else "") \
            if workflows else None
    if ctx.output != "table":
        data = output.message_to_dict(response) if response is not None else {"jobs": [], "raft_index": 0}
        if cal_response is not None:
            data["calendars"] = output.message_to_dict(cal_response)["calendars"]
        if wf_response is not None:
            data["workflows"] = output.message_to_dict(wf_response)["workflows"]
        emit_data(ctx, data)
        return EXIT_OK
    for ref in cal_response.calendars if cal_response is not None else []:
        verb = "unchanged" if not ref.changed else "created" if ref.version == 1 else "configured"
        emit(f"calendar/{ref.name} {verb} (version {ref.version})\n")
    for ref in response.jobs if response is not None else []:
        if not ref.changed:
            verb = "unchanged"
        elif ref.version == 1:
            verb = "created"
        else:
            verb = "configured"
        emit(f"job/{ref.name} {verb} (version {ref.version})\n")
    for wref in wf_response.workflows if wf_response is not None else []:
        verb = "unchanged" if not wref.changed else "created" if wref.version == 1 else "configured"
        emit(f"workflow/{wref.name} {verb} (version {wref.version})\n")
    return EXIT_OK


def _selector(pairs: list[list[tuple[str, str]]]) -> dict[str, str]:
    return {key: value for group in pairs for key, value in group}


def cmd_get_jobs(args: argparse.Namespace, ctx: Context) -> int:
    jobs = ctx.client().iter_jobs(args.domain, _selector(args.selector), page_size=page_size(args.limit))
    return listing(ctx, jobs, args.limit, "jobs", render.jobs_table)


def cmd_get_job(args: argparse.Namespace, ctx: Context) -> int:
    version = ctx.client().get_job(args.name, args.version)
    if args.export:
        from wloadctl.model.documents import spec_to_dict

        document = spec_to_dict(version.spec)
        emit(output.dump(document, "json" if ctx.output == "json" else "yaml"))
        return EXIT_OK
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(version))
        return EXIT_OK
    emit(render.jobs_table([version]))
    return EXIT_OK


def cmd_describe_job(args: argparse.Namespace, ctx: Context) -> int:
    version = ctx.client().get_job(args.name, args.version)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(version))
        return EXIT_OK
    emit(render.describe_job(version))
    return EXIT_OK


def cmd_delete_job(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().delete_job(args.name, idempotency_key=args.idempotency_key)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    name = response.job.name or args.name
    if response.job.changed:
        emit(f"job/{name} deleted (version {response.job.version})\n")
    else:
        emit(f"job/{name} unchanged (already deleted)\n")
    return EXIT_OK

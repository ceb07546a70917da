"""A job's history: `diff job` (what changed between two versions) and `rollback job` (apply an
earlier version's definition again, as a new version)."""

from __future__ import annotations

import argparse
import difflib

from wloadctl.cli import output
from wloadctl.cli.context import EXIT_OK, Context, emit, emit_data
from wloadctl.cli.parser import Verbs, int_at_least
from wloadctl.proto.v1 import jobs_pb2


def register(verbs: Verbs) -> None:
    diff = verbs.add_to(
        "diff", "job", "show what changed between two versions of a job",
        description="A unified diff of two versions of a job, as `get job --export` prints them\n"
                    "(default: the version before the latest, and the latest). No output when they are\n"
                    "equal. -o json|yaml prints {name, from_version, to_version, diff}.",
        epilog="examples:\n  wloadctl diff job nightly-backup\n  wloadctl diff job nightly-backup --from 1 --to 3",
        handler=cmd_diff_job,
    )
    diff.add_argument("name", metavar="NAME", help="job name")
    diff.add_argument("--from", dest="from_version", type=int_at_least(1), default=0, metavar="N",
                      help="the older version (default: the one before --to)")
    diff.add_argument("--to", dest="to_version", type=int_at_least(1), default=0, metavar="M",
                      help="the newer version (default: the latest)")
    rollback = verbs.add_to(
        "rollback", "job", "apply an earlier version of a job again",
        description="Apply version N's definition again. This makes a new version equal to N (the\n"
                    "history is kept, and the rollback is audited as an apply).",
        epilog="example:\n  wloadctl rollback job nightly-backup --to-version 1\n\n"
               "output: job/NAME configured (version K, equal to version N)",
        handler=cmd_rollback_job,
    )
    rollback.add_argument("name", metavar="NAME", help="job name")
    rollback.add_argument("--to-version", required=True, type=int_at_least(1), metavar="N",
                          help="the version whose definition to apply")


def exported(version: jobs_pb2.JobVersion) -> str:
    """The version as `get job --export` prints it (what people compare and re-apply)."""
    from wloadctl.model.documents import spec_to_dict

    return output.dump(spec_to_dict(version.spec), "yaml")


def job_diff(name: str, older: jobs_pb2.JobVersion, newer: jobs_pb2.JobVersion) -> str:
    lines = difflib.unified_diff(exported(older).splitlines(keepends=True), exported(newer).splitlines(keepends=True),
                                 fromfile=f"job/{name} version {older.version}",
                                 tofile=f"job/{name} version {newer.version}")
    return "".join(lines)


def cmd_diff_job(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    newer = client.get_job(args.name, args.to_version)
    from_version = args.from_version or newer.version - 1
    if from_version < 1:
        raise ValueError(f"job {args.name!r} has only version {newer.version}: nothing to compare it with "
                         "(give --from and --to)")
    older = client.get_job(args.name, from_version)
    text = job_diff(args.name, older, newer)
    if ctx.output != "table":
        emit_data(ctx, {"name": args.name, "from_version": older.version, "to_version": newer.version,
                        "diff": text})
    else:
        emit(text)
    return EXIT_OK


def cmd_rollback_job(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    target = client.get_job(args.name, args.to_version)
    if target.deleted:
        raise ValueError(f"version {target.version} of job {args.name!r} is its deletion; roll back to a version "
                         "before it")
    response = client.apply_jobs([target.spec])
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    ref = response.jobs[0] if response.jobs else jobs_pb2.JobRef(name=args.name)
    verb = "configured" if ref.changed else "unchanged"
    emit(f"job/{ref.name or args.name} {verb} (version {ref.version}, equal to version {target.version})\n")
    return EXIT_OK

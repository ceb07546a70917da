"""Commands around the CLI that need no cluster: `completion`, `schema`, `import crontab`."""

from __future__ import annotations

import argparse
import sys
from importlib import resources

from wloadctl.cli import output
from wloadctl.cli.context import EXIT_OK, Context, emit, emit_data
from wloadctl.cli.parser import Verbs, non_blank

_COMPLETION_EPILOG = """\
install (the script is generated from this version's commands: re-run it after an upgrade):
  bash:  source <(wloadctl completion bash)      # in ~/.bashrc
  zsh:   source <(wloadctl completion zsh)       # in ~/.zshrc, after compinit
  fish:  wloadctl completion fish > ~/.config/fish/completions/wloadctl.fish"""

_SCHEMA_EPILOG = """\
examples:
  wloadctl schema                      # the kinds and their schema files
  wloadctl schema job > job.schema.json
  wloadctl schema job --path           # the file installed with wloadctl

editors: start a YAML file with a line naming the schema, for VS Code's YAML extension and
every editor that uses yaml-language-server:
  # yaml-language-server: $schema=/path/to/job.schema.json
(see docs/cli.md for the path of the installed files and a settings.json mapping)."""

_CRONTAB_EPILOG = """\
examples:
  crontab -l | wloadctl import crontab - > cron-jobs.yaml && wloadctl apply -f cron-jobs.yaml
  wloadctl import crontab /etc/crontab --domain ops      # a system crontab: its user becomes runAs
  wloadctl import crontab backup.cron --time-zone Europe/Berlin --prefix cron-

what becomes what: 5-field lines and @hourly/@daily/@weekly/@monthly/@yearly become schedules;
NAME=value lines the env of the jobs after them; CRON_TZ (else TZ, else --time-zone) their
timeZone; RANDOM_DELAY their jitter; '%' in a command its standard input, as cron does.
@reboot and MAILTO have no equivalent: a warning on stderr names the line. A line that does not
convert is an error naming it, and nothing is printed (exit 1)."""


def _kind(text: str) -> str:
    from wloadctl.model import schemas

    for known in (*schemas.KINDS, schemas.ALL):
        if text.lower() == known.lower():
            return known
    return text  # argparse names the choices


def register(verbs: Verbs) -> None:
    from wloadctl.cli.completion import SHELLS
    from wloadctl.model.schemas import ALL, KINDS

    completion = verbs.add(
        "completion", "print a shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL: verbs, sub-verbs, options and their\n"
                    "choices, generated from this version's argument parser.",
        epilog=_COMPLETION_EPILOG,
        handler=cmd_completion,
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")

    schema = verbs.add(
        "schema", "print the JSON Schema of a YAML kind (Job, Workflow, Calendar)",
        description="Print the JSON Schema (draft 2020-12) of a kind of document, for editors and\n"
                    "validators; without KIND (or with --list), list the kinds. `all` is one schema\n"
                    "for files that mix kinds. The same files are installed with wloadctl.",
        epilog=_SCHEMA_EPILOG,
        handler=cmd_schema,
    )
    schema.add_argument("kind", nargs="?", type=_kind, choices=(*KINDS, ALL), metavar="KIND",
                        help=f"{', '.join(KINDS)} or {ALL} (any case)")
    schema.add_argument("--list", action="store_true", help="list the kinds and their schema files")
    schema.add_argument("--path", action="store_true",
                        help="print the path of the installed schema file (without KIND: their directory)")

    crontab = verbs.add_to(
        "import", "crontab", "turn crontab lines into Job documents",
        description="Read a crontab (FILE, or - for stdin) and print one Job document per line, as YAML\n"
                    "for `wloadctl apply -f` (with -o json: {\"jobs\": [...]}). Warnings go to stderr.",
        epilog=_CRONTAB_EPILOG,
        handler=cmd_import_crontab,
    )
    crontab.add_argument("file", metavar="FILE|-", help="a crontab file, or - for stdin")
    crontab.add_argument("--domain", default="", metavar="D", help="the jobs' domain (default: the default one)")
    crontab.add_argument("--system", action="store_true",
                         help="the file has a user column (like /etc/crontab and /etc/cron.d/*, which are "
                              "recognised by their path): the user becomes the job's runAs")
    crontab.add_argument("--run-as", default="", metavar="USER",
                         help="runAs of every job (a user's crontab: that user); the agents must allow it")
    crontab.add_argument("--time-zone", default=None, metavar="ZONE", type=non_blank,
                         help="the zone the cron daemon ran in, for lines without CRON_TZ or TZ (default UTC)")
    crontab.add_argument("--prefix", default="", metavar="TEXT", help="put TEXT before every job name (cron-)")


def cmd_completion(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.cli.completion import script
    from wloadctl.cli.parser import build_parser

    emit(script(args.shell, build_parser()))
    return EXIT_OK


def _installed(file_name: str) -> str:
    return str(resources.files("wloadctl").joinpath("schemas", file_name))


def cmd_schema(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.model import schemas

    if args.path:  # the installed file, or without KIND their directory
        emit(_installed(schemas.file_name(args.kind) if args.kind else "") + "\n")
        return EXIT_OK
    if args.list or args.kind is None:
        kinds = [{"kind": kind, "file": schemas.file_name(kind), "description": schemas.summary(kind)}
                 for kind in (*schemas.KINDS, schemas.ALL)]
        if ctx.output != "table":
            emit_data(ctx, {"kinds": kinds, "directory": _installed("")})
        else:
            emit(output.render_table(["KIND", "FILE", "DESCRIPTION"],
                                     [[k["kind"], k["file"], k["description"]] for k in kinds]))
        return EXIT_OK
    if ctx.output == "yaml":
        emit_data(ctx, schemas.schema(args.kind))
    else:
        emit(schemas.render(args.kind))
    return EXIT_OK


def cmd_import_crontab(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.cli import crontab_import
    from wloadctl.model.documents import STDIN_SOURCE

    if args.file == "-":
        source, text = STDIN_SOURCE, sys.stdin.read()
    else:
        source = args.file
        with open(args.file, "rb") as handle:
            data = handle.read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as failure:
            raise ValueError(f"{source}: not UTF-8 text (bad byte at offset {failure.start})") from None
    system = args.system or crontab_import.is_system_path(args.file)
    result = crontab_import.convert(text, source, domain=args.domain, system=system, run_as=args.run_as,
                                    time_zone=args.time_zone or "", prefix=args.prefix)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not result.zone_given:
        print("note: lines without CRON_TZ or TZ are read in UTC: pass --time-zone with the zone the cron daemon "
              "ran in", file=sys.stderr)
    if not result.documents:
        print(f"note: no jobs in {source}", file=sys.stderr)
    if ctx.output == "json":
        emit_data(ctx, {"jobs": result.documents})
    else:
        emit(crontab_import.render(result, source) if result.documents else "")
    return EXIT_OK

"""Secrets: `secret set`, `secret get`, `secret delete`.

Values go to the cluster and never come back: `secret get` shows names, keys and who changed them.
A value is never printed, echoed in an error or written anywhere by the CLI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wloadctl.cli import output
from wloadctl.cli.context import EXIT_OK, Context, answer, emit, emit_data
from wloadctl.cli.parser import Verbs, command, param, subparsers
from wloadctl.proto.v1 import secrets_pb2

_LEVEL = 2  # `wloadctl secret ACTION`


def register(verbs: Verbs) -> None:
    verb = verbs.add("secret", "manage secrets: values jobs get as environment variables",
                     description="Secrets are named sets of KEY=VALUE pairs in a business domain. A job of that\n"
                                 "domain uses one with spec.secretEnv (VARIABLE: SECRET/KEY); the agent that runs\n"
                                 "it gets the value, nothing ever shows it (docs/security.md, \"Secrets\").")
    subs = subparsers(verb, "action", "actions")
    set_ = command(
        subs, "set", _LEVEL, "create a secret, or replace all its keys",
        description="Create the secret NAME in domain D, or replace every key of it (keys not given are\n"
                    "removed). A value comes from the command line (--from-literal, which your shell history\n"
                    "and the process list may keep) or from a file, as it is (--from-file; no newline is\n"
                    "added or removed). Needs secret.write in the domain.",
        epilog="examples:\n  wloadctl secret set db --domain finance --from-file password=./db-password.txt\n"
               "  wloadctl secret set api --domain ops --from-literal user=batch --from-file token=token.txt\n\n"
               "output: secret/NAME created (or replaced), with its keys",
        handler=cmd_secret_set)
    set_.add_argument("name", metavar="NAME", help="secret name (letters, digits, '.', '_', '-')")
    set_.add_argument("--domain", required=True, metavar="D", help="its business domain")
    set_.add_argument("--from-literal", action="append", type=param, default=[], metavar="KEY=VALUE",
                      help="a key and its value (repeatable)")
    set_.add_argument("--from-file", action="append", type=param, default=[], metavar="KEY=PATH",
                      help="a key and the file holding its value, UTF-8 text (repeatable)")
    set_.add_argument("--description", default="", metavar="TEXT", help="what it is for")
    set_.set_defaults(parser=set_)
    get = command(subs, "get", _LEVEL, "list secrets, or show one (never a value)",
                  description="List the secrets you may read (NAME DOMAIN KEYS VERSION UPDATED UPDATED-BY), or\n"
                              "one. No command shows a value. Needs secret.read in the secret's domain.",
                  handler=cmd_secret_get)
    get.add_argument("name", metavar="NAME", nargs="?", default="", help="one secret (default: all)")
    get.add_argument("--domain", default="", metavar="D", help="only the secrets of this domain")
    delete = command(subs, "delete", _LEVEL, "delete a secret",
                     description="Delete the secret. Jobs that use it keep their references; their next attempts\n"
                                 "fail (exit code 126) until it is set again. Needs secret.write in its domain.",
                     handler=cmd_secret_delete)
    delete.add_argument("name", metavar="NAME", help="secret name")


def _values(parser: argparse.ArgumentParser, literals: Sequence[tuple[str, str]],
            files: Sequence[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in literals:
        if key in values:
            parser.error(f"key {key!r} given twice")
        values[key] = value
    for key, path in files:
        if key in values:
            parser.error(f"key {key!r} given twice")
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ValueError(f"--from-file {key}={path}: {e.strerror or e}") from None
        try:
            values[key] = data.decode()
        except UnicodeDecodeError as e:
            # It becomes an environment variable: text only. Says where, never what.
            raise ValueError(f"--from-file {key}={path}: not UTF-8 text (bad byte at offset {e.start})") from None
    if not values:
        parser.error("give at least one --from-literal KEY=VALUE or --from-file KEY=PATH")
    return values


def cmd_secret_set(args: argparse.Namespace, ctx: Context) -> int:
    values = _values(args.parser, args.from_literal, args.from_file)
    secret = ctx.client().set_secret(args.name, args.domain, values, args.description)
    what = "created" if secret.version == 1 else "replaced"
    return answer(ctx, secret, f"secret/{secret.name or args.name} {what} (keys: {', '.join(secret.keys)}; "
                               f"version {secret.version})")


def secrets_table(secrets: Sequence[secrets_pb2.SecretInfo]) -> str:
    rows = [(s.name, s.domain, output.truncate(",".join(s.keys), 40), s.version, output.format_ms(s.updated_ms),
             s.updated_by or "-") for s in secrets]
    return output.render_table(("NAME", "DOMAIN", "KEYS", "VERSION", "UPDATED", "UPDATED-BY"), rows)


def cmd_secret_get(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    if args.name:
        secret = client.get_secret(args.name)
        if ctx.output != "table":
            emit_data(ctx, output.message_to_dict(secret))
        else:
            emit(secrets_table([secret]))
        return EXIT_OK
    listed = client.list_secrets(args.domain)
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(listed))
    elif listed.secrets:
        emit(secrets_table(list(listed.secrets)))
    else:
        print("No secrets found.", file=sys.stderr)
    return EXIT_OK


def cmd_secret_delete(args: argparse.Namespace, ctx: Context) -> int:
    return answer(ctx, ctx.client().delete_secret(args.name), f"secret/{args.name} deleted")

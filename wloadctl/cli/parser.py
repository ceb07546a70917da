"""The `wloadctl` argument parser: the verb tree, the global options and the argument types.

Each module of cli/commands adds its own commands (with their handlers) to the tree that
build_parser() makes; this module only knows which modules there are and in what order.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import re
import time
from collections.abc import Callable
from typing import Any, NoReturn

import wloadctl
from wloadctl.cli import output
from wloadctl.cli.context import DEFAULT_RETRY_FOR, DEFAULT_TIMEOUT, Context, Handler
from wloadctl.proto.v1 import runs_pb2

__all__ = ["Verbs", "build_parser", "merge_globals"]

RS = runs_pb2.RunState
# RunState names a user may pass to --state (RUN_STATE_UNSPECIFIED means "any" and is not one).
RUN_STATE_NAMES = tuple(v.name for v in RS.DESCRIPTOR.values if v.name != "RUN_STATE_UNSPECIFIED")

# Global options may appear at every level (`wloadctl -o json get jobs`, `wloadctl get -o json
# jobs`, `wloadctl get jobs -o json`). argparse gives each sub-parser a fresh namespace and
# copies it over its parent's, so each level stores into its own dest and merge_globals
# combines them: --server values accumulate, for the others the last one given wins.
# Four levels: `wloadctl auth policy set` is the deepest command.
_LEVELS = 4


# ---- argument types ------------------------------------------------------------------------


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be zero or a positive number of seconds, got {text!r}")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def label_selector(text: str) -> list[tuple[str, str]]:
    """`key=value`, or several comma separated like kubectl's `-l a=b,c=d`."""
    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"must be key=value, got {item!r}")
        pairs.append((key, value.strip()))
    return pairs


def param(text: str) -> tuple[str, str]:
    """`key=value` for `run --param`; the value may be empty and may contain '='."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key, value


def run_state(text: str) -> int:
    name = text.strip().upper().replace("-", "_")
    if name not in RUN_STATE_NAMES:
        valid = ", ".join(n.lower() for n in RUN_STATE_NAMES)
        raise argparse.ArgumentTypeError(f"unknown run state {text!r} (valid: {valid})")
    return RS.Value(name)


def non_blank(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, got {text!r}")
    return text


# The notation of job timeouts (model/documents.py): 90s, 15m, 2h, 1d, or combined (1h30m).
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_DURATION_UNITS = (86400, 3600, 60, 1)
_DURATION_HINT = "a duration like 90s, 15m, 2h or 1d (or combined, like 1h30m)"


def duration_seconds(text: str) -> int:
    """`1h30m` -> 5400; an argument type for --expires."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"must be {_DURATION_HINT}, got {text!r}")
    seconds = sum(int(digits) * unit for digits, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if digits)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0s, got {text!r}")
    return seconds


def time_ms(text: str, now_ms: int | None = None) -> int:
    """A moment as milliseconds since the epoch: ISO-8601 UTC (`2026-12-01T00:00:00Z`, `2026-12-01`)
    or a duration ago (`24h`, `7d`). A time without `Z` or an offset is taken as UTC, like the
    times the tables show."""
    stripped = text.strip()
    ago = _DURATION.fullmatch(stripped)
    if ago is not None and any(ago.groups()):
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        return now - duration_seconds(stripped) * 1000
    try:
        moment = datetime.datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an ISO-8601 UTC time (2026-12-01T00:00:00Z or 2026-12-01) or a duration ago (24h, 7d), "
            f"got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def network(text: str) -> str:
    """A CIDR (`10.0.0.0/8`) or one address, as the server stores it (`10.0.0.5/32`)."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a network like 10.0.0.0/8 or an address, got {text!r}") from None


def operation_rule(text: str) -> tuple[str, str]:
    """`OPERATION[@DOMAIN]` for `auth policy set --approval`: (operation, domain or "")."""
    operation, at, domain = text.strip().partition("@")
    if not operation or (at and not domain):
        raise argparse.ArgumentTypeError(f"must be OPERATION or OPERATION@DOMAIN (job.delete@finance), got {text!r}")
    return operation, domain


# ---- parser --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that names an abbreviated long option as such.

    With allow_abbrev=False argparse takes `--serv` for an unknown option and, before a
    subcommand, its value for the subcommand (`invalid choice: 'x'`). Each level's parser looks
    at every argument when it classifies them, so a name that is a prefix of one of its options
    (and exact at no level) is only noted; whichever parser then fails reports the abbreviation
    noted first, with the usage of the root for a global option (as for any other unrecognized
    argument), of the deepest parser that noted it for a subcommand's own option."""

    all_options: frozenset[str] = frozenset()  # every option string of the command tree
    global_options: frozenset[str] = frozenset()  # those every level has
    abbreviations: list[tuple[_Parser, str, list[str]]]  # shared by the tree (build_parser)
    is_root = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self.is_root:  # notes of an earlier parse with the same parser must not linger
            self.abbreviations.clear()
        return super().parse_known_args(args, namespace)

    def _parse_optional(self, arg_string: str) -> Any:
        name = arg_string.partition("=")[0]
        if name.startswith("--") and len(name) > 2 and name not in self.all_options:
            meant = sorted(o for o in self._option_string_actions if o.startswith(name))
            if meant:
                self.abbreviations.append((self, name, meant))
        return super()._parse_optional(arg_string)

    def error(self, message: str) -> NoReturn:
        if self.abbreviations:
            notes = [note for note in self.abbreviations if note[1] == self.abbreviations[0][1]]
            # The deepest parser names every option it could be; when some are its own (--api:
            # --api-address or the global --api-key), its usage is the one that helps.
            own = set(notes[-1][2]) - self.global_options
            parser, name, meant = notes[0] if self.global_options.intersection(notes[0][2]) and not own \
                else notes[-1]
            self.abbreviations.clear()
            argparse.ArgumentParser.error(parser, f"unrecognized option {name} (options can't be abbreviated; "
                                                  f"did you mean {' or '.join(meant)}?)")
        super().error(message)


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every sub-parser below it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def add_globals(parser: argparse.ArgumentParser, level: int, output_option: bool = True) -> None:
    """The global options at one level; ``output_option`` False leaves -o to the command (audit
    export, where it names the file)."""
    group = parser.add_argument_group("global options (accepted before or after the command)")
    suppress = argparse.SUPPRESS
    group.add_argument(
        "--server", action="append", dest=f"g{level}_server", metavar="ADDR", default=suppress,
        help="API address HOST:PORT of a replica; repeat or comma-separate for several. "
             "Default: $WLOADCTL_SERVER, else the CLI config's servers, else 127.0.0.1:18581,18582,18583",
    )
    if output_option:
        group.add_argument(
            "-o", "--output", choices=output.FORMATS, dest=f"g{level}_output", default=suppress, metavar="FORMAT",
            help="table (default, for people), json or yaml (for scripts)",
        )
    group.add_argument(
        "--timeout", type=positive_float, dest=f"g{level}_timeout", metavar="SECONDS", default=suppress,
        help=f"deadline of each request to a replica (default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--retry-for", type=non_negative_float, dest=f"g{level}_retry_for", metavar="SECONDS",
        default=suppress,
        help=f"keep retrying unreachable replicas and leader changes this long (default {DEFAULT_RETRY_FOR:g})",
    )
    group.add_argument(
        "--stale", action="store_true", dest=f"g{level}_stale", default=suppress,
        help="read a replica's copy at once instead of a linearizable read (never older than what this "
             "command has seen; see docs/architecture.md)",
    )
    group.add_argument(
        "--token", dest=f"g{level}_token", metavar="TOKEN", default=suppress,
        help="a session token or API key to send (default: $WLOADCTL_TOKEN, $WLOADCTL_API_KEY, the stored "
             "login, the local cluster's admin credential)",
    )
    group.add_argument(
        "--api-key", dest=f"g{level}_api_key", metavar="KEY", default=suppress,
        help="an API key to send (like --token)",
    )
    group.add_argument(
        "--ca", dest=f"g{level}_ca", metavar="FILE", default=suppress,
        help="the cluster CA certificate to trust (default: $WLOADCTL_CA, else the CLI config's ca)",
    )
    group.add_argument(
        "--cert", dest=f"g{level}_cert", metavar="FILE", default=suppress,
        help="a client certificate (wloadctl certs issue --kind client) to log in with, for this command",
    )
    group.add_argument(
        "--key", dest=f"g{level}_key", metavar="FILE", default=suppress,
        help="the private key of --cert",
    )


def merge_globals(args: argparse.Namespace) -> Context:
    ctx = Context()
    for level in range(_LEVELS):
        ctx.servers.extend(getattr(args, f"g{level}_server", None) or [])
        ctx.output = getattr(args, f"g{level}_output", ctx.output)
        ctx.timeout = getattr(args, f"g{level}_timeout", ctx.timeout)
        ctx.retry_for = getattr(args, f"g{level}_retry_for", ctx.retry_for)
        ctx.stale = getattr(args, f"g{level}_stale", ctx.stale)
        ctx.token = getattr(args, f"g{level}_token", ctx.token)
        ctx.api_key = getattr(args, f"g{level}_api_key", ctx.api_key)
        ctx.ca = getattr(args, f"g{level}_ca", ctx.ca)
        ctx.cert = getattr(args, f"g{level}_cert", ctx.cert)
        ctx.key = getattr(args, f"g{level}_key", ctx.key)
    return ctx


def subparsers(parser: argparse.ArgumentParser, dest: str, title: str) -> Any:
    subs = parser.add_subparsers(dest=dest, title=title, metavar="COMMAND")
    subs.required = True
    return subs


def command(subs: Any, name: str, level: int, help_text: str, description: str = "",
            epilog: str = "", handler: Handler | None = None, output_option: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subs.add_parser(
        name, help=help_text, description=description or help_text, epilog=epilog,
        formatter_class=_Formatter, allow_abbrev=False,
    )
    add_globals(parser, level, output_option)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


# The verbs whose sub-commands come from several command modules: (help, dest, title).
_SHARED_VERBS = {
    "get": ("list or show jobs, workflows, runs and agents", "resource", "resources"),
    "describe": ("show a job, a run or a calendar in detail", "resource", "resources"),
    "delete": ("delete a job, a workflow or a calendar", "resource", "resources"),
    "cluster": ("inspect and change the replica set", "action", "actions"),
    "auth": ("bootstrap a cluster's first credential; the security policy", "action", "actions"),
    "user": ("manage users: create, show, change, lock, grant and revoke roles", "action", "actions"),
    "role": ("manage roles (sets of permissions)", "action", "actions"),
    "apikey": ("manage API keys (credentials for automation)", "action", "actions"),
    "approval": ("four-eyes approvals: list, approve, reject", "action", "actions"),
    "audit": ("read, verify and export the audit log", "action", "actions"),
    "diff": ("compare two versions of a job", "resource", "resources"),
    "rollback": ("apply an earlier version of a job again", "resource", "resources"),
    "job": ("suspend, resume and preview a job's schedules", "action", "actions"),
    "calendar": ("business calendars: list working days", "action", "actions"),
    "event": ("emit events that start the jobs subscribed to them", "action", "actions"),
    "import": ("turn other schedulers' definitions (crontab) into Job documents", "source", "sources"),
    "report": ("reports: runs by domain, agent, job or workflow over time (table, JSON, CSV, XLSX)", "report",
               "reports"),
}
_VERB_EXAMPLES = {
    "auth": "wloadctl auth bootstrap\n  wloadctl auth policy get\n  wloadctl auth policy set --approval job.delete",
    "user": "wloadctl user create alice --role business-operator --domain finance\n  wloadctl user get\n"
            "  wloadctl user lock alice",
    "role": "wloadctl role get\n  wloadctl role create run-watcher --permission run.read --permission run.logs",
    "apikey": "wloadctl apikey create --role auditor --expires 30d\n  wloadctl apikey revoke k57",
    "approval": "wloadctl approval get --state pending\n  wloadctl approval approve a42",
    "audit": "wloadctl audit get --since 24h\n  wloadctl audit verify\n"
             "  wloadctl audit export --format xlsx -o audit.xlsx",
    "report": "wloadctl report runs --by job --from 7d\n"
              "  wloadctl report runs --by domain --from 2026-11-01 --to 2026-12-01 --bucket week -o xlsx -f nov.xlsx",
    "import": "crontab -l | wloadctl import crontab - > cron-jobs.yaml",
    "diff": "wloadctl diff job nightly-backup",
    "rollback": "wloadctl rollback job nightly-backup --to-version 1",
    "job": "wloadctl job next nightly-backup --count 5\n  wloadctl job suspend nightly-backup\n"
           "  wloadctl job resume nightly-backup",
}


class Verbs:
    """The top-level verbs, as the command modules add to them.

    A shared verb (get, describe, delete, cluster) is created when a module first adds to it,
    so `wloadctl --help` lists the verbs in the order build_parser() registers the modules."""

    def __init__(self, subs: Any) -> None:
        self.subs = subs
        self._shared: dict[str, Any] = {}

    def add(self, name: str, help_text: str, description: str = "", epilog: str = "",
            handler: Handler | None = None) -> argparse.ArgumentParser:
        """A verb of its own (`wloadctl run`)."""
        return command(self.subs, name, 1, help_text, description, epilog, handler)

    def add_to(self, verb: str, name: str, help_text: str, description: str = "", epilog: str = "",
               handler: Handler | None = None, output_option: bool = True) -> argparse.ArgumentParser:
        """A sub-command of a shared verb (`wloadctl get runs`)."""
        if verb not in self._shared:
            help_for_verb, dest, title = _SHARED_VERBS[verb]
            examples = f"examples:\n  {_VERB_EXAMPLES[verb]}" if verb in _VERB_EXAMPLES else ""
            self._shared[verb] = subparsers(command(self.subs, verb, 1, help_for_verb, epilog=examples), dest, title)
        return command(self._shared[verb], name, 2, help_text, description, epilog, handler, output_option)


_ROOT_EPILOG = """\
examples:
  wloadctl up                                  # a local 3-replica cluster (Ctrl-C stops it)
  wloadctl apply -f jobs/                      # create or update every job in a directory
  wloadctl get jobs -l team=ops
  wloadctl get job nightly-backup -o yaml
  wloadctl describe job nightly-backup
  wloadctl run nightly-backup --wait           # start a run and wait for its end
  wloadctl get runs --job nightly-backup --state failed
  wloadctl logs r12 -f                         # follow a run's output
  wloadctl cluster status
  wloadctl login --user alice                  # a session for the commands that follow
  wloadctl audit get --since 24h

environment:
  WLOADCTL_SERVER   comma-separated replica API addresses, used when --server is not given
  WLOADCTL_TOKEN    a session token or API key, used when --token/--api-key are not given
  WLOADCTL_API_KEY  an API key, likewise (after WLOADCTL_TOKEN)
  WLOADCTL_CA       the cluster CA certificate, used when --ca is not given
  WLOADCTL_CONFIG   the CLI config file (default ~/.config/wloadctl/config.toml)
  WLOADCTL_DEBUG    set to 1 to print a traceback with unexpected errors

exit codes: 0 ok, 1 the request failed (or `run --wait` did not succeed), 2 usage error,
3 the request waits for a four-eyes approval, 130 interrupted.
See docs/cli.md for the JSON output of every command.
"""


def build_parser() -> argparse.ArgumentParser:
    # Imported here: the command modules build on the helpers above.
    from wloadctl.cli.certs import add_certs_parser
    from wloadctl.cli.commands import (
        access,
        agents,
        approvals,
        audit,
        cluster,
        history,
        jobs,
        local,
        reports,
        runs,
        schedules,
        sessions,
        tools,
        workflows,
    )
    from wloadctl.cli.commands import secrets as secret_commands

    root = _Parser(
        prog="wloadctl",
        description="Control a WLOADCTL cluster: apply and inspect job definitions, run jobs, manage replicas.",
        epilog=_ROOT_EPILOG,
        formatter_class=_Formatter,
        allow_abbrev=False,
    )
    root.add_argument("--version", action="version", version=f"wloadctl {wloadctl.__version__}")
    add_globals(root, 0)
    verbs = Verbs(subparsers(root, "verb", "commands"))
    # The order of `wloadctl --help` and of "invalid choice" messages.
    local.register(verbs)
    add_certs_parser(verbs.subs)
    jobs.register(verbs)
    schedules.register(verbs)
    schedules.register_calendars(verbs)
    schedules.register_events(verbs)
    history.register(verbs)
    runs.register(verbs)
    workflows.register(verbs)
    agents.register(verbs)
    cluster.register(verbs)
    sessions.register(verbs)
    access.register(verbs)
    approvals.register(verbs)
    audit.register(verbs)
    reports.register(verbs)
    secret_commands.register(verbs)
    tools.register(verbs)

    parsers = _parsers(root)
    options = frozenset(o for p in parsers for o in p._option_string_actions)
    common = frozenset.intersection(*(frozenset(p._option_string_actions) for p in parsers))
    noted: list[tuple[_Parser, str, list[str]]] = []
    for p in parsers:
        if isinstance(p, _Parser):
            p.all_options, p.global_options, p.abbreviations = options, common, noted
    root.is_root = True
    return root

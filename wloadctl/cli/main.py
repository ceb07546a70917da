"""The `wloadctl` command line: kubectl-like verbs over the Client API.

Conventions every command keeps (operators' scripts depend on them, see docs/cli.md):
  * stdout carries only the result (a table, or one JSON/YAML document with -o);
  * every failure is `error: <message>` lines on stderr, never a traceback;
  * exit codes: 0 ok, 1 request/validation failure, 2 usage error, 130 interrupted,
    141 stdout closed early (e.g. piped into `head`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import grpc

import wloadctl
from wloadctl.cli import output
from wloadctl.client import Client, ClientError, servers_from_env
from wloadctl.proto.v1 import jobs_pb2

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_FOR = 15.0
LIST_PAGE_SIZE = 500
COMMAND_COLUMN_WIDTH = 60
DEBUG_ENV = "WLOADCTL_DEBUG"

# Global options may appear at every level (`wloadctl -o json get jobs`, `wloadctl get -o json
# jobs`, `wloadctl get jobs -o json`). argparse gives each sub-parser a fresh namespace and
# copies it over its parent's, so each level stores into its own dest and _merge_globals
# combines them: --server values accumulate, for the others the last one given wins.
_LEVELS = 3


@dataclass
class Context:
    servers: list[str] = field(default_factory=list)
    output: str = "table"
    timeout: float = DEFAULT_TIMEOUT
    retry_for: float = DEFAULT_RETRY_FOR
    _client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.servers or None, timeout=self.timeout, retry_for=self.retry_for)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


Handler = Callable[[argparse.Namespace, Context], int]


# ---- argument types ------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be zero or a positive number of seconds, got {text!r}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _label_selector(text: str) -> list[tuple[str, str]]:
    """`key=value`, or several comma separated like kubectl's `-l a=b,c=d`."""
    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"must be key=value, got {item!r}")
        pairs.append((key, value.strip()))
    return pairs


def _address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, got {text!r}")
    return text


# ---- parser --------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _add_globals(parser: argparse.ArgumentParser, level: int) -> None:
    group = parser.add_argument_group("global options (accepted before or after the command)")
    suppress = argparse.SUPPRESS
    group.add_argument(
        "--server", action="append", dest=f"g{level}_server", metavar="ADDR", default=suppress,
        help="API address HOST:PORT of a replica; repeat or comma-separate for several. "
             "Default: $WLOADCTL_SERVER, else 127.0.0.1:18581,18582,18583",
    )
    group.add_argument(
        "-o", "--output", choices=output.FORMATS, dest=f"g{level}_output", default=suppress, metavar="FORMAT",
        help="table (default, for people), json or yaml (for scripts)",
    )
    group.add_argument(
        "--timeout", type=_positive_float, dest=f"g{level}_timeout", metavar="SECONDS", default=suppress,
        help=f"deadline of each request to a replica (default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--retry-for", type=_non_negative_float, dest=f"g{level}_retry_for", metavar="SECONDS",
        default=suppress,
        help=f"keep retrying unreachable replicas and leader changes this long (default {DEFAULT_RETRY_FOR:g})",
    )


def _merge_globals(args: argparse.Namespace) -> Context:
    ctx = Context()
    for level in range(_LEVELS):
        ctx.servers.extend(getattr(args, f"g{level}_server", None) or [])
        ctx.output = getattr(args, f"g{level}_output", ctx.output)
        ctx.timeout = getattr(args, f"g{level}_timeout", ctx.timeout)
        ctx.retry_for = getattr(args, f"g{level}_retry_for", ctx.retry_for)
    return ctx


def _subparsers(parser: argparse.ArgumentParser, dest: str, title: str) -> Any:
    subs = parser.add_subparsers(dest=dest, title=title, metavar="COMMAND")
    subs.required = True
    return subs


def _command(subs: Any, name: str, level: int, help_text: str, description: str = "",
             epilog: str = "", handler: Handler | None = None) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subs.add_parser(
        name, help=help_text, description=description or help_text, epilog=epilog,
        formatter_class=_Formatter, allow_abbrev=False,
    )
    _add_globals(parser, level)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


_ROOT_EPILOG = """\
examples:
  wloadctl up                                  # a local 3-replica cluster (Ctrl-C stops it)
  wloadctl apply -f jobs/                      # create or update every job in a directory
  wloadctl get jobs -l team=ops
  wloadctl get job nightly-backup -o yaml
  wloadctl describe job nightly-backup
  wloadctl cluster status

environment:
  WLOADCTL_SERVER   comma-separated replica API addresses, used when --server is not given
  WLOADCTL_DEBUG    set to 1 to print a traceback with unexpected errors

exit codes: 0 ok, 1 the request failed, 2 usage error, 130 interrupted.
See docs/cli.md for the JSON output of every command.
"""


def build_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="wloadctl",
        description="Control a WLOADCTL cluster: apply and inspect job definitions, manage replicas.",
        epilog=_ROOT_EPILOG,
        formatter_class=_Formatter,
        allow_abbrev=False,
    )
    root.add_argument("--version", action="version", version=f"wloadctl {wloadctl.__version__}")
    _add_globals(root, 0)
    verbs = _subparsers(root, "verb", "commands")

    # -- server
    server = _command(
        verbs, "server", 1, "run one replica (the cluster's server process)",
        description="Run one replica of a WLOADCTL cluster in the foreground until SIGTERM/SIGINT.\n"
                    "The TOML config names this node, its addresses, data directory, cluster secret\n"
                    "and peers; `wloadctl up` writes such configs (see docs/cli.md).",
        handler=_cmd_server,
    )
    server.add_argument("--config", required=True, metavar="FILE", help="replica config file (TOML)")
    server.add_argument("--insecure", action="store_true",
                        help="run without the cluster secret (development only: peers are not authenticated)")
    server.add_argument("--log-format", choices=("json", "human"), default=None,
                        help="log line format (overrides the config's [log] format)")
    server.add_argument("--log-level", type=str.lower, metavar="LEVEL", default=None,
                        choices=("debug", "info", "warning", "error"),
                        help="debug, info, warning or error (overrides the config's [log] level)")

    # -- up
    up = _command(
        verbs, "up", 1, "run a local cluster on this machine until Ctrl-C",
        description="Start a local cluster of replica processes on 127.0.0.1 and keep it running\n"
                    "until Ctrl-C or SIGTERM. API ports are BASE..BASE+N-1, Raft ports BASE+100...\n"
                    "Data, configs (rN.toml), logs (rN.log) and the cluster secret live in --data-dir;\n"
                    "running `up` again with the same directory resumes the same cluster.",
        epilog="example:\n  wloadctl up --replicas 3 --data-dir /tmp/wl\n"
               "  export WLOADCTL_SERVER=127.0.0.1:18581,127.0.0.1:18582,127.0.0.1:18583",
        handler=_cmd_up,
    )
    up.add_argument("--replicas", type=int, choices=(1, 3, 5), default=3,
                    help="number of replicas (default 3)")
    up.add_argument("--base-port", type=_int_at_least(1), default=18581, metavar="PORT",
                    help="first API port (default 18581); Raft ports start at PORT+100")
    up.add_argument("--data-dir", default=os.path.join(".", "wloadctl-data"), metavar="DIR",
                    help="where data, configs, logs and the secret go (default ./wloadctl-data)")
    up.add_argument("--insecure", action="store_true",
                    help="no cluster secret: replicas accept unauthenticated peers (development only)")
    up.add_argument("--log-format", choices=("human", "json"), default="human",
                    help="replica log format in the rN.log files (default human)")

    # -- apply
    apply = _command(
        verbs, "apply", 1, "create or update jobs from YAML files",
        description="Create or update the jobs defined in YAML files. All documents are validated\n"
                    "first; if any is invalid, every error is reported and nothing is applied.\n"
                    "The jobs of one apply are committed atomically.",
        epilog="examples:\n  wloadctl apply -f backup.yaml\n  wloadctl apply -f jobs/ -f extra.yaml\n"
               "  cat job.yaml | wloadctl apply -f -\n\n"
               "output: one line per job: job/NAME created|configured|unchanged (version N)",
        handler=_cmd_apply,
    )
    apply.add_argument("-f", "--filename", action="append", dest="file", required=True,
                       metavar="FILE|DIR|-",
                       help="a YAML file, a directory of *.yaml/*.yml files, or - for stdin; repeatable")
    apply.add_argument("--idempotency-key", default="", metavar="KEY",
                       help="retrying with the same key applies the change at most once (default: random)")

    # -- get
    get = _command(verbs, "get", 1, "list jobs or show one job")
    get_subs = _subparsers(get, "resource", "resources")
    get_jobs = _command(
        get_subs, "jobs", 2, "list jobs",
        description="List the latest version of every job, optionally filtered by domain and labels.",
        epilog="examples:\n  wloadctl get jobs\n  wloadctl get jobs --domain finance -l team=ops,tier=1\n"
               "  wloadctl get jobs -o json | jq -r '.jobs[].spec.name'",
        handler=_cmd_get_jobs,
    )
    get_jobs.add_argument("--domain", default="", metavar="D", help="only jobs of this domain")
    get_jobs.add_argument("-l", "--selector", action="append", type=_label_selector, default=[],
                          metavar="KEY=VALUE",
                          help="only jobs with this label; repeat or comma-separate, all must match")
    get_jobs.add_argument("--limit", type=_int_at_least(1), default=None, metavar="N",
                          help="show at most N jobs (default: all)")
    get_job = _command(
        get_subs, "job", 2, "show one job",
        description="Show one job (the latest version unless --version is given).",
        epilog="examples:\n  wloadctl get job nightly-backup -o yaml\n"
               "  wloadctl get job nightly-backup --export > backup.yaml   # re-appliable",
        handler=_cmd_get_job,
    )
    get_job.add_argument("name", metavar="NAME", help="job name")
    get_job.add_argument("--version", type=_int_at_least(1), default=0, metavar="N",
                         help="a specific stored version (default: the latest)")
    get_job.add_argument("--export", action="store_true",
                         help="print the job as a YAML document for `wloadctl apply -f` (json with -o json)")

    # -- describe
    describe = _command(verbs, "describe", 1, "show one job in detail")
    describe_subs = _subparsers(describe, "resource", "resources")
    describe_job = _command(
        describe_subs, "job", 2, "show one job in detail",
        description="Show every field of a job in a readable form. With -o json|yaml this prints\n"
                    "the same document as `get job`.",
        handler=_cmd_describe_job,
    )
    describe_job.add_argument("name", metavar="NAME", help="job name")
    describe_job.add_argument("--version", type=_int_at_least(1), default=0, metavar="N",
                              help="a specific stored version (default: the latest)")

    # -- delete
    delete = _command(verbs, "delete", 1, "delete a job")
    delete_subs = _subparsers(delete, "resource", "resources")
    delete_job = _command(
        delete_subs, "job", 2, "delete a job",
        description="Delete a job. Its history is kept as a tombstone version.",
        handler=_cmd_delete_job,
    )
    delete_job.add_argument("name", metavar="NAME", help="job name")
    delete_job.add_argument("--idempotency-key", default="", metavar="KEY",
                            help="retrying with the same key deletes at most once (default: random)")

    # -- cluster
    cluster = _command(verbs, "cluster", 1, "inspect and change the replica set")
    cluster_subs = _subparsers(cluster, "action", "actions")
    _command(
        cluster_subs, "status", 2, "show the leader, indexes and every member",
        description="Show the cluster as the leader sees it: term, commit and applied index,\n"
                    "and each member's role, connectivity and replication lag.",
        handler=_cmd_cluster_status,
    )
    add_member = _command(
        cluster_subs, "add-member", 2, "add a replica to the cluster",
        description="Add a member. Start the new replica first, with a config listing the current\n"
                    "members and itself as peers; this command then commits the membership change.",
        epilog="example:\n  wloadctl cluster add-member r4 10.0.0.4:18681 --api-address 10.0.0.4:18581",
        handler=_cmd_add_member,
    )
    add_member.add_argument("id", metavar="ID", help="the new member's node id")
    add_member.add_argument("raft_address", metavar="ADDR", type=_address,
                            help="the new member's Raft address HOST:PORT")
    add_member.add_argument("--api-address", type=_address, default=None, metavar="API_ADDR",
                            help="the new member's API address HOST:PORT (so clients can be redirected to it)")
    remove_member = _command(
        cluster_subs, "remove-member", 2, "remove a replica from the cluster",
        description="Remove a member. Removing the leader makes it step down first.",
        handler=_cmd_remove_member,
    )
    remove_member.add_argument("id", metavar="ID", help="node id of the member to remove")
    transfer = _command(
        cluster_subs, "transfer-leader", 2, "hand leadership to another replica",
        description="Make another member the leader (default: the most caught-up follower).",
        handler=_cmd_transfer_leader,
    )
    transfer.add_argument("target", metavar="ID", nargs="?", default="",
                          help="node id of the new leader (optional)")
    _command(
        cluster_subs, "digest", 2, "compare the state digest of every replica",
        description="Ask every server in the --server list for the digest of its state.\n"
                    "Exits 1 when two replicas at the same applied index have different digests,\n"
                    "or when a server does not answer.",
        handler=_cmd_digest,
    )
    return root


# ---- shared rendering ----------------------------------------------------------------------


def _emit(text: str) -> None:
    sys.stdout.write(text)


def _emit_data(ctx: Context, data: Any) -> None:
    _emit(output.dump(data, ctx.output))


def _command_summary(spec: jobs_pb2.JobSpec) -> str:
    kind = spec.command.WhichOneof("kind") if spec.HasField("command") else None
    if kind == "argv":
        text = shlex.join(spec.command.argv.args)
    elif kind == "shell":
        lines = [line for line in spec.command.shell.splitlines() if line.strip()]
        text = "sh -c " + shlex.quote(lines[0].strip() if lines else "")
        if len(lines) > 1:
            text += " …"
    else:
        text = "-"
    return output.truncate(output.sanitize_cell(text), COMMAND_COLUMN_WIDTH)


def _jobs_table(versions: Sequence[jobs_pb2.JobVersion]) -> str:
    rows = [
        (v.spec.name, v.spec.domain or "-", v.version, _command_summary(v.spec), output.format_ms(v.created_ms))
        for v in versions
    ]
    return output.render_table(("NAME", "DOMAIN", "VERSION", "COMMAND", "UPDATED"), rows)


def _describe(v: jobs_pb2.JobVersion) -> str:
    spec = v.spec
    lines: list[tuple[str, str]] = [
        ("Name", spec.name),
        ("Domain", spec.domain or "-"),
        ("Version", str(v.version)),
        ("Updated", output.format_ms(v.created_ms)),
        ("Raft index", str(v.raft_index)),
    ]
    if v.deleted:
        lines.append(("Deleted", "yes (this version is a tombstone)"))
    lines.append(("Description", spec.description or "-"))
    labels = [f"{k}={val}" for k, val in sorted(spec.labels.items())]
    lines.append(("Labels", labels[0] if labels else "<none>"))
    lines += [("", label) for label in labels[1:]]
    kind = spec.command.WhichOneof("kind") if spec.HasField("command") else None
    script_block: list[str] = []
    if kind == "argv":
        lines.append(("Command", shlex.join(spec.command.argv.args)))
    elif kind == "shell":
        lines.append(("Script", "(run by /bin/sh -c)"))
        script_block = ["  " + line for line in spec.command.shell.splitlines()]
    else:
        lines.append(("Command", "-"))
    env = [f"{k}={val}" for k, val in sorted(spec.env.items())]
    env_lines = [("Env", env[0] if env else "<none>")] + [("", item) for item in env[1:]]
    tail = [
        ("Working dir", spec.working_dir or "-"),
        ("Timeout", f"{output.format_duration(spec.timeout_seconds)} ({spec.timeout_seconds}s)"
         if spec.timeout_seconds else "none"),
    ]

    def fmt(pairs: list[tuple[str, str]]) -> list[str]:
        # Values keep their newlines out of the key column: each becomes a continuation line.
        out = []
        for key, value in pairs:
            label = f"{key}:" if key else ""
            for i, part in enumerate(value.splitlines() or [""]):
                out.append(f"{label if i == 0 else '':<13}{part}".rstrip())
        return out

    text = fmt(lines) + script_block + fmt(env_lines + tail)
    return "\n".join(text) + "\n"


def _selector(pairs: list[list[tuple[str, str]]]) -> dict[str, str]:
    return {key: value for group in pairs for key, value in group}


# ---- command handlers ----------------------------------------------------------------------


def _cmd_server(args: argparse.Namespace, ctx: Context) -> int:
    # Imported here so that client-side commands don't load the server's dependencies.
    from wloadctl.server.main import run_server

    return run_server(args.config, args.insecure, args.log_format, args.log_level)


def _cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.cli.up import up

    return up(args.replicas, args.base_port, args.data_dir, args.insecure, args.log_format)


def _cmd_apply(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.model.jobs import load_paths

    specs = load_paths(args.file)
    response = ctx.client().apply_jobs(specs, idempotency_key=args.idempotency_key)
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    for ref in response.jobs:
        if not ref.changed:
            verb = "unchanged"
        elif ref.version == 1:
            verb = "created"
        else:
            verb = "configured"
        _emit(f"job/{ref.name} {verb} (version {ref.version})\n")
    return EXIT_OK


def _cmd_get_jobs(args: argparse.Namespace, ctx: Context) -> int:
    page_size = min(args.limit, LIST_PAGE_SIZE) if args.limit else LIST_PAGE_SIZE
    jobs = ctx.client().iter_jobs(args.domain, _selector(args.selector), page_size=page_size)
    versions = list(islice(jobs, args.limit) if args.limit else jobs)
    if ctx.output != "table":
        _emit_data(ctx, {"jobs": [output.message_to_dict(v) for v in versions]})
        return EXIT_OK
    if not versions:
        print("No jobs found.", file=sys.stderr)
        return EXIT_OK
    _emit(_jobs_table(versions))
    return EXIT_OK


def _cmd_get_job(args: argparse.Namespace, ctx: Context) -> int:
    version = ctx.client().get_job(args.name, args.version)
    if args.export:
        from wloadctl.model.jobs import spec_to_dict

        document = spec_to_dict(version.spec)
        _emit(output.dump(document, "json" if ctx.output == "json" else "yaml"))
        return EXIT_OK
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(version))
        return EXIT_OK
    _emit(_jobs_table([version]))
    return EXIT_OK


def _cmd_describe_job(args: argparse.Namespace, ctx: Context) -> int:
    version = ctx.client().get_job(args.name, args.version)
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(version))
        return EXIT_OK
    _emit(_describe(version))
    return EXIT_OK


def _cmd_delete_job(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().delete_job(args.name, idempotency_key=args.idempotency_key)
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    name = response.job.name or args.name
    if response.job.changed:
        _emit(f"job/{name} deleted (version {response.job.version})\n")
    else:
        _emit(f"job/{name} unchanged (already deleted)\n")
    return EXIT_OK


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _cmd_cluster_status(args: argparse.Namespace, ctx: Context) -> int:
    status = ctx.client().status()
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(status))
        return EXIT_OK
    leader = f"{status.leader_id} ({status.leader_api_address or 'API address unknown'})" \
        if status.leader_id else "none (no leader elected)"
    header = [
        ("leader", leader),
        ("term", str(status.term)),
        ("commit index", str(status.commit_index)),
        ("applied index", str(status.applied_index)),
        ("quorum", _yes_no(status.has_quorum)),
        ("answered by", f"{status.self_id or '?'} ({status.role or 'unknown'})"),
    ]
    lines = [f"{key + ':':<15}{value}" for key, value in header]
    # Match index and lag are tracked by the leader only; a follower's zeros would mislead.
    on_leader = status.role == "leader"
    rows = [
        (m.id, m.raft_address or "-", m.api_address or "-", m.role or "unknown", _yes_no(m.connected),
         m.match_index if on_leader else "-", m.lag if on_leader else "-")
        for m in status.members
    ]
    table = output.render_table(
        ("ID", "RAFT ADDRESS", "API ADDRESS", "ROLE", "CONNECTED", "MATCH INDEX", "LAG"), rows)
    _emit("\n".join(lines) + "\n\n" + table)
    return EXIT_OK


def _members_line(response: Any) -> str:
    ids = [m.id for m in response.members]
    return f"{len(ids)} members: {', '.join(ids)}" if ids else "no members"


def _answer(ctx: Context, response: Any, line: str) -> int:
    """The response as a document with -o json|yaml, else one human line."""
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(response))
    else:
        _emit(line + "\n")
    return EXIT_OK


def _cmd_add_member(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().add_member(args.id, args.raft_address, args.api_address or "")
    return _answer(ctx, response, f"member/{args.id} added ({_members_line(response)})")


def _cmd_remove_member(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().remove_member(args.id)
    return _answer(ctx, response, f"member/{args.id} removed ({_members_line(response)})")


def _cmd_transfer_leader(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().transfer_leader(args.target)
    return _answer(ctx, response, f"leader is now {response.leader_id}")


def _cmd_digest(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    results: list[dict[str, Any]] = []
    for server in servers_from_env(ctx.servers or None):
        entry: dict[str, Any] = {"server": server, "self_id": "", "applied_index": 0, "digest": "", "error": ""}
        try:
            reply = client.digest(server)
        except grpc.RpcError as error:
            # Per server, so "cannot reach the cluster" would overstate it.
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                entry["error"] = f"unreachable: {error.details() or 'no answer'}"
            else:
                entry["error"] = _rpc_error_message(error)
        else:
            entry.update(self_id=reply.self_id, applied_index=reply.applied_index, digest=reply.digest)
        results.append(entry)

    by_index: dict[int, dict[str, list[str]]] = {}
    for entry in results:
        if not entry["error"]:
            who = entry["self_id"] or entry["server"]
            by_index.setdefault(entry["applied_index"], {}).setdefault(entry["digest"], []).append(who)
    divergent = {index: digests for index, digests in by_index.items() if len(digests) > 1}
    comparable = any(sum(len(w) for w in digests.values()) > 1 for digests in by_index.values())
    failed = [e for e in results if e["error"]]

    if ctx.output != "table":
        _emit_data(ctx, {"servers": results, "consistent": not divergent, "comparable": comparable})
    else:
        rows = [
            (e["server"], e["self_id"] or "-", e["applied_index"] if not e["error"] else "-",
             e["digest"] or "-", e["error"] or "ok")
            for e in results
        ]
        _emit(output.render_table(("SERVER", "ID", "APPLIED INDEX", "DIGEST", "STATUS"), rows))

    for index, digests in sorted(divergent.items()):
        groups = "; ".join(f"{', '.join(who)}: {digest[:16]}" for digest, who in digests.items())
        _error(f"digests differ at applied index {index}: {groups}")
    if failed:
        _error(f"{len(failed)} of {len(results)} servers did not answer")
    if divergent or failed:
        return EXIT_FAILURE
    if not comparable and len(results) > 1:
        print("note: no two replicas are at the same applied index yet; run again to compare",
              file=sys.stderr)
    return EXIT_OK


# ---- errors --------------------------------------------------------------------------------


def _error(message: str) -> None:
    # A multi-line message (several validation errors) stays one `error:` per line, so that
    # `grep '^error:'` and line-based log collectors see every line.
    for line in str(message).splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def _rpc_error_message(error: grpc.RpcError) -> str:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else ""
    return _status_message(code, details or "")


def _status_message(code: grpc.StatusCode, message: str) -> str:
    message = message or code.name.lower().replace("_", " ")
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach the cluster: {message}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"request timed out (see --timeout): {message}"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"not authenticated: {message}"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied: {message}"
    if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED):
        return f"server error ({code.name}): {message}"
    # INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION...: the server's message says it all.
    return message


def _describe_os_error(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    ctx = _merge_globals(args)
    handler: Handler = args.handler
    try:
        return handler(args, ctx)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): quietly stop, and keep Python's own flush at exit
        # from raising again on the dead pipe.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_BROKEN_PIPE
    except ClientError as error:
        _error(_status_message(error.code, error.message))
        return EXIT_FAILURE
    except grpc.RpcError as error:
        _error(_rpc_error_message(error))
        return EXIT_FAILURE
    except ValueError as error:
        # SpecErrors renders one line per validation error; other ValueErrors are bad input.
        _error(str(error))
        return EXIT_FAILURE
    except OSError as error:
        _error(_describe_os_error(error))
        return EXIT_FAILURE
    except Exception as error:
        # A bug, not a user mistake. The replica process (`server`) writes to a log that is
        # read after the fact, so it keeps the traceback; the CLI shows one line.
        if os.environ.get(DEBUG_ENV) or args.verb == "server":
            traceback.print_exc()
        _error(f"internal error: {type(error).__name__}: {error}")
        return EXIT_FAILURE
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())

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
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NoReturn

import grpc

import wloadctl
from wloadctl.cli import output
from wloadctl.cli.certs import add_certs_parser
from wloadctl.client import FINAL_RUN_STATES, Client, ClientError, ClusterUnavailableError, servers_from_env
from wloadctl.proto.v1 import api_pb2, jobs_pb2, runs_pb2

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
DEFAULT_WAIT_TIMEOUT = 3600.0
WAIT_POLL_SECONDS = 0.5  # `run --wait`
LOGS_POLL_SECONDS = 0.5  # `logs -f`
DESCRIBE_OUTPUT_LINES = 20

RS = runs_pb2.RunState
# RunState names a user may pass to --state (RUN_STATE_UNSPECIFIED means "any" and is not one).
RUN_STATE_NAMES = tuple(v.name for v in RS.DESCRIPTOR.values if v.name != "RUN_STATE_UNSPECIFIED")

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


def _param(text: str) -> tuple[str, str]:
    """`key=value` for `run --param`; the value may be empty and may contain '='."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key, value


def _run_state(text: str) -> int:
    name = text.strip().upper().replace("-", "_")
    if name not in RUN_STATE_NAMES:
        valid = ", ".join(n.lower() for n in RUN_STATE_NAMES)
        raise argparse.ArgumentTypeError(f"unknown run state {text!r} (valid: {valid})")
    return RS.Value(name)


def _non_blank(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, got {text!r}")
    return text


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
            parser, name, meant = notes[0] if self.global_options.intersection(notes[0][2]) else notes[-1]
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
  wloadctl run nightly-backup --wait           # start a run and wait for its end
  wloadctl get runs --job nightly-backup --state failed
  wloadctl logs r12 -f                         # follow a run's output
  wloadctl cluster status

environment:
  WLOADCTL_SERVER   comma-separated replica API addresses, used when --server is not given
  WLOADCTL_DEBUG    set to 1 to print a traceback with unexpected errors

exit codes: 0 ok, 1 the request failed (or `run --wait` did not succeed), 2 usage error,
130 interrupted.
See docs/cli.md for the JSON output of every command.
"""


def build_parser() -> argparse.ArgumentParser:
    root = _Parser(
        prog="wloadctl",
        description="Control a WLOADCTL cluster: apply and inspect job definitions, run jobs, manage replicas.",
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
    up.add_argument("--agents", type=_int_at_least(0), default=1, metavar="N",
                    help="execution agents to start (default 1)")

    # -- agent
    agent = _command(
        verbs, "agent", 1, "run an execution agent (connects to every replica, runs dispatched work)",
        description="Run an execution agent in the foreground until SIGTERM/SIGINT. It keeps a stream to\n"
                    "every replica, accepts work only from the current leader (epoch fencing) and applies\n"
                    "its orphan policy when it loses the leader for longer than its lease.",
        epilog="example config: agent/agent.example.toml",
        handler=_cmd_agent,
    )
    agent.add_argument("--config", required=True, metavar="FILE", help="agent config file (TOML)")
    agent.add_argument("--insecure", action="store_true",
                       help="connect without TLS (development only: replicas cannot verify this agent)")
    agent.add_argument("--log-format", choices=("json", "human"), default=None,
                       help="log line format (overrides the config's [log] format)")
    agent.add_argument("--log-level", type=str.lower, metavar="LEVEL", default=None,
                       choices=("debug", "info", "warning", "error"), help="debug, info, warning or error")
    add_certs_parser(verbs)

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
    get = _command(verbs, "get", 1, "list or show jobs, runs and agents")
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
    get_runs = _command(
        get_subs, "runs", 2, "list runs, newest first",
        description="List runs, newest first, optionally only those of one job or in one state.",
        epilog="examples:\n  wloadctl get runs --job nightly-backup --limit 10\n"
               "  wloadctl get runs --state failed -o json | jq -r '.runs[].run_id'\n\n"
               f"states: {', '.join(n.lower() for n in RUN_STATE_NAMES)}",
        handler=_cmd_get_runs,
    )
    get_runs.add_argument("--job", default="", metavar="J", help="only runs of this job")
    get_runs.add_argument("--state", type=_run_state, default=0, metavar="S",
                          help="only runs in this state (case-insensitive, e.g. running, failed)")
    get_runs.add_argument("--limit", type=_int_at_least(1), default=None, metavar="N",
                          help="show at most N runs (default: all)")
    get_run = _command(
        get_subs, "run", 2, "show one run",
        description="Show one run as a table row (the full document with -o json|yaml).",
        handler=_cmd_get_run,
    )
    get_run.add_argument("run_id", metavar="ID", help="run id (e.g. r12)")
    _command(
        get_subs, "agents", 2, "list the agents and their slots",
        description="List every registered agent as the leader sees it: labels, capacity, running\n"
                    "attempts and free slots, whether it is connected to the answering replica and has\n"
                    "confirmed the leader's epoch, and when it was lost. A follower asks the leader;\n"
                    "when no leader can be reached it answers with its own view and a note says so.",
        handler=_cmd_get_agents,
    )

    # -- describe
    describe = _command(verbs, "describe", 1, "show a job or a run in detail")
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
    describe_run = _command(
        describe_subs, "run", 2, "show one run in detail",
        description="Show a run in a readable form: its job, state, attempt, agent, times, exit code,\n"
                    f"every state transition with its cause, and the last {DESCRIBE_OUTPUT_LINES} lines of output\n"
                    "kept in the cluster state. With -o json|yaml this prints the same document as `get run`.",
        handler=_cmd_describe_run,
    )
    describe_run.add_argument("run_id", metavar="ID", help="run id (e.g. r12)")

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

    # -- run
    run = _command(
        verbs, "run", 1, "start a run of a job",
        description="Start a run of the latest version of a job. Without --wait this prints the new\n"
                    "run's id and returns at once. With --wait it then waits for the run's final state and\n"
                    "exits 0 only if the run SUCCEEDED (1 for FAILED, TIMED_OUT, KILLED, LOST, SKIPPED,\n"
                    "or when --wait-timeout runs out; the run itself keeps going).",
        epilog="examples:\n  wloadctl run nightly-backup\n"
               "  wloadctl run report --param day=2024-05-01 --param mode=full --wait --wait-timeout 600\n"
               "  wloadctl run report --idempotency-key report-2024-05-01   # started at most once",
        handler=_cmd_run,
    )
    run.add_argument("job", metavar="JOB", help="job name")
    run.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE",
                     help="a parameter of this run; repeatable (a later KEY replaces an earlier one)")
    run.add_argument("--idempotency-key", default="", metavar="KEY",
                     help="retrying with the same key starts at most one run (default: random)")
    run.add_argument("--wait", action="store_true", help="wait for the final state; exit 0 only if it SUCCEEDED")
    run.add_argument("--wait-timeout", type=_positive_float, default=None, metavar="SECONDS",
                     help=f"with --wait: give up waiting after this long (default {DEFAULT_WAIT_TIMEOUT:g})")
    run.set_defaults(parser=run)

    # -- logs
    logs = _command(
        verbs, "logs", 1, "print the output of a run",
        description="Print the output (stdout and stderr interleaved) of a run's attempt as raw bytes.\n"
                    "The full log is read from the agent that ran the attempt. When that agent is\n"
                    "unreachable, only the capped tail kept in the cluster state is available: if it holds\n"
                    "the whole output a note on stderr says so (exit 0), else what is missing is an error\n"
                    "(exit 1). With -o json|yaml the output is one document (data base64-encoded).",
        epilog="examples:\n  wloadctl logs r12\n"
               "  wloadctl logs r12 -f              # until the attempt ends (Ctrl-C stops)\n"
               "  wloadctl logs r12 --attempt 1     # an earlier attempt",
        handler=_cmd_logs,
    )
    logs.add_argument("run_id", metavar="RUN", help="run id (e.g. r12)")
    logs.add_argument("-f", "--follow", action="store_true",
                      help=f"keep printing new output (polled every {LOGS_POLL_SECONDS:g}s) until the attempt ends")
    logs.add_argument("--attempt", type=_int_at_least(1), default=0, metavar="N",
                      help="which attempt (default: the run's current one)")

    # -- kill
    kill = _command(
        verbs, "kill", 1, "kill a run",
        description="Request that a run be killed. A run waiting for an agent ends KILLED at once; a\n"
                    "running one is killed by its agent, which then reports the final state.",
        handler=_cmd_kill,
    )
    kill.add_argument("run_id", metavar="RUN", help="run id (e.g. r12)")
    kill.add_argument("--idempotency-key", default="", metavar="KEY",
                      help="retrying with the same key requests the kill at most once (default: random)")

    # -- cluster
    cluster = _command(verbs, "cluster", 1, "inspect and change the replica set")
    cluster_subs = _subparsers(cluster, "action", "actions")
    status = _command(
        cluster_subs, "status", 2, "show the leader, indexes and every member",
        description="Show the cluster as the leader sees it: term, commit and applied index, the\n"
                    "epoch and its takeover phase, agent quorum, and each member's role, connectivity\n"
                    "and replication lag.",
        epilog="examples:\n  wloadctl cluster status\n"
               "  wloadctl cluster status --wait 120   # after a restart or a membership change",
        handler=_cmd_cluster_status,
    )
    status.add_argument("--wait", type=_positive_float, default=None, metavar="SECONDS",
                        help="first wait (at most SECONDS) until a leader dispatches and every member is "
                             "connected and caught up; exit 1 if it does not happen in time")
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
    force = _command(
        cluster_subs, "force-dispatch", 2, "dispatch runs without an agent quorum (operator override)",
        description="Let the leader dispatch runs in the current epoch although too few agents have\n"
                    "confirmed it (takeover phase degraded). Runs on unconfirmed agents may then still\n"
                    "be running elsewhere: use it only when those agents are known to be gone. The\n"
                    "override, the operator and the reason are recorded in the replicated state.",
        epilog='example:\n  wloadctl cluster force-dispatch --reason "rack 4 powered off, agents a7-a9 are gone"',
        handler=_cmd_force_dispatch,
    )
    force.add_argument("--reason", required=True, type=_non_blank, metavar="TEXT",
                       help="why (required; recorded in the state)")
    force.add_argument("--operator", default=None, metavar="NAME",
                       help="who (default: $USER)")
    _command(
        cluster_subs, "digest", 2, "compare the state digest of every replica",
        description="Ask every server in the --server list for the digest of its state.\n"
                    "Exits 1 when two replicas at the same applied index have different digests,\n"
                    "or when a server does not answer.",
        handler=_cmd_digest,
    )
    parsers = _parsers(root)
    options = frozenset(o for p in parsers for o in p._option_string_actions)
    common = frozenset.intersection(*(frozenset(p._option_string_actions) for p in parsers))
    noted: list[tuple[_Parser, str, list[str]]] = []
    for p in parsers:
        if isinstance(p, _Parser):
            p.all_options, p.global_options, p.abbreviations = options, common, noted
    root.is_root = True
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
    elif spec.task_type == jobs_pb2.EMPTY:
        text = "(empty)"
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
    task_type = _enum_name(jobs_pb2.TaskType, spec.task_type).lower()
    lines.append(("Type", "empty (runs nothing)" if spec.task_type == jobs_pb2.EMPTY else task_type))
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
        ("Run as", spec.run_as or "-"),
        ("Timeout", f"{output.format_duration(spec.timeout_seconds)} ({spec.timeout_seconds}s)"
         if spec.timeout_seconds else "none"),
    ]
    selector = [f"{k}={val}" for k, val in sorted(spec.agent_selector.items())]
    tail.append(("Selector", selector[0] if selector else "<any agent>"))
    tail += [("", item) for item in selector[1:]]
    policy = _enum_name(jobs_pb2.LostPolicy, spec.lost_policy).lower()
    tail.append(("Lost policy", f"{policy} (when the agent running it is lost)"))
    tail.append(("Attempts", f"{spec.max_attempts}" if spec.max_attempts else "3 (default)"))

    text = _fmt_pairs(lines, 13) + script_block + _fmt_pairs(env_lines + tail, 13)
    return "\n".join(text) + "\n"


def _selector(pairs: list[list[tuple[str, str]]]) -> dict[str, str]:
    return {key: value for group in pairs for key, value in group}


def _enum_name(enum: Any, value: int) -> str:
    """The enum value's name, or the number when this client does not know it."""
    return enum.Name(value) if value in enum.values() else str(value)


def _state(value: int) -> str:
    """A run state for one-line messages: `queued`, `succeeded`, `timed_out`."""
    return _enum_name(RS, value).lower()


def _runs_table(runs: Sequence[runs_pb2.Run]) -> str:
    rows = [
        (r.run_id, r.job_name, _enum_name(RS, r.state), r.attempt or "-", r.agent_id or "-",
         r.exit_code if r.finished_ms else "-", output.format_ms(r.created_ms))
        for r in runs
    ]
    return output.render_table(("RUN", "JOB", "STATE", "ATTEMPT", "AGENT", "EXIT", "CREATED"), rows)


def _fmt_pairs(pairs: list[tuple[str, str]], width: int) -> list[str]:
    # Values keep their newlines out of the key column: each becomes a continuation line.
    out = []
    for key, value in pairs:
        label = f"{key}:" if key else ""
        for i, part in enumerate(value.splitlines() or [""]):
            out.append(f"{label if i == 0 else '':<{width}}{part}".rstrip())
    return out


def _describe_run(run: runs_pb2.Run) -> str:
    job = f"{run.job_name} (version {run.job_version})" if run.job_version else run.job_name
    pairs: list[tuple[str, str]] = [
        ("Run", run.run_id),
        ("Job", job),
        ("State", _enum_name(RS, run.state)),
        ("Attempt", str(run.attempt) if run.attempt else "- (not dispatched yet)"),
        ("Agent", run.agent_id or "-"),
        ("Epoch", str(run.epoch) if run.epoch else "-"),
    ]
    params = [f"{k}={v}" for k, v in sorted(run.params.items())]
    pairs.append(("Params", params[0] if params else "<none>"))
    pairs += [("", p) for p in params[1:]]
    pairs += [
        ("Created", output.format_ms(run.created_ms)),
        ("Started", output.format_ms(run.started_ms)),
        ("Finished", output.format_ms(run.finished_ms)),
        ("Exit code", str(run.exit_code) if run.finished_ms else "-"),
        ("Error", run.error or "-"),
        ("Kill requested", _yes_no(run.kill_requested)),
    ]
    if run.pid:
        pairs.insert(5, ("PID", str(run.pid)))
    text = _fmt_pairs(pairs, 16)
    text.append("")
    text.append("Transitions:")
    rows = [
        (output.format_ms(t.time_ms), _enum_name(RS, t.state), t.attempt or "-", t.agent_id or "-",
         t.epoch or "-", t.cause or "-")
        for t in run.transitions
    ]
    table = output.render_table(("TIME", "STATE", "ATTEMPT", "AGENT", "EPOCH", "CAUSE"), rows)
    text += ["  " + line for line in table.splitlines()]
    text.append("")
    if run.output_tail:
        lines = output.tail_lines(run.output_tail, DESCRIBE_OUTPUT_LINES)
        gap = f", {run.output_gap_bytes} of them never reached the cluster state" if run.output_gap_bytes else ""
        text.append(f"Output (last {len(lines)} lines; {run.output_bytes} bytes in all{gap}, "
                    "`wloadctl logs` prints everything):")
        text += ["  " + line for line in lines]
    else:
        text.append(f"Output: none kept ({run.output_bytes} bytes in all)")
    return "\n".join(text) + "\n"


def _agents_table(agents: Sequence[api_pb2.AgentStatus]) -> str:
    rows = []
    for status in sorted(agents, key=lambda a: a.agent.agent_id):
        agent = status.agent
        labels = ",".join(f"{k}={v}" for k, v in sorted(agent.labels.items())) or "-"
        heard = output.format_ago(status.last_heard_s) if status.last_heard_s > 0 or status.connected else "-"
        rows.append((agent.agent_id, output.truncate(labels, COMMAND_COLUMN_WIDTH), agent.capacity, status.running,
                     status.free_slots, _yes_no(status.connected), _yes_no(status.confirmed), heard,
                     output.format_ms(agent.lost_ms) if agent.lost_ms else "no"))
    headers = ("AGENT", "LABELS", "CAPACITY", "RUNNING", "FREE", "CONNECTED", "CONFIRMED", "LAST-HEARD", "LOST")
    return output.render_table(headers, rows)


# ---- command handlers ----------------------------------------------------------------------


def _cmd_server(args: argparse.Namespace, ctx: Context) -> int:
    # Imported here so that client-side commands don't load the server's dependencies.
    from wloadctl.server.main import run_server

    return run_server(args.config, args.insecure, args.log_format, args.log_level)


def _cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.cli.up import up

    return up(args.replicas, args.base_port, args.data_dir, args.insecure, args.log_format, args.agents)


def _cmd_agent(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.agent.process import run_agent

    return run_agent(args.config, args.insecure, args.log_format, args.log_level)


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


def _list(ctx: Context, items: Any, limit: int, key: str, table: Callable[[list[Any]], str]) -> int:
    """A listing: `limit` items at most, as {key: [...]} with -o json|yaml, else a table."""
    chosen = list(islice(items, limit) if limit else items)
    if ctx.output != "table":
        _emit_data(ctx, {key: [output.message_to_dict(m) for m in chosen]})
    elif not chosen:
        print(f"No {key} found.", file=sys.stderr)
    else:
        _emit(table(chosen))
    return EXIT_OK


def _page_size(limit: int) -> int:
    return min(limit, LIST_PAGE_SIZE) if limit else LIST_PAGE_SIZE


def _cmd_get_jobs(args: argparse.Namespace, ctx: Context) -> int:
    jobs = ctx.client().iter_jobs(args.domain, _selector(args.selector), page_size=_page_size(args.limit))
    return _list(ctx, jobs, args.limit, "jobs", _jobs_table)


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


def _cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    if args.wait_timeout is not None and not args.wait:
        args.parser.error("--wait-timeout needs --wait")
    client = ctx.client()
    run = client.trigger_run(args.job, dict(args.param), idempotency_key=args.idempotency_key)
    started = f"run/{run.run_id} {_state(run.state)} (job {run.job_name or args.job})"
    if not args.wait:
        return _answer(ctx, run, started)
    if ctx.output == "table":
        _emit(started + "\n")
        sys.stdout.flush()  # the run id, while waiting
    timeout = args.wait_timeout if args.wait_timeout is not None else DEFAULT_WAIT_TIMEOUT
    try:
        final = client.wait_run(run.run_id, timeout, poll=WAIT_POLL_SECONDS)
    except TimeoutError as error:
        _error(f"{error}; the run goes on (see `wloadctl get run {run.run_id}`)")
        return EXIT_FAILURE
    _answer(ctx, final, f"run/{final.run_id} {_state(final.state)} (exit {final.exit_code})")
    if final.state == RS.SUCCEEDED:
        return EXIT_OK
    cause = final.error or (final.transitions[-1].cause if final.transitions else "")
    _error(f"run {final.run_id} ended {_enum_name(RS, final.state)}" + (f": {cause}" if cause else ""))
    return EXIT_FAILURE


def _cmd_get_runs(args: argparse.Namespace, ctx: Context) -> int:
    runs = ctx.client().iter_runs(args.job, args.state, page_size=_page_size(args.limit))
    return _list(ctx, runs, args.limit, "runs", _runs_table)


def _cmd_get_run(args: argparse.Namespace, ctx: Context) -> int:
    run = ctx.client().get_run(args.run_id)
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(run))
        return EXIT_OK
    _emit(_runs_table([run]))
    return EXIT_OK


def _cmd_describe_run(args: argparse.Namespace, ctx: Context) -> int:
    run = ctx.client().get_run(args.run_id)
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(run))
        return EXIT_OK
    _emit(_describe_run(run))
    return EXIT_OK


def _emit_bytes(data: bytes) -> None:
    """Raw bytes to stdout, after any text already written (binary-safe: no decoding)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only replacement of stdout
        sys.stdout.write(data.decode("utf-8", errors="replace"))
        sys.stdout.flush()
        return
    buffer.write(data)
    buffer.flush()


def _cmd_logs(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    raw = ctx.output == "table"
    collected: list[bytes] = []
    offset = 0
    noted = False
    while True:
        page = client.get_run_logs(args.run_id, args.attempt, offset)
        if page.source == "state" and not noted and not page.missing:  # else the error at the end says more
            noted = True
            print(f"note: the agent of run {args.run_id} is unreachable: only the capped tail of its output "
                  "kept in the cluster state is available", file=sys.stderr)
        if page.data:
            if raw:
                _emit_bytes(page.data)
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
        time.sleep(LOGS_POLL_SECONDS)
    if not raw:
        document = api_pb2.GetRunLogsResponse(data=b"".join(collected), next_offset=offset, complete=page.complete,
                                              source=page.source, state=page.state, agent_id=page.agent_id,
                                              missing=page.missing)
        _emit_data(ctx, output.message_to_dict(document))
    if page.source == "state" and page.missing:
        agent = f" ({page.agent_id})" if page.agent_id else ""
        _error(f"the agent of run {args.run_id}{agent} is unreachable and the output printed is incomplete: "
               f"{page.missing}")
        return EXIT_FAILURE
    return EXIT_OK


def _cmd_kill(args: argparse.Namespace, ctx: Context) -> int:
    run = ctx.client().kill_run(args.run_id, idempotency_key=args.idempotency_key)
    return _answer(ctx, run, f"run/{run.run_id or args.run_id} kill requested (state {_state(run.state)})")


def _cmd_get_agents(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().list_agents()
    if ctx.output != "table":
        _emit_data(ctx, output.message_to_dict(response))
        return EXIT_OK
    if response.role and response.role != "leader":
        # A follower answers itself only when it could not ask the leader; its CONFIRMED column is all "no".
        print(f"note: answered by {response.answered_by or '?'} ({response.role}): no leader could be reached; "
              "CONFIRMED is known on the leader only", file=sys.stderr)
    if not response.agents:
        print("No agents found.", file=sys.stderr)
        return EXIT_OK
    _emit(_agents_table(response.agents))
    return EXIT_OK


def _cmd_force_dispatch(args: argparse.Namespace, ctx: Context) -> int:
    operator = args.operator if args.operator is not None else os.environ.get("USER", "")
    response = ctx.client().force_dispatch(args.reason, operator)
    return _answer(ctx, response, f"dispatching forced for epoch {response.epoch}")


def cluster_not_ready(status: api_pb2.ClusterStatus) -> list[str]:
    """Why the cluster is not healthy yet, as the leader reports it ([] = healthy): a leader that
    dispatches, and every member connected to it with nothing left to replicate."""
    if not status.leader_id:
        return ["no leader elected"]
    if status.role != "leader":
        return [f"the leader {status.leader_id} did not answer (this is {status.self_id}'s view)"]
    reasons = []
    if status.takeover_phase != "active":
        reasons.append(f"the leader is not dispatching yet (takeover phase {status.takeover_phase or 'unknown'})")
    for m in status.members:
        if not m.connected:
            reasons.append(f"{m.id} is not connected")
        elif m.lag:
            reasons.append(f"{m.id} is {m.lag} entries behind")
    return reasons


def _wait_ready(ctx: Context, seconds: float) -> tuple[api_pb2.ClusterStatus | None, list[str]]:
    deadline = time.monotonic() + seconds
    client = Client(ctx.servers or None, timeout=min(ctx.timeout, 2.0), retry_for=0)
    status: api_pb2.ClusterStatus | None = None
    reasons = ["no replica answered"]
    try:
        while True:
            try:
                status = client.status()
                reasons = cluster_not_ready(status)
            except (ClientError, grpc.RpcError) as error:
                reasons = [str(getattr(error, "message", None) or error)]
            if not reasons or time.monotonic() >= deadline:
                return status, reasons
            time.sleep(WAIT_POLL_SECONDS)
    finally:
        client.close()


def _cmd_cluster_status(args: argparse.Namespace, ctx: Context) -> int:
    reasons: list[str] = []
    if args.wait is not None:
        waited, reasons = _wait_ready(ctx, args.wait)
        status = waited if waited is not None else ctx.client().status()
    else:
        status = ctx.client().status()
    code = _print_status(ctx, status)
    if reasons:
        _error(f"the cluster is not ready after {args.wait:g}s: {'; '.join(reasons)}")
        return EXIT_FAILURE
    return code


def _print_status(ctx: Context, status: api_pb2.ClusterStatus) -> int:
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
        ("epoch", str(status.epoch)),
        ("takeover", status.takeover_phase or "unknown"),
        ("agents", f"{status.agents_confirmed}/{status.agents_required} confirmed, "
                   f"{status.agents_registered} registered, {status.agents_connected} connected"),
    ]
    if status.dispatch_forced:
        header.append(("dispatch", "forced by an operator (no agent quorum needed)"))
    lines = [f"{key + ':':<15}{value}" for key, value in header]
    if status.takeover_phase == "degraded":
        lines.append(f"DEGRADED: no agent quorum ({status.agents_confirmed} of {status.agents_required} agents "
                     "confirmed the epoch); runs are not dispatched (see `wloadctl cluster force-dispatch`)")
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
    except ClusterUnavailableError as error:
        _error(error.message)  # complete already: what each server answered, or that it was unreachable
        return EXIT_FAILURE
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
        if os.environ.get(DEBUG_ENV) or args.verb in ("server", "agent"):
            traceback.print_exc()
        _error(f"internal error: {type(error).__name__}: {error}")
        return EXIT_FAILURE
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())

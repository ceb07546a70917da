"""`wloadctl server`, `agent` and `up`: the processes of a cluster, run from this command.

Their modules are imported by the handlers only, so that the client-side commands don't load
the server's and the agent's dependencies.
"""

from __future__ import annotations

import argparse
import os

from wloadctl.cli.context import Context
from wloadctl.cli.parser import Verbs, int_at_least


def register(verbs: Verbs) -> None:
    server = verbs.add(
        "server", "run one replica (the cluster's server process)",
        description="Run one replica of a WLOADCTL cluster in the foreground until SIGTERM/SIGINT.\n"
                    "The TOML config names this node, its addresses, data directory, cluster secret\n"
                    "and peers; `wloadctl up` writes such configs (see docs/cli.md).",
        handler=cmd_server,
    )
    server.add_argument("--config", required=True, metavar="FILE", help="replica config file (TOML)")
    server.add_argument("--insecure", action="store_true",
                        help="trusted networks only: plaintext API without authentication, agent port "
                             "without TLS, no cluster secret needed")
    server.add_argument("--log-format", choices=("json", "human"), default=None,
                        help="log line format (overrides the config's [log] format)")
    server.add_argument("--log-level", type=str.lower, metavar="LEVEL", default=None,
                        choices=("debug", "info", "warning", "error"),
                        help="debug, info, warning or error (overrides the config's [log] level)")

    up = verbs.add(
        "up", "run a local cluster on this machine until Ctrl-C",
        description="Start a local cluster of replica processes on 127.0.0.1 and keep it running\n"
                    "until Ctrl-C or SIGTERM. API ports are BASE..BASE+N-1, Raft ports BASE+100...\n"
                    "Data, configs (rN.toml), logs (rN.log) and the cluster secret live in --data-dir;\n"
                    "running `up` again with the same directory resumes the same cluster.",
        epilog="example:\n  wloadctl up --replicas 3 --data-dir /tmp/wl\n"
               "  export WLOADCTL_SERVER=127.0.0.1:18581,127.0.0.1:18582,127.0.0.1:18583",
        handler=cmd_up,
    )
    up.add_argument("--replicas", type=int, choices=(1, 3, 5), default=3,
                    help="number of replicas (default 3)")
    up.add_argument("--base-port", type=int_at_least(1), default=18581, metavar="PORT",
                    help="first API port (default 18581); Raft ports start at PORT+100")
    up.add_argument("--data-dir", default=os.path.join(".", "wloadctl-data"), metavar="DIR",
                    help="where data, configs, logs and the secret go (default ./wloadctl-data)")
    up.add_argument("--insecure", action="store_true",
                    help="trusted networks only: no TLS, no authentication, no cluster secret")
    up.add_argument("--log-format", choices=("human", "json"), default="human",
                    help="replica log format in the rN.log files (default human)")
    up.add_argument("--agents", type=int_at_least(0), default=1, metavar="N",
                    help="execution agents to start (default 1)")

    agent = verbs.add(
        "agent", "run an execution agent (connects to every replica, runs dispatched work)",
        description="Run an execution agent in the foreground until SIGTERM/SIGINT. It keeps a stream to\n"
                    "every replica, accepts work only from the current leader (epoch fencing) and applies\n"
                    "its orphan policy when it loses the leader for longer than its lease.",
        epilog="example config: agent/agent.example.toml",
        handler=cmd_agent,
    )
    agent.add_argument("--config", required=True, metavar="FILE", help="agent config file (TOML)")
    agent.add_argument("--insecure", action="store_true",
                       help="connect without TLS (development only: replicas cannot verify this agent)")
    agent.add_argument("--log-format", choices=("json", "human"), default=None,
                       help="log line format (overrides the config's [log] format)")
    agent.add_argument("--log-level", type=str.lower, metavar="LEVEL", default=None,
                       choices=("debug", "info", "warning", "error"), help="debug, info, warning or error")


def cmd_server(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.server.main import run_server

    return run_server(args.config, args.insecure, args.log_format, args.log_level)


def cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.cli.up import up

    return up(args.replicas, args.base_port, args.data_dir, args.insecure, args.log_format, args.agents)


def cmd_agent(args: argparse.Namespace, ctx: Context) -> int:
    from wloadctl.agent.process import run_agent

    return run_agent(args.config, args.insecure, args.log_format, args.log_level)

"""What an agent agrees to run: its ``allowed_run_as``, ``allowed_commands`` and ``allow_scripts``.

Pure (no I/O): the agent checks every assignment with :func:`refusal` before it spawns anything,
and placement (wloadctl/scheduler/placement.py) calls the same function on the policy the agent
advertised in its hello, so a run goes only to agents that will accept it.

Rules, for a job that runs a command (an EMPTY job runs nothing and is always accepted):

* runAs: a job without runAs runs as the agent's own user (``policy.user``) and is accepted.
  ``runAs: X`` is accepted when X is listed in ``allowed_run_as``, or when X is the agent's own
  user (nothing changes) unless X is root: root must always be listed.
* scripts run ``/bin/sh -c``: refused with ``allow_scripts = false``, and, when
  ``allowed_commands`` is set, unless /bin/sh matches it (a shell runs anything).
* secretEnv: only agents that say they receive secrets (older ones would run the job without them).
* ``allowed_commands`` (path globs; ``*`` and ``?`` stay within one path segment, ``**`` spans
  segments): argv[0] must be an absolute, normalised path matching one of them. A relative name
  would be looked up in a PATH the job itself may set, and ``..`` could climb out of an allowed
  directory. Environment variables of the dynamic loader (LD_*) are refused too: LD_PRELOAD
  would load other code into an allowed command.
"""

from __future__ import annotations

import functools
import posixpath
import re

from wloadctl.proto.v1 import jobs_pb2, runs_pb2

SHELL = "/bin/sh"  # what a script job runs (wloadctl/agent/executor.py)


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def command_allowed(path: str, globs: list[str] | tuple[str, ...]) -> bool:
    """Whether ``path`` (argv[0]) matches one of ``globs``; only absolute, normalised paths can."""
    if not path.startswith("/") or path.startswith("//") or posixpath.normpath(path) != path:
        return False
    return any(_glob(g).fullmatch(path) for g in globs)


def _listed(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(values) if values else "not set"


def refusal(policy: runs_pb2.AgentPolicy, spec: jobs_pb2.JobSpec) -> str:
    """Why an agent with ``policy`` refuses ``spec``; "" when it runs it."""
    if spec.task_type == jobs_pb2.EMPTY:
        return ""
    if spec.secret_env and not policy.secret_env:
        return "secretEnv needs an agent of a version that receives secrets: this one would run the job without them"
    allowed = list(policy.allowed_run_as)
    user = spec.run_as
    if user and user not in allowed and (user != policy.user or user == "root"):
        return f"runAs {user} is not allowed on this agent (allowed_run_as: {_listed(allowed)})"
    kind = spec.command.WhichOneof("kind")
    if kind == "shell" and not policy.allow_scripts:
        return "script jobs are not allowed on this agent (allow_scripts: false)"
    if not policy.restrict_commands:
        return ""
    commands = list(policy.allowed_commands)
    if kind == "shell":
        if not command_allowed(SHELL, commands):
            return (f"script jobs run {SHELL}, which is not allowed on this agent "
                    f"(allowed_commands: {_listed(commands)})")
    else:
        argv0 = spec.command.argv.args[0] if spec.command.argv.args else ""
        if not command_allowed(argv0, commands):
            hint = "" if argv0.startswith("/") and posixpath.normpath(argv0) == argv0 \
                else "; it must be an absolute, normalised path"
            return f"command {argv0} is not allowed on this agent (allowed_commands: {_listed(commands)}{hint})"
    loader = sorted(k for k in spec.env if k.startswith("LD_"))
    if loader:
        return f"env {loader[0]} is not allowed on this agent: with allowed_commands it could load other code"
    return ""

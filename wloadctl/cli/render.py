"""How each resource reads in a terminal: the tables and `describe` texts of jobs, runs, agents
and the cluster. Generic formatting (tables, times, JSON/YAML documents) is in output.py; with
-o json|yaml commands print documents and none of this is used."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from wloadctl.cli import output
from wloadctl.proto.v1 import api_pb2, jobs_pb2, runs_pb2

COMMAND_COLUMN_WIDTH = 60
DESCRIBE_OUTPUT_LINES = 20

RS = runs_pb2.RunState


def enum_name(enum: Any, value: int) -> str:
    """The enum value's name, or the number when this client does not know it."""
    return enum.Name(value) if value in enum.values() else str(value)


def state_name(value: int) -> str:
    """A run state for one-line messages: `queued`, `succeeded`, `timed_out`."""
    return enum_name(RS, value).lower()


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _fmt_pairs(pairs: list[tuple[str, str]], width: int) -> list[str]:
    # Values keep their newlines out of the key column: each becomes a continuation line.
    out = []
    for key, value in pairs:
        label = f"{key}:" if key else ""
        for i, part in enumerate(value.splitlines() or [""]):
            out.append(f"{label if i == 0 else '':<{width}}{part}".rstrip())
    return out


# ---- jobs ----------------------------------------------------------------------------------


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


def jobs_table(versions: Sequence[jobs_pb2.JobVersion]) -> str:
    rows = [
        (v.spec.name, v.spec.domain or "-", v.version, _command_summary(v.spec), output.format_ms(v.created_ms))
        for v in versions
    ]
    return output.render_table(("NAME", "DOMAIN", "VERSION", "COMMAND", "UPDATED"), rows)


def describe_job(v: jobs_pb2.JobVersion) -> str:
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
    task_type = enum_name(jobs_pb2.TaskType, spec.task_type).lower()
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
    policy = enum_name(jobs_pb2.LostPolicy, spec.lost_policy).lower()
    tail.append(("Lost policy", f"{policy} (when the agent running it is lost)"))
    tail.append(("Attempts", f"{spec.max_attempts}" if spec.max_attempts else "3 (default)"))

    text = _fmt_pairs(lines, 13) + script_block + _fmt_pairs(env_lines + tail, 13)
    return "\n".join(text) + "\n"


# ---- runs ----------------------------------------------------------------------------------


def runs_table(runs: Sequence[runs_pb2.Run]) -> str:
    rows = [
        (r.run_id, r.job_name, enum_name(RS, r.state), r.attempt or "-", r.agent_id or "-",
         r.exit_code if r.finished_ms else "-", output.format_ms(r.created_ms))
        for r in runs
    ]
    return output.render_table(("RUN", "JOB", "STATE", "ATTEMPT", "AGENT", "EXIT", "CREATED"), rows)


def describe_run(run: runs_pb2.Run) -> str:
    job = f"{run.job_name} (version {run.job_version})" if run.job_version else run.job_name
    pairs: list[tuple[str, str]] = [
        ("Run", run.run_id),
        ("Job", job),
        ("State", enum_name(RS, run.state)),
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
        ("Kill requested", yes_no(run.kill_requested)),
    ]
    if run.pid:
        pairs.insert(5, ("PID", str(run.pid)))
    text = _fmt_pairs(pairs, 16)
    text.append("")
    text.append("Transitions:")
    rows = [
        (output.format_ms(t.time_ms), enum_name(RS, t.state), t.attempt or "-", t.agent_id or "-",
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


# ---- agents --------------------------------------------------------------------------------


def agents_table(agents: Sequence[api_pb2.AgentStatus]) -> str:
    rows = []
    for status in sorted(agents, key=lambda a: a.agent.agent_id):
        agent = status.agent
        labels = ",".join(f"{k}={v}" for k, v in sorted(agent.labels.items())) or "-"
        heard = output.format_ago(status.last_heard_s) if status.last_heard_s > 0 or status.connected else "-"
        rows.append((agent.agent_id, output.truncate(labels, COMMAND_COLUMN_WIDTH), agent.capacity, status.running,
                     status.free_slots, yes_no(status.connected), yes_no(status.confirmed), heard,
                     output.format_ms(agent.lost_ms) if agent.lost_ms else "no"))
    headers = ("AGENT", "LABELS", "CAPACITY", "RUNNING", "FREE", "CONNECTED", "CONFIRMED", "LAST-HEARD", "LOST")
    return output.render_table(headers, rows)


# ---- cluster -------------------------------------------------------------------------------


def cluster_status(status: api_pb2.ClusterStatus) -> str:
    leader = f"{status.leader_id} ({status.leader_api_address or 'API address unknown'})" \
        if status.leader_id else "none (no leader elected)"
    header = [
        ("leader", leader),
        ("term", str(status.term)),
        ("commit index", str(status.commit_index)),
        ("applied index", str(status.applied_index)),
        ("quorum", yes_no(status.has_quorum)),
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
        (m.id, m.raft_address or "-", m.api_address or "-", m.role or "unknown", yes_no(m.connected),
         m.match_index if on_leader else "-", m.lag if on_leader else "-")
        for m in status.members
    ]
    table = output.render_table(
        ("ID", "RAFT ADDRESS", "API ADDRESS", "ROLE", "CONNECTED", "MATCH INDEX", "LAG"), rows)
    return "\n".join(lines) + "\n\n" + table


def digest_table(results: Sequence[dict[str, Any]]) -> str:
    """`cluster digest`: one row per server asked (its answer, or why there is none)."""
    rows = [
        (e["server"], e["self_id"] or "-", e["applied_index"] if not e["error"] else "-",
         e["digest"] or "-", e["error"] or "ok")
        for e in results
    ]
    return output.render_table(("SERVER", "ID", "APPLIED INDEX", "DIGEST", "STATUS"), rows)

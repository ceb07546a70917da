"""How each resource reads in a terminal: the tables and `describe` texts of jobs, runs, agents,
the cluster, users, roles, API keys, approvals and the audit log. Generic formatting (tables,
times, JSON/YAML documents) is in output.py; with -o json|yaml commands print documents and none
of this is used."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from wloadctl.cli import output
from wloadctl.model.auditfiles import actor_text, audit_result, source_ip, status_text  # noqa: F401 (one wording)
from wloadctl.proto.v1 import api_pb2, approval_pb2, audit_pb2, auth_pb2, jobs_pb2, runs_pb2
from wloadctl.security.permissions import Permission

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
    tail += schedule_pairs(spec)

    text = _fmt_pairs(lines, 13) + script_block + _fmt_pairs(env_lines + tail, 13)
    return "\n".join(text) + "\n"


_MISFIRE_NAMES = {jobs_pb2.MISFIRE_RUN_LATEST: "run-latest", jobs_pb2.MISFIRE_SKIP: "skip",
                  jobs_pb2.MISFIRE_RUN_ALL: "run-all"}
_OVERLAP_NAMES = {jobs_pb2.OVERLAP_ALLOW: "allow", jobs_pb2.OVERLAP_FORBID: "forbid",
                  jobs_pb2.OVERLAP_REPLACE: "replace", jobs_pb2.OVERLAP_BUFFER_ONE: "buffer-one",
                  jobs_pb2.OVERLAP_BUFFER_ALL: "buffer-all"}


def schedule_text(s: jobs_pb2.Schedule) -> str:
    kind = s.WhichOneof("kind")
    if kind == "cron":
        return f"cron {s.cron}"
    if kind == "every_seconds":
        return f"every {output.format_duration(s.every_seconds)}"
    if kind == "at_ms":
        return f"at {output.format_ms(s.at_ms)}"
    return "-"


def _event_text(t: jobs_pb2.EventTrigger) -> str:
    mapping = ", ".join(f"{k}<-{v}" for k, v in sorted(t.params.items()))
    return f"{t.name} (params {mapping})" if mapping else t.name


def schedule_pairs(spec: jobs_pb2.JobSpec) -> list[tuple[str, str]]:
    events = [_event_text(t) for t in spec.events]
    event_pairs = [("Events", events[0])] + [("", e) for e in events[1:]] if events else []
    if not spec.schedules:
        return [("Schedules", "<none> (runs only when triggered)"), *event_pairs]
    items = [schedule_text(s) for s in spec.schedules]
    pairs = [("Schedules", items[0] + ("  (SUSPENDED)" if spec.suspended else ""))] + [("", i) for i in items[1:]]
    pairs.append(("Time zone", spec.time_zone or "UTC"))
    if spec.start_ms or spec.end_ms:
        pairs.append(("Window", f"{output.format_ms(spec.start_ms) if spec.start_ms else '-'} .. "
                                f"{output.format_ms(spec.end_ms) if spec.end_ms else '-'}"))
    if spec.jitter_seconds:
        pairs.append(("Jitter", f"up to {output.format_duration(spec.jitter_seconds)}"))
    gap = "skip" if spec.dst_gap == jobs_pb2.DST_GAP_SKIP else "shift"
    repeat = "twice" if spec.dst_repeat == jobs_pb2.DST_REPEAT_TWICE else "once"
    pairs.append(("DST", f"missing local times: {gap}; repeated local times: {repeat}"))
    m = spec.misfire
    misfire = f"{_MISFIRE_NAMES.get(m.action, str(m.action))} (grace {m.grace_seconds or 60}s"
    if m.action == jobs_pb2.MISFIRE_RUN_ALL:
        misfire += f", window {m.window_seconds or 86400}s, at most {m.max_count or 100}"
    pairs.append(("Misfire", misfire + ")"))
    pairs.append(("Overlap", _OVERLAP_NAMES.get(spec.overlap, str(spec.overlap))))
    if spec.calendars:
        policy = {jobs_pb2.NON_WORKING_NEXT: "next working day", jobs_pb2.NON_WORKING_PREVIOUS:
                  "previous working day"}.get(spec.non_working_day, "skip")
        pairs.append(("Calendars", f"{', '.join(spec.calendars)} (non-working day: {policy})"))
    if spec.business_day_start_minutes:
        minutes = spec.business_day_start_minutes
        pairs.append(("Business day", f"starts at {minutes // 60:02d}:{minutes % 60:02d}"))
    return pairs + event_pairs


def _fire_note(t: api_pb2.FireTime) -> str:
    notes = []
    if t.dst == "shifted":
        notes.append(f"shifted by DST (named {t.nominal_local})")
    elif t.dst == "repeated":
        notes.append("repeated local time (second occurrence)")
    if t.moved_from:
        notes.append(f"moved from non-working {t.moved_from}")
    return "; ".join(notes) or "-"


def fire_times_text(answer: api_pb2.NextFireTimesResponse) -> str:
    rows = [(t.local_time, output.format_ms(t.slot_ms), output.format_ms(t.due_ms) if t.due_ms != t.slot_ms else "-",
             _fire_note(t))
            for t in answer.times]
    text = output.render_table((f"LOCAL ({answer.time_zone})", "UTC", "DUE (JITTER)", "NOTE"), rows)
    if answer.skipped_non_working:
        text += "Skipped (not a working day): " + ", ".join(answer.skipped_non_working) + "\n"
    if answer.skipped:
        text += "Skipped by DST (local times that do not exist): " + ", ".join(answer.skipped) + "\n"
    if answer.suspended:
        text += "The job is suspended: these times fire only after `wloadctl job resume`.\n"
    return text


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekdays(days: Sequence[int]) -> str:
    return ",".join(_WEEKDAYS[d - 1] for d in (days or (1, 2, 3, 4, 5)) if 1 <= d <= 7)


def calendars_table(calendars: Sequence[jobs_pb2.CalendarVersion]) -> str:
    rows = [(c.spec.name, c.version, _weekdays(c.spec.working_weekdays), len(c.spec.holidays),
             ",".join(c.spec.include) or "-", ",".join(c.spec.exclude) or "-", output.format_ms(c.created_ms))
            for c in sorted(calendars, key=lambda c: c.spec.name)]
    return output.render_table(("NAME", "VERSION", "WORKING DAYS", "HOLIDAYS", "INCLUDE", "EXCLUDE", "UPDATED"),
                               rows)


def describe_calendar(c: jobs_pb2.CalendarVersion) -> str:
    spec = c.spec
    pairs: list[tuple[str, str]] = [("Name", spec.name), ("Version", str(c.version)),
                                    ("Updated", output.format_ms(c.created_ms)),
                                    ("Description", spec.description or "-"),
                                    ("Working days", _weekdays(spec.working_weekdays)),
                                    ("Include", ", ".join(spec.include) or "-"),
                                    ("Exclude", ", ".join(spec.exclude) or "-")]
    holidays = list(spec.holidays)
    pairs.append(("Holidays", holidays[0] if holidays else "<none>"))
    pairs += [("", h) for h in holidays[1:]]
    return "\n".join(_fmt_pairs(pairs, 14)) + "\n"


def calendar_days(answer: api_pb2.CalendarDaysResponse, everything: bool) -> str:
    if not everything:
        return "".join(f"{d}\n" for d in answer.working_days)
    working = set(answer.working_days)
    days = sorted([*answer.working_days, *answer.non_working_days])
    return output.render_table(("DATE", "WORKING"), [(d, "yes" if d in working else "no") for d in days])


def misfires_table(records: Sequence[jobs_pb2.Misfire]) -> str:
    rows = [(m.job_name, output.format_ms(m.first_slot_ms),
             output.format_ms(m.last_slot_ms) if m.last_slot_ms != m.first_slot_ms else "-", m.count, m.reason,
             m.detail or "-") for m in records]
    return output.render_table(("JOB", "SLOT", "LAST SLOT", "COUNT", "REASON", "DETAIL"), rows)


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
    if run.slot_ms:
        pairs.append(("Schedule slot", output.format_ms(run.slot_ms)))
    if run.business_date:
        pairs.append(("Business date", run.business_date))
    if run.event:
        pairs.append(("Event", run.event))
    if run.waiting_for:
        pairs.append(("Waiting for", "an earlier run of its job to end (overlap policy)"
                      if run.waiting_for == "overlap" else run.waiting_for))
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
    if status.HasField("state"):
        st = status.state
        header.append(("state", f"{st.jobs:,} jobs ({st.job_versions:,} versions), {st.runs:,} runs "
                                f"({st.runs_active:,} not final), {st.calendars:,} calendars, "
                                f"{st.misfires:,} misfire records, {st.audit_records:,} audit records, "
                                f"{st.idempotency_records:,} retry answers; {_bytes(st.state_bytes)} on disk, "
                                f"{st.journal_entries:,} journal entries"))
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


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def digest_table(results: Sequence[dict[str, Any]]) -> str:
    """`cluster digest`: one row per server asked (its answer, or why there is none)."""
    rows = [
        (e["server"], e["self_id"] or "-", e["applied_index"] if not e["error"] else "-",
         e["digest"] or "-", e["error"] or "ok")
        for e in results
    ]
    return output.render_table(("SERVER", "ID", "APPLIED INDEX", "DIGEST", "STATUS"), rows)


# ---- identities and access -----------------------------------------------------------------


def binding_text(binding: auth_pb2.Binding) -> str:
    """`business-operator@finance,ops`, or the role alone when it holds in every domain."""
    return f"{binding.role}@{','.join(binding.domains)}" if binding.domains else binding.role


def bindings_text(bindings: Sequence[auth_pb2.Binding]) -> str:
    return " ".join(binding_text(b) for b in bindings) or "-"


def domains_text(domains: Sequence[str]) -> str:
    return f"in domains {', '.join(domains)}" if domains else "in every domain"


def whoami(answer: auth_pb2.WhoAmIResponse, credential_source: str) -> str:
    expires = output.format_ms(answer.expires_ms) if answer.expires_ms else "never"
    pairs: list[tuple[str, str]] = [
        ("kind", answer.kind or "-"),
        ("name", answer.name or "-"),
        ("method", answer.method or "-"),
        ("credential", credential_source or "none"),
        ("expires", expires),
    ]
    if answer.password_change_required:
        pairs.append(("password", "must be changed first (wloadctl password)"))
    bindings = [binding_text(b) for b in answer.bindings]
    pairs.append(("bindings", bindings[0] if bindings else "<none>"))
    pairs += [("", b) for b in bindings[1:]]
    pairs.append(("permissions", answer.permissions[0] if answer.permissions else "<none>"))
    pairs += [("", p) for p in answer.permissions[1:]]
    return "\n".join(_fmt_pairs(pairs, 13)) + "\n"


def policy(p: auth_pb2.SecurityPolicy) -> str:
    required = [name for name, on in (("upper", p.password_require_upper), ("lower", p.password_require_lower),
                                      ("digit", p.password_require_digit),
                                      ("special", p.password_require_special)) if on]
    rules = [f"{r.operation}@{','.join(r.domains)}" if r.domains else r.operation for r in p.approvals]
    pairs: list[tuple[str, str]] = [
        ("password min length", str(p.password_min_length)),
        ("password requires", ", ".join(required) or "-"),
        ("password max age", f"{p.password_max_age_days} days" if p.password_max_age_days else "never expires"),
        ("max failed logins", str(p.max_failed_logins)),
        ("session ttl", f"{p.session_ttl_minutes} minutes"),
        ("audit retention", f"{p.audit_retention_days} days" if p.audit_retention_days else "keep every record"),
        ("approvals", rules[0] if rules else "<none>"),
    ]
    pairs += [("", r) for r in rules[1:]]
    return "\n".join(_fmt_pairs(pairs, 21)) + "\n"


def users_table(users: Sequence[auth_pb2.User]) -> str:
    rows = [
        (u.name, yes_no(u.active), yes_no(u.locked), output.truncate(bindings_text(u.bindings), COMMAND_COLUMN_WIDTH),
         output.format_ms(u.valid_until_ms), output.format_ms(u.last_login_ms))
        for u in users
    ]
    return output.render_table(("USER", "ACTIVE", "LOCKED", "ROLES", "VALID-UNTIL", "LAST-LOGIN"), rows)


def describe_user(u: auth_pb2.User) -> str:
    locked = f"yes ({u.locked_reason})" if u.locked and u.locked_reason else yes_no(u.locked)
    password = "set" if u.password_changed_ms or u.password_hash else "none (certificate only)"
    if u.password_changed_ms:
        password += f", changed {output.format_ms(u.password_changed_ms)}"
    if u.must_change_password:
        password += "; must be changed at the next login"
    bindings = [f"{b.role} {domains_text(b.domains)}" for b in u.bindings]
    pairs: list[tuple[str, str]] = [
        ("Name", u.name),
        ("Description", u.description or "-"),
        ("Active", yes_no(u.active)),
        ("Locked", locked),
        ("Failed logins", str(u.failed_logins)),
        ("Valid from", output.format_ms(u.valid_from_ms)),
        ("Valid until", output.format_ms(u.valid_until_ms)),
        ("Password", password),
        ("Last login", output.format_ms(u.last_login_ms)),
        ("Created", f"{output.format_ms(u.created_ms)} by {u.created_by or '-'}"),
        ("Updated", output.format_ms(u.updated_ms)),
        ("Version", str(u.version)),
        ("Roles", bindings[0] if bindings else "<none>"),
    ]
    pairs += [("", b) for b in bindings[1:]]
    return "\n".join(_fmt_pairs(pairs, 15)) + "\n"


def _permissions_summary(permissions: Sequence[str]) -> str:
    if set(permissions) >= {p.value for p in Permission}:
        return f"all ({len(permissions)})"
    return output.truncate(", ".join(permissions), COMMAND_COLUMN_WIDTH) or "-"


def roles_table(roles: Sequence[auth_pb2.Role]) -> str:
    ordered = sorted(roles, key=lambda r: not r.builtin)  # stable: the server's order within each group
    rows = [(r.name, yes_no(r.builtin), _permissions_summary(r.permissions)) for r in ordered]
    return output.render_table(("NAME", "BUILTIN", "PERMISSIONS"), rows)


def describe_role(r: auth_pb2.Role) -> str:
    pairs: list[tuple[str, str]] = [
        ("Name", r.name),
        ("Built-in", yes_no(r.builtin)),
        ("Description", r.description or "-"),
    ]
    if not r.builtin:
        pairs += [("Created", f"{output.format_ms(r.created_ms)} by {r.created_by or '-'}"),
                  ("Version", str(r.version))]
    pairs.append(("Permissions", r.permissions[0] if r.permissions else "<none>"))
    pairs += [("", p) for p in r.permissions[1:]]
    return "\n".join(_fmt_pairs(pairs, 13)) + "\n"


def api_keys_table(keys: Sequence[auth_pb2.ApiKey]) -> str:
    rows = [
        (k.id, k.owner or "-", output.truncate(bindings_text(k.bindings), COMMAND_COLUMN_WIDTH),
         ",".join(k.allowed_networks) or "any", output.format_ms(k.expires_ms) if k.expires_ms else "never",
         yes_no(k.revoked), output.truncate(output.sanitize_cell(k.description), COMMAND_COLUMN_WIDTH) or "-")
        for k in keys
    ]
    return output.render_table(("ID", "OWNER", "ROLES", "ALLOWED-FROM", "EXPIRES", "REVOKED", "DESCRIPTION"), rows)


# ---- approvals and audit -------------------------------------------------------------------


def approvals_table(approvals: Sequence[approval_pb2.Approval]) -> str:
    rows = [
        (a.id, a.state or "-", a.operation, a.domain or "-", actor_text(a.requested_by),
         output.format_ms(a.requested_ms), output.truncate(output.sanitize_cell(a.summary), COMMAND_COLUMN_WIDTH))
        for a in approvals
    ]
    return output.render_table(("ID", "STATE", "OPERATION", "DOMAIN", "REQUESTED-BY", "REQUESTED", "SUMMARY"), rows)


def audit_table(records: Sequence[audit_pb2.AuditRecord]) -> str:
    rows = [
        (r.seq, output.format_ms(r.time_ms), actor_text(r.actor), r.actor.source or "-", r.operation,
         output.truncate(output.sanitize_cell(audit_result(r)), COMMAND_COLUMN_WIDTH),
         output.truncate(" ".join(r.resources), COMMAND_COLUMN_WIDTH) or "-")
        for r in records
    ]
    return output.render_table(("SEQ", "TIME", "OPERATOR", "SOURCE", "OPERATION", "RESULT", "RESOURCES"), rows)

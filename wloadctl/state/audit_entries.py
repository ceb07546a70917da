"""What each command looks like in the audit log: its operation name, content and resources.

Secrets never reach a record: password hashes, credential hashes and held commands' bodies are
left out of the content; before/after values of users carry "password_changed" instead of hashes;
of a secret's values only the keys are recorded (not even their ciphertext).
"""

from __future__ import annotations

from google.protobuf.message import Message

from wloadctl.proto.v1 import auth_pb2, commands_pb2, secrets_pb2
from wloadctl.state.audit import capped, to_dict, to_json

# High-volume machinery of the controller: the runs' own transitions record them.
NOT_AUDITED = frozenset({"noop", "dispatch_runs", "record_run_events", "fire_schedules", "prune_runs",
                         "file_arrived", "fire_workflow_timers"})

_OPERATION = {
    "apply_jobs": "job.apply", "delete_job": "job.delete", "set_member": "member.set",
    "remove_member": "member.remove", "bootstrap": "cluster.bootstrap", "begin_epoch": "leader.begin_epoch",
    "force_activate": "cluster.force_dispatch", "register_agent": "agent.register", "mark_agent_lost": "agent.lost",
    "trigger_run": "run.trigger", "request_kill": "run.kill", "auth_bootstrap": "auth.bootstrap",
    "delete_user": "user.delete", "delete_role": "role.delete", "revoke_session": "logout",
    "create_api_key": "apikey.create", "revoke_api_key": "apikey.revoke", "set_security_policy": "policy.set",
    "request_approval": "approval.request", "set_secret": "secret.set", "delete_secret": "secret.delete",
    "apply_calendars": "calendar.apply", "delete_calendar": "calendar.delete", "emit_event": "event.emit",
    "apply_workflows": "workflow.apply", "delete_workflow": "workflow.delete", "trigger_workflow": "workflow.run",
    "rerun_workflow": "workflow.rerun", "mark_workflow_task": "workflow.mark",
}


def operation(kind: str, cmd: commands_pb2.Command, result: commands_pb2.CommandResult) -> str:
    if kind == "put_user":
        return "user.create" if cmd.put_user.expected_version == 0 else "user.update"
    if kind == "put_role":
        return "role.create" if cmd.put_role.expected_version == 0 else "role.update"
    if kind == "record_login":
        if result.code == 0:
            return "login"
        return "login.lockout" if "now locked" in result.message else "login.failed"
    if kind == "suspend_job":
        return "job.suspend" if cmd.suspend_job.suspended else "job.resume"
    if kind == "workflow_run_action":
        return f"workflow.{cmd.workflow_run_action.action[:10]}"
    if kind == "decide_approval":
        return "approval.approve" if cmd.decide_approval.approve else "approval.reject"
    if kind == "record_audit":
        return cmd.record_audit.operation[:100] or "event"
    return _OPERATION.get(kind, kind)


def _body(cmd: commands_pb2.Command, kind: str) -> Message:
    body: Message = getattr(cmd, kind)
    clean = type(body)()
    clean.CopyFrom(body)
    if isinstance(clean, auth_pb2.PutUser):
        clean.user.ClearField("password_hash")
    elif isinstance(clean, auth_pb2.RecordLogin):
        clean.ClearField("secret_hash")
    elif isinstance(clean, auth_pb2.CreateApiKey | auth_pb2.AuthBootstrap):
        clean.key.ClearField("secret_hash")
    elif isinstance(clean, secrets_pb2.SetSecret):
        for value in clean.values:
            value.ClearField("nonce")
            value.ClearField("ciphertext")
    return clean


def content(kind: str, cmd: commands_pb2.Command, result: commands_pb2.CommandResult) -> str:
    if kind == "apply_jobs" and result.code == 0:
        # The record's `after` holds each applied version in full: the specs twice cost a third of
        # the audit's share of an apply. A refused apply keeps them here (nothing is in `after`).
        return capped({"jobs": [spec.name for spec in cmd.apply_jobs.jobs]})
    if kind == "record_audit":
        return cmd.record_audit.content[:64 << 10]
    if kind == "request_approval":
        approval = cmd.request_approval.approval
        inner = commands_pb2.Command.FromString(approval.command)
        inner_kind = inner.WhichOneof("body")
        request = to_dict(_body(inner, inner_kind)) if inner_kind else {}
        return capped({"operation": approval.operation, "summary": approval.summary, "request": request})
    return to_json(_body(cmd, kind))


def resources(kind: str, cmd: commands_pb2.Command, result: commands_pb2.CommandResult) -> list[str]:
    if kind == "apply_jobs":
        return [f"job/{s.name}" for s in cmd.apply_jobs.jobs]
    if kind == "delete_job":
        return [f"job/{cmd.delete_job.name}"]
    if kind == "suspend_job":
        return [f"job/{cmd.suspend_job.name}"]
    if kind == "emit_event":
        return [f"event/{cmd.emit_event.name}", *(f"run/{r}" for r in result.run_ids)]
    if kind == "apply_calendars":
        return [f"calendar/{c.name}" for c in cmd.apply_calendars.calendars]
    if kind == "delete_calendar":
        return [f"calendar/{cmd.delete_calendar.name}"]
    if kind in ("set_member",):
        return [f"member/{cmd.set_member.member.id}"]
    if kind == "remove_member":
        return [f"member/{cmd.remove_member.id}"]
    if kind in ("register_agent",):
        return [f"agent/{cmd.register_agent.agent.agent_id}"]
    if kind == "mark_agent_lost":
        return [f"agent/{cmd.mark_agent_lost.agent_id}", *(f"run/{r}" for r in result.run_ids)]
    if kind == "trigger_run":
        return [f"job/{cmd.trigger_run.job_name}", *(f"run/{r}" for r in result.run_ids)]
    if kind == "request_kill":
        return [f"run/{cmd.request_kill.run_id}"]
    if kind == "put_user":
        return [f"user/{cmd.put_user.user.name}"]
    if kind == "delete_user":
        return [f"user/{cmd.delete_user.name}"]
    if kind == "put_role":
        return [f"role/{cmd.put_role.role.name}"]
    if kind == "delete_role":
        return [f"role/{cmd.delete_role.name}"]
    if kind == "record_login":
        return [f"user/{cmd.record_login.user}", *([f"session/{result.id}"] if result.id else [])]
    if kind == "revoke_session":
        return [f"session/{cmd.revoke_session.id}"]
    if kind in ("create_api_key", "auth_bootstrap"):
        return [f"apikey/{result.id}"] if result.id else []
    if kind == "revoke_api_key":
        return [f"apikey/{cmd.revoke_api_key.id}"]
    if kind == "request_approval":
        return [f"approval/{result.id}", *cmd.request_approval.approval.resources] if result.id else \
            list(cmd.request_approval.approval.resources)
    if kind == "workflow_run_action":
        return f"workflow.{cmd.workflow_run_action.action[:10]}"
    if kind == "decide_approval":
        return [f"approval/{cmd.decide_approval.id}"]
    if kind == "record_audit":
        return list(cmd.record_audit.resources)[:20]
    if kind in ("set_secret", "delete_secret"):
        return [f"secret/{cmd.set_secret.name if kind == 'set_secret' else cmd.delete_secret.name}"]
    return []

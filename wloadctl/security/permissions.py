"""Permissions, the built-in roles and what a set of role bindings grants. Pure: no state, no I/O.

A permission is granted per business domain (`job.read@finance`) or, for cluster-wide
permissions, by a binding that names no domains. The five built-in roles follow the white
paper's separation of duties; `admin` holds everything (setup and the local cluster).

Every RPC is mapped to exactly one entry of METHOD_PERMISSIONS; tests/unit/test_permissions.py
enumerates the methods of every service in the protobuf descriptors and fails for any method
missing from the table, so no RPC can be added unprotected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["ALL_DOMAINS", "AUTHENTICATED", "BUILTIN_ROLES", "CLUSTER_WIDE", "METHOD_PERMISSIONS", "OPEN", "REPLICA",
           "Grants", "Permission", "RoleDef", "grants_of", "role_problems"]


class Permission(StrEnum):
    # job definitions (per domain)
    JOB_READ = "job.read"
    JOB_WRITE = "job.write"               # create and modify
    JOB_DELETE = "job.delete"
    JOB_ACTIVATE = "job.activate"         # suspend / resume schedules
    CALENDAR_READ = "calendar.read"       # business calendars (shared by every domain)
    CALENDAR_WRITE = "calendar.write"     # create, change and delete them
    # run operations (per domain)
    RUN_TRIGGER = "run.trigger"
    EVENT_EMIT = "event.emit"             # per domain: emitted events start runs of that domain's jobs
    RUN_KILL = "run.kill"
    RUN_RERUN = "run.rerun"
    RUN_BATCH = "run.batch"
    # monitoring
    RUN_READ = "run.read"                 # runs and their state (per domain)
    RUN_LOGS = "run.logs"                 # run output (per domain)
    # secrets (per domain); no permission ever shows a value, only the agent running a job gets it
    SECRET_READ = "secret.read"           # names, keys and who changed them
    SECRET_WRITE = "secret.write"         # create, replace and delete
    AGENT_READ = "agent.read"
    CLUSTER_READ = "cluster.read"         # cluster status
    # operations (cluster-wide)
    CLUSTER_MEMBERSHIP = "cluster.membership"
    CLUSTER_LEADERSHIP = "cluster.leadership"
    CLUSTER_FORCE_DISPATCH = "cluster.force_dispatch"
    CLUSTER_BACKUP = "cluster.backup"
    CLUSTER_DIAGNOSE = "cluster.diagnose"  # state digests, benchmark no-ops
    # administration (cluster-wide)
    USER_ADMIN = "user.admin"
    ROLE_ADMIN = "role.admin"
    KEY_ADMIN = "key.admin"
    POLICY_ADMIN = "policy.admin"
    AUDIT_READ = "audit.read"
    APPROVE = "approval.approve"          # per domain: approve others' four-eyes requests


P = Permission
# Granted only by a binding without domains: they are about the cluster, not a business domain.
CLUSTER_WIDE = frozenset({
    P.AGENT_READ, P.CLUSTER_READ, P.CLUSTER_MEMBERSHIP, P.CLUSTER_LEADERSHIP, P.CLUSTER_FORCE_DISPATCH,
    P.CLUSTER_BACKUP, P.CLUSTER_DIAGNOSE, P.USER_ADMIN, P.ROLE_ADMIN, P.KEY_ADMIN, P.POLICY_ADMIN, P.AUDIT_READ,
    P.CALENDAR_READ, P.CALENDAR_WRITE,
})
READS = frozenset({P.JOB_READ, P.RUN_READ, P.RUN_LOGS, P.AGENT_READ, P.CLUSTER_READ, P.AUDIT_READ, P.SECRET_READ,
                   P.CALENDAR_READ})


@dataclass(frozen=True)
class RoleDef:
    name: str
    permissions: frozenset[Permission]
    description: str


_BUILTIN = (
    RoleDef("admin", frozenset(Permission), "every permission: setup and the local cluster; give people the "
            "five roles below"),
    RoleDef("system-admin", frozenset({P.USER_ADMIN, P.ROLE_ADMIN, P.KEY_ADMIN, P.POLICY_ADMIN, P.CLUSTER_READ,
                                       P.APPROVE}),
            "platform configuration, users, roles and keys; no business operations"),
    RoleDef("ops-admin", frozenset({P.CLUSTER_READ, P.AGENT_READ, P.CLUSTER_MEMBERSHIP, P.CLUSTER_LEADERSHIP,
                                    P.CLUSTER_FORCE_DISPATCH, P.CLUSTER_BACKUP, P.CLUSTER_DIAGNOSE, P.JOB_READ,
                                    P.RUN_READ, P.RUN_LOGS, P.APPROVE, P.CALENDAR_READ}),
            "cluster and agents: daily operations and fault handling; cannot modify business definitions"),
    RoleDef("scheduling-admin", frozenset({P.JOB_READ, P.JOB_WRITE, P.JOB_DELETE, P.JOB_ACTIVATE, P.RUN_TRIGGER,
                                           P.RUN_KILL, P.RUN_RERUN, P.RUN_BATCH, P.RUN_READ, P.RUN_LOGS,
                                           P.AGENT_READ, P.CLUSTER_READ, P.APPROVE, P.SECRET_READ, P.SECRET_WRITE,
                                           P.CALENDAR_READ, P.CALENDAR_WRITE, P.EVENT_EMIT}),
            "job definitions, the secrets they use, and scheduling; no cluster or user administration"),
    RoleDef("business-operator", frozenset({P.JOB_READ, P.RUN_TRIGGER, P.RUN_KILL, P.RUN_RERUN, P.RUN_READ,
                                            P.RUN_LOGS, P.CALENDAR_READ, P.EVENT_EMIT}),
            "operate and monitor the runs of its business domains"),
    RoleDef("auditor", READS, "read everything, the audit log included; change nothing"),
)
BUILTIN_ROLES: Mapping[str, RoleDef] = {r.name: r for r in _BUILTIN}

# Pseudo-permissions of the method table.
OPEN = "open"                    # no credentials needed (health, login, bootstrap once)
AUTHENTICATED = "authenticated"  # any authenticated caller (who am I, log out, own password)
REPLICA = "replica"              # another replica of the cluster, for itself (never a client)

_S = "/wloadctl.v1."
METHOD_PERMISSIONS: Mapping[str, str] = {
    # health checking and reflection stay open (reflection can be switched off in the config)
    "/grpc.health.v1.Health/Check": OPEN,
    "/grpc.health.v1.Health/Watch": OPEN,
    "/grpc.health.v1.Health/List": OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": OPEN,
    _S + "JobService/ApplyJobs": P.JOB_WRITE,
    _S + "JobService/GetJob": P.JOB_READ,
    _S + "JobService/ListJobs": P.JOB_READ,
    _S + "JobService/DeleteJob": P.JOB_DELETE,
    _S + "JobService/SuspendJob": P.JOB_ACTIVATE,
    _S + "JobService/NextFireTimes": P.JOB_READ,
    _S + "JobService/ListMisfires": P.JOB_READ,
    _S + "RunService/EmitEvent": P.EVENT_EMIT,
    _S + "JobService/ApplyCalendars": P.CALENDAR_WRITE,
    _S + "JobService/DeleteCalendar": P.CALENDAR_WRITE,
    _S + "JobService/GetCalendar": P.CALENDAR_READ,
    _S + "JobService/ListCalendars": P.CALENDAR_READ,
    _S + "JobService/CalendarDays": P.CALENDAR_READ,
    _S + "WorkflowService/ApplyWorkflows": P.JOB_WRITE,
    _S + "WorkflowService/GetWorkflow": P.JOB_READ,
    _S + "WorkflowService/ListWorkflows": P.JOB_READ,
    _S + "WorkflowService/DeleteWorkflow": P.JOB_DELETE,
    _S + "WorkflowService/RunWorkflow": P.RUN_TRIGGER,
    _S + "WorkflowService/GetWorkflowRun": P.RUN_READ,
    _S + "WorkflowService/ListWorkflowRuns": P.RUN_READ,
    _S + "WorkflowService/RerunWorkflow": P.RUN_RERUN,
    _S + "WorkflowService/KillWorkflowRun": P.RUN_KILL,
    _S + "WorkflowService/PauseWorkflowRun": P.RUN_KILL,     # stops new starts, as a kill does
    _S + "WorkflowService/ResumeWorkflowRun": P.RUN_TRIGGER,  # starts tasks again
    _S + "WorkflowService/Impact": P.RUN_READ,
    _S + "WorkflowService/MarkTask": P.RUN_RERUN,  # decides outcomes as a rerun does
    _S + "ClusterService/Status": P.CLUSTER_READ,
    _S + "ClusterService/AddMember": P.CLUSTER_MEMBERSHIP,
    _S + "ClusterService/RemoveMember": P.CLUSTER_MEMBERSHIP,
    _S + "ClusterService/TransferLeader": P.CLUSTER_LEADERSHIP,
    _S + "ClusterService/Digest": P.CLUSTER_DIAGNOSE,
    _S + "ClusterService/Noop": P.CLUSTER_DIAGNOSE,
    _S + "ClusterService/ReadIndex": REPLICA,
    # Watches are filtered like the listings they replace (per domain inside).
    _S + "WatchService/WatchRuns": P.RUN_READ,
    _S + "WatchService/WatchJobs": P.JOB_READ,
    _S + "WatchService/WatchWorkflowRuns": P.RUN_READ,
    _S + "WatchService/WatchAgents": P.AGENT_READ,
    _S + "WatchService/WatchCluster": P.CLUSTER_READ,
    _S + "RunService/TriggerRun": P.RUN_TRIGGER,
    _S + "RunService/GetRun": P.RUN_READ,
    _S + "RunService/ListRuns": P.RUN_READ,
    _S + "RunService/ReportRuns": P.RUN_READ,  # counts of the caller's domains only (filtered inside)
    _S + "RunService/Summarize": P.RUN_READ,   # counts of the caller's domains only (filtered inside)
    _S + "RunService/KillRun": P.RUN_KILL,
    _S + "RunService/GetRunLogs": P.RUN_LOGS,
    _S + "RunService/ListAgents": P.AGENT_READ,
    _S + "RunService/ForceDispatch": P.CLUSTER_FORCE_DISPATCH,
    _S + "AuthService/Login": OPEN,
    _S + "AuthService/Bootstrap": OPEN,
    _S + "AuthService/Logout": AUTHENTICATED,
    _S + "AuthService/WhoAmI": AUTHENTICATED,
    _S + "AuthService/ChangePassword": AUTHENTICATED,  # another user's password: user.admin, checked inside
    _S + "AuthService/GetPolicy": AUTHENTICATED,
    _S + "AuthService/SetPolicy": P.POLICY_ADMIN,
    _S + "AuthService/ServerInfo": OPEN,
    _S + "AuthService/IssueCertificateSession": REPLICA,
    _S + "UserService/CreateUser": P.USER_ADMIN,
    _S + "UserService/GetUser": P.USER_ADMIN,
    _S + "UserService/ListUsers": P.USER_ADMIN,
    _S + "UserService/UpdateUser": P.USER_ADMIN,
    _S + "UserService/DeleteUser": P.USER_ADMIN,
    _S + "RoleService/CreateRole": P.ROLE_ADMIN,
    _S + "RoleService/GetRole": AUTHENTICATED,
    _S + "RoleService/ListRoles": AUTHENTICATED,
    _S + "RoleService/DeleteRole": P.ROLE_ADMIN,
    _S + "ApiKeyService/CreateApiKey": P.KEY_ADMIN,
    _S + "ApiKeyService/GetApiKey": P.KEY_ADMIN,
    _S + "ApiKeyService/ListApiKeys": P.KEY_ADMIN,
    _S + "ApiKeyService/RevokeApiKey": P.KEY_ADMIN,
    _S + "AuditService/ListAudit": P.AUDIT_READ,
    _S + "AuditService/VerifyAudit": P.AUDIT_READ,
    _S + "AuditService/ReportEvent": REPLICA,
    # Everyone sees the requests they made; approvers see those of their domains (filtered inside).
    _S + "ApprovalService/ListApprovals": AUTHENTICATED,
    _S + "ApprovalService/GetApproval": AUTHENTICATED,
    _S + "ApprovalService/Approve": P.APPROVE,
    _S + "ApprovalService/Reject": P.APPROVE,
    # Per domain inside; none of them returns a value.
    _S + "SecretService/SetSecret": P.SECRET_WRITE,
    _S + "SecretService/GetSecret": P.SECRET_READ,
    _S + "SecretService/ListSecrets": P.SECRET_READ,
    _S + "SecretService/DeleteSecret": P.SECRET_WRITE,
}

ALL_DOMAINS = "*"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class Grants:
    """What a caller may do: per permission, the domains (ALL_DOMAINS for every one)."""

    by_permission: Mapping[Permission, frozenset[str]] = field(default_factory=dict)

    def allows(self, permission: Permission, domain: str | None = None) -> bool:
        """``domain`` None: the permission in at least one domain (cluster-wide ones need every domain)."""
        domains = self.by_permission.get(permission)
        if not domains:
            return False
        if ALL_DOMAINS in domains:
            return True
        if permission in CLUSTER_WIDE:
            return False
        return domain is None or domain in domains

    def domains(self, permission: Permission) -> frozenset[str] | None:
        """The domains a listing may show: None means every domain."""
        domains = self.by_permission.get(permission, frozenset())
        return None if ALL_DOMAINS in domains else domains

    def describe(self) -> list[str]:
        """`permission@domain` lines, `permission` alone for every domain."""
        out = []
        for permission in sorted(self.by_permission):
            domains = self.by_permission[permission]
            if ALL_DOMAINS in domains:
                out.append(str(permission))
            elif permission not in CLUSTER_WIDE:
                out += [f"{permission}@{d}" for d in sorted(domains)]
        return out


def grants_of(bindings: Iterable[tuple[str, Sequence[str]]],
              roles: Mapping[str, Iterable[str]]) -> Grants:
    """The union of what each (role, domains) binding grants; ``roles`` maps role names to their
    permission names (built-in and custom). Unknown roles and permissions grant nothing."""
    out: dict[Permission, set[str]] = {}
    for role, domains in bindings:
        for name in roles.get(role, ()):
            try:
                permission = Permission(name)
            except ValueError:
                continue
            out.setdefault(permission, set()).update(domains or (ALL_DOMAINS,))
    return Grants({p: frozenset(d) for p, d in out.items()})


def role_problems(name: str, permissions: Iterable[str]) -> list[str]:
    """Why a custom role cannot be created as given ([] when it can)."""
    problems = []
    if not _NAME.match(name):
        problems.append(f"name: {name!r} must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    if name in BUILTIN_ROLES:
        problems.append(f"name: {name!r} is a built-in role")
    names = list(permissions)
    if not names:
        problems.append("permissions: at least one")
    known = {p.value for p in Permission}
    problems += [f"permissions: unknown permission {p!r} (known: {', '.join(sorted(known))})"
                 for p in names if p not in known]
    return problems

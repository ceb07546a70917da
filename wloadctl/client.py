"""Python client for a WLOADCTL cluster: leader discovery, safe retries, typed calls.

Every write carries an idempotency key (generated when the caller gives
none) and is retried with the same key, so a retry after a lost reply or a
leader change is applied at most once.

    from wloadctl.client import Client, ClientCredentials
    creds = ClientCredentials(token="wlk.57.…", ca_pem=open("ca.crt", "rb").read())
    with Client(["127.0.0.1:18581"], credentials=creds) as c:
        c.apply_jobs(specs)
        print(c.status().leader_id)
        run = c.trigger_run("nightly-backup")
        print(c.wait_run(run.run_id, timeout=600).state)

Reads are linearizable by default on whichever replica answers (a write through any replica is
seen at once by the next read through any replica); ``Client(..., stale=True)`` reads a replica's
copy without asking the leader (still never older than what this client has seen). Watches
(``watch_runs`` and friends) stream changes and resume by themselves after a disconnect.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from wloadctl.api.headers import (
    APPROVAL_HEADER,
    CONSISTENCY_HEADER,
    INDEX_HEADER,
    LEADER_HEADER,
    MIN_INDEX_HEADER,
    REPLICA_HEADER,
    SEES_HEADER,
)
from wloadctl.config.server import DEFAULT_MAX_MESSAGE_BYTES
from wloadctl.proto.v1 import (
    api_pb2,
    api_pb2_grpc,
    approval_pb2,
    approval_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    commands_pb2,
    jobs_pb2,
    runs_pb2,
    secrets_pb2,
    secrets_pb2_grpc,
    watch_pb2,
    watch_pb2_grpc,
    workflows_pb2,
    workflows_pb2_grpc,
)

DEFAULT_SERVERS = ("127.0.0.1:18581", "127.0.0.1:18582", "127.0.0.1:18583")
ENV_SERVER = "WLOADCTL_SERVER"
# Statuses after which a request with the same idempotency key may be resent.
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
# A watch the replica cannot continue (position no longer held, consumer too slow): list again.
_RELIST = {grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED}

_RS = runs_pb2.RunState
_WE = watch_pb2.WatchEvent
# States a run never leaves. LOST is final only when no retry follows (see wait_run).
FINAL_RUN_STATES = frozenset({_RS.SUCCEEDED, _RS.FAILED, _RS.TIMED_OUT, _RS.KILLED, _RS.SKIPPED})
_DEFAULT_MAX_ATTEMPTS = 3  # JobSpec.max_attempts 0

T = TypeVar("T")


@dataclass(frozen=True)
class ClientCredentials:
    """How the client proves who it is and whom it trusts.

    ``token``: a session token (`wloadctl login`) or an API key, sent as `authorization: Bearer`.
    ``ca_pem``: the cluster CA that signed the replicas' certificates; None talks plaintext (a
    cluster run with --insecure). ``target_name``: the name to expect in a replica's certificate
    when the address dialled is not in it (a load balancer, a tunnel).
    """

    token: str = ""
    ca_pem: bytes | None = None
    target_name: str = ""


def _with(details: Any, extra: Sequence[tuple[str, str]]) -> Any:
    if not extra:
        return details
    return details._replace(metadata=[*(details.metadata or ()), *extra]) \
        if hasattr(details, "_replace") else _Details(details, extra)


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.metadata = (("authorization", f"Bearer {token}"),)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_with(details, self.metadata), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_with(details, self.metadata), request)


class _IndexTracker(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Read-your-writes on any replica: every call carries the highest Raft index this client has
    seen in an answer, and a replica answers only once it has applied that far (api/consistency.py).
    With ``stale``, reads also say they need not be linearizable."""

    def __init__(self, stale: bool = False) -> None:
        self.index = 0
        self.stale = stale

    def _extra(self) -> list[tuple[str, str]]:
        extra = [(MIN_INDEX_HEADER, str(self.index))] if self.index else []
        if self.stale:
            extra.append((CONSISTENCY_HEADER, "stale"))
        return extra

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_with(details, self._extra()), request)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        details = _with(details, self._extra())
        outcome = continuation(details, request)
        try:
            seen = dict(outcome.trailing_metadata() or ()).get(INDEX_HEADER, "")
        except grpc.RpcError:
            seen = ""
        if isinstance(seen, str) and seen.isdigit():
            self.index = max(self.index, int(seen))
        return outcome


class _Details(grpc.ClientCallDetails):
    def __init__(self, base: Any, extra: Any) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = [*(base.metadata or ()), *extra]
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


class ClientError(Exception):
    """A request failed: ``code`` is the gRPC status, ``message`` names the field or cause."""

    def __init__(self, code: grpc.StatusCode, message: str, server: str = "", approval_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.server = server
        # A write a four-eyes policy holds: the approval it waits for (wloadctl approval approve ID).
        self.approval_id = approval_id

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class ClusterUnavailableError(ClientError):
    """Every server failed in a retryable way until ``retry_for`` ran out.

    ``message`` is complete (it says what each server answered, or that it could not be reached),
    so callers print it as it is; ``answers`` holds each server's last error."""

    def __init__(self, code: grpc.StatusCode, message: str, answers: Mapping[str, _Answer], server: str = "") -> None:
        super().__init__(code, message, server)
        self.answers = dict(answers)


class _Answer:
    """The last error one server gave: from a replica (its id known), or from the transport."""

    def __init__(self, address: str, error: grpc.RpcError, timeout: float) -> None:
        self.address = address
        self.code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        self.details = (error.details() if hasattr(error, "details") else str(error)) or self.code.name
        metadata = _trailing(error)
        self.replica_id = metadata.get(REPLICA_HEADER, "")
        self.sees = _fraction(metadata.get(SEES_HEADER, ""))
        self.timeout = timeout

    def no_leader(self) -> bool:
        return self.sees is not None

    def no_quorum(self) -> bool:
        return self.sees is not None and self.sees[0] <= self.sees[1] // 2

    def answered(self) -> str:
        """What a replica that answered said, prefixed by who it is."""
        who = f"{self.replica_id} ({self.address})"
        if self.sees is not None:
            seen, members = self.sees
            return f"{who} answered but no leader is elected (it sees {seen} of {members} members)"
        return f"{who} answered: {self.details}"

    def unreachable(self) -> str:
        """Why a server that gave no answer of its own could not be used."""
        if self.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"no answer within {self.timeout:g} s (see --timeout)"
        if "connection refused" in self.details.lower():
            return "connection refused"
        return self.details


def _fraction(text: str) -> tuple[int, int] | None:
    seen, sep, members = text.partition("/")
    return (int(seen), int(members)) if sep and seen.isdigit() and members.isdigit() else None


def _give_up_message(answers: Sequence[_Answer]) -> str:
    """One line naming every server: those that answered (and what), then those that could not be reached."""
    replicas = [a for a in answers if a.replica_id]
    unreachable: dict[str, list[str]] = {}
    for a in answers:
        if not a.replica_id:
            unreachable.setdefault(a.unreachable(), []).append(a.address)
    parts = [a.answered() for a in replicas]
    parts += [f"{', '.join(addresses)}: {why}" for why, addresses in unreachable.items()]
    if any(a.no_quorum() for a in replicas):
        prefix = "no quorum"
    elif any(a.no_leader() for a in replicas):
        prefix = "no leader elected"
    elif replicas:
        prefix = "no replica could complete the request"
    else:
        prefix = "cannot reach the cluster"
    return f"{prefix}: {'; '.join(parts)}"


def servers_from_env(explicit: Sequence[str] | None = None) -> list[str]:
    """--server values, else WLOADCTL_SERVER (comma separated), else the local cluster."""
    if explicit:
        return [s for item in explicit for s in item.split(",") if s]
    env = os.environ.get(ENV_SERVER, "")
    if env.strip():
        return [s.strip() for s in env.split(",") if s.strip()]
    return list(DEFAULT_SERVERS)


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class SecurityCalls:
    """Identity, access, approvals and audit calls (mixed into Client)."""

    timeout: float
    credentials: ClientCredentials
    _call: Callable[..., Any]
    _channel: Callable[[str], grpc.Channel]
    _order: Callable[[], list[str]]

    def _auth(self, ch: grpc.Channel) -> auth_pb2_grpc.AuthServiceStub:
        return auth_pb2_grpc.AuthServiceStub(ch)

    def _users(self, ch: grpc.Channel) -> auth_pb2_grpc.UserServiceStub:
        return auth_pb2_grpc.UserServiceStub(ch)

    def _roles(self, ch: grpc.Channel) -> auth_pb2_grpc.RoleServiceStub:
        return auth_pb2_grpc.RoleServiceStub(ch)

    def _keys(self, ch: grpc.Channel) -> auth_pb2_grpc.ApiKeyServiceStub:
        return auth_pb2_grpc.ApiKeyServiceStub(ch)

    def _approvals(self, ch: grpc.Channel) -> approval_pb2_grpc.ApprovalServiceStub:
        return approval_pb2_grpc.ApprovalServiceStub(ch)

    def _audit(self, ch: grpc.Channel) -> audit_pb2_grpc.AuditServiceStub:
        return audit_pb2_grpc.AuditServiceStub(ch)

    def _secrets(self, ch: grpc.Channel) -> secrets_pb2_grpc.SecretServiceStub:
        return secrets_pb2_grpc.SecretServiceStub(ch)

    # ---- sessions

    def login(self, user: str, password: str) -> auth_pb2.LoginResponse:
        """A session token for ``user``; three wrong passwords in a row lock the account."""
        request = auth_pb2.LoginRequest(user=user, password=password)
        return self._call(lambda ch: self._auth(ch).Login(request, timeout=self.timeout), write=True)

    def logout(self) -> auth_pb2.LogoutResponse:
        return self._call(lambda ch: self._auth(ch).Logout(auth_pb2.LogoutRequest(), timeout=self.timeout),
                          write=True)

    def whoami(self) -> auth_pb2.WhoAmIResponse:
        return self._call(lambda ch: self._auth(ch).WhoAmI(auth_pb2.WhoAmIRequest(), timeout=self.timeout))

    def change_password(self, new_password: str, old_password: str = "", user: str = "") \
            -> auth_pb2.ChangePasswordResponse:
        request = auth_pb2.ChangePasswordRequest(user=user, old_password=old_password, new_password=new_password)
        return self._call(lambda ch: self._auth(ch).ChangePassword(request, timeout=self.timeout), write=True)

    def server_info(self, server: str | None = None) -> auth_pb2.ServerInfoResponse:
        request = auth_pb2.ServerInfoRequest()
        if server:
            return self._auth(self._channel(server)).ServerInfo(request, timeout=self.timeout)
        return self._call(lambda ch: self._auth(ch).ServerInfo(request, timeout=self.timeout))

    def certificate_login(self, cert_pem: bytes, key_pem: bytes) -> auth_pb2.LoginResponse:
        """A session token for the user a client certificate names (wloadctl://client/USER).

        The replica's mutual-TLS port takes the certificate; its address comes from ServerInfo."""
        ca = self.credentials.ca_pem
        if ca is None:
            raise ClientError(grpc.StatusCode.FAILED_PRECONDITION, "a certificate login needs the cluster CA (--ca)")
        last: ClientError | None = None
        for server in self._order():
            try:
                address = self.server_info(server).certificate_login_address
            except grpc.RpcError as e:
                last = ClientError(e.code(), e.details() or e.code().name, server)
                continue
            if not address:
                last = ClientError(grpc.StatusCode.FAILED_PRECONDITION, f"{server} takes no certificate logins")
                continue
            creds = grpc.ssl_channel_credentials(ca, key_pem, cert_pem)
            with grpc.secure_channel(address, creds) as channel:
                try:
                    return auth_pb2_grpc.CertificateAuthStub(channel).Login(auth_pb2.CertificateLoginRequest(),
                                                                            timeout=self.timeout)
                except grpc.RpcError as e:
                    last = ClientError(e.code(), e.details() or e.code().name, address)
                    if e.code() not in _RETRYABLE:
                        raise last from None
        raise last or ClientError(grpc.StatusCode.UNAVAILABLE, "no server to log in at")

    def bootstrap(self) -> auth_pb2.AuthBootstrapResponse:
        """The first admin API key of a new cluster (refused once it has been handed out)."""
        return self._call(lambda ch: self._auth(ch).Bootstrap(auth_pb2.AuthBootstrapRequest(), timeout=self.timeout),
                          write=True)

    def get_policy(self) -> auth_pb2.SecurityPolicy:
        return self._call(lambda ch: self._auth(ch).GetPolicy(auth_pb2.GetPolicyRequest(), timeout=self.timeout))

    def set_policy(self, policy: auth_pb2.SecurityPolicy) -> auth_pb2.SecurityPolicy:
        request = auth_pb2.SetPolicyRequest(policy=policy)
        return self._call(lambda ch: self._auth(ch).SetPolicy(request, timeout=self.timeout), write=True)

    # ---- users, roles, keys

    def create_user(self, request: auth_pb2.CreateUserRequest) -> auth_pb2.User:
        return self._call(lambda ch: self._users(ch).CreateUser(request, timeout=self.timeout), write=True)

    def get_user(self, name: str) -> auth_pb2.User:
        request = auth_pb2.GetUserRequest(name=name)
        return self._call(lambda ch: self._users(ch).GetUser(request, timeout=self.timeout))

    def list_users(self) -> auth_pb2.ListUsersResponse:
        return self._call(lambda ch: self._users(ch).ListUsers(auth_pb2.ListUsersRequest(), timeout=self.timeout))

    def update_user(self, request: auth_pb2.UpdateUserRequest) -> auth_pb2.User:
        return self._call(lambda ch: self._users(ch).UpdateUser(request, timeout=self.timeout), write=True)

    def delete_user(self, name: str) -> auth_pb2.DeleteUserResponse:
        request = auth_pb2.DeleteUserRequest(name=name)
        return self._call(lambda ch: self._users(ch).DeleteUser(request, timeout=self.timeout), write=True)

    def create_role(self, name: str, permissions: Sequence[str], description: str = "") -> auth_pb2.Role:
        request = auth_pb2.CreateRoleRequest(name=name, permissions=list(permissions), description=description)
        return self._call(lambda ch: self._roles(ch).CreateRole(request, timeout=self.timeout), write=True)

    def get_role(self, name: str) -> auth_pb2.Role:
        request = auth_pb2.GetRoleRequest(name=name)
        return self._call(lambda ch: self._roles(ch).GetRole(request, timeout=self.timeout))

    def list_roles(self) -> auth_pb2.ListRolesResponse:
        return self._call(lambda ch: self._roles(ch).ListRoles(auth_pb2.ListRolesRequest(), timeout=self.timeout))

    def delete_role(self, name: str) -> auth_pb2.DeleteRoleResponse:
        request = auth_pb2.DeleteRoleRequest(name=name)
        return self._call(lambda ch: self._roles(ch).DeleteRole(request, timeout=self.timeout), write=True)

    def create_api_key(self, request: auth_pb2.CreateApiKeyRequest) -> auth_pb2.CreateApiKeyResponse:
        return self._call(lambda ch: self._keys(ch).CreateApiKey(request, timeout=self.timeout), write=True)

    def get_api_key(self, key_id: str) -> auth_pb2.ApiKey:
        request = auth_pb2.GetApiKeyRequest(id=key_id)
        return self._call(lambda ch: self._keys(ch).GetApiKey(request, timeout=self.timeout))

    def list_api_keys(self) -> auth_pb2.ListApiKeysResponse:
        return self._call(lambda ch: self._keys(ch).ListApiKeys(auth_pb2.ListApiKeysRequest(), timeout=self.timeout))

    def revoke_api_key(self, key_id: str) -> auth_pb2.ApiKey:
        request = auth_pb2.RevokeApiKeyRequest(id=key_id)
        return self._call(lambda ch: self._keys(ch).RevokeApiKey(request, timeout=self.timeout), write=True)

    # ---- four-eyes approvals

    def list_approvals(self, state: str = "") -> approval_pb2.ListApprovalsResponse:
        request = approval_pb2.ListApprovalsRequest(state=state)
        return self._call(lambda ch: self._approvals(ch).ListApprovals(request, timeout=self.timeout))

    def get_approval(self, approval_id: str) -> approval_pb2.Approval:
        request = approval_pb2.GetApprovalRequest(id=approval_id)
        return self._call(lambda ch: self._approvals(ch).GetApproval(request, timeout=self.timeout))

    def approve(self, approval_id: str, reason: str = "") -> approval_pb2.Approval:
        request = approval_pb2.DecideRequest(id=approval_id, reason=reason)
        return self._call(lambda ch: self._approvals(ch).Approve(request, timeout=self.timeout), write=True)

    def reject(self, approval_id: str, reason: str) -> approval_pb2.Approval:
        request = approval_pb2.DecideRequest(id=approval_id, reason=reason)
        return self._call(lambda ch: self._approvals(ch).Reject(request, timeout=self.timeout), write=True)

    # ---- audit

    def list_audit(self, request: audit_pb2.ListAuditRequest) -> audit_pb2.ListAuditResponse:
        return self._call(lambda ch: self._audit(ch).ListAudit(request, timeout=self.timeout))

    def iter_audit(self, request: audit_pb2.ListAuditRequest) -> Iterator[audit_pb2.AuditRecord]:
        page = audit_pb2.ListAuditRequest()
        page.CopyFrom(request)
        while True:
            answer = self.list_audit(page)
            yield from answer.records
            if not answer.next_after_seq:
                return
            page.after_seq = answer.next_after_seq

    # ---- secrets (reads return metadata only: no call returns a value)

    def set_secret(self, name: str, domain: str, values: Mapping[str, str], description: str = "",
                   idempotency_key: str = "") -> secrets_pb2.SecretInfo:
        """Create the secret or replace every key of it."""
        request = secrets_pb2.SetSecretRequest(name=name, domain=domain, values=dict(values), description=description,
                                               idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._secrets(ch).SetSecret(request, timeout=self.timeout), write=True)

    def get_secret(self, name: str) -> secrets_pb2.SecretInfo:
        request = secrets_pb2.GetSecretRequest(name=name)
        return self._call(lambda ch: self._secrets(ch).GetSecret(request, timeout=self.timeout))

    def list_secrets(self, domain: str = "") -> secrets_pb2.ListSecretsResponse:
        request = secrets_pb2.ListSecretsRequest(domain=domain)
        return self._call(lambda ch: self._secrets(ch).ListSecrets(request, timeout=self.timeout))

    def delete_secret(self, name: str, idempotency_key: str = "") -> secrets_pb2.DeleteSecretResponse:
        request = secrets_pb2.DeleteSecretRequest(name=name, idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._secrets(ch).DeleteSecret(request, timeout=self.timeout), write=True)

    def verify_audit(self, server: str | None = None) -> audit_pb2.VerifyAuditResponse:
        request = audit_pb2.VerifyAuditRequest()
        if server:
            return self._audit(self._channel(server)).VerifyAudit(request, timeout=max(self.timeout, 60))
        return self._call(lambda ch: self._audit(ch).VerifyAudit(request, timeout=max(self.timeout, 60)))


class Client(SecurityCalls):
    def __init__(self, servers: Sequence[str] | None = None, timeout: float = 10.0,
                 retry_for: float = 15.0, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 credentials: ClientCredentials | None = None, stale: bool = False) -> None:
        self.servers = servers_from_env(servers)
        self.max_message_bytes = max_message_bytes
        self.credentials = credentials or ClientCredentials()
        if not self.servers:
            raise ValueError("no server address given")
        self.timeout = timeout
        self.retry_for = retry_for
        self._channels: dict[str, grpc.Channel] = {}
        self._preferred: str | None = None  # the last known leader
        self._index = _IndexTracker(stale)
        self.watch_resumes = 0  # streams of a watch continued on a replica after a disconnect

    # ---- plumbing

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _channel(self, address: str) -> grpc.Channel:
        ch = self._channels.get(address)
        if ch is None:
            options = [("grpc.max_receive_message_length", self.max_message_bytes),
                       ("grpc.max_send_message_length", self.max_message_bytes)]
            creds = self.credentials
            if creds.target_name:
                options.append(("grpc.ssl_target_name_override", creds.target_name))
            ch = grpc.secure_channel(address, grpc.ssl_channel_credentials(creds.ca_pem), options=options) \
                if creds.ca_pem is not None else grpc.insecure_channel(address, options=options)
            if creds.token:
                ch = grpc.intercept_channel(ch, _Bearer(creds.token))
            ch = grpc.intercept_channel(ch, self._index)
            self._channels[address] = ch
        return ch

    def _order(self) -> list[str]:
        order = list(self.servers)
        if self._preferred:
            order = [self._preferred] + [s for s in order if s != self._preferred]
        return order

    def _call(self, fn: Callable[[grpc.Channel], T], write: bool = False) -> T:
        """Try the preferred server, then the others, until ``retry_for`` runs out.

        Reads go to whichever replica answers; writes prefer the leader (a
        follower forwards them anyway). Only transport-level failures are
        retried, and writes always carry the same idempotency key.
        """
        deadline = time.monotonic() + self.retry_for
        # Per server, the last error it gave: when retrying ends, the message says what each said.
        answers: dict[str, _Answer] = {}
        last: _Answer | None = None
        delay = 0.05
        while True:
            for address in self._order():
                try:
                    result = fn(self._channel(address))
                    if write and self._preferred is None:
                        self._preferred = address
                    return result
                except grpc.RpcError as e:
                    last = answers[address] = _Answer(address, e, self.timeout)
                    if last.code not in _RETRYABLE:
                        raise ClientError(last.code, last.details, address,
                                          approval_id=_trailing(e).get(APPROVAL_HEADER, "")) from None
                    if address == self._preferred:
                        self._preferred = None
                    leader = _leader_hint(e)
                    if leader:
                        self._preferred = leader
            if time.monotonic() >= deadline:
                assert last is not None
                ordered = [answers[a] for a in dict.fromkeys([*self.servers, *answers]) if a in answers]
                raise ClusterUnavailableError(last.code, _give_up_message(ordered), answers, last.address)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _jobs(self, ch: grpc.Channel) -> api_pb2_grpc.JobServiceStub:
        return api_pb2_grpc.JobServiceStub(ch)

    def _cluster(self, ch: grpc.Channel) -> api_pb2_grpc.ClusterServiceStub:
        return api_pb2_grpc.ClusterServiceStub(ch)

    def _runs(self, ch: grpc.Channel) -> api_pb2_grpc.RunServiceStub:
        return api_pb2_grpc.RunServiceStub(ch)

    def _workflows(self, ch: grpc.Channel) -> workflows_pb2_grpc.WorkflowServiceStub:
        return workflows_pb2_grpc.WorkflowServiceStub(ch)

    # ---- workflows

    def apply_workflows(self, specs: Sequence[workflows_pb2.WorkflowSpec],
                        idempotency_key: str = "") -> workflows_pb2.ApplyWorkflowsResponse:
        request = workflows_pb2.ApplyWorkflowsRequest(workflows=specs,
                                                      idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._workflows(ch).ApplyWorkflows(request, timeout=self.timeout), write=True)

    def get_workflow(self, name: str, version: int = 0) -> workflows_pb2.WorkflowVersion:
        request = workflows_pb2.GetWorkflowRequest(name=name, version=version)
        return self._call(lambda ch: self._workflows(ch).GetWorkflow(request, timeout=self.timeout))

    def list_workflows(self, domain: str = "") -> workflows_pb2.ListWorkflowsResponse:
        request = workflows_pb2.ListWorkflowsRequest(domain=domain)
        return self._call(lambda ch: self._workflows(ch).ListWorkflows(request, timeout=self.timeout))

    def delete_workflow(self, name: str, idempotency_key: str = "") -> workflows_pb2.DeleteWorkflowResponse:
        request = workflows_pb2.DeleteWorkflowRequest(name=name,
                                                      idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._workflows(ch).DeleteWorkflow(request, timeout=self.timeout), write=True)

    def run_workflow(self, name: str, params: Mapping[str, str] | None = None, business_date: str = "",
                     idempotency_key: str = "") -> workflows_pb2.WorkflowRun:
        """Start a run of the workflow's latest version; a retry with the same key returns the same run."""
        request = workflows_pb2.RunWorkflowRequest(name=name, params=dict(params or {}), business_date=business_date,
                                                   idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._workflows(ch).RunWorkflow(request, timeout=self.timeout), write=True)

    def get_workflow_run(self, run_id: str) -> workflows_pb2.WorkflowRun:
        request = workflows_pb2.GetWorkflowRunRequest(id=run_id)
        return self._call(lambda ch: self._workflows(ch).GetWorkflowRun(request, timeout=self.timeout))

    def rerun_workflow(self, run_id: str, task: str = "", mode: str = "downstream", dry_run: bool = False,
                       idempotency_key: str = "") -> workflows_pb2.RerunWorkflowResponse:
        """Run tasks of an ended workflow run again (only the task, it and what follows, or all)."""
        request = workflows_pb2.RerunWorkflowRequest(run_id=run_id, task=task, mode=mode, dry_run=dry_run,
                                                     idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._workflows(ch).RerunWorkflow(request, timeout=self.timeout),
                          write=not dry_run)

    def workflow_run_action(self, action: str, run_id: str, idempotency_key: str = "") -> workflows_pb2.WorkflowRun:
        """kill, pause or resume a running workflow run."""
        request = workflows_pb2.WorkflowRunActionRequest(run_id=run_id,
                                                         idempotency_key=idempotency_key or new_idempotency_key())
        method = {"kill": "KillWorkflowRun", "pause": "PauseWorkflowRun", "resume": "ResumeWorkflowRun"}[action]
        return self._call(lambda ch: getattr(self._workflows(ch), method)(request, timeout=self.timeout), write=True)

    def mark_task(self, run_id: str, task: str, outcome: str, idempotency_key: str = "") -> workflows_pb2.WorkflowRun:
        """Give a task of a workflow run an outcome (succeeded or skipped) without running it."""
        request = workflows_pb2.MarkTaskRequest(run_id=run_id, task=task, outcome=outcome,
                                                idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._workflows(ch).MarkTask(request, timeout=self.timeout), write=True)

    def impact(self, run_id: str, task: str) -> workflows_pb2.ImpactResponse:
        """The tasks after ``task`` in a workflow run, transitively, with their states."""
        request = workflows_pb2.ImpactRequest(run_id=run_id, task=task)
        return self._call(lambda ch: self._workflows(ch).Impact(request, timeout=self.timeout))

    def list_workflow_runs(self, workflow_name: str = "", limit: int = 0) -> workflows_pb2.ListWorkflowRunsResponse:
        request = workflows_pb2.ListWorkflowRunsRequest(workflow_name=workflow_name, limit=limit)
        return self._call(lambda ch: self._workflows(ch).ListWorkflowRuns(request, timeout=self.timeout))

    @property
    def last_index(self) -> int:
        """The highest Raft index an answer to this client has reflected: every later call, on any
        replica, sees at least that state."""
        return self._index.index

    def saw_index(self, index: int) -> None:
        """Tell the client about a Raft index seen elsewhere (a webhook's answer, another client's
        write): its later calls, on any replica, see at least that state."""
        self._index.index = max(self._index.index, int(index))

    def find_leader(self) -> str:
        """API address of the current leader (asks the replicas in turn)."""
        status = self.status()
        if not status.leader_api_address:
            raise ClientError(grpc.StatusCode.UNAVAILABLE, "the cluster has no leader right now")
        self._preferred = status.leader_api_address
        return status.leader_api_address

    # ---- job definitions

    def apply_jobs(self, specs: Sequence[jobs_pb2.JobSpec], idempotency_key: str = "") -> api_pb2.ApplyJobsResponse:
        request = api_pb2.ApplyJobsRequest(jobs=list(specs), idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._jobs(ch).ApplyJobs(request, timeout=self.timeout), write=True)

    def get_job(self, name: str, version: int = 0) -> jobs_pb2.JobVersion:
        request = api_pb2.GetJobRequest(name=name, version=version)
        return self._call(lambda ch: self._jobs(ch).GetJob(request, timeout=self.timeout))

    def list_jobs(self, domain: str = "", labels: Mapping[str, str] | None = None, page_size: int = 100,
                  page_token: str = "") -> api_pb2.ListJobsResponse:
        request = api_pb2.ListJobsRequest(domain=domain, label_selector=dict(labels or {}), page_size=page_size,
                                          page_token=page_token)
        return self._call(lambda ch: self._jobs(ch).ListJobs(request, timeout=self.timeout))

    def iter_jobs(self, domain: str = "", labels: Mapping[str, str] | None = None,
                  page_size: int = 500) -> Iterator[jobs_pb2.JobVersion]:
        token = ""
        while True:
            page = self.list_jobs(domain, labels, page_size, token)
            yield from page.jobs
            if not page.next_page_token:
                return
            token = page.next_page_token

    def delete_job(self, name: str, idempotency_key: str = "") -> api_pb2.DeleteJobResponse:
        request = api_pb2.DeleteJobRequest(name=name, idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._jobs(ch).DeleteJob(request, timeout=self.timeout), write=True)

    def suspend_job(self, name: str, suspended: bool = True,
                    idempotency_key: str = "") -> api_pb2.SuspendJobResponse:
        """Stop (suspended=True) or restart a job's schedules; a new version of the job either way."""
        request = api_pb2.SuspendJobRequest(name=name, suspended=suspended,
                                            idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._jobs(ch).SuspendJob(request, timeout=self.timeout), write=True)

    def next_fire_times(self, name: str, count: int = 10, from_ms: int = 0) -> api_pb2.NextFireTimesResponse:
        request = api_pb2.NextFireTimesRequest(name=name, count=count, from_ms=from_ms)
        return self._call(lambda ch: self._jobs(ch).NextFireTimes(request, timeout=self.timeout))

    def list_misfires(self, job_name: str = "", page_size: int = 100,
                      page_token: str = "") -> api_pb2.ListMisfiresResponse:
        request = api_pb2.ListMisfiresRequest(job_name=job_name, page_size=page_size, page_token=page_token)
        return self._call(lambda ch: self._jobs(ch).ListMisfires(request, timeout=self.timeout))

    def apply_calendars(self, specs: Sequence[jobs_pb2.CalendarSpec],
                        idempotency_key: str = "") -> api_pb2.ApplyCalendarsResponse:
        request = api_pb2.ApplyCalendarsRequest(calendars=list(specs),
                                                idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._jobs(ch).ApplyCalendars(request, timeout=self.timeout), write=True)

    def get_calendar(self, name: str, version: int = 0) -> jobs_pb2.CalendarVersion:
        request = api_pb2.GetCalendarRequest(name=name, version=version)
        return self._call(lambda ch: self._jobs(ch).GetCalendar(request, timeout=self.timeout))

    def list_calendars(self) -> api_pb2.ListCalendarsResponse:
        request = api_pb2.ListCalendarsRequest()
        return self._call(lambda ch: self._jobs(ch).ListCalendars(request, timeout=self.timeout))

    def delete_calendar(self, name: str, idempotency_key: str = "") -> api_pb2.DeleteCalendarResponse:
        request = api_pb2.DeleteCalendarRequest(name=name, idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._jobs(ch).DeleteCalendar(request, timeout=self.timeout), write=True)

    def calendar_days(self, name: str, from_date: str, to_date: str) -> api_pb2.CalendarDaysResponse:
        request = api_pb2.CalendarDaysRequest(name=name, from_date=from_date, to_date=to_date)
        return self._call(lambda ch: self._jobs(ch).CalendarDays(request, timeout=self.timeout))

    def emit_event(self, name: str, params: Mapping[str, str] | None = None,
                   idempotency_key: str = "") -> api_pb2.EmitEventResponse:
        """A run of every job subscribed to ``name`` (in the domains the caller may emit events in)."""
        request = api_pb2.EmitEventRequest(name=name, params=dict(params or {}),
                                           idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._runs(ch).EmitEvent(request, timeout=self.timeout), write=True)

    def iter_misfires(self, job_name: str = "", page_size: int = 500) -> Iterator[jobs_pb2.Misfire]:
        """Newest first, every page."""
        token = ""
        while True:
            page = self.list_misfires(job_name, page_size, token)
            yield from page.misfires
            token = page.next_page_token
            if not token:
                return

    # ---- cluster

    def status(self, server: str | None = None) -> api_pb2.ClusterStatus:
        """The cluster as the leader sees it (falls back to any replica's view)."""
        if server:
            return self._cluster(self._channel(server)).Status(api_pb2.StatusRequest(), timeout=self.timeout)
        first = self._call(lambda ch: self._cluster(ch).Status(api_pb2.StatusRequest(), timeout=self.timeout))
        if first.role == "leader" or not first.leader_api_address:
            return first
        try:
            return self.status(first.leader_api_address)
        except grpc.RpcError:
            return first

    def add_member(self, member_id: str, raft_address: str, api_address: str = "",
                   idempotency_key: str = "") -> api_pb2.MembershipResponse:
        request = api_pb2.AddMemberRequest(
            member=commands_pb2.Member(id=member_id, raft_address=raft_address, api_address=api_address),
            idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._cluster(ch).AddMember(request, timeout=max(self.timeout, 30)),
                          write=True)

    def remove_member(self, member_id: str, idempotency_key: str = "") -> api_pb2.MembershipResponse:
        request = api_pb2.RemoveMemberRequest(id=member_id, idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._cluster(ch).RemoveMember(request, timeout=max(self.timeout, 30)),
                          write=True)

    def transfer_leader(self, target_id: str = "") -> api_pb2.TransferLeaderResponse:
        request = api_pb2.TransferLeaderRequest(target_id=target_id)
        return self._call(lambda ch: self._cluster(ch).TransferLeader(request, timeout=max(self.timeout, 15)),
                          write=True)

    def digest(self, server: str) -> api_pb2.DigestResponse:
        return self._cluster(self._channel(server)).Digest(api_pb2.DigestRequest(), timeout=self.timeout)

    def noop(self, payload: bytes = b"", idempotency_key: str = "") -> api_pb2.NoopResponse:
        request = api_pb2.NoopRequest(payload=payload, idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._cluster(ch).Noop(request, timeout=self.timeout), write=True)

    # ---- runs

    def trigger_run(self, job_name: str, params: Mapping[str, str] | None = None,
                    idempotency_key: str = "") -> runs_pb2.Run:
        """Start a run of the job's latest version; a retry with the same key returns the same run."""
        request = api_pb2.TriggerRunRequest(job_name=job_name, params=dict(params or {}),
                                            idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._runs(ch).TriggerRun(request, timeout=self.timeout), write=True)

    def get_run(self, run_id: str) -> runs_pb2.Run:
        request = api_pb2.GetRunRequest(run_id=run_id)
        return self._call(lambda ch: self._runs(ch).GetRun(request, timeout=self.timeout))

    def list_runs(self, job_name: str = "", state: int = 0, page_size: int = 100,
                  page_token: str = "", domain: str = "", agent_id: str = "", created_from_ms: int = 0,
                  created_before_ms: int = 0) -> api_pb2.ListRunsResponse:
        """One page of runs, newest first; ``state`` 0 (RUN_STATE_UNSPECIFIED) means any state. The
        replica looks at a bounded number of runs per call: a page may hold fewer than asked (even
        none) and still have a next_page_token."""
        request = api_pb2.ListRunsRequest(job_name=job_name, state=state, page_size=page_size, page_token=page_token,
                                          domain=domain, agent_id=agent_id, created_from_ms=created_from_ms,
                                          created_before_ms=created_before_ms)
        return self._call(lambda ch: self._runs(ch).ListRuns(request, timeout=self.timeout))

    def iter_runs(self, job_name: str = "", state: int = 0, page_size: int = 500, domain: str = "",
                  agent_id: str = "", created_from_ms: int = 0, created_before_ms: int = 0) -> Iterator[runs_pb2.Run]:
        token = ""
        while True:
            page = self.list_runs(job_name, state, page_size, token, domain, agent_id, created_from_ms,
                                  created_before_ms)
            yield from page.runs
            if not page.next_page_token:
                return
            token = page.next_page_token

    def summarize(self, days: Sequence[str] = (), hours_of_day: str = "") -> api_pb2.Summary:
        """Counts per business domain the state keeps (jobs, workflows, runs by state now, runs created on
        each of ``days`` by their state, runs per hour of ``hours_of_day``; dates YYYY-MM-DD, UTC), for
        the domains where the caller may read runs. Costs the same with a million jobs and runs."""
        request = api_pb2.SummarizeRequest(days=list(days), hours_of_day=hours_of_day)
        return self._call(lambda ch: self._runs(ch).Summarize(request, timeout=self.timeout))

    def report_runs(self, by: str, from_ms: int, to_ms: int = 0, bucket: str = "", domain: str = "",
                    time_zone: str = "", max_runs: int = 0) -> api_pb2.RunReport:
        """Runs created in [from_ms, to_ms) grouped by ``by`` (domain, agent, job or workflow) and
        ``bucket`` (hour, day, week or none; "" = day), counted by the replica: counts, success rate,
        durations and failure classes (docs/cli.md, `report runs`). Only the caller's domains are
        counted. A report that reads many runs takes a while, so its deadline is at least 60 s; one
        that stopped early says so (``truncated``, ``covered_to_ms``)."""
        request = api_pb2.ReportRunsRequest(by=by, from_ms=from_ms, to_ms=to_ms, bucket=bucket, domain=domain,
                                            time_zone=time_zone, max_runs=max_runs)
        return self._call(lambda ch: self._runs(ch).ReportRuns(request, timeout=max(self.timeout, 60)))

    def kill_run(self, run_id: str, idempotency_key: str = "") -> runs_pb2.Run:
        request = api_pb2.KillRunRequest(run_id=run_id, idempotency_key=idempotency_key or new_idempotency_key())
        return self._call(lambda ch: self._runs(ch).KillRun(request, timeout=self.timeout), write=True)

    def get_run_logs(self, run_id: str, attempt: int = 0, offset: int = 0,
                     limit: int = 0) -> api_pb2.GetRunLogsResponse:
        """Output bytes of one attempt (0 = the current one) from ``offset``; ``limit`` 0 = the server default."""
        request = api_pb2.GetRunLogsRequest(run_id=run_id, attempt=attempt, offset=offset, limit=limit)
        return self._call(lambda ch: self._runs(ch).GetRunLogs(request, timeout=self.timeout))

    def list_agents(self) -> api_pb2.ListAgentsResponse:
        return self._call(lambda ch: self._runs(ch).ListAgents(api_pb2.ListAgentsRequest(), timeout=self.timeout))

    def force_dispatch(self, reason: str, operator: str = "") -> api_pb2.ForceDispatchResponse:
        """Operator override: dispatch in the current epoch without an agent quorum (recorded with the reason)."""
        request = api_pb2.ForceDispatchRequest(reason=reason, operator=operator)
        return self._call(lambda ch: self._runs(ch).ForceDispatch(request, timeout=self.timeout), write=True)

    def wait_run(self, run_id: str, timeout: float, poll: float = 0.2) -> runs_pb2.Run:
        """Watch the run until it reaches a final state and return it; TimeoutError after ``timeout`` seconds.

        Final: SUCCEEDED, FAILED, TIMED_OUT, KILLED, SKIPPED, and LOST when no retry follows (the
        job's lost policy or attempt limit, or a kill request, rules out another attempt). A LOST
        run that will be retried is waited on like any other active run. ``poll`` is not used any
        more (the run is watched, not polled); it stays for callers that pass it.
        """
        deadline = time.monotonic() + timeout
        run: runs_pb2.Run | None = None
        try:
            for event in self.watch_runs(run_id=run_id, deadline=deadline, relist=True):
                if event.HasField("run"):
                    run = event.run
                    if run.state in FINAL_RUN_STATES or (run.state == _RS.LOST and not _retry_follows(run)):
                        return run
                elif event.type == _WE.SYNCED and run is None:
                    raise ClientError(grpc.StatusCode.NOT_FOUND, f"run_id: no run {run_id!r}")
        except TimeoutError:
            state = _RS.Name(run.state) if run is not None and run.state in _RS.values() else "unknown"
            raise TimeoutError(f"run {run_id} did not finish within {timeout:g}s (state {state})") from None
        raise ClientError(grpc.StatusCode.UNAVAILABLE, f"the watch of run {run_id} ended")

    # ---- watches

    def watch_runs(self, run_id: str = "", job_name: str = "", workflow_run_id: str = "", workflow_name: str = "",
                   states: Sequence[int] = (), domain: str = "", from_index: int = 0, snapshot_limit: int = 0,
                   deadline: float | None = None, relist: bool = False) -> Iterator[watch_pb2.WatchEvent]:
        """Changes of the runs that match, after a snapshot of the current ones (see _watch)."""
        request = watch_pb2.WatchRunsRequest(run_id=run_id, job_name=job_name, workflow_run_id=workflow_run_id,
                                             workflow_name=workflow_name, states=list(states), domain=domain,
                                             from_index=from_index, snapshot_limit=snapshot_limit)
        return self._watch("WatchRuns", request, deadline, relist=relist)

    def watch_jobs(self, name: str = "", domain: str = "", from_index: int = 0, deadline: float | None = None,
                   relist: bool = False) -> Iterator[watch_pb2.WatchEvent]:
        return self._watch("WatchJobs", watch_pb2.WatchJobsRequest(name=name, domain=domain, from_index=from_index),
                           deadline, relist=relist)

    def watch_workflow_runs(self, run_id: str = "", workflow_name: str = "", from_index: int = 0,
                            snapshot_limit: int = 0, deadline: float | None = None,
                            relist: bool = False) -> Iterator[watch_pb2.WatchEvent]:
        request = watch_pb2.WatchWorkflowRunsRequest(run_id=run_id, workflow_name=workflow_name,
                                                     from_index=from_index, snapshot_limit=snapshot_limit)
        return self._watch("WatchWorkflowRuns", request, deadline, relist=relist)

    def watch_agents(self, agent_id: str = "", from_index: int = 0, deadline: float | None = None,
                     relist: bool = False) -> Iterator[watch_pb2.WatchEvent]:
        return self._watch("WatchAgents", watch_pb2.WatchAgentsRequest(agent_id=agent_id, from_index=from_index),
                           deadline, relist=relist)

    def watch_cluster(self, server: str | None = None, deadline: float | None = None) \
            -> Iterator[watch_pb2.WatchEvent]:
        """The status as ``server`` (else whichever replica answers) sees it, whenever it changes."""
        return self._watch("WatchCluster", watch_pb2.WatchClusterRequest(), deadline,
                           servers=[server] if server else None)

    def _watch(self, rpc: str, request: Any, deadline: float | None, servers: Sequence[str] | None = None,
               relist: bool = False) -> Iterator[watch_pb2.WatchEvent]:
        """The events of a watch: SNAPSHOT events and one SYNCED (unless ``request.from_index``
        is set), then PUT, DELETE and BOOKMARK events with growing indexes.

        A disconnect resumes on the next replica from the last index received, so no change is
        lost or repeated; one during the snapshot starts it over (SNAPSHOT events again, then
        SYNCED). ClientError OUT_OF_RANGE or RESOURCE_EXHAUSTED: the watch cannot be resumed (the
        replica no longer holds those changes, or this consumer was too slow): list again; with
        ``relist`` the watch does so itself (a new snapshot, then its SYNCED, as kubectl does).
        TimeoutError once ``deadline`` (a time.monotonic() value) passes."""
        resume = int(request.from_index)
        synced = resume > 0
        retry_until = time.monotonic() + self.retry_for
        answers: dict[str, _Answer] = {}
        last: _Answer | None = None
        delay = 0.05
        while True:
            for address in list(servers) if servers else self._order():
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"{rpc}: deadline passed")
                attempt = type(request)()
                attempt.CopyFrom(request)
                attempt.from_index = resume if synced else 0
                if synced and resume > request.from_index:
                    self.watch_resumes += 1
                stub = watch_pb2_grpc.WatchServiceStub(self._channel(address))
                call = getattr(stub, rpc)(attempt, timeout=None if deadline is None
                                          else max(0.001, deadline - time.monotonic()))
                try:
                    for response in call:
                        for event in response.events:
                            if event.type == _WE.SYNCED:
                                synced = True
                            if event.type != _WE.SNAPSHOT:
                                resume = max(resume, event.index)
                            self._index.index = max(self._index.index, event.index)
                            yield event
                        retry_until = time.monotonic() + self.retry_for
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and deadline is not None \
                            and time.monotonic() >= deadline - 0.001:
                        raise TimeoutError(f"{rpc}: deadline passed") from None
                    last = answers[address] = _Answer(address, e, self.timeout)
                    if relist and last.code in _RELIST:
                        resume, synced = 0, False  # start over with a snapshot, on this replica
                        request.from_index = 0
                        break
                    if last.code not in _RETRYABLE:
                        raise ClientError(last.code, last.details, address) from None
                finally:
                    call.cancel()
            if time.monotonic() >= retry_until:
                if last is None:
                    raise ClientError(grpc.StatusCode.UNAVAILABLE, f"{rpc}: every stream ended")
                raise ClusterUnavailableError(last.code, _give_up_message(list(answers.values())), answers,
                                              last.address)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _retry_follows(run: runs_pb2.Run) -> bool:
    """Whether the leader will queue another attempt of a LOST run (the state machine's rule)."""
    limit = run.spec.max_attempts or _DEFAULT_MAX_ATTEMPTS
    return run.spec.lost_policy == jobs_pb2.RETRY and run.attempt < limit and not run.kill_requested


def _trailing(error: grpc.RpcError) -> dict[str, str]:
    try:
        md: Any = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    except Exception:
        return {}
    return {str(key): str(value) for key, value in md or () if value}


def _leader_hint(error: grpc.RpcError) -> str | None:
    """Servers attach ``x-wloadctl-leader`` (the leader's API address) to redirects."""
    return _trailing(error).get(LEADER_HEADER) or None

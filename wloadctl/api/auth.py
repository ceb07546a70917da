"""AuthService, UserService, RoleService, ApiKeyService: identities, credentials and roles.

Thin servicers: validate, decide what only the leader can (hash or verify a password, draw a
secret), propose, answer. Passwords are hashed and verified on the leader in a small worker
pool, so a brute-force loop costs that pool, not the event loop that serves everyone else; the
log carries the hash or the verdict, never the password.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import math
import os
import threading
from collections.abc import Callable, Sequence

import grpc

import wloadctl
from wloadctl.api.authn import Principal, peer_address
from wloadctl.api.authz import principal, require
from wloadctl.api.context import ApiContext
from wloadctl.api.governance import hold
from wloadctl.api.ratelimit import PerKeyLimiter
from wloadctl.proto.v1 import auth_pb2, auth_pb2_grpc, commands_pb2
from wloadctl.security import passwords, tokens, webhooks
from wloadctl.security.permissions import Permission, grants_of
from wloadctl.state.auth import USER_NAME, merge_bindings

_S = "/wloadctl.v1."
P = Permission
# scrypt runs here: two at a time (each ~80 ms and 32 MiB), and a bounded queue behind them.
_HASHERS = 2
_HASHING = asyncio.Semaphore(_HASHERS)
_MAX_WAITING = 64
_waiting = 0
MAX_PASSWORD_LENGTH = passwords.MAX_PASSWORD_BYTES
# The hashing threads run at a lower CPU priority: a brute-force loop then gets the CPU that
# the replica's event loop, its Raft thread and the other replicas on the host leave over
# (bench/auth_overhead.py: other clients' p99 20 -> 104 ms at the same priority, on 2 cores).
HASHING_NICENESS = 10
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):  # Linux: the priority of this thread alone
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


def _hashing_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(_HASHERS, thread_name_prefix="password-hashing",
                                                      initializer=_lower_priority)
    return _pool


async def _in_pool(context: grpc.aio.ServicerContext, fn: Callable[..., object], *args: object) -> object:
    global _waiting
    if _waiting >= _MAX_WAITING:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many logins at once; try again in a moment")
    _waiting += 1
    try:
        async with _HASHING:
            return await asyncio.get_running_loop().run_in_executor(_hashing_pool(), fn, *args)
    finally:
        _waiting -= 1


def policy_of(p: auth_pb2.SecurityPolicy) -> passwords.PasswordPolicy:
    return passwords.PasswordPolicy(
        min_length=p.password_min_length, require_upper=p.password_require_upper,
        require_lower=p.password_require_lower, require_digit=p.password_require_digit,
        require_special=p.password_require_special, max_age_days=p.password_max_age_days,
        max_failed_logins=p.max_failed_logins)


def redacted(user: auth_pb2.User) -> auth_pb2.User:
    out = auth_pb2.User()
    out.CopyFrom(user)
    out.ClearField("password_hash")
    return out


def _roles(bindings: Sequence[auth_pb2.Binding]) -> str:
    return ", ".join(f"{b.role}@{'+'.join(b.domains)}" if b.domains else b.role for b in bindings)


def _command(**body: object) -> commands_pb2.Command:
    return commands_pb2.Command(actor=principal().actor(), **body)


async def _check_password(api: ApiContext, context: grpc.aio.ServicerContext, password: str, user: str) -> None:
    problems = passwords.policy_problems(password, policy_of(api.store.security_policy()), user)
    if problems:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "password: needs " + ", ".join(problems))


async def _within_own_grants(context: grpc.aio.ServicerContext, api: ApiContext, bindings: Sequence[auth_pb2.Binding],
                             owner_bindings: Sequence[auth_pb2.Binding], who: str) -> None:
    """An API key never holds more than the person it acts for."""
    roles = api.store.role_permissions()
    owner = grants_of([(b.role, list(b.domains)) for b in owner_bindings], roles)
    wanted = grants_of([(b.role, list(b.domains)) for b in bindings], roles)
    for permission, domains in wanted.by_permission.items():
        held = owner.domains(permission)  # None: every domain
        for domain in sorted(domains):
            if held is None or (domain != "*" and domain in held):
                continue
            where = "in every domain" if domain == "*" else f"in domain {domain!r}"
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"bindings: {permission} {where} is more than {who} holds")


# Password logins per client address, on the replica that checks them (the leader), by default
# a burst of 30 then 2 per second (login_burst_per_source, login_rate_per_source): people and
# scripts logging in at once stay below; a guessing loop from one address is held to it, and its
# refused attempts cost no hash. The lockout after failed logins, counted in the replicated state,
# is what stops guessing at an account; this protects the replica's CPU.

THROTTLED_ANSWER_DELAY_S = 1.0
# A throttled attempt is audited once per address per THROTTLED_RECORD_EVERY_S; the next record
# counts the ones left out. Each record is a Raft write, and a loop of refusals otherwise makes
# the cluster write ~20 times a second, which is what other clients' p99 felt.
THROTTLED_RECORD_EVERY_S = 10.0


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, api: ApiContext, on_refused: Callable[..., None] | None = None) -> None:
        self.api = api
        self.on_refused = on_refused  # DenialReporter.report: refused attempts into the audit log, bounded
        self.logins = PerKeyLimiter(api.config.login_rate_per_source, api.config.login_burst_per_source)
        self.throttle_records = PerKeyLimiter(1 / THROTTLED_RECORD_EVERY_S, 1)
        self.throttled_unrecorded: dict[str, int] = {}

    def _record_throttled(self, ip: str, user: str, source: str, message: str) -> None:
        if self.on_refused is None:
            return
        if self.throttle_records.take(ip):
            if ip in self.throttled_unrecorded or len(self.throttled_unrecorded) < self.throttle_records.max_keys:
                self.throttled_unrecorded[ip] = self.throttled_unrecorded.get(ip, 0) + 1
            return
        left_out = self.throttled_unrecorded.pop(ip, 0)
        self.on_refused(Principal(kind="user", name=user, method="password", source=source),
                        "/wloadctl.v1.AuthService/Login", message, operation="login.throttled",
                        code=grpc.StatusCode.RESOURCE_EXHAUSTED, extra={"throttled_since_last_record": left_out})

    async def Login(self, request: auth_pb2.LoginRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.LoginResponse:
        if not request.user or len(request.user) > 64 or len(request.password) > MAX_PASSWORD_LENGTH:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password")

        async def here() -> auth_pb2.LoginResponse:
            caller = principal()
            ip = caller.source.rpartition(":")[0].strip("[]") if ":" in caller.source else caller.source
            wait_s = self.logins.take(ip)
            if wait_s:
                message = (f"too many login attempts from {ip}: at most {self.logins.burst:g} at once, then "
                           f"{self.logins.rate:g} per second; try again in {math.ceil(wait_s)} s")
                self._record_throttled(ip, request.user, caller.source, message)
                # Answered after a pause (a timer, no CPU): a guessing loop that waits for each
                # answer slows to a trickle instead of flooding the replica with refusals.
                await asyncio.sleep(min(wait_s, THROTTLED_ANSWER_DELAY_S))
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
            user = self.api.store.user(request.user)
            if user is not None and user.locked:
                ok = False  # refused whatever the password: the answer says it is locked, so no hash is owed
            else:
                stored = user.password_hash if user is not None and user.password_hash else passwords.dummy_hash()
                ok = bool(await _in_pool(context, passwords.verify_password, request.password, stored))
                ok = ok and user is not None and bool(user.password_hash)
            secret = tokens.new_secret()
            login = auth_pb2.RecordLogin(user=request.user, success=ok, source=principal().source, method="password",
                                         expected_version=user.version if user else 0,
                                         secret_hash=tokens.secret_hash(secret) if ok else b"",
                                         failure="" if ok else ("no such user" if user is None else "wrong password"))
            command = commands_pb2.Command(actor=auth_pb2.Actor(kind="user", name=request.user,
                                                                source=principal().source), record_login=login)
            result = await self.api.commit(command, context)
            return auth_pb2.LoginResponse(token=tokens.format_token("session", result.raft_index, secret),
                                          expires_ms=result.expires_ms, user=request.user, raft_index=result.raft_index,
                                          password_change_required=result.password_change_required)

        return await self.api.on_leader(_S + "AuthService/Login", request, auth_pb2.LoginResponse, context, here)

    async def Logout(self, request: auth_pb2.LogoutRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.LogoutResponse:
        caller = principal()
        if caller.method != "session":
            return auth_pb2.LogoutResponse()  # an API key has no session to close

        async def here() -> auth_pb2.LogoutResponse:
            await self.api.commit(_command(revoke_session=auth_pb2.RevokeSession(id=caller.credential_id)), context)
            return auth_pb2.LogoutResponse()

        return await self.api.on_leader(_S + "AuthService/Logout", request, auth_pb2.LogoutResponse, context, here)

    async def WhoAmI(self, request: auth_pb2.WhoAmIRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.WhoAmIResponse:
        caller = principal()
        return auth_pb2.WhoAmIResponse(kind=caller.kind, name=caller.name, method=caller.method,
                                       bindings=list(caller.bindings), permissions=caller.grants.describe(),
                                       expires_ms=caller.expires_ms,
                                       password_change_required=caller.password_change_only)

    async def ChangePassword(self, request: auth_pb2.ChangePasswordRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.ChangePasswordResponse:
        caller = principal()
        name = request.user or (caller.name if caller.kind == "user" else "")
        own = caller.kind == "user" and name == caller.name
        if not name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "user: required (an API key has no password)")
        if not own:
            await require(context, P.USER_ADMIN)
        if len(request.new_password) > MAX_PASSWORD_LENGTH or len(request.old_password) > MAX_PASSWORD_LENGTH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "password: too long")
        await _check_password(self.api, context, request.new_password, name)

        async def here() -> auth_pb2.ChangePasswordResponse:
            user = self.api.store.user(name)
            if user is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"user: no user {name!r}")
            if own:
                if not await _in_pool(context, passwords.verify_password, request.old_password, user.password_hash):
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "old_password: does not match")
                if request.old_password == request.new_password:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "new_password: must differ from the old one")
            updated = auth_pb2.User()
            updated.CopyFrom(user)
            updated.password_hash = str(await _in_pool(context, passwords.hash_password, request.new_password))
            # Reset by an administrator: the user must choose a new one at the next login.
            updated.must_change_password = not own
            await self.api.commit(_command(put_user=auth_pb2.PutUser(user=updated, expected_version=user.version)),
                                  context)
            return auth_pb2.ChangePasswordResponse()

        return await self.api.on_leader(_S + "AuthService/ChangePassword", request, auth_pb2.ChangePasswordResponse,
                                        context, here)

    async def Bootstrap(self, request: auth_pb2.AuthBootstrapRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.AuthBootstrapResponse:
        async def here() -> auth_pb2.AuthBootstrapResponse:
            if self.api.store.auth_bootstrapped():
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                    "the cluster is already bootstrapped: its first admin credential was handed "
                                    "out once; ask an administrator for a user or an API key")
            secret = tokens.new_secret()
            key = auth_pb2.ApiKey(secret_hash=tokens.secret_hash(secret), description="first admin credential")
            result = await self.api.commit(commands_pb2.Command(
                actor=auth_pb2.Actor(kind="anonymous", name="bootstrap", source=principal().source),
                auth_bootstrap=auth_pb2.AuthBootstrap(key=key)), context)
            return auth_pb2.AuthBootstrapResponse(token=tokens.format_token("apikey", result.raft_index, secret),
                                                  key_id=result.id)

        return await self.api.on_leader(_S + "AuthService/Bootstrap", request, auth_pb2.AuthBootstrapResponse,
                                        context, here)

    async def GetPolicy(self, request: auth_pb2.GetPolicyRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.SecurityPolicy:
        return self.api.store.security_policy()

    async def SetPolicy(self, request: auth_pb2.SetPolicyRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.SecurityPolicy:
        async def here() -> auth_pb2.SecurityPolicy:
            await self.api.commit(_command(set_security_policy=auth_pb2.SetSecurityPolicy(policy=request.policy)),
                                  context)
            return self.api.store.security_policy()

        return await self.api.on_leader(_S + "AuthService/SetPolicy", request, auth_pb2.SecurityPolicy, context, here)


    async def ServerInfo(self, request: auth_pb2.ServerInfoRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.ServerInfoResponse:
        return auth_pb2.ServerInfoResponse(node_id=self.api.config.node_id, version=wloadctl.__version__,
                                           certificate_login_address=certificate_login_address(self.api))

    async def IssueCertificateSession(self, request: auth_pb2.IssueCertificateSessionRequest,
                                      context: grpc.aio.ServicerContext) -> auth_pb2.LoginResponse:
        if not self.api.node.is_leader():
            await self.api.abort_not_leader(context)
        return await issue_certificate_session(self.api, context, request.user, request.source, request.secret_hash)


def certificate_login_address(api: ApiContext) -> str:
    """Where this replica takes certificate logins: its mutual-TLS port, at an address clients can dial."""
    if api.ca_pem is None:
        return ""
    host, _, port = api.config.agent_address.rpartition(":")
    if host.strip("[]") in ("0.0.0.0", "::", ""):  # listening everywhere: the API's host is one clients know
        host = api.config.api_address.rpartition(":")[0]
    return f"{host}:{port}"


async def issue_certificate_session(api: ApiContext, context: grpc.aio.ServicerContext, user_name: str,
                                    source: str, secret_hash: bytes) -> auth_pb2.LoginResponse:
    """On the leader: a session for a user whose certificate a replica verified."""
    user = api.store.user(user_name)
    login = auth_pb2.RecordLogin(user=user_name, success=user is not None, source=source[:100],
                                 method="certificate", expected_version=user.version if user else 0,
                                 secret_hash=secret_hash, failure="" if user else "no such user")
    result = await api.commit(commands_pb2.Command(actor=auth_pb2.Actor(kind="user", name=user_name, source=source),
                                                   record_login=login), context)
    # No token: the secret stays with the replica that verified the certificate, which builds it.
    return auth_pb2.LoginResponse(expires_ms=result.expires_ms, user=user_name, raft_index=result.raft_index,
                                  password_change_required=result.password_change_required)


class CertificateAuthServicer(auth_pb2_grpc.CertificateAuthServicer):
    """On the mutual-TLS port: a client certificate (wloadctl://client/USER) for a session of USER."""

    def __init__(self, api: ApiContext, identity: object) -> None:
        self.api = api
        self.identity = identity  # security.certs.peer_identity

    async def Login(self, request: auth_pb2.CertificateLoginRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.LoginResponse:
        who = self.identity(context)  # type: ignore[operator]
        if who is None or who[0] != "client":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "a client certificate (wloadctl certs issue --kind client) is needed to log in here")
        user = who[1]
        source = peer_address(context.peer())
        secret = tokens.new_secret()
        digest = tokens.secret_hash(secret)
        if self.api.node.is_leader():
            answer = await issue_certificate_session(self.api, context, user, source, digest)
        else:
            leader = self.api.leader_api_address()
            if not leader:
                await self.api.abort_not_leader(context)
            try:
                answer = await auth_pb2_grpc.AuthServiceStub(self.api.channel(leader)).IssueCertificateSession(
                    auth_pb2.IssueCertificateSessionRequest(user=user, source=source, secret_hash=digest),
                    timeout=10, metadata=self.api.replica_metadata())
            except grpc.aio.AioRpcError as e:
                await context.abort(e.code(), e.details() or e.code().name)
        answer.token = tokens.format_token("session", answer.raft_index, secret)
        return answer


class UserServicer(auth_pb2_grpc.UserServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def _get(self, name: str, context: grpc.aio.ServicerContext) -> auth_pb2.User:
        user = self.api.store.user(name)
        if user is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: no user {name!r}")
        return user

    async def CreateUser(self, request: auth_pb2.CreateUserRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.User:
        if not USER_NAME.match(request.name):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"name: {request.name[:70]!r} must be 1-64 letters, digits, '.', '_', '@' or '-'")
        if request.password:
            await _check_password(self.api, context, request.password, request.name)

        async def here() -> auth_pb2.User:
            hashed = str(await _in_pool(context, passwords.hash_password, request.password)) \
                if request.password else ""
            user = auth_pb2.User(name=request.name, password_hash=hashed, bindings=request.bindings, active=True,
                                 valid_from_ms=request.valid_from_ms, valid_until_ms=request.valid_until_ms,
                                 description=request.description,
                                 must_change_password=request.must_change_password)
            command = _command(put_user=auth_pb2.PutUser(user=user))
            if request.bindings:
                await hold(self.api, context, "role.change", "", command,
                           f"create user {request.name} with roles {_roles(request.bindings)}",
                           [f"user/{request.name}"])
            await self.api.commit(command, context)
            return redacted(await self._get(request.name, context))

        return await self.api.on_leader(_S + "UserService/CreateUser", request, auth_pb2.User, context, here)

    async def GetUser(self, request: auth_pb2.GetUserRequest, context: grpc.aio.ServicerContext) -> auth_pb2.User:
        return redacted(await self._get(request.name, context))

    async def ListUsers(self, request: auth_pb2.ListUsersRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.ListUsersResponse:
        return auth_pb2.ListUsersResponse(users=[redacted(u) for u in self.api.store.users()])

    async def UpdateUser(self, request: auth_pb2.UpdateUserRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.User:
        caller = principal()
        if caller.kind == "user" and caller.name == request.name and (request.grant or request.revoke):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "grant/revoke: nobody changes their own roles; ask another administrator")
        if request.password:
            await _check_password(self.api, context, request.password, request.name)

        async def here() -> auth_pb2.User:
            current = await self._get(request.name, context)
            user = auth_pb2.User()
            user.CopyFrom(current)
            if request.HasField("active"):
                user.active = request.active
            if request.HasField("locked"):
                user.locked = request.locked
                user.locked_reason = f"locked by {caller.name}" if request.locked else ""
                if not request.locked:
                    user.failed_logins = 0
            try:
                merged = merge_bindings(user.bindings, request.grant, request.revoke)
            except ValueError as e:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            del user.bindings[:]
            user.bindings.extend(merged)
            for name in ("valid_from_ms", "valid_until_ms", "description", "must_change_password"):
                if request.HasField(name):
                    setattr(user, name, getattr(request, name))
            if request.password:
                user.password_hash = str(await _in_pool(context, passwords.hash_password, request.password))
                user.must_change_password = True  # an administrator chose it: the user replaces it
            command = _command(put_user=auth_pb2.PutUser(user=user, expected_version=current.version))
            if request.grant or request.revoke:
                what = "; ".join(filter(None, [f"grant {_roles(request.grant)}" if request.grant else "",
                                               f"revoke {_roles(request.revoke)}" if request.revoke else ""]))
                await hold(self.api, context, "role.change", "", command, f"{what} for user {request.name}",
                           [f"user/{request.name}"])
            await self.api.commit(command, context)
            return redacted(await self._get(request.name, context))

        return await self.api.on_leader(_S + "UserService/UpdateUser", request, auth_pb2.User, context, here)

    async def DeleteUser(self, request: auth_pb2.DeleteUserRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.DeleteUserResponse:
        caller = principal()
        if caller.kind == "user" and caller.name == request.name:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "name: you cannot delete yourself")

        async def here() -> auth_pb2.DeleteUserResponse:
            current = await self._get(request.name, context)
            await self.api.commit(_command(delete_user=auth_pb2.DeleteUser(name=request.name,
                                                                           expected_version=current.version)),
                                  context)
            return auth_pb2.DeleteUserResponse()

        return await self.api.on_leader(_S + "UserService/DeleteUser", request, auth_pb2.DeleteUserResponse, context,
                                        here)


class RoleServicer(auth_pb2_grpc.RoleServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def CreateRole(self, request: auth_pb2.CreateRoleRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.Role:
        async def here() -> auth_pb2.Role:
            role = auth_pb2.Role(name=request.name, permissions=request.permissions, description=request.description)
            command = _command(put_role=auth_pb2.PutRole(role=role))
            await hold(self.api, context, "role.change", "", command, f"create role {request.name}",
                       [f"role/{request.name}"])
            await self.api.commit(command, context)
            return await self.GetRole(auth_pb2.GetRoleRequest(name=request.name), context)

        return await self.api.on_leader(_S + "RoleService/CreateRole", request, auth_pb2.Role, context, here)

    async def GetRole(self, request: auth_pb2.GetRoleRequest, context: grpc.aio.ServicerContext) -> auth_pb2.Role:
        role = self.api.store.role(request.name)
        if role is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"name: no role {request.name!r}")
        return role

    async def ListRoles(self, request: auth_pb2.ListRolesRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.ListRolesResponse:
        return auth_pb2.ListRolesResponse(roles=self.api.store.roles())

    async def DeleteRole(self, request: auth_pb2.DeleteRoleRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.DeleteRoleResponse:
        async def here() -> auth_pb2.DeleteRoleResponse:
            command = _command(delete_role=auth_pb2.DeleteRole(name=request.name))
            await hold(self.api, context, "role.change", "", command, f"delete role {request.name}",
                       [f"role/{request.name}"])
            await self.api.commit(command, context)
            return auth_pb2.DeleteRoleResponse()

        return await self.api.on_leader(_S + "RoleService/DeleteRole", request, auth_pb2.DeleteRoleResponse, context,
                                        here)


class ApiKeyServicer(auth_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, api: ApiContext) -> None:
        self.api = api

    async def CreateApiKey(self, request: auth_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.CreateApiKeyResponse:
        caller = principal()
        owner = request.owner or (caller.name if caller.kind == "user" else "")
        if request.owner and request.owner != caller.name:
            user = self.api.store.user(request.owner)
            if user is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"owner: no user {request.owner!r}")
            await _within_own_grants(context, self.api, request.bindings, user.bindings, f"user {request.owner!r}")
        else:
            await _within_own_grants(context, self.api, request.bindings, caller.bindings, "you")
        for cidr in request.allowed_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"allowed_networks: {cidr!r} is not a CIDR")

        async def here() -> auth_pb2.CreateApiKeyResponse:
            secret = tokens.new_secret()
            key = auth_pb2.ApiKey(secret_hash=tokens.secret_hash(secret), owner=owner, bindings=request.bindings,
                                  allowed_networks=request.allowed_networks, expires_ms=request.expires_ms,
                                  description=request.description)
            result = await self.api.commit(_command(create_api_key=auth_pb2.CreateApiKey(key=key)), context)
            stored = self.api.store.api_key(result.id) or key
            shown = auth_pb2.ApiKey()
            shown.CopyFrom(stored)
            shown.ClearField("secret_hash")
            signing = webhooks.signing_key(self.api.secret, stored.id, stored.secret_hash) \
                if self.api.secret is not None and stored.id else ""
            return auth_pb2.CreateApiKeyResponse(key=shown, token=tokens.format_token("apikey", result.raft_index,
                                                                                       secret),
                                                 webhook_signing_key=signing)

        return await self.api.on_leader(_S + "ApiKeyService/CreateApiKey", request, auth_pb2.CreateApiKeyResponse,
                                        context, here)

    async def _get(self, key_id: str, context: grpc.aio.ServicerContext) -> auth_pb2.ApiKey:
        key = self.api.store.api_key(key_id)
        if key is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"id: no API key {key_id!r}")
        shown = auth_pb2.ApiKey()
        shown.CopyFrom(key)
        shown.ClearField("secret_hash")
        return shown

    async def GetApiKey(self, request: auth_pb2.GetApiKeyRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.ApiKey:
        return await self._get(request.id, context)

    async def ListApiKeys(self, request: auth_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.ListApiKeysResponse:
        keys = []
        for key in self.api.store.api_keys():
            shown = auth_pb2.ApiKey()
            shown.CopyFrom(key)
            shown.ClearField("secret_hash")
            keys.append(shown)
        return auth_pb2.ListApiKeysResponse(keys=keys)

    async def RevokeApiKey(self, request: auth_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext) \
            -> auth_pb2.ApiKey:
        async def here() -> auth_pb2.ApiKey:
            await self.api.commit(_command(revoke_api_key=auth_pb2.RevokeApiKey(id=request.id)), context)
            return await self._get(request.id, context)

        return await self.api.on_leader(_S + "ApiKeyService/RevokeApiKey", request, auth_pb2.ApiKey, context, here)

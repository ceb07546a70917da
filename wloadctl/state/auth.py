"""Users, roles, API keys, sessions and the security policy in the replicated state.

Part of the pure state machine (applied inside Store.apply): no clock but the batch's, no
randomness (ids come from the Raft index, secrets arrive hashed), no I/O beyond the LMDB
transaction. The leader decides what it can (hashes a password, verifies one); apply re-checks
what the decision was based on (a record's version) and counts what must hold across replicas
(failed logins, so that a lockout after three failures holds whichever replica saw them).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence

import grpc
import lmdb

from wloadctl.proto.v1 import auth_pb2, commands_pb2
from wloadctl.security.permissions import BUILTIN_ROLES, role_problems
from wloadctl.state.encoding import encode
from wloadctl.state.results import err as _err
from wloadctl.state.results import ok as _ok

AUTH_DBS = (b"users", b"roles", b"api_keys", b"sessions", b"session_expiry")
# Message type of each database's values (for Store's canonical re-encoding; session_expiry is an index).
AUTH_MESSAGES = {b"users": auth_pb2.User, b"roles": auth_pb2.Role, b"api_keys": auth_pb2.ApiKey,
                 b"sessions": auth_pb2.Session}

_POLICY = b"security_policy"
_BOOTSTRAPPED = b"auth_bootstrapped"
_U64 = struct.Struct(">Q")
_SESSION_EXPIRY_PER_BATCH = 200

USER_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._@-]{0,62}[A-Za-z0-9])?$")
DOMAIN_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")
MAX_BINDINGS = 64
MAX_DESCRIPTION = 1000
MAX_NETWORKS = 32


def default_policy() -> auth_pb2.SecurityPolicy:
    """The owner's rules: 12 characters with upper, lower, digit and special, changed every
    90 days; three failed logins lock an account; sessions last 12 hours."""
    return auth_pb2.SecurityPolicy(
        password_min_length=12, password_require_upper=True, password_require_lower=True,
        password_require_digit=True, password_require_special=True, password_max_age_days=90,
        max_failed_logins=3, session_ttl_minutes=12 * 60, audit_retention_days=0,
        approvals=[auth_pb2.ApprovalRule(operation=op) for op in DEFAULT_APPROVALS])


# Four-eyes is off until a policy names operations (wloadctl auth policy set --approval ...): a new
# cluster has one administrator, and a request nobody else could approve would only block setup.
# The operations a rule may name:
APPROVAL_OPERATIONS = ("job.delete", "run.kill", "run.rerun", "cluster.force_dispatch", "cluster.membership",
                       "role.change")
DEFAULT_APPROVALS: tuple[str, ...] = ()


def binding_problems(bindings: Sequence[auth_pb2.Binding], roles: set[str]) -> list[str]:
    problems = []
    if len(bindings) > MAX_BINDINGS:
        problems.append(f"bindings: at most {MAX_BINDINGS}")
    for b in bindings:
        if b.role not in roles:
            problems.append(f"bindings: unknown role {b.role!r}")
        problems += [f"bindings.{b.role}: domain {d!r} must be 1-64 letters, digits, '.', '_' or '-'"
                     for d in b.domains if not DOMAIN_NAME.match(d)]
    return problems


def merge_bindings(current: Sequence[auth_pb2.Binding], grant: Sequence[auth_pb2.Binding],
                   revoke: Sequence[auth_pb2.Binding]) -> list[auth_pb2.Binding]:
    """`user grant/revoke`: one binding per role; no domains means every domain. ValueError when
    a revoke names some domains of a role bound in every domain (not expressible as a list)."""
    by_role: dict[str, set[str] | None] = {b.role: (set(b.domains) or None) for b in current}
    for b in grant:
        have = by_role.get(b.role, set())
        by_role[b.role] = None if have is None or not b.domains else have | set(b.domains)
    for b in revoke:
        if b.role not in by_role:
            continue
        have = by_role[b.role]
        if not b.domains:
            del by_role[b.role]
        elif have is None:
            raise ValueError(f"revoke: {b.role!r} is bound in every domain; revoke the role, then grant it "
                             f"in the domains that stay")
        elif left := have - set(b.domains):
            by_role[b.role] = left
        else:
            del by_role[b.role]
    return [auth_pb2.Binding(role=r, domains=sorted(d) if d else []) for r, d in sorted(by_role.items())]


class AuthTables:
    def __init__(self, dbs: dict[bytes, lmdb._Database]) -> None:
        self.meta = dbs[b"meta"]
        self.users = dbs[b"users"]
        self.roles = dbs[b"roles"]
        self.keys = dbs[b"api_keys"]
        self.sessions = dbs[b"sessions"]
        self.session_expiry = dbs[b"session_expiry"]

    # ---- reads (any transaction)

    def user(self, txn: lmdb.Transaction, name: str) -> auth_pb2.User | None:
        raw = txn.get(name.encode(), db=self.users) if name else None
        return auth_pb2.User.FromString(raw) if raw else None

    def list_users(self, txn: lmdb.Transaction) -> Iterator[auth_pb2.User]:
        for _, raw in txn.cursor(db=self.users):
            yield auth_pb2.User.FromString(raw)

    def role(self, txn: lmdb.Transaction, name: str) -> auth_pb2.Role | None:
        """A custom role from the state, or a built-in one (never stored)."""
        builtin = BUILTIN_ROLES.get(name)
        if builtin is not None:
            return auth_pb2.Role(name=name, permissions=sorted(builtin.permissions), description=builtin.description,
                                 builtin=True)
        raw = txn.get(name.encode(), db=self.roles) if name else None
        return auth_pb2.Role.FromString(raw) if raw else None

    def list_roles(self, txn: lmdb.Transaction) -> list[auth_pb2.Role]:
        builtin = [r for name in BUILTIN_ROLES if (r := self.role(txn, name)) is not None]
        return builtin + [auth_pb2.Role.FromString(raw) for _, raw in txn.cursor(db=self.roles)]

    def role_permissions(self, txn: lmdb.Transaction) -> dict[str, list[str]]:
        return {r.name: list(r.permissions) for r in self.list_roles(txn)}

    def key(self, txn: lmdb.Transaction, key_id: str) -> auth_pb2.ApiKey | None:
        raw = txn.get(key_id.encode(), db=self.keys) if key_id else None
        return auth_pb2.ApiKey.FromString(raw) if raw else None

    def list_keys(self, txn: lmdb.Transaction) -> Iterator[auth_pb2.ApiKey]:
        for _, raw in txn.cursor(db=self.keys):
            yield auth_pb2.ApiKey.FromString(raw)

    def session(self, txn: lmdb.Transaction, session_id: str) -> auth_pb2.Session | None:
        raw = txn.get(session_id.encode(), db=self.sessions) if session_id else None
        return auth_pb2.Session.FromString(raw) if raw else None

    def policy(self, txn: lmdb.Transaction) -> auth_pb2.SecurityPolicy:
        raw = txn.get(_POLICY, db=self.meta)
        return auth_pb2.SecurityPolicy.FromString(raw) if raw else default_policy()

    def bootstrapped(self, txn: lmdb.Transaction) -> bool:
        return txn.get(_BOOTSTRAPPED, db=self.meta) is not None

    # ---- writes (inside Store.apply)

    def _known_roles(self, txn: lmdb.Transaction) -> set[str]:
        return {r.name for r in self.list_roles(txn)}

    def bootstrap(self, txn: lmdb.Transaction, cmd: auth_pb2.AuthBootstrap, now_ms: int,
                  raft_index: int) -> commands_pb2.CommandResult:
        if self.bootstrapped(txn):
            return _err(grpc.StatusCode.FAILED_PRECONDITION,
                        "the cluster is already bootstrapped: its first admin credential was handed out once; "
                        "ask an administrator for a user or an API key")
        if len(cmd.key.secret_hash) != 32:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "key.secret_hash: 32 bytes (SHA-256)")
        key = auth_pb2.ApiKey(id=f"k{raft_index}", secret_hash=cmd.key.secret_hash, owner="admin",
                              bindings=[auth_pb2.Binding(role="admin")], created_ms=now_ms, created_by="bootstrap",
                              description=cmd.key.description[:MAX_DESCRIPTION] or "first admin credential")
        txn.put(key.id.encode(), encode(key), db=self.keys)
        txn.put(_BOOTSTRAPPED, _U64.pack(raft_index), db=self.meta)
        if txn.get(_POLICY, db=self.meta) is None:
            txn.put(_POLICY, encode(default_policy()), db=self.meta)
        return _ok(id=key.id)

    def put_user(self, txn: lmdb.Transaction, cmd: auth_pb2.PutUser, now_ms: int, actor: str) \
            -> commands_pb2.CommandResult:
        user = cmd.user
        problems = [] if USER_NAME.match(user.name) else \
            [f"name: {user.name[:70]!r} must be 1-64 letters, digits, '.', '_', '@' or '-'"]
        problems += binding_problems(user.bindings, self._known_roles(txn))
        if len(user.description) > MAX_DESCRIPTION:
            problems.append(f"description: at most {MAX_DESCRIPTION} characters")
        if user.valid_until_ms and user.valid_from_ms and user.valid_until_ms <= user.valid_from_ms:
            problems.append("valid_until: must be after valid_from")
        if problems:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        current = self.user(txn, user.name)
        if cmd.expected_version == 0 and current is not None:
            return _err(grpc.StatusCode.ALREADY_EXISTS, f"name: user {user.name!r} already exists")
        if cmd.expected_version and (current is None or current.version != cmd.expected_version):
            return _err(grpc.StatusCode.ABORTED, f"name: user {user.name!r} changed meanwhile; try again")
        record = auth_pb2.User()
        record.CopyFrom(user)
        record.version = (current.version if current else 0) + 1
        record.updated_ms = now_ms
        if current is None:
            record.created_ms, record.created_by = now_ms, actor
        else:
            record.created_ms, record.created_by = current.created_ms, current.created_by
        if not record.locked:
            record.locked_reason = ""
        if current is None or current.password_hash != record.password_hash:
            # The expiry of the policy's max age counts from here (stamped time, never the client's).
            record.password_changed_ms = now_ms
        txn.put(record.name.encode(), encode(record), db=self.users)
        return _ok()

    def delete_user(self, txn: lmdb.Transaction, cmd: auth_pb2.DeleteUser) -> commands_pb2.CommandResult:
        current = self.user(txn, cmd.name)
        if current is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"name: no user {cmd.name!r}")
        if cmd.expected_version and current.version != cmd.expected_version:
            return _err(grpc.StatusCode.ABORTED, f"name: user {cmd.name!r} changed meanwhile; try again")
        txn.delete(cmd.name.encode(), db=self.users)
        return _ok()

    def put_role(self, txn: lmdb.Transaction, cmd: auth_pb2.PutRole, now_ms: int, actor: str) \
            -> commands_pb2.CommandResult:
        role = cmd.role
        problems = role_problems(role.name, role.permissions)
        if len(role.description) > MAX_DESCRIPTION:
            problems.append(f"description: at most {MAX_DESCRIPTION} characters")
        if problems:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        raw = txn.get(role.name.encode(), db=self.roles)
        current = auth_pb2.Role.FromString(raw) if raw else None
        if cmd.expected_version == 0 and current is not None:
            return _err(grpc.StatusCode.ALREADY_EXISTS, f"name: role {role.name!r} already exists")
        if cmd.expected_version and (current is None or current.version != cmd.expected_version):
            return _err(grpc.StatusCode.ABORTED, f"name: role {role.name!r} changed meanwhile; try again")
        record = auth_pb2.Role(name=role.name, permissions=sorted(set(role.permissions)),
                               description=role.description, version=(current.version if current else 0) + 1,
                               created_ms=current.created_ms if current else now_ms,
                               created_by=current.created_by if current else actor)
        txn.put(record.name.encode(), encode(record), db=self.roles)
        return _ok()

    def delete_role(self, txn: lmdb.Transaction, cmd: auth_pb2.DeleteRole) -> commands_pb2.CommandResult:
        if cmd.name in BUILTIN_ROLES:
            return _err(grpc.StatusCode.FAILED_PRECONDITION, f"name: {cmd.name!r} is a built-in role")
        if txn.get(cmd.name.encode(), db=self.roles) is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"name: no role {cmd.name!r}")
        holders = [u.name for u in self.list_users(txn) if any(b.role == cmd.name for b in u.bindings)]
        holders += [k.id for k in self.list_keys(txn) if not k.revoked and any(b.role == cmd.name for b in k.bindings)]
        if holders:
            shown = ", ".join(holders[:10]) + (f" and {len(holders) - 10} more" if len(holders) > 10 else "")
            return _err(grpc.StatusCode.FAILED_PRECONDITION,
                        f"name: role {cmd.name!r} is still bound to {shown}; revoke it first")
        txn.delete(cmd.name.encode(), db=self.roles)
        return _ok()

    def record_login(self, txn: lmdb.Transaction, cmd: auth_pb2.RecordLogin, now_ms: int,
                     raft_index: int) -> commands_pb2.CommandResult:
        user = self.user(txn, cmd.user)
        denied = _err(grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password")
        if user is None:
            return denied
        policy = self.policy(txn)
        if user.locked:
            return _err(grpc.StatusCode.PERMISSION_DENIED,
                        f"user {user.name!r} is locked ({user.locked_reason or 'by an administrator'}); "
                        f"an administrator can unlock it: wloadctl user unlock {user.name}")
        if not cmd.success or cmd.expected_version != user.version:
            # A verdict made against an older record (the password changed meanwhile) counts as failed.
            user.failed_logins += 1
            limit = policy.max_failed_logins or 3
            if user.failed_logins >= limit:
                user.locked = True
                user.locked_reason = f"{user.failed_logins} failed logins in a row"
            user.version += 1
            user.updated_ms = now_ms
            txn.put(user.name.encode(), encode(user), db=self.users)
            if user.locked:
                return _err(grpc.StatusCode.PERMISSION_DENIED,
                            f"invalid user name or password; user {user.name!r} is now locked after "
                            f"{user.failed_logins} failed logins (an administrator can unlock it)")
            return denied
        why = unusable_reason(user, now_ms)
        if why:
            return _err(grpc.StatusCode.PERMISSION_DENIED, why)
        if len(cmd.secret_hash) != 32:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "secret_hash: 32 bytes (SHA-256)")
        expired = password_expired(user, policy, now_ms)
        session = auth_pb2.Session(id=f"s{raft_index}", secret_hash=cmd.secret_hash, user=user.name,
                                   created_ms=now_ms,
                                   expires_ms=now_ms + (policy.session_ttl_minutes or 720) * 60_000,
                                   source=cmd.source[:100], method=cmd.method[:20] or "password",
                                   password_change_only=expired)
        txn.put(session.id.encode(), encode(session), db=self.sessions)
        txn.put(_U64.pack(session.expires_ms) + session.id.encode(), b"", db=self.session_expiry)
        user.failed_logins = 0
        user.last_login_ms = now_ms
        user.version += 1
        user.updated_ms = now_ms
        txn.put(user.name.encode(), encode(user), db=self.users)
        return _ok(id=session.id, expires_ms=session.expires_ms, password_change_required=expired)

    def revoke_session(self, txn: lmdb.Transaction, cmd: auth_pb2.RevokeSession) -> commands_pb2.CommandResult:
        session = self.session(txn, cmd.id)
        if session is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"id: no session {cmd.id!r}")
        session.revoked = True
        txn.put(session.id.encode(), encode(session), db=self.sessions)
        return _ok(id=session.id)

    def create_key(self, txn: lmdb.Transaction, cmd: auth_pb2.CreateApiKey, now_ms: int, raft_index: int,
                   actor: str) -> commands_pb2.CommandResult:
        key = auth_pb2.ApiKey()
        key.CopyFrom(cmd.key)
        problems = binding_problems(key.bindings, self._known_roles(txn))
        if not key.bindings:
            problems.append("bindings: at least one role")
        if len(key.secret_hash) != 32:
            problems.append("secret_hash: 32 bytes (SHA-256)")
        if len(key.allowed_networks) > MAX_NETWORKS:
            problems.append(f"allowed_networks: at most {MAX_NETWORKS}")
        if key.expires_ms and key.expires_ms <= now_ms:
            problems.append("expires: must be in the future")
        if len(key.description) > MAX_DESCRIPTION:
            problems.append(f"description: at most {MAX_DESCRIPTION} characters")
        if problems:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        key.id, key.created_ms, key.created_by, key.revoked = f"k{raft_index}", now_ms, actor, False
        txn.put(key.id.encode(), encode(key), db=self.keys)
        return _ok(id=key.id, expires_ms=key.expires_ms)

    def revoke_key(self, txn: lmdb.Transaction, cmd: auth_pb2.RevokeApiKey) -> commands_pb2.CommandResult:
        key = self.key(txn, cmd.id)
        if key is None:
            return _err(grpc.StatusCode.NOT_FOUND, f"id: no API key {cmd.id!r}")
        key.revoked = True
        txn.put(key.id.encode(), encode(key), db=self.keys)
        return _ok(id=key.id)

    def set_policy(self, txn: lmdb.Transaction, cmd: auth_pb2.SetSecurityPolicy) -> commands_pb2.CommandResult:
        p = cmd.policy
        problems = []
        if not 8 <= p.password_min_length <= 256:
            problems.append("password_min_length: from 8 to 256")
        if not 1 <= p.max_failed_logins <= 100:
            problems.append("max_failed_logins: from 1 to 100")
        if not 1 <= p.session_ttl_minutes <= 30 * 24 * 60:
            problems.append("session_ttl_minutes: from 1 to 43200 (30 days)")
        if p.password_max_age_days > 3650:
            problems.append("password_max_age_days: at most 3650 (0 = never)")
        for rule in p.approvals:
            if rule.operation not in APPROVAL_OPERATIONS:
                problems.append(f"approvals: unknown operation {rule.operation!r} "
                                f"(known: {', '.join(APPROVAL_OPERATIONS)})")
            problems += [f"approvals.{rule.operation}: domain {d!r} is not a domain name"
                         for d in rule.domains if not DOMAIN_NAME.match(d)]
        if problems:
            return _err(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        txn.put(_POLICY, encode(p), db=self.meta)
        return _ok()

    def expire_sessions(self, txn: lmdb.Transaction, now_ms: int) -> int:
        """Drop sessions past their expiry, a bounded number per entry (state time only); how many."""
        cur = txn.cursor(db=self.session_expiry)
        removed = 0
        horizon = _U64.pack(max(0, now_ms))
        if not cur.first():
            return 0
        while removed < _SESSION_EXPIRY_PER_BATCH and cur.key()[:8] < horizon:
            txn.delete(cur.key()[8:], db=self.sessions)
            cur.delete()
            removed += 1
            if not cur.key():
                break
        return removed


def password_expired(user: auth_pb2.User, policy: auth_pb2.SecurityPolicy, now_ms: int) -> bool:
    if user.must_change_password:
        return True
    if not policy.password_max_age_days or not user.password_hash:
        return False
    return now_ms - user.password_changed_ms > policy.password_max_age_days * 86_400_000


def unusable_reason(user: auth_pb2.User, now_ms: int) -> str:
    """Why this user cannot authenticate now ("" when it can)."""
    if not user.active:
        return f"user {user.name!r} is deactivated"
    if user.locked:
        return f"user {user.name!r} is locked ({user.locked_reason or 'by an administrator'})"
    if user.valid_from_ms and now_ms < user.valid_from_ms:
        return f"user {user.name!r} is not valid yet"
    if user.valid_until_ms and now_ms >= user.valid_until_ms:
        return f"user {user.name!r} expired (its validity period ended)"
    return ""

"""Who is calling: bearer credentials checked against the replica's own copy of the state.

Every RPC except the open ones (health, reflection, login, bootstrap) carries
`authorization: Bearer <credential>`: a session token from `wloadctl login` or an API key. The
answering replica checks it against its applied state, so authentication costs one read and a
SHA-256, on any replica. A credential the leader issued a moment ago may not be applied on this
replica yet: its Raft index (the middle part) says so, and the replica waits for it, briefly.

A call a follower forwards to the leader carries the caller's credential unchanged, so the leader
authenticates the caller itself; the caller's address travels in `x-wloadctl-source`, signed with
an HMAC of the cluster secret so that no client can claim another address.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wloadctl.api.headers import REPLICA_AUTH_HEADER, WEBHOOK_HEADER
from wloadctl.proto.v1 import auth_pb2
from wloadctl.security.permissions import Grants, Permission, grants_of
from wloadctl.security.tokens import Token, matches, parse_token
from wloadctl.state.auth import unusable_reason

__all__ = ["AuthError", "AuthState", "Authenticator", "Principal", "sign_source", "verify_source"]

AUTHORIZATION = "authorization"
SOURCE_HEADER = "x-wloadctl-source"
# How long a replica waits for its own state to reach a credential's Raft index.
CATCH_UP_SECONDS = 2.0
# Principals remembered per (credential, client IP) while the security state stays the same.
CACHE_ENTRIES = 4096
# Allowed while a password has expired: enough to change it (and to see why nothing else works).
PASSWORD_CHANGE_METHODS = frozenset({"/wloadctl.v1.AuthService/ChangePassword", "/wloadctl.v1.AuthService/WhoAmI",
                                     "/wloadctl.v1.AuthService/Logout"})


class AuthState(Protocol):
    """The reads authentication needs from the replica's state (Store implements them)."""

    def applied_index(self) -> int: ...
    def session(self, session_id: str) -> auth_pb2.Session | None: ...
    def api_key(self, key_id: str) -> auth_pb2.ApiKey | None: ...
    def user(self, name: str) -> auth_pb2.User | None: ...
    def role_permissions(self) -> dict[str, list[str]]: ...
    def auth_generation(self) -> int: ...


class AuthError(Exception):
    """``code`` is "unauthenticated" or "permission_denied"; ``message`` is safe to show the caller."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Principal:
    kind: str                      # user | apikey | anonymous
    name: str                      # user name, or key id
    method: str                    # session | apikey | none
    grants: Grants = field(default_factory=Grants)
    bindings: tuple[auth_pb2.Binding, ...] = ()
    credential_id: str = ""        # s42, k57
    expires_ms: int = 0
    password_change_only: bool = False
    source: str = ""               # ip:port of the client

    def actor(self) -> auth_pb2.Actor:
        return auth_pb2.Actor(kind=self.kind, name=self.name, source=self.source)

    def allows(self, permission: Permission, domain: str | None = None) -> bool:
        return self.grants.allows(permission, domain)


def peer_address(peer: str) -> str:
    """`ipv4:10.0.0.5:51234` / `ipv6:[::1]:51234` (grpc's context.peer()) -> `10.0.0.5:51234`."""
    for prefix in ("ipv4:", "ipv6:"):
        if peer.startswith(prefix):
            return peer[len(prefix):]
    return peer


def peer_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = address.rpartition(":")[0].strip("[]") if ":" in address else address
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def in_networks(address: str, networks: Sequence[str]) -> bool:
    ip = peer_ip(address)
    if ip is None:
        return False
    for cidr in networks:
        try:
            if ip in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def sign_source(secret: bytes, node_id: str, source: str) -> str:
    mac = hmac.new(secret, f"{node_id}|{source}".encode(), hashlib.sha256).hexdigest()
    return f"{node_id}|{source}|{mac}"


def verify_source(secret: bytes, header: str) -> str | None:
    """The client address a replica vouched for, or None when the signature does not hold."""
    node_id, _, rest = header.partition("|")
    source, _, mac = rest.rpartition("|")
    expected = hmac.new(secret, f"{node_id}|{source}".encode(), hashlib.sha256).hexdigest()
    return source if node_id and hmac.compare_digest(mac, expected) else None


def replica_auth(secret: bytes, node_id: str) -> str:
    """What a replica sends when it calls another one for itself (the leader probing followers)."""
    return sign_source(secret, node_id, "replica")


# What a replica may do when it calls another for itself: read the cluster's and agents' state.
_REPLICA_GRANTS = Grants({Permission.CLUSTER_READ: frozenset({"*"}), Permission.AGENT_READ: frozenset({"*"})})


def _first_limit(*limits_ms: int) -> int:
    """The earliest of the time limits that are set (0 = none is)."""
    return min((t for t in limits_ms if t), default=0)


def bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == AUTHORIZATION and isinstance(value, str):
            scheme, _, credential = value.partition(" ")
            return credential.strip() if scheme.lower() == "bearer" else ""
    return ""


@dataclass(frozen=True)
class _Remembered:
    generation: int
    principal: Principal
    until_ms: int  # 0 = no time limit; else the first moment it no longer holds


class Authenticator:
    def __init__(self, state: AuthState, secret: bytes | None = None,
                 wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self.state = state
        self.secret = secret
        self.wall_ms = wall_ms
        # A credential is checked against the state on every call; while nothing in the security
        # state changed (auth_generation) and no validity ran out, the answer is the same. Without
        # this, a GetJob spent more on finding its caller than on the job (bench/auth_overhead.py).
        self._remembered: dict[tuple[str, str], _Remembered] = {}

    def source_of(self, metadata: Sequence[tuple[str, str | bytes]] | None, peer: str) -> str:
        """The client's address: the peer's, or the one a forwarding replica signed."""
        address = peer_address(peer)
        if self.secret is None:
            return address
        for key, value in metadata or ():
            if key == SOURCE_HEADER and isinstance(value, str):
                vouched = verify_source(self.secret, value)
                if vouched:
                    return vouched
        return address

    def replica(self, metadata: Sequence[tuple[str, str | bytes]] | None, peer: str) -> Principal | None:
        """Another replica calling for itself, proven by an HMAC under the cluster secret."""
        if self.secret is None:
            return None
        for key, value in metadata or ():
            if key == REPLICA_AUTH_HEADER and isinstance(value, str):
                node_id, _, rest = value.partition("|")
                if verify_source(self.secret, value) == "replica" and rest:
                    return Principal(kind="replica", name=node_id, method="replica", grants=_REPLICA_GRANTS,
                                     source=peer_address(peer))
        return None

    async def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None, peer: str) -> Principal:
        replica = self.replica(metadata, peer)
        if replica is not None:
            return replica
        source = self.source_of(metadata, peer)
        signed = self._webhook_key(metadata)
        if signed is not None:
            key = self.state.api_key(signed)
            if key is None:
                raise AuthError("unauthenticated", "invalid credentials")
            found, _ = self._key_checks(key, source)
            return dataclasses.replace(found, method="hmac")
        credential = bearer(metadata)
        if not credential:
            raise AuthError("unauthenticated", "no credentials: log in (wloadctl login) or pass an API key "
                                               "(--api-key, WLOADCTL_API_KEY)")
        ip = source.rpartition(":")[0] if ":" in source else source
        generation = self.state.auth_generation()
        known = self._remembered.get((credential, ip))
        if known is not None and known.generation == generation and \
                (not known.until_ms or self.wall_ms() < known.until_ms):
            return dataclasses.replace(known.principal, source=source)
        token = parse_token(credential)
        if token is None:
            raise AuthError("unauthenticated", "invalid credentials")
        record = await self._find(token)
        if token.kind == "session":
            found, until_ms = self._session_principal(token, record, source)  # type: ignore[arg-type]
        else:
            found, until_ms = self._key_principal(token, record, source)  # type: ignore[arg-type]
        if len(self._remembered) >= CACHE_ENTRIES:
            self._remembered.clear()
        self._remembered[(credential, ip)] = _Remembered(generation, found, until_ms)
        return found

    async def _find(self, token: Token) -> auth_pb2.Session | auth_pb2.ApiKey | None:
        lookup = self.state.session if token.kind == "session" else self.state.api_key
        record = lookup(token.id)
        deadline = time.monotonic() + CATCH_UP_SECONDS
        # Issued by the leader at an index this replica has not applied yet: wait for it.
        while record is None and token.index > self.state.applied_index() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            record = lookup(token.id)
        return record

    def _grants(self, bindings: Sequence[auth_pb2.Binding]) -> Grants:
        return grants_of([(b.role, list(b.domains)) for b in bindings], self.state.role_permissions())

    def _session_principal(self, token: Token, session: auth_pb2.Session | None, source: str) \
            -> tuple[Principal, int]:
        now = self.wall_ms()
        if session is None or not matches(token, session.secret_hash):
            raise AuthError("unauthenticated", "invalid credentials")
        if session.revoked:
            raise AuthError("unauthenticated", "this session was closed (logged out or revoked): log in again")
        if session.expires_ms and now >= session.expires_ms:
            raise AuthError("unauthenticated", "this session expired: log in again (wloadctl login)")
        user = self.state.user(session.user)
        if user is None:
            raise AuthError("unauthenticated", f"user {session.user!r} no longer exists")
        why = unusable_reason(user, now)
        if why:
            raise AuthError("unauthenticated", why)
        return Principal(kind="user", name=user.name, method="session", grants=self._grants(user.bindings),
                         bindings=tuple(user.bindings), credential_id=session.id, expires_ms=session.expires_ms,
                         password_change_only=session.password_change_only, source=source), \
            _first_limit(session.expires_ms, user.valid_until_ms)

    def _webhook_key(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
        """The API key whose webhook signature a replica checked (api/webhooks.py), if the assertion
        holds and is recent; None when there is none."""
        if self.secret is None:
            return None
        for key, value in metadata or ():
            if key == WEBHOOK_HEADER and isinstance(value, str):
                vouched = verify_source(self.secret, value) or ""
                kind, _, rest = vouched.partition(":")
                key_id, _, until = rest.rpartition(":")
                if kind != "hmac" or not key_id or not until.isdigit():
                    raise AuthError("unauthenticated", "invalid webhook assertion")
                if self.wall_ms() > int(until):
                    raise AuthError("unauthenticated", "webhook assertion expired")
                return key_id
        return None

    def _key_principal(self, token: Token, key: auth_pb2.ApiKey | None, source: str) -> tuple[Principal, int]:
        if key is None or not matches(token, key.secret_hash):
            raise AuthError("unauthenticated", "invalid credentials")
        return self._key_checks(key, source)

    def _key_checks(self, key: auth_pb2.ApiKey, source: str) -> tuple[Principal, int]:
        """The principal of an API key whose secret was proven (a token, or a webhook signature)."""
        now = self.wall_ms()
        if key.revoked:
            raise AuthError("unauthenticated", f"API key {key.id} was revoked")
        if key.expires_ms and now >= key.expires_ms:
            raise AuthError("unauthenticated", f"API key {key.id} expired")
        if key.allowed_networks and not in_networks(source, key.allowed_networks):
            raise AuthError("unauthenticated", f"API key {key.id} may not be used from {peer_ip(source) or source} "
                                               f"(allowed: {', '.join(key.allowed_networks)})")
        owner_until_ms = 0
        if key.owner:
            owner = self.state.user(key.owner)
            # A key acts for a person; it stops with that person's account (bootstrap's key has owner "admin",
            # which is no user: it stands alone).
            if owner is not None and (why := unusable_reason(owner, now)):
                raise AuthError("unauthenticated", f"API key {key.id}: its owner cannot act: {why}")
            owner_until_ms = owner.valid_until_ms if owner is not None else 0
        return Principal(kind="apikey", name=key.id, method="apikey", grants=self._grants(key.bindings),
                         bindings=tuple(key.bindings), credential_id=key.id, expires_ms=key.expires_ms,
                         source=source), _first_limit(key.expires_ms, owner_until_ms)

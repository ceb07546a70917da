"""Authorization: the one check every RPC crosses, and the per-domain checks inside servicers.

`guard(method, handler)` wraps a method's handler when services are registered
(api/interceptors.add_service): it looks the method up in METHOD_PERMISSIONS (a method that is
not there cannot be registered), authenticates the caller, refuses a caller that holds the
permission in no domain, and makes the caller available to the servicer as `principal()` for
the duration of the call. Servicers then check the domain of the resource they touch with
`require(...)`, and listings show only `visible_domains(...)`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import grpc

from wloadctl.api.authn import PASSWORD_CHANGE_METHODS, Authenticator, AuthError, Principal
from wloadctl.security.permissions import AUTHENTICATED, METHOD_PERMISSIONS, OPEN, REPLICA, Grants, Permission

__all__ = ["ANONYMOUS_ADMIN", "Guard", "principal", "require", "visible_domains"]

_CURRENT: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("wloadctl_principal", default=None)
# The method being served and where its denials go (the audit log), for require() inside servicers.
_METHOD: contextvars.ContextVar[str] = contextvars.ContextVar("wloadctl_method", default="")
_ON_DENIED: contextvars.ContextVar[Callable[[Principal, str, str], None] | None] = \
    contextvars.ContextVar("wloadctl_on_denied", default=None)

# Without authentication (`wloadctl server --insecure`), every caller is this one.
ANONYMOUS_ADMIN = Principal(kind="anonymous", name="anonymous", method="none",
                            grants=Grants({p: frozenset({"*"}) for p in Permission}))


def principal() -> Principal:
    """The caller of the RPC being served (inside a guarded handler)."""
    current = _CURRENT.get()
    if current is None:
        raise RuntimeError("principal() outside a guarded RPC")
    return current


def _missing(permission: Permission, domain: str | None, caller: Principal) -> str:
    where = f" in domain {domain!r}" if domain is not None else ""
    held = caller.grants.domains(permission)
    if held is None:
        have = ""
    elif held:
        have = f" (you have it in: {', '.join(sorted(held))})"
    else:
        have = " (your roles do not grant it)"
    return f"permission denied: {permission}{where} is needed{have}"


async def require(context: grpc.aio.ServicerContext, permission: Permission, domain: str | None = None) -> None:
    """Abort with PERMISSION_DENIED naming the permission and domain the caller lacks."""
    caller = principal()
    if not caller.allows(permission, domain):
        message = _missing(permission, domain, caller)
        report = _ON_DENIED.get()
        if report is not None:
            report(caller, _METHOD.get(), message)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, message)


def visible_domains(permission: Permission) -> frozenset[str] | None:
    """The domains whose resources a listing may show the caller (None: every domain)."""
    return principal().grants.domains(permission)


class Guard:
    """Authenticates and authorizes every call of the client API (one instance per replica)."""

    def __init__(self, authenticator: Authenticator | None,
                 on_denied: Callable[[Principal, str, str], None] | None = None) -> None:
        # None: authentication is off (`--insecure`): every caller is ANONYMOUS_ADMIN.
        self.authenticator = authenticator
        self.on_denied = on_denied

    def wrap(self, method: str, behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]) \
            -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        if method not in METHOD_PERMISSIONS:
            raise LookupError(f"{method} has no entry in wloadctl/security/permissions.py METHOD_PERMISSIONS")
        needed = METHOD_PERMISSIONS[method]

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            caller = await self._caller(method, needed, context)
            tokens = (_CURRENT.set(caller), _METHOD.set(method), _ON_DENIED.set(self.on_denied))
            try:
                return await behaviour(request, context)
            finally:
                _ON_DENIED.reset(tokens[2])
                _METHOD.reset(tokens[1])
                _CURRENT.reset(tokens[0])

        return guarded

    async def _caller(self, method: str, needed: str, context: grpc.aio.ServicerContext) -> Principal:
        if self.authenticator is None:
            return ANONYMOUS_ADMIN
        metadata = context.invocation_metadata()
        if needed == OPEN:
            source = self.authenticator.source_of(metadata, context.peer())
            return Principal(kind="anonymous", name="", method="none", source=source)
        try:
            caller = await self.authenticator.authenticate(metadata, context.peer())
        except AuthError as e:
            await self._deny(context, grpc.StatusCode.UNAUTHENTICATED if e.code == "unauthenticated"
                             else grpc.StatusCode.PERMISSION_DENIED, e.message)
        if needed == REPLICA:
            if caller.kind != "replica":
                await self._deny(context, grpc.StatusCode.PERMISSION_DENIED, "permission denied: replicas only")
            return caller
        if caller.password_change_only and method not in PASSWORD_CHANGE_METHODS:
            await self._deny(context, grpc.StatusCode.PERMISSION_DENIED,
                             "your password expired or must be changed first: wloadctl password")
        if caller.kind == "replica" and needed == AUTHENTICATED:
            await self._deny(context, grpc.StatusCode.PERMISSION_DENIED, "permission denied: not for replicas")
        if needed != AUTHENTICATED and not caller.allows(Permission(needed)):
            message = _missing(Permission(needed), None, caller)
            if self.on_denied is not None:
                self.on_denied(caller, method, message)
            await self._deny(context, grpc.StatusCode.PERMISSION_DENIED, message)
        return caller

    @staticmethod
    async def _deny(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
        await context.abort(code, message)
        raise AssertionError("unreachable")

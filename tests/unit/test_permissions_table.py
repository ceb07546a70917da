"""No RPC can be added unprotected: every method of every service has exactly one entry."""

from __future__ import annotations

from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from wloadctl.proto.v1 import (
    agent_pb2,
    api_pb2,
    approval_pb2,
    audit_pb2,
    auth_pb2,
    secrets_pb2,
    watch_pb2,
    workflows_pb2,
)
from wloadctl.security.permissions import AUTHENTICATED, METHOD_PERMISSIONS, OPEN, REPLICA, Permission

# Served on the agent port only, where the caller is identified by its certificate (an agent may
# act only as itself; wloadctl/control/link.py): not part of the client API's table.
AGENT_PORT_SERVICES = {"wloadctl.v1.AgentLink", "wloadctl.v1.CertificateAuth"}


def _methods() -> set[str]:
    found = set()
    for module in (api_pb2, auth_pb2, audit_pb2, approval_pb2, secrets_pb2, workflows_pb2, watch_pb2, agent_pb2,
                   health_pb2, reflection_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.full_name in AGENT_PORT_SERVICES:
                continue
            found |= {f"/{service.full_name}/{m.name}" for m in service.methods}
    return found


def test_every_method_has_exactly_one_permission() -> None:
    methods = _methods()
    missing = sorted(methods - set(METHOD_PERMISSIONS))
    stale = sorted(set(METHOD_PERMISSIONS) - methods)
    assert not missing, f"RPCs without a permission in wloadctl/security/permissions.py: {missing}"
    assert not stale, f"entries for RPCs that no longer exist: {stale}"


def test_entries_are_permissions_or_the_two_pseudo_permissions() -> None:
    known = {p.value for p in Permission} | {OPEN, AUTHENTICATED, REPLICA}
    assert {m: p for m, p in METHOD_PERMISSIONS.items() if str(p) not in known} == {}


def test_only_login_bootstrap_health_and_reflection_are_open() -> None:
    open_methods = {m for m, p in METHOD_PERMISSIONS.items() if p == OPEN}
    assert open_methods == {
        "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/wloadctl.v1.AuthService/Login", "/wloadctl.v1.AuthService/Bootstrap",
        "/wloadctl.v1.AuthService/ServerInfo"}

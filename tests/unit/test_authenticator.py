"""The authenticator remembers who a credential is, and forgets the moment that may have changed.

A real Store, changed through Store.apply as Raft would change it; the wall clock is injected.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from wloadctl.api.authn import Authenticator, AuthError, Principal
from wloadctl.proto.v1 import auth_pb2, commands_pb2
from wloadctl.security import tokens
from wloadctl.security.permissions import Permission
from wloadctl.state.store import Store

OK = grpc.StatusCode.OK.value[0]
ALICE = auth_pb2.Actor(kind="user", name="alice", source="10.0.0.7:4444")
HOME = "ipv4:10.0.0.7:4444"


class World:
    def __init__(self, path: Path) -> None:
        self.store = Store(path, cluster_secret="x" * 64)
        self.index = 0
        self.state_ms = 1_000_000
        self.wall = 1_000_000
        self.auth = Authenticator(self.store, b"s" * 32, wall_ms=lambda: self.wall)

    def do(self, **body: object) -> commands_pb2.CommandResult:
        self.index += 1
        self.state_ms += 10
        batch = commands_pb2.CommandBatch(time_ms=self.state_ms, leader_id="r1",
                                          commands=[commands_pb2.Command(actor=ALICE, **body)])
        out = self.store.apply(batch.SerializeToString(deterministic=True), self.index)
        assert out is not None and out[0].code == OK, out
        return out[0]

    def user(self, name: str, *bindings: auth_pb2.Binding, **fields: object) -> None:
        self.do(put_user=auth_pb2.PutUser(user=auth_pb2.User(name=name, password_hash="scrypt$fake", active=True,
                                                             bindings=bindings, **fields)))

    def session(self, name: str) -> str:
        user = self.store.user(name)
        assert user is not None
        result = self.do(record_login=auth_pb2.RecordLogin(user=name, success=True, method="password",
                                                           secret_hash=tokens.secret_hash("secret"),
                                                           expected_version=user.version))
        return tokens.format_token("session", result.raft_index, "secret")

    def key(self, role: str, networks: tuple[str, ...] = (), expires_ms: int = 0) -> str:
        result = self.do(create_api_key=auth_pb2.CreateApiKey(key=auth_pb2.ApiKey(
            secret_hash=tokens.secret_hash("k"), bindings=[auth_pb2.Binding(role=role)],
            allowed_networks=list(networks), expires_ms=expires_ms)))
        return tokens.format_token("apikey", result.raft_index, "k")

    def who(self, credential: str, peer: str = HOME) -> Principal:
        return asyncio.run(self.auth.authenticate([("authorization", f"Bearer {credential}")], peer))

    def refused(self, credential: str, peer: str = HOME) -> str:
        with pytest.raises(AuthError) as caught:
            self.who(credential, peer)
        return caught.value.message


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path / "s")


def test_the_same_credential_is_the_same_principal_with_each_call_s_own_source(w: World) -> None:
    w.user("dave", auth_pb2.Binding(role="business-operator", domains=["finance"]))
    token = w.session("dave")
    first = w.who(token)
    again = w.who(token, "ipv4:10.0.0.7:5555")
    assert (first.name, first.kind, first.credential_id) == (again.name, again.kind, again.credential_id) == \
        ("dave", "user", first.credential_id)
    assert first.source == "10.0.0.7:4444" and again.source == "10.0.0.7:5555"
    assert again.allows(Permission.RUN_TRIGGER, "finance") and not again.allows(Permission.RUN_TRIGGER, "ops")


def test_a_revoked_session_is_refused_at_the_next_call(w: World) -> None:
    w.user("dave")
    token = w.session("dave")
    session_id = w.who(token).credential_id
    w.do(revoke_session=auth_pb2.RevokeSession(id=session_id))
    assert "closed" in w.refused(token)


def test_locking_the_user_or_changing_their_roles_counts_at_the_next_call(w: World) -> None:
    w.user("dave", auth_pb2.Binding(role="auditor"))
    token = w.session("dave")
    assert not w.who(token).allows(Permission.JOB_WRITE, "finance")
    user = w.store.user("dave")
    assert user is not None
    changed = auth_pb2.User()
    changed.CopyFrom(user)
    del changed.bindings[:]
    changed.bindings.append(auth_pb2.Binding(role="scheduling-admin", domains=["finance"]))
    w.do(put_user=auth_pb2.PutUser(user=changed, expected_version=user.version))
    assert w.who(token).allows(Permission.JOB_WRITE, "finance")
    changed.locked = True
    w.do(put_user=auth_pb2.PutUser(user=changed, expected_version=user.version + 1))
    assert "is locked" in w.refused(token)


def test_a_custom_role_s_new_permissions_count_at_the_next_call(w: World) -> None:
    w.do(put_role=auth_pb2.PutRole(role=auth_pb2.Role(name="night", permissions=["run.read"])))
    w.user("dave", auth_pb2.Binding(role="night"))
    token = w.session("dave")
    assert not w.who(token).allows(Permission.RUN_TRIGGER, "any")
    role = w.store.role("night")
    assert role is not None
    w.do(put_role=auth_pb2.PutRole(role=auth_pb2.Role(name="night", permissions=["run.read", "run.trigger"]),
                                   expected_version=role.version))
    assert w.who(token).allows(Permission.RUN_TRIGGER, "any")


def test_expiry_and_the_end_of_a_validity_period_count_without_any_change_of_state(w: World) -> None:
    w.user("temp", valid_until_ms=w.wall + 60_000)
    token = w.session("temp")
    assert w.who(token).name == "temp"
    w.wall += 60_000
    assert "validity period ended" in w.refused(token)
    soon = w.key("auditor", expires_ms=w.state_ms + 5_000)
    w.wall = w.state_ms
    assert w.who(soon).kind == "apikey"
    w.wall += 5_000
    assert "expired" in w.refused(soon)


def test_a_key_s_networks_are_checked_for_each_client_address(w: World) -> None:
    key = w.key("auditor", networks=("10.0.0.0/8",))
    assert w.who(key).kind == "apikey"
    assert "may not be used from 192.168.1.9" in w.refused(key, "ipv4:192.168.1.9:4444")
    assert w.who(key, "ipv4:10.9.9.9:1").source == "10.9.9.9:1"


def test_a_wrong_secret_never_rides_on_a_remembered_one(w: World) -> None:
    w.user("dave")
    token = w.session("dave")
    assert w.who(token).name == "dave"
    assert w.refused(token[:-1] + ("x" if token[-1] != "x" else "y")) == "invalid credentials"

"""Users, logins, lockout, keys, roles, approvals and audit records, through Store.apply."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from wloadctl.proto.v1 import approval_pb2, auth_pb2, commands_pb2
from wloadctl.security import tokens
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

OK = grpc.StatusCode.OK.value[0]
DAY = 86_400_000
ALICE = auth_pb2.Actor(kind="user", name="alice", source="10.0.0.7:4444")
BOB = auth_pb2.Actor(kind="user", name="bob", source="10.0.0.8:5555")


class S:
    def __init__(self, path: Path) -> None:
        self.store = Store(path, cluster_secret="x" * 64)
        self.index = 0
        self.time = 1_000_000

    def do(self, cmd: commands_pb2.Command, advance_ms: int = 10) -> commands_pb2.CommandResult:
        self.index += 1
        self.time += advance_ms
        batch = commands_pb2.CommandBatch(time_ms=self.time, leader_id="r1", commands=[cmd])
        out = self.store.apply(batch.SerializeToString(deterministic=True), self.index)
        assert out is not None
        return out[0]

    def user(self, name: str, *bindings: auth_pb2.Binding, actor: auth_pb2.Actor = ALICE) -> None:
        r = self.do(commands_pb2.Command(actor=actor, put_user=auth_pb2.PutUser(user=auth_pb2.User(
            name=name, password_hash="scrypt$fake", active=True, bindings=bindings))))
        assert r.code == OK, r.message

    def login(self, name: str, ok: bool, **kw: object) -> commands_pb2.CommandResult:
        user = self.store.user(name)
        login = auth_pb2.RecordLogin(user=name, success=ok, secret_hash=tokens.secret_hash("s") if ok else b"",
                                     method="password", expected_version=user.version if user else 0)
        return self.do(commands_pb2.Command(actor=auth_pb2.Actor(kind="user", name=name), record_login=login, **kw))


@pytest.fixture
def s(tmp_path: Path) -> S:
    return S(tmp_path / "s")


def test_three_failed_logins_lock_the_account_and_a_good_password_then_does_not_open_it(s: S) -> None:
    s.user("carol", auth_pb2.Binding(role="auditor"))
    assert s.login("carol", False).code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert s.login("carol", False).code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    third = s.login("carol", False)
    assert third.code == grpc.StatusCode.PERMISSION_DENIED.value[0] and "now locked after 3" in third.message
    locked = s.login("carol", True)
    assert locked.code == grpc.StatusCode.PERMISSION_DENIED.value[0] and "is locked" in locked.message
    user = s.store.user("carol")
    assert user is not None and user.locked and user.failed_logins == 3


def test_a_successful_login_resets_the_count_and_opens_a_session(s: S) -> None:
    s.user("dave")
    s.login("dave", False)
    s.login("dave", False)
    ok = s.login("dave", True)
    assert ok.code == OK and ok.id == f"s{s.index}" and ok.expires_ms == s.time + 12 * 3600 * 1000
    assert s.store.user("dave").failed_logins == 0  # type: ignore[union-attr]
    session = s.store.session(ok.id)
    assert session is not None and session.user == "dave" and not session.revoked
    assert s.do(commands_pb2.Command(actor=ALICE, revoke_session=auth_pb2.RevokeSession(id=ok.id))).code == OK
    assert s.store.session(ok.id).revoked  # type: ignore[union-attr]


def test_a_verdict_against_an_older_record_counts_as_a_failure(s: S) -> None:
    s.user("erin")
    current = s.store.user("erin")
    assert current is not None
    stale = current.version
    changed = auth_pb2.User()
    changed.CopyFrom(current)
    changed.password_hash = "scrypt$new"  # changed meanwhile: a new password
    assert s.do(commands_pb2.Command(actor=ALICE, put_user=auth_pb2.PutUser(user=changed,
                                                                           expected_version=stale))).code == OK
    r = s.do(commands_pb2.Command(record_login=auth_pb2.RecordLogin(
        user="erin", success=True, secret_hash=tokens.secret_hash("s"), expected_version=stale)))
    assert r.code == grpc.StatusCode.UNAUTHENTICATED.value[0]


def test_validity_period_and_deactivation_refuse_a_correct_password(s: S) -> None:
    s.do(commands_pb2.Command(actor=ALICE, put_user=auth_pb2.PutUser(user=auth_pb2.User(
        name="temp", password_hash="h", active=True, valid_until_ms=s.time + 5))))
    late = s.login("temp", True)
    assert late.code == grpc.StatusCode.PERMISSION_DENIED.value[0] and "validity period ended" in late.message
    off = auth_pb2.User(name="off", password_hash="h")  # active is false: deactivated
    s.do(commands_pb2.Command(actor=ALICE, put_user=auth_pb2.PutUser(user=off)))
    assert "deactivated" in s.login("off", True).message


def test_a_password_older_than_the_policy_allows_only_a_change(s: S) -> None:
    s.user("frank")
    s.time += 91 * DAY
    ok = s.login("frank", True)
    assert ok.code == OK and ok.password_change_required
    assert s.store.session(ok.id).password_change_only  # type: ignore[union-attr]


def test_bootstrap_hands_out_one_admin_key_only(s: S) -> None:
    first = s.do(commands_pb2.Command(auth_bootstrap=auth_pb2.AuthBootstrap(
        key=auth_pb2.ApiKey(secret_hash=tokens.secret_hash("k")))))
    assert first.code == OK and first.id == "k1"
    key = s.store.api_key("k1")
    assert key is not None and [b.role for b in key.bindings] == ["admin"] and not key.bindings[0].domains
    again = s.do(commands_pb2.Command(auth_bootstrap=auth_pb2.AuthBootstrap(
        key=auth_pb2.ApiKey(secret_hash=tokens.secret_hash("k2")))))
    assert again.code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and "already bootstrapped" in again.message


def test_users_and_roles_are_validated_and_versioned(s: S) -> None:
    bad = s.do(commands_pb2.Command(actor=ALICE, put_user=auth_pb2.PutUser(user=auth_pb2.User(
        name="x y", bindings=[auth_pb2.Binding(role="no-such-role"), auth_pb2.Binding(role="auditor",
                                                                                      domains=["bad domain"])]))))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "name:" in bad.message and "unknown role 'no-such-role'" in bad.message and "bad domain" in bad.message
    s.user("gina")
    dup = s.do(commands_pb2.Command(actor=ALICE, put_user=auth_pb2.PutUser(user=auth_pb2.User(name="gina"))))
    assert dup.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    stale = s.do(commands_pb2.Command(actor=ALICE, put_user=auth_pb2.PutUser(user=auth_pb2.User(name="gina"),
                                                                             expected_version=7)))
    assert stale.code == grpc.StatusCode.ABORTED.value[0]
    role = auth_pb2.Role(name="night-shift", permissions=["run.read", "run.trigger"])
    assert s.do(commands_pb2.Command(actor=ALICE, put_role=auth_pb2.PutRole(role=role))).code == OK
    s.user("hank", auth_pb2.Binding(role="night-shift", domains=["finance"]))
    busy = s.do(commands_pb2.Command(actor=ALICE, delete_role=auth_pb2.DeleteRole(name="night-shift")))
    assert busy.code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and "hank" in busy.message
    builtin = s.do(commands_pb2.Command(actor=ALICE, delete_role=auth_pb2.DeleteRole(name="auditor")))
    assert builtin.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "night-shift" in s.store.role_permissions() and s.store.role("auditor").builtin  # type: ignore[union-attr]


def test_api_keys_need_a_role_and_a_future_expiry(s: S) -> None:
    bad = s.do(commands_pb2.Command(actor=ALICE, create_api_key=auth_pb2.CreateApiKey(key=auth_pb2.ApiKey(
        secret_hash=b"short", expires_ms=1))))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "at least one role" in bad.message and "secret_hash" in bad.message and "future" in bad.message
    ok = s.do(commands_pb2.Command(actor=ALICE, create_api_key=auth_pb2.CreateApiKey(key=auth_pb2.ApiKey(
        secret_hash=tokens.secret_hash("k"), owner="alice", bindings=[auth_pb2.Binding(role="auditor")],
        allowed_networks=["10.0.0.0/8"]))))
    assert ok.code == OK and s.store.api_key(ok.id).created_by == "alice"  # type: ignore[union-attr]
    assert s.do(commands_pb2.Command(actor=ALICE, revoke_api_key=auth_pb2.RevokeApiKey(id=ok.id))).code == OK
    assert s.store.api_key(ok.id).revoked  # type: ignore[union-attr]


def _hold(s: S, inner: commands_pb2.Command, actor: auth_pb2.Actor = ALICE) -> str:
    r = s.do(commands_pb2.Command(actor=actor, request_approval=approval_pb2.RequestApproval(
        approval=approval_pb2.Approval(operation="job.delete", domain="default", summary="delete job etl",
                                       command=inner.SerializeToString(deterministic=True),
                                       resources=["job/etl"]))))
    assert r.code == OK, r.message
    return r.id


def test_an_approved_operation_runs_once_as_its_requester_and_nobody_approves_their_own(s: S) -> None:
    s.do(commands_pb2.Command(actor=ALICE, **{"apply_jobs": apply_cmd(job("etl")).apply_jobs}))
    held = commands_pb2.Command(actor=ALICE, delete_job=commands_pb2.DeleteJob(name="etl"))
    approval_id = _hold(s, held)
    assert s.store.get_job("etl") is not None, "nothing happens before the approval"
    own = s.do(commands_pb2.Command(actor=ALICE, decide_approval=approval_pb2.DecideApproval(id=approval_id,
                                                                                            approve=True)))
    assert own.code == grpc.StatusCode.PERMISSION_DENIED.value[0] and "another person" in own.message
    approved = s.do(commands_pb2.Command(actor=BOB, decide_approval=approval_pb2.DecideApproval(
        id=approval_id, approve=True, reason="checked with the team")))
    assert approved.code == OK and s.store.get_job("etl") is None
    twice = s.do(commands_pb2.Command(actor=BOB, decide_approval=approval_pb2.DecideApproval(id=approval_id,
                                                                                            approve=True)))
    assert twice.code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and "approved already" in twice.message
    record = s.store.approval(approval_id)
    assert record is not None and record.state == "approved" and record.decided_by.name == "bob"
    deletion = [r for r in s.store.audit_records() if r.operation == "job.delete"]
    assert len(deletion) == 1 and deletion[0].actor.name == "alice" and deletion[0].approved_by == "user/bob"


def test_rejected_and_expired_requests_never_run(s: S) -> None:
    s.do(commands_pb2.Command(actor=ALICE, **{"apply_jobs": apply_cmd(job("etl")).apply_jobs}))
    held = commands_pb2.Command(actor=ALICE, delete_job=commands_pb2.DeleteJob(name="etl"))
    rejected = _hold(s, held)
    no_reason = s.do(commands_pb2.Command(actor=BOB, decide_approval=approval_pb2.DecideApproval(id=rejected)))
    assert no_reason.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    s.do(commands_pb2.Command(actor=BOB, decide_approval=approval_pb2.DecideApproval(id=rejected, reason="no")))
    expired = _hold(s, held)
    s.do(commands_pb2.Command(noop=commands_pb2.Noop()), advance_ms=25 * 3600 * 1000)
    late = s.do(commands_pb2.Command(actor=BOB, decide_approval=approval_pb2.DecideApproval(id=expired,
                                                                                           approve=True)))
    assert late.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert s.store.get_job("etl") is not None
    assert s.store.approval(rejected).state == "rejected" and s.store.approval(expired).state == "expired"  # type: ignore[union-attr]
    assert any(r.operation == "approval.expire" for r in s.store.audit_records())


def test_every_change_leaves_an_audit_record_without_secrets(s: S) -> None:
    s.user("ivy", auth_pb2.Binding(role="auditor"))
    update = s.store.user("ivy")
    assert update is not None
    changed = auth_pb2.User()
    changed.CopyFrom(update)
    changed.bindings.add(role="business-operator", domains=["hr"])
    s.do(commands_pb2.Command(actor=BOB, put_user=auth_pb2.PutUser(user=changed, expected_version=update.version)))
    s.login("ivy", False)
    s.do(commands_pb2.Command(actor=ALICE, **{"apply_jobs": apply_cmd(job("etl")).apply_jobs}))
    records = s.store.audit_records()
    ops = [r.operation for r in records]
    assert ops == ["user.create", "user.update", "login.failed", "job.apply"]
    update_record = records[1]
    assert update_record.actor.name == "bob" and update_record.resources == ["user/ivy"]
    assert "business-operator" not in update_record.before and "business-operator" in update_record.after
    assert "scrypt" not in "".join(r.content + r.before + r.after for r in records)
    assert json.loads(records[3].before) == {"etl": None} and "etl" in json.loads(records[3].after)
    assert records[2].actor.name == "ivy" and records[2].result != "ok"
    assert s.store.verify_audit().ok and s.store.verify_audit().records == 4

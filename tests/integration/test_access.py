"""Identity and access over real TLS, real replicas: authentication, roles per domain, lockout,
password rules, four-eyes approvals and the audit log."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import lmdb
import pytest
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2

from wloadctl.client import ClientCredentials, ClientError
from wloadctl.proto.v1 import api_pb2, approval_pb2, audit_pb2, auth_pb2, jobs_pb2, secrets_pb2, workflows_pb2
from wloadctl.security.certs import init_ca
from wloadctl.security.permissions import METHOD_PERMISSIONS, OPEN
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "Batch-Window-2026"
B = auth_pb2.Binding


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("access") / "c", size=3)
    try:
        c.start()
        with c.client() as admin:
            admin.apply_jobs([jobs_pb2.JobSpec(name=f"{d}-job", domain=d, command=jobs_pb2.JobCommand(shell="true"))
                              for d in ("finance", "hr")])
        yield c
    finally:
        c.stop()


def _user(cluster: LocalCluster, name: str, *bindings: auth_pb2.Binding, **fields: Any) -> str:
    """Create a user (if needed) and return a session token for it."""
    with cluster.client() as admin:
        try:
            admin.create_user(auth_pb2.CreateUserRequest(name=name, password=PASSWORD, bindings=bindings, **fields))
        except ClientError as e:
            assert e.code == grpc.StatusCode.ALREADY_EXISTS, e.message
    with cluster.client(token="") as anon:
        return anon.login(name, PASSWORD).token


def _methods() -> list[tuple[str, Any]]:
    """Every method of every client API service, with its request message class."""
    out = []
    for module in (api_pb2, auth_pb2, audit_pb2, approval_pb2, secrets_pb2, workflows_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.full_name == "wloadctl.v1.CertificateAuth":
                continue  # served on the mutual-TLS port, where the certificate is the credential
            out += [(f"/{service.full_name}/{m.name}", GetMessageClass(m.input_type)) for m in service.methods]
    return out


def test_every_rpc_refuses_a_caller_without_credentials(cluster: LocalCluster) -> None:
    ca = (cluster.certs / "ca.crt").read_bytes()
    with grpc.secure_channel(cluster.replicas[0].api_address, grpc.ssl_channel_credentials(ca)) as channel:
        checked = 0
        for method, request_type in _methods():
            if METHOD_PERMISSIONS[method] == OPEN:
                continue
            call = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=lambda b: b)
            with pytest.raises(grpc.RpcError) as err:
                call(request_type(), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, (method, err.value.details())
            checked += 1
    assert checked >= 35
    # The open ones stay reachable without credentials: health checks and probes use them.
    with grpc.secure_channel(cluster.replicas[0].api_address, grpc.ssl_channel_credentials(ca)) as channel:
        answer = channel.unary_unary("/grpc.health.v1.Health/Check",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=health_pb2.HealthCheckResponse.FromString)(
            health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_plaintext_and_a_foreign_ca_are_refused(cluster: LocalCluster, tmp_path: Path) -> None:
    address = cluster.replicas[0].api_address
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
        channel.unary_unary("/wloadctl.v1.AuthService/Login")(b"", timeout=5)
    init_ca(tmp_path / "other")
    other = ClientCredentials(token=cluster.admin_token, ca_pem=(tmp_path / "other" / "ca.crt").read_bytes())
    from wloadctl.client import Client

    with Client([address], credentials=other, retry_for=0, timeout=5) as c, pytest.raises(ClientError) as err:
        c.whoami()
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_bad_revoked_and_expired_credentials_are_refused(cluster: LocalCluster) -> None:
    token = _user(cluster, "rita", B(role="auditor"))
    with cluster.client(token=token) as c:
        assert c.whoami().name == "rita"
        c.logout()
    with cluster.client(token=token, retry_for=0) as c, pytest.raises(ClientError) as err:
        c.whoami()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED and "closed" in err.value.message
    with cluster.client(token=token[:-2] + "xx", retry_for=0) as c, pytest.raises(ClientError) as err:
        c.whoami()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED and err.value.message == "invalid credentials"
    with cluster.client() as admin:
        key = admin.create_api_key(auth_pb2.CreateApiKeyRequest(bindings=[B(role="auditor")]))
        admin.revoke_api_key(key.key.id)
    # A revocation holds on each replica once it has applied it (milliseconds behind the leader; a
    # follower answering at once may not have yet: consistent reads, issue 13, close that gap).
    cluster.wait_converged(timeout=30)
    with cluster.client(token=key.token, retry_for=0) as c, pytest.raises(ClientError) as err:
        c.whoami()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in err.value.message


def test_a_key_is_refused_outside_its_networks(cluster: LocalCluster) -> None:
    with cluster.client() as admin:
        far = admin.create_api_key(auth_pb2.CreateApiKeyRequest(bindings=[B(role="auditor")],
                                                                allowed_networks=["10.0.0.0/8"]))
        near = admin.create_api_key(auth_pb2.CreateApiKeyRequest(bindings=[B(role="auditor")],
                                                                 allowed_networks=["127.0.0.0/8", "::1/128"]))
    with cluster.client(token=far.token, retry_for=0) as c, pytest.raises(ClientError) as err:
        c.list_jobs()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED and "may not be used from 127.0.0.1" in err.value.message
    with cluster.client(token=near.token) as c:
        assert c.whoami().name == near.key.id


def test_a_key_never_holds_more_than_its_creator(cluster: LocalCluster) -> None:
    token = _user(cluster, "omar", B(role="system-admin"))
    with cluster.client(token=token, retry_for=0) as c, pytest.raises(ClientError) as err:
        c.create_api_key(auth_pb2.CreateApiKeyRequest(bindings=[B(role="scheduling-admin")]))
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "more than you hold" in err.value.message


# (role, domains) -> calls allowed; the matrix asserts allowed and denied cells alike.
def _calls(c: Any) -> dict[str, Any]:
    return {
        "list finance jobs": lambda: c.get_job("finance-job"),
        "list hr jobs": lambda: c.get_job("hr-job"),
        "apply finance": lambda: c.apply_jobs([jobs_pb2.JobSpec(name="finance-job", domain="finance",
                                                                command=jobs_pb2.JobCommand(shell="true"))]),
        "trigger finance": lambda: c.trigger_run("finance-job"),
        "trigger hr": lambda: c.trigger_run("hr-job"),
        "cluster status": lambda: c.status(),
        "list users": lambda: c.list_users(),
        "read audit": lambda: c.list_audit(audit_pb2.ListAuditRequest(page_size=1)),
        "agents": lambda: c.list_agents(),
    }


MATRIX = {
    ("business-operator", ("finance",)): {"list finance jobs", "trigger finance"},
    # cluster.read and agent.read are cluster-wide: a binding limited to domains does not grant them
    ("scheduling-admin", ("finance",)): {"list finance jobs", "apply finance", "trigger finance"},
    ("ops-admin", ()): {"list finance jobs", "list hr jobs", "cluster status", "agents"},
    ("system-admin", ()): {"cluster status", "list users"},
    ("auditor", ()): {"list finance jobs", "list hr jobs", "cluster status", "read audit", "agents"},
}


@pytest.mark.parametrize("role,domains", sorted(MATRIX))
def test_roles_allow_exactly_their_cells(cluster: LocalCluster, role: str, domains: tuple[str, ...]) -> None:
    token = _user(cluster, f"m-{role}", B(role=role, domains=list(domains)))
    allowed = MATRIX[(role, domains)]
    outcome = {}
    with cluster.client(token=token, retry_for=0) as c:
        for name, call in _calls(c).items():
            try:
                call()
                outcome[name] = True
            except ClientError as e:
                assert e.code == grpc.StatusCode.PERMISSION_DENIED, (name, e.code, e.message)
                assert "permission denied" in e.message and "is needed" in e.message
                outcome[name] = False
    assert {n for n, ok in outcome.items() if ok} == allowed


def test_listings_show_only_the_callers_domains(cluster: LocalCluster) -> None:
    token = _user(cluster, "lena", B(role="business-operator", domains=["finance"]))
    with cluster.client(token=token) as c:
        assert [j.spec.domain for j in c.iter_jobs()] == ["finance"]
        run = c.trigger_run("finance-job")
        runs = list(c.iter_runs())
        assert all(r.spec.domain == "finance" for r in runs) and run.run_id in {r.run_id for r in runs}


def test_a_workflow_cannot_start_or_wait_on_another_domains_work_without_the_right(cluster: LocalCluster) -> None:
    token = _user(cluster, "wanda", B(role="scheduling-admin", domains=["finance"]))
    sh = jobs_pb2.JobCommand(shell="true")

    def spec(**task: Any) -> workflows_pb2.WorkflowSpec:
        return workflows_pb2.WorkflowSpec(name="fin-flow", domain="finance",
                                          tasks=[workflows_pb2.WorkflowTask(name="t", **task)])

    with cluster.client() as admin:
        admin.apply_workflows([workflows_pb2.WorkflowSpec(name="hr-flow", domain="hr", tasks=[
            workflows_pb2.WorkflowTask(name="x", command=sh)])])
    with cluster.client(token=token, retry_for=0) as c:
        for task, needed in (({"job": "hr-job"}, "run.trigger"), ({"workflow": "hr-flow"}, "run.trigger"),
                             ({"command": sh, "wait_for": [workflows_pb2.ExternalDependency(workflow="hr-flow")]},
                              "run.read")):
            with pytest.raises(ClientError) as refused:
                c.apply_workflows([spec(**task)])
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED, task
            assert f"permission denied: {needed} in domain 'hr' is needed" in refused.value.message
        c.apply_workflows([spec(job="finance-job")])  # its own domain's job: fine


def test_a_retried_delete_gets_its_first_answer_not_a_refusal_in_another_domain(cluster: LocalCluster) -> None:
    """The retry of a delete that went through (its answer lost in a leader change) is authorized
    in the deleted job's domain and answered as the first attempt was (the chaos suite's
    linearizable_jobs found it answered PERMISSION_DENIED in domain 'default')."""
    token = _user(cluster, "rhea", B(role="scheduling-admin", domains=["finance"]))
    sh = jobs_pb2.JobCommand(shell="true")
    with cluster.client(token=token) as c:
        c.apply_jobs([jobs_pb2.JobSpec(name="fin-retry", domain="finance", command=sh)])
        c.apply_workflows([workflows_pb2.WorkflowSpec(name="fin-retry-flow", domain="finance", tasks=[
            workflows_pb2.WorkflowTask(name="t", command=sh)])])
        first = c.delete_job("fin-retry", idempotency_key="rhea-delete-1")
        again = c.delete_job("fin-retry", idempotency_key="rhea-delete-1")
        assert again.job.version == first.job.version and first.job.version == 2
        wf_first = c.delete_workflow("fin-retry-flow", idempotency_key="rhea-delete-2")
        wf_again = c.delete_workflow("fin-retry-flow", idempotency_key="rhea-delete-2")
        assert wf_again.version == wf_first.version == 2
        c.set_secret("fin-retry-secret", "finance", {"k": "v"})
        s_first = c.delete_secret("fin-retry-secret", idempotency_key="rhea-delete-3")
        s_again = c.delete_secret("fin-retry-secret", idempotency_key="rhea-delete-3")
        assert s_again.raft_index == s_first.raft_index
    # Someone else's deleted job stays someone else's: refused in its own domain.
    with cluster.client() as admin:
        admin.apply_jobs([jobs_pb2.JobSpec(name="hr-gone", domain="hr", command=sh)])
        admin.delete_job("hr-gone")
    with cluster.client(token=token, retry_for=0) as c, pytest.raises(ClientError) as refused:
        c.delete_job("hr-gone")
    assert "job.delete in domain 'hr' is needed" in refused.value.message


def test_three_failures_on_two_replicas_lock_the_account(cluster: LocalCluster) -> None:
    _user(cluster, "mallory", B(role="auditor"))
    r1, r2 = cluster.replicas[0].api_address, cluster.replicas[1].api_address
    for address in (r1, r1, r2):
        with cluster.client([address], token="", retry_for=5) as c, pytest.raises(ClientError) as err:
            c.login("mallory", "Wrong-Password-1!")
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "now locked" in err.value.message
    with cluster.client([cluster.replicas[2].api_address], token="", retry_for=5) as c, \
            pytest.raises(ClientError) as err:
        c.login("mallory", PASSWORD)
    assert "is locked" in err.value.message
    with cluster.client() as admin:
        admin.update_user(auth_pb2.UpdateUserRequest(name="mallory", locked=False))
        assert admin.get_user("mallory").failed_logins == 0
        audit = [r.operation for r in admin.iter_audit(audit_pb2.ListAuditRequest(resource="user/mallory"))]
    # two failures, the lockout, then the right password refused while locked, then the unlock
    assert audit[2:] == ["login.failed", "login.failed", "login.lockout", "login.failed", "user.update"], audit
    with cluster.client(token="") as c:
        assert c.login("mallory", PASSWORD).token


def test_password_rules_are_named_and_an_expired_password_must_change(cluster: LocalCluster) -> None:
    with cluster.client() as admin, pytest.raises(ClientError) as err:
        admin.create_user(auth_pb2.CreateUserRequest(name="weak", password="short"))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least 12 characters" in err.value.message and "a digit" in err.value.message
    _user(cluster, "nina", B(role="auditor"), must_change_password=True)
    with cluster.client(token="") as anon:
        login = anon.login("nina", PASSWORD)
    assert login.password_change_required
    with cluster.client(token=login.token, retry_for=0) as c:
        with pytest.raises(ClientError) as err:
            c.list_jobs()
        assert "must be changed first" in err.value.message
        with pytest.raises(ClientError) as err:
            c.change_password("also-weak", old_password=PASSWORD)
        assert "an upper-case letter" in err.value.message
        c.change_password("Another-Window-2027", old_password=PASSWORD)
    with cluster.client(token="") as anon:
        fresh = anon.login("nina", "Another-Window-2027")
    assert not fresh.password_change_required
    with cluster.client(token=fresh.token) as c:
        c.list_jobs()


def test_a_temporary_account_ends_with_its_validity(cluster: LocalCluster) -> None:
    with cluster.client() as admin:
        admin.create_user(auth_pb2.CreateUserRequest(name="temp", password=PASSWORD, bindings=[B(role="auditor")],
                                                     valid_until_ms=1_000))
    with cluster.client(token="", retry_for=0) as c, pytest.raises(ClientError) as err:
        c.login("temp", PASSWORD)
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "validity period ended" in err.value.message


def test_four_eyes_delete_runs_once_after_another_person_approves(cluster: LocalCluster) -> None:
    ann = _user(cluster, "ann", B(role="scheduling-admin", domains=["hr"]))
    ben = _user(cluster, "ben", B(role="scheduling-admin", domains=["hr"]))
    with cluster.client() as admin:
        policy = admin.get_policy()
        policy.approvals.add(operation="job.delete", domains=["hr"])
        admin.set_policy(policy)
        admin.apply_jobs([jobs_pb2.JobSpec(name=f"hr-tmp{i}", domain="hr", command=jobs_pb2.JobCommand(shell="true"))
                          for i in (1, 2)])
    try:
        with cluster.client(token=ann, retry_for=0) as c:
            with pytest.raises(ClientError) as err:
                c.delete_job("hr-tmp1")
            approve_me = err.value.approval_id
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION and approve_me.startswith("a")
            with pytest.raises(ClientError) as err:
                c.delete_job("hr-tmp2")
            reject_me = err.value.approval_id
            assert c.get_job("hr-tmp1").version == 1, "nothing is deleted before the approval"
            with pytest.raises(ClientError) as err:
                c.approve(approve_me)
            assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "another person" in err.value.message
        with cluster.client(token=ben) as c:
            decided = c.approve(approve_me, reason="checked")
            assert decided.state == "approved" and decided.result_code == 0
            with pytest.raises(ClientError) as err:
                c.approve(approve_me)
            assert "approved already" in err.value.message
            c.reject(reject_me, reason="still needed")
            with pytest.raises(ClientError) as err:
                c.get_job("hr-tmp1")
            assert err.value.code == grpc.StatusCode.NOT_FOUND
            assert c.get_job("hr-tmp2").version == 1
        with cluster.client() as admin:
            records = list(admin.iter_audit(audit_pb2.ListAuditRequest(resource="job/hr-tmp1")))
        deletes = [r for r in records if r.operation == "job.delete"]
        assert len(deletes) == 1 and deletes[0].actor.name == "ann" and deletes[0].approved_by == "user/ben"
        assert any(r.operation == "approval.request" and r.actor.name == "ann" for r in records)
    finally:
        with cluster.client() as admin:
            policy = admin.get_policy()
            del policy.approvals[:]
            admin.set_policy(policy)


def test_denials_are_audited_and_the_log_verifies_on_every_replica(cluster: LocalCluster) -> None:
    token = _user(cluster, "dora", B(role="business-operator", domains=["finance"]))
    with cluster.client(token=token, retry_for=0) as c, pytest.raises(ClientError):
        c.trigger_run("hr-job")
    with cluster.client() as admin:
        def denied() -> bool:
            return any(r.actor.name == "dora" for r in admin.iter_audit(audit_pb2.ListAuditRequest(
                operation="permission.denied")))

        wait_for(denied, 15, "the denial's audit record")
        records = list(admin.iter_audit(audit_pb2.ListAuditRequest()))
        for r in cluster.replicas:
            verdict = admin.verify_audit(server=r.api_address)
            assert verdict.ok and verdict.records >= len(records) - 5, (r.node_id, verdict)
    text = " ".join(r.content + r.before + r.after for r in records)
    assert PASSWORD not in text and "scrypt$" not in text
    ops = {r.operation for r in records}
    assert {"auth.bootstrap", "job.apply", "user.create", "login", "permission.denied", "run.trigger"} <= ops


def test_an_audit_record_edited_on_disk_is_named(cluster: LocalCluster) -> None:
    victim = cluster.replicas[2]
    with cluster.client() as admin:
        wait_for(lambda: admin.verify_audit(server=victim.api_address).records >= 5, 30, "records on the replica")
    cluster.kill(victim, signal.SIGTERM)
    env = lmdb.open(str(victim.data_dir / "state"), max_dbs=64, map_size=64 << 30)
    with env.begin(write=True) as txn:
        db = env.open_db(b"audit", txn=txn)
        key = (3).to_bytes(8, "big")
        sealed = bytearray(txn.get(key, db=db))
        sealed[-1] ^= 0xFF
        txn.put(key, bytes(sealed), db=db)
    env.close()
    cluster.start(victim, wait=False)
    with cluster.client() as admin:
        verdict = wait_for(lambda: admin.verify_audit(server=victim.api_address), 30, "the edited replica")
        assert not verdict.ok and verdict.broken_seq == 3 and "record 3" in verdict.problem
        assert admin.verify_audit(server=cluster.replicas[0].api_address).ok


def test_a_client_certificate_logs_in_as_its_user(cluster: LocalCluster) -> None:
    from wloadctl.security.certs import issue

    _user(cluster, "carl", B(role="auditor"))
    issue(cluster.certs, "client", "carl")
    issue(cluster.certs, "agent", "not-a-person")
    for r in cluster.replicas:  # any replica takes the certificate; followers ask the leader for the session
        with cluster.client([r.api_address], token="") as one:
            answer = one.certificate_login((cluster.certs / "client-carl.crt").read_bytes(),
                                           (cluster.certs / "client-carl.key").read_bytes())
        assert answer.user == "carl" and answer.token.startswith("wls.")
    with cluster.client(token="") as anon:
        with pytest.raises(ClientError) as err:
            anon.certificate_login((cluster.certs / "agent-not-a-person.crt").read_bytes(),
                                   (cluster.certs / "agent-not-a-person.key").read_bytes())
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "client certificate" in err.value.message
    with cluster.client(token=answer.token) as c:
        me = c.whoami()
        assert me.name == "carl" and me.method == "session"
    with cluster.client() as admin:
        logins = [r for r in admin.iter_audit(audit_pb2.ListAuditRequest(resource="user/carl"))
                  if r.operation == "login"]
    assert any('"method":"certificate"' in r.content for r in logins)


def test_a_guessing_loop_from_one_address_is_held_back_without_hashing(tmp_path: Path) -> None:
    c = LocalCluster(tmp_path / "c", size=1, settings={"login_burst_per_source": 3, "login_rate_per_source": 0.01})
    try:
        c.start()
        with c.client() as admin:
            admin.create_user(auth_pb2.CreateUserRequest(name="erin", password=PASSWORD))
        with c.client(token="", retry_for=0) as anon:
            for _ in range(3):
                with pytest.raises(ClientError) as wrong:
                    anon.login("nobody", "guess")
                assert wrong.value.code == grpc.StatusCode.UNAUTHENTICATED
            # The next attempt from this address is refused before any password is looked at,
            # the right one included.
            with pytest.raises(ClientError) as held:
                anon.login("erin", PASSWORD)
            assert held.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "too many login attempts from 127.0.0.1: at most 3 at once, then 0.01 per second" \
                in held.value.message
        with c.client() as admin:
            assert admin.whoami().kind == "apikey"  # everyone else is served
            erin = admin.get_user("erin")
            assert erin.failed_logins == 0 and not erin.locked  # a refused attempt counts as no failure

            def throttled() -> list[audit_pb2.AuditRecord]:
                return list(admin.iter_audit(audit_pb2.ListAuditRequest(operation="login.throttled")))
            records = wait_for(throttled, 10, "the throttled login in the audit log")
            assert records[0].actor.name == "erin" and records[0].result_code == \
                grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        # A loop of refusals is audited once per address per 10 s, not once per attempt: each
        # record is a Raft write.
        with c.client(token="", retry_for=0) as anon:
            for _ in range(2):
                with pytest.raises(ClientError) as held:
                    anon.login("erin", "guess")
                assert held.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        with c.client() as admin:
            admin.create_user(auth_pb2.CreateUserRequest(name="frank", password=PASSWORD))  # committed after them
            assert len(throttled()) == 1
    finally:
        c.stop()

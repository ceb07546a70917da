"""Secrets against real replicas and a real agent: a job gets its secret's value in its
environment, and no read path, audit record, log line or file on a replica shows it."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from wloadctl.cli.main import main
from wloadctl.client import Client, ClientError
from wloadctl.proto.v1 import audit_pb2, auth_pb2, jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration
RS = runs_pb2.RunState
FINAL = {RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED}
B = auth_pb2.Binding
USER_PASSWORD = "Batch-Window-2026"
# Random, so that finding it anywhere means it leaked from here.
PASSWORD = "pw-" + secrets.token_hex(16)
NEW_PASSWORD = "pw2-" + secrets.token_hex(16)
SCRIPT = 'printf %s "$DB_PASSWORD" | sha256sum; echo "user=$DB_USER"'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("secrets") / "c", size=3)
    try:
        c.start()
        c.add_agent("a1")
        with c.client() as admin:
            wait_for(lambda: admin.status().agents_confirmed == 1, 60, "agent a1 to confirm")
        yield c
    finally:
        c.stop()


def cli(capsys: pytest.CaptureFixture[Any], cluster: LocalCluster, *argv: str) -> tuple[int, str, str]:
    code = main(["--server", ",".join(r.api_address for r in cluster.replicas), "--ca",
                 str(cluster.certs / "ca.crt"), "--token", cluster.admin_token, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _user(cluster: LocalCluster, name: str, *bindings: auth_pb2.Binding) -> str:
    with cluster.client() as admin:
        try:
            admin.create_user(auth_pb2.CreateUserRequest(name=name, password=USER_PASSWORD, bindings=bindings))
        except ClientError as e:
            assert e.code == grpc.StatusCode.ALREADY_EXISTS, e.message
    with cluster.client(token="") as anon:
        return anon.login(name, USER_PASSWORD).token


def final(c: Client, run_id: str) -> runs_pb2.Run:
    return wait_for(lambda: (r := c.get_run(run_id)).state in FINAL and r, 60, f"run {run_id} to finish")


def sha(value: str) -> bytes:
    return hashlib.sha256(value.encode()).hexdigest().encode()


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*") if p.is_file())


def test_a_job_gets_its_secret_and_nothing_else_shows_it(cluster: LocalCluster, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[Any]) -> None:
    value_file = tmp_path / "db-password"
    value_file.write_text(PASSWORD)
    code, out, err = cli(capsys, cluster, "secret", "set", "db", "--domain", "finance",
                         "--from-file", f"password={value_file}", "--from-literal", "user=batch")
    assert (code, out, err) == (0, "secret/db created (keys: password, user; version 1)\n", "")
    with cluster.client() as admin:
        admin.apply_jobs([jobs_pb2.JobSpec(name="pay", domain="finance", command=jobs_pb2.JobCommand(shell=SCRIPT),
                                           secret_env={"DB_PASSWORD": "db/password", "DB_USER": "db/user"})])
        run = final(admin, admin.trigger_run("pay").run_id)
        assert run.state == RS.SUCCEEDED, (run.error, run.output_tail)
        assert sha(PASSWORD) in run.output_tail and b"user=batch" in run.output_tail
        # The run keeps the references only.
        assert dict(run.spec.secret_env) == {"DB_PASSWORD": "db/password", "DB_USER": "db/user"}
        audit = list(admin.iter_audit(audit_pb2.ListAuditRequest()))
    # Every read path: the job, the run, the secret, as documents and tables.
    shown = []
    for argv in (["-o", "json", "get", "job", "pay"], ["-o", "yaml", "get", "job", "pay"], ["describe", "job", "pay"],
                 ["-o", "json", "get", "run", run.run_id], ["describe", "run", run.run_id],
                 ["-o", "json", "get", "runs"], ["secret", "get"], ["-o", "json", "secret", "get", "db"]):
        code, out, err = cli(capsys, cluster, *argv)
        assert code == 0, (argv, err)
        shown.append(out)
    assert json.loads(shown[0])["spec"]["secret_env"] == {"DB_PASSWORD": "db/password", "DB_USER": "db/user"}
    assert json.loads(shown[3])["spec"]["secret_env"]["DB_PASSWORD"] == "db/password"
    info = json.loads(shown[7])
    assert info["keys"] == ["password", "user"] and info["domain"] == "finance" and info["version"] == 1
    assert shown[6].split("\n")[1].split()[:4] == ["db", "finance", "password,user", "1"]
    assert not [out for out in shown if PASSWORD in out]
    assert [r.operation for r in audit if r.resources == ["secret/db"]] == ["secret.set"]
    assert not [r.seq for r in audit if PASSWORD in str(r)]
    # Nowhere on a replica: logs, the state, the Raft journal (each written through as it goes: log
    # records are flushed one by one, LMDB and the journal sync their commits). The agent keeps and
    # logs nothing of it either.
    leaked = [str(p) for p in files_under(*(r.data_dir for r in cluster.replicas), cluster.agents[0].work_dir)
              if PASSWORD.encode() in p.read_bytes()]
    leaked += [str(p) for p in (*(r.log_path for r in cluster.replicas), cluster.agents[0].log_path)
               if PASSWORD.encode() in p.read_bytes()]
    assert leaked == []
    # What was searched holds what it should: the references are there, in the clear.
    assert all(any(b"db/password" in p.read_bytes() for p in files_under(r.data_dir)) for r in cluster.replicas)
    assert all(r.log_path.stat().st_size for r in cluster.replicas)


def test_the_next_attempt_gets_the_current_value_and_fails_once_the_secret_is_gone(cluster: LocalCluster) -> None:
    with cluster.client() as admin:
        admin.set_secret("rotating", "finance", {"password": PASSWORD, "user": "u"})
        admin.apply_jobs([jobs_pb2.JobSpec(name="rotate", domain="finance", command=jobs_pb2.JobCommand(shell=SCRIPT),
                                           secret_env={"DB_PASSWORD": "rotating/password"})])
        assert sha(PASSWORD) in final(admin, admin.trigger_run("rotate").run_id).output_tail
        changed = admin.set_secret("rotating", "finance", {"password": NEW_PASSWORD})
        assert changed.version == 2 and list(changed.keys) == ["password"]
        assert sha(NEW_PASSWORD) in final(admin, admin.trigger_run("rotate").run_id).output_tail
        admin.delete_secret("rotating")
        gone = final(admin, admin.trigger_run("rotate").run_id)
        assert gone.state == RS.FAILED and gone.exit_code == 126
        assert "secret_env.DB_PASSWORD: secret 'rotating' no longer exists" in gone.error
        # Applying it again is refused now, naming the field.
        with pytest.raises(ClientError) as err:
            admin.apply_jobs([jobs_pb2.JobSpec(name="rotate", domain="finance", description="changed",
                                               command=jobs_pb2.JobCommand(shell=SCRIPT),
                                               secret_env={"DB_PASSWORD": "rotating/password"})])
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.message.startswith('jobs[0].secret_env.DB_PASSWORD: secret "rotating" does not exist')


def test_who_may_read_set_and_use_secrets(cluster: LocalCluster) -> None:
    with cluster.client() as admin:
        admin.set_secret("fin-db", "finance", {"password": PASSWORD})
        admin.set_secret("ops-db", "ops", {"password": "ops-value"})
        admin.create_role("job-writer", ["job.write", "job.read"])
    operator = _user(cluster, "olga", B(role="business-operator", domains=["finance"]))
    with cluster.client(token=operator, retry_for=0) as c:
        for call, permission in ((lambda: c.set_secret("fin-db", "finance", {"password": "x"}), "secret.write"),
                                 (lambda: c.get_secret("fin-db"), "secret.read"),
                                 (c.list_secrets, "secret.read"), (lambda: c.delete_secret("fin-db"), "secret.write")):
            with pytest.raises(ClientError) as err:
                call()
            assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert err.value.message == f"permission denied: {permission} is needed (your roles do not grant it)"
    scheduler = _user(cluster, "sam", B(role="scheduling-admin", domains=["ops"]))
    with cluster.client(token=scheduler, retry_for=0) as c:
        with pytest.raises(ClientError) as err:
            c.set_secret("fin-db", "finance", {"password": "x"})
        assert err.value.message == "permission denied: secret.write in domain 'finance' is needed (you have it " \
                                    "in: ops)"
        with pytest.raises(ClientError) as err:
            c.get_secret("fin-db")
        assert err.value.message == "permission denied: secret.read in domain 'finance' is needed (you have it in: " \
                                    "ops)"
        assert [s.name for s in c.list_secrets().secrets] == ["ops-db"]
        with pytest.raises(ClientError) as err:
            c.apply_jobs([jobs_pb2.JobSpec(name="steal", domain="ops", command=jobs_pb2.JobCommand(shell=SCRIPT),
                                           secret_env={"DB_PASSWORD": "fin-db/password"})])
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.message == 'jobs[0].secret_env.DB_PASSWORD: secret "fin-db" is in domain "finance", not ' \
                                    'in the job\'s domain "ops": a job uses only the secrets of its own domain'
    auditor = _user(cluster, "ada", B(role="auditor"))
    with cluster.client(token=auditor, retry_for=0) as c:
        assert {s.name: list(s.keys) for s in c.list_secrets().secrets}["fin-db"] == ["password"]
        with pytest.raises(ClientError) as err:
            c.set_secret("fin-db", "finance", {"password": "x"})
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    # job.write alone does not let one use a domain's secrets.
    writer = _user(cluster, "wes", B(role="job-writer", domains=["finance"]))
    with cluster.client(token=writer, retry_for=0) as c, pytest.raises(ClientError) as err:
        c.apply_jobs([jobs_pb2.JobSpec(name="use", domain="finance", command=jobs_pb2.JobCommand(shell=SCRIPT),
                                       secret_env={"DB_PASSWORD": "fin-db/password"})])
    assert err.value.message == "permission denied: secret.read in domain 'finance' is needed (your roles do not " \
                                "grant it)"

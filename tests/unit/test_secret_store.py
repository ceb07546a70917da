"""Secrets: the secretEnv rules, the encrypted values in the state, references checked at apply,
audit records without values, and resolving them for an assignment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import grpc
import pytest
import yaml

from wloadctl.model.documents import SpecErrors, parse_documents, spec_to_dict
from wloadctl.model.policy import refusal
from wloadctl.model.rules import MAX_SECRET_ENV, validate_spec
from wloadctl.proto.v1 import auth_pb2, commands_pb2, jobs_pb2, runs_pb2, secrets_pb2
from wloadctl.state.secrets import NONCE_BYTES, SecretBox, resolve, secrets_key
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, batch

OK = grpc.StatusCode.OK.value[0]
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]
CLUSTER_SECRET = "c" * 64
PASSWORD = "hunter2-Sup3r-s3cret-value"
ALICE = auth_pb2.Actor(kind="user", name="alice", source="10.0.0.7:4444")


def shell_job(name: str, domain: str = "finance", **secret_env: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, domain=domain, command=jobs_pb2.JobCommand(shell='echo "$DB_PASSWORD"'),
                            secret_env=secret_env)


def set_cmd(name: str, domain: str, values: dict[str, str], key: str = "") -> commands_pb2.Command:
    """What the leader proposes: the values sealed with fresh random nonces."""
    box = SecretBox(secrets_key(CLUSTER_SECRET))
    sealed = [box.seal(name, k, v, os.urandom(NONCE_BYTES)) for k, v in sorted(values.items())]
    return commands_pb2.Command(idempotency_key=key, actor=ALICE,
                                set_secret=secrets_pb2.SetSecret(name=name, domain=domain, values=sealed))


def delete_secret_cmd(name: str) -> commands_pb2.Command:
    return commands_pb2.Command(actor=ALICE, delete_secret=secrets_pb2.DeleteSecret(name=name))


class S:
    def __init__(self, path: Path) -> None:
        self.store = Store(path, cluster_secret=CLUSTER_SECRET)
        self.index = 0

    def apply(self, entry: bytes) -> list[commands_pb2.CommandResult]:
        self.index += 1
        out = self.store.apply(entry, self.index)
        assert out is not None
        return out

    def do(self, *cmds: commands_pb2.Command) -> commands_pb2.CommandResult:
        return self.apply(batch(*cmds, time_ms=1_000 + self.index))[-1]


@pytest.fixture
def s(tmp_path: Path) -> S:
    return S(tmp_path / "s")


# ---- the model: secretEnv in YAML and in a JobSpec


def test_secret_env_references_are_checked_where_they_are_written() -> None:
    with pytest.raises(SpecErrors) as err:
        parse_documents("kind: Job\nmetadata: {name: x}\nspec:\n  script: env\n  env: {A: plain}\n"
                        "  secretEnv: {A: db/pw, B: no-slash, 1C: db/pw, D: db/, E: /pw, F: 'db/p w'}\n")
    found = {e.field: e.reason for e in err.value.errors}
    assert found["spec.secretEnv.A"] == "also set in spec.env: a variable comes from one of them"
    assert found["spec.secretEnv.B"].startswith('must be "SECRET/KEY"') and "'no-slash'" in found["spec.secretEnv.B"]
    assert "valid environment variable name" in found["spec.secretEnv.1C"]
    assert {"spec.secretEnv.D", "spec.secretEnv.E", "spec.secretEnv.F"} <= set(found)
    too_many = shell_job("x", **{f"V{i}": "db/pw" for i in range(MAX_SECRET_ENV + 1)})
    assert [str(e) for e in validate_spec(too_many)] == [f"secret_env: must have at most {MAX_SECRET_ENV} entries "
                                                         f"(got {MAX_SECRET_ENV + 1})"]


def test_a_document_keeps_the_references_both_ways() -> None:
    spec = parse_documents("kind: Job\nmetadata: {name: x, domain: finance}\nspec:\n  script: env\n"
                           "  secretEnv: {DB_PASSWORD: db/password, API_TOKEN: api.v2/token_1}\n")[0]
    assert dict(spec.secret_env) == {"DB_PASSWORD": "db/password", "API_TOKEN": "api.v2/token_1"}
    document = spec_to_dict(spec)
    assert document["spec"]["secretEnv"] == {"API_TOKEN": "api.v2/token_1", "DB_PASSWORD": "db/password"}
    assert parse_documents(yaml.safe_dump(document)) == [spec]
    assert validate_spec(spec) == []


# ---- the state


def test_values_are_encrypted_at_rest_and_reads_show_keys_only(s: S, tmp_path: Path) -> None:
    cmd = set_cmd("db", "finance", {"password": PASSWORD, "user": "batch-user-name"})
    entry = batch(cmd)
    assert PASSWORD.encode() not in entry  # the Raft log carries ciphertext only
    assert s.do(cmd).code == OK
    s.store.sync()
    assert PASSWORD.encode() not in (tmp_path / "s" / "data.mdb").read_bytes()
    info = s.store.secret_info("db")
    assert info is not None and list(info.keys) == ["password", "user"] and info.domain == "finance"
    assert info.version == 1 and info.updated_by == "user/alice" and info.created_by == "user/alice"
    # What reads return has no field that could hold a value.
    assert set(secrets_pb2.SecretInfo.DESCRIPTOR.fields_by_name) == {
        "name", "domain", "description", "keys", "version", "created_ms", "created_by", "updated_ms", "updated_by"}
    # Only the key derived from this cluster's secret opens them.
    stored = s.store.stored_secrets(["db"])["db"]
    assert stored is not None
    sealed = next(v for v in stored.values if v.key == "password")
    assert s.store.secret_box.open("db", sealed) == PASSWORD
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(secrets_key("another cluster secret")).open("db", sealed)
    with pytest.raises(ValueError, match="cannot be decrypted"):
        s.store.secret_box.open("other-name", sealed)  # bound to its secret and key


def test_every_replica_stores_the_same_bytes(tmp_path: Path) -> None:
    a, b = S(tmp_path / "a"), S(tmp_path / "b")
    entries = [batch(set_cmd("db", "finance", {"password": PASSWORD}), set_cmd("db", "finance", {"password": "two"})),
               batch(set_cmd("api", "ops", {"token": "t0k3n"}), apply_cmd(shell_job("j", DB_PASSWORD="db/password"))),
               batch(delete_secret_cmd("api"))]
    for entry in entries:
        assert a.apply(entry) == b.apply(entry)
    assert a.store.digest() == b.store.digest()
    # Two sets of one secret in one entry (one Raft index): each value has its own nonce.
    stored = a.store.stored_secrets(["db"])["db"]
    assert stored is not None and stored.version == 2 and a.store.secret_box.open("db", stored.values[0]) == "two"


def test_set_replaces_every_key_and_a_secret_does_not_move_between_domains(s: S) -> None:
    assert s.do(set_cmd("db", "finance", {"password": "a", "user": "u"})).code == OK
    assert s.do(set_cmd("db", "finance", {"password": "b"})).code == OK
    info = s.store.secret_info("db")
    assert info is not None and list(info.keys) == ["password"] and info.version == 2
    moved = s.do(set_cmd("db", "ops", {"password": "c"}))
    assert moved.code == FAILED_PRECONDITION and "in domain 'finance'" in moved.message
    assert s.do(delete_secret_cmd("db")).code == OK and s.store.secret_info("db") is None
    again = s.do(delete_secret_cmd("db"))
    assert again.code == grpc.StatusCode.NOT_FOUND.value[0] and again.message == "name: secret 'db' not found"


def test_apply_refuses_what_a_leader_would_not_have_sealed(s: S) -> None:
    bad = set_cmd("db", "finance", {"password": "x"})
    bad.set_secret.values[0].nonce = b"short"
    bad.set_secret.values.add(key="password", nonce=b"\0" * 12, ciphertext=b"\0" * 20)
    result = s.do(bad)
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "values: a key appears twice" in result.message and "not a value sealed by a leader" in result.message
    empty = s.do(commands_pb2.Command(set_secret=secrets_pb2.SetSecret(name="-x", domain="finance")))
    assert "name: must contain only" in empty.message and "values: at least one key" in empty.message
    assert s.store.secret_infos() == []


def test_jobs_refer_only_to_existing_keys_of_their_own_domain(s: S) -> None:
    s.do(set_cmd("db", "finance", {"password": PASSWORD}))
    s.do(set_cmd("ops-db", "ops", {"password": "x"}))
    cases = {
        "missing": (shell_job("j", DB_PASSWORD="nope/password"),
                    "jobs[0].secret_env.DB_PASSWORD: secret \"nope\" does not exist"),
        "no key": (shell_job("j", DB_PASSWORD="db/pass"),
                   "jobs[0].secret_env.DB_PASSWORD: secret \"db\" has no key \"pass\" (its keys: password)"),
        "other domain": (shell_job("j", DB_PASSWORD="ops-db/password"),
                         "jobs[0].secret_env.DB_PASSWORD: secret \"ops-db\" is in domain \"ops\", not in the job's "
                         "domain \"finance\""),
    }
    for what, (spec, message) in cases.items():
        result = s.do(apply_cmd(shell_job("fine"), spec))
        assert result.code == FAILED_PRECONDITION and result.message.replace("jobs[1]", "jobs[0]").startswith(
            message), (what, result.message)
        assert s.store.get_job("fine") is None  # all or nothing
        assert s.store.secret_ref_errors([spec])[0].field == "jobs[0].secret_env.DB_PASSWORD"
    ok = s.do(apply_cmd(shell_job("j", DB_PASSWORD="db/password")))
    assert ok.code == OK, ok.message
    job = s.store.get_job("j")
    assert job is not None and dict(job.spec.secret_env) == {"DB_PASSWORD": "db/password"}
    assert PASSWORD not in str(job)


def test_audit_records_name_the_keys_never_a_value(s: S) -> None:
    cmd = set_cmd("db", "finance", {"password": PASSWORD})
    ciphertext = cmd.set_secret.values[0].ciphertext
    s.do(cmd)
    s.do(set_cmd("db", "finance", {"password": PASSWORD + "-2", "user": "u"}))
    s.do(delete_secret_cmd("db"))
    records = s.store.audit_records()
    assert [r.operation for r in records] == ["secret.set", "secret.set", "secret.delete"]
    assert all(r.resources == ["secret/db"] and r.actor.name == "alice" for r in records)
    for record in records:
        text = str(record)
        assert PASSWORD not in text and ciphertext.hex() not in record.SerializeToString().hex()
    assert json.loads(records[0].content) == {"name": "db", "domain": "finance", "values": [{"key": "password"}]}
    before, after = json.loads(records[1].before), json.loads(records[1].after)
    assert before["keys"] == ["password"] and after["keys"] == ["password", "user"] and after["version"] == "2"
    assert records[2].after == "" and json.loads(records[2].before)["name"] == "db"
    assert s.store.verify_audit().ok


# ---- resolving for an assignment


def test_resolve_gives_the_current_values_or_an_error_without_values(s: S) -> None:
    s.do(set_cmd("db", "finance", {"password": PASSWORD, "user": "u"}))
    spec = shell_job("j", DB_PASSWORD="db/password", DB_USER="db/user")
    env, error = resolve(s.store.secret_box, s.store.stored_secrets(["db"]), spec)
    assert (env, error) == ({"DB_PASSWORD": PASSWORD, "DB_USER": "u"}, "")
    s.do(set_cmd("db", "finance", {"password": "new"}))
    env, error = resolve(s.store.secret_box, s.store.stored_secrets(["db"]), spec)
    assert env == {} and error == "secret_env.DB_USER: secret 'db' no longer has a key 'user' (set again without it)"
    s.do(delete_secret_cmd("db"))
    env, error = resolve(s.store.secret_box, s.store.stored_secrets(["db"]), spec)
    assert env == {} and "secret 'db' no longer exists" in error and PASSWORD not in error


def test_only_agents_that_receive_secrets_get_jobs_that_use_them() -> None:
    # An older agent ignores Assignment.secret_env and would run the job without its variables.
    older, current = runs_pb2.AgentPolicy(allow_scripts=True), runs_pb2.AgentPolicy(allow_scripts=True, secret_env=True)
    uses = shell_job("j", DB_PASSWORD="db/password")
    assert refusal(older, uses).startswith("secretEnv needs an agent of a version that receives secrets")
    assert refusal(current, uses) == "" and refusal(older, shell_job("plain")) == ""

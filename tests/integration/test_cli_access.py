"""`wloadctl` against real replicas with TLS and authentication: logins and sessions, what a
user limited to one domain is told when a call is denied, locking, API keys, four-eyes
approvals (exit 3), the audit log (get, verify, export), job diffs and rollbacks, and the
admin credential and CLI config that `wloadctl up` writes.

Every command runs as its own `python -m wloadctl` process, as an operator types it, with a
HOME and XDG_CONFIG_HOME of its own per person: no test reads or writes the real user's config.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wloadctl.testing.cluster import LocalCluster, free_ports, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "Finance-Ops-2026"
JOBS = """\
kind: Job
metadata: {name: ledger, domain: finance}
spec: {command: [/bin/echo, ledger, --full]}
---
kind: Job
metadata: {name: backup, domain: ops}
spec: {command: [/bin/echo, backup]}
"""


@dataclass
class Person:
    """One operator: a HOME of their own (their CLI config, their stored login) and, for the admin,
    the cluster's first API key in the environment."""

    home: Path
    env: dict[str, str]

    def run(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wloadctl", *argv], env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    def ok(self, *argv: str, stdin: str | None = None) -> str:
        done = self.run(*argv, stdin=stdin)
        assert done.returncode == 0, f"wloadctl {' '.join(argv)}: exit {done.returncode}\n{done.stderr}"
        return done.stdout

    def json(self, *argv: str) -> dict[str, object]:
        return json.loads(self.ok(*argv, "-o", "json"))

    @property
    def config(self) -> Path:
        return self.home / ".config" / "wloadctl" / "config.toml"


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLOADCTL_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("security-cluster"), size=3)
    try:
        c.start()
        c.wait_settled()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def people(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Person]:
    """The admin (the bootstrapped key) and the users the tests log in as, each with their own HOME."""
    made: dict[str, Person] = {}
    for name in ("admin", "alice", "bob", "dave", "erin"):
        home = tmp_path_factory.mktemp(f"home-{name}")
        env = _base_env(home)
        env["WLOADCTL_SERVER"] = ",".join(r.api_address for r in cluster.replicas)
        env["WLOADCTL_CA"] = str(cluster.certs / "ca.crt")
        made[name] = Person(home, env)
    made["admin"].env["WLOADCTL_API_KEY"] = cluster.ensure_admin()
    admin = made["admin"]
    jobs = tmp_path_factory.mktemp("jobs") / "jobs.yaml"
    jobs.write_text(JOBS)
    admin.ok("apply", "-f", str(jobs))
    admin.ok("user", "create", "alice", "--role", "business-operator", "--domain", "finance", "--password-stdin",
             stdin=PASSWORD + "\n")
    admin.ok("user", "create", "dave", "--role", "scheduling-admin", "--domain", "finance", "--password-stdin",
             stdin=PASSWORD + "\n")
    return made


def login(person: Person, user: str, password: str = PASSWORD) -> str:
    return person.ok("login", "--user", user, "--password-stdin", stdin=password + "\n")


def test_login_whoami_logout(people: dict[str, Person]) -> None:
    alice = people["alice"]
    out = login(alice, "alice")
    assert out.startswith("logged in as alice (session s") and out.rstrip().endswith("Z)")
    assert stat.S_IMODE(alice.config.stat().st_mode) == 0o600
    stored = tomllib.loads(alice.config.read_text())["login"]
    assert stored["user"] == "alice" and stored["token"].startswith("wls.")
    assert PASSWORD not in alice.config.read_text()

    me = alice.json("whoami")
    assert (me["kind"], me["name"], me["method"]) == ("user", "alice", "session")
    assert me["bindings"] == [{"role": "business-operator", "domains": ["finance"]}]
    assert "job.read@finance" in me["permissions"] and "job.delete@finance" not in me["permissions"]
    table = alice.ok("whoami")
    assert "credential:  login (alice)\n" in table and "bindings:    business-operator@finance\n" in table

    out = alice.ok("logout")
    assert out.startswith("logged out alice (session s") and out.rstrip().endswith("closed)")
    assert "login" not in tomllib.loads(alice.config.read_text())
    # Nothing to fall back to in alice's HOME: no stored login, no local admin credential.
    denied = alice.run("whoami")
    assert denied.returncode == 1 and denied.stdout == ""
    assert denied.stderr.startswith("error: not authenticated: ")
    assert denied.stderr.rstrip().endswith("(log in with wloadctl login, or pass --token/--api-key)")
    again = alice.run("logout")
    assert (again.returncode, again.stderr) == (0, "note: not logged in (no stored login)\n")


def test_an_operator_of_one_domain_is_told_what_is_missing(people: dict[str, Person]) -> None:
    alice, admin = people["alice"], people["admin"]
    login(alice, "alice")
    try:
        listed = alice.json("get", "jobs")["jobs"]
        assert [j["spec"]["name"] for j in listed] == ["ledger"]   # the ops job is not hers to see
        other = alice.run("describe", "job", "backup")
        assert other.returncode == 1 and other.stdout == ""
        assert other.stderr.startswith("error: permission denied: job.read in domain 'ops' is needed")
        assert len(other.stderr.splitlines()) == 1
        delete = alice.run("delete", "job", "ledger")
        assert delete.returncode == 1
        assert delete.stderr.startswith("error: permission denied: job.delete")
        assert "permission denied: permission denied" not in delete.stderr
    finally:
        alice.ok("logout")
    denials = admin.json("audit", "get", "--user", "alice")["records"]
    assert any(r["result_code"] == 7 and "job.delete" in r["result"] for r in denials)  # PERMISSION_DENIED


def test_lock_and_unlock(people: dict[str, Person]) -> None:
    admin, bob = people["admin"], people["bob"]
    admin.ok("user", "create", "bob", "--role", "auditor", "--password-stdin", stdin=PASSWORD + "\n")
    assert admin.ok("user", "lock", "bob") == "user/bob locked\n"
    assert admin.json("user", "get", "bob")["locked"] is True
    assert "bob     yes      yes" in admin.ok("user", "get")
    refused = bob.run("login", "--user", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: ") and "'bob' is locked" in refused.stderr
    assert admin.ok("user", "unlock", "bob") == "user/bob unlocked\n"
    assert login(bob, "bob").startswith("logged in as bob ")
    assert bob.json("whoami")["name"] == "bob"
    bob.ok("logout")
    described = admin.ok("user", "describe", "bob")
    assert "Locked:        no\n" in described and "Roles:         auditor in every domain\n" in described
    assert all(u["password_hash"] == "" for u in admin.json("user", "get")["users"])   # type: ignore[index]


def test_api_key_create_use_revoke(people: dict[str, Person]) -> None:
    admin, erin = people["admin"], people["erin"]
    shown = admin.ok("apikey", "create", "--role", "auditor", "--description", "robot", "--expires", "1d")
    first, key_line, signing_title, signing_key = shown.splitlines()
    assert first.startswith("apikey/k") and first.endswith(" created; the key is shown once:")
    assert key_line.startswith("wlk.")
    assert signing_title.startswith("webhook signing key") and len(signing_key) == 64 and int(signing_key, 16) >= 0
    created = admin.json("apikey", "create", "--role", "business-operator", "--domain", "finance",
                         "--allow-ip", "127.0.0.0/8")
    key_id, token = created["key"]["id"], created["token"]   # type: ignore[index]
    assert created["key"]["secret_hash"] == "" and created["key"]["allowed_networks"] == ["127.0.0.0/8"]  # type: ignore[index]

    me = erin.json("whoami", "--api-key", str(token))
    assert (me["kind"], me["name"], me["method"]) == ("apikey", key_id, "apikey")
    assert [j["spec"]["name"] for j in erin.json("get", "jobs", "--api-key", str(token))["jobs"]] == ["ledger"]
    env_key = Person(erin.home, {**erin.env, "WLOADCTL_API_KEY": str(token)})
    assert env_key.json("whoami")["name"] == key_id
    assert str(key_id) in admin.ok("apikey", "get")
    assert admin.ok("apikey", "revoke", str(key_id)) == f"apikey/{key_id} revoked\n"
    assert admin.json("apikey", "get", str(key_id))["revoked"] is True
    refused = erin.run("get", "jobs", "--api-key", str(token))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: not authenticated: API key {key_id} was revoked")


def test_a_held_delete_waits_for_another_person(people: dict[str, Person], tmp_path: Path) -> None:
    admin, dave = people["admin"], people["dave"]
    admin.ok("auth", "policy", "set", "--approval", "job.delete@finance")
    try:
        job = tmp_path / "settlement.yaml"
        job.write_text("kind: Job\nmetadata: {name: settlement, domain: finance}\nspec: {type: empty}\n")
        admin.ok("apply", "-f", str(job))
        held = admin.run("delete", "job", "settlement")
        assert held.returncode == 3 and held.stdout == ""
        requested, how = held.stderr.splitlines()
        assert requested.startswith("approval/a") and " requested: " in requested
        approval_id = requested.split(" ", 1)[0].removeprefix("approval/")
        assert how == f"another user approves it with: wloadctl approval approve {approval_id}"
        assert admin.json("get", "job", "settlement")["deleted"] is False   # not yet

        # Nobody approves their own request.
        own = admin.run("approval", "approve", approval_id)
        assert own.returncode == 1 and own.stderr.startswith("error: ")

        login(dave, "dave")
        try:
            pending = dave.json("approval", "get", "--state", "pending")["approvals"]
            assert approval_id in [a["id"] for a in pending]   # type: ignore[index]
            out = dave.ok("approval", "approve", approval_id, "--reason", "replaced by the new ledger")
            assert out.startswith(f"approval/{approval_id} approved")
            decided = dave.json("approval", "get", approval_id)
            assert (decided["state"], decided["command"]) == ("approved", "")
            assert decided["decided_by"]["name"] == "dave"   # type: ignore[index]
        finally:
            dave.ok("logout")
        gone = admin.run("get", "job", "settlement")
        assert gone.returncode == 1 and "not found" in gone.stderr
        records = admin.json("audit", "get", "--operation", "job.delete", "--resource", "job/settlement")["records"]
        assert any(r["approved_by"] for r in records)   # type: ignore[index]
    finally:
        admin.ok("auth", "policy", "set", "--no-approvals")
    assert admin.json("auth", "policy", "get")["approvals"] == []


def test_audit_get_verify_export(people: dict[str, Person], tmp_path: Path) -> None:
    admin = people["admin"]
    verified = admin.run("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("audit log verified: ") and " records (seq 1.." in verified.stdout
    records = admin.json("audit", "get", "--operation", "user.")["records"]
    assert {"user/alice", "user/dave"} <= {res for r in records for res in r["resources"]}   # type: ignore[index]
    assert all(set(r) >= {"seq", "time_ms", "actor", "content", "before", "after", "hash"} for r in records)  # type: ignore[arg-type]
    assert "scrypt$" not in json.dumps(records)
    table = admin.ok("audit", "get", "--operation", "user.create", "--limit", "1")
    header, *rows = table.splitlines()
    assert header.split() == ["SEQ", "TIME", "OPERATOR", "SOURCE", "OPERATION", "RESULT", "RESOURCES"]
    assert len(rows) == 1 and "user.create" in rows[0]

    out = admin.ok("audit", "export", "--format", "csv", "-o", str(tmp_path / "audit.csv"), "--operation", "user.")
    assert out.endswith(f"written to {tmp_path / 'audit.csv'} (csv)\n")
    path = tmp_path / "audit.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows_csv = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    assert rows_csv[0][:6] == ["operator", "time", "source IP", "operation content", "result",
                               "associated resources"]
    assert len(rows_csv) - 1 >= len(records)   # the log only grows between the two reads
    assert rows_csv[1][0] and rows_csv[1][2].count(".") == 3   # an operator and an IPv4 source

    from openpyxl import load_workbook

    admin.ok("audit", "export", "--format", "xlsx", "-o", str(tmp_path / "audit.xlsx"), "--since", "1h")
    sheet = load_workbook(tmp_path / "audit.xlsx").active
    assert stat.S_IMODE((tmp_path / "audit.xlsx").stat().st_mode) == 0o600
    assert [c.value for c in sheet[1]][:3] == ["operator", "time", "source IP"]
    assert sheet.max_row > 1


def test_diff_and_rollback(people: dict[str, Person], tmp_path: Path) -> None:
    admin = people["admin"]
    job = tmp_path / "ledger.yaml"
    job.write_text("kind: Job\nmetadata: {name: ledger2, domain: finance}\nspec: {command: [/bin/echo, v1]}\n")
    admin.ok("apply", "-f", str(job))
    job.write_text("kind: Job\nmetadata: {name: ledger2, domain: finance}\nspec: {command: [/bin/echo, v2]}\n")
    admin.ok("apply", "-f", str(job))
    diff = admin.ok("diff", "job", "ledger2")
    assert diff.splitlines()[:2] == ["--- job/ledger2 version 1", "+++ job/ledger2 version 2"]
    assert "-  - v1" in diff.splitlines() and "+  - v2" in diff.splitlines()
    out = admin.ok("rollback", "job", "ledger2", "--to-version", "1")
    assert out == "job/ledger2 configured (version 3, equal to version 1)\n"
    assert admin.ok("diff", "job", "ledger2", "--from", "1", "--to", "3") == ""
    assert admin.ok("get", "job", "ledger2", "--export") == admin.ok("get", "job", "ledger2", "--version", "1",
                                                                      "--export")
    again = admin.ok("rollback", "job", "ledger2", "--to-version", "1")
    assert again == "job/ledger2 unchanged (version 3, equal to version 1)\n"


def test_password_change_at_first_login(people: dict[str, Person]) -> None:
    admin, erin = people["admin"], people["erin"]
    admin.ok("user", "create", "erin", "--role", "auditor", "--must-change-password", "--password-stdin",
             stdin="Temporary-Pass-1\n")
    done = erin.run("login", "--user", "erin", "--password-stdin", stdin="Temporary-Pass-1\nChosen-Later-22\n")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "note: the password of erin must be changed before anything else\n"
    assert erin.json("whoami")["password_change_required"] is False
    erin.ok("logout")
    assert login(erin, "erin", "Chosen-Later-22").startswith("logged in as erin ")
    erin.ok("logout")
    # An administrator's reset: erin must choose another one at the next login.
    assert admin.ok("password", "--user", "erin", "--password-stdin", stdin="Reset-By-Admin-3\n") == \
        "password of erin set; they must change it at their next login\n"
    again = erin.run("login", "--user", "erin", "--password-stdin", stdin="Reset-By-Admin-3\nChosen-Again-4\n")
    assert again.returncode == 0 and "must be changed" in again.stderr
    erin.ok("logout")


# ---- wloadctl up ---------------------------------------------------------------------------


def _free_base_port() -> int:
    """A base port whose API, Raft and agent ports (base, +100, +200) are all free."""
    for _ in range(50):
        base = free_ports(1)[0]
        if base + 200 > 65535:
            continue
        ports = [base, base + 100, base + 200]
        free = True
        for port in ports:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    free = False
        if free:
            return base
    raise RuntimeError("no free base port")


class Up:
    """`wloadctl up --replicas 1 --agents 0` with an isolated HOME; stopped by its pid (Ctrl-C)."""

    def __init__(self, data_dir: Path, home: Path, base: int) -> None:
        self.log = data_dir.parent / f"up-{len(list(data_dir.parent.glob('up-*.out')))}.out"
        self.env = _base_env(home)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wloadctl", "up", "--replicas", "1", "--agents", "0", "--base-port",
                 str(base), "--data-dir", str(data_dir)], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: "press Ctrl-C" in self.text() or self.proc.poll() is not None, 90, "wloadctl up")
        assert self.proc.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def test_up_bootstraps_and_points_the_cli_at_its_cluster(tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    base = _free_base_port()
    user = Person(home, _base_env(home))
    up = Up(data, home, base)
    try:
        token_file = data / "admin.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token.startswith("wlk.")
        banner = up.text()
        assert f"admin key:  {token_file}" in banner and f"CLI config: {user.config}" in banner
        config = tomllib.loads(user.config.read_text())["cluster"]
        assert config == {"servers": [f"127.0.0.1:{base}"], "ca": str(data / "certs" / "ca.crt"),
                          "admin_token_file": str(token_file)}
        # From another directory, with no flags or environment: the config says where and as whom.
        elsewhere = subprocess.run([sys.executable, "-m", "wloadctl", "whoami", "-o", "json"], env=user.env,
                                   cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert elsewhere.returncode == 0, elsewhere.stderr
        assert json.loads(elsewhere.stdout)["bindings"] == [{"role": "admin", "domains": []}]
        # The console's first user: its password in a private file, to be changed at the first login.
        password_file = data / "console-admin.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert f"log in as admin, password in {password_file}" in banner
        login = subprocess.run([sys.executable, "-m", "wloadctl", "login", "--user", "admin", "--password-stdin"],
                               input=password_file.read_text() + "Console-Changed-2026!\n", env=user.env,
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert login.returncode == 0, login.stderr
        assert "must be changed" in login.stderr and "logged in as admin" in login.stdout
    finally:
        up.stop()

    up = Up(data, home, base)   # the same data dir: the same credential
    try:
        assert (data / "admin.token").read_text().strip() == token
        assert "warning" not in up.text()
    finally:
        up.stop()

    (data / "admin.token").unlink()
    up = Up(data, home, base)   # the credential is lost: said once, and up keeps running
    try:
        lost = [line for line in up.text().splitlines() if "already bootstrapped" in line]
        assert len(lost) == 1 and "admin credential is lost" in lost[0]
        assert up.proc.poll() is None
    finally:
        up.stop()


def test_a_client_certificate_logs_in_from_the_cli(cluster: LocalCluster, people: dict[str, Person]) -> None:
    from wloadctl.security.certs import issue

    issue(cluster.certs, "client", "alice")
    alice = people["alice"]
    cert = ["--cert", str(cluster.certs / "client-alice.crt"), "--key", str(cluster.certs / "client-alice.key")]
    me = json.loads(alice.ok(*cert, "whoami", "-o", "json"))  # one command, no stored login
    assert (me["kind"], me["name"], me["method"]) == ("user", "alice", "session")
    assert "login" not in (tomllib.loads(alice.config.read_text()) if alice.config.exists() else {})
    out = alice.ok(*cert, "login")
    assert out.startswith("logged in as alice (session s")
    assert alice.json("whoami")["name"] == "alice"
    alice.ok("logout")
    refused = alice.run("--cert", str(cluster.certs / "ca.crt"), "--key", str(cluster.certs / "ca.key"), "whoami")
    assert refused.returncode == 1 and "error:" in refused.stderr and "Traceback" not in refused.stderr

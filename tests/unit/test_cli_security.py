"""Unit tests for the CLI side of identity, access control and audit: parsing, rendering, time and
duration arguments, where the credential and the CA come from, the audit exports, job diffs and
what `wloadctl up` writes into the CLI config. Nothing here talks to a server: the commands
against real replicas are in tests/integration/test_cli_security.py."""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from wloadctl.cli import auditexport, output, render, userconfig
from wloadctl.cli import up as up_module
from wloadctl.cli.commands.history import job_diff
from wloadctl.cli.commands.sessions import approval_rules
from wloadctl.cli.main import main
from wloadctl.cli.parser import build_parser, duration_seconds, merge_globals, network, operation_rule, time_ms
from wloadctl.cli.passwords import PasswordReader
from wloadctl.proto.v1 import approval_pb2, audit_pb2, auth_pb2, jobs_pb2
from wloadctl.security.certs import init_ca

ENV = ("WLOADCTL_SERVER", "WLOADCTL_TOKEN", "WLOADCTL_API_KEY", "WLOADCTL_CA", "WLOADCTL_CONFIG", "WLOADCTL_DEBUG")


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An isolated HOME and XDG_CONFIG_HOME: the user's own config is never read or written."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    yield home


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


# ---- parsing -------------------------------------------------------------------------------

EVERY_NEW_COMMAND = [
    ["login", "--user", "alice"],
    ["login", "--user", "alice", "--password-stdin"],
    ["logout"],
    ["whoami"],
    ["password"],
    ["password", "--user", "bob", "--password-stdin"],
    ["auth", "bootstrap"],
    ["auth", "policy", "get"],
    ["auth", "policy", "set", "--password-min-length", "14", "--password-max-age-days", "90",
     "--max-failed-logins", "5", "--session-ttl-minutes", "60", "--audit-retention-days", "365",
     "--approval", "job.delete@finance", "--approval", "run.kill"],
    ["auth", "policy", "set", "--no-approvals"],
    ["user", "create", "alice", "--role", "business-operator", "--domain", "finance", "--domain", "ops",
     "--password-stdin", "--valid-from", "2026-12-01", "--valid-until", "7d", "--description", "x",
     "--must-change-password"],
    ["user", "create", "cert-only", "--role", "auditor", "--no-password"],
    ["user", "get"],
    ["user", "get", "alice"],
    ["user", "describe", "alice"],
    ["user", "update", "alice", "--deactivate", "--valid-until", "2026-12-31T18:00:00Z"],
    ["user", "update", "alice", "--activate", "--description", "", "--must-change-password"],
    ["user", "lock", "alice"],
    ["user", "unlock", "alice"],
    ["user", "delete", "alice"],
    ["user", "grant", "alice", "--role", "auditor"],
    ["user", "revoke", "alice", "--role", "business-operator", "--domain", "ops"],
    ["role", "create", "watcher", "--permission", "run.read", "--permission", "run.logs", "--description", "d"],
    ["role", "get"],
    ["role", "get", "auditor"],
    ["role", "describe", "auditor"],
    ["role", "delete", "watcher"],
    ["apikey", "create", "--role", "business-operator", "--domain", "finance", "--allow-ip", "10.0.0.0/8",
     "--allow-ip", "192.168.1.7", "--expires", "1d12h", "--description", "batch", "--owner", "alice"],
    ["apikey", "get"],
    ["apikey", "get", "k57"],
    ["apikey", "revoke", "k57"],
    ["approval", "get"],
    ["approval", "get", "--state", "pending"],
    ["approval", "get", "a42"],
    ["approval", "approve", "a42"],
    ["approval", "approve", "a42", "--reason", "checked"],
    ["approval", "reject", "a42", "--reason", "wrong job"],
    ["audit", "get", "--user", "alice", "--since", "24h", "--until", "2026-12-01", "--operation", "job.",
     "--resource", "job/", "--limit", "5"],
    ["audit", "verify"],
    ["audit", "export", "--format", "csv", "-o", "audit.csv"],
    ["audit", "export", "--format", "xlsx", "--output", "audit.xlsx", "--since", "7d"],
    ["diff", "job", "nightly-backup"],
    ["diff", "job", "nightly-backup", "--from", "1", "--to", "3"],
    ["rollback", "job", "nightly-backup", "--to-version", "1"],
]


@pytest.mark.parametrize("argv", EVERY_NEW_COMMAND, ids=lambda a: " ".join(a[:3]))
def test_every_new_command_parses(argv: list[str]) -> None:
    assert callable(parse(*argv).handler)


HELP = [["login"], ["logout"], ["whoami"], ["password"], ["auth"], ["auth", "bootstrap"], ["auth", "policy"],
        ["auth", "policy", "get"], ["auth", "policy", "set"], ["user"],
        *[["user", verb] for verb in ("create", "get", "describe", "update", "lock", "unlock", "delete", "grant",
                                      "revoke")],
        ["role"], *[["role", verb] for verb in ("create", "get", "describe", "delete")],
        ["apikey"], *[["apikey", verb] for verb in ("create", "get", "revoke")],
        ["approval"], *[["approval", verb] for verb in ("get", "approve", "reject")],
        ["audit"], *[["audit", verb] for verb in ("get", "verify", "export")],
        ["diff"], ["diff", "job"], ["rollback"], ["rollback", "job"]]


@pytest.mark.parametrize("argv", HELP, ids=" ".join)
def test_help_exits_zero(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: wloadctl {' '.join(argv)} ")
    assert "\nexample" in out   # every new command shows how it is used


@pytest.mark.parametrize(("argv", "message"), [
    (["approval", "reject", "a42"], "the following arguments are required: --reason"),
    (["approval", "reject", "a42", "--reason", " "], "argument --reason: must not be empty"),
    (["approval", "get", "--state", "done"], "argument --state: invalid choice"),
    (["auth", "policy", "set"], "nothing to change"),
    (["auth", "policy", "set", "--approval", "job.delete", "--no-approvals"], "not allowed with argument"),
    (["auth", "policy", "set", "--approval", "job.delete@"], "must be OPERATION or OPERATION@DOMAIN"),
    (["auth", "policy", "set", "--max-failed-logins", "-1"], "must be at least 0"),
    (["user", "update", "alice"], "nothing to change"),
    (["user", "update", "alice", "--activate", "--deactivate"], "not allowed with argument"),
    (["user", "create", "alice"], "the following arguments are required: --role"),
    (["user", "create", "alice", "--role", "auditor", "--no-password", "--password-stdin"], "not allowed"),
    (["user", "create", "alice", "--role", "auditor", "--valid-until", "tomorrow"], "must be an ISO-8601 UTC time"),
    (["apikey", "create", "--role", "auditor", "--allow-ip", "10.0.0.0/33"], "must be a network like"),
    (["apikey", "create", "--role", "auditor", "--expires", "2w"], "must be a duration like 90s"),
    (["audit", "export", "--format", "pdf", "-o", "x"], "argument --format: invalid choice"),
    (["audit", "export", "--format", "csv"], "the following arguments are required: -o/--output"),
    (["audit", "get", "--limit", "0"], "must be at least 1"),
    (["rollback", "job", "x"], "the following arguments are required: --to-version"),
    (["diff", "job", "x", "--from", "0"], "must be at least 1"),
])
def test_usage_errors_exit_two(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--server", "127.0.0.1:1", "--retry-for", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: wloadctl ")
    assert message in err.splitlines()[-1]


def test_credential_options_at_every_level() -> None:
    ctx = merge_globals(parse("--token", "t0", "auth", "--ca", "c1", "policy", "--api-key", "k2", "set",
                              "--token", "t3", "--no-approvals"))
    assert (ctx.token, ctx.api_key, ctx.ca) == ("t3", "k2", "c1")
    ctx = merge_globals(parse("user", "get"))
    assert (ctx.token, ctx.api_key, ctx.ca) == ("", "", "")


def test_audit_export_takes_its_own_o_and_keeps_the_global_one_elsewhere() -> None:
    args = parse("-o", "json", "audit", "export", "--format", "csv", "-o", "out.csv")
    assert args.file == "out.csv"
    assert merge_globals(args).output == "json"
    assert merge_globals(parse("audit", "get", "-o", "yaml")).output == "yaml"


# ---- argument types ------------------------------------------------------------------------

NOW_MS = 1_796_083_200_000  # 2026-12-01T00:00:00Z


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01T00:00:00Z", NOW_MS),
    ("2026-12-01T00:00:00", NOW_MS),           # no zone: UTC, like the tables
    ("2026-12-01", NOW_MS),
    ("2026-12-01T01:00:00+01:00", NOW_MS),
    ("2026-12-01T00:00:00.250Z", NOW_MS + 250),
    ("24h", NOW_MS - 86_400_000),
    ("7d", NOW_MS - 7 * 86_400_000),
    ("1h30m", NOW_MS - 5_400_000),
    ("90s", NOW_MS - 90_000),
])
def test_time_arguments(text: str, expected: int) -> None:
    assert time_ms(text, now_ms=NOW_MS) == expected


def test_time_ago_uses_the_clock() -> None:
    now = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    assert abs(time_ms("1h") - (now - 3_600_000)) < 60_000


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "0s", "-1h", "1w", "12"])
def test_bad_time_arguments(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        time_ms(text, now_ms=NOW_MS)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400),
                                               ("1h30m", 5400), ("1d2h3m4s", 93784)])
def test_durations(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "1w", "30", "m", "1.5h", "h1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration_seconds(text)


def test_networks_and_approval_rules() -> None:
    assert network("10.1.2.3/8") == "10.0.0.0/8"
    assert network("192.168.1.7") == "192.168.1.7/32"
    assert network("::1") == "::1/128"
    assert operation_rule("job.delete@finance") == ("job.delete", "finance")
    assert operation_rule("run.kill") == ("run.kill", "")
    rules = approval_rules([("job.delete", "finance"), ("job.delete", "ops"), ("job.delete", "finance"),
                            ("run.kill", "ops"), ("run.kill", ""), ("cluster.membership", "")])
    assert rules == {"job.delete": ["finance", "ops"], "run.kill": [], "cluster.membership": []}


def test_passwords_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("old secret\nnew  secret \n"))
    reader = PasswordReader(from_stdin=True)
    assert reader.current("x: ") == "old secret"
    assert reader.new("y: ") == "new  secret "   # kept as typed: only the line end goes
    with pytest.raises(ValueError, match="no line left on stdin for the new password"):
        reader.new("z: ")
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    with pytest.raises(ValueError, match="must not be empty"):
        PasswordReader(from_stdin=True).current("x: ")


# ---- where the credential, the CA and the servers come from --------------------------------


def save_config(**fields: object) -> Path:
    return userconfig.save(userconfig.CliConfig(**fields))  # type: ignore[arg-type]


def test_credential_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    admin = tmp_path / "admin.token"
    admin.write_text("wlk.1.admin\n")
    save_config(admin_token_file=str(admin), login_user="alice", login_token="wls.9.alice",
                login_expires_ms=0)
    monkeypatch.setenv("WLOADCTL_API_KEY", "wlk.3.env-key")
    monkeypatch.setenv("WLOADCTL_TOKEN", "wls.2.env-token")

    def resolved(*argv: str) -> tuple[str, str]:
        credential = merge_globals(parse(*argv, "whoami")).credential()
        return credential.token, credential.source

    assert resolved("--token", "wls.5.flag", "--api-key", "wlk.6.flag") == ("wls.5.flag", "--token")
    assert resolved("--api-key", "wlk.6.flag") == ("wlk.6.flag", "--api-key")
    assert resolved() == ("wls.2.env-token", "WLOADCTL_TOKEN")
    monkeypatch.delenv("WLOADCTL_TOKEN")
    assert resolved() == ("wlk.3.env-key", "WLOADCTL_API_KEY")
    monkeypatch.delenv("WLOADCTL_API_KEY")
    assert resolved() == ("wls.9.alice", "login (alice)")
    # An expired login is passed over: the local cluster's admin credential is next.
    save_config(admin_token_file=str(admin), login_user="alice", login_token="wls.9.alice", login_expires_ms=1)
    assert resolved() == ("wlk.1.admin", f"the local cluster's admin credential ({admin})")
    admin.unlink()
    assert resolved() == ("", "")


def test_ca_order_and_servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    init_ca(tmp_path / "flag")
    ca_file = tmp_path / "flag" / "ca.crt"
    env_dir = tmp_path / "env"
    init_ca(env_dir)
    config_dir = tmp_path / "config"
    init_ca(config_dir)
    save_config(servers=["10.0.0.1:18581", "10.0.0.2:18581"], ca=str(config_dir / "ca.crt"))
    monkeypatch.setenv("WLOADCTL_CA", str(env_dir / "ca.crt"))
    pem = merge_globals(parse("--ca", str(ca_file), "whoami")).ca_pem()
    assert pem == ca_file.read_bytes()
    assert merge_globals(parse("whoami")).ca_pem() == (env_dir / "ca.crt").read_bytes()
    monkeypatch.delenv("WLOADCTL_CA")
    ctx = merge_globals(parse("whoami"))
    assert ctx.ca_pem() == (config_dir / "ca.crt").read_bytes()
    # Servers: --server, WLOADCTL_SERVER, the config, the defaults.
    assert ctx.server_list() == ["10.0.0.1:18581", "10.0.0.2:18581"]
    assert merge_globals(parse("--server", "h:1,h:2", "whoami")).server_list() == ["h:1", "h:2"]
    monkeypatch.setenv("WLOADCTL_SERVER", "e:1")
    assert merge_globals(parse("whoami")).server_list() == ["e:1"]
    # "" in the config: plaintext (a cluster run with --insecure).
    save_config(ca="")
    monkeypatch.delenv("WLOADCTL_SERVER")
    ctx = merge_globals(parse("whoami"))
    assert ctx.ca_pem() is None
    assert ctx.server_list() == ["127.0.0.1:18581", "127.0.0.1:18582", "127.0.0.1:18583"]


@pytest.mark.parametrize("how", ["missing", "not-pem"])
def test_unusable_ca_file_is_one_error_line(how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ca.crt"
    if how == "not-pem":
        path.write_text("hello\n")
    code = main(["--ca", str(path), "get", "jobs", "--server", "127.0.0.1:1", "--retry-for", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    expected = "No such file or directory" if how == "missing" else "is not a PEM certificate"
    assert lines[0].startswith(f"error: cannot read the CA certificate {path} (from --ca)") or \
        lines[0] == f"error: the CA certificate {path} (from --ca) {expected}"
    assert expected in lines[0]


def test_broken_cli_config_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = userconfig.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("[cluster\n")
    code = main(["get", "jobs", "--retry-for", "0"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: ") and str(path) in err[0]


# ---- status messages -----------------------------------------------------------------------


def test_auth_error_messages() -> None:
    from wloadctl.cli.context import status_message

    assert status_message(grpc.StatusCode.UNAUTHENTICATED, "invalid credentials") == (
        "not authenticated: invalid credentials (log in with wloadctl login, or pass --token/--api-key)")
    denied = "permission denied: job.read in domain 'finance' is needed (you have it in: ops)"
    assert status_message(grpc.StatusCode.PERMISSION_DENIED, denied) == denied
    assert status_message(grpc.StatusCode.PERMISSION_DENIED, "replicas only") == "permission denied: replicas only"


# ---- rendering -----------------------------------------------------------------------------


def sample_user() -> auth_pb2.User:
    return auth_pb2.User(
        name="alice", password_hash="scrypt$32768$8$1$c2FsdA==$aGFzaA==", active=True, locked=True,
        locked_reason="3 failed logins", failed_logins=3,
        bindings=[auth_pb2.Binding(role="business-operator", domains=["finance", "ops"]),
                  auth_pb2.Binding(role="auditor")],
        valid_until_ms=NOW_MS, last_login_ms=NOW_MS - 3_600_000, created_ms=NOW_MS - 86_400_000, created_by="k1",
        password_changed_ms=NOW_MS - 86_400_000, version=4)


def test_users_table_and_describe() -> None:
    table = render.users_table([sample_user(), auth_pb2.User(name="bob", active=False)])
    assert table.splitlines() == [
        "USER    ACTIVE   LOCKED   ROLES                                   VALID-UNTIL            LAST-LOGIN",
        "alice   yes      yes      business-operator@finance,ops auditor   2026-12-01T00:00:00Z   2026-11-30T23:00:00Z",
        "bob     no       no       -                                       -                      -",
    ]
    text = render.describe_user(sample_user())
    assert "Locked:        yes (3 failed logins)\n" in text
    assert "Roles:         business-operator in domains finance, ops\n               auditor in every domain\n" \
        in text
    assert "scrypt" not in text


def test_roles_table_puts_builtin_roles_first() -> None:
    from wloadctl.security.permissions import BUILTIN_ROLES

    admin = BUILTIN_ROLES["admin"]
    roles = [auth_pb2.Role(name="watcher", permissions=["run.read", "run.logs"]),
             auth_pb2.Role(name="admin", builtin=True, permissions=sorted(p.value for p in admin.permissions)),
             auth_pb2.Role(name="auditor", builtin=True, permissions=["job.read"])]
    assert render.roles_table(roles).splitlines() == [
        "NAME      BUILTIN   PERMISSIONS",
        f"admin     yes       all ({len(admin.permissions)})",
        "auditor   yes       job.read",
        "watcher   no        run.read, run.logs",
    ]
    text = render.describe_role(roles[0])
    assert text.splitlines()[-2:] == ["Permissions: run.read", "             run.logs"]


def test_keys_approvals_and_audit_tables() -> None:
    key = auth_pb2.ApiKey(id="k57", owner="alice", bindings=[auth_pb2.Binding(role="auditor")],
                          allowed_networks=["10.0.0.0/8"], expires_ms=NOW_MS, description="batch\ttrigger",
                          secret_hash=b"\x01" * 32)
    assert render.api_keys_table([key]).splitlines()[1].split() == \
        ["k57", "alice", "auditor", "10.0.0.0/8", "2026-12-01T00:00:00Z", "no", "batch", "trigger"]
    approval = approval_pb2.Approval(id="a42", operation="job.delete", domain="finance", state="pending",
                                     summary="delete job nightly-settlement", requested_ms=NOW_MS,
                                     requested_by=auth_pb2.Actor(kind="user", name="alice"))
    assert render.approvals_table([approval]).splitlines()[1].split() == \
        ["a42", "pending", "job.delete", "finance", "user/alice", "2026-12-01T00:00:00Z", "delete", "job",
         "nightly-settlement"]
    denied = audit_pb2.AuditRecord(seq=7, time_ms=NOW_MS, operation="job.read",
                                   actor=auth_pb2.Actor(kind="user", name="bob", source="127.0.0.1:5000"),
                                   result_code=grpc.StatusCode.PERMISSION_DENIED.value[0],
                                   result="permission denied: job.read in domain 'finance' is needed",
                                   resources=["job/report"])
    header, row = render.audit_table([denied]).splitlines()
    assert header.split() == ["SEQ", "TIME", "OPERATOR", "SOURCE", "OPERATION", "RESULT", "RESOURCES"]
    assert row.split()[:6] == ["7", "2026-12-01T00:00:00Z", "user/bob", "127.0.0.1:5000", "job.read",
                               "PERMISSION_DENIED:"]
    assert row.endswith("…   job/report")   # a long result is cut to keep the table readable


def test_whoami_and_policy_texts() -> None:
    answer = auth_pb2.WhoAmIResponse(kind="user", name="bob", method="session", expires_ms=NOW_MS,
                                     bindings=[auth_pb2.Binding(role="business-operator", domains=["ops"])],
                                     permissions=["job.read@ops", "run.read@ops"])
    assert render.whoami(answer, "login (bob)").splitlines() == [
        "kind:        user",
        "name:        bob",
        "method:      session",
        "credential:  login (bob)",
        "expires:     2026-12-01T00:00:00Z",
        "bindings:    business-operator@ops",
        "permissions: job.read@ops",
        "             run.read@ops",
    ]
    policy = auth_pb2.SecurityPolicy(password_min_length=12, password_require_digit=True, max_failed_logins=3,
                                     session_ttl_minutes=480,
                                     approvals=[auth_pb2.ApprovalRule(operation="job.delete", domains=["finance"]),
                                                auth_pb2.ApprovalRule(operation="run.kill")])
    text = render.policy(policy)
    assert "password max age:    never expires\n" in text
    assert "approvals:           job.delete@finance\n                     run.kill\n" in text


def test_source_ip() -> None:
    assert render.source_ip("127.0.0.1:51234") == "127.0.0.1"
    assert render.source_ip("[::1]:51234") == "::1"
    assert render.source_ip("") == ""


def test_json_output_never_holds_hashes_but_every_field() -> None:
    users = output.message_to_dict(auth_pb2.ListUsersResponse(users=[sample_user()]))
    assert users["users"][0]["password_hash"] == ""
    assert set(users["users"][0]) == {f.name for f in auth_pb2.User.DESCRIPTOR.fields}
    created = output.message_to_dict(auth_pb2.CreateApiKeyResponse(
        key=auth_pb2.ApiKey(id="k57", secret_hash=b"\x02" * 32), token="wlk.57.secret"))
    assert created["key"]["secret_hash"] == "" and created["token"] == "wlk.57.secret"
    approval = output.message_to_dict(approval_pb2.Approval(id="a1", command=b"\x0a\x03abc"))
    assert approval["command"] == ""
    assert "scrypt" not in json.dumps(users)


# ---- audit export --------------------------------------------------------------------------


def records() -> list[audit_pb2.AuditRecord]:
    return [
        audit_pb2.AuditRecord(
            seq=1, time_ms=NOW_MS + 5, operation="job.apply", content='{"jobs": ["report"]}', result="ok",
            actor=auth_pb2.Actor(kind="user", name="alice", source="10.1.2.3:40000"), resources=["job/report"],
            before="", after='{"name": "report"}', raft_index=9, hash=bytes(range(32))),
        audit_pb2.AuditRecord(
            seq=2, time_ms=NOW_MS + 1000, operation="job.delete", content="=HYPERLINK(\"http://x\")",
            result_code=grpc.StatusCode.PERMISSION_DENIED.value[0], result="permission denied: job.delete",
            actor=auth_pb2.Actor(kind="apikey", name="k57", source="[::1]:5", via="r2"),
            resources=["job/report", "run/r3"], approved_by="bob", hash=b"\xff" * 32),
    ]


def test_csv_export_has_the_six_elements_first(tmp_path: Path) -> None:
    path = tmp_path / "audit.csv"
    assert auditexport.write_export(records(), "csv", path) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    assert rows[0] == ["operator", "time", "source IP", "operation content", "result", "associated resources",
                       "seq", "operation", "before", "after", "approved by", "hash"]
    assert rows[1] == ["user/alice", "2026-12-01T00:00:00.005Z", "10.1.2.3", '{"jobs": ["report"]}', "ok",
                       "job/report", "1", "job.apply", "", '{"name": "report"}', "", bytes(range(32)).hex()]
    # A cell a spreadsheet would run as a formula is kept as text.
    assert rows[2][:6] == ["apikey/k57 (via r2)", "2026-12-01T00:00:01.000Z", "::1", "'=HYPERLINK(\"http://x\")",
                           "PERMISSION_DENIED: permission denied: job.delete", "job/report run/r3"]
    assert rows[2][10:] == ["bob", "ff" * 32]


def test_xlsx_export_opens_with_openpyxl(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "exports" / "audit.xlsx"
    path.parent.mkdir()
    path.write_text("an older export, readable by anyone")
    path.chmod(0o644)
    auditexport.write_export(records(), "xlsx", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sheet = load_workbook(path).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == list(auditexport.COLUMNS)
    assert values[1][:7] == ["user/alice", "2026-12-01T00:00:00.005Z", "10.1.2.3", '{"jobs": ["report"]}', "ok",
                             "job/report", 1]
    assert values[2][3] == "=HYPERLINK(\"http://x\")"   # unchanged, and a string: never run as a formula
    assert sheet.cell(row=3, column=4).data_type == "s"
    assert [p.name for p in path.parent.iterdir()] == ["audit.xlsx"]   # no temporary file left


def test_empty_export_has_the_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    assert auditexport.write_export([], "csv", path) == 0
    assert list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))) == [list(auditexport.COLUMNS)]


# ---- diff ----------------------------------------------------------------------------------


def test_job_diff_compares_the_exported_yaml() -> None:
    spec = jobs_pb2.JobSpec(name="nightly-backup", domain="ops", command=jobs_pb2.JobCommand(
        argv=jobs_pb2.ArgvCommand(args=["/bin/echo", "backup", "--full"])), timeout_seconds=5400)
    older = jobs_pb2.JobVersion(spec=spec, version=1)
    changed = jobs_pb2.JobSpec()
    changed.CopyFrom(spec)
    changed.command.argv.args[2] = "--incremental"
    newer = jobs_pb2.JobVersion(spec=changed, version=2)
    text = job_diff("nightly-backup", older, newer)
    assert text.splitlines()[:2] == ["--- job/nightly-backup version 1", "+++ job/nightly-backup version 2"]
    assert "-  - --full" in text.splitlines() and "+  - --incremental" in text.splitlines()
    assert job_diff("nightly-backup", older, older) == ""


# ---- wloadctl up: the CLI config -----------------------------------------------------------


def test_up_writes_the_cli_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    servers = ["127.0.0.1:18581", "127.0.0.1:18582", "127.0.0.1:18583"]
    ca, token = str(tmp_path / "certs" / "ca.crt"), str(tmp_path / "admin.token")
    path = up_module.write_cli_config(servers, ca, token)
    assert path == str(userconfig.config_path())
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    doc = tomllib.loads(Path(path).read_text())
    assert doc == {"cluster": {"servers": servers, "ca": ca, "admin_token_file": token}}
    # A login made on this cluster stays when `up` runs again with the same data dir...
    config = userconfig.load()
    config.login_user, config.login_token, config.login_expires_ms = "alice", "wls.5.x", 0
    userconfig.save(config)
    up_module.write_cli_config(servers, ca, token)
    assert userconfig.load().login_token == "wls.5.x"
    # ...and goes when it points the CLI at another cluster.
    up_module.write_cli_config(servers, "", str(tmp_path / "other" / "admin.token"))
    again = userconfig.load()
    assert (again.login_token, again.ca) == ("", "")


def test_up_leaves_a_broken_cli_config_alone(capsys: pytest.CaptureFixture[str]) -> None:
    path = userconfig.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("not toml [\n")
    assert up_module.write_cli_config(["127.0.0.1:1"], "", "") is None
    assert path.read_text() == "not toml [\n"
    assert capsys.readouterr().err.startswith(f"warning: the CLI config {path} is not updated: ")


def test_admin_token_file_is_private(tmp_path: Path) -> None:
    target = tmp_path / "admin.token"
    up_module._write_private(str(target), "wlk.3.secret\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert up_module._read_token(str(target)) == "wlk.3.secret"
    assert up_module._read_token(str(tmp_path / "missing")) == ""

"""The checks a replica or agent runs at start: secret file mode, [tls] files, directories, ports.

Each failure is a ConfigError (exit code 2) whose message starts with the setting's name; the
processes themselves are exercised in tests/integration/test_startup_errors.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from wloadctl.config import (
    ConfigError,
    ensure_dir,
    ensure_secret,
    load_config,
    parse_agent_config,
    parse_config,
    read_toml,
)
from wloadctl.security import certs
from wloadctl.security.certs import CertError, CertPaths
from wloadctl.server.listen import check_listen_addresses
from wloadctl.testing.cluster import LocalCluster, free_ports

BASE = {"node_id": "r1", "raft_address": "127.0.0.1:18681", "api_address": "127.0.0.1:18581", "data_dir": "d"}
AGENT = {"agent_id": "a1", "replicas": ["127.0.0.1:18781"], "work_dir": "w"}
SECRET = "0123456789abcdef" * 4


def _secret(tmp_path: Path, mode: int, text: str = SECRET + "\n") -> Path:
    path = tmp_path / "cluster.secret"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("mode", "what"), [(0o644, "readable"), (0o640, "readable"), (0o604, "readable"),
                                            (0o660, "readable"), (0o620, "writable"), (0o602, "writable")],
                         ids=lambda v: f"{v:04o}" if isinstance(v, int) else v)
def test_a_secret_other_users_can_read_or_write_is_refused(tmp_path: Path, mode: int, what: str) -> None:
    path = _secret(tmp_path, mode)
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "secret_file": str(path)}).read_secret()
    assert str(err.value) == (f"secret_file: {path} is {what} by other users (mode {mode:04o}); "
                              f"run chmod 600 {path}")


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700], ids=lambda v: f"{v:04o}")
def test_a_secret_only_its_owner_can_read_is_accepted(tmp_path: Path, mode: int) -> None:
    assert parse_config({**BASE, "secret_file": str(_secret(tmp_path, mode))}).read_secret() == SECRET


def test_secrets_made_by_up_and_by_the_test_cluster_are_accepted(tmp_path: Path) -> None:
    made = tmp_path / "up.secret"
    assert ensure_secret(str(made))
    assert parse_config({**BASE, "secret_file": str(made)}).read_secret()
    cluster = LocalCluster(tmp_path / "cluster", size=1)   # writes configs; starts nothing
    assert load_config(cluster.replicas[0].config_path).read_secret() == cluster.secret


def test_a_secret_that_is_not_a_text_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^secret_file: .* is a directory$"):
        parse_config({**BASE, "secret_file": str(tmp_path)}).read_secret()
    path = tmp_path / "binary"
    path.write_bytes(b"\xff" * 64)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"^secret_file: .* is not text"):
        parse_config({**BASE, "secret_file": str(path)}).read_secret()
    with pytest.raises(ConfigError, match=r"^secret_file: cannot read .*: No such file or directory$"):
        parse_config({**BASE, "secret_file": str(tmp_path / "missing")}).read_secret()


def test_a_config_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r1.toml"
    path.write_bytes(b"node_id = '\xc3'\n")
    with pytest.raises(ConfigError, match=rf"^{path}: invalid TOML: not UTF-8 text"):
        read_toml(path)


@pytest.mark.parametrize("value", [1, "", ["a"]])
def test_tls_paths_must_be_strings(value: object) -> None:
    tls = {"ca": "ca.crt", "cert": value, "key": "k.key"}
    with pytest.raises(ConfigError, match=r"^tls\.cert: must be a path$"):
        parse_config({**BASE, "tls": tls})
    with pytest.raises(ConfigError, match=r"^tls\.cert: must be a path$"):
        parse_agent_config({**AGENT, "tls": tls})


def test_an_agent_log_level_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"^log\.level: "):
        parse_agent_config({**AGENT, "log": {"level": "loud"}})
    assert parse_agent_config({**AGENT, "log": {"level": "WARNING"}}).log_level == "warning"


def test_ensure_dir(tmp_path: Path) -> None:
    made = tmp_path / "a" / "b"
    ensure_dir(made, "data_dir", mode=0o700)
    assert made.is_dir() and made.stat().st_mode & 0o777 == 0o700
    ensure_dir(made, "data_dir", mode=0o700)   # an existing directory is fine
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match=rf"^data_dir: {a_file} is not a directory$"):
        ensure_dir(a_file, "data_dir")
    with pytest.raises(ConfigError, match=rf"^work_dir: cannot create {a_file / 'sub'}: Not a directory$"):
        ensure_dir(a_file / "sub", "work_dir")


# ---- [tls] files named by their setting -------------------------------------------------------


@pytest.fixture
def issued(tmp_path: Path) -> tuple[CertPaths, CertPaths]:
    certs.init_ca(tmp_path)
    return certs.issue(tmp_path, "replica", "r1"), certs.issue(tmp_path, "agent", "a1")


def test_load_with_a_table_names_the_setting(tmp_path: Path, issued: tuple[CertPaths, CertPaths]) -> None:
    r1, a1 = issued
    missing = tmp_path / "missing.pem"
    cases = [
        (CertPaths(cert=missing, key=r1.key, ca=r1.ca), f"tls.cert: {missing} not found"),
        (CertPaths(cert=r1.cert, key=missing, ca=r1.ca), f"tls.key: {missing} not found"),
        (CertPaths(cert=r1.cert, key=r1.key, ca=missing), f"tls.ca: {missing} not found"),
        (CertPaths(cert=tmp_path, key=r1.key, ca=r1.ca), f"tls.cert: {tmp_path} is a directory"),
        (CertPaths(cert=r1.cert, key=a1.key, ca=r1.ca), f"tls.key: {a1.key} is not the private key of {r1.cert}"),
    ]
    for paths, message in cases:
        with pytest.raises(CertError) as err:
            certs.load(paths, table="tls")
        assert str(err.value) == message
    # The same file as cert and key: the message names the setting that is wrong.
    with pytest.raises(CertError, match=rf"^tls\.key: {r1.cert}: not an unencrypted PEM private key \("):
        certs.load(CertPaths(cert=r1.cert, key=r1.cert, ca=r1.ca), table="tls")
    with pytest.raises(CertError, match=rf"^tls\.ca: {r1.key}: not a PEM certificate \("):
        certs.load(CertPaths(cert=r1.cert, key=r1.key, ca=r1.key), table="tls")
    # Without a table, messages are as before (wloadctl certs, clients).
    with pytest.raises(CertError, match=rf"^certificate {missing} not found$"):
        certs.load(CertPaths(cert=missing, key=r1.key, ca=r1.ca))


# ---- ports ---------------------------------------------------------------------------------


def test_listen_addresses_must_be_free_and_distinct() -> None:
    a, b = free_ports(2)
    check_listen_addresses([("api_address", f"127.0.0.1:{a}"), ("agent_address", f"127.0.0.1:{b}")])
    overlapping = [
        (f"127.0.0.1:{a}", f"127.0.0.1:{a}"),
        (f"0.0.0.0:{a}", f"127.0.0.1:{a}"),
        (f"127.0.0.1:{a}", f"0.0.0.0:{a}"),
        (f"localhost:{a}", f"127.0.0.1:{a}"),
    ]
    for first, second in overlapping:
        with pytest.raises(ConfigError) as err:
            check_listen_addresses([("api_address", first), ("metrics_address", second)])
        assert str(err.value) == f"metrics_address: {second} uses the same port as api_address ({first})"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", a))
        taken.listen()
        with pytest.raises(ConfigError) as err:
            check_listen_addresses([("raft_address", f"127.0.0.1:{a}")])
    assert str(err.value) == f"raft_address: cannot listen on 127.0.0.1:{a} (address already in use)"
    with pytest.raises(ConfigError, match=r"^api_address: cannot listen on no-such-host\.invalid:1 \(cannot resolve"):
        check_listen_addresses([("api_address", "no-such-host.invalid:1")])

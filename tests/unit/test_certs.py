"""Certificates for mutual TLS (wloadctl/security/certs.py) and `wloadctl certs`.

The handshake tests run real gRPC servers on loopback with real TLS: no mocks.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import stat
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wloadctl.cli import certs as certs_cli
from wloadctl.cli import parser as cli_parser
from wloadctl.security import certs
from wloadctl.security.certs import CertError, CertPaths
from wloadctl.testing.certs import sign_cert

pytestmark = pytest.mark.timeout(60)

SERVICE = "wloadctl.test.Who"
METHOD = f"/{SERVICE}/Am"
RPC_TIMEOUT = 5.0


# ---- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    certs.init_ca(directory)
    return directory


@pytest.fixture
def other_ca_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "other-pki"
    certs.init_ca(directory, common_name="someone else's CA")
    return directory


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def _eku(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _who_am_i(request: bytes, context: grpc.ServicerContext) -> bytes:
    identity = certs.peer_identity(context)
    return json.dumps(identity).encode()


def _handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE, {"Am": grpc.unary_unary_rpc_method_handler(_who_am_i)}
    )


@pytest.fixture
def serve() -> Iterator[Callable[..., int]]:
    """Start a sync gRPC server with `server_credentials(paths)` (insecure when None); returns its port."""
    servers: list[grpc.Server] = []

    def start(paths: CertPaths | None, require_client_auth: bool = True) -> int:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        server.add_generic_rpc_handlers([_handler()])
        if paths is None:
            port = server.add_insecure_port("127.0.0.1:0")
        else:
            port = server.add_secure_port("127.0.0.1:0", certs.server_credentials(paths, require_client_auth))
        assert port
        server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop(None)


def _call(target: str, credentials: grpc.ChannelCredentials | None, options: tuple = ()) -> object:
    """The identity the server saw, as decoded JSON (a [kind, name] list or None)."""
    channel = (grpc.secure_channel(target, credentials, options=options) if credentials is not None
               else grpc.insecure_channel(target, options=options))
    with channel:
        reply = channel.unary_unary(METHOD)(b"", timeout=RPC_TIMEOUT)
    return json.loads(reply)


def _refused(target: str, credentials: grpc.ChannelCredentials, options: tuple = ()) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        _call(target, credentials, options)
    return caught.value.code()


def _expired_cert(ca_dir: Path, out_dir: Path, kind: str, name: str) -> CertPaths:
    """A certificate signed by the real CA whose validity ended yesterday."""
    return sign_cert(ca_dir, out_dir, kind, name, valid_days=(-30, -1))


# ---- init ----------------------------------------------------------------------------------


def test_init_ca_creates_a_p256_ca_with_a_private_key_file(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "pki"
    paths = certs.init_ca(directory, days=30)
    assert paths == CertPaths(cert=directory / "ca.crt", key=directory / "ca.key", ca=directory / "ca.crt")
    assert _mode(paths.key) == 0o600
    assert _mode(directory) == 0o700

    cert = _cert(paths.cert)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "wloadctl cluster CA"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    cert.verify_directly_issued_by(cert)
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=30)

    key = serialization.load_pem_private_key(paths.key.read_bytes(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_init_ca_refuses_to_replace_a_ca_unless_forced(ca_dir: Path) -> None:
    before = (ca_dir / "ca.crt").read_bytes(), (ca_dir / "ca.key").read_bytes()
    with pytest.raises(CertError, match=r"already exists.*--force"):
        certs.init_ca(ca_dir)
    assert ((ca_dir / "ca.crt").read_bytes(), (ca_dir / "ca.key").read_bytes()) == before

    (ca_dir / "ca.crt").unlink()  # half a CA still counts: the key must not be overwritten silently
    with pytest.raises(CertError, match="already exists"):
        certs.init_ca(ca_dir)

    certs.init_ca(ca_dir, force=True)
    assert (ca_dir / "ca.key").read_bytes() != before[1]
    assert _mode(ca_dir / "ca.key") == 0o600


# ---- issue ---------------------------------------------------------------------------------


def test_issue_replica_has_identity_hosts_and_both_usages(ca_dir: Path) -> None:
    paths = certs.issue(ca_dir, "replica", "r1", hosts=["r1.example.com", "10.0.0.1", "::1", "R1.example.com."])
    assert paths == CertPaths(cert=ca_dir / "replica-r1.crt", key=ca_dir / "replica-r1.key", ca=ca_dir / "ca.crt")
    assert _mode(paths.key) == 0o600

    cert = _cert(paths.cert)
    cert.verify_directly_issued_by(_cert(ca_dir / "ca.crt"))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "r1"
    sans = _sans(cert)
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == ["wloadctl://replica/r1"]
    assert sans.get_values_for_type(x509.DNSName) == ["r1.example.com", "localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.1", "::1", "127.0.0.1"]
    assert _eku(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize(
    ("kind", "usages"),
    [
        ("agent", {ExtendedKeyUsageOID.CLIENT_AUTH}),  # agents only dial: their certificates cannot serve
        ("client", {ExtendedKeyUsageOID.CLIENT_AUTH}),
    ],
)
def test_issue_agent_and_client(ca_dir: Path, kind: str, usages: set) -> None:
    paths = certs.issue(ca_dir, kind, "a-1.x_y", days=10)
    assert paths.cert == ca_dir / f"{kind}-a-1.x_y.crt"
    assert _mode(paths.key) == 0o600
    cert = _cert(paths.cert)
    assert _eku(cert) == usages
    # No localhost for agents and clients: only replicas serve by default.
    assert _sans(cert).get_values_for_type(x509.UniformResourceIdentifier) == [f"wloadctl://{kind}/a-1.x_y"]
    assert _sans(cert).get_values_for_type(x509.DNSName) == []
    assert certs.load(paths)[0] == paths.cert.read_bytes()


def test_reissue_replaces_the_files(ca_dir: Path) -> None:
    first = certs.issue(ca_dir, "agent", "a1")
    old = first.cert.read_bytes(), first.key.read_bytes()
    second = certs.issue(ca_dir, "agent", "a1")
    assert second == first
    assert (second.cert.read_bytes(), second.key.read_bytes()) != old
    assert _mode(second.key) == 0o600
    assert sorted(p.name for p in ca_dir.iterdir()) == ["agent-a1.crt", "agent-a1.key", "ca.crt", "ca.key"]


@pytest.mark.parametrize("name", ["", "a/b", "../etc", "a b", "x" * 65, "tab\t", "new\nline", "é", "a:b"])
def test_issue_rejects_bad_names(ca_dir: Path, name: str) -> None:
    with pytest.raises(CertError, match="invalid name"):
        certs.issue(ca_dir, "agent", name)
    assert sorted(p.name for p in ca_dir.iterdir()) == ["ca.crt", "ca.key"]


def test_issue_rejects_bad_kind_host_and_days(ca_dir: Path) -> None:
    with pytest.raises(CertError, match="unknown certificate kind"):
        certs.issue(ca_dir, "admin", "x")
    with pytest.raises(CertError, match="invalid host"):
        certs.issue(ca_dir, "replica", "r1", hosts=["not a host"])
    with pytest.raises(CertError, match="invalid validity"):
        certs.issue(ca_dir, "replica", "r1", days=-1)


def test_issue_without_a_ca_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CertError, match=r"no CA in .*certs init") as caught:
        certs.issue(tmp_path / "nothing", "agent", "a1")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "nothing").exists()


def test_load_reports_missing_and_mismatched_files(ca_dir: Path) -> None:
    a1 = certs.issue(ca_dir, "agent", "a1")
    a2 = certs.issue(ca_dir, "agent", "a2")
    with pytest.raises(CertError, match="not found"):
        certs.load(CertPaths(cert=ca_dir / "nope.crt", key=a1.key, ca=a1.ca))
    with pytest.raises(CertError, match="is not the private key"):
        certs.load(CertPaths(cert=a1.cert, key=a2.key, ca=a1.ca))
    with pytest.raises(CertError, match="not a PEM certificate"):
        certs.load(CertPaths(cert=a1.key, key=a1.key, ca=a1.ca))
    with pytest.raises(CertError, match="not found"):
        certs.server_credentials(CertPaths(cert=a1.cert, key=a1.key, ca=ca_dir / "missing-ca.crt"))


def test_describe(ca_dir: Path) -> None:
    paths = certs.issue(ca_dir, "replica", "r2", hosts=["10.1.2.3"], days=5)
    info = certs.describe(paths.cert)
    assert info["subject"] == "CN=r2"
    assert info["issuer"] == "CN=wloadctl cluster CA"
    assert (info["kind"], info["name"]) == ("replica", "r2")
    assert info["ip_addresses"] == ["10.1.2.3", "127.0.0.1"]
    assert info["extended_key_usage"] == ["serverAuth", "clientAuth"]
    assert info["valid_now"] is True and info["ca"] is False
    not_after = datetime.datetime.fromisoformat(info["not_after"])
    assert datetime.timedelta(days=4) < not_after - datetime.datetime.now(datetime.UTC) <= datetime.timedelta(days=5)
    expected = _cert(paths.cert).fingerprint(hashes.SHA256()).hex()
    assert info["fingerprint_sha256"].replace(":", "").lower() == expected
    json.dumps(info)

    ca_info = certs.describe(ca_dir / "ca.crt")
    assert ca_info["ca"] is True and ca_info["kind"] is None


# ---- mutual TLS over real gRPC -------------------------------------------------------------


def test_agent_from_the_same_ca_is_identified(ca_dir: Path, serve: Callable[..., int]) -> None:
    port = serve(certs.issue(ca_dir, "replica", "r1"))
    agent = certs.issue(ca_dir, "agent", "a1")
    assert _call(f"127.0.0.1:{port}", certs.channel_credentials(agent)) == ["agent", "a1"]
    assert _call(f"localhost:{port}", certs.channel_credentials(agent)) == ["agent", "a1"]
    client = certs.issue(ca_dir, "client", "alice")
    assert _call(f"127.0.0.1:{port}", certs.channel_credentials(client)) == ["client", "alice"]
    other_replica = certs.issue(ca_dir, "replica", "r2")
    assert _call(f"127.0.0.1:{port}", certs.channel_credentials(other_replica)) == ["replica", "r2"]


def test_client_cert_from_another_ca_is_refused(ca_dir: Path, other_ca_dir: Path, serve: Callable[..., int]) -> None:
    port = serve(certs.issue(ca_dir, "replica", "r1"))
    stranger = certs.issue(other_ca_dir, "agent", "a1")
    # The stranger trusts our CA (so it accepts the server) but its own cert is not ours.
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(ca_dir / "ca.crt").read_bytes(),
        private_key=stranger.key.read_bytes(),
        certificate_chain=stranger.cert.read_bytes(),
    )
    assert _refused(f"127.0.0.1:{port}", credentials) == grpc.StatusCode.UNAVAILABLE


def test_client_without_a_cert_is_refused(ca_dir: Path, serve: Callable[..., int]) -> None:
    port = serve(certs.issue(ca_dir, "replica", "r1"))
    credentials = grpc.ssl_channel_credentials(root_certificates=(ca_dir / "ca.crt").read_bytes())
    assert _refused(f"127.0.0.1:{port}", credentials) == grpc.StatusCode.UNAVAILABLE


def test_client_trusting_another_ca_refuses_the_server(
    ca_dir: Path, other_ca_dir: Path, serve: Callable[..., int]
) -> None:
    port = serve(certs.issue(ca_dir, "replica", "r1"))
    confused = certs.issue(other_ca_dir, "agent", "a1")
    assert _refused(f"127.0.0.1:{port}", certs.channel_credentials(confused)) == grpc.StatusCode.UNAVAILABLE


def test_expired_client_cert_is_refused(ca_dir: Path, tmp_path: Path, serve: Callable[..., int]) -> None:
    port = serve(certs.issue(ca_dir, "replica", "r1"))
    expired = _expired_cert(ca_dir, tmp_path / "expired", "agent", "old")
    assert certs.describe(expired.cert)["valid_now"] is False
    assert _refused(f"127.0.0.1:{port}", certs.channel_credentials(expired)) == grpc.StatusCode.UNAVAILABLE
    # days=0: valid until the moment it was issued.
    zero = certs.issue(ca_dir, "agent", "zero", days=0)
    assert _refused(f"127.0.0.1:{port}", certs.channel_credentials(zero)) == grpc.StatusCode.UNAVAILABLE


def test_expired_server_cert_is_refused(ca_dir: Path, tmp_path: Path, serve: Callable[..., int]) -> None:
    port = serve(_expired_cert(ca_dir, tmp_path / "expired", "replica", "old"))
    agent = certs.issue(ca_dir, "agent", "a1")
    assert _refused(f"127.0.0.1:{port}", certs.channel_credentials(agent)) == grpc.StatusCode.UNAVAILABLE


def test_client_only_cert_cannot_serve(ca_dir: Path, serve: Callable[..., int]) -> None:
    # A client certificate lacks serverAuth: even with a matching name, peers refuse it as a server.
    port = serve(certs.issue(ca_dir, "client", "mallory"))
    agent = certs.issue(ca_dir, "agent", "a1")
    options = (("grpc.ssl_target_name_override", "mallory"),)
    assert _refused(f"127.0.0.1:{port}", certs.channel_credentials(agent), options) == grpc.StatusCode.UNAVAILABLE


def test_agent_cert_cannot_serve(ca_dir: Path, serve: Callable[..., int]) -> None:
    # Agent certificates have no serverAuth: even with the dialled name among their SANs, an agent
    # (or a replica) refuses one as a server, so only replica certificates can pose as a replica.
    port = serve(certs.issue(ca_dir, "agent", "a8", hosts=["127.0.0.1"]))
    agent = certs.issue(ca_dir, "agent", "a1")
    assert _refused(f"127.0.0.1:{port}", certs.channel_credentials(agent)) == grpc.StatusCode.UNAVAILABLE
    assert _call(f"127.0.0.1:{serve(certs.issue(ca_dir, 'replica', 'r1'))}",
                 certs.channel_credentials(agent)) == ["agent", "a1"]


def test_server_name_is_checked_and_can_be_overridden(ca_dir: Path, tmp_path: Path,
                                                      serve: Callable[..., int]) -> None:
    # A server certificate without a 127.0.0.1 SAN (replica certificates from `certs issue` always
    # have one): dialling 127.0.0.1 fails the hostname check...
    port = serve(sign_cert(ca_dir, tmp_path / "named", "replica", "r9", hosts=["sched9.internal"]))
    replica = certs.issue(ca_dir, "replica", "r1")
    assert _refused(f"127.0.0.1:{port}", certs.channel_credentials(replica)) == grpc.StatusCode.UNAVAILABLE
    # ...unless the channel names one of its SANs.
    options = (("grpc.ssl_target_name_override", "sched9.internal"),)
    assert _call(f"127.0.0.1:{port}", certs.channel_credentials(replica), options) == ["replica", "r1"]


def test_no_identity_without_mtls(ca_dir: Path, serve: Callable[..., int]) -> None:
    assert _call(f"127.0.0.1:{serve(None)}", None) is None
    # require_client_auth=False: TLS, but gRPC does not ask for a client certificate.
    port = serve(certs.issue(ca_dir, "replica", "r1"), require_client_auth=False)
    agent = certs.issue(ca_dir, "agent", "a1")
    assert _call(f"127.0.0.1:{port}", certs.channel_credentials(agent)) is None
    server_only = grpc.ssl_channel_credentials(root_certificates=(ca_dir / "ca.crt").read_bytes())
    assert _call(f"127.0.0.1:{port}", server_only) is None


def test_peer_identity_on_an_aio_server(ca_dir: Path) -> None:
    replica = certs.issue(ca_dir, "replica", "r1")
    agent = certs.issue(ca_dir, "agent", "a7")
    seen: list[tuple[str, str] | None] = []

    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(certs.peer_identity(context))
        return b"ok"

    async def scenario() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            SERVICE, {"Am": grpc.unary_unary_rpc_method_handler(who)})])
        port = server.add_secure_port("127.0.0.1:0", certs.server_credentials(replica))
        await server.start()
        try:
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", certs.channel_credentials(agent)) as channel:
                assert await channel.unary_unary(METHOD)(b"", timeout=RPC_TIMEOUT) == b"ok"
        finally:
            await server.stop(None)

    asyncio.run(scenario())
    assert seen == [("agent", "a7")]


# ---- CLI -----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """`wloadctl` with the certs verbs, built the way parser.build_parser() builds its verbs."""
    root = argparse.ArgumentParser(prog="wloadctl", allow_abbrev=False)
    cli_parser.add_globals(root, 0)
    verbs = cli_parser.subparsers(root, "verb", "commands")
    certs_cli.add_certs_parser(verbs)
    return root


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return args.handler(args, cli_parser.merge_globals(args))


def test_cli_init_issue_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = str(tmp_path / "pki")
    assert _run("certs", "init", "--dir", directory, "--days", "100") == 0
    out = capsys.readouterr().out
    fingerprint = certs.describe(Path(directory) / "ca.crt")["fingerprint_sha256"]
    assert f"{directory}/ca.crt" in out and fingerprint in out

    assert _run("certs", "issue", "--kind", "replica", "--name", "r1", "--host", "10.0.0.1,r1.example.com",
                "--host", "r1.internal", "--dir", directory, "--days", "30") == 0
    out = capsys.readouterr().out
    assert f"wrote {directory}/replica-r1.crt" in out and f"wrote {directory}/replica-r1.key" in out
    assert _mode(Path(directory) / "replica-r1.key") == 0o600
    dns = _sans(_cert(Path(directory) / "replica-r1.crt")).get_values_for_type(x509.DNSName)
    assert dns == ["r1.example.com", "r1.internal", "localhost"]

    assert _run("certs", "show", f"{directory}/replica-r1.crt") == 0
    out = capsys.readouterr().out
    assert "CN=r1" in out and "replica/r1" in out and "127.0.0.1" in out

    assert _run("certs", "show", f"{directory}/replica-r1.crt", "-o", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["kind"], shown["name"]) == ("replica", "r1")
    assert shown["ip_addresses"] == ["10.0.0.1", "127.0.0.1"]

    assert _run("-o", "json", "certs", "issue", "--kind", "agent", "--name", "a1", "--dir", directory) == 0
    captured = capsys.readouterr()
    issued = json.loads(captured.out)
    assert issued["cert"] == f"{directory}/agent-a1.crt" and issued["kind"] == "agent"
    # 825 default days > the CA's 100: the certificate stops when the CA does, and the CLI says so.
    assert issued["not_after"] == certs.describe(Path(directory) / "ca.crt")["not_after"]
    assert captured.err.startswith("note: validity shortened to the CA's expiry")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("certs", "init"), "already exists"),
        (("certs", "issue", "--kind", "agent", "--name", "a/b"), "invalid name"),
        (("certs", "issue", "--kind", "agent", "--name", "a1", "--dir", "{tmp}/none"), "no CA in"),
        (("certs", "show", "{tmp}/missing.crt"), "not found"),
        (("certs", "show", "{dir}/ca.key"), "not a PEM certificate"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...], message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    certs.init_ca(Path(certs_cli.DEFAULT_DIR))
    argv = tuple(a.format(tmp=tmp_path, dir=certs_cli.DEFAULT_DIR) for a in argv)
    assert _run(*argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ("certs", "issue", "--kind", "admin", "--name", "x"),
        ("certs", "issue", "--name", "x"),
        ("certs", "init", "--days", "0"),
        ("certs", "show"),
    ],
)
def test_cli_usage_errors_exit_2(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(list(argv))
    assert caught.value.code == 2


def test_cli_init_force_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = str(tmp_path / "pki")
    assert _run("certs", "init", "--dir", directory) == 0
    first = certs.describe(Path(directory) / "ca.crt")["fingerprint_sha256"]
    assert _run("certs", "init", "--dir", directory, "--force") == 0
    assert certs.describe(Path(directory) / "ca.crt")["fingerprint_sha256"] != first

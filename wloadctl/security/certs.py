"""Certificates for mutual TLS between scheduler replicas, execution agents and API clients.

One private cluster CA (``ca.crt`` / ``ca.key``) signs every certificate. A certificate says who
its holder is with a URI subject alternative name ``wloadctl://<kind>/<name>`` (kind is
``replica``, ``agent`` or ``client``); servers read it back with :func:`peer_identity` after
gRPC has verified the chain. Replicas' certificates also carry the DNS names and IP addresses
clients dial, because gRPC checks the server's name against them. See docs/security.md.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wloadctl.fsutil import fsync_dir

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "KINDS",
    "URI_SCHEME",
    "CertError",
    "CertPaths",
    "channel_credentials",
    "describe",
    "fingerprint",
    "init_ca",
    "issue",
    "load",
    "peer_identity",
    "server_credentials",
]

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
KINDS = ("replica", "agent", "client")
URI_SCHEME = "wloadctl"
_T = TypeVar("_T")

# Certificates start this long before they are issued, so that a peer whose clock is a little
# behind the issuing machine's does not reject a brand-new certificate as "not yet valid".
CLOCK_SKEW = datetime.timedelta(minutes=5)

_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DNS_RE = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")  # a wildcard only as the whole first label
_URI_RE = re.compile(rf"{URI_SCHEME}://([a-z]+)/([A-Za-z0-9._-]{{1,64}})")

_EKU = {
    "replica": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    # Agents only dial. Without serverAuth an agent certificate cannot serve: the replica certificates
    # are the only cluster-CA certificates an agent accepts on its replica links (gRPC Python cannot
    # show a client the server's certificate, so the EKU check during the handshake is the kind check).
    "agent": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
}
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
}


class CertError(Exception):
    """A certificate operation failed; the message is one line meant for an operator.

    `detail` is the message without the kind of file, for callers that name the file by its
    setting instead (see `load`).
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path
    ca: Path


# ---- issuing -------------------------------------------------------------------------------


def init_ca(
    directory: Path, common_name: str = "wloadctl cluster CA", days: int = 3650, force: bool = False
) -> CertPaths:
    """Create the cluster CA in `directory` (``ca.crt``, ``ca.key`` mode 0600).

    An existing CA is never replaced unless `force`: every certificate it signed would stop
    being trusted by peers that get the new ``ca.crt``.
    """
    directory = Path(directory)
    _check_days(days)
    if not common_name or not common_name.strip():
        raise CertError("the CA common name must not be empty")
    paths = CertPaths(cert=directory / CA_CERT, key=directory / CA_KEY, ca=directory / CA_CERT)
    if not force:
        existing = [p for p in (paths.cert, paths.key) if p.exists() or p.is_symlink()]
        if existing:
            raise CertError(
                f"a CA already exists in {directory} ({', '.join(p.name for p in existing)}); "
                "use --force to replace it (every certificate it issued stops being trusted)"
            )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _makedirs(directory)
    # Key first: a crash in between leaves a key without a certificate, which `init` reports
    # as an existing CA instead of silently pairing an old certificate with a new key.
    _write_file(paths.key, _key_pem(key), private=True)
    _write_file(paths.cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return paths


def issue(directory: Path, kind: str, name: str, hosts: Sequence[str] = (), days: int = 825) -> CertPaths:
    """Issue a certificate for `kind`/`name`, signed by the CA in `directory`.

    Writes ``<directory>/<kind>-<name>.crt`` and ``.key`` (0600), replacing earlier ones (that is
    how a certificate is renewed). DNS names and IP addresses in `hosts` become SANs; replicas
    always get ``localhost`` and ``127.0.0.1`` as well. The validity ends after `days` days, or
    when the CA expires if that is sooner.
    """
    directory = Path(directory)
    if kind not in KINDS:
        raise CertError(f"unknown certificate kind {kind!r}: must be one of {', '.join(KINDS)}")
    _check_name(name)
    _check_days(days)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(f"{URI_SCHEME}://{kind}/{name}")]
    sans += _host_names(list(hosts) + (["localhost", "127.0.0.1"] if kind == "replica" else []))
    ca_cert, ca_key = _load_ca(directory)

    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    # A certificate cannot be verified after its CA expires, so it never claims to outlive it.
    not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(max(now - CLOCK_SKEW, ca_cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(_EKU[kind]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    paths = CertPaths(
        cert=directory / f"{kind}-{name}.crt", key=directory / f"{kind}-{name}.key", ca=directory / CA_CERT
    )
    _write_file(paths.key, _key_pem(key), private=True)
    _write_file(paths.cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return paths


# ---- using ---------------------------------------------------------------------------------


def load(paths: CertPaths, table: str | None = None) -> tuple[bytes, bytes, bytes]:
    """(cert_pem, key_pem, ca_pem), each checked to be PEM of the right type.

    With `table` (the config table the paths come from, such as ``"tls"``) an error names the
    setting of the file at fault instead of its kind: ``tls.cert: /etc/x/r1.crt not found``.
    """
    def step(setting: str, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except CertError as error:
            if table is None:
                raise
            raise CertError(f"{table}.{setting}: {error.detail}") from None

    cert_pem = step("cert", lambda: _read(paths.cert, "certificate"))
    key_pem = step("key", lambda: _read(paths.key, "private key"))
    ca_pem = step("ca", lambda: _read(paths.ca, "CA certificate"))
    cert = step("cert", lambda: _parse_cert(cert_pem, paths.cert))
    step("ca", lambda: _parse_cert(ca_pem, paths.ca))
    step("key", lambda: _check_key(key_pem, paths, cert))
    return cert_pem, key_pem, ca_pem


def _check_key(key_pem: bytes, paths: CertPaths, cert: x509.Certificate) -> None:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise CertError(f"{paths.key}: not an unencrypted PEM private key ({_first_line(error)})") from None
    if key.public_key().public_bytes(*_SPKI) != cert.public_key().public_bytes(*_SPKI):
        raise CertError(f"{paths.key} is not the private key of {paths.cert}")


def server_credentials(paths: CertPaths, require_client_auth: bool = True,
                       table: str | None = None) -> grpc.ServerCredentials:
    """TLS credentials for a gRPC server (replica API / peer port).

    With `require_client_auth` (the default) every client must present a certificate signed by
    the cluster CA. Without it, gRPC does not ask for a client certificate at all, so
    :func:`peer_identity` is always None and the clients must be authenticated otherwise.
    `table`: as for :func:`load`.
    """
    cert_pem, key_pem, ca_pem = load(paths, table)
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=require_client_auth
    )


def channel_credentials(paths: CertPaths, table: str | None = None) -> grpc.ChannelCredentials:
    """TLS credentials for a gRPC channel: trust only the cluster CA, present our certificate.

    gRPC checks the server's certificate against the address dialled; to dial an address that
    is not among its SANs, add ``("grpc.ssl_target_name_override", "<a SAN>")`` to the
    channel options. `table`: as for :func:`load`.
    """
    cert_pem, key_pem, ca_pem = load(paths, table)
    return grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key_pem, certificate_chain=cert_pem)


def peer_identity(context: grpc.ServicerContext | grpc.aio.ServicerContext) -> tuple[str, str] | None:
    """(kind, name) of the caller's verified certificate, or None when the call is not mTLS.

    gRPC fills the auth context with the client certificate only after verifying it against
    the server's root certificates, so the URI SAN read here can be trusted.
    """
    try:
        auth = context.auth_context() or {}
    except Exception:  # a context without transport security information
        return None
    if b"ssl" not in auth.get("transport_security_type", []):
        return None
    pems = auth.get("x509_pem_cert") or []
    if len(pems) != 1:
        return None
    pem = pems[0].encode("ascii", "replace") if isinstance(pems[0], str) else pems[0]
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    return _identity(cert)


def describe(cert_path: Path) -> dict[str, Any]:
    """The facts an operator checks about a certificate, as a JSON-able dict."""
    cert_path = Path(cert_path)
    cert = _parse_cert(_read(cert_path, "certificate"), cert_path)
    identity = _identity(cert)
    dns: list[str] = []
    ips: list[str] = []
    uris: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        dns = [str(v) for v in san.get_values_for_type(x509.DNSName)]
        ips = [str(v) for v in san.get_values_for_type(x509.IPAddress)]
        uris = [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    try:
        eku = [_EKU_NAMES.get(oid, oid.dotted_string)
               for oid in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        eku = []
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    now = _now()
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    return {
        "file": str(cert_path),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "ca": is_ca,
        "kind": identity[0] if identity else None,
        "name": identity[1] if identity else None,
        "uris": uris,
        "dns_names": dns,
        "ip_addresses": ips,
        "extended_key_usage": eku,
        "serial": format(cert.serial_number, "x"),
        "not_before": _iso(not_before),
        "not_after": _iso(not_after),
        "valid_now": not_before <= now <= not_after,
        "fingerprint_sha256": _fingerprint(cert),
    }


def fingerprint(cert_path: Path) -> str:
    """SHA-256 fingerprint as colon-separated hex, the form `openssl x509 -fingerprint -sha256` prints."""
    cert_path = Path(cert_path)
    return _fingerprint(_parse_cert(_read(cert_path, "certificate"), cert_path))


# ---- helpers -------------------------------------------------------------------------------

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serial() -> int:
    # 159 random bits: positive, at most 20 octets (RFC 5280), unpredictable.
    return secrets.randbits(159) | 1


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _identity(cert: x509.Certificate) -> tuple[str, str] | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    found = []
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        match = _URI_RE.fullmatch(uri)
        if match and match.group(1) in KINDS:
            found.append((match.group(1), match.group(2)))
    # Exactly one identity; a certificate claiming two is not one we issued.
    return found[0] if len(found) == 1 else None


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise CertError(
            f"invalid name {name!r}: use 1-64 characters from letters, digits, '.', '_' and '-'"
        )


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise CertError(f"invalid validity {days!r}: must be a whole number of days, 0 or more")


def _host_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in hosts:
        host = raw.strip()
        if host.startswith("[") and host.endswith("]"):  # [::1]
            host = host[1:-1]
        if not host:
            raise CertError("empty --host value")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            host = host.lower().rstrip(".")
            if len(host) > 253 or not _DNS_RE.fullmatch(host):
                raise CertError(f"invalid host {raw!r}: expected a DNS name or an IP address") from None
            key, general = f"dns:{host}", x509.DNSName(host)
        else:
            key, general = f"ip:{address}", x509.IPAddress(address)
        if key not in seen:
            seen.add(key)
            names.append(general)
    return names


def _load_ca(directory: Path) -> tuple[x509.Certificate, Any]:
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    missing = [p for p in (cert_path, key_path) if not p.exists()]
    if missing:
        raise CertError(
            f"no CA in {directory} ({', '.join(str(p) for p in missing)} missing): "
            f"run `wloadctl certs init --dir {directory}` first"
        )
    cert = _parse_cert(_read(cert_path, "CA certificate"), cert_path)
    try:
        key = serialization.load_pem_private_key(_read(key_path, "CA key"), password=None)
    except (ValueError, TypeError) as error:
        raise CertError(f"{key_path}: not an unencrypted PEM private key ({_first_line(error)})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertError(f"{key_path}: unsupported CA key type {type(key).__name__}")
    if key.public_key().public_bytes(*_SPKI) != cert.public_key().public_bytes(*_SPKI):
        raise CertError(f"{key_path} is not the private key of {cert_path}")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CertError(f"{cert_path} is not a CA certificate")
    if cert.not_valid_after_utc <= _now():
        raise CertError(f"the CA in {directory} expired on {_iso(cert.not_valid_after_utc)}: rotate it")
    return cert, key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8: gRPC cannot read encrypted keys; the file mode protects it.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _parse_cert(pem: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise CertError(f"{path}: not a PEM certificate ({_first_line(error)})") from None


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CertError(f"{what} {path} not found", f"{path} not found") from None
    except IsADirectoryError:
        raise CertError(f"{what} {path} is a directory", f"{path} is a directory") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise CertError(f"cannot read {what} {path}: {reason}", f"cannot read {path}: {reason}") from None


def _makedirs(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise CertError(f"cannot create {directory}: {error.strerror or error}") from None
    if not directory.is_dir():
        raise CertError(f"{directory} is not a directory")


def _write_file(path: Path, data: bytes, private: bool) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    mode = 0o600 if private else 0o644
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # O_EXCL: never follow a symlink planted at the temporary name.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CertError(f"cannot write {path}: {error.strerror or error}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

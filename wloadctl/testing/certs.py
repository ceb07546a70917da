"""Certificates that `wloadctl certs issue` does not make, signed by a real cluster CA (tests only):
expired ones, and ones with the key usages of older releases (agent certificates with serverAuth)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wloadctl.security.certs import CA_CERT, CA_KEY, CertPaths

SERVER_AND_CLIENT = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


def sign_cert(ca_dir: Path, out_dir: Path, kind: str, name: str, *,
              hosts: Sequence[str] = ("localhost", "127.0.0.1"),
              usages: Sequence[x509.ObjectIdentifier] = SERVER_AND_CLIENT,
              valid_days: tuple[float, float] = (-1, 30)) -> CertPaths:
    """A certificate for ``wloadctl://kind/name`` with these host SANs and extended key usages, valid
    from ``valid_days[0]`` to ``valid_days[1]`` days from now, signed by the CA in ``ca_dir``."""
    ca_cert = x509.load_pem_x509_certificate((ca_dir / CA_CERT).read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(f"wloadctl://{kind}/{name}")]
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=valid_days[0]))
        .not_valid_after(now + datetime.timedelta(days=valid_days[1]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(cert=out_dir / f"{kind}-{name}.crt", key=out_dir / f"{kind}-{name}.key", ca=ca_dir / CA_CERT)
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.key.chmod(0o600)
    return paths

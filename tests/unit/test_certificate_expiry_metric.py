"""wloadctl_tls_certificate_expiry_timestamp_seconds: the replica's certificate and its CA, read once
(server/metrics.py, ReplicaCollector.read_tls_certificates; alerts in monitoring/prometheus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from cryptography import x509

from wloadctl.security.certs import init_ca, issue
from wloadctl.server.metrics import ReplicaCollector

NAME = "wloadctl_tls_certificate_expiry_timestamp_seconds"


def collector() -> ReplicaCollector:
    return ReplicaCollector(cast(Any, None), cast(Any, None))


def not_after(path: Path) -> float:
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc.timestamp()


def expiries(c: ReplicaCollector) -> dict[tuple[str, str], float]:
    assert c.tls_expiry is not None
    return {(s.labels["role"], s.labels["subject"]): s.value for s in c.tls_expiry.samples if s.name == NAME}


def test_the_replica_certificate_and_the_ca(tmp_path: Path) -> None:
    init_ca(tmp_path, days=100)
    paths = issue(tmp_path, "replica", "r1", ["127.0.0.1"], days=30)
    c = collector()
    assert c.tls_expiry is None  # nothing exported without TLS
    c.read_tls_certificates(paths.cert, paths.ca)
    assert expiries(c) == {("replica", "CN=r1"): not_after(paths.cert),
                           ("ca", "CN=wloadctl cluster CA"): not_after(paths.ca)}


def test_a_ca_bundle_gives_the_soonest_expiry_per_subject(tmp_path: Path) -> None:
    old, new = init_ca(tmp_path / "old", days=20), init_ca(tmp_path / "new", days=3000)
    bundle = tmp_path / "bundle.crt"
    bundle.write_bytes(new.ca.read_bytes() + old.ca.read_bytes())
    c = collector()
    c.read_tls_certificates(tmp_path / "missing.crt", bundle)
    assert expiries(c) == {("ca", "CN=wloadctl cluster CA"): not_after(old.ca)}


def test_unreadable_files_export_nothing_and_do_not_raise(tmp_path: Path) -> None:
    (tmp_path / "garbage.crt").write_text("not a certificate")
    c = collector()
    c.read_tls_certificates(tmp_path / "garbage.crt", tmp_path / "missing.crt")
    assert expiries(c) == {}

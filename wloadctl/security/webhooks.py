"""HMAC-signed webhook requests.

A webhook sender that should not hold a bearer credential in every request (a storage system, a
SaaS hook) signs the body instead, with a signing key tied to one API key: the key's roles,
domains, expiry, networks and revocation apply. The signing key is derived from the cluster secret,
the key's id and its stored hash, so every replica can check a signature and nothing more is stored;
it is shown once, when the API key is created.

Signature: ``X-Wloadctl-Signature: sha256=HEX`` where HEX is HMAC-SHA256(signing key,
``TIMESTAMP + "." + body``), with ``X-Wloadctl-Timestamp: TIMESTAMP`` (Unix seconds) and
``X-Wloadctl-Key-Id: ID``. A timestamp more than ``MAX_SKEW_S`` from the replica's clock is refused.
"""

from __future__ import annotations

import hashlib
import hmac

MAX_SKEW_S = 300
SIGNATURE_PREFIX = "sha256="
_LABEL = b"wloadctl webhook signing key v1"


def signing_key(cluster_secret: bytes, key_id: str, secret_hash: bytes) -> str:
    """The hex signing key of API key ``key_id`` (the same on every replica)."""
    message = _LABEL + b"\0" + key_id.encode() + b"\0" + secret_hash
    return hmac.new(cluster_secret, message, hashlib.sha256).hexdigest()


def sign(key_hex: str, timestamp: int, body: bytes) -> str:
    """The ``X-Wloadctl-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(key_hex.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + mac


def verify(key_hex: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(key_hex, timestamp, body).encode(), signature.strip().encode())


def fresh(timestamp: int, now_s: float) -> bool:
    return abs(now_s - timestamp) <= MAX_SKEW_S

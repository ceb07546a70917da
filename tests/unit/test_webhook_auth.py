"""Signed webhooks: the signature rules (security/webhooks.py) and the assertion a replica hands its
own API after checking one (api/authn.py), on a real Store changed through apply."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.unit.test_authenticator import World
from wloadctl.api.authn import AuthError, sign_source
from wloadctl.api.headers import WEBHOOK_HEADER
from wloadctl.proto.v1 import auth_pb2
from wloadctl.security import webhooks
from wloadctl.security.tokens import parse_token

SECRET = b"s" * 32


def test_signature_covers_timestamp_and_body_and_depends_on_the_key() -> None:
    key = webhooks.signing_key(SECRET, "k7", b"hash")
    assert len(key) == 64 and key == webhooks.signing_key(SECRET, "k7", b"hash")
    assert key != webhooks.signing_key(SECRET, "k8", b"hash") != webhooks.signing_key(b"t" * 32, "k7", b"hash")
    signature = webhooks.sign(key, 1000, b'{"a": 1}')
    assert signature.startswith("sha256=")
    assert webhooks.verify(key, 1000, b'{"a": 1}', signature)
    assert not webhooks.verify(key, 1001, b'{"a": 1}', signature)
    assert not webhooks.verify(key, 1000, b'{"a": 2}', signature)
    assert not webhooks.verify(webhooks.signing_key(SECRET, "k8", b"hash"), 1000, b'{"a": 1}', signature)
    assert webhooks.fresh(1000, 1000 + webhooks.MAX_SKEW_S) and not webhooks.fresh(1000, 1001 + webhooks.MAX_SKEW_S)


def _assertion(key_id: str, until_ms: int, secret: bytes = SECRET) -> tuple[tuple[str, str], ...]:
    return ((WEBHOOK_HEADER, sign_source(secret, "r1", f"hmac:{key_id}:{until_ms}")),)


def test_a_replica_assertion_authenticates_as_the_key_until_it_expires(tmp_path: Path) -> None:
    w = World(tmp_path / "s")
    token = parse_token(w.key("business-operator"))
    assert token is not None
    found = asyncio.run(w.auth.authenticate(_assertion(token.id, w.wall + 1000), "ipv4:127.0.0.1:5"))
    assert (found.kind, found.name, found.method) == ("apikey", token.id, "hmac")
    with pytest.raises(AuthError, match="expired"):
        asyncio.run(w.auth.authenticate(_assertion(token.id, w.wall - 1), "ipv4:127.0.0.1:5"))
    with pytest.raises(AuthError, match="invalid webhook assertion"):
        asyncio.run(w.auth.authenticate(_assertion(token.id, w.wall + 1000, b"x" * 32), "ipv4:127.0.0.1:5"))
    with pytest.raises(AuthError, match="invalid credentials"):
        asyncio.run(w.auth.authenticate(_assertion("k999", w.wall + 1000), "ipv4:127.0.0.1:5"))
    w.do(revoke_api_key=auth_pb2.RevokeApiKey(id=token.id))
    with pytest.raises(AuthError, match="revoked"):
        asyncio.run(w.auth.authenticate(_assertion(token.id, w.wall + 1000), "ipv4:127.0.0.1:5"))

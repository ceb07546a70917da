"""Bearer credentials: session tokens (from `wloadctl login`) and API keys (for automation).

A credential is `<kind>.<index>.<secret>`: `wls` for a session, `wlk` for an API key; `index` is
the Raft index of the entry that created it, which is also its id in the state (`s42`, `k57`).
A replica that does not know the id yet compares the index with its applied index, so it can
wait for its own state to catch up instead of refusing a credential the leader just issued.
Only SHA-256 of the secret is replicated (the secret is 256 random bits, so a slow hash adds
nothing); the secret itself is shown once, to its owner.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["KEY_PREFIX", "SESSION_PREFIX", "Token", "format_token", "matches", "new_secret", "parse_token",
           "secret_hash"]

SESSION_PREFIX = "wls"
KEY_PREFIX = "wlk"
_KINDS = {SESSION_PREFIX: "session", KEY_PREFIX: "apikey"}
_ID_PREFIX = {"session": "s", "apikey": "k"}
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class Token:
    kind: str      # "session" | "apikey"
    index: int     # Raft index of the entry that created it
    secret: str

    @property
    def id(self) -> str:
        return credential_id(self.kind, self.index)


def credential_id(kind: str, index: int) -> str:
    """The id under which the state keeps a session (`s42`) or an API key (`k57`)."""
    return f"{_ID_PREFIX[kind]}{index}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii", errors="replace")).digest()


def format_token(kind: str, index: int, secret: str) -> str:
    prefix = next(p for p, k in _KINDS.items() if k == kind)
    return f"{prefix}.{index}.{secret}"


def parse_token(text: str) -> Token | None:
    """The parts of a credential, or None when it is not one of ours (no detail: it may be a secret)."""
    if not text or len(text) > MAX_TOKEN_LENGTH:
        return None
    prefix, _, rest = text.partition(".")
    index, _, secret = rest.partition(".")
    kind = _KINDS.get(prefix)
    if kind is None or not index.isdigit() or len(index) > 19 or not secret:
        return None
    return Token(kind, int(index), secret)


def matches(token: Token, stored_hash: bytes) -> bool:
    return hmac.compare_digest(secret_hash(token.secret), stored_hash)

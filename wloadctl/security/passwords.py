"""Password hashing (scrypt) and the owner's password rules.

Only the leader hashes and verifies passwords, outside the state machine: the replicated log
carries the hash or the verdict, never the password itself. Hashes carry their own parameters
(`scrypt$N$r$p$salt$hash`), so a cost raised later does not invalidate stored ones.
"""

from __future__ import annotations

import base64
import functools
import hmac
import os
import string
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["PasswordPolicy", "dummy_hash", "hash_password", "needs_rehash", "policy_problems", "verify_password"]

# N=2^15, r=8: about 80 ms and 32 MiB per hash on our hosts (OWASP's scrypt floor is N=2^17 at
# p=1 with more memory; this keeps a login loop from starving a replica of CPU, and lockout after
# three failures bounds guessing anyway).
SCRYPT_N = 1 << 15
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
MAX_PASSWORD_BYTES = 1024  # scrypt takes any length; a huge one is only a way to burn CPU
SPECIAL_CHARACTERS = frozenset(string.punctuation + " ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _kdf(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(password.encode("utf-8"))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """The stored form of ``password``: `scrypt$N$r$p$salt$hash` (base64)."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password: longer than {MAX_PASSWORD_BYTES} bytes")
    salt = os.urandom(_SALT_BYTES)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_kdf(password, salt, n, r, p))}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for a malformed or empty stored value."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _kdf(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with weaker parameters than today's."""
    try:
        scheme, n, r, p, *_ = stored.split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) < (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, checked when the user does not exist, so that a login for an
    unknown name costs the same time as one for a known name (no user enumeration by timing)."""
    return hash_password(_b64(os.urandom(24)))


@dataclass(frozen=True)
class PasswordPolicy:
    """The owner's rules: complexity, a minimum length, a maximum age before a change is forced."""

    min_length: int = 12
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True
    require_special: bool = True
    max_age_days: int = 90          # 0 = passwords never expire
    max_failed_logins: int = 3      # consecutive failures that lock the account


def policy_problems(password: str, policy: PasswordPolicy, user: str = "") -> list[str]:
    """Every rule ``password`` breaks, in words ("at least 12 characters"); [] when it is fine."""
    problems = []
    if len(password) < policy.min_length:
        problems.append(f"at least {policy.min_length} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        problems.append(f"at most {MAX_PASSWORD_BYTES} bytes")
    if policy.require_upper and not any(c.isupper() for c in password):
        problems.append("an upper-case letter")
    if policy.require_lower and not any(c.islower() for c in password):
        problems.append("a lower-case letter")
    if policy.require_digit and not any(c.isdigit() for c in password):
        problems.append("a digit")
    if policy.require_special and not any(c in SPECIAL_CHARACTERS for c in password):
        problems.append("a special character (one of !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ or a space)")
    if user and user.lower() in password.lower():
        problems.append("not the user name")
    return problems

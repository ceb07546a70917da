"""The console's session cookie, CSRF tokens and response headers.

* The cookie holds the session token the API's Login answered (nothing else: the API checks it on
  every call). HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
  Path=/, and Secure with the ``__Host-`` prefix when served over HTTPS. Every login is a new
  session (a new token from the API), and a session cookie present at login is revoked first.
* CSRF: every non-GET request carries ``csrf_token`` (form field) or ``X-CSRF-Token`` (header) equal
  to HMAC(key, session id); before login the same over a random pre-session cookie, so the login
  form cannot be posted from elsewhere either. The key is derived from the cluster secret (every
  replica computes the same tokens), else random per process.
* Headers: a Content-Security-Policy that allows scripts and styles from this origin only (no
  inline script, no eval), no framing, no referrer, no sniffing; pages are not cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from wloadctl.security.tokens import parse_token

SESSION_COOKIE = "wloadctl_session"
PRE_SESSION_COOKIE = "wloadctl_pre"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_PRE_SESSION_CHARS = 43  # secrets.token_urlsafe(32)

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def csrf_key(cluster_secret: bytes | None) -> bytes:
    if cluster_secret is None:
        return secrets.token_bytes(32)
    return hmac.new(cluster_secret, b"wloadctl console csrf v1", hashlib.sha256).digest()


def csrf_token(key: bytes, binding: str) -> str:
    """The token of a session (``binding`` "session:s42") or of a pre-session ("pre:NONCE")."""
    return hmac.new(key, binding.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, binding: str, given: str) -> bool:
    return bool(binding) and len(given) == 64 and hmac.compare_digest(csrf_token(key, binding), given)


class Cookies:
    """Names and flags of the console's cookies; ``secure`` when the port serves HTTPS."""

    def __init__(self, secure: bool) -> None:
        self.secure = secure
        # __Host-: the browser keeps it only if Secure, Path=/ and no Domain (no subdomain can set it).
        prefix = "__Host-" if secure else ""
        self.session = prefix + SESSION_COOKIE
        self.pre_session = prefix + PRE_SESSION_COOKIE

    def _flags(self) -> dict[str, object]:
        return {"path": "/", "httponly": True, "samesite": "Strict", "secure": self.secure}

    def session_token(self, request: web.Request) -> str:
        """The session token of the cookie, if it is one (its shape only: the API checks the rest)."""
        token = request.cookies.get(self.session, "")
        parsed = parse_token(token)
        return token if parsed is not None and parsed.kind == "session" else ""

    def set_session(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(self.session, token, **self._flags())  # type: ignore[arg-type]
        response.del_cookie(self.pre_session, path="/", secure=self.secure, samesite="Strict")

    def clear_session(self, response: web.StreamResponse) -> None:
        response.del_cookie(self.session, path="/", secure=self.secure, samesite="Strict")

    def pre_session_nonce(self, request: web.Request) -> str:
        nonce = request.cookies.get(self.pre_session, "")
        return nonce if len(nonce) == _PRE_SESSION_CHARS and nonce.replace("-", "").replace("_", "").isalnum() \
            else ""

    def set_pre_session(self, response: web.StreamResponse, nonce: str) -> None:
        response.set_cookie(self.pre_session, nonce, **self._flags())  # type: ignore[arg-type]


def new_pre_session_nonce() -> str:
    return secrets.token_urlsafe(32)


def session_binding(token: str) -> str:
    parsed = parse_token(token)
    return f"session:{parsed.id}" if parsed is not None else ""


def pre_session_binding(nonce: str) -> str:
    return f"pre:{nonce}" if nonce else ""

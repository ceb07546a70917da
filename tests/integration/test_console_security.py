"""The web console's security over plain HTTP (no browser), against a real replica with authentication:
every route of the route table refused without a session, CSRF checked on every non-GET route,
cookie flags, a new session on every login (no fixation), security headers, the audit source, and
/metrics served and parseable on the same port."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wloadctl.console.routes import ROUTES
from wloadctl.proto.v1 import audit_pb2, auth_pb2
from wloadctl.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration

PASSWORD = "Console-Check-2026!"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def set_cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


@dataclass
class Session:
    """A cookie jar and a client for one replica's HTTP port; redirects are not followed."""

    address: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        host, port = self.address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = urlencode(form).encode() if form is not None else None
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        answer = Answer(response.status, response.headers, response.read().decode(errors="replace"))
        connection.close()
        for line in answer.set_cookies:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if value and "Max-Age=0" not in line:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return answer

    def csrf(self, path: str = "/login") -> str:
        page = self.request("GET", path)
        found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.body)
        assert found, page.body[:500]
        return found.group(1)

    def login(self, user: str, password: str) -> Answer:
        return self.request("POST", "/login", {"csrf_token": self.csrf(), "user": user, "password": password,
                                               "next": "/"})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("console-security") / "c", size=1)
    try:
        c.start()
        with c.client() as admin:
            admin.create_user(auth_pb2.CreateUserRequest(name="carol", password=PASSWORD,
                                                         bindings=[auth_pb2.Binding(role="auditor")]))
        yield c
    finally:
        c.stop()


def _concrete(path: str) -> str:
    return path.replace("{run_id}", "r1")


def test_every_session_route_is_refused_without_a_session(cluster: LocalCluster) -> None:
    address = cluster.replicas[0].http_address
    guarded = [r for r in ROUTES if r.access == "session"]
    assert guarded and {r.kind for r in guarded} == {"page", "data"}
    for cookies in ({}, {"wloadctl_session": "wls.999999.not-a-session"}):
        for route in guarded:
            client = Session(address, dict(cookies))
            answer = client.request(route.method, _concrete(route.path), {} if route.method == "POST" else None)
            if route.kind == "data":
                assert answer.status == 401, (route, answer.status)
            elif route.method == "POST" and not cookies:
                assert answer.status == 303 and answer.headers["Location"].startswith("/login"), route
            else:
                # A cookie that is no session: CSRF refuses the POSTs first, the session check the rest.
                assert answer.status in (303, 403), (route, answer.status)
                if answer.status == 303:
                    assert answer.headers["Location"].startswith("/login"), route
            assert "carol" not in answer.body


def test_csrf_is_required_on_every_non_get_route(cluster: LocalCluster) -> None:
    address = cluster.replicas[0].http_address
    posts = [r for r in ROUTES if r.method != "GET"]
    assert {r.name for r in posts} >= {"login", "logout", "change_password"}
    client = Session(address)
    assert client.login("carol", PASSWORD).status == 303
    valid = client.csrf("/")
    for route in posts:
        for given in ({}, {"csrf_token": "0" * 64}, {"csrf_token": valid[:-1] + "x"}):
            answer = client.request("POST", _concrete(route.path), {**given, "user": "carol", "password": PASSWORD,
                                                                     "old": PASSWORD, "new": "x", "again": "x"})
            assert answer.status == 403 and "CSRF" in answer.body, (route, given, answer.status)
    # Still logged in: none of the refused requests did anything (logout included).
    assert client.request("GET", "/").status == 200
    # A token from another session is no good either.
    other = Session(address)
    assert other.login("carol", PASSWORD).status == 303
    answer = other.request("POST", "/logout", {"csrf_token": valid})
    assert answer.status == 403
    assert other.request("POST", "/logout", {"csrf_token": other.csrf("/")}).status == 303
    assert other.request("GET", "/").status == 303  # logged out: the session was revoked by the API


def test_cookie_flags_and_a_new_session_on_every_login(cluster: LocalCluster) -> None:
    client = Session(cluster.replicas[0].http_address)
    pre = client.request("GET", "/login")
    assert any(c.startswith("wloadctl_pre=") and "HttpOnly" in c and "SameSite=Strict" in c and "Path=/" in c
               for c in pre.set_cookies)
    first = client.login("carol", PASSWORD)
    assert first.status == 303 and first.headers["Location"] == "/"
    session_cookie = next(c for c in first.set_cookies if c.startswith("wloadctl_session="))
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in session_cookie
    assert "Secure" not in session_cookie  # plain HTTP on loopback; HTTPS sets Secure and __Host-
    token1 = client.cookies["wloadctl_session"]
    assert client.request("GET", "/").status == 200
    # Logging in again (also with a session cookie planted beforehand) gives a new session and
    # closes the one the browser held.
    assert client.login("carol", PASSWORD).status == 303
    token2 = client.cookies["wloadctl_session"]
    assert token2 != token1 and token2.split(".")[1] != token1.split(".")[1]
    stale = Session(client.address, {"wloadctl_session": token1})
    assert stale.request("GET", "/").status == 303
    # A wrong password: 401 page, no session cookie.
    fresh = Session(client.address)
    answer = fresh.login("carol", "wrong-Password-1!")
    assert answer.status == 401 and "invalid user name or password" in answer.body
    assert "wloadctl_session" not in fresh.cookies
    assert cluster.client().get_user("carol").failed_logins == 1
    assert fresh.login("carol", PASSWORD).status == 303  # resets the count: the next tests may log in


def test_security_headers_on_pages_static_files_and_errors(cluster: LocalCluster) -> None:
    client = Session(cluster.replicas[0].http_address)
    assert client.login("carol", PASSWORD).status == 303
    for path in ("/", "/login", "/runs", "/static/console.css", "/runs/nonsense", "/no-such-page"):
        answer = client.request("GET", path)
        csp = answer.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp, path
        assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer", path
        if not path.startswith("/static/"):
            assert answer.headers["Cache-Control"] == "no-store", path
    page = client.request("GET", "/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.body and 'src="/static/console.js"' in page.body
    answer = client.request("GET", "/runs?state=bogus&job=%3Cscript%3E")
    assert answer.status == 400 and "<script>" not in answer.body


def test_console_actions_are_audited_with_the_console_as_source(cluster: LocalCluster) -> None:
    client = Session(cluster.replicas[0].http_address)
    assert client.login("carol", PASSWORD).status == 303
    with cluster.client() as admin:
        records = admin.list_audit(audit_pb2.ListAuditRequest(user="carol", operation="login")).records
    assert records and records[-1].actor.source.startswith("console:127.0.0.1:")


def test_metrics_are_served_unauthenticated_and_parse(cluster: LocalCluster) -> None:
    answer = Session(cluster.replicas[0].http_address).request("GET", "/metrics")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain; version=")
    names = {f.name for f in text_string_to_metric_families(answer.body)}
    assert {"wloadctl_raft_term", "wloadctl_raft_is_leader", "wloadctl_jobs"} <= names

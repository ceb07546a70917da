"""Every route of the console, as data: the app registers exactly these, and tests enumerate them.

``access``: "public" needs no session (the login form and its POST; static files are public too and
served apart); "session" needs the cookie of a valid session. ``kind``: what an unauthenticated
request gets: "page" a redirect to the login page, "data" (JSON, Server-Sent Events) a 401.
Every route whose method is not GET checks the CSRF token, whatever its access.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleRoute:
    method: str
    path: str
    name: str        # the handler's name (Views.<name>) and the aiohttp route name "console.<name>"
    access: str      # public | session
    kind: str        # page | data


ROUTES: tuple[ConsoleRoute, ...] = (
    ConsoleRoute("GET", "/", "overview", "session", "page"),
    ConsoleRoute("GET", "/api/overview", "overview_data", "session", "data"),
    ConsoleRoute("GET", "/login", "login_form", "public", "page"),
    ConsoleRoute("POST", "/login", "login", "public", "page"),
    ConsoleRoute("POST", "/logout", "logout", "session", "page"),
    ConsoleRoute("GET", "/account/password", "password_form", "session", "page"),
    ConsoleRoute("POST", "/account/password", "change_password", "session", "page"),
    ConsoleRoute("GET", "/runs", "runs", "session", "page"),
    ConsoleRoute("GET", "/runs/{run_id}", "run", "session", "page"),
    ConsoleRoute("GET", "/runs/{run_id}/log", "run_log", "session", "data"),
    ConsoleRoute("GET", "/agents", "agents", "session", "page"),
    ConsoleRoute("GET", "/cluster", "cluster", "session", "page"),
)
STATIC_PREFIX = "/static/"
# What a session that may only change its password (an expired password) may still open.
PASSWORD_CHANGE_ROUTES = frozenset({"password_form", "change_password", "logout"})

# The navigation, in order; pages not built yet are shown as such (docs/console.md).
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("overview", "/", "Overview"),
    ("runs", "/runs", "Runs"),
    ("workflows", "", "Business links"),
    ("gantt", "", "Gantt"),
    ("agents", "/agents", "Agents"),
    ("cluster", "/cluster", "Cluster"),
    ("misfires", "", "Misfires"),
    ("audit", "", "Audit"),
    ("calendars", "", "Calendars"),
)


def by_name(name: str) -> ConsoleRoute:
    return next(r for r in ROUTES if r.name == name)

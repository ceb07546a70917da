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
    # The business link view and approvals (workflows.py). The actions and decisions are POSTs of
    # kind "page" (a refused one is the login page or 403), answering JSON to the link view's script.
    ConsoleRoute("GET", "/workflows/runs", "workflow_runs", "session", "page"),
    ConsoleRoute("GET", "/workflows/runs/{run_id}", "workflow_run", "session", "page"),
    ConsoleRoute("GET", "/workflows/runs/{run_id}/graph", "workflow_graph", "session", "data"),
    ConsoleRoute("GET", "/workflows/runs/{run_id}/events", "workflow_events", "session", "data"),
    ConsoleRoute("GET", "/workflows/runs/{run_id}/task", "workflow_task", "session", "data"),
    ConsoleRoute("GET", "/workflows/runs/{run_id}/preview", "workflow_preview", "session", "data"),
    ConsoleRoute("POST", "/workflows/runs/{run_id}/action", "workflow_action", "session", "page"),
    ConsoleRoute("GET", "/approvals", "approvals", "session", "page"),
    ConsoleRoute("POST", "/approvals/approve", "approval_approve", "session", "page"),
    ConsoleRoute("POST", "/approvals/reject", "approval_reject", "session", "page"),
    # Gantt, misfires, audit, calendars and reports (pages.py); downloads are "data": a file or a 401.
    ConsoleRoute("GET", "/gantt", "gantt", "session", "page"),
    ConsoleRoute("GET", "/misfires", "misfires", "session", "page"),
    ConsoleRoute("GET", "/audit", "audit", "session", "page"),
    ConsoleRoute("GET", "/audit/verify", "audit_verify", "session", "page"),
    ConsoleRoute("GET", "/audit/export", "audit_export", "session", "data"),
    ConsoleRoute("GET", "/calendars", "calendars", "session", "page"),
    ConsoleRoute("GET", "/reports", "reports", "session", "page"),
    ConsoleRoute("GET", "/reports/download", "report_download", "session", "data"),
)
STATIC_PREFIX = "/static/"
# What a session that may only change its password (an expired password) may still open.
PASSWORD_CHANGE_ROUTES = frozenset({"password_form", "change_password", "logout"})

# The navigation, in order; pages not built yet are shown as such (docs/console.md).
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("overview", "/", "Overview"),
    ("runs", "/runs", "Runs"),
    ("workflows", "/workflows/runs", "Business links"),
    ("approvals", "/approvals", "Approvals"),
    ("gantt", "/gantt", "Gantt"),
    ("agents", "/agents", "Agents"),
    ("cluster", "/cluster", "Cluster"),
    ("misfires", "/misfires", "Misfires"),
    ("audit", "/audit", "Audit"),
    ("calendars", "/calendars", "Calendars"),
    ("reports", "/reports", "Reports"),
)


def by_name(name: str) -> ConsoleRoute:
    return next(r for r in ROUTES if r.name == name)

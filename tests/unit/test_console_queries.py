"""The console's pure parts: query validation, page tokens, the overview's counting, CSRF tokens, the
login redirect target, and the route table against the router."""

from __future__ import annotations

import pytest
from aiohttp import web

from wloadctl.console import Console
from wloadctl.console.overview import HOUR_MS, active_from_summary, activity_from_summary, new_activity
from wloadctl.console.routes import ROUTES
from wloadctl.console.runs_query import Position, QueryError, matches, parse_filter, source_of
from wloadctl.console.security import Cookies, csrf_ok, csrf_token, session_binding
from wloadctl.console.views import _safe_next
from wloadctl.proto.v1 import api_pb2, jobs_pb2, runs_pb2

RS = runs_pb2.RunState


def test_filters_are_checked_and_name_the_parameter() -> None:
    f = parse_filter({"from": "2024-05-01", "to": "2024-05-01T13:45", "domain": "finance", "state": "Failed",
                      "agent": "a1", "source": "schedule", "job": "etl.load"})
    assert f.from_ms == 1714521600000 and f.to_ms == 1714521600000 + 13 * HOUR_MS + 45 * 60_000
    assert f.state == RS.FAILED and f.filters_here
    for query, field in (({"from": "yesterday"}, "from"), ({"state": "bogus"}, "state"), ({"job": "<script>"}, "job"),
                         ({"domain": "a" * 300}, "253"), ({"source": "cron"}, "source"), ({"limit": "5"}, "limit"),
                         ({"from": "2024-05-02", "to": "2024-05-01"}, "to")):
        with pytest.raises(QueryError, match=field):
            parse_filter(query)
    assert not parse_filter({"job": "etl", "state": "running"}).filters_here  # ListRuns filters these itself


def test_page_tokens_round_trip_and_refuse_anything_else() -> None:
    position = Position("api-token-1", 17)
    assert Position.decode(position.encode()) == position
    assert Position.decode("") == Position()
    for bad in ("!!!", "a" * 600, "eyJ4IjoxfQ", Position("t", 10_000).encode()):
        with pytest.raises(QueryError, match="page"):
            Position.decode(bad)


def test_a_run_matches_by_domain_agent_source_and_time() -> None:
    run = runs_pb2.Run(run_id="r1", created_ms=5_000, agent_id="a1", event="file.landed",
                       spec=jobs_pb2.JobSpec(domain="finance"))
    assert source_of(run) == "event"
    assert matches(parse_filter({"domain": "finance", "agent": "a1", "source": "event"}), run)
    assert not matches(parse_filter({"domain": "hr"}), run)
    assert not matches(parse_filter({"agent": "a2"}), run)
    assert not matches(parse_filter({"source": "manual"}), run)
    assert matches(parse_filter({"workflow": "wf"}), runs_pb2.Run(workflow_run_id="w3"), frozenset({"w3"}))


def test_the_overview_reads_days_hours_and_active_runs_from_the_summary() -> None:
    now = 1714521600000 + 10 * HOUR_MS  # 2024-05-01 10:00Z
    activity = new_activity(now)
    assert [d.date for d in activity.days] == ["2024-05-01", "2024-04-30", "2024-04-24"]
    summary = api_pb2.Summary()
    summary.total.days.add(date="2024-05-01", runs_by_state={"SUCCEEDED": 1, "FAILED": 1, "KILLED": 1,
                                                              "QUEUED": 2})
    summary.total.days.add(date="2024-04-30", runs_by_state={"TIMED_OUT": 1, "LOST": 1})
    summary.total.days.add(date="2024-04-24", runs_by_state={"SUCCEEDED": 1})
    summary.total.hours.add(hour="2024-05-01T09", created=2, fired=1)
    summary.total.hours.add(hour="2024-05-01T00", created=1)
    summary.total.runs_by_state.update({"QUEUED": 2, "RUNNING": 3, "SUCCEEDED": 40})
    activity_from_summary(activity, summary)
    today_counts, yesterday, last_week = activity.days
    assert (today_counts.created, today_counts.succeeded, today_counts.failed, today_counts.killed) == (5, 1, 1, 1)
    assert today_counts.success_rate == 0.5 and yesterday.failed == 2 and yesterday.failure_rate == 1.0
    assert last_week.success_rate == 1.0
    assert activity.hourly[9] == 2 and activity.hourly_scheduled[9] == 1 and activity.peak_hour == 9
    assert activity.hourly[0] == 1
    assert active_from_summary(summary) == {"running": 3, "dispatched": 0, "queued": 2, "pending": 0,
                                            "retry_wait": 0}


def test_csrf_tokens_bind_to_the_session() -> None:
    key = b"k" * 32
    binding = session_binding("wls.42.secret")
    assert binding == "session:s42"
    token = csrf_token(key, binding)
    assert csrf_ok(key, binding, token)
    assert not csrf_ok(key, session_binding("wls.43.secret"), token)
    assert not csrf_ok(key, binding, "") and not csrf_ok(b"x" * 32, binding, token) and not csrf_ok(key, "", token)


def test_the_login_redirect_stays_on_this_console() -> None:
    assert _safe_next("/runs?state=failed") == "/runs?state=failed"
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil", "javascript:alert(1)", "/" + "a" * 600):
        assert _safe_next(bad) == "/"


def test_every_route_of_the_table_is_registered_and_nothing_else() -> None:
    app = web.Application()
    Console().install(app)
    registered = {(r.method, r.resource.canonical) for r in app.router.routes()  # type: ignore[union-attr]
                  if (r.name or "").startswith("console.") and r.name != "console.static" and r.method != "HEAD"}
    assert registered == {(r.method, r.path) for r in ROUTES}


def test_cookies_over_https_are_secure_and_host_prefixed() -> None:
    cookies = Cookies(secure=True)
    response = web.Response()
    cookies.set_session(response, "wls.7.secret")
    cookie = response.cookies["__Host-wloadctl_session"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["domain"]  # __Host-: bound to this host, no subdomain sees or sets it
    plain = web.Response()
    Cookies(secure=False).set_session(plain, "wls.7.secret")
    assert not plain.cookies["wloadctl_session"]["secure"]

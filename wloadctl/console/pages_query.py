"""Query parameters of the Gantt, misfires, audit, calendars and reports pages, checked at the boundary.

Every parameter is known, bounded in length and checked by format (dates, names by the model's
rules, time zones, page tokens) before any API call; a bad one raises ``QueryError`` naming it (the
page answers 400). Times are those the CLI takes: ISO-8601 (without an offset: UTC; a date alone is
its midnight UTC) or a duration ago (``24h``, ``7d``, ``1h30m``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wloadctl.console.gantt import BY as GANTT_BY
from wloadctl.console.runs_query import QueryError
from wloadctl.model import rules
from wloadctl.model.runreport import BUCKETS, DEFAULT_BUCKET, GROUP_BY, ReportError, time_zone

__all__ = ["AUDIT_OUTCOMES", "AuditQuery", "GanttQuery", "MisfireQuery", "QueryError", "ReportQuery", "iso_ms",
           "parse_audit", "parse_date", "parse_gantt", "parse_misfires", "parse_moment", "parse_report"]

MAX_VALUE_CHARS = 253
AUDIT_OUTCOMES = ("ok", "failed")
DEFAULT_AUDIT_SINCE = "24h"
DEFAULT_REPORT_FROM = "7d"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DURATION = re.compile(r"(?:([0-9]{1,6})d)?(?:([0-9]{1,7})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,10})s)?")
_DURATION_UNITS_MS = (86_400_000, 3_600_000, 60_000, 1000)
_MISFIRE_TOKEN = re.compile(r"m[0-9]{1,20}")
# Who did it: a user name (state/auth.py USER_NAME), an API key id (k57), a replica id, "system".
_ACTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._@-]{0,62}[A-Za-z0-9])?")
# An operation (job.apply, login.failed) or a prefix of one ending in '.' (job.).
_OPERATION = re.compile(r"[a-z][a-z0-9_]{0,31}(?:\.[a-z0-9_]{1,32}){0,4}\.?")
# A resource (job/nightly-backup, run/r12, session/s4) or a prefix ending in '/' (job/).
_RESOURCE = re.compile(r"[a-z][a-z_]{0,31}/(?:[A-Za-z0-9._@:-][A-Za-z0-9._@:/-]{0,199})?")
_MAX_SEQ = (1 << 63) - 1
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(?:/[A-Za-z0-9_+-]{1,30}){0,2}")


def _check_known(query: Mapping[str, str], known: frozenset[str]) -> dict[str, str]:
    unknown = sorted(set(query) - known)
    if unknown:
        raise QueryError(f"{unknown[0][:40]}: unknown parameter (known: {', '.join(sorted(known))})")
    text = {k: v.strip() for k, v in query.items() if v.strip()}
    for k, v in text.items():
        if len(v) > MAX_VALUE_CHARS:
            raise QueryError(f"{k}: at most {MAX_VALUE_CHARS} characters")
    return text


def _name(param: str, value: str, max_len: int = rules.MAX_NAME_LEN) -> str:
    """A job, workflow or domain name by the model's rules (model/rules.py)."""
    problem = rules._identifier_problem(value, max_len)
    if problem is not None:
        raise QueryError(f"{param}: {problem}, got {value[:40]!r}")
    return value


def parse_date(param: str, value: str) -> str:
    """YYYY-MM-DD, a real date."""
    if not _DATE.fullmatch(value):
        raise QueryError(f"{param}: a date like 2026-12-01, got {value[:40]!r}")
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{param}: no such date {value!r}") from None
    return value


def _exact_ms(moment: datetime.datetime) -> int:
    return (moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)) // datetime.timedelta(milliseconds=1)


def parse_moment(param: str, value: str, now_ms: int) -> int:
    """ISO-8601 (no offset: UTC) or a duration ago, as milliseconds since the epoch."""
    ago = _DURATION.fullmatch(value)
    if ago is not None and any(ago.groups()):
        span = sum(int(d) * unit for d, unit in zip(ago.groups(), _DURATION_UNITS_MS, strict=True) if d)
        if span <= 0:
            raise QueryError(f"{param}: a duration ago must be longer than 0s")
        return now_ms - span
    try:
        moment = datetime.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise QueryError(f"{param}: an ISO-8601 time (2026-12-01, 2026-12-01T13:45, 2026-12-01T13:45:00Z) or a "
                         f"duration ago (24h, 7d), got {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    ms = _exact_ms(moment)
    if not 0 < ms < 253_402_300_800_000:  # before year 10000
        raise QueryError(f"{param}: out of range")
    return ms


def iso_ms(ms: int) -> str:
    """An exact moment for links (parse_moment reads it back to the millisecond)."""
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(milliseconds=ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{ms % 1000:03d}Z" if ms % 1000 else "Z")


# ---- Gantt


@dataclass(frozen=True)
class GanttQuery:
    date: str
    by: str

    @property
    def day(self) -> datetime.date:
        return datetime.date.fromisoformat(self.date)

    def shifted(self, days: int) -> str:
        return (self.day + datetime.timedelta(days=days)).isoformat()


def parse_gantt(query: Mapping[str, str], today: str) -> GanttQuery:
    text = _check_known(query, frozenset({"date", "by"}))
    by = text.get("by", "domain")
    if by not in GANTT_BY:
        raise QueryError(f"by: one of {', '.join(GANTT_BY)}")
    return GanttQuery(parse_date("date", text["date"]) if "date" in text else today, by)


# ---- misfires


@dataclass(frozen=True)
class MisfireQuery:
    job: str = ""
    page: str = ""       # the API's page token (m123)


def parse_misfires(query: Mapping[str, str]) -> MisfireQuery:
    text = _check_known(query, frozenset({"job", "page"}))
    page = text.get("page", "")
    if page and not _MISFIRE_TOKEN.fullmatch(page):
        raise QueryError("page: not a page token of this console")
    return MisfireQuery(_name("job", text["job"]) if "job" in text else "", page)


# ---- audit


@dataclass(frozen=True)
class AuditQuery:
    user: str = ""
    operation: str = ""
    resource: str = ""
    since_ms: int = 0
    until_ms: int = 0
    outcome: str = ""                    # "" | ok | failed (applied by the console)
    after_seq: int = 0                   # page: records after this one
    text: dict[str, str] = field(default_factory=dict)   # the filters as given, to fill the form again

    def matches(self, result_code: int) -> bool:
        if self.outcome == "ok":
            return result_code == 0
        if self.outcome == "failed":
            return result_code != 0
        return True

    def exact(self) -> dict[str, str]:
        """The filters with resolved times: links to the export and the next page select the same records."""
        out = {k: v for k, v in self.text.items() if k in ("user", "operation", "resource", "outcome")}
        if self.since_ms:
            out["since"] = iso_ms(self.since_ms)
        if self.until_ms:
            out["until"] = iso_ms(self.until_ms)
        return out


def parse_audit(query: Mapping[str, str], now_ms: int, extra: frozenset[str] = frozenset()) -> AuditQuery:
    """The audit page's filters (``extra``: parameters of the caller's own, e.g. the export's format).
    Without ``since`` the page shows the last 24 hours; ``since=all`` shows from the oldest record."""
    known = frozenset({"user", "operation", "resource", "since", "until", "outcome", "page"}) | extra
    text = _check_known(query, known)
    for name in extra:
        text.pop(name, None)
    if "since" not in text:
        text["since"] = DEFAULT_AUDIT_SINCE
    user = text.get("user", "")
    if user and not _ACTOR.fullmatch(user):
        raise QueryError(f"user: a user name or key id (letters, digits, '.', '_', '@', '-'), got {user[:40]!r}")
    operation = text.get("operation", "")
    if operation and not _OPERATION.fullmatch(operation):
        raise QueryError(f"operation: an operation like job.apply or a prefix like job., got {operation[:40]!r}")
    resource = text.get("resource", "")
    if resource and not _RESOURCE.fullmatch(resource):
        raise QueryError(f"resource: a resource like job/nightly or a prefix like job/, got {resource[:40]!r}")
    outcome = text.get("outcome", "")
    if outcome and outcome not in AUDIT_OUTCOMES:
        raise QueryError(f"outcome: one of {', '.join(AUDIT_OUTCOMES)}")
    since_ms = 0 if text["since"] == "all" else parse_moment("since", text["since"], now_ms)
    until_ms = parse_moment("until", text["until"], now_ms) if "until" in text else 0
    if since_ms and until_ms and until_ms <= since_ms:
        raise QueryError("until: must be after since")
    page = text.pop("page", "")
    if page and (not page.isdigit() or len(page) > 19 or int(page) > _MAX_SEQ):
        raise QueryError("page: not a page token of this console")
    return AuditQuery(user=user, operation=operation, resource=resource, since_ms=since_ms, until_ms=until_ms,
                      outcome=outcome, after_seq=int(page) if page else 0, text=text)


# ---- reports


@dataclass(frozen=True)
class ReportQuery:
    by: str = "domain"
    from_ms: int = 0
    to_ms: int = 0
    bucket: str = DEFAULT_BUCKET
    domain: str = ""
    time_zone: str = ""
    text: dict[str, str] = field(default_factory=dict)

    def exact(self) -> dict[str, str]:
        """The report's arguments with resolved times: a download is the report the page shows."""
        out = {"by": self.by, "from": iso_ms(self.from_ms), "to": iso_ms(self.to_ms), "bucket": self.bucket}
        if self.domain:
            out["domain"] = self.domain
        if self.time_zone:
            out["tz"] = self.time_zone
        return out


def parse_report(query: Mapping[str, str], now_ms: int, extra: frozenset[str] = frozenset()) -> ReportQuery:
    """`wloadctl report runs` arguments: by, from, to (default now), bucket, domain, tz."""
    text = _check_known(query, frozenset({"by", "from", "to", "bucket", "domain", "tz"}) | extra)
    for name in extra:
        text.pop(name, None)
    text.setdefault("by", "domain")
    text.setdefault("from", DEFAULT_REPORT_FROM)
    text.setdefault("bucket", DEFAULT_BUCKET)
    if text["by"] not in GROUP_BY:
        raise QueryError(f"by: one of {', '.join(GROUP_BY)}")
    if text["bucket"] not in BUCKETS:
        raise QueryError(f"bucket: one of {', '.join(BUCKETS)}")
    from_ms = parse_moment("from", text["from"], now_ms)
    to_ms = parse_moment("to", text["to"], now_ms) if "to" in text else now_ms
    if to_ms <= from_ms:
        raise QueryError("to: must be after from")
    zone = text.get("tz", "")
    try:
        if zone and not _ZONE.fullmatch(zone):
            raise ReportError(zone)
        time_zone(zone)
    except ReportError:
        raise QueryError(f"tz: an IANA time zone like Europe/Berlin, got {zone[:40]!r}") from None
    domain = _name("domain", text["domain"], rules.MAX_DOMAIN_LEN) if "domain" in text else ""
    return ReportQuery(by=text["by"], from_ms=from_ms, to_ms=to_ms, bucket=text["bucket"], domain=domain,
                       time_zone=zone, text=text)

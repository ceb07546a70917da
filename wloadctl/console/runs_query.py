"""The runs page's filters and paging: checked at the boundary, applied as close to the API as it allows.

ListRuns filters by job and state itself; time range, domain, workflow, agent and trigger source are
applied here, to the API's pages (newest first), reading at most ``SCAN_BUDGET`` runs per console page.
Paging hands on the API's own page token together with how many runs of that API page were already
shown, so no run is skipped or shown twice while new runs arrive at the top.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wloadctl.proto.v1 import runs_pb2

RS = runs_pb2.RunState
PAGE_SIZE = 50
API_PAGE_SIZE = 500       # when filtering here: fewer, larger API pages
SCAN_BUDGET = 5_000       # runs read per console page at most
MAX_TOKEN_CHARS = 512
STATE_NAMES = tuple(v.name.lower() for v in RS.DESCRIPTOR.values if v.number)
SOURCES = ("schedule", "event", "workflow", "manual")
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
_KNOWN = frozenset({"from", "to", "domain", "job", "workflow", "state", "agent", "source", "page"})


class QueryError(ValueError):
    """A query parameter that is not acceptable; the message names it."""


@dataclass(frozen=True)
class RunFilter:
    from_ms: int = 0
    to_ms: int = 0
    domain: str = ""
    job: str = ""
    workflow: str = ""
    state: int = 0
    agent: str = ""
    source: str = ""
    text: dict[str, str] = field(default_factory=dict)  # the values as given, to fill the form again

    @property
    def filters_here(self) -> bool:
        """Whether some filter is applied by the console (ListRuns filters job, state, domain, agent and
        creation time itself)."""
        return bool(self.workflow or self.source)


def _parse_time(name: str, text: str) -> int:
    for fmt in _TIME_FORMATS:
        try:
            moment = datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC)
        except ValueError:
            continue
        return int(moment.timestamp() * 1000)
    raise QueryError(f"{name}: a UTC time like 2024-05-01 or 2024-05-01T13:45, got {text[:40]!r}")


def _name(name: str, text: str) -> str:
    if not _NAME.fullmatch(text):
        raise QueryError(f"{name}: letters, digits, '.', '_' and '-' (at most 253), got {text[:40]!r}")
    return text


def parse_filter(query: Mapping[str, str]) -> RunFilter:
    unknown = sorted(set(query) - _KNOWN)
    if unknown:
        raise QueryError(f"{unknown[0][:40]}: unknown parameter (known: {', '.join(sorted(_KNOWN))})")
    text = {k: v.strip() for k, v in query.items() if k != "page" and v.strip()}
    if any(len(v) > 253 for v in text.values()):
        raise QueryError("parameters are at most 253 characters")
    state = 0
    if "state" in text:
        if text["state"].lower() not in STATE_NAMES:
            raise QueryError(f"state: one of {', '.join(STATE_NAMES)}")
        state = RS.Value(text["state"].upper())
    if "source" in text and text["source"] not in SOURCES:
        raise QueryError(f"source: one of {', '.join(SOURCES)}")
    from_ms = _parse_time("from", text["from"]) if "from" in text else 0
    to_ms = _parse_time("to", text["to"]) if "to" in text else 0
    if from_ms and to_ms and to_ms <= from_ms:
        raise QueryError("to: must be after from")
    return RunFilter(from_ms=from_ms, to_ms=to_ms,
                     domain=_name("domain", text["domain"]) if "domain" in text else "",
                     job=_name("job", text["job"]) if "job" in text else "",
                     workflow=_name("workflow", text["workflow"]) if "workflow" in text else "",
                     state=state, agent=_name("agent", text["agent"]) if "agent" in text else "",
                     source=text.get("source", ""), text=text)


def source_of(run: runs_pb2.Run) -> str:
    if run.workflow_run_id:
        return "workflow"
    if run.slot_ms:
        return "schedule"
    if run.event:
        return "event"
    return "manual"


def matches(f: RunFilter, run: runs_pb2.Run, workflow_runs: frozenset[str] = frozenset()) -> bool:
    if f.from_ms and run.created_ms < f.from_ms:
        return False
    if f.to_ms and run.created_ms >= f.to_ms:
        return False
    if f.domain and (run.spec.domain or "default") != f.domain:
        return False
    if f.agent and run.agent_id != f.agent:
        return False
    if f.source and source_of(run) != f.source:
        return False
    return not f.workflow or run.workflow_run_id in workflow_runs


@dataclass(frozen=True)
class Position:
    """Where a console page starts: an API page (its token) and how many of its runs were shown."""

    api_token: str = ""
    skip: int = 0

    def encode(self) -> str:
        raw = json.dumps({"a": self.api_token, "s": self.skip}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(text: str) -> Position:
        if not text:
            return Position()
        if len(text) > MAX_TOKEN_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            raise QueryError("page: not a page token of this console")
        try:
            doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            raise QueryError("page: not a page token of this console") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("a"), str) or not isinstance(doc.get("s"), int) \
                or not 0 <= doc["s"] <= API_PAGE_SIZE:
            raise QueryError("page: not a page token of this console")
        return Position(doc["a"], doc["s"])

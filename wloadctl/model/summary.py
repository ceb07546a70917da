"""The Summary message (RunService/Summarize) from the state's per-domain counters (state/stats.py)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Sequence

from wloadctl.proto.v1 import api_pb2, runs_pb2

MAX_DAYS = 31
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _valid_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def summary_request_problem(request: api_pb2.SummarizeRequest) -> str:
    if len(request.days) > MAX_DAYS:
        return f"days: at most {MAX_DAYS}"
    for i, day in enumerate(request.days):
        if not _valid_date(day):
            return f"days[{i}]: a date YYYY-MM-DD, got {day[:40]!r}"
    if request.hours_of_day and not _valid_date(request.hours_of_day):
        return f"hours_of_day: a date YYYY-MM-DD, got {request.hours_of_day[:40]!r}"
    return ""


class _Counts:
    """Anything with the counters of state/stats.py's DomainSummary."""

    domain: str
    jobs: int
    workflows: int
    runs_by_state: dict[int, int]
    days: dict[str, dict[int, int]]
    hours: dict[str, tuple[int, int]]


def _state_name(state: int) -> str:
    return runs_pb2.RunState.Name(state) if state in runs_pb2.RunState.values() else f"STATE_{state}"


def summary_message(index: int, domains: Sequence[_Counts], days: Sequence[str],
                    jobs_visible: Collection[str] | None) -> api_pb2.Summary:
    """``jobs_visible``: domains whose definitions the caller may count (None: all)."""
    out = api_pb2.Summary(raft_index=index)
    total = out.total
    total_days = {day: total.days.add(date=day) for day in days}
    total_hours: dict[str, list[int]] = {}
    for counts in domains:
        d = out.domains.add(domain=counts.domain)
        if jobs_visible is None or counts.domain in jobs_visible:
            d.jobs, d.workflows = counts.jobs, counts.workflows
        for state, n in sorted(counts.runs_by_state.items()):
            d.runs_by_state[_state_name(state)] = n
            total.runs_by_state[_state_name(state)] += n
        for day in days:
            day_msg = d.days.add(date=day)
            for state, n in sorted(counts.days.get(day, {}).items()):
                day_msg.runs_by_state[_state_name(state)] = n
                total_days[day].runs_by_state[_state_name(state)] += n
        for hour, (created, fired) in sorted(counts.hours.items()):
            d.hours.add(hour=hour, created=created, fired=fired)
            sums = total_hours.setdefault(hour, [0, 0])
            sums[0] += created
            sums[1] += fired
        total.jobs += d.jobs
        total.workflows += d.workflows
    for hour, (created, fired) in sorted(total_hours.items()):
        total.hours.add(hour=hour, created=created, fired=fired)
    return out

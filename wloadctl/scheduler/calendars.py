"""Business calendars: which days are working days (pure; no clock, no I/O).

A day is a working day of calendar C when its weekday is one of C's working weekdays (Monday to
Friday by default), it is not one of C's holidays, it is a working day of every calendar C
includes, and it is a working day of none of the calendars C excludes. Include/exclude graphs
must be acyclic (checked when calendars are applied).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

from wloadctl.proto.v1 import jobs_pb2

DEFAULT_WEEKDAYS = (1, 2, 3, 4, 5)
WEEKDAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
MAX_HOLIDAYS = 5000
MAX_REFERENCES = 16
MAX_CALENDARS = 1000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")


def parse_date(text: str) -> dt.date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


class WorkingDays:
    """Answers "is this a working day" for a set of calendars (the state's, as of one entry)."""

    def __init__(self, calendars: Mapping[str, jobs_pb2.CalendarSpec]) -> None:
        self._specs = dict(calendars)
        self._holidays = {name: frozenset(spec.holidays) for name, spec in self._specs.items()}
        self._memo: dict[tuple[str, dt.date], bool] = {}

    def known(self, name: str) -> bool:
        return name in self._specs

    def is_working(self, name: str, day: dt.date, _depth: int = 0) -> bool:
        """False for an unknown calendar (a job cannot refer to one: refused at apply)."""
        key = (name, day)
        if key in self._memo:
            return self._memo[key]
        spec = self._specs.get(name)
        if spec is None or _depth > MAX_CALENDARS:
            return False
        weekdays = tuple(spec.working_weekdays) or DEFAULT_WEEKDAYS
        working = (day.isoweekday() in weekdays and day.isoformat() not in self._holidays[name]
                   and all(self.is_working(n, day, _depth + 1) for n in spec.include)
                   and not any(self.is_working(n, day, _depth + 1) for n in spec.exclude))
        if len(self._memo) > 200_000:
            self._memo.clear()
        self._memo[key] = working
        return working

    def all_working(self, names: Iterable[str], day: dt.date) -> bool:
        return all(self.is_working(n, day) for n in names)


def spec_problems(spec: jobs_pb2.CalendarSpec) -> list[tuple[str, str]]:
    """(field, reason) for what is wrong with one calendar on its own."""
    problems: list[tuple[str, str]] = []
    if not spec.name:
        problems.append(("name", "required"))
    elif not _NAME.fullmatch(spec.name):
        problems.append(("name", "1-64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"))
    if len(spec.description) > 4096:
        problems.append(("description", "at most 4096 characters"))
    days = list(spec.working_weekdays)
    if any(not 1 <= d <= 7 for d in days) or len(set(days)) != len(days):
        problems.append(("working_weekdays", "each a distinct ISO weekday from 1 (Monday) to 7 (Sunday)"))
    if len(spec.holidays) > MAX_HOLIDAYS:
        problems.append(("holidays", f"at most {MAX_HOLIDAYS}"))
    for i, day in enumerate(spec.holidays[:MAX_HOLIDAYS]):
        if parse_date(day) is None:
            problems.append((f"holidays[{i}]", f"must be a date YYYY-MM-DD, got {day[:40]!r}"))
    for field in ("include", "exclude"):
        refs = list(getattr(spec, field))
        if len(refs) > MAX_REFERENCES:
            problems.append((field, f"at most {MAX_REFERENCES} calendars"))
        if spec.name in refs:
            problems.append((field, "a calendar cannot refer to itself"))
    return problems


def normalized(spec: jobs_pb2.CalendarSpec) -> jobs_pb2.CalendarSpec:
    """Holidays sorted and unique, weekdays sorted: equal calendars compare equal."""
    out = jobs_pb2.CalendarSpec()
    out.CopyFrom(spec)
    del out.holidays[:]
    out.holidays.extend(sorted(set(spec.holidays)))
    del out.working_weekdays[:]
    out.working_weekdays.extend(sorted(spec.working_weekdays))
    return out


def cycle(specs: Mapping[str, jobs_pb2.CalendarSpec]) -> list[str] | None:
    """A cycle of include/exclude references among ``specs`` (names in order), or None."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        spec = specs.get(name)
        for ref in [*spec.include, *spec.exclude] if spec is not None else []:
            if state.get(ref) == 1:
                return [*path[path.index(ref):], ref]
            if ref not in state:
                found = visit(ref)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(specs):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def days_between(working: WorkingDays, name: str, first: dt.date, last: dt.date) -> tuple[list[str], list[str]]:
    """(working days, non-working days) of calendar ``name`` from ``first`` to ``last`` inclusive."""
    yes, no = [], []
    day = first
    while day <= last:
        (yes if working.is_working(name, day) else no).append(day.isoformat())
        day += dt.timedelta(days=1)
    return yes, no

"""When a job's schedules fire: pure iterators over time (no clock, no I/O).

A slot is the UTC instant a schedule names, in milliseconds. Cron expressions are matched in the
job's local wall time, then each local time is placed on the time line by the job's DST policy:

* a local time that does not exist (the clock springs forward over it) is skipped, or shifted to
  the first valid instant after it, which is the instant of the change (several such times shift to
  the same instant and fire once);
* a local time that happens twice (the clock falls back) fires once, at its first occurrence, or
  twice.

Intervals are counted in UTC from ``start_ms`` (or the Unix epoch) and one-shot times are instants:
DST never moves them. Every replica computes the same slots from the same spec (given the same
tz database), which is what lets the state check a firing against the slot it expects next.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import importlib.resources
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import tzdata
from croniter import croniter
from croniter.croniter import CroniterBadCronError, CroniterBadDateError

from wloadctl.proto.v1 import jobs_pb2
from wloadctl.scheduler.calendars import WorkingDays

MS = 1000
# Search this far for the next time a cron expression names (February 29 of a year divisible by
# 100 but not 400 comes 8 years after the previous one).
MAX_YEARS_BETWEEN = 9
_SECOND = timedelta(seconds=1)
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")


@dataclass(frozen=True)
class Slot:
    """One firing instant, with what DST did to it (for `job next`)."""

    ms: int
    dst: str = ""         # "" | "shifted" (the local time did not exist) | "repeated" (second occurrence)
    local: str = ""       # the nominal local time the schedule named, ISO (for cron slots)
    moved_from: str = ""  # YYYY-MM-DD: the non-working day a calendar moved it from


class ScheduleError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` ("" = UTC), from the `tzdata` package, never the host's files: every
    replica must place local times alike, and hosts' tz databases differ in age. ScheduleError
    when unknown."""
    if not name:
        return ZoneInfo("UTC")
    if len(name) > 64 or not _ZONE_NAME.fullmatch(name) or ".." in name:
        raise ScheduleError("time_zone", f"unknown time zone {name!r}")
    try:
        resource = importlib.resources.files("tzdata.zoneinfo").joinpath(name)
        with resource.open("rb") as f:
            return ZoneInfo.from_file(f, key=name)
    except (OSError, ValueError):
        raise ScheduleError("time_zone", f"unknown time zone {name!r} (an IANA name like Europe/Berlin)") from None


def tz_database_version() -> str:
    return str(tzdata.IANA_VERSION)


def cron_fields(expr: str) -> tuple[str, bool]:
    """(expression for croniter, has seconds). Six fields put the seconds first (as Quartz and
    Spring do)."""
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ScheduleError("cron", f"{expr!r} has {len(fields)} fields: use 5 (minute hour day month weekday) "
                                    "or 6 (second first)")
    return " ".join(fields), len(fields) == 6


def jitter_ms(job_name: str, jitter_seconds: int) -> int:
    """The job's fixed offset in [0, jitter_seconds) s: from its name, so every replica and every
    process agrees (Python's hash() is salted per process)."""
    if jitter_seconds <= 0:
        return 0
    digest = hashlib.sha256(job_name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % (jitter_seconds * MS)


@lru_cache(maxsize=4096)
def _parsed(text: str, seconds: bool) -> croniter:
    """A parsed expression to copy: parsing costs more than the next match (~45 µs here)."""
    return croniter(text, datetime(2000, 1, 1), ret_type=datetime, second_at_beginning=seconds,
                    max_years_between_matches=MAX_YEARS_BETWEEN)


def _local_times(expr: str, after_local: datetime) -> Iterator[datetime]:
    text, seconds = cron_fields(expr)
    try:
        it = copy.copy(_parsed(text, seconds))  # shallow: the parsed fields are only read
        it.set_current(after_local, force=True)
        while True:
            yield it.get_next(datetime)
    except CroniterBadCronError as e:
        raise ScheduleError("cron", f"{expr!r}: {e}") from None
    except CroniterBadDateError:
        return  # no further match within MAX_YEARS_BETWEEN: the schedule is over


def _place(local: datetime, tz: ZoneInfo, gap: int, repeat: int) -> list[Slot]:
    """The instants of one nominal local time under the DST policy (0, 1 or 2 of them)."""
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    u0, u1 = first.astimezone(UTC), second.astimezone(UTC)
    iso = local.isoformat(timespec="seconds")
    if u0.astimezone(tz).replace(tzinfo=None) != local:
        # Does not exist. fold=0 reads it with the offset from before the change, which lands after
        # the change; the change itself is the first valid instant after the missing time.
        if gap == jobs_pb2.DST_GAP_SKIP:
            return []
        return [Slot(_ms(_change_between(min(u0, u1), max(u0, u1), tz)), "shifted", iso)]
    if u0 != u1:  # happens twice: fold=0 is the first occurrence
        early, late = sorted((u0, u1))
        if repeat == jobs_pb2.DST_REPEAT_TWICE:
            return [Slot(_ms(early), "", iso), Slot(_ms(late), "repeated", iso)]
        return [Slot(_ms(early), "", iso)]
    return [Slot(_ms(u0), "", iso)]


def _change_between(lo: datetime, hi: datetime, tz: ZoneInfo) -> datetime:
    """The first whole second in (lo, hi] with the UTC offset ``hi`` has (lo has the one before)."""
    target = hi.astimezone(tz).utcoffset()
    a, b = int(lo.timestamp()), int(hi.timestamp())
    while b - a > 1:
        mid = (a + b) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == target:
            b = mid
        else:
            a = mid
    return datetime.fromtimestamp(b, UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * MS)


# Larger than any DST change (2 h at most in the tz database; Lord Howe's is 30 minutes).
_NEAR = timedelta(hours=3)


def _changes_near(tz: ZoneInfo, t: datetime) -> bool:
    """Whether the UTC offset of ``tz`` changes within _NEAR of the UTC instant ``t``."""
    return (t - _NEAR).astimezone(tz).utcoffset() != (t + _NEAR).astimezone(tz).utcoffset()


def _cron_slots(expr: str, tz: ZoneInfo, after_ms: int, gap: int, repeat: int) -> Iterator[Slot]:
    after = datetime.fromtimestamp(after_ms / MS, UTC)
    start = after.astimezone(tz).replace(tzinfo=None)
    if _changes_near(tz, after):
        # Around a fall-back change a local time "before" ``after`` may also happen after it.
        start -= _NEAR
    # Placing local times on the time line keeps their order except around a DST change, where a
    # later local time may land earlier: there, slots wait until the local times are _NEAR ahead.
    pending: list[tuple[int, str, str]] = []
    last = -1
    for local in _local_times(expr, start):
        placed = _place(local, tz, gap, repeat)
        for slot in placed:
            heapq.heappush(pending, (slot.ms, slot.dst, slot.local))
        nominal = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
        horizon = _ms(nominal - _NEAR) if _changes_near(tz, nominal) else _ms(nominal)
        while pending and pending[0][0] <= horizon:
            ms, dst, iso = heapq.heappop(pending)
            if ms > after_ms and ms != last:
                last = ms
                yield Slot(ms, dst, iso)
    while pending:
        ms, dst, iso = heapq.heappop(pending)
        if ms > after_ms and ms != last:
            last = ms
            yield Slot(ms, dst, iso)


def _interval_slots(every_s: int, anchor_ms: int, after_ms: int) -> Iterator[Slot]:
    step = every_s * MS
    n = max(0, (after_ms - anchor_ms) // step + 1)
    while True:
        yield Slot(anchor_ms + n * step)
        n += 1


def _schedule_slots(spec: jobs_pb2.JobSpec, schedule: jobs_pb2.Schedule, after_ms: int) -> Iterator[Slot]:
    kind = schedule.WhichOneof("kind")
    if kind == "cron":
        return _cron_slots(schedule.cron, zone(spec.time_zone), after_ms, spec.dst_gap, spec.dst_repeat)
    if kind == "every_seconds":
        if schedule.every_seconds <= 0:
            raise ScheduleError("every", "must be at least 1 second")
        return _interval_slots(schedule.every_seconds, spec.start_ms, after_ms)
    if kind == "at_ms":
        return iter([Slot(schedule.at_ms)] if schedule.at_ms > after_ms else [])
    raise ScheduleError("schedules", "a schedule needs cron, every or at")


def _raw_slots(spec: jobs_pb2.JobSpec, after_ms: int) -> Iterator[Slot]:
    """The schedules' slots after ``after_ms`` within start and end, before calendars apply."""
    floor = max(after_ms, spec.start_ms - 1) if spec.start_ms else after_ms
    streams: Iterable[Iterator[Slot]] = [_schedule_slots(spec, s, floor) for s in spec.schedules]
    merged = heapq.merge(*streams, key=lambda s: s.ms)
    last = None
    for slot in merged:
        if spec.end_ms and slot.ms > spec.end_ms:
            return
        if slot.ms != last:
            last = slot.ms
            yield slot


# A run of non-working days longer than this moves no slot across it (next/previous): its slots are
# left out, as with skip.
MAX_NON_WORKING_RUN = 31
# next/previous collect a whole day's slots: only for schedules that fire at most this often a day.
MAX_MOVED_PER_DAY = 96


def slots_after(spec: jobs_pb2.JobSpec, after_ms: int, calendars: WorkingDays | None = None,
                skipped: list[Slot] | None = None) -> Iterator[Slot]:
    """The job's slots strictly after ``after_ms``, in order, each instant once, within its start
    and end dates and on working days of its calendars (``calendars``: the state's). Ignores
    ``suspended`` (callers decide). Slots a calendar left out are appended to ``skipped``."""
    if not spec.calendars:
        return _raw_slots(spec, after_ms)
    if calendars is None:
        raise ScheduleError("calendars", "the job uses calendars and none were given")
    if spec.non_working_day == jobs_pb2.NON_WORKING_SKIP:
        return _working_only(spec, after_ms, calendars, skipped)
    return _moved(spec, after_ms, calendars)


def _local_date(ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / MS, UTC).astimezone(tz).date()


def _working_only(spec: jobs_pb2.JobSpec, after_ms: int, calendars: WorkingDays,
                  skipped: list[Slot] | None) -> Iterator[Slot]:
    tz = zone(spec.time_zone)
    names = list(spec.calendars)
    for slot in _raw_slots(spec, after_ms):
        if calendars.all_working(names, _local_date(slot.ms, tz)):
            yield slot
        elif skipped is not None:
            skipped.append(slot)
            if len(skipped) > 10_000:
                return  # a preview asking past a calendar that never works again


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    return _ms(start.astimezone(UTC)), _ms(end.astimezone(UTC))


def _moved(spec: jobs_pb2.JobSpec, after_ms: int, calendars: WorkingDays) -> Iterator[Slot]:
    """next / previous: each working day fires its own slots and those of the non-working days
    before it (next) or after it (previous), at their local times of day."""
    tz = zone(spec.time_zone)
    names = list(spec.calendars)
    forward = spec.non_working_day == jobs_pb2.NON_WORKING_NEXT
    day = _local_date(after_ms, tz) - timedelta(days=2)  # slots land on their working day: none earlier
    last = -1
    for _ in range(366 * MAX_YEARS_BETWEEN):
        day += timedelta(days=1)
        if not calendars.all_working(names, day):
            continue
        sources = [day]
        step = -1 if forward else 1
        other = day + timedelta(days=step)
        for _ in range(MAX_NON_WORKING_RUN):
            if calendars.all_working(names, other):
                break
            sources.append(other)
            other += timedelta(days=step)
        else:
            sources = [day]  # too long a run of non-working days: its slots are not moved
        placed: list[Slot] = []
        for source in sources:
            lo, hi = _day_bounds(source, tz)
            for slot in itertools.islice(_raw_slots(spec, lo - 1), MAX_MOVED_PER_DAY * 2):
                if slot.ms >= hi:
                    break
                if source == day:
                    placed.append(slot)
                    continue
                local = datetime.fromtimestamp(slot.ms / MS, UTC).astimezone(tz).replace(tzinfo=None)
                target = datetime.combine(day, local.time())
                placed += [Slot(p.ms, p.dst, p.local, source.isoformat())
                           for p in _place(target, tz, spec.dst_gap, spec.dst_repeat)[:1]]
        for slot in sorted(placed, key=lambda s: (s.ms, s.moved_from)):
            if slot.ms > after_ms and slot.ms != last and (not spec.end_ms or slot.ms <= spec.end_ms) \
                    and slot.ms >= spec.start_ms:
                last = slot.ms
                yield slot
        if spec.end_ms and _day_bounds(day, tz)[0] > spec.end_ms:
            return


def slots_per_day(spec: jobs_pb2.JobSpec) -> float:
    """How often the schedules fire a day, on average over a sample week (calendars aside)."""
    start = 946684800000  # 2000-01-01
    count = sum(1 for _ in itertools.islice(
        itertools.takewhile(lambda s: s.ms <= start + 7 * 86_400_000, _raw_slots(spec, start)),
        MAX_MOVED_PER_DAY * 7 + 1))
    return count / 7


def business_date(spec: jobs_pb2.JobSpec, ms: int) -> str:
    """The business day (YYYY-MM-DD) of an instant: its local date in the job's time zone, a day
    beginning at business_day_start_minutes."""
    local = datetime.fromtimestamp(ms / MS, UTC).astimezone(zone(spec.time_zone))
    return (local - timedelta(minutes=spec.business_day_start_minutes)).date().isoformat()


def next_slot(spec: jobs_pb2.JobSpec, after_ms: int, calendars: WorkingDays | None = None) -> Slot | None:
    return next(slots_after(spec, after_ms, calendars), None)


def slots_between(spec: jobs_pb2.JobSpec, after_ms: int, until_ms: int, limit: int,
                  calendars: WorkingDays | None = None) -> tuple[list[Slot], bool]:
    """Slots in (after_ms, until_ms], at most ``limit``; and whether more were left out."""
    out = list(itertools.islice(itertools.takewhile(lambda s: s.ms <= until_ms,
                                                    slots_after(spec, after_ms, calendars)), limit + 1))
    return out[:limit], len(out) > limit


def schedule_problems(spec: jobs_pb2.JobSpec, now_ms: int | None = None) -> list[ScheduleError]:
    """What makes the job's schedules unusable: bad expressions, an unknown zone, a window that
    closes before it opens, a schedule that can never fire."""
    problems: list[ScheduleError] = []
    if spec.time_zone:
        try:
            zone(spec.time_zone)
        except ScheduleError as e:
            problems.append(e)
    if spec.start_ms and spec.end_ms and spec.end_ms < spec.start_ms:
        problems.append(ScheduleError("end", "is before start"))
    for i, schedule in enumerate(spec.schedules):
        field = f"schedules[{i}]"
        kind = schedule.WhichOneof("kind")
        if kind is None:
            problems.append(ScheduleError(field, "set one of cron, every or at"))
        elif kind == "cron":
            try:
                text, seconds = cron_fields(schedule.cron)
                if not croniter.is_valid(text, second_at_beginning=seconds):
                    problems.append(ScheduleError(f"{field}.cron", f"{schedule.cron!r} is not a valid cron "
                                                                   "expression"))
                elif next(_local_times(schedule.cron, datetime(2000, 1, 1)), None) is None:
                    problems.append(ScheduleError(f"{field}.cron", f"{schedule.cron!r} never fires (no such date "
                                                                   f"within {MAX_YEARS_BETWEEN} years)"))
            except ScheduleError as e:
                problems.append(ScheduleError(f"{field}.{e.field}", e.reason))
        elif kind == "every_seconds" and schedule.every_seconds <= 0:
            problems.append(ScheduleError(f"{field}.every", "must be at least 1 second"))
        elif kind == "at_ms" and schedule.at_ms <= 0:
            problems.append(ScheduleError(f"{field}.at", "must be a time after 1970"))
    if problems or not spec.schedules:
        return problems
    if spec.end_ms and next(_raw_slots(spec, (spec.start_ms or 1) - 1), None) is None:
        problems.append(ScheduleError("schedules", "no slot falls between start and end"))
    if spec.calendars and spec.non_working_day != jobs_pb2.NON_WORKING_SKIP \
            and slots_per_day(spec) > MAX_MOVED_PER_DAY:
        problems.append(ScheduleError("non_working_day", f"next and previous move whole days of slots: only for "
                                                         f"schedules that fire at most {MAX_MOVED_PER_DAY} times a "
                                                         f"day (use skip)"))
    return problems

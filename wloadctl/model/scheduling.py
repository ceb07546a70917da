"""The scheduling part of a job: YAML fields <-> JobSpec, and what makes it valid.

    spec:
      schedules:
        - cron: "30 2 * * *"          # 5 fields, or 6 with seconds first
        - every: 90s                  # fixed interval, from `start` (or the Unix epoch), in UTC
        - at: "2027-01-04T09:00:00+01:00"   # once
      timeZone: Europe/Berlin         # IANA name for cron schedules (default UTC)
      start: "2026-12-01T00:00:00Z"   # no slot before (RFC 3339; without an offset: in timeZone)
      end: "2027-12-31T23:59:59Z"     # no slot after
      jitter: 30s                     # each slot runs up to this much later (fixed per job)
      dst: {gap: shift, repeat: once} # gap: shift|skip; repeat: once|twice
      misfire: {policy: run-latest, grace: 60s, window: 1d, maxCount: 100}
      overlap: allow                  # allow|forbid|replace|buffer-one|buffer-all
      suspended: false

Both the YAML path (CLI) and the proto path (API, apply) end in `problems()`, so a spec is judged
the same way wherever it comes from.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from wloadctl.model import files
from wloadctl.proto.v1 import jobs_pb2
from wloadctl.scheduler.calendars import WEEKDAY_NAMES, spec_problems
from wloadctl.scheduler.triggers import ScheduleError, schedule_problems, zone

MAX_SCHEDULES = 16
MAX_CRON_LEN = 256
MAX_JITTER_S = 86400
MAX_GRACE_S = 31 * 86400
MAX_MISFIRE_COUNT = 10_000

DST_GAP = {"shift": jobs_pb2.DST_GAP_SHIFT, "skip": jobs_pb2.DST_GAP_SKIP}
DST_REPEAT = {"once": jobs_pb2.DST_REPEAT_ONCE, "twice": jobs_pb2.DST_REPEAT_TWICE}
MISFIRE = {"run-latest": jobs_pb2.MISFIRE_RUN_LATEST, "skip": jobs_pb2.MISFIRE_SKIP,
           "run-all": jobs_pb2.MISFIRE_RUN_ALL}
OVERLAP = {"allow": jobs_pb2.OVERLAP_ALLOW, "forbid": jobs_pb2.OVERLAP_FORBID, "replace": jobs_pb2.OVERLAP_REPLACE,
           "buffer-one": jobs_pb2.OVERLAP_BUFFER_ONE, "buffer-all": jobs_pb2.OVERLAP_BUFFER_ALL}
NON_WORKING = {"skip": jobs_pb2.NON_WORKING_SKIP, "next": jobs_pb2.NON_WORKING_NEXT,
               "previous": jobs_pb2.NON_WORKING_PREVIOUS}
YAML_FIELDS = ("schedules", "timeZone", "start", "end", "jitter", "dst", "misfire", "overlap", "suspended",
               "calendars", "nonWorkingDay", "businessDayStart", "events", "keepRuns", "keepRunsFor",
               "fileTriggers")
MAX_KEEP_RUNS = 1_000_000
MAX_KEEP_SECONDS = 10 * 366 * 86400
MAX_EVENT_TRIGGERS = 16
_EVENT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._:/-]{0,126}[A-Za-z0-9])?")
_PARAM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
MAX_JOB_CALENDARS = 8
_CALENDAR_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

Err = Callable[[str, str], None]
Duration = Callable[[object, str], "int | None"]


def _name(table: dict[str, int], value: int) -> str:
    for key, number in table.items():
        if number == value:
            return key
    return str(value)


# ---- checks shared by both paths (field names in YAML form for the CLI, proto form for the API)

_PROTO_FIELDS = {"time_zone": "time_zone", "start": "start_ms", "end": "end_ms", "every": "every_seconds",
                 "at": "at_ms", "cron": "cron", "schedules": "schedules"}
_YAML_FIELDS = {"time_zone": "spec.timeZone", "start": "spec.start", "end": "spec.end", "every": "every",
                "at": "at", "cron": "cron", "schedules": "spec.schedules"}


def problems(spec: jobs_pb2.JobSpec, err: Err, yaml_names: bool = False) -> None:
    """Report what is wrong with the scheduling fields of ``spec`` through ``err(field, reason)``."""
    names = _YAML_FIELDS if yaml_names else _PROTO_FIELDS
    prefix = "spec." if yaml_names else ""
    if len(spec.schedules) > MAX_SCHEDULES:
        err(names["schedules"], f"at most {MAX_SCHEDULES} schedules (got {len(spec.schedules)})")
        return
    for i, schedule in enumerate(spec.schedules):
        if schedule.WhichOneof("kind") == "cron" and len(schedule.cron) > MAX_CRON_LEN:
            err(f"{names['schedules']}[{i}].cron", f"longer than {MAX_CRON_LEN} characters")
            return
    if spec.jitter_seconds > MAX_JITTER_S:
        err(f"{prefix}jitter" if yaml_names else "jitter_seconds", f"at most {MAX_JITTER_S} s (1 day)")
    enums = ((spec.dst_gap, DST_GAP, "spec.dst.gap" if yaml_names else "dst_gap"),
             (spec.dst_repeat, DST_REPEAT, "spec.dst.repeat" if yaml_names else "dst_repeat"),
             (spec.misfire.action, MISFIRE, "spec.misfire.policy" if yaml_names else "misfire.action"),
             (spec.overlap, OVERLAP, "spec.overlap" if yaml_names else "overlap"))
    for value, table, field in enums:
        if value not in table.values():
            err(field, f"unknown value {value}")
    misfire = spec.misfire
    if misfire.grace_seconds > MAX_GRACE_S or misfire.window_seconds > MAX_GRACE_S:
        err("spec.misfire" if yaml_names else "misfire", "grace and window are at most 31 days")
    if misfire.max_count > MAX_MISFIRE_COUNT:
        err("spec.misfire.maxCount" if yaml_names else "misfire.max_count", f"at most {MAX_MISFIRE_COUNT}")
    if len(spec.calendars) > MAX_JOB_CALENDARS:
        err("spec.calendars" if yaml_names else "calendars", f"at most {MAX_JOB_CALENDARS}")
    for i, name in enumerate(spec.calendars[:MAX_JOB_CALENDARS]):
        if not _CALENDAR_NAME.fullmatch(name):
            err(f"spec.calendars[{i}]" if yaml_names else f"calendars[{i}]", f"not a calendar name: {name[:40]!r}")
    if spec.non_working_day not in NON_WORKING.values():
        err("spec.nonWorkingDay" if yaml_names else "non_working_day", f"unknown value {spec.non_working_day}")
    if len(spec.events) > MAX_EVENT_TRIGGERS:
        err("spec.events" if yaml_names else "events", f"at most {MAX_EVENT_TRIGGERS}")
    for i, trigger in enumerate(spec.events[:MAX_EVENT_TRIGGERS]):
        where = f"spec.events[{i}]" if yaml_names else f"events[{i}]"
        if not _EVENT_NAME.fullmatch(trigger.name):
            err(f"{where}.name", "1-128 letters, digits, '.', '_', ':', '/' or '-', starting and ending with a letter "
                                 "or digit")
        for key, value in sorted(trigger.params.items())[:65]:
            if not _PARAM_KEY.fullmatch(key) or not _PARAM_KEY.fullmatch(value):
                err(f"{where}.params", f"{key[:40]!r}: run and event parameter names are 1-128 letters, digits, '_', "
                                       "'.' or '-'")
        if len(trigger.params) > 64:
            err(f"{where}.params", "at most 64")
    files.problems(spec, err, yaml_names)
    if spec.keep_runs > MAX_KEEP_RUNS or spec.keep_runs_seconds > MAX_KEEP_SECONDS:
        err("spec.keepRuns" if yaml_names else "keep_runs", f"at most {MAX_KEEP_RUNS} runs and 10 years")
    if spec.business_day_start_minutes >= 1440:
        err("spec.businessDayStart" if yaml_names else "business_day_start_minutes", "must be before 24:00")
    has_schedule_fields = spec.time_zone or spec.start_ms or spec.end_ms or spec.jitter_seconds
    if has_schedule_fields and not spec.schedules:
        err(names["schedules"], "timeZone, start, end and jitter need at least one schedule" if yaml_names
            else "time_zone, start_ms, end_ms and jitter_seconds need at least one schedule")
    for problem in schedule_problems(spec):
        field = problem.field
        head, dot, rest = field.partition(".")
        if head.startswith("schedules["):
            index = head[len("schedules"):]
            field = f"{names['schedules']}{index}" + (f".{names.get(rest, rest)}" if dot else "")
        else:
            field = names.get(field, field)
        err(field, problem.reason)


# ---- YAML -> JobSpec


def parse_yaml(body: dict[Any, Any], spec: jobs_pb2.JobSpec, err: Err, duration: Duration) -> None:
    """Fill the scheduling fields of ``spec`` from the YAML ``spec`` mapping (errors through ``err``)."""
    schedules = body.get("schedules")
    time_zone = body.get("timeZone")
    tz_name = ""
    if time_zone is not None:
        if not isinstance(time_zone, str) or not time_zone:
            err("spec.timeZone", "must be an IANA time zone name like Europe/Berlin")
        else:
            spec.time_zone = tz_name = time_zone
    if schedules is not None:
        if not isinstance(schedules, list) or not schedules:
            err("spec.schedules", "must be a list of schedules, each with cron, every or at")
        else:
            for i, item in enumerate(schedules):
                _parse_schedule(item, f"spec.schedules[{i}]", spec, tz_name, err, duration)
    for key, field in (("start", "start_ms"), ("end", "end_ms")):
        value = body.get(key)
        if value is not None:
            ms = _instant(value, f"spec.{key}", tz_name, err)
            if ms is not None:
                setattr(spec, field, ms)
    jitter = body.get("jitter")
    if jitter is not None:
        seconds = duration(jitter, "spec.jitter")
        if seconds is not None:
            spec.jitter_seconds = max(0, min(seconds, MAX_JITTER_S + 1))
    dst = body.get("dst")
    if dst is not None:
        if not isinstance(dst, dict):
            err("spec.dst", "must be a mapping like {gap: shift, repeat: once}")
        else:
            for key in dst:
                if key not in ("gap", "repeat"):
                    err(f"spec.dst.{key}", "unknown field (gap or repeat)")
            if "gap" in dst:
                spec.dst_gap = _choice(dst["gap"], "spec.dst.gap", DST_GAP, err, spec.dst_gap)
            if "repeat" in dst:
                spec.dst_repeat = _choice(dst["repeat"], "spec.dst.repeat", DST_REPEAT, err, spec.dst_repeat)
    misfire = body.get("misfire")
    if misfire is not None:
        _parse_misfire(misfire, spec, err, duration)
    overlap = body.get("overlap")
    if overlap is not None:
        spec.overlap = _choice(overlap, "spec.overlap", OVERLAP, err, spec.overlap)
    suspended = body.get("suspended")
    if suspended is not None:
        if not isinstance(suspended, bool):
            err("spec.suspended", "must be true or false")
        else:
            spec.suspended = suspended
    calendars = body.get("calendars")
    if calendars is not None:
        if not isinstance(calendars, list) or not all(isinstance(c, str) for c in calendars):
            err("spec.calendars", "must be a list of calendar names")
        else:
            spec.calendars.extend(calendars)
    non_working = body.get("nonWorkingDay")
    if non_working is not None:
        spec.non_working_day = _choice(non_working, "spec.nonWorkingDay", NON_WORKING, err, spec.non_working_day)
    keep = body.get("keepRuns")
    if keep is not None:
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP_RUNS:
            err("spec.keepRuns", f"must be a whole number from 1 to {MAX_KEEP_RUNS}")
        else:
            spec.keep_runs = keep
    keep_for = body.get("keepRunsFor")
    if keep_for is not None:
        seconds = duration(keep_for, "spec.keepRunsFor")
        if seconds is not None:
            if not 1 <= seconds <= MAX_KEEP_SECONDS:
                err("spec.keepRunsFor", "from 1 second to 10 years")
            else:
                spec.keep_runs_seconds = seconds
    events = body.get("events")
    if events is not None:
        if not isinstance(events, list):
            err("spec.events", "must be a list of event names, or of {name, params}")
        else:
            for i, item in enumerate(events):
                if isinstance(item, str):
                    spec.events.add(name=item)
                elif isinstance(item, dict) and isinstance(item.get("name"), str) and set(item) <= {"name", "params"} \
                        and isinstance(item.get("params", {}), dict) \
                        and all(isinstance(k, str) and isinstance(v, str) for k, v in item.get("params", {}).items()):
                    spec.events.add(name=item["name"], params=item.get("params", {}))
                else:
                    err(f"spec.events[{i}]", "an event name, or {name: NAME, params: {RUN_PARAM: EVENT_PARAM}}")
    file_triggers = body.get("fileTriggers")
    if file_triggers is not None:
        files.parse(file_triggers, spec, err, duration)
    start = body.get("businessDayStart")
    if start is not None:
        match = _HHMM.fullmatch(start) if isinstance(start, str) else None
        if match is None:
            err("spec.businessDayStart", 'must be a local time "HH:MM" (quoted), like "06:00"')
        else:
            spec.business_day_start_minutes = int(match.group(1)) * 60 + int(match.group(2))


def _parse_schedule(item: object, where: str, spec: jobs_pb2.JobSpec, tz_name: str, err: Err,
                    duration: Duration) -> None:
    if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in ("cron", "every", "at"):
        err(where, 'must be a mapping with exactly one of cron, every or at (e.g. {cron: "0 6 * * 1-5"})')
        return
    key, value = next(iter(item.items()))
    if key == "cron":
        if not isinstance(value, str):
            err(f"{where}.cron", "must be a string (quote it)")
            return
        spec.schedules.add(cron=value)
    elif key == "every":
        seconds = duration(value, f"{where}.every")
        if seconds is not None:
            if seconds <= 0:
                err(f"{where}.every", "must be at least 1 second")
                return
            spec.schedules.add(every_seconds=min(seconds, 2**32 - 1))
    else:
        ms = _instant(value, f"{where}.at", tz_name, err)
        if ms is not None:
            spec.schedules.add(at_ms=ms)


def _parse_misfire(value: object, spec: jobs_pb2.JobSpec, err: Err, duration: Duration) -> None:
    if isinstance(value, str):
        value = {"policy": value}
    if not isinstance(value, dict):
        err("spec.misfire", "must be a policy name or a mapping {policy, grace, window, maxCount}")
        return
    for key in value:
        if key not in ("policy", "grace", "window", "maxCount"):
            err(f"spec.misfire.{key}", "unknown field (policy, grace, window or maxCount)")
    if "policy" in value:
        spec.misfire.action = _choice(value["policy"], "spec.misfire.policy", MISFIRE, err, spec.misfire.action)
    for key, field in (("grace", "grace_seconds"), ("window", "window_seconds")):
        if key in value:
            seconds = duration(value[key], f"spec.misfire.{key}")
            if seconds is not None:
                if seconds <= 0:
                    err(f"spec.misfire.{key}", "must be at least 1 second")
                else:
                    setattr(spec.misfire, field, min(seconds, MAX_GRACE_S + 1))
    if "maxCount" in value:
        count = value["maxCount"]
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_MISFIRE_COUNT:
            err("spec.misfire.maxCount", f"must be a whole number from 1 to {MAX_MISFIRE_COUNT}")
        else:
            spec.misfire.max_count = count


def _choice(value: object, where: str, table: dict[str, int], err: Err, default: int) -> int:
    if isinstance(value, str) and value in table:
        return table[value]
    err(where, "must be " + " or ".join(f'"{k}"' for k in table) + f", got {value!r}"[:200])
    return default


def _instant(value: object, where: str, tz_name: str, err: Err) -> int | None:
    """An RFC 3339 time (YAML may hand over a datetime or a date already); without an offset it
    is read in the job's time zone."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            err(where, f"must be a time like 2027-01-04T09:00:00+01:00, got {value!r}"[:200])
            return None
    else:
        err(where, "must be a time like 2027-01-04T09:00:00+01:00")
        return None
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=zone(tz_name))
        except ScheduleError:
            return None  # the zone's own error is reported
    ms = int(moment.timestamp() * 1000)
    if ms <= 0:
        err(where, "must be after 1970")
        return None
    return ms


# ---- JobSpec -> YAML


def to_yaml(spec: jobs_pb2.JobSpec, body: dict[str, Any]) -> None:
    """Add the scheduling fields of ``spec`` to the YAML ``spec`` mapping (non-defaults only)."""
    tz = zone(spec.time_zone) if spec.time_zone else dt.UTC
    if spec.schedules:
        items: list[dict[str, Any]] = []
        for s in spec.schedules:
            kind = s.WhichOneof("kind")
            if kind == "cron":
                items.append({"cron": s.cron})
            elif kind == "every_seconds":
                items.append({"every": s.every_seconds})
            elif kind == "at_ms":
                items.append({"at": _iso(s.at_ms, tz)})
        body["schedules"] = items
    if spec.time_zone:
        body["timeZone"] = spec.time_zone
    if spec.start_ms:
        body["start"] = _iso(spec.start_ms, tz)
    if spec.end_ms:
        body["end"] = _iso(spec.end_ms, tz)
    if spec.jitter_seconds:
        body["jitter"] = spec.jitter_seconds
    dst: dict[str, str] = {}
    if spec.dst_gap != jobs_pb2.DST_GAP_SHIFT:
        dst["gap"] = _name(DST_GAP, spec.dst_gap)
    if spec.dst_repeat != jobs_pb2.DST_REPEAT_ONCE:
        dst["repeat"] = _name(DST_REPEAT, spec.dst_repeat)
    if dst:
        body["dst"] = dst
    m = spec.misfire
    misfire: dict[str, Any] = {}
    if m.action != jobs_pb2.MISFIRE_RUN_LATEST:
        misfire["policy"] = _name(MISFIRE, m.action)
    if m.grace_seconds:
        misfire["grace"] = m.grace_seconds
    if m.window_seconds:
        misfire["window"] = m.window_seconds
    if m.max_count:
        misfire["maxCount"] = m.max_count
    if misfire:
        body["misfire"] = misfire
    if spec.overlap != jobs_pb2.OVERLAP_ALLOW:
        body["overlap"] = _name(OVERLAP, spec.overlap)
    if spec.suspended:
        body["suspended"] = True
    if spec.calendars:
        body["calendars"] = list(spec.calendars)
    if spec.keep_runs:
        body["keepRuns"] = spec.keep_runs
    if spec.keep_runs_seconds:
        body["keepRunsFor"] = spec.keep_runs_seconds
    if spec.events:
        body["events"] = [{"name": t.name, "params": dict(sorted(t.params.items()))} if t.params else t.name
                          for t in spec.events]
    if spec.file_triggers:
        body["fileTriggers"] = files.render(spec)
    if spec.non_working_day != jobs_pb2.NON_WORKING_SKIP:
        body["nonWorkingDay"] = _name(NON_WORKING, spec.non_working_day)
    if spec.business_day_start_minutes:
        minutes = spec.business_day_start_minutes
        body["businessDayStart"] = f"{minutes // 60:02d}:{minutes % 60:02d}"


def _iso(ms: int, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz).isoformat()


# ---- kind: Calendar

_CALENDAR_SPEC_FIELDS = ("workingDays", "holidays", "include", "exclude")


def parse_calendar(doc: dict[Any, Any], api_version: str) -> tuple[jobs_pb2.CalendarSpec, list[tuple[str, str]]]:
    """A `kind: Calendar` document: (spec, [(field, reason)])."""
    problems: list[tuple[str, str]] = []
    spec = jobs_pb2.CalendarSpec()
    for key in doc:
        if key not in ("apiVersion", "kind", "metadata", "spec"):
            problems.append((str(key), "unknown field (apiVersion, kind, metadata, spec)"))
    if doc.get("apiVersion", api_version) != api_version:
        problems.append(("apiVersion", f'must be "{api_version}"'))
    metadata = doc.get("metadata") or {}
    body = doc.get("spec") or {}
    if not isinstance(metadata, dict) or not isinstance(body, dict):
        return spec, [*problems, ("", "metadata and spec must be mappings")]
    for key in metadata:
        if key not in ("name", "description"):
            problems.append((f"metadata.{key}", "unknown field (name, description)"))
    for key in body:
        if key not in _CALENDAR_SPEC_FIELDS:
            problems.append((f"spec.{key}", f"unknown field ({', '.join(_CALENDAR_SPEC_FIELDS)})"))
    name, description = metadata.get("name"), metadata.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        problems.append(("metadata", "name (required) and description must be strings"))
    else:
        spec.name, spec.description = name, description
    days = body.get("workingDays")
    if days is not None:
        if not isinstance(days, list) or not all(isinstance(d, str) and d.lower() in WEEKDAY_NAMES for d in days):
            problems.append(("spec.workingDays", "must be a list of mon, tue, wed, thu, fri, sat, sun"))
        else:
            spec.working_weekdays.extend(WEEKDAY_NAMES[d.lower()] for d in days)
    holidays = body.get("holidays")
    if holidays is not None:
        if not isinstance(holidays, list):
            problems.append(("spec.holidays", "must be a list of dates YYYY-MM-DD"))
        else:
            spec.holidays.extend(d.isoformat() if isinstance(d, dt.date) else str(d) for d in holidays)
    for key in ("include", "exclude"):
        refs = body.get(key)
        if refs is not None:
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                problems.append((f"spec.{key}", "must be a list of calendar names"))
            else:
                getattr(spec, key).extend(refs)
    yaml_field = {"name": "metadata.name", "description": "metadata.description", "working_weekdays":
                  "spec.workingDays", "holidays": "spec.holidays", "include": "spec.include",
                  "exclude": "spec.exclude"}
    for field, reason in spec_problems(spec):
        head, bracket, rest = field.partition("[")
        problems.append((yaml_field.get(head, head) + (bracket + rest if bracket else ""), reason))
    return spec, problems


def calendar_to_yaml(spec: jobs_pb2.CalendarSpec) -> dict[str, Any]:
    names = {number: name for name, number in WEEKDAY_NAMES.items()}
    metadata: dict[str, Any] = {"name": spec.name}
    if spec.description:
        metadata["description"] = spec.description
    body: dict[str, Any] = {"workingDays": [names[d] for d in spec.working_weekdays or (1, 2, 3, 4, 5)]}
    if spec.holidays:
        body["holidays"] = list(spec.holidays)
    if spec.include:
        body["include"] = list(spec.include)
    if spec.exclude:
        body["exclude"] = list(spec.exclude)
    return {"apiVersion": "wloadctl/v1", "kind": "Calendar", "metadata": metadata, "spec": body}

"""`wloadctl job next`: the next fire times of a job, in its local time and UTC, with what DST did."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wloadctl.proto.v1 import api_pb2, jobs_pb2
from wloadctl.scheduler.calendars import WorkingDays
from wloadctl.scheduler.triggers import Slot, business_date, jitter_ms, slots_after, zone


@dataclass
class Preview:
    times: list[api_pb2.FireTime] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # nominal local times a DST gap removed (policy skip)
    skipped_non_working: list[str] = field(default_factory=list)  # local times on non-working days (skip)


def fire_times(spec: jobs_pb2.JobSpec, from_ms: int, count: int, calendars: WorkingDays | None = None) -> Preview:
    """The next ``count`` slots after ``from_ms`` (whether or not the job is suspended)."""
    tz = zone(spec.time_zone)
    jitter = jitter_ms(spec.name, spec.jitter_seconds)
    preview = Preview()
    left_out: list[Slot] = []
    slots = list(itertools.islice(slots_after(spec, from_ms, calendars, left_out), count))
    for slot in slots:
        local = datetime.fromtimestamp(slot.ms / 1000, UTC).astimezone(tz)
        preview.times.append(api_pb2.FireTime(slot_ms=slot.ms, due_ms=slot.ms + jitter,
                                              local_time=local.isoformat(), nominal_local=slot.local, dst=slot.dst,
                                              moved_from=slot.moved_from,
                                              business_date=business_date(spec, slot.ms)))
    last_ms = slots[-1].ms if slots else None
    preview.skipped_non_working = [
        datetime.fromtimestamp(s.ms / 1000, UTC).astimezone(tz).isoformat() for s in left_out
        if last_ms is None or s.ms <= last_ms][:count]
    if spec.dst_gap == jobs_pb2.DST_GAP_SKIP and slots:
        # What shifting would have fired: its "shifted" slots are the ones skipping removed.
        shifting = jobs_pb2.JobSpec()
        shifting.CopyFrom(spec)
        shifting.dst_gap = jobs_pb2.DST_GAP_SHIFT
        last = slots[-1].ms
        for slot in slots_after(shifting, from_ms, calendars):
            if slot.ms > last:
                break
            if slot.dst == "shifted":
                preview.skipped.append(slot.local)
    return preview

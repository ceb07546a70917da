"""Which due slots fire and which are misfires: pure (the clock is an argument).

For a job whose next slot is due, the slots from it up to now are split by lateness: a slot found
at most ``grace`` late runs (late); older ones follow the job's misfire policy. The result is one
`Firing`, checked again at apply against the slot the state expects next (state/schedules.py), so
a slot is decided exactly once whoever proposes it and however often.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wloadctl.proto.v1 import commands_pb2, jobs_pb2
from wloadctl.scheduler.calendars import WorkingDays
from wloadctl.scheduler.triggers import Slot, jitter_ms, slots_between

MA = jobs_pb2.MisfireAction
DEFAULT_GRACE_S = 60
DEFAULT_WINDOW_S = 86400
DEFAULT_MAX_COUNT = 100
# Slots decided per job and firing: a job down for a day at one slot a second is caught up over
# several ticks, each a bounded amount of work.
SLOTS_PER_FIRING = 2000


@dataclass(frozen=True)
class DueJob:
    spec: jobs_pb2.JobSpec
    version: int
    next_slot_ms: int
    calendars: WorkingDays | None = None  # the state's, for a job that uses calendars


def grace_ms(spec: jobs_pb2.JobSpec) -> int:
    return (spec.misfire.grace_seconds or DEFAULT_GRACE_S) * 1000


def plan_firing(job: DueJob, now_ms: int, limit: int = SLOTS_PER_FIRING) -> commands_pb2.Firing | None:
    """The firing of one job at ``now_ms``, or None when nothing is due."""
    spec = job.spec
    jitter = jitter_ms(spec.name, spec.jitter_seconds)
    first = job.next_slot_ms
    if spec.suspended or not first or first + jitter > now_ms:
        return None
    later, more = slots_between(spec, first, now_ms - jitter, max(0, limit - 1), job.calendars)
    slots = [Slot(first), *later]
    grace = grace_ms(spec)
    late = [s.ms for s in slots if now_ms - (s.ms + jitter) > grace]
    on_time = [s.ms for s in slots if now_ms - (s.ms + jitter) <= grace]
    fire = list(on_time)
    missed: list[tuple[int, str, str]] = []  # (slot, reason, detail)
    policy = spec.misfire
    if late:
        worst = (now_ms - late[0] - jitter) // 1000
        found = f"found up to {worst} s late (grace {grace // 1000} s)"
        if policy.action == MA.MISFIRE_SKIP:
            missed += [(s, "late", f"{found}; misfire policy skip") for s in late]
        elif policy.action == MA.MISFIRE_RUN_ALL:
            window = (policy.window_seconds or DEFAULT_WINDOW_S) * 1000
            most = policy.max_count or DEFAULT_MAX_COUNT
            inside = [s for s in late if now_ms - (s + jitter) <= window]
            missed += [(s, "late", f"{found}; outside the run-all window of {window // 1000} s")
                       for s in late if now_ms - (s + jitter) > window]
            chosen = inside[-most:] if most else []
            missed += [(s, "late", f"{found}; over the run-all maximum of {most}")
                       for s in inside[:len(inside) - len(chosen)]]
            fire = sorted(chosen + fire)
        else:  # run the latest: only when it is the latest slot of all (nothing on time, none left)
            runs_latest = not on_time and not more
            superseded = late[:-1] if runs_latest else late
            missed += [(s, "late", f"{found}; superseded by a later slot (misfire policy run latest)")
                       for s in superseded]
            if runs_latest:
                fire = [late[-1]]
    firing = commands_pb2.Firing(job_name=spec.name, job_version=job.version, expected_next_ms=first,
                                 fire_slots=fire, through_ms=slots[-1].ms)
    firing.misfires.extend(misfire_ranges(sorted(missed)))
    return firing


def misfire_ranges(missed: Iterable[tuple[int, str, str]]) -> list[commands_pb2.MisfireRange]:
    """Consecutive missed slots with the same reason and detail, as ranges (slots in order)."""
    out: list[commands_pb2.MisfireRange] = []
    for slot, reason, detail in missed:
        if out and out[-1].reason == reason and out[-1].detail == detail:
            out[-1].last_slot_ms = slot
            out[-1].count += 1
        else:
            out.append(commands_pb2.MisfireRange(first_slot_ms=slot, last_slot_ms=slot, count=1, reason=reason,
                                                 detail=detail))
    return out


def plan_firings(due: Iterable[DueJob], now_ms: int, per_command: int = 500) -> list[commands_pb2.FireSchedules]:
    """Firings of every due job, in commands of at most ``per_command`` firings (a top-of-minute burst
    becomes a few entries, not one per job)."""
    firings = [f for f in (plan_firing(job, now_ms) for job in due) if f is not None]
    return [commands_pb2.FireSchedules(firings=firings[i:i + per_command])
            for i in range(0, len(firings), per_command)]

"""Business calendars: working days with includes and excludes, cycles, the non-working-day policies of
jobs, business dates, and the state (versions, references, next slots after a calendar changes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from wloadctl.proto.v1 import commands_pb2, jobs_pb2
from wloadctl.scheduler.calendars import WorkingDays, cycle, days_between, spec_problems
from wloadctl.scheduler.triggers import business_date, schedule_problems, slots_after
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

D = dt.date


def cal(name: str, holidays: tuple[str, ...] = (), weekdays: tuple[int, ...] = (), include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = ()) -> jobs_pb2.CalendarSpec:
    return jobs_pb2.CalendarSpec(name=name, holidays=holidays, working_weekdays=weekdays, include=include,
                                 exclude=exclude)


def test_weekdays_holidays_include_exclude() -> None:
    specs = {"base": cal("base", ("2026-12-25",)),
             "de": cal("de", ("2026-12-24",), include=("base",)),
             "quarter-end": cal("quarter-end", weekdays=(1, 2, 3, 4, 5, 6, 7), holidays=()),
             "no-qe": cal("no-qe", include=("de",), exclude=("only-31",)),
             "only-31": cal("only-31", weekdays=(1, 2, 3, 4, 5, 6, 7),
                            holidays=tuple(f"2026-12-{d:02d}" for d in range(1, 31)))}
    w = WorkingDays(specs)
    assert w.is_working("base", D(2026, 12, 24)) and not w.is_working("base", D(2026, 12, 25))
    assert not w.is_working("base", D(2026, 12, 26))  # Saturday
    assert not w.is_working("de", D(2026, 12, 24)) and not w.is_working("de", D(2026, 12, 25))  # own + included
    assert w.is_working("quarter-end", D(2026, 12, 26))
    assert w.is_working("no-qe", D(2026, 12, 30)) and not w.is_working("no-qe", D(2026, 12, 31))  # excluded
    assert not w.is_working("unknown", D(2026, 12, 30))
    assert days_between(w, "de", D(2026, 12, 23), D(2026, 12, 29)) == (
        ["2026-12-23", "2026-12-28", "2026-12-29"], ["2026-12-24", "2026-12-25", "2026-12-26", "2026-12-27"])


def test_cycles_are_found_and_named() -> None:
    assert cycle({"a": cal("a", include=("b",)), "b": cal("b", exclude=("c",)), "c": cal("c", include=("a",))}) \
        == ["a", "b", "c", "a"]
    assert cycle({"a": cal("a", include=("b",)), "b": cal("b")}) is None


def test_bad_calendars_are_named() -> None:
    problems = dict(spec_problems(cal("x", ("2026-02-30", "tomorrow"), weekdays=(0, 8), include=("x",))))
    assert "holidays[0]" in problems and "holidays[1]" in problems and "working_weekdays" in problems
    assert "itself" in problems["include"]


# ---- jobs on calendars

def weekly(policy: int) -> jobs_pb2.JobSpec:
    spec = job("weekly")
    spec.schedules.add(cron="0 7 * * 5")  # Fridays
    spec.time_zone = "Europe/Berlin"
    spec.calendars.append("target2")
    spec.non_working_day = policy
    return spec


TARGET2 = WorkingDays({"target2": cal("target2", ("2027-03-26", "2027-03-29"))})


def local(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()


def first_two(policy: int) -> list[tuple[str, str]]:
    start = int(dt.datetime(2027, 3, 20, tzinfo=dt.UTC).timestamp() * 1000)
    it = slots_after(weekly(policy), start, TARGET2)
    return [(local(s.ms)[:16], s.moved_from) for s in (next(it), next(it))]


def test_non_working_day_policies() -> None:
    assert first_two(jobs_pb2.NON_WORKING_SKIP) == [("2027-04-02T07:00", ""), ("2027-04-09T07:00", "")]
    assert first_two(jobs_pb2.NON_WORKING_NEXT) == [("2027-03-30T07:00", "2027-03-26"), ("2027-04-02T07:00", "")]
    assert first_two(jobs_pb2.NON_WORKING_PREVIOUS)[0] == ("2027-03-25T08:00", "2027-03-26")  # CET: 07:00+01


def test_a_moved_slot_on_an_instant_that_fires_anyway_fires_once() -> None:
    daily = job("daily")
    daily.schedules.add(cron="0 7 * * *")
    daily.calendars.append("target2")
    daily.non_working_day = jobs_pb2.NON_WORKING_NEXT
    start = int(dt.datetime(2027, 3, 25, 12, tzinfo=dt.UTC).timestamp() * 1000)
    slots = [s.ms for s in slots_after(daily, start, TARGET2) if s.ms < start + 8 * 86_400_000]
    assert len(slots) == len(set(slots)) == 4  # 30, 31 March, 1, 2 April (26-29 moved onto the 30th's)


def test_moving_slots_needs_a_schedule_that_fires_seldom() -> None:
    busy = weekly(jobs_pb2.NON_WORKING_NEXT)
    busy.schedules.add(cron="* * * * *")
    assert any(p.field == "non_working_day" for p in schedule_problems(busy))


def test_business_date_with_a_day_boundary() -> None:
    spec = job("b")
    spec.time_zone = "Europe/Berlin"
    spec.business_day_start_minutes = 360
    at = int(dt.datetime(2027, 1, 5, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp() * 1000)
    assert business_date(spec, at) == "2027-01-04"
    assert business_date(spec, at + 4 * 3_600_000) == "2027-01-05"


# ---- the state

@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s")


class Apply:
    def __init__(self, store: Store) -> None:
        self.store, self.index, self.time = store, 0, 1_800_000_000_000

    def __call__(self, cmd: commands_pb2.Command) -> commands_pb2.CommandResult:
        self.index += 1
        batch = commands_pb2.CommandBatch(time_ms=self.time, commands=[cmd])
        out = self.store.apply(batch.SerializeToString(), self.index)
        assert out is not None
        return out[0]


def calendars_cmd(*specs: jobs_pb2.CalendarSpec) -> commands_pb2.Command:
    return commands_pb2.Command(apply_calendars=commands_pb2.ApplyCalendars(calendars=list(specs)))


def test_state_versions_references_and_recomputed_slots(store: Store) -> None:
    do = Apply(store)
    assert do(apply_cmd(weekly(jobs_pb2.NON_WORKING_SKIP))).code != 0  # no such calendar yet
    assert do(calendars_cmd(cal("target2"))).code == 0
    assert do(apply_cmd(weekly(jobs_pb2.NON_WORKING_SKIP))).code == 0
    before = store.schedule_state("weekly")
    assert before is not None and before.next_slot_ms
    # Make the next Friday a holiday: the job's next slot moves a week on at once.
    friday = dt.datetime.fromtimestamp(before.next_slot_ms / 1000, dt.UTC).date().isoformat()
    result = do(calendars_cmd(cal("target2", (friday,))))
    assert result.code == 0 and result.jobs[0].version == 2 and result.jobs[0].changed
    after = store.schedule_state("weekly")
    week = 7 * 86_400_000
    assert after is not None and after.next_slot_ms - before.next_slot_ms in (week, week - 3_600_000, week + 3_600_000)
    assert do(calendars_cmd(cal("target2", (friday,)))).jobs[0].changed is False  # the same calendar again
    refused = do(commands_pb2.Command(delete_calendar=commands_pb2.DeleteCalendar(name="target2")))
    assert refused.code != 0 and "weekly" in refused.message
    do(commands_pb2.Command(delete_job=commands_pb2.DeleteJob(name="weekly")))
    assert do(commands_pb2.Command(delete_calendar=commands_pb2.DeleteCalendar(name="target2"))).code == 0
    assert store.get_calendar("target2") is None and store.get_calendar("target2", 2) is not None


def test_state_refuses_cycles_and_unknown_references(store: Store) -> None:
    do = Apply(store)
    assert "no calendar 'b'" in do(calendars_cmd(cal("a", include=("b",)))).message
    assert do(calendars_cmd(cal("a"), cal("b", include=("a",)))).code == 0
    looped = do(calendars_cmd(cal("a", exclude=("b",))))
    assert looped.code != 0 and "cycle: a -> b -> a" in looped.message

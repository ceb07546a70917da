"""Per-task policies (scheduler/task_policy.py): retry decisions and backoff, switch cases,
business-day arithmetic of waits, timeout outcomes, the keys waits are indexed by."""

from __future__ import annotations

import datetime as dt

import pytest

from wloadctl.proto.v1 import workflows_pb2
from wloadctl.scheduler import task_policy as tp

RP = workflows_pb2.RetryPolicy


@pytest.mark.parametrize(("policy", "attempt", "code", "retry"), [
    (RP(), 1, 1, False),
    (RP(attempts=2), 1, 1, True),
    (RP(attempts=2), 2, 1, True),
    (RP(attempts=2), 3, 1, False),
    (RP(attempts=2, exit_codes=[75, 76]), 1, 76, True),
    (RP(attempts=2, exit_codes=[75]), 1, 1, False),
    (RP(attempts=2, exit_codes=[-1]), 1, tp.NO_EXIT_CODE, True),
    (RP(attempts=500), 21, 1, False),  # bounded whatever the stored policy says
])
def test_should_retry(policy: workflows_pb2.RetryPolicy, attempt: int, code: int, retry: bool) -> None:
    assert tp.should_retry(policy, attempt, code) is retry


@pytest.mark.parametrize(("policy", "delays"), [
    (RP(attempts=3), [0, 0, 0]),
    (RP(attempts=3, delay_seconds=5), [5000, 5000, 5000]),
    (RP(attempts=4, delay_seconds=5, exponential=True), [5000, 10_000, 20_000, 40_000]),
    (RP(attempts=4, delay_seconds=5, exponential=True, max_delay_seconds=12), [5000, 10_000, 12_000, 12_000]),
    (RP(attempts=20, delay_seconds=60, exponential=True), [60_000, 120_000, 240_000, 480_000]),
])
def test_retry_delay_fixed_exponential_and_capped(policy: workflows_pb2.RetryPolicy, delays: list[int]) -> None:
    assert [tp.retry_delay_ms(policy, a) for a in range(1, len(delays) + 1)] == delays


def test_exponential_delay_never_exceeds_the_default_cap() -> None:
    policy = RP(attempts=20, delay_seconds=86400, exponential=True)
    assert all(tp.retry_delay_ms(policy, a) == tp.DEFAULT_MAX_DELAY_S * 1000 for a in range(1, 200))


def test_the_first_case_that_holds_wins_and_the_default_is_last() -> None:
    cases = [workflows_pb2.SwitchCase(when="a", run=["x"]), workflows_pb2.SwitchCase(when="b", run=["y", "z"]),
             workflows_pb2.SwitchCase(run=["d"])]
    asked: list[str] = []

    def holds(text: str) -> bool:
        asked.append(text)
        return text in truths

    truths = {"b"}
    assert tp.choose_case(cases, holds) == ["y", "z"] and asked == ["a", "b"]
    truths = {"a", "b"}
    assert tp.choose_case(cases, holds) == ["x"]
    truths = set()
    assert tp.choose_case(cases, holds) == ["d"]
    assert tp.choose_case(cases[:2], holds) == []


@pytest.mark.parametrize(("day", "shift", "expected"), [
    ("2026-11-30", -1, "2026-11-27"),   # Monday -> Friday
    ("2026-11-27", -1, "2026-11-26"),
    ("2026-11-28", -1, "2026-11-27"),   # a Saturday run: the working day before
    ("2026-11-27", 1, "2026-11-30"),
    ("2026-11-30", -5, "2026-11-23"),
    ("2026-11-30", 0, "2026-11-30"),
])
def test_business_days_by_weekdays(day: str, shift: int, expected: str) -> None:
    got = tp.shift_business_days(dt.date.fromisoformat(day), shift, tp.weekday_working)
    assert got.isoformat() == expected


def test_business_days_skip_holidays_of_a_calendar() -> None:
    holidays = {dt.date(2026, 12, 25), dt.date(2026, 12, 28)}

    def working(d: dt.date) -> bool:
        return tp.weekday_working(d) and d not in holidays

    assert tp.shift_business_days(dt.date(2026, 12, 29), -1, working) == dt.date(2026, 12, 24)


def test_a_calendar_without_working_days_ends_the_search() -> None:
    got = tp.shift_business_days(dt.date(2026, 1, 1), -3, lambda d: False)
    assert got < dt.date(2026, 1, 1)  # bounded: an answer, not a hang


@pytest.mark.parametrize(("policy", "outcome"), [("", "failed"), ("fail", "failed"), ("skip", "skipped"),
                                                  ("run", "run"), ("bogus", "failed")])
def test_timeout_outcome(policy: str, outcome: str) -> None:
    assert tp.timeout_outcome(policy) == outcome


def test_dependency_keys_and_descriptions() -> None:
    ED = workflows_pb2.ExternalDependency
    assert tp.dependency_key(ED(workflow="w", task="t"), "own", "2026-11-27") == "W\0w\0t\x002026-11-27"
    assert tp.dependency_key(ED(task="t", business_days=-1), "own", "2026-11-27") == "W\0own\0t\x002026-11-27"
    assert tp.dependency_key(ED(job="j"), "own", "2026-11-27") == "J\0j\0\x002026-11-27"
    assert tp.describe_dependency(ED(workflow="w"), "2026-11-27") == "workflow w (business date 2026-11-27) to succeed"
    assert tp.describe_dependency(ED(job="j"), "2026-11-27") == "job j (business date 2026-11-27) to succeed"

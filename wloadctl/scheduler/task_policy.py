"""Per-task policies of workflow runs: retries and their backoff, switch cases, waits on other
workflows by business date. Pure: no clock (times are passed in), no I/O, deterministic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from wloadctl.proto.v1 import workflows_pb2
from wloadctl.scheduler.calendars import DEFAULT_WEEKDAYS

MAX_RETRIES = 20
DEFAULT_MAX_DELAY_S = 3600
# A run that ended without an exit code of its own (timed out, killed, lost with its agent).
NO_EXIT_CODE = -1
# How far a wait may reach in business days (a typo of -1000 would otherwise scan years of calendar).
MAX_BUSINESS_DAYS = 366
ON_TIMEOUT = ("fail", "skip", "run")


def should_retry(policy: workflows_pb2.RetryPolicy, attempt: int, exit_code: int) -> bool:
    """Whether a task whose ``attempt``-th run (1-based) failed with ``exit_code`` runs again."""
    if attempt > min(policy.attempts, MAX_RETRIES):
        return False
    return not policy.exit_codes or exit_code in policy.exit_codes


def retry_delay_ms(policy: workflows_pb2.RetryPolicy, attempt: int) -> int:
    """The wait before run ``attempt + 1`` after run ``attempt`` failed: the delay, doubled per retry
    when exponential, never above the cap."""
    cap = (policy.max_delay_seconds or DEFAULT_MAX_DELAY_S) * 1000
    delay = policy.delay_seconds * 1000
    if policy.exponential and delay:
        delay <<= min(max(attempt - 1, 0), 40)  # bounded shift: the cap applies long before
    return min(delay, cap)


def choose_case(cases: Sequence[workflows_pb2.SwitchCase], holds: Callable[[str], bool]) -> list[str]:
    """The tasks of the first case whose condition holds (``""`` is the default case), or none."""
    for case in cases:
        if not case.when or holds(case.when):
            return list(case.run)
    return []


def shift_business_days(day: dt.date, days: int, is_working: Callable[[dt.date], bool]) -> dt.date:
    """``day`` moved by ``days`` working days (-1: the working day before it). 0 is the day itself,
    whatever it is. Bounded: a calendar with no working day in reach answers the furthest day tried."""
    if days == 0:
        return day
    step = dt.timedelta(days=1 if days > 0 else -1)
    left = min(abs(days), MAX_BUSINESS_DAYS)
    current = day
    for _ in range(left * 7 + 14):  # enough for any calendar with one working day a week
        current += step
        if is_working(current):
            left -= 1
            if left == 0:
                return current
    return current


def weekday_working(day: dt.date) -> bool:
    """The working days when no calendar is named: a calendar's default (Monday to Friday)."""
    return day.isoweekday() in DEFAULT_WEEKDAYS


def timeout_outcome(policy: str) -> str:
    """What a wait that timed out does to its task: ``failed``, ``skipped`` or ``run``."""
    return {"": "failed", "fail": "failed", "skip": "skipped", "run": "run"}.get(policy, "failed")


def job_fact(job: str, date: str) -> str:
    """The key of "a run of ``job`` of business date ``date`` succeeded"."""
    return f"J\0{job}\0\0{date}"


def task_fact(workflow: str, task: str, date: str) -> str:
    """The key of "``task`` of a run of ``workflow`` of ``date`` succeeded" ("" task: the whole run)."""
    return f"W\0{workflow}\0{task}\0{date}"


def dependency_key(dep: workflows_pb2.ExternalDependency, own_workflow: str, date: str) -> str:
    """What a wait waits for, as the state indexes it: the dependency's target for ``date``."""
    if dep.job:
        return job_fact(dep.job, date)
    return task_fact(dep.workflow or own_workflow, dep.task, date)


def describe_dependency(dep: workflows_pb2.ExternalDependency, date: str) -> str:
    if dep.job:
        return f"job {dep.job} (business date {date}) to succeed"
    what = f"task {dep.task} of workflow {dep.workflow}" if dep.task else f"workflow {dep.workflow}"
    return f"{what} (business date {date}) to succeed"

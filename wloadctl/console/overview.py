"""The overview's numbers, from the same API calls the CLI makes (so they equal `wloadctl ... -o json`).

| number | API call | the CLI's equivalent |
| --- | --- | --- |
| jobs, workflows defined | ListJobs (every page), ListWorkflows | `get jobs`, `get workflows` |
| running, dispatched, queued, waiting now | ListRuns with a state | `get runs --state S` |
| outcomes per day, runs per hour | ListRuns, newest first, back to the same day last week | `get runs` |
| agents online and their load | ListAgents | `get agents` |
| leader, quorum, epoch, takeover phase | Status | `cluster status` |

Days and hours are UTC, as the CLI prints times. A run counts on the day it was created. Success
rate: SUCCEEDED / (SUCCEEDED + FAILED + TIMED_OUT + LOST); KILLED and SKIPPED are someone's
decision, not an outcome, and are shown apart. The day counts read at most ``SCAN_LIMIT`` runs
(each ListRuns page carries every run's job definition): beyond that the page says the figures are
partial. A summary RPC (`report runs`) is the way to make this cheap with millions of runs.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from wloadctl.proto.v1 import api_pb2, runs_pb2

RS = runs_pb2.RunState
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SCAN_LIMIT = 20_000
FAILED_STATES = frozenset({RS.FAILED, RS.TIMED_OUT, RS.LOST})
ACTIVE_STATES = {"running": RS.RUNNING, "dispatched": RS.DISPATCHED, "queued": RS.QUEUED, "pending": RS.PENDING,
                 "retry_wait": RS.RETRY_WAIT}


@dataclass
class DayCounts:
    label: str
    date: str                  # YYYY-MM-DD (UTC)
    start_ms: int
    created: int = 0
    succeeded: int = 0
    failed: int = 0            # FAILED, TIMED_OUT, LOST
    killed: int = 0
    skipped: int = 0

    @property
    def decided(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.decided if self.decided else None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.decided if self.decided else None


@dataclass
class Activity:
    """Run outcomes today, yesterday and the same day last week, and today's runs per hour."""

    days: list[DayCounts]
    hourly: list[int] = field(default_factory=lambda: [0] * 24)           # runs created, per UTC hour today
    hourly_scheduled: list[int] = field(default_factory=lambda: [0] * 24)  # of which fired by a schedule
    scanned: int = 0
    partial: bool = False      # SCAN_LIMIT reached before the oldest day was read through

    @property
    def peak_hour(self) -> int | None:
        top = max(self.hourly)
        return self.hourly.index(top) if top else None

    @property
    def hourly_max(self) -> int:
        return max(self.hourly) or 1

    @property
    def oldest_ms(self) -> int:
        return min(d.start_ms for d in self.days)


def midnight_ms(now_ms: int) -> int:
    return now_ms - now_ms % DAY_MS


def new_activity(now_ms: int) -> Activity:
    today = midnight_ms(now_ms)

    def day(label: str, start: int) -> DayCounts:
        date = datetime.datetime.fromtimestamp(start / 1000, datetime.UTC).strftime("%Y-%m-%d")
        return DayCounts(label, date, start)

    return Activity([day("today", today), day("yesterday", today - DAY_MS),
                     day("same day last week", today - 7 * DAY_MS)])


def count_run(activity: Activity, run: runs_pb2.Run) -> None:
    activity.scanned += 1
    for day in activity.days:
        if day.start_ms <= run.created_ms < day.start_ms + DAY_MS:
            day.created += 1
            if run.state == RS.SUCCEEDED:
                day.succeeded += 1
            elif run.state in FAILED_STATES:
                day.failed += 1
            elif run.state == RS.KILLED:
                day.killed += 1
            elif run.state == RS.SKIPPED:
                day.skipped += 1
            if day is activity.days[0]:
                hour = (run.created_ms - day.start_ms) // HOUR_MS
                activity.hourly[hour] += 1
                if run.slot_ms:
                    activity.hourly_scheduled[hour] += 1


def count_runs(activity: Activity, runs: Iterable[runs_pb2.Run]) -> bool:
    """Add runs (newest first); False once they are older than the oldest day (stop reading)."""
    for run in runs:
        if run.created_ms < activity.oldest_ms:
            return False
        count_run(activity, run)
    return True


@dataclass
class AgentLoad:
    agent_id: str
    hostname: str
    online: bool
    running: int
    capacity: int

    @property
    def load(self) -> float:
        return self.running / self.capacity if self.capacity else 0.0


def agent_loads(answer: api_pb2.ListAgentsResponse) -> list[AgentLoad]:
    """Online: connected to the answering replica (the leader) and not lost, as `get agents` shows."""
    return [AgentLoad(a.agent.agent_id, a.agent.hostname, a.connected and not a.agent.lost_ms, a.running,
                      a.agent.capacity) for a in answer.agents]

"""The overview's numbers, from the same API calls the CLI makes (so they equal `wloadctl ... -o json`).

| number | API call | the CLI's equivalent |
| --- | --- | --- |
| jobs, workflows defined | Summarize (counts the state keeps per domain) | `report summary`, `get jobs` |
| running, dispatched, queued, waiting now | Summarize | `report summary`, `get runs --state S` |
| outcomes per day, runs per hour | Summarize | `report summary`, `get runs` |
| agents online and their load | ListAgents | `get agents` |
| leader, quorum, epoch, takeover phase | Status | `cluster status` |

Days and hours are UTC, as the CLI prints times. A run counts on the day it was created. Success
rate: SUCCEEDED / (SUCCEEDED + FAILED + TIMED_OUT + LOST); KILLED and SKIPPED are someone's
decision, not an outcome, and are shown apart. The counts are kept by the state per domain
(state/stats.py), so the overview costs the same with a million jobs and runs; count_runs remains
for callers that count listed runs themselves.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from wloadctl.proto.v1 import api_pb2, runs_pb2

RS = runs_pb2.RunState
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
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
    partial: bool = False      # kept for the template: counts from the state are never partial

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


def activity_from_summary(activity: Activity, summary: api_pb2.Summary) -> None:
    """Fill ``activity`` (made by new_activity) from RunService/Summarize's totals, asked for
    ``[d.date for d in activity.days]`` and the hours of today."""
    by_date = {d.date: d.runs_by_state for d in summary.total.days}
    for day in activity.days:
        states = by_date.get(day.date, {})
        day.created = sum(states.values())
        day.succeeded = states.get("SUCCEEDED", 0)
        day.failed = sum(states.get(RS.Name(s), 0) for s in FAILED_STATES)
        day.killed = states.get("KILLED", 0)
        day.skipped = states.get("SKIPPED", 0)
    today = activity.days[0].date
    for hour in summary.total.hours:
        if hour.hour[:10] == today and hour.hour[11:13].isdigit():
            activity.hourly[int(hour.hour[11:13])] = hour.created
            activity.hourly_scheduled[int(hour.hour[11:13])] = hour.fired


def active_from_summary(summary: api_pb2.Summary) -> dict[str, int]:
    return {name: summary.total.runs_by_state.get(RS.Name(state), 0) for name, state in ACTIVE_STATES.items()}


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

"""Run reports: runs grouped by domain, agent, job or workflow and a time bucket. Pure: no I/O, no clock.

The replica feeds a `RunReportBuilder` the runs of a time range (wloadctl/state/reports.py reads
them from one LMDB transaction); the builder counts them per group and returns an
`api_pb2.RunReport`. The CLI (`wloadctl report runs`) and the web console turn that message into a
table, CSV or XLSX with `cells()` and the writers in wloadctl/model/reportfiles.py, so every
consumer shows the same numbers.

Definitions (docs/cli.md, `wloadctl report runs`):

* A run belongs to the bucket of its **creation time** (`created_ms`: when it was triggered, fired,
  started by an event or by its workflow), in the report's time zone. Runs are stored in creation
  order, so a report reads only the runs of its range.
* Group keys: `domain` the job's business domain, `agent` the agent of the run's last attempt ("" if
  it was never placed), `job` the job, `workflow` the workflow of the workflow run the run is a task
  of ("" for runs outside workflows).
* `success_rate` = succeeded / (succeeded + failed + timed_out + killed): skipped and unfinished
  runs are left out of it.
* Durations are of final runs that started and finished on an agent: started -> finished of their
  last attempt. Percentiles are nearest-rank (always a duration that occurred).
* Failure classes (FAILURE_CLASSES): what made a run end without success, from the state the run
  ended in and how the state machine recorded its end (wloadctl/state/runs.py).
"""

from __future__ import annotations

import datetime
import math
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wloadctl.proto.v1 import api_pb2, runs_pb2

__all__ = ["BUCKETS", "DEFAULT_BUCKET", "FAILURE_CLASSES", "GROUP_BY", "MAX_ROWS", "ReportError",
           "RunReportBuilder", "TooManyRows", "bucket_bounds", "duration_ms", "failure_class", "percentile",
           "time_zone"]

RS = runs_pb2.RunState
GROUP_BY = ("domain", "agent", "job", "workflow")
BUCKETS = ("hour", "day", "week", "none")
DEFAULT_BUCKET = "day"
# Rows in one report (groups x buckets): the answer stays a few MiB, well under the gRPC message limit.
MAX_ROWS = 20_000

# Why a run ended without success. The order is the documented one (tables and files list them so).
FAILURE_CLASSES: dict[str, str] = {
    "exit_code": "FAILED: the command exited with a non-zero code",
    "start_failed": "FAILED: the agent could not start the command (program, user or directory missing)",
    "rejected": "FAILED: the agent's policy refused the job (runAs, command or script not allowed)",
    "agent_lost": "FAILED: its agent was lost (or restarted) while it ran, and no attempt was left",
    "timed_out": "TIMED_OUT: it ran longer than its timeout and was stopped",
    "killed": "KILLED: a kill was requested (by a user, its workflow or an overlap policy)",
    "orphaned": "KILLED: its agent lost every leader for longer than its lease and applied its orphan policy",
    "other": "FAILED for a reason none of the above names",
}
# Plain ints: looking a value up on the enum wrapper (RS.FAILED) costs more than the rest of a run's counting.
_SUCCEEDED, _FAILED, _TIMED_OUT, _KILLED, _SKIPPED, _LOST = (
    int(RS.Value(n)) for n in ("SUCCEEDED", "FAILED", "TIMED_OUT", "KILLED", "SKIPPED", "LOST"))
_FINAL = frozenset({_SUCCEEDED, _FAILED, _TIMED_OUT, _KILLED, _SKIPPED})
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000


class ReportError(ValueError):
    """A report that cannot be made as asked; the message names the field."""


class TooManyRows(ReportError):
    """The report would hold more than its maximum of rows."""


def failure_class(run: runs_pb2.Run) -> str:
    """The failure class of a run that ended without success ("" for any other run)."""
    state = run.state
    if state == _TIMED_OUT:
        return "timed_out"
    if state != _FAILED and state != _KILLED:
        return ""
    transitions = run.transitions
    last = transitions[-1] if transitions else None
    if state == _KILLED:
        # The agent killed it by itself (orphan policy): state/runs.py records "killed (orphan policy: ...)".
        return "orphaned" if last is not None and "orphan policy" in last.cause and not run.kill_requested \
            else "killed"
    if len(transitions) >= 2 and transitions[-2].state == _LOST:
        return "agent_lost"  # LOST, then FAILED in the same step: the lost policy or the attempts ran out
    if run.error.startswith("rejected by "):
        return "rejected"
    if run.error or (last is not None and last.cause.startswith("could not start")):
        return "start_failed"
    if run.exit_code != 0:
        return "exit_code"
    return "other"


def duration_ms(run: runs_pb2.Run) -> int | None:
    """started -> finished of a final run's last attempt; None when it did not both start and finish."""
    if run.state not in _FINAL or not run.started_ms or not run.finished_ms or run.finished_ms < run.started_ms:
        return None
    return run.finished_ms - run.started_ms


def percentile(ordered: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of ascending ``ordered`` (0 for no values): a value that occurred."""
    if not ordered:
        return 0
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def time_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of an IANA name (None for "" and "UTC": plain arithmetic is faster)."""
    if name in ("", "UTC"):
        return None
    if len(name) > 64 or "\0" in name:
        raise ReportError(f"time_zone: {name[:64]!r} is no IANA time zone")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"time_zone: {name!r} is no IANA time zone (like Europe/Berlin)") from None


def _ms(moment: datetime.datetime) -> int:
    return int(moment.timestamp()) * 1000


def bucket_bounds(ms: int, bucket: str, zone: zoneinfo.ZoneInfo | None = None) -> tuple[int, int]:
    """The [start, end) in ms of the hour, day or week (from Monday) that ``ms`` falls in, in ``zone``
    (None: UTC). A local day may last 23 or 25 hours; a midnight that a DST change skips begins at
    the change."""
    if zone is None:
        if bucket == "hour":
            start = ms - ms % _HOUR_MS
            return start, start + _HOUR_MS
        days = ms // _DAY_MS
        if bucket == "day":
            return days * _DAY_MS, (days + 1) * _DAY_MS
        if bucket == "week":
            monday = days - (days + 3) % 7  # 1970-01-01 was a Thursday
            return monday * _DAY_MS, (monday + 7) * _DAY_MS
        raise ReportError(f"bucket: {bucket!r} is not hour, day or week")
    local = datetime.datetime.fromtimestamp(ms // 1000, tz=zone)
    if bucket == "hour":
        start = _ms(local.replace(minute=0, second=0, microsecond=0))
        return start, start + _HOUR_MS
    if bucket not in ("day", "week"):
        raise ReportError(f"bucket: {bucket!r} is not hour, day or week")
    first = local.date() - datetime.timedelta(days=local.weekday() if bucket == "week" else 0)
    after = first + datetime.timedelta(days=7 if bucket == "week" else 1)

    def midnight(day: datetime.date) -> int:
        return _ms(datetime.datetime(day.year, day.month, day.day, tzinfo=zone))

    return midnight(first), midnight(after)


@dataclass
class _Group:
    runs: int = 0
    by_state: dict[int, int] = field(default_factory=dict)
    durations: list[int] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)

    def add(self, state: int, duration: int | None, failure: str) -> None:
        self.runs += 1
        self.by_state[state] = self.by_state.get(state, 0) + 1
        if duration is not None:
            self.durations.append(duration)
        if failure:
            self.classes[failure] = self.classes.get(failure, 0) + 1

    def merge(self, other: _Group) -> None:
        self.runs += other.runs
        for state, count in other.by_state.items():
            self.by_state[state] = self.by_state.get(state, 0) + count
        self.durations += other.durations
        for name, count in other.classes.items():
            self.classes[name] = self.classes.get(name, 0) + count

    def row(self, key: str, start: int, end: int) -> api_pb2.RunReportRow:
        n = self.by_state.get
        succeeded, failed, timed_out, killed = n(_SUCCEEDED, 0), n(_FAILED, 0), n(_TIMED_OUT, 0), n(_KILLED, 0)
        skipped = n(_SKIPPED, 0)
        rated = succeeded + failed + timed_out + killed
        ordered = sorted(self.durations)
        return api_pb2.RunReportRow(
            key=key, bucket_start_ms=start, bucket_end_ms=end, runs=self.runs, succeeded=succeeded, failed=failed,
            timed_out=timed_out, killed=killed, skipped=skipped, unfinished=self.runs - rated - skipped,
            success_rate=round(succeeded / rated, 6) if rated else 0.0, durations=len(ordered),
            duration_p50_ms=percentile(ordered, 50), duration_p95_ms=percentile(ordered, 95),
            duration_max_ms=ordered[-1] if ordered else 0, failure_classes=self.classes)


class RunReportBuilder:
    """Counts the runs it is given (``add``) into rows; ``report()`` answers the RunReport.

    ``from_ms``/``to_ms`` (0: no end) only label the report and its `none` bucket: the caller gives
    the runs of that range. Raises ReportError for a request it cannot answer, and from ``add``
    once the report would hold more than ``max_rows`` rows."""

    def __init__(self, by: str, from_ms: int, to_ms: int = 0, bucket: str = "", zone_name: str = "",
                 max_rows: int = MAX_ROWS) -> None:
        if by not in GROUP_BY:
            raise ReportError(f"by: {by!r} is not one of {', '.join(GROUP_BY)}")
        bucket = bucket or DEFAULT_BUCKET
        if bucket not in BUCKETS:
            raise ReportError(f"bucket: {bucket!r} is not one of {', '.join(BUCKETS)}")
        if from_ms <= 0:
            raise ReportError("from_ms: required (runs created at or after it are counted)")
        if to_ms and to_ms <= from_ms:
            raise ReportError(f"to_ms: {to_ms} is not after from_ms {from_ms}")
        self.by, self.bucket, self.from_ms, self.to_ms, self.zone_name = by, bucket, from_ms, to_ms, zone_name
        self.zone = time_zone(zone_name)
        self.max_rows = max_rows
        self._groups: dict[tuple[int, str], _Group] = {}
        self._ends: dict[int, int] = {}
        self._bounds = (0, 0)  # the last bucket looked up: runs come in time order, so mostly this one

    def key(self, run: runs_pb2.Run, workflow: str = "") -> str:
        if self.by == "domain":
            return run.spec.domain
        if self.by == "agent":
            return run.agent_id
        if self.by == "job":
            return run.job_name
        return workflow

    def _bucket(self, created_ms: int) -> int:
        if self.bucket == "none":
            return self.from_ms
        start, end = self._bounds
        if not start <= created_ms < end:
            start, end = self._bounds = bucket_bounds(created_ms, self.bucket, self.zone)
            self._ends[start] = end
        return start

    def add(self, run: runs_pb2.Run, workflow: str = "") -> None:
        """Count ``run``; ``workflow`` is the name of the workflow it is a task of ("" for none)."""
        group_key = (self._bucket(run.created_ms), self.key(run, workflow))
        group = self._groups.get(group_key)
        if group is None:
            if len(self._groups) >= self.max_rows:
                raise TooManyRows(f"the report would have more than {self.max_rows} rows: choose a larger bucket, "
                                  "a shorter time range or one domain")
            group = self._groups[group_key] = _Group()
        group.add(run.state, duration_ms(run), failure_class(run))

    def add_all(self, runs: Iterable[runs_pb2.Run], workflows: dict[str, str] | None = None) -> None:
        """Count every run of ``runs``; ``workflows`` maps workflow run ids to workflow names."""
        for run in runs:
            self.add(run, (workflows or {}).get(run.workflow_run_id, ""))

    def report(self, truncated: bool = False, covered_to_ms: int = 0) -> api_pb2.RunReport:
        out = api_pb2.RunReport(by=self.by, bucket=self.bucket, from_ms=self.from_ms, to_ms=self.to_ms,
                                time_zone=self.zone_name, truncated=truncated,
                                covered_to_ms=covered_to_ms if truncated else self.to_ms)
        total = _Group()
        for (start, key), group in sorted(self._groups.items()):
            end = self.to_ms if self.bucket == "none" else self._ends[start]
            out.rows.append(group.row(key, start, end))
            total.merge(group)
        out.total.CopyFrom(total.row("", self.from_ms, out.covered_to_ms))
        return out

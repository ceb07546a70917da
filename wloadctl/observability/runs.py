"""Run counters and latency histograms, derived from the change feed (state/changes.py).

Every replica applies the same entries, so every replica counts the same runs: a counter here says
what the cluster did since this replica started, whichever replica led (dashboards take ``max``
over replicas, not ``sum``). Counting follows each run's transitions, which the state appends in
order, so a run that changes several times within one entry or between two reads of the feed is
still counted once per transition.

The tracker is pure (runs in, numbers out) and unit-tested; RunMetrics feeds it from the feed
on the event loop, never on the Raft thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator

from google.protobuf.message import DecodeError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from wloadctl.model.runreport import FAILURE_CLASSES, failure_class
from wloadctl.observability.histogram import LATENCY_BUCKETS_S, Buckets
from wloadctl.proto.v1 import runs_pb2
from wloadctl.state.changes import RUN, ChangeFeed, FeedGap
from wloadctl.state.runs import FINAL_STATES

log = logging.getLogger(__name__)

RS = runs_pb2.RunState
# Finished runs remembered (with how many of their transitions were counted) so that a later
# change to one (a mark, a late output) does not count its history again.
RECENT_FINISHED = 20_000
FEED_BATCH = 1000


def state_label(state: int) -> str:
    return RS.Name(state).lower() if state in RS.values() else "unknown"


class RunTracker:
    """Counts run transitions; knows each unfinished run's count of transitions already seen."""

    def __init__(self, since_ms: int = 0) -> None:
        # Transitions of runs first seen by this tracker count from this state time on: the runs that
        # exist when counting starts are not read (a million queued runs would make that slow), and
        # their earlier transitions are not counted again. The state's time never goes back.
        self.since_ms = since_ms
        self.created = 0
        self.transitions: Counter[str] = Counter()       # by the state entered
        self.finished: Counter[str] = Counter()          # by final state
        self.failed: Counter[str] = Counter()            # by failure class (model/runreport.py)
        self.retries = 0
        self.lost = 0
        self.trigger_to_start = Buckets(LATENCY_BUCKETS_S)   # job runs: created -> first attempt running
        self.workflow_hop = Buckets(LATENCY_BUCKETS_S)       # task runs: created (upstreams ended) -> running
        self._seen: dict[str, int] = {}
        self._finished: OrderedDict[str, int] = OrderedDict()

    def restart_at(self, since_ms: int) -> None:
        """Count from ``since_ms`` again, as if just started (after falling behind the feed)."""
        self.since_ms = since_ms
        self._seen.clear()
        self._finished.clear()

    def observe(self, run: runs_pb2.Run) -> None:
        run_id = run.run_id
        known = self._seen.get(run_id)
        if known is None:
            known = self._finished.get(run_id)
        transitions = run.transitions
        if known is None:
            known = 0
            while known < len(transitions) and transitions[known].time_ms < self.since_ms:
                known += 1
        for i in range(known, len(transitions)):
            self._count(run, transitions[i], i)
        if run.state in FINAL_STATES:
            self._seen.pop(run_id, None)
            self._finished[run_id] = len(transitions)
            self._finished.move_to_end(run_id)
            while len(self._finished) > RECENT_FINISHED:
                self._finished.popitem(last=False)
        else:
            self._seen[run_id] = len(transitions)

    def deleted(self, run_id: str) -> None:
        self._seen.pop(run_id, None)
        self._finished.pop(run_id, None)

    def _count(self, run: runs_pb2.Run, t: runs_pb2.Transition, position: int) -> None:
        if position == 0:
            self.created += 1
        state = t.state
        self.transitions[state_label(state)] += 1
        if state in FINAL_STATES:
            self.finished[state_label(state)] += 1
            if state != RS.SUCCEEDED and state != RS.SKIPPED:
                # The class reads how the run ended: known only while this is its latest transition.
                latest = position == len(run.transitions) - 1
                self.failed[(failure_class(run) if latest else "") or "other"] += 1
        elif state == RS.RETRY_WAIT:
            self.retries += 1
        elif state == RS.LOST:
            self.lost += 1
        elif state == RS.RUNNING and t.attempt <= 1 and run.created_ms and t.time_ms >= run.created_ms:
            delay = (t.time_ms - run.created_ms) / 1000
            (self.workflow_hop if run.workflow_run_id else self.trigger_to_start).observe(delay)

    @property
    def tracked(self) -> int:
        return len(self._seen)

    def families(self) -> Iterator[Metric]:
        yield CounterMetricFamily("wloadctl_runs_created", "Runs created (every trigger, rerun and workflow task)",
                                  value=self.created)
        entered = CounterMetricFamily("wloadctl_run_transitions", "Run state transitions, by the state entered",
                                      labels=["state"])
        for state in sorted(self.transitions):
            entered.add_metric([state], self.transitions[state])
        yield entered
        finished = CounterMetricFamily("wloadctl_runs_finished", "Runs that reached a final state, by that state",
                                       labels=["state"])
        for state in (RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED):
            label = state_label(state)
            finished.add_metric([label], self.finished.get(label, 0))
        yield finished
        failed = CounterMetricFamily("wloadctl_runs_failed", "Runs that ended without success (failed, timed "
                                     "out, killed), by failure class (docs/cli.md, report runs)",
                                     labels=["failure_class"])
        for name in FAILURE_CLASSES:
            failed.add_metric([name], self.failed.get(name, 0))
        yield failed
        yield CounterMetricFamily("wloadctl_run_retries", "Attempts that failed and wait to be retried",
                                  value=self.retries)
        yield CounterMetricFamily("wloadctl_runs_lost", "Runs whose agent's lease expired while they ran on it",
                                  value=self.lost)
        yield self.trigger_to_start.family(
            "wloadctl_run_trigger_to_start_seconds",
            "From a job run's creation (its trigger) to its first attempt running, by the state's clock")
        yield self.workflow_hop.family(
            "wloadctl_workflow_hop_seconds",
            "From a workflow task's run being created (its upstreams ended) to it running: the DAG hop")


class RunMetrics:
    """Follows the change feed and keeps a RunTracker current."""

    def __init__(self, feed: ChangeFeed, applied: int, state_time_ms: Callable[[], int]) -> None:
        self.feed = feed
        self.state_time_ms = state_time_ms
        self.tracker = RunTracker(state_time_ms())
        self.position = applied
        self.gaps = 0
        self._lock = threading.Lock()  # scrapes of the optional metrics_address port come from its thread
        self._task: asyncio.Task[None] | None = None

    def catch_up(self) -> None:
        """Read what the feed holds beyond our position (bounded work per call)."""
        with self._lock:
            self._catch_up()

    def _catch_up(self) -> None:
        for _ in range(1000):
            try:
                entries, reached = self.feed.since(self.position, FEED_BATCH)
            except FeedGap as gap:
                # Fell behind the feed's memory (or a snapshot replaced the state): runs that
                # changed meanwhile are counted from here on, their past transitions not at all.
                self.gaps += 1
                self.tracker.restart_at(self.state_time_ms())
                self.position = gap.first
                continue
            for entry in entries:
                for change in entry.changes:
                    if change.kind != RUN:
                        continue
                    if change.data is None:
                        self.tracker.deleted(change.key)
                        continue
                    try:
                        run = runs_pb2.Run.FromString(change.data)
                    except DecodeError:
                        continue
                    self.tracker.observe(run)
            self.position = reached
            if not entries:
                return

    def start(self, interval_s: float = 1.0) -> None:
        async def follow() -> None:
            while True:
                try:
                    self.catch_up()
                except Exception:
                    log.exception("run metrics: reading the change feed failed")
                await asyncio.sleep(interval_s)

        self._task = asyncio.get_running_loop().create_task(follow(), name="run-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def families(self) -> Iterator[Metric]:
        self.catch_up()
        yield from self.tracker.families()
        yield CounterMetricFamily("wloadctl_run_metrics_feed_gaps", "Times run counting fell behind the change "
                                  "feed and skipped transitions", value=self.gaps)
        yield GaugeMetricFamily("wloadctl_run_metrics_tracked_runs", "Unfinished runs the run counters follow",
                                value=self.tracker.tracked)


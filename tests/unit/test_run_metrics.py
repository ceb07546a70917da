"""Run counters from the change feed: every transition counted once, whatever batches it came in."""

from __future__ import annotations

from prometheus_client.core import Metric

from wloadctl.observability.histogram import Buckets
from wloadctl.observability.runs import RECENT_FINISHED, RunMetrics, RunTracker
from wloadctl.proto.v1 import runs_pb2
from wloadctl.state.changes import RUN, Change, ChangeFeed

RS = runs_pb2.RunState


def run(run_id: str, *states: tuple[int, int], workflow: str = "", created_ms: int = 1000) -> runs_pb2.Run:
    r = runs_pb2.Run(run_id=run_id, created_ms=created_ms, workflow_run_id=workflow)
    for state, at in states:
        r.transitions.add(state=state, time_ms=at, attempt=1)
        r.state = state
    return r


def values(metrics: list[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in metrics for s in m.samples}


def test_each_transition_counts_once_across_partial_views() -> None:
    t = RunTracker()
    t.observe(run("r1", (RS.QUEUED, 1000)))
    t.observe(run("r1", (RS.QUEUED, 1000), (RS.DISPATCHED, 1100)))
    # The same record seen again (another change in a later entry) adds nothing.
    t.observe(run("r1", (RS.QUEUED, 1000), (RS.DISPATCHED, 1100)))
    t.observe(run("r1", (RS.QUEUED, 1000), (RS.DISPATCHED, 1100), (RS.RUNNING, 1250), (RS.SUCCEEDED, 2000)))
    assert t.created == 1
    assert t.transitions == {"queued": 1, "dispatched": 1, "running": 1, "succeeded": 1}
    assert t.finished == {"succeeded": 1}
    assert t.trigger_to_start.total == 1 and abs(t.trigger_to_start.sum - 0.25) < 1e-9
    assert t.tracked == 0
    # A finished run changed later (marked, say) counts only the new transition.
    t.observe(run("r1", (RS.QUEUED, 1000), (RS.DISPATCHED, 1100), (RS.RUNNING, 1250), (RS.SUCCEEDED, 2000),
                  (RS.FAILED, 3000)))
    assert t.finished == {"succeeded": 1, "failed": 1} and t.created == 1
    assert t.failed == {"other": 1}


def test_failures_are_counted_by_class() -> None:
    t = RunTracker()
    failed = run("f1", (RS.QUEUED, 1), (RS.RUNNING, 2), (RS.FAILED, 3))
    failed.exit_code = 3
    t.observe(failed)
    t.observe(run("f2", (RS.QUEUED, 1), (RS.RUNNING, 2), (RS.TIMED_OUT, 3)))
    killed = run("f3", (RS.QUEUED, 1), (RS.KILLED, 2))
    killed.kill_requested = True
    t.observe(killed)
    t.observe(run("f4", (RS.QUEUED, 1), (RS.RUNNING, 2), (RS.LOST, 3), (RS.FAILED, 3)))
    assert t.failed == {"exit_code": 1, "timed_out": 1, "killed": 1, "agent_lost": 1}
    families = values(list(t.families()))
    assert families[("wloadctl_runs_failed_total", (("failure_class", "rejected"),))] == 0
    assert families[("wloadctl_runs_failed_total", (("failure_class", "exit_code"),))] == 1


def test_retries_losses_and_workflow_hops() -> None:
    t = RunTracker()
    t.observe(run("r2", (RS.QUEUED, 1000), (RS.DISPATCHED, 1010), (RS.LOST, 5000), (RS.RETRY_WAIT, 5000)))
    assert t.lost == 1 and t.retries == 1 and t.tracked == 1
    t.observe(run("w1", (RS.QUEUED, 1000), (RS.RUNNING, 1021), workflow="w7"))
    assert t.workflow_hop.total == 1 and abs(t.workflow_hop.sum - 0.021) < 1e-9
    assert t.trigger_to_start.total == 0
    families = values(list(t.families()))
    assert families[("wloadctl_runs_lost_total", ())] == 1
    assert families[("wloadctl_run_retries_total", ())] == 1
    assert families[("wloadctl_workflow_hop_seconds_count", ())] == 1
    assert families[("wloadctl_runs_finished_total", (("state", "succeeded"),))] == 0


def test_runs_existing_at_start_are_not_counted_again() -> None:
    t = RunTracker(since_ms=1150)  # the state's time when counting began
    t.observe(run("r3", (RS.QUEUED, 1000), (RS.DISPATCHED, 1100), (RS.RUNNING, 1200)))
    assert t.created == 0 and t.transitions == {"running": 1}
    t.observe(run("r4", (RS.QUEUED, 1150)))
    assert t.created == 1


def test_finished_memory_is_bounded() -> None:
    t = RunTracker()
    for i in range(RECENT_FINISHED + 10):
        t.observe(run(f"r{i}", (RS.QUEUED, 1), (RS.SUCCEEDED, 2)))
    assert len(t._finished) == RECENT_FINISHED and t.tracked == 0


def test_the_feed_follower_counts_entries_and_survives_a_gap() -> None:
    feed = ChangeFeed(applied=0, max_entries=3)
    metrics = RunMetrics(feed, 0, lambda: 0)
    feed.append(1, (Change(RUN, "r1", run("r1", (RS.QUEUED, 1)).SerializeToString()),))
    feed.append(2, (Change(RUN, "r1", run("r1", (RS.QUEUED, 1), (RS.SUCCEEDED, 2)).SerializeToString()),))
    metrics.catch_up()
    assert metrics.tracker.finished == {"succeeded": 1} and metrics.position == 2
    for i in range(3, 10):  # more than the feed keeps: the follower falls behind
        feed.append(i, (Change(RUN, f"r{i}", run(f"r{i}", (RS.QUEUED, 1)).SerializeToString()),))
    metrics.catch_up()
    assert metrics.gaps == 1 and metrics.position == 9
    assert metrics.tracker.created == 1 + 3  # r1, then the three entries the feed still held
    feed.append(10, (Change(RUN, "r9", None),))
    metrics.catch_up()
    assert metrics.position == 10


def test_buckets_are_cumulative_and_inclusive() -> None:
    b = Buckets((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        b.observe(v)
    assert b.counts == [2, 4] and b.total == 5 and abs(b.sum - 8.65) < 1e-9
    family = b.family("x_seconds", "doc")
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("x_seconds_bucket", "0.1")] == 2 and samples[("x_seconds_bucket", "+Inf")] == 5

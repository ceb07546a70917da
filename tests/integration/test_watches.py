"""Watches (issue 13): every change of every run seen once, in commit order, across a leader kill
and the client's reconnect; a consumer that reads nothing is cut off and the replica stays healthy;
the CLI follows runs without polling."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from collections.abc import Iterator

import grpc
import pytest

from wloadctl.client import FINAL_RUN_STATES, ClientError
from wloadctl.proto.v1 import jobs_pb2, runs_pb2, watch_pb2, watch_pb2_grpc
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration
WE = watch_pb2.WatchEvent
RS = runs_pb2.RunState


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("watch") / "c", size=3, insecure=True,
                     control={"watch_send_timeout_seconds": 2, "watch_feed_mib": 1})
    try:
        c.start()
        c.wait_for_leader()
        c.add_agent("a1", capacity=8)
        yield c
    finally:
        c.stop()


def _collect(cluster: LocalCluster, servers: list[str], stop: threading.Event, events: list[watch_pb2.WatchEvent],
             errors: list[BaseException], resumes: list[int]) -> None:
    try:
        with cluster.client(servers, retry_for=60) as c:
            for event in c.watch_runs(job_name="w-short"):
                events.append(event)
                if stop.is_set():
                    resumes.append(c.watch_resumes)
                    return
    except BaseException as e:  # reported by the test
        errors.append(e)


def test_every_change_of_every_run_is_seen_once_in_commit_order_across_a_leader_kill(cluster: LocalCluster) -> None:
    with cluster.client() as c:
        c.apply_jobs([jobs_pb2.JobSpec(name="w-short", command=jobs_pb2.JobCommand(shell="sleep 0.2"))])
        stop = threading.Event()
        events: list[watch_pb2.WatchEvent] = []
        errors: list[BaseException] = []
        resumes: list[int] = []
        # The watch streams from the leader, which is then killed: the client resumes elsewhere.
        leader = cluster.wait_for_leader()
        servers = [leader.api_address] + [r.api_address for r in cluster.replicas if r is not leader]
        watcher = threading.Thread(target=_collect, args=(cluster, servers, stop, events, errors, resumes),
                                   daemon=True)
        watcher.start()
        wait_for(lambda: any(e.type == WE.SYNCED for e in events), 30, "the watch's snapshot")
        run_ids = [c.trigger_run("w-short").run_id for _ in range(15)]
        cluster.kill(leader)
        run_ids += [c.trigger_run("w-short").run_id for _ in range(15)]
        cluster.start(leader)
        finals = {rid: c.wait_run(rid, 90) for rid in run_ids}
        last_index = c.last_index

        def seen_all() -> bool:
            done = {e.run.run_id for e in events if e.type == WE.PUT and e.run.state in FINAL_RUN_STATES}
            return set(run_ids) <= done and max((e.index for e in events), default=0) >= 0

        wait_for(seen_all, 60, "every run's final state through the watch")
        stop.set()
        c.trigger_run("w-short")  # one more change, so the watcher's loop sees the stop
        watcher.join(timeout=30)
    assert errors == []
    assert resumes and resumes[0] >= 1, "the watch was not cut by the leader's kill"
    synced = [i for i, e in enumerate(events) if e.type == WE.SYNCED]
    assert len(synced) == 1, "the watch resumed after the kill instead of starting over"
    changes = [e for e in events[synced[0] + 1:] if e.type in (WE.PUT, WE.DELETE)]
    indexes = [e.index for e in changes]
    assert indexes == sorted(indexes), "changes out of commit order"
    keyed = [(e.index, e.key) for e in changes]
    assert len(keyed) == len(set(keyed)), "a change delivered twice"
    for rid in run_ids:
        mine = [e.run for e in changes if e.key == rid]
        final = finals[rid]
        assert mine and mine[-1].state == final.state and mine[-1].attempt == final.attempt
        # What was seen is the run's own history, in order: each event's transitions extend the
        # previous event's (an entry may have made several, seen as one change).
        for before, after in itertools.pairwise(mine):
            assert len(after.transitions) >= len(before.transitions)
            assert list(after.transitions)[:len(before.transitions)] == list(before.transitions)
        assert list(mine[-1].transitions) == list(final.transitions)
    assert last_index > 0


def test_a_consumer_that_reads_nothing_is_cut_off_and_the_replica_stays_healthy(cluster: LocalCluster) -> None:
    leader = cluster.wait_for_leader()
    with grpc.insecure_channel(leader.api_address, options=[("grpc.max_receive_message_length", 64 << 20)]) as ch:
        stream = watch_pb2_grpc.WatchServiceStub(ch).WatchJobs(watch_pb2.WatchJobsRequest(), timeout=120)
        first = next(stream)  # the snapshot arrives; then this consumer stops reading
        assert first.events[-1].type == WE.SYNCED
        with cluster.client() as c:
            big = {f"k{i}": "x" * 200 for i in range(40)}  # ~8 KiB a job: the stream's windows fill up
            for batch in range(40):
                c.apply_jobs([jobs_pb2.JobSpec(name=f"w-big-{batch}-{i}", labels=big,
                                               command=jobs_pb2.JobCommand(shell="true")) for i in range(25)])

            def ended() -> grpc.RpcError | None:
                try:
                    for _ in stream:
                        pass
                except grpc.RpcError as e:
                    return e
                return None

            error = ended()
            assert error is not None
            assert error.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OUT_OF_RANGE)
            assert "list again" in (error.details() or "")
            # The replica is fine: it answers, commits, and serves a new watch.
            assert c.status(leader.api_address).role == "leader"
            c.apply_jobs([jobs_pb2.JobSpec(name="w-after", command=jobs_pb2.JobCommand(shell="true"))])
            fresh = c.watch_jobs(name="w-after")
            kinds = [next(fresh).type, next(fresh).type]
            assert kinds == [WE.SNAPSHOT, WE.SYNCED]


def test_resuming_from_an_index_the_replica_no_longer_holds_says_to_list_again(cluster: LocalCluster) -> None:
    with cluster.client() as c:
        big = {f"k{i}": "y" * 200 for i in range(40)}
        for batch in range(20):
            c.apply_jobs([jobs_pb2.JobSpec(name=f"w-old-{batch}-{i}", labels=big,
                                           command=jobs_pb2.JobCommand(shell="true")) for i in range(25)])
        with pytest.raises(ClientError) as gone:
            next(c.watch_jobs(from_index=1))
        # Asked to, the client lists again by itself: a new snapshot, then its SYNCED.
        again = c.watch_jobs(name="w-old-0-0", from_index=1, relist=True)
        first, second = next(again), next(again)
    assert gone.value.code == grpc.StatusCode.OUT_OF_RANGE and "list again" in gone.value.message
    assert (first.type, first.key, second.type) == (WE.SNAPSHOT, "w-old-0-0", WE.SYNCED)


def test_the_cli_follows_runs_and_a_run_to_its_end_without_polling(cluster: LocalCluster) -> None:
    env_server = ",".join(r.api_address for r in cluster.replicas)
    with cluster.client() as c:
        c.apply_jobs([jobs_pb2.JobSpec(name="w-cli", command=jobs_pb2.JobCommand(shell="echo one; sleep 1; echo two"))])
        watch = subprocess.Popen([sys.executable, "-m", "wloadctl", "--server", env_server, "get", "runs", "--job",
                                  "w-cli", "-w", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        try:
            line = watch.stdout.readline() if watch.stdout else ""
            assert '"SYNCED"' in line
            run = c.trigger_run("w-cli")
            follow = subprocess.run([sys.executable, "-m", "wloadctl", "--server", env_server, "logs", run.run_id,
                                     "-f"], capture_output=True, text=True, timeout=60)
            assert follow.returncode == 0 and follow.stdout == "one\ntwo\n", follow.stderr
            described = subprocess.run([sys.executable, "-m", "wloadctl", "--server", env_server, "describe", "run",
                                        run.run_id, "-w"], capture_output=True, text=True, timeout=60)
            assert described.returncode == 0 and "SUCCEEDED" in described.stdout
            seen: list[str] = []
            while not any('"SUCCEEDED"' in s for s in seen):
                seen.append(watch.stdout.readline() if watch.stdout else "")
                assert seen[-1], "the watch ended"
            assert all(run.run_id in s for s in seen)
        finally:
            watch.terminate()
            watch.wait(timeout=10)

"""Run lifecycle in the state machine: epochs, dispatch re-checks, events, lost agents, kills."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.state.runs import OUTPUT_TAIL_BYTES
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, job

RS = runs_pb2.RunState
EV = agent_pb2.RunEvent


class S:
    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.index = 0
        self.time = 1_000

    def do(self, *cmds: commands_pb2.Command) -> list[commands_pb2.CommandResult]:
        self.index += 1
        self.time += 10
        batch = commands_pb2.CommandBatch(time_ms=self.time, commands=list(cmds))
        out = self.store.apply(batch.SerializeToString(), self.index)
        assert out is not None
        return out

    def one(self, cmd: commands_pb2.Command) -> commands_pb2.CommandResult:
        return self.do(cmd)[0]


@pytest.fixture
def s(tmp_path: Path) -> S:
    st = S(tmp_path / "s")
    spec = job("etl")
    st.one(apply_cmd(spec))
    st.one(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)))
    for a in ("a1", "a2"):
        st.one(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
            agent=runs_pb2.Agent(agent_id=a, capacity=4))))
    return st


def trigger(s: S, name: str = "etl") -> str:
    r = s.one(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name=name, params={"d": "1"})))
    assert r.code == 0, r.message
    return r.run_ids[0]


def dispatch(s: S, run_id: str, attempt: int, agent: str, epoch: int = 1) -> commands_pb2.CommandResult:
    return s.one(commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(
        epoch=epoch, decisions=[commands_pb2.DispatchDecision(run_id=run_id, attempt=attempt, agent_id=agent)])))


def events(s: S, agent: str, *evs: agent_pb2.RunEvent) -> None:
    s.one(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(agent_id=agent, events=list(evs))))


def test_epochs_only_move_one_step(s: S) -> None:
    stale = s.one(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r2", expected_epoch=1)))
    assert stale.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    ok = s.one(commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r2", expected_epoch=2)))
    assert ok.code == 0 and ok.epoch == 2 and s.store.epoch_info().leader_id == "r2"


def test_lifecycle_to_success(s: S) -> None:
    rid = trigger(s)
    assert s.store.get_run(rid).state == RS.QUEUED  # type: ignore[union-attr]
    assert dispatch(s, rid, 1, "a1").run_ids == [rid]
    events(s, "a1", EV(kind=EV.STARTED, run_id=rid, attempt=1, pid=42, time_ms=5),
           EV(kind=EV.OUTPUT, run_id=rid, attempt=1, data=b"hello\n"),
           EV(kind=EV.FINISHED, run_id=rid, attempt=1, exit_code=0))
    run = s.store.get_run(rid)
    assert run is not None
    assert run.state == RS.SUCCEEDED and run.output_tail == b"hello\n" and run.pid == 42
    assert [t.state for t in run.transitions] == [RS.QUEUED, RS.DISPATCHED, RS.RUNNING, RS.SUCCEEDED]
    assert run.transitions[1].epoch == 1 and run.transitions[1].agent_id == "a1"


def test_stale_decisions_are_refused(s: S) -> None:
    rid = trigger(s)
    assert dispatch(s, rid, 1, "a1", epoch=7).code == grpc.StatusCode.ABORTED.value[0]  # old or foreign epoch
    assert dispatch(s, rid, 2, "a1").run_ids == []   # wrong attempt
    assert dispatch(s, rid, 1, "nope").run_ids == []  # unknown agent
    assert dispatch(s, rid, 1, "a1").run_ids == [rid]
    assert dispatch(s, rid, 2, "a2").run_ids == []   # already dispatched: no second placement
    # Events from another agent or attempt change nothing.
    events(s, "a2", EV(kind=EV.FINISHED, run_id=rid, attempt=1, exit_code=0))
    assert s.store.get_run(rid).state == RS.DISPATCHED  # type: ignore[union-attr]


def test_lost_agent_retries_then_fails(s: S) -> None:
    rid = trigger(s)
    for attempt, agent in ((1, "a1"), (2, "a2"), (3, "a1")):
        s.one(commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
            agent=runs_pb2.Agent(agent_id=agent, capacity=4))))
        assert dispatch(s, rid, attempt, agent).run_ids == [rid]
        lost = s.one(commands_pb2.Command(mark_agent_lost=commands_pb2.MarkAgentLost(agent_id=agent, epoch=1)))
        assert lost.run_ids == [rid]
    run = s.store.get_run(rid)
    assert run is not None and run.state == RS.FAILED and "3 attempts" in run.error
    states = [t.state for t in run.transitions]
    assert states.count(RS.LOST) == 3 and states.count(RS.QUEUED) == 3
    # A lost agent gets no new work until it registers again.
    rid2 = trigger(s)
    assert dispatch(s, rid2, 1, "a1").run_ids == []


def test_lost_policy_fail_and_late_report(s: S) -> None:
    s.one(apply_cmd(jobs_pb2.JobSpec(name="once", lost_policy=jobs_pb2.FAIL,
                                      command=jobs_pb2.JobCommand(shell="true"))))
    rid = trigger(s, "once")
    dispatch(s, rid, 1, "a1")
    s.one(commands_pb2.Command(mark_agent_lost=commands_pb2.MarkAgentLost(agent_id="a1", epoch=1)))
    assert s.store.get_run(rid).state == RS.FAILED  # type: ignore[union-attr]
    events(s, "a1", EV(kind=EV.FINISHED, run_id=rid, attempt=1, exit_code=0))  # returning agent: recorded only
    run = s.store.get_run(rid)
    assert run is not None and run.state == RS.FAILED


def test_an_attempt_lost_in_an_agent_restart_follows_the_lost_policy(s: S) -> None:
    """An agent that restarted under an attempt (the process died with it) reports it lost:
    retried while attempts remain, as for a lost agent, never FAILED as if the job had failed."""
    rid = trigger(s)
    dispatch(s, rid, 1, "a1")
    events(s, "a1", EV(kind=EV.STARTED, run_id=rid, attempt=1, pid=42))
    gone = EV(kind=EV.FINISHED, run_id=rid, attempt=1, epoch=1, exit_code=-1, lost=True,
              error="the agent restarted while this attempt ran; its outcome is unknown")
    events(s, "a1", gone)
    run = s.store.get_run(rid)
    assert run is not None and run.state == RS.QUEUED and run.attempt == 1
    assert [t.state for t in run.transitions][-2:] == [RS.LOST, RS.QUEUED]
    assert "a1 restarted while attempt 1 ran" in run.transitions[-2].cause
    events(s, "a1", gone)  # reported again (not acknowledged in time): changes nothing
    assert s.store.get_run(rid).state == RS.QUEUED  # type: ignore[union-attr]
    dispatch(s, rid, 2, "a2")
    events(s, "a2", EV(kind=EV.FINISHED, run_id=rid, attempt=2, exit_code=0))
    assert s.store.get_run(rid).state == RS.SUCCEEDED  # type: ignore[union-attr]

    s.one(apply_cmd(jobs_pb2.JobSpec(name="once", lost_policy=jobs_pb2.FAIL,
                                      command=jobs_pb2.JobCommand(shell="true"))))
    once = trigger(s, "once")
    dispatch(s, once, 1, "a1")
    events(s, "a1", EV(kind=EV.FINISHED, run_id=once, attempt=1, epoch=1, exit_code=-1, lost=True))
    run = s.store.get_run(once)
    assert run is not None and run.state == RS.FAILED and "lost policy is fail" in run.error

    killed = trigger(s)
    dispatch(s, killed, 1, "a1")
    s.one(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=killed)))
    events(s, "a1", EV(kind=EV.FINISHED, run_id=killed, attempt=1, epoch=1, exit_code=-1, lost=True))
    assert s.store.get_run(killed).state == RS.KILLED  # type: ignore[union-attr]


def test_kill_queued_and_running(s: S) -> None:
    queued = trigger(s)
    assert s.one(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=queued))).code == 0
    assert s.store.get_run(queued).state == RS.KILLED  # type: ignore[union-attr]
    running = trigger(s)
    dispatch(s, running, 1, "a1")
    s.one(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=running)))
    run = s.store.get_run(running)
    assert run is not None and run.state == RS.DISPATCHED and run.kill_requested
    events(s, "a1", EV(kind=EV.FINISHED, run_id=running, attempt=1, exit_code=-15, killed=True))
    assert s.store.get_run(running).state == RS.KILLED  # type: ignore[union-attr]
    again = s.one(commands_pb2.Command(request_kill=commands_pb2.RequestKill(run_id=running)))
    assert again.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]


def test_list_runs_newest_first_with_filters(s: S) -> None:
    s.one(apply_cmd(job("other")))
    ids = [trigger(s, "etl" if i % 2 else "other") for i in range(7)]
    runs, token = s.store.list_runs(page_size=3)
    assert [r.run_id for r in runs] == ids[::-1][:3] and token
    rest, token2 = s.store.list_runs(page_size=10, page_token=token)
    assert [r.run_id for r in rest] == ids[::-1][3:] and not token2
    etl, _ = s.store.list_runs(job_name="etl", page_size=10)
    assert [r.run_id for r in etl] == [i for n, i in enumerate(ids) if n % 2][::-1]
    assert len(s.store.queued_runs(100)) == 7


def test_unknown_job_cannot_run(s: S) -> None:
    r = s.one(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name="nope")))
    assert r.code == grpc.StatusCode.NOT_FOUND.value[0] and "job_name" in r.message


def test_on_agent_counts_follow_dispatch_and_finish(s: S) -> None:
    a, b = trigger(s), trigger(s)
    dispatch(s, a, 1, "a1")
    dispatch(s, b, 1, "a2")
    assert s.store.on_agent_counts() == {"a1": 1, "a2": 1}
    events(s, "a1", EV(kind=EV.FINISHED, run_id=a, attempt=1, exit_code=0))
    assert s.store.on_agent_counts() == {"a2": 1}
    s.one(commands_pb2.Command(mark_agent_lost=commands_pb2.MarkAgentLost(agent_id="a2", epoch=1)))
    assert s.store.on_agent_counts() == {}
    assert [r.run_id for r in s.store.queued_runs(10)] == [b]  # retried: queued again


def gap_marker(missing: int) -> bytes:
    text = f"\n[wloadctl: {missing} bytes of output missing here; `wloadctl logs` reads the full log from the agent]\n"
    return text.encode()


def out(rid: str, offset: int, data: bytes, attempt: int = 1) -> agent_pb2.RunEvent:
    return EV(kind=EV.OUTPUT, run_id=rid, attempt=attempt, offset=offset, data=data)


def test_output_lost_in_a_takeover_is_marked_not_spliced(s: S) -> None:
    rid = trigger(s)
    dispatch(s, rid, 1, "a1")
    events(s, "a1", EV(kind=EV.STARTED, run_id=rid, attempt=1, pid=7), out(rid, 0, b"aaaa"), out(rid, 4, b"bbbb"))
    # Bytes 8..19 went to a leader that was deposed before committing them; the next chunk starts at 20.
    events(s, "a1", out(rid, 20, b"cccc"))
    run = s.store.get_run(rid)
    assert run is not None
    assert run.output_tail == b"aaaabbbb" + gap_marker(12) + b"cccc"
    assert (run.output_bytes, run.output_gap_bytes, run.output_attempt, run.output_offset) == (24, 12, 1, 24)
    # A chunk proposed again (an unknown commit outcome) adds nothing; one that overlaps adds its new part.
    again = s.one(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(
        agent_id="a1", events=[out(rid, 4, b"bbbb"), out(rid, 20, b"cccc")])))
    assert again.code == 0 and list(again.run_ids) == []
    assert s.store.get_run(rid) == run
    events(s, "a1", out(rid, 22, b"ccdd"), EV(kind=EV.FINISHED, run_id=rid, attempt=1, exit_code=0))
    done = s.store.get_run(rid)
    assert done is not None and done.state == RS.SUCCEEDED
    assert done.output_tail == b"aaaabbbb" + gap_marker(12) + b"ccccdd"
    assert (done.output_bytes, done.output_gap_bytes, done.output_offset) == (26, 12, 26)


def test_output_offsets_are_per_attempt_and_older_agents_append(s: S) -> None:
    rid = trigger(s)
    dispatch(s, rid, 1, "a1")
    # An agent without offsets: every chunk follows on, as before.
    events(s, "a1", EV(kind=EV.OUTPUT, run_id=rid, attempt=1, data=b"one "),
           EV(kind=EV.OUTPUT, run_id=rid, attempt=1, data=b"two "))
    s.one(commands_pb2.Command(mark_agent_lost=commands_pb2.MarkAgentLost(agent_id="a1", epoch=1)))
    dispatch(s, rid, 2, "a2")
    # Attempt 2's output starts again at offset 0; its first chunk never arrived.
    events(s, "a2", out(rid, 5, b"later", attempt=2), out(rid, 0, b"early", attempt=2))
    run = s.store.get_run(rid)
    assert run is not None
    assert run.output_tail == b"one two " + gap_marker(5) + b"later"
    assert (run.output_bytes, run.output_gap_bytes, run.output_attempt, run.output_offset) == (18, 5, 2, 10)


def test_output_tail_stays_capped_with_markers(s: S) -> None:
    rid = trigger(s)
    dispatch(s, rid, 1, "a1")
    chunk = b"x" * 40_000
    events(s, "a1", out(rid, 0, chunk), out(rid, 40_000, chunk), out(rid, 100_000, b"end"))
    run = s.store.get_run(rid)
    assert run is not None and len(run.output_tail) == OUTPUT_TAIL_BYTES
    assert run.output_tail.endswith(gap_marker(20_000) + b"end")
    assert (run.output_bytes, run.output_gap_bytes) == (100_003, 20_000)


def test_a_policy_rejection_fails_the_run_and_an_ordinary_one_queues_it_again(s: S) -> None:
    why = "runAs root is not allowed on this agent (allowed_run_as: batch)"
    rid = trigger(s)
    dispatch(s, rid, 1, "a1")
    events(s, "a1", EV(kind=EV.REJECTED, run_id=rid, attempt=1, epoch=1, error=why, policy=True))
    run = s.store.get_run(rid)
    assert run is not None and run.state == RS.FAILED and run.attempt == 1  # no second attempt anywhere
    assert run.error == f"rejected by a1: {why}" and run.finished_ms > 0
    assert [(t.state, t.cause) for t in run.transitions][-1] == (RS.FAILED, f"rejected by a1: {why}")
    assert rid not in {r.run_id for r in s.store.queued_runs(10)}
    # Without the flag (no lease, no free slot) the run is queued for another try, as before.
    other = trigger(s)
    dispatch(s, other, 1, "a2")
    events(s, "a2", EV(kind=EV.REJECTED, run_id=other, attempt=1, epoch=1, error="no free slot"))
    again = s.store.get_run(other)
    assert again is not None and again.state == RS.QUEUED and not again.error
    assert again.transitions[-1].cause == "rejected by a2: no free slot"

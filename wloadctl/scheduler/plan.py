"""The leader's decisions for one tick: pure functions of one state view, what the leader knows of
its agents' streams, and the time it is given (no clock reads, no I/O, no awaits).

The controller proposes what these return and sends only what was committed; apply re-checks
every assumption (epochs, attempts, the slot a job expects next), so a plan made on a view that
went stale is refused, never half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from wloadctl.model import files
from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.scheduler.firing import DueJob, plan_firings
from wloadctl.scheduler.placement import AgentSlots, eligible, lost_agents, place

_ON_AGENT = frozenset({runs_pb2.DISPATCHED, runs_pb2.RUNNING})


class View(Protocol):
    """What planning reads from the state (wloadctl.state.view.StateView)."""

    def agents(self) -> list[runs_pb2.Agent]: ...
    def on_agent_counts(self) -> dict[str, int]: ...
    def queued_runs(self, limit: int) -> list[runs_pb2.Run]: ...
    def due_jobs(self, now_ms: int, limit: int) -> list[DueJob]: ...
    def schedule_state(self, name: str) -> jobs_pb2.ScheduleState | None: ...


@dataclass(frozen=True)
class LinkView:
    """What the leader knows of one agent's stream."""

    agent_id: str
    last_heard: float        # on the controller's clock
    confirmed_epoch: int


def free_slots(view: View, links: Sequence[LinkView], epoch: int, now: float,
               silence_s: float) -> list[AgentSlots]:
    """Agents that may get work now: registered and not lost, fenced to this epoch, heard lately."""
    on_agent = view.on_agent_counts()
    usable = {a.agent_id: a for a in view.agents() if not a.lost_ms}
    slots = []
    for link in links:
        agent = usable.get(link.agent_id)
        if agent is None or link.confirmed_epoch != epoch or now - link.last_heard > silence_s:
            continue  # a silent agent may be cut off: do not send it work blindly
        used = on_agent.get(link.agent_id, 0)
        slots.append(AgentSlots(link.agent_id, dict(agent.labels), max(0, agent.capacity - used), used,
                                agent.policy if agent.HasField("policy") else None))
    return slots


def plan_dispatch(view: View, slots: Sequence[AgentSlots], epoch: int,
                  max_batch: int) -> commands_pb2.DispatchRuns | None:
    free = sum(a.free for a in slots)
    if free == 0:
        return None  # nothing to place on: do not even read the queue
    # Runs whose selector matches no free agent are skipped, so look a little further.
    queued = view.queued_runs(min(max_batch, max(free * 4, 256)))
    decisions = place(queued, slots) if queued else []
    return commands_pb2.DispatchRuns(epoch=epoch, decisions=decisions) if decisions else None


def plan_lost_agents(view: View, heard: Mapping[str, float], takeover_started: float, now: float,
                     margin_s: float, epoch: int) -> list[commands_pb2.MarkAgentLost]:
    """Agents silent past their lease + margin. ``heard``: when the leader last heard each agent
    (its stream, or when the stream closed); a new leader counts from its takeover."""
    last: dict[str, float] = {}
    leases: dict[str, float] = {}
    for agent in view.agents():
        if agent.lost_ms:
            continue
        last[agent.agent_id] = max(heard.get(agent.agent_id, 0.0), takeover_started)
        leases[agent.agent_id] = (agent.lease_ms or 3000) / 1000
    return [commands_pb2.MarkAgentLost(
        agent_id=agent_id, epoch=epoch,
        cause=f"agent {agent_id} silent for {now - last[agent_id]:.1f} s (lease {leases[agent_id]:.1f} s + margin "
              f"{margin_s:.1f} s)") for agent_id in lost_agents(last, leases, now, margin_s)]


def plan_workflow_timers(timers: Sequence[commands_pb2.WorkflowTimer], now_ms: int, now: float,
                         first_seen: dict[tuple[int, int, str], float]) -> list[commands_pb2.WorkflowTimer]:
    """The timers to fire now: due by the leader's clock (``now_ms``), or whose own delay has passed
    on its monotonic clock (``now``) since it first saw them. The second covers a state time left
    ahead of every clock by a leader whose clock had jumped: entries are stamped no earlier than the
    state time, so it stands still until the clocks catch up, and so would every timer set from it.
    A timer is then at most one delay late (and never early by the monotonic rule). ``first_seen``
    is the leader's memory (updated here: new timers added, gone ones dropped)."""
    due: list[commands_pb2.WorkflowTimer] = []
    present = set()
    for timer in timers:
        key = (timer.due_ms, timer.run_seq, timer.task)
        present.add(key)
        seen = first_seen.setdefault(key, now)
        if timer.due_ms <= now_ms or now - seen >= max(0, timer.delay_ms) / 1000:
            due.append(timer)
    for key in [k for k in first_seen if k not in present]:
        del first_seen[key]
    return due


def plan_schedules(view: View, now_ms: int, max_jobs: int) -> list[commands_pb2.FireSchedules]:
    """Firings of the jobs whose next slot is due at ``now_ms`` (wall clock, ms)."""
    due = view.due_jobs(now_ms, max_jobs)
    return plan_firings(due, now_ms) if due else []


def plan_file_watches(jobs: Sequence[jobs_pb2.JobVersion],
                      agents: Sequence[AgentSlots]) -> dict[str, agent_pb2.FileWatches]:
    """Every agent's file watches: each file trigger of each job, on every agent the job may run on
    (its selector and the agent's policy), in a stable order (the controller sends a set only when
    it changed)."""
    out = {a.agent_id: agent_pb2.FileWatches() for a in agents}
    for job in sorted(jobs, key=lambda j: j.spec.name):
        # A suspended job stays watched: the files that land meanwhile are seen (apply starts no run
        # for them), so resuming it does not start runs for them all at once.
        watches = [agent_pb2.FileWatch(id=files.watch_id(job.spec.name, i, t), job_name=job.spec.name,
                                       directory=t.directory, glob=t.glob, stable_ms=files.stable_ms(t),
                                       include_existing=t.include_existing, since_ms=job.created_ms)
                   for i, t in enumerate(job.spec.file_triggers)]
        for agent in agents:
            if eligible(agent, job.spec):
                out[agent.agent_id].watches.extend(watches)
    return out


def file_arrival_command(agent_id: str, a: agent_pb2.FileArrival) -> commands_pb2.Command:
    """The command for one file an agent found; its idempotency key is the file's identity, so the
    same file reported again (by this agent after a leader change, or by another agent sharing the
    directory) starts nothing twice."""
    return commands_pb2.Command(
        idempotency_key=files.arrival_key(a.job_name, a.watch_id, a.path, a.size, a.mtime_ns),
        file_arrived=commands_pb2.FileArrived(job_name=a.job_name, watch_id=a.watch_id, path=a.path, size=a.size,
                                              mtime_ns=a.mtime_ns, agent_id=agent_id))


def agent_record(hello: agent_pb2.AgentHello) -> runs_pb2.Agent:
    """The registration an agent's hello asks for (placement reads its policy from the record)."""
    record = runs_pb2.Agent(agent_id=hello.agent_id, labels=hello.labels, capacity=hello.capacity,
                            hostname=hello.hostname, platform=hello.platform, cpus=hello.cpus, version=hello.version,
                            lease_ms=hello.lease_ms, orphan_policy=hello.orphan_policy)
    if hello.HasField("policy"):
        record.policy.CopyFrom(hello.policy)
    return record


def plan_registrations(known: Mapping[str, runs_pb2.Agent],
                       hellos: Sequence[agent_pb2.AgentHello]) -> list[runs_pb2.Agent]:
    """Agents fenced to this epoch whose record is missing, lost, or differs from what they say now
    (capacity, labels, policy, version...): each needs a RegisterAgent. ``hellos``: of the agents
    that confirmed the current epoch (only they join the pool)."""
    out = []
    for hello in hellos:
        record = agent_record(hello)
        current = known.get(hello.agent_id)
        if current is not None and not current.lost_ms:
            same = runs_pb2.Agent()
            same.CopyFrom(current)
            same.ClearField("registered_ms")
            same.ClearField("lost_count")
            if same.SerializeToString(deterministic=True) == record.SerializeToString(deterministic=True):
                continue
        out.append(record)
    return out


def plan_resends(on_agent: Sequence[runs_pb2.Run], agent_id: str,
                 held: set[tuple[str, int]]) -> list[runs_pb2.Run]:
    """Reconcile: the attempts the state has on ``agent_id`` that the agent does not report holding
    (never received, or lost in a crash): sent again; the agent deduplicates by (run, attempt) and
    answers for each."""
    return [r for r in on_agent if r.agent_id == agent_id and r.state in _ON_AGENT and
            (r.run_id, r.attempt) not in held]


@dataclass(frozen=True)
class Sweep:
    kills: list[tuple[str, str, int]]                 # (agent, run, attempt) to send a KillRun to
    resends: dict[str, list[runs_pb2.Run]]            # agent -> DISPATCHED attempts to send again
    live: set[tuple[str, int]]                        # every attempt on an agent (to forget the rest)


def plan_sweep(on_agent: Sequence[runs_pb2.Run], connected: set[str], kill_sent: Mapping[tuple[str, int], float],
               dispatched_at: Mapping[tuple[str, int], float], now: float, kill_every_s: float,
               resend_after_s: float) -> Sweep:
    """Kills the state asks for (again every ``kill_every_s`` until the attempt ends), and attempts
    dispatched ``resend_after_s`` ago that never started (the assignment may have been lost), on the
    agents with a stream to this leader."""
    kills: list[tuple[str, str, int]] = []
    resends: dict[str, list[runs_pb2.Run]] = {}
    live: set[tuple[str, int]] = set()
    for run in on_agent:
        key = (run.run_id, run.attempt)
        live.add(key)
        if run.agent_id not in connected:
            continue
        if run.kill_requested and now - kill_sent.get(key, 0.0) > kill_every_s:
            kills.append((run.agent_id, run.run_id, run.attempt))
        if run.state == runs_pb2.DISPATCHED and now - dispatched_at.get(key, 0.0) > resend_after_s:
            resends.setdefault(run.agent_id, []).append(run)
    return Sweep(kills, resends, live)

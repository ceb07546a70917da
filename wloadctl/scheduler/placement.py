"""Placement and agent-loss decisions. Pure: no clock, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from wloadctl.model.policy import refusal
from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2


@dataclass(frozen=True)
class AgentSlots:
    agent_id: str
    labels: Mapping[str, str]
    free: int
    running: int
    policy: runs_pb2.AgentPolicy | None = None  # what it advertised it runs; None (older agents): anything


def place(queued: Sequence[runs_pb2.Run], agents: Iterable[AgentSlots]) -> list[commands_pb2.DispatchDecision]:
    """Least-loaded placement in queue order: each run goes to the eligible
    agent (labels match its selector, its policy allows the job, a free slot)
    with the most free slots, then the fewest running, then the smallest id
    (deterministic). A run no agent allows stays queued: nothing is committed
    for it, so it costs a look per dispatch round and never bounces."""
    free = {a.agent_id: a for a in agents if a.free > 0}
    left = {a_id: a.free for a_id, a in free.items()}
    running = {a_id: a.running for a_id, a in free.items()}
    allowed: dict[tuple[str, str, int], bool] = {}  # runs of one job version share its spec
    decisions = []
    for run in queued:
        selector = run.spec.agent_selector
        best = None
        for a_id, agent in free.items():
            if left[a_id] <= 0 or any(agent.labels.get(k) != v for k, v in selector.items()):
                continue
            if agent.policy is not None and not _allows(agent, run, allowed):
                continue
            key = (-left[a_id], running[a_id], a_id)
            if best is None or key < best[0]:
                best = (key, a_id)
        if best is None:
            continue
        a_id = best[1]
        left[a_id] -= 1
        running[a_id] += 1
        decisions.append(commands_pb2.DispatchDecision(run_id=run.run_id, attempt=run.attempt + 1, agent_id=a_id))
    return decisions


def eligible(agent: AgentSlots, spec: jobs_pb2.JobSpec) -> bool:
    """Whether the job may run on the agent: its labels match the selector and its policy allows it."""
    if any(agent.labels.get(k) != v for k, v in spec.agent_selector.items()):
        return False
    return agent.policy is None or not refusal(agent.policy, spec)


def _allows(agent: AgentSlots, run: runs_pb2.Run, memo: dict[tuple[str, str, int], bool]) -> bool:
    assert agent.policy is not None
    if not run.job_version:  # no version to tell specs apart by
        return not refusal(agent.policy, run.spec)
    key = (agent.agent_id, run.job_name, run.job_version)
    if key not in memo:
        memo[key] = not refusal(agent.policy, run.spec)
    return memo[key]


def agent_quorum(registered: int, setting: str) -> int:
    """How many registered agents must confirm a new epoch: "majority" or a number (capped at registered)."""
    if registered == 0:
        return 0
    if setting == "majority":
        return registered // 2 + 1
    if setting == "all":
        return registered
    return max(1, min(int(setting), registered))


def lost_agents(last_heard: Mapping[str, float], lease_s: Mapping[str, float], now: float,
                margin_s: float) -> list[str]:
    """Agents silent for longer than their lease plus the safety margin: by then
    the agent has surely applied its orphan policy (its lease counts from a
    heartbeat it sent before the one we last received)."""
    return sorted(a for a, t in last_heard.items() if now - t > lease_s.get(a, 3.0) + margin_s)

"""Faults the chaos runner injects into a real cluster on loopback.

Each nemesis has `inject()` and `heal()`; the runner calls them on a seeded
schedule and always heals everything at the end. Faults that need network
namespaces (symmetric and one-way partitions between replicas, bridge
partitions) are not here yet: on loopback they cannot be made silent.
"""

from __future__ import annotations

import logging
import random
import signal
from dataclasses import dataclass, field

from wloadctl.testing.cluster import AgentProc, LocalCluster, Replica
from wloadctl.testing.proxy import BlackholeProxy

log = logging.getLogger("chaos.nemesis")


@dataclass
class Context:
    cluster: LocalCluster
    rng: random.Random
    proxies: dict[str, BlackholeProxy] = field(default_factory=dict)  # replica id -> proxy agents use


class Nemesis:
    name = "none"

    def inject(self, ctx: Context) -> str:
        raise NotImplementedError

    def heal(self, ctx: Context) -> None:
        raise NotImplementedError


def _leader(ctx: Context) -> Replica | None:
    try:
        return ctx.cluster.leader()
    except Exception:
        return None


class KillReplica(Nemesis):
    """kill -9 a replica (the leader, a follower or any), restart it at heal."""

    def __init__(self, which: str) -> None:
        self.which = which
        self.name = f"kill-{which}"
        self.victim: Replica | None = None

    def inject(self, ctx: Context) -> str:
        running = [r for r in ctx.cluster.replicas if r.running]
        leader = _leader(ctx)
        if self.which == "leader":
            pool = [leader] if leader else []
        elif self.which == "follower":
            pool = [r for r in running if r is not leader]
        else:
            pool = running
        if not pool:
            return "no candidate"
        self.victim = ctx.rng.choice(pool)
        ctx.cluster.kill(self.victim, signal.SIGKILL)
        return f"killed {self.victim.node_id}"

    def heal(self, ctx: Context) -> None:
        if self.victim is not None and not self.victim.running:
            ctx.cluster.start(self.victim, wait=False)
        self.victim = None


class PauseLeader(Nemesis):
    """SIGSTOP the leader; SIGCONT at heal (the old leader wakes up deposed)."""

    name = "pause-leader"

    def __init__(self) -> None:
        self.victim: Replica | None = None

    def inject(self, ctx: Context) -> str:
        self.victim = _leader(ctx)
        if self.victim is None or self.victim.proc is None:
            return "no leader"
        self.victim.proc.send_signal(signal.SIGSTOP)
        return f"paused {self.victim.node_id}"

    def heal(self, ctx: Context) -> None:
        if self.victim is not None and self.victim.proc is not None and self.victim.proc.poll() is None:
            self.victim.proc.send_signal(signal.SIGCONT)
        self.victim = None


class FlapLeader(Nemesis):
    """Pause and resume the leader quickly, several times."""

    name = "flap-leader"

    def inject(self, ctx: Context) -> str:
        victim = _leader(ctx)
        if victim is None or victim.proc is None:
            return "no leader"
        import time

        for _ in range(5):
            victim.proc.send_signal(signal.SIGSTOP)
            time.sleep(ctx.rng.uniform(0.05, 0.4))
            victim.proc.send_signal(signal.SIGCONT)
            time.sleep(ctx.rng.uniform(0.05, 0.4))
        return f"flapped {victim.node_id}"

    def heal(self, ctx: Context) -> None:
        for r in ctx.cluster.replicas:
            if r.proc is not None and r.proc.poll() is None:
                r.proc.send_signal(signal.SIGCONT)


class CrashAgent(Nemesis):
    """kill -9 an agent (its runs are lost after the lease and retried); restart at heal."""

    name = "crash-agent"

    def __init__(self) -> None:
        self.victim: AgentProc | None = None

    def inject(self, ctx: Context) -> str:
        alive = [a for a in ctx.cluster.agents if a.running]
        if not alive:
            return "no agent"
        self.victim = ctx.rng.choice(alive)
        self.victim.signal(signal.SIGKILL)
        return f"killed agent {self.victim.agent_id}"

    def heal(self, ctx: Context) -> None:
        if self.victim is not None:
            self.victim.start()
        self.victim = None


class CutLeaderFromAgents(Nemesis):
    """Silently drop all traffic between the leader and the agents (not the followers)."""

    name = "leader-agents-cut"

    def __init__(self) -> None:
        self.proxy: BlackholeProxy | None = None

    def inject(self, ctx: Context) -> str:
        leader = _leader(ctx)
        if leader is None or leader.node_id not in ctx.proxies:
            return "no leader"
        self.proxy = ctx.proxies[leader.node_id]
        self.proxy.cut()
        return f"cut {leader.node_id} from the agents"

    def heal(self, ctx: Context) -> None:
        if self.proxy is not None:
            self.proxy.heal()
        self.proxy = None


class TransferLeader(Nemesis):
    """Move leadership on purpose (through the API)."""

    name = "transfer-leader"

    def inject(self, ctx: Context) -> str:
        with ctx.cluster.client(retry_for=3) as c:
            try:
                return f"leader is now {c.transfer_leader().leader_id}"
            except Exception as e:
                return f"transfer refused: {e}"

    def heal(self, ctx: Context) -> None:
        pass


NEMESES = {
    "kill-leader": lambda: KillReplica("leader"),
    "kill-follower": lambda: KillReplica("follower"),
    "kill-random": lambda: KillReplica("random"),
    "pause-leader": PauseLeader,
    "flap-leader": FlapLeader,
    "crash-agent": CrashAgent,
    "leader-agents-cut": CutLeaderFromAgents,
    "transfer-leader": TransferLeader,
}

"""Faults the chaos runner injects into a real cluster.

Each nemesis has `inject()` and `heal()`; the runner calls them on a seeded
schedule and always heals everything at the end. Partitions need the network
namespaces of chaos/netns.py (`needs_namespaces`): on loopback they cannot be
made silent, so the runner skips them there and says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.netns import Network
from wloadctl.testing.cluster import AgentProc, LocalCluster, Replica

log = logging.getLogger("chaos.nemesis")


@dataclass
class Context:
    cluster: LocalCluster
    rng: random.Random
    # replica id -> the Toxiproxy proxy (toxiproxy-python Proxy) the agents reach it through
    proxies: dict[str, Any] = field(default_factory=dict)
    # replica id -> the proxy in front of its Raft port (only when a nemesis degrades replica links)
    replica_proxies: dict[str, Any] = field(default_factory=dict)
    net: Network | None = None      # the namespaces' router, where partitions are made
    proxy_host: str = "px"          # the namespace host of the agents' proxies


def _clear_toxics(proxy: Any) -> None:
    for name in list(proxy.toxics()):
        proxy.destroy_toxic(name)


def _slow(proxies: Any, latency: int) -> None:
    """Latency with jitter on both directions of every proxy."""
    for proxy in proxies:
        for stream in ("upstream", "downstream"):
            proxy.add_toxic(type="latency", stream=stream, name=f"slow_{stream}",
                            attributes={"latency": latency, "jitter": latency // 2})


def _clear_all(proxies: Any) -> None:
    for proxy in proxies:
        _clear_toxics(proxy)


class NoEffect(Exception):
    """The fault could not be made this turn (no leader to kill, a transfer refused): recorded as
    such and not counted as a fault, so a scenario cannot pass on faults that never happened."""


class Nemesis:
    name = "none"
    needs_namespaces = False       # partitions: skipped (with a message) on loopback
    needs_replica_proxies = False  # the runner fronts every replica's Raft port with a proxy
    hold_s = (2.0, 5.0)            # how long the fault lasts before it heals (seeded draw)

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
            raise NoEffect("no candidate")
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
            raise NoEffect("no leader")
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
            raise NoEffect("no leader")
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
            raise NoEffect("no agent")
        self.victim = ctx.rng.choice(alive)
        self.victim.signal(signal.SIGKILL)
        return f"killed agent {self.victim.agent_id}"

    def heal(self, ctx: Context) -> None:
        if self.victim is not None:
            self.victim.start()
        self.victim = None


class CutLeaderFromAgents(Nemesis):
    """Silently hold all traffic between the leader and the agents (not the followers):
    a Toxiproxy `timeout` toxic with timeout 0 on both directions."""

    name = "leader-agents-cut"

    def __init__(self) -> None:
        self.proxy: Any = None
        self.rules: list[tuple[str, str]] = []

    def inject(self, ctx: Context) -> str:
        leader = _leader(ctx)
        if ctx.net is not None and leader is not None:  # a silent partition in the router
            self.rules = ctx.net.cut(ctx.proxy_host, leader.node_id)
            return f"partitioned {leader.node_id} from the agents"
        if leader is None or leader.node_id not in ctx.proxies:
            raise NoEffect("no leader")
        self.proxy = ctx.proxies[leader.node_id]
        for stream in ("upstream", "downstream"):
            self.proxy.add_toxic(type="timeout", stream=stream, name=f"cut_{stream}", attributes={"timeout": 0})
        return f"cut {leader.node_id} from the agents"

    def heal(self, ctx: Context) -> None:
        if ctx.net is not None:
            ctx.net.restore(self.rules)
        self.rules = []
        if self.proxy is not None:
            _clear_toxics(self.proxy)
        self.proxy = None


class SlowAgentLinks(Nemesis):
    """Latency with jitter on every agent link (both directions)."""

    name = "slow-agent-links"

    def inject(self, ctx: Context) -> str:
        latency = ctx.rng.choice([50, 150, 400])
        _slow(ctx.proxies.values(), latency)
        return f"agent links slowed by {latency} ms"

    def heal(self, ctx: Context) -> None:
        _clear_all(ctx.proxies.values())


class LossyAgentLinks(Nemesis):
    """Connections reset at random and data sliced into small pieces on the agent links."""

    name = "lossy-agent-links"

    def inject(self, ctx: Context) -> str:
        for proxy in ctx.proxies.values():
            proxy.add_toxic(type="slicer", stream="downstream", name="slice",
                            attributes={"average_size": 64, "size_variation": 32, "delay": 1000})
            proxy.add_toxic(type="reset_peer", stream="upstream", name="reset", toxicity=0.3,
                            attributes={"timeout": 1500})
        return "agent links lossy"

    def heal(self, ctx: Context) -> None:
        _clear_all(ctx.proxies.values())


class TransferLeader(Nemesis):
    """Move leadership on purpose (through the API)."""

    name = "transfer-leader"

    def inject(self, ctx: Context) -> str:
        with ctx.cluster.client(retry_for=3) as c:
            try:
                return f"leader is now {c.transfer_leader().leader_id}"
            except Exception as e:
                raise NoEffect(f"transfer refused: {e}") from e

    def heal(self, ctx: Context) -> None:
        pass


class MembershipChange(Nemesis):
    """Membership changes through the API under load and faults: one turn adds a replica, the next
    removes it again; after each heal the leader must report exactly the members expected. A
    replica added last stays a member to the end (its digest is checked with the others')."""

    name = "membership-change"
    settle_s = 20.0

    def __init__(self) -> None:
        self.added: Replica | None = None
        self.expected: set[str] | None = None

    def inject(self, ctx: Context) -> str:
        if self.added is None:
            return self._add(ctx)
        return self._remove(ctx, self.added)

    def _add(self, ctx: Context) -> str:
        from wloadctl.testing.cluster import free_ports

        cluster = ctx.cluster
        api_port, raft_port = free_ports(2)
        node_id = f"r{len(cluster.replicas) + 1}"
        new = cluster._make_replica(node_id, api_port, raft_port)
        with cluster.client(retry_for=10) as c:
            try:
                c.add_member(node_id, new.raft_address, new.api_address)
                how = "added"
            except Exception as e:
                # Refused, or the answer was lost: a member that made it into the configuration must
                # run, or the cluster counts a member that never answers.
                if not _became_member(ctx, node_id):
                    raise NoEffect(f"add-member {node_id} refused: {e}") from e
                how = "added (its answer was lost)"
        shutil.rmtree(new.data_dir, ignore_errors=True)  # a fresh member (an earlier one may have used the id)
        cluster.replicas.append(new)
        cluster.write_configs([new])
        cluster.start(new, wait=False)
        self.added = new
        self.expected = {r.node_id for r in cluster.replicas}
        return f"{how} {node_id}"

    def _remove(self, ctx: Context, member: Replica) -> str:
        with ctx.cluster.client(retry_for=15) as c:
            for _ in range(3):
                try:
                    c.remove_member(member.node_id)
                    break
                except Exception as e:  # it may lead now: move leadership first, then try again
                    last = e
                    with contextlib.suppress(Exception):
                        c.transfer_leader()
            else:
                raise NoEffect(f"remove-member {member.node_id} refused: {last}")
        ctx.cluster.kill(member, signal.SIGTERM)  # a removed member keeps running until stopped
        ctx.cluster.replicas.remove(member)
        self.added = None
        self.expected = {r.node_id for r in ctx.cluster.replicas}
        return f"removed {member.node_id}"

    def heal(self, ctx: Context) -> None:
        expected, self.expected = self.expected, None
        if expected is None:
            return
        reported: set[str] = set()
        deadline = time.monotonic() + self.settle_s
        while time.monotonic() < deadline:  # bounded: a leader may be changing under other faults
            with contextlib.suppress(Exception), ctx.cluster.client(retry_for=2) as c:
                reported = {m.id for m in c.status().members}
                if reported == expected:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"membership after heal: expected {','.join(sorted(expected))}, "
                           f"the leader reports {','.join(sorted(reported)) or 'nothing'}")


class KillDuringInstall(Nemesis):
    """A follower kept down until it needs a snapshot, then killed in the middle of installing it
    (between the state replaced and the journal reset, held open by a test hook), then started
    again: it must recover from that moment and catch up (equal_digests at the end)."""

    name = "kill-during-install"
    hold_s = (0.5, 1.0)
    down_s = (8.0, 12.0)     # at ~90 entries/s and a snapshot every 500, past the leader's last one
    pause_s = 3.0            # how long the hook holds the install open
    wait_install_s = 20.0

    def __init__(self) -> None:
        self.victim: Replica | None = None

    def inject(self, ctx: Context) -> str:
        leader = _leader(ctx)
        followers = [r for r in ctx.cluster.replicas if r.running and r is not leader]
        if leader is None or not followers:
            raise NoEffect("no leader" if leader is None else "no follower")
        victim = self.victim = ctx.rng.choice(followers)
        ctx.cluster.kill(victim, signal.SIGKILL)
        down = ctx.rng.uniform(*self.down_s)
        time.sleep(down)  # the schedule's own pacing: the follower falls behind the leader's snapshot
        victim.install_pause_file.write_text(str(self.pause_s))
        seen_from = _log_size(victim)
        ctx.cluster.start(victim, wait=False)
        deadline = time.monotonic() + self.wait_install_s
        try:
            while time.monotonic() < deadline:
                index = _logged_field(victim.log_path, seen_from, "pausing a snapshot install", "index")
                if index is not None:
                    ctx.cluster.kill(victim, signal.SIGKILL)
                    victim.install_pause_file.write_text("0")
                    ctx.cluster.start(victim, wait=False)
                    return f"killed {victim.node_id} while it installed the snapshot at index {index}"
                if not victim.running:
                    raise RuntimeError(f"{victim.node_id} exited while catching up (exit {victim.proc.returncode})"
                                       if victim.proc else f"{victim.node_id} is not running")
                time.sleep(0.1)
        finally:
            victim.install_pause_file.write_text("0")
        raise NoEffect(f"{victim.node_id} caught up without a snapshot after {down:.0f} s down")

    def heal(self, ctx: Context) -> None:
        victim, self.victim = self.victim, None
        if victim is not None:
            victim.install_pause_file.write_text("0")
            if not victim.running:
                ctx.cluster.start(victim, wait=False)


class KillLeaderMidDispatch(Nemesis):
    """The leader killed after it committed a dispatch and before it sent the assignments (a test
    hook holds it there): the next leader must find those DISPATCHED runs and send them again."""

    name = "kill-leader-mid-dispatch"
    pause_s = 2.0
    wait_dispatch_s = 10.0

    def __init__(self) -> None:
        self.victim: Replica | None = None

    def inject(self, ctx: Context) -> str:
        leader = self.victim = _leader(ctx)
        if leader is None:
            raise NoEffect("no leader")
        seen_from = _log_size(leader)
        leader.dispatch_pause_file.write_text(str(self.pause_s))
        try:
            deadline = time.monotonic() + self.wait_dispatch_s
            while time.monotonic() < deadline and leader.running:
                runs = _logged_field(leader.log_path, seen_from, "pausing between a dispatch commit", "runs")
                if runs is not None:
                    ctx.cluster.kill(leader, signal.SIGKILL)
                    return f"killed {leader.node_id} between committing and sending the dispatch of {runs}"
                time.sleep(0.05)
        finally:
            leader.dispatch_pause_file.write_text("0")
        raise NoEffect(f"{leader.node_id} dispatched nothing in {self.wait_dispatch_s:.0f} s")

    def heal(self, ctx: Context) -> None:
        victim, self.victim = self.victim, None
        if victim is not None and not victim.running:
            ctx.cluster.start(victim, wait=False)


class KillLeaderMidTakeover(Nemesis):
    """The leader killed; its successor, held by a test hook after its agent quorum confirmed and
    before it reconciles, killed there too; the first started again at once so a third takeover
    (from the state, with agents confirmed to an epoch whose leader is gone) can follow."""

    name = "kill-leader-mid-takeover"
    pause_s = 2.0
    wait_takeover_s = 15.0

    def __init__(self) -> None:
        self.victims: list[Replica] = []

    def inject(self, ctx: Context) -> str:
        leader = _leader(ctx)
        if leader is None:
            raise NoEffect("no leader")
        others = [r for r in ctx.cluster.replicas if r.running and r is not leader]
        marks = {r.node_id: _log_size(r) for r in others}
        for r in others:
            r.takeover_pause_file.write_text(str(self.pause_s))
        try:
            ctx.cluster.kill(leader, signal.SIGKILL)
            self.victims = [leader]
            deadline = time.monotonic() + self.wait_takeover_s
            while time.monotonic() < deadline:
                for r in others:
                    epoch = _logged_field(r.log_path, marks[r.node_id], "pausing a takeover", "epoch")
                    if epoch is not None and r.running:
                        ctx.cluster.kill(r, signal.SIGKILL)
                        self.victims.append(r)
                        ctx.cluster.start(leader, wait=False)
                        return f"killed {leader.node_id}, then {r.node_id} in its takeover of epoch {epoch}"
                time.sleep(0.05)
        finally:
            for r in others:
                r.takeover_pause_file.write_text("0")
        raise NoEffect(f"killed {leader.node_id}; no successor reached reconcile in {self.wait_takeover_s:.0f} s")

    def heal(self, ctx: Context) -> None:
        victims, self.victims = self.victims, []
        for r in victims:
            if not r.running:
                ctx.cluster.start(r, wait=False)


class RestartAgentFast(Nemesis):
    """kill -9 an agent with runs in flight and start it again at once, well within its lease: the
    processes died with it, and each attempt must follow the job's lost policy."""

    name = "restart-agent-fast"

    def inject(self, ctx: Context) -> str:
        agents = [a for a in ctx.cluster.agents if a.running]
        if not agents:
            raise NoEffect("no agent")
        victim = ctx.rng.choice(agents)
        victim.signal(signal.SIGKILL)
        victim.start()
        return f"restarted agent {victim.agent_id} at once"

    def heal(self, ctx: Context) -> None:
        for a in ctx.cluster.agents:
            if not a.running:
                a.start()


def _became_member(ctx: Context, node_id: str, within_s: float = 20.0) -> bool:
    """Whether the cluster counts ``node_id`` as a member, asked until ``within_s`` (bounded)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), ctx.cluster.client(retry_for=2) as c:
            return node_id in {m.id for m in c.status().members}
        time.sleep(0.5)
    return False


def _log_size(replica: Replica) -> int:
    """Where the replica's log ends now: what it logs next is read from there."""
    return replica.log_path.stat().st_size if replica.log_path.exists() else 0


def _logged_field(log: Path, offset: int, message: str, key: str) -> str | None:
    """``key`` of the first JSON log record after ``offset`` whose message contains ``message``."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if message in line and line.startswith("{"):
            with contextlib.suppress(ValueError):
                return str(json.loads(line).get(key, ""))
    return None


class RollingRestart(Nemesis):
    """Restart every replica in turn (SIGTERM, start again), as an upgrade would."""

    name = "rolling-restart"

    def inject(self, ctx: Context) -> str:
        done = []
        for r in list(ctx.cluster.replicas):
            if not r.running:
                continue
            ctx.cluster.kill(r, signal.SIGTERM)
            ctx.cluster.start(r, wait=True)  # waits for a leader before the next one goes
            done.append(r.node_id)
        return "restarted " + ",".join(done)

    def heal(self, ctx: Context) -> None:
        pass


class ClockJump(Nemesis):
    """Jump the leader's wall clock (the time it stamps into commands) by an hour, back or forward.

    Uses the test-only offset hook (wloadctl/server/testclock.py): libfaketime hangs Python 3.11
    threads. State time must never move backwards; leases use monotonic clocks and must not care.
    """

    name = "clock-jump"

    def __init__(self) -> None:
        self.victim: Replica | None = None

    def inject(self, ctx: Context) -> str:
        self.victim = _leader(ctx)
        if self.victim is None:
            raise NoEffect("no leader")
        jump = ctx.rng.choice([-3600, 3600, -86400])
        self.victim.clock_offset_file.write_text(str(jump))
        return f"{self.victim.node_id} clock {jump:+d} s"

    def heal(self, ctx: Context) -> None:
        if self.victim is not None:
            self.victim.clock_offset_file.write_text("0")
        self.victim = None


# ---- partitions between replicas, silent drops in the router (network namespaces only)


def _replica_hosts(ctx: Context) -> list[str]:
    return [r.node_id for r in ctx.cluster.replicas]


class PartitionNemesis(Nemesis):
    needs_namespaces = True

    def __init__(self) -> None:
        self.rules: list[tuple[str, str]] = []

    def groups(self, ctx: Context, net: Network) -> str:
        """Make the partition (recording its rules in self.rules); describe it."""
        raise NotImplementedError

    def inject(self, ctx: Context) -> str:
        if ctx.net is None:
            raise RuntimeError(f"{self.name} needs network namespaces")
        return self.groups(ctx, ctx.net)

    def heal(self, ctx: Context) -> None:
        if ctx.net is not None:
            ctx.net.restore(self.rules)
        self.rules = []


class IsolateLeader(PartitionNemesis):
    """The leader cannot reach any other replica, nor they it; clients and agents still reach it."""

    name = "partition-leader"

    def groups(self, ctx: Context, net: Network) -> str:
        leader = _leader(ctx)
        if leader is None:
            raise NoEffect("no leader")
        others = [n for n in _replica_hosts(ctx) if n != leader.node_id]
        self.rules += net.partition([leader.node_id], others)
        return f"isolated {leader.node_id} from {','.join(others)}"


class MajorityMinority(PartitionNemesis):
    """Replicas split in two: a majority and a minority (the leader on either side)."""

    name = "partition-halves"

    def groups(self, ctx: Context, net: Network) -> str:
        nodes = _replica_hosts(ctx)
        ctx.rng.shuffle(nodes)
        minority, majority = nodes[: (len(nodes) - 1) // 2], nodes[(len(nodes) - 1) // 2:]
        self.rules += net.partition(minority, majority)
        return f"minority {','.join(sorted(minority))} | majority {','.join(sorted(majority))}"


class OneWay(PartitionNemesis):
    """Packets from the leader to the followers are dropped, or from the followers to the leader."""

    name = "partition-one-way"

    def groups(self, ctx: Context, net: Network) -> str:
        leader = _leader(ctx)
        if leader is None:
            raise NoEffect("no leader")
        others = [n for n in _replica_hosts(ctx) if n != leader.node_id]
        outbound = ctx.rng.random() < 0.5
        for o in others:
            self.rules += net.drop(leader.node_id, o) if outbound else net.drop(o, leader.node_id)
        arrow = "->" if outbound else "<-"
        return f"dropping {leader.node_id} {arrow} {','.join(others)}"


class Bridge(PartitionNemesis):
    """Two halves that cannot see each other and one replica (the bridge) that sees both."""

    name = "partition-bridge"

    def groups(self, ctx: Context, net: Network) -> str:
        nodes = _replica_hosts(ctx)
        ctx.rng.shuffle(nodes)
        bridge, rest = nodes[0], nodes[1:]
        left, right = rest[: len(rest) // 2], rest[len(rest) // 2:]
        self.rules += net.partition(left, right)
        return f"{','.join(sorted(left))} | {','.join(sorted(right))} bridged by {bridge}"


class AgentNetworkLoss(PartitionNemesis):
    """One agent loses its network mid-run (silently): its runs are orphaned, lost and retried."""

    name = "agent-net-loss"
    hold_s = (5.0, 9.0)  # past lease + margin (4.5 s): the cluster must declare its runs lost and retry them

    def groups(self, ctx: Context, net: Network) -> str:
        alive = [a for a in ctx.cluster.agents if a.running]
        if not alive:
            raise NoEffect("no agent")
        # Preferably one running a job that outlives its lease, so the orphan policy has a process
        # to kill (one that ignores SIGTERM, when it can): the path this fault is for.
        busy = _agents_running(ctx, ("chaos-stubborn",)) or _agents_running(ctx, ("chaos-long",))
        victim = ctx.rng.choice([a for a in alive if a.agent_id in busy] or alive)
        for other in [ctx.proxy_host, *_replica_hosts(ctx)]:
            self.rules += net.cut(victim.agent_id, other)
        return f"agent {victim.agent_id} off the network"


def _agents_running(ctx: Context, jobs: tuple[str, ...]) -> set[str]:
    """Agents the cluster sees running a run of ``jobs`` now (empty when it cannot tell)."""
    from wloadctl.proto.v1 import runs_pb2

    try:
        with ctx.cluster.client(retry_for=2) as c:
            return {r.agent_id for job in jobs for r in c.iter_runs(job_name=job, state=runs_pb2.RUNNING)}
    except Exception:
        return set()


# ---- links between replicas, through the proxies in front of their Raft ports


class SlowReplicaLinks(Nemesis):
    """Latency with jitter on every Raft link, in both directions."""

    name = "slow-replica-links"
    needs_replica_proxies = True

    def inject(self, ctx: Context) -> str:
        latency = ctx.rng.choice([20, 60, 150])
        _slow(ctx.replica_proxies.values(), latency)
        return f"raft links slowed by {latency} ms"

    def heal(self, ctx: Context) -> None:
        _clear_all(ctx.replica_proxies.values())


class LossyReplicaLinks(Nemesis):
    """Raft connections reset at random, data sliced small and trickled, on some replicas' proxies.

    A Raft connection crosses the proxy of the replica that was dialed (pysyncobj: the greater
    address dials), so a lossy proxy degrades that replica's links to the replicas above it."""

    name = "lossy-replica-links"
    needs_replica_proxies = True

    def inject(self, ctx: Context) -> str:
        ids = sorted(ctx.replica_proxies)
        victims = ctx.rng.sample(ids, k=max(1, len(ids) // 2))
        for node_id in victims:
            proxy = ctx.replica_proxies[node_id]
            proxy.add_toxic(type="slicer", stream="downstream", name="slice",
                            attributes={"average_size": 128, "size_variation": 64, "delay": 500})
            proxy.add_toxic(type="reset_peer", stream="upstream", name="reset", toxicity=0.2,
                            attributes={"timeout": 2000})
        return f"raft links of {','.join(victims)} lossy"

    def heal(self, ctx: Context) -> None:
        _clear_all(ctx.replica_proxies.values())


def _disk_full() -> Nemesis:
    from chaos.disk import DiskFull  # chaos.disk builds on this module

    return DiskFull()


NEMESES = {
    "kill-leader": lambda: KillReplica("leader"),
    "kill-follower": lambda: KillReplica("follower"),
    "kill-random": lambda: KillReplica("random"),
    "pause-leader": PauseLeader,
    "flap-leader": FlapLeader,
    "crash-agent": CrashAgent,
    "leader-agents-cut": CutLeaderFromAgents,
    "transfer-leader": TransferLeader,
    "slow-agent-links": SlowAgentLinks,
    "lossy-agent-links": LossyAgentLinks,
    "clock-jump": ClockJump,
    "membership-change": MembershipChange,
    "rolling-restart": RollingRestart,
    "kill-during-install": KillDuringInstall,
    "kill-leader-mid-dispatch": KillLeaderMidDispatch,
    "restart-agent-fast": RestartAgentFast,
    "kill-leader-mid-takeover": KillLeaderMidTakeover,
    "partition-leader": IsolateLeader,
    "partition-halves": MajorityMinority,
    "partition-one-way": OneWay,
    "partition-bridge": Bridge,
    "agent-net-loss": AgentNetworkLoss,
    "slow-replica-links": SlowReplicaLinks,
    "lossy-replica-links": LossyReplicaLinks,
    "disk-full": _disk_full,
}

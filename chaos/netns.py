"""Hosts in network namespaces joined by a router namespace, and silent partitions made in the router.

Topology of one run (tag = a short per-run id, NET = 10.X.0.0/16 picked per run):

    root namespace (runner, workload)  10.X.0.2 ── veth ── 10.X.0.1 ┐
    host h (replica, agent, proxy)     10.X.n.2 ── veth ── 10.X.n.1 ┤ router namespace (forwards)
                                                                   ┘
A partition is a policy rule of type ``blackhole`` in the router (``ip rule add from A to B
blackhole``): forwarded packets that match are dropped without an ICMP error, so both ends see
a silent network, as with a real partition. A blackhole route in the sender's own namespace would
fail its sends at once with EINVAL instead. Rules are per direction, which gives one-way partitions.

Needs root and iproute2; `available()` says whether this machine can do it and why not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field

log = logging.getLogger("chaos.netns")

PREFIX = "wlc"          # every namespace and root-side link this module makes starts with it
RULE_PRIO_FIRST = 1000  # partition rules live in [1000, 30000); lookups of local/main come after


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def available() -> tuple[bool, str]:
    """Whether namespaces can be made here; the reason when not."""
    if shutil.which("ip") is None:
        return False, "iproute2 (the ip command) is not installed"
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    probe = f"{PREFIX}probe{os.getpid()}"
    done = _ip("netns", "add", probe, check=False)
    if done.returncode != 0:
        return False, f"ip netns add failed: {done.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return True, ""


def exec_prefix(ns: str | None) -> list[str]:
    """argv prefix that runs a program inside `ns` (`ip netns exec` execs it: the pid is the program's)."""
    return ["ip", "netns", "exec", ns] if ns else []


def cleanup_stale() -> list[str]:
    """Delete namespaces left by runs whose process is gone (a runner killed with -9)."""
    removed = []
    listing = _ip("netns", "list", check=False).stdout.split()
    for name in listing:
        if not name.startswith(PREFIX) or "-" not in name:
            continue
        pid = name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


@dataclass
class Host:
    name: str
    ns: str
    ip: str
    index: int


@dataclass
class Network:
    """A router namespace, hosts around it, and the runner's own link into it."""

    second_octet: int = 0
    tag: str = ""
    hosts: dict[str, Host] = field(default_factory=dict)
    router: str = ""
    # (src, dst) -> [rule priority, how many faults want it]: overlapping faults heal independently
    _rules: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    _next_prio: int = RULE_PRIO_FIRST
    _root_link: str = ""

    def __post_init__(self) -> None:
        self.tag = self.tag or str(os.getpid())
        self.second_octet = self.second_octet or 200 + os.getpid() % 50
        self.router = f"{PREFIX}{self.tag}-rt"

    @property
    def root_ip(self) -> str:
        return f"10.{self.second_octet}.0.2"

    def _subnet(self, index: int) -> str:
        return f"10.{self.second_octet}.{index}"

    def create(self) -> Network:
        cleanup_stale()
        net = f"10.{self.second_octet}.0.0/16"
        routes = _ip("route", "show").stdout
        if f"10.{self.second_octet}." in routes:
            raise NetnsError(f"{net} is already routed in the root namespace; pick another second_octet")
        _ip("netns", "add", self.router)
        _ip("link", "set", "lo", "up", ns=self.router)
        _ip("netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # The runner's link: root side keeps its name, the router side moves into the router.
        self._root_link = f"{PREFIX}{self.tag}c"[:15]
        peer = f"{PREFIX}{self.tag}cr"[:15]
        _ip("link", "add", self._root_link, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", self.router)
        _ip("addr", "add", f"{self._subnet(0)}.1/24", "dev", peer, ns=self.router)
        _ip("link", "set", peer, "up", ns=self.router)
        _ip("addr", "add", f"{self.root_ip}/24", "dev", self._root_link)
        _ip("link", "set", self._root_link, "up")
        _ip("route", "add", net, "via", f"{self._subnet(0)}.1")
        return self

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 1
        if index > 250:
            raise NetnsError("at most 250 hosts")
        ns = f"{PREFIX}{self.tag}-{name}"
        # Both ends are born in the root namespace: names carry the tag so parallel runs never clash.
        inner, outer = f"{PREFIX}{self.tag}h{index}"[:15], f"{PREFIX}{self.tag}r{index}"[:15]
        _ip("netns", "add", ns)
        _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "netns", self.router)
        _ip("addr", "add", f"{self._subnet(index)}.1/24", "dev", outer, ns=self.router)
        _ip("link", "set", outer, "up", ns=self.router)
        _ip("addr", "add", f"{self._subnet(index)}.2/24", "dev", inner, ns=ns)
        _ip("link", "set", inner, "up", ns=ns)
        _ip("route", "add", "default", "via", f"{self._subnet(index)}.1", ns=ns)
        host = Host(name=name, ns=ns, ip=f"{self._subnet(index)}.2", index=index)
        self.hosts[name] = host
        return host

    # ---- partitions

    def drop(self, src: str, dst: str) -> list[tuple[str, str]]:
        """Silently drop every packet from host `src` to host `dst` (one direction); returns what to restore."""
        key = (src, dst)
        if key in self._rules:
            self._rules[key][1] += 1
            return [key]
        prio = self._next_prio
        self._next_prio += 1
        _ip("rule", "add", "from", self.hosts[src].ip, "to", self.hosts[dst].ip, "blackhole",
            "prio", str(prio), ns=self.router)
        self._rules[key] = [prio, 1]
        return [key]

    def cut(self, a: str, b: str) -> list[tuple[str, str]]:
        return self.drop(a, b) + self.drop(b, a)

    def partition(self, *groups: list[str]) -> list[tuple[str, str]]:
        """Hosts in different groups cannot reach each other (both directions)."""
        made = []
        for i, g in enumerate(groups):
            for other in groups[i + 1:]:
                for a in g:
                    for b in other:
                        made += self.cut(a, b)
        return made

    def restore(self, keys: list[tuple[str, str]]) -> None:
        """Undo drops one fault made; a rule another fault still wants stays."""
        for key in keys:
            rule = self._rules.get(key)
            if rule is None:
                continue
            rule[1] -= 1
            if rule[1] <= 0:
                del self._rules[key]
                _ip("rule", "del", "prio", str(rule[0]), ns=self.router, check=False)

    def heal(self) -> None:
        """Remove every partition."""
        for key, (prio, _) in list(self._rules.items()):
            _ip("rule", "del", "prio", str(prio), ns=self.router, check=False)
            del self._rules[key]
        self._next_prio = RULE_PRIO_FIRST

    def dropped(self) -> list[tuple[str, str]]:
        return sorted(self._rules)

    # ---- teardown

    def destroy(self) -> None:
        """Delete every namespace of this network (their links go with them) and the runner's route."""
        for host in self.hosts.values():
            _ip("netns", "del", host.ns, check=False)
        _ip("netns", "del", self.router, check=False)
        if self._root_link:
            with contextlib.suppress(NetnsError):
                _ip("link", "del", self._root_link, check=False)
        self.hosts.clear()
        self._rules.clear()

    def __enter__(self) -> Network:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

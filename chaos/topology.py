"""Where a chaos run's processes live and how their links can be degraded.

Two modes:

* ``netns``: every replica and agent is a host in its own network namespace behind a router
  (chaos/netns.py), so partitions between any two hosts are silent drops. Agents reach the
  replicas through Toxiproxy proxies on a host of their own (``px``), so agent links can be slowed
  or cut without touching the replicas' links to each other or to clients.
* ``loopback``: the fallback without root or iproute2. Everything on 127.0.0.1; agents reach the
  replicas through the runner's in-process Toxiproxy-API server. Partition nemeses are skipped.

Either way, when a scenario degrades the links *between replicas*, each replica listens on a
private bind address and is known to its peers by an address owned by a proxy in front of it
(``raft_bind_address``): every Raft connection to it crosses that proxy, in both directions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from chaos import netns
from chaos.toxiproxy import toxiproxy_url
from wloadctl.testing.cluster import LocalCluster, Placement, free_ports

PROXY_HOST = "px"
TOXIPROXY_PORT = 8474


class BoundProxy:
    """A toxiproxy-python Proxy tied to the server that owns it.

    toxiproxy-python keeps one API address for the whole process; a run can use several servers
    (one per namespace), so every call first points the client at the right one.
    """

    def __init__(self, url: str, proxy: Any) -> None:
        parsed = urlparse(url)
        self._host, self._port = parsed.hostname, parsed.port
        self._proxy = proxy

    @property
    def listen(self) -> str:
        return str(self._proxy.listen)

    def _use(self) -> None:
        APIConsumer.host, APIConsumer.port = self._host, self._port

    def add_toxic(self, **kwargs: Any) -> Any:
        self._use()
        return self._proxy.add_toxic(**kwargs)

    def toxics(self) -> dict[str, Any]:
        self._use()
        return dict(self._proxy.toxics())

    def destroy_toxic(self, name: str) -> Any:
        self._use()
        return self._proxy.destroy_toxic(name)

    def clear(self) -> None:
        for name in list(self.toxics()):
            self.destroy_toxic(name)

    def destroy(self) -> None:
        self._use()
        with contextlib.suppress(Exception):
            self._proxy.destroy()


def _create(url: str, name: str, listen: str, upstream: str) -> BoundProxy:
    parsed = urlparse(url)
    toxi = Toxiproxy()
    toxi.update_api_consumer(parsed.hostname, parsed.port)
    return BoundProxy(url, toxi.create(upstream=upstream, name=name, listen=listen))


@dataclass
class Topology:
    root: Path
    mode: str                                  # "netns" | "loopback"
    why_loopback: str = ""
    net: netns.Network | None = None
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # Toxiproxy processes in namespaces
    agent_proxies: dict[str, BoundProxy] = field(default_factory=dict)    # replica id -> proxy agents use
    replica_proxies: dict[str, BoundProxy] = field(default_factory=dict)  # replica id -> proxy peers use
    agent_proxy_url: str = ""
    _prefix: str = ""

    @classmethod
    def choose(cls, root: Path, wanted: str = "auto") -> Topology:
        """`wanted`: auto (namespaces when possible), netns (required) or loopback."""
        if wanted not in ("auto", "netns", "loopback"):
            raise ValueError(f"unknown network mode {wanted!r}")
        if wanted == "loopback":
            return cls(root, "loopback", why_loopback="asked for loopback")
        ok, why = netns.available()
        if not ok:
            if wanted == "netns":
                raise RuntimeError(f"network namespaces unavailable: {why}")
            return cls(root, "loopback", why_loopback=why)
        return cls(root, "netns")

    @property
    def namespaces(self) -> bool:
        return self.net is not None

    # ---- set-up, in the order the runner calls it

    def start(self) -> None:
        self._prefix = f"wl{os.getpid()}-"
        if self.mode == "loopback":
            self.agent_proxy_url = toxiproxy_url()  # ours, or a real Toxiproxy at $TOXIPROXY_URL
            return
        self.net = netns.Network().create()
        px = self.net.add_host(PROXY_HOST)
        self.agent_proxy_url = self._serve_toxiproxy(px)

    def place(self, name: str) -> Placement:
        """LocalCluster's placement hook: a namespace host per replica or agent, made on first use."""
        if self.net is None:
            return Placement()
        host = self.net.hosts.get(name) or self.net.add_host(name)
        return Placement(ip=host.ip, netns=host.ns)

    def tls_names(self) -> list[str]:
        return [self.net.hosts[PROXY_HOST].ip] if self.net is not None else []

    def front_replicas(self, cluster: LocalCluster) -> None:
        """Put a proxy in front of every replica's Raft port (before the cluster starts)."""
        for r in cluster.replicas:
            host, _, _port = r.raft_address.rpartition(":")
            r.raft_bind_address = f"{host}:{free_ports(1)[0]}"
            # namespaces: a server inside the replica's own, so partitions in the router still apply
            url = self._serve_toxiproxy(self.net.hosts[r.node_id]) if self.net is not None else self.agent_proxy_url
            self.replica_proxies[r.node_id] = _create(url, f"{self._prefix}raft-{r.node_id}", r.raft_address,
                                                      r.raft_bind_address)
        cluster.write_configs()

    def proxy_agents(self, cluster: LocalCluster) -> None:
        """Proxies agents reach the replicas through (after the cluster has its agent addresses)."""
        ip = self.net.hosts[PROXY_HOST].ip if self.net is not None else "127.0.0.1"
        for r in cluster.replicas:
            if r.node_id in self.agent_proxies:
                continue
            self.agent_proxies[r.node_id] = _create(self.agent_proxy_url, f"{self._prefix}agents-{r.node_id}",
                                                    f"{ip}:{free_ports(1)[0]}", r.agent_address)

    def point_agent(self, agent_config: Path, cluster: LocalCluster) -> None:
        text = agent_config.read_text()
        for r in cluster.replicas:
            text = text.replace(f'"{r.agent_address}"', f'"{self.agent_proxies[r.node_id].listen}"')
        agent_config.write_text(text)

    # ---- during the run

    def heal(self) -> None:
        for p in [*self.agent_proxies.values(), *self.replica_proxies.values()]:
            p.clear()
        if self.net is not None:
            self.net.heal()

    def stop(self) -> None:
        for p in [*self.agent_proxies.values(), *self.replica_proxies.values()]:
            p.destroy()
        for proc in self.servers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if self.net is not None:
            self.net.destroy()

    # ---- helpers

    def _serve_toxiproxy(self, host: netns.Host) -> str:
        """A Toxiproxy-API server inside `host`'s namespace (proxies there see that host's network)."""
        log = open(self.root / f"toxiproxy-{host.name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [*netns.exec_prefix(host.ns), sys.executable, "-m", "chaos.toxiproxy", "--host", host.ip,
             "--port", str(TOXIPROXY_PORT), "--allow-listen", host.ip],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=Path(__file__).resolve().parent.parent)
        log.close()
        self.servers.append(proc)
        url = f"http://{host.ip}:{TOXIPROXY_PORT}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/version", timeout=1).ok:
                    return url
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Toxiproxy server in {host.ns} did not start (see toxiproxy-{host.name}.log)")
            time.sleep(0.05)


"""Real replica processes on loopback, for tests, benchmarks and the chaos suite.

Each replica is ``python -m wloadctl server`` in its own process; every
process started here is stopped by its pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from wloadctl.client import Client, ClientCredentials, ClientError
from wloadctl.config import render_config, toml_string
from wloadctl.proto.v1 import api_pb2
from wloadctl.security.certs import init_ca, issue

_HANDED_OUT: set[int] = set()


def free_ports(n: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1, never one this process handed out before.

    The kernel may hand a just-released port out again, so two calls made before the first
    ports are bound (an API port now, an agent port a moment later) could collide without the
    memory of what was already given.
    """
    socks: list[socket.socket] = []
    try:
        ports: list[int] = []
        for _ in range(n + 1000):
            if len(ports) == n:
                break
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                ports.append(port)
        if len(ports) < n:
            raise OSError(f"could not find {n} free ports not handed out before")
        _HANDED_OUT.update(ports)
        return ports
    finally:
        for s in socks:
            s.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (ClientError, grpc.RpcError, OSError) as e:
            last_error = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}"
                               + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


def _netns_prefix(ns: str | None) -> list[str]:
    # `ip netns exec` execs the program after joining the namespace: the pid stays the program's.
    return ["ip", "netns", "exec", ns] if ns else []


@dataclass
class Placement:
    """Where a replica or agent runs: its address and network namespace (chaos hosts)."""

    ip: str = "127.0.0.1"
    netns: str | None = None


@dataclass
class Replica:
    node_id: str
    api_address: str
    raft_address: str
    data_dir: Path
    config_path: Path
    log_path: Path
    metrics_address: str = ""
    agent_address: str = ""
    http_address: str = ""        # webhooks (api/webhooks.py)
    raft_bind_address: str = ""   # when peers reach it through a proxy at raft_address
    netns: str | None = None      # network namespace it runs in (chaos hosts), None = this one
    proc: subprocess.Popen[bytes] | None = None

    def hook_file(self, hook: str) -> Path:
        """The file a test-only hook of this replica reads (server/testclock.py, raft/testhooks.py)."""
        return self.data_dir.with_name(f"{self.node_id}.{hook}")

    @property
    def clock_offset_file(self) -> Path:
        """Seconds to add to this replica's wall clock."""
        return self.hook_file("clock-offset")

    @property
    def install_pause_file(self) -> Path:
        """Seconds to pause mid snapshot install."""
        return self.hook_file("install-pause")

    @property
    def dispatch_pause_file(self) -> Path:
        """Seconds to pause between a dispatch commit and its send."""
        return self.hook_file("dispatch-pause")

    @property
    def takeover_pause_file(self) -> Path:
        """Seconds to pause a takeover before reconcile."""
        return self.hook_file("takeover-pause")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class AgentProc:
    agent_id: str
    root: Path
    config_path: Path
    log_path: Path
    work_dir: Path
    insecure: bool = False
    netns: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    metrics_address: str = ""  # its Prometheus metrics (HOST:PORT inside its network namespace, if any)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*_netns_prefix(self.netns), sys.executable, "-m", "wloadctl", "agent",
                 "--config", str(self.config_path),
                 *(["--insecure"] if self.insecure else [])],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class LocalCluster:
    root: Path
    size: int = 3
    raft_settings: dict[str, float | int] = field(default_factory=dict)
    settings: dict[str, float | int] = field(default_factory=dict)  # more top-level settings of every replica
    secret: str | None = field(default_factory=lambda: secrets.token_hex(32))
    replicas: list[Replica] = field(default_factory=list)
    insecure: bool = False
    metrics: bool = False
    tls: bool = True
    admin_token: str = ""  # the first admin credential (bootstrapped at the first start)
    control: dict[str, str | float | int] = field(default_factory=dict)
    agents: list[AgentProc] = field(default_factory=list)
    # node or agent id -> where it runs; default: this namespace, on loopback
    place: Callable[[str], Placement] | None = None
    tls_names: list[str] = field(default_factory=list)  # more names for replica certificates (a proxy's IP)
    # Every replica process ever started: stop() ends them all, also those of a member that left
    # `replicas` (removed, re-added under the same id) without its process having stopped.
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def placement(self, name: str) -> Placement:
        return self.place(name) if self.place else Placement()

    def __post_init__(self) -> None:
        # Configs name the cluster's files, and the server and agent resolve a relative path against
        # the config's own folder (a relative root would be doubled): configs hold absolute paths only.
        self.root = Path(self.root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.certs = self.root / "certs"
        if self.tls:
            init_ca(self.certs)
        ports = free_ports(self.size * 2)
        for i in range(self.size):
            self.replicas.append(self._make_replica(f"r{i + 1}", ports[i], ports[self.size + i]))
        self.write_configs()

    def _make_replica(self, node_id: str, api_port: int, raft_port: int) -> Replica:
        where = self.placement(node_id)
        ip = where.ip
        metrics = f"{ip}:{free_ports(1)[0]}" if self.metrics else ""
        if self.tls:
            issue(self.certs, "replica", node_id, sorted({ip, "127.0.0.1", "localhost", *self.tls_names}))
        return Replica(node_id=node_id, api_address=f"{ip}:{api_port}",
                       raft_address=f"{ip}:{raft_port}", data_dir=self.root / node_id,
                       config_path=self.root / f"{node_id}.toml", log_path=self.root / f"{node_id}.log",
                       metrics_address=metrics, agent_address=f"{ip}:{free_ports(1)[0]}",
                       http_address=f"{ip}:{free_ports(1)[0]}", netns=where.netns)

    def write_configs(self, members: list[Replica] | None = None) -> None:
        secret_file = self.root / "cluster.secret"
        if self.secret:
            secret_file.write_text(self.secret + "\n")
            secret_file.chmod(0o600)
        for r in members or self.replicas:
            self.write_config(r, self.replicas, secret_file if self.secret else None)

    def write_config(self, r: Replica, peers: list[Replica], secret_file: Path | None) -> None:
        r.config_path.write_text(render_config(
            r.node_id, r.raft_address, r.api_address, str(r.data_dir), str(secret_file) if secret_file else None,
            [(p.node_id, p.raft_address, p.api_address) for p in peers], raft=self.raft_settings,
            metrics_address=r.metrics_address, agent_address=r.agent_address, control=self.control,
            tls={"ca": str(self.certs / "ca.crt"), "cert": str(self.certs / f"replica-{r.node_id}.crt"),
                 "key": str(self.certs / f"replica-{r.node_id}.key")} if self.tls else None,
            raft_bind_address=r.raft_bind_address, settings=self.settings, http_address=r.http_address))

    # ---- processes

    def start(self, r: Replica | None = None, wait: bool = True) -> None:
        for rep in [r] if r else self.replicas:
            if rep.running:
                continue
            with open(rep.log_path, "ab") as log:
                rep.proc = subprocess.Popen(
                    [*_netns_prefix(rep.netns), sys.executable, "-m", "wloadctl", "server",
                     "--config", str(rep.config_path),
                     *(["--insecure"] if self.insecure or not self.tls else [])],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1",
                         "WLOADCTL_TEST_CLOCK_OFFSET_FILE": str(rep.clock_offset_file),
                         "WLOADCTL_TEST_INSTALL_PAUSE_FILE": str(rep.install_pause_file),
                         "WLOADCTL_TEST_DISPATCH_PAUSE_FILE": str(rep.dispatch_pause_file),
                         "WLOADCTL_TEST_TAKEOVER_PAUSE_FILE": str(rep.takeover_pause_file)})
                self.started.append(rep.proc)
        if wait:
            self.ensure_admin()
            self.wait_for_leader()

    # ---- credentials

    @property
    def secure(self) -> bool:
        """TLS on the client API and authentication (a replica run with --insecure has neither)."""
        return self.tls and not self.insecure

    def credentials(self, token: str | None = None) -> ClientCredentials:
        """The cluster's CA and a credential (the admin's by default)."""
        if not self.secure:
            return ClientCredentials(token=token or "")
        return ClientCredentials(token=self.admin_token if token is None else token,
                                 ca_pem=(self.certs / "ca.crt").read_bytes())

    def channel(self, address: str) -> grpc.Channel:
        """A raw channel to a replica's API (TLS with the cluster CA unless the cluster is insecure)."""
        creds = self.credentials(token="")
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(creds.ca_pem)) \
            if creds.ca_pem is not None else grpc.insecure_channel(address)

    def ensure_admin(self, timeout: float = 60.0) -> str:
        """Bootstrap the first admin API key once (kept in root/admin.token across restarts)."""
        if not self.secure or self.admin_token:
            return self.admin_token
        token_file = self.root / "admin.token"
        if token_file.exists():
            self.admin_token = token_file.read_text().strip()
            return self.admin_token
        # Bootstrap is open and goes to the leader: retried until there is one.
        with Client([r.api_address for r in self.replicas], credentials=self.credentials(token=""),
                    retry_for=timeout) as c:
            self.admin_token = c.bootstrap().token
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.admin_token + "\n")
        return self.admin_token

    def kill(self, r: Replica, sig: int = signal.SIGKILL) -> None:
        if r.proc is not None and r.proc.poll() is None:
            r.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                r.proc.wait(timeout=30)

    def stop(self) -> None:
        for a in self.agents:
            a.stop()
        for r in self.replicas:
            if r.proc is not None and r.proc.poll() is None:
                r.proc.send_signal(signal.SIGCONT)
                r.proc.terminate()
        for r in self.replicas:
            if r.proc is not None:
                try:
                    r.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    r.proc.kill()
                    r.proc.wait(timeout=10)
        for proc in self.started:  # any left behind by a member no longer listed
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- agents

    def add_agent(self, agent_id: str, capacity: int = 4, labels: dict[str, str] | None = None,
                  lease_seconds: float = 3.0, orphan_policy: str = "kill", start: bool = True,
                  replicas: list[str] | None = None,
                  settings: dict[str, bool | list[str]] | None = None) -> AgentProc:
        """`replicas`: the agent link addresses it dials (default: every replica's); `settings`: more
        top-level settings, such as allowed_run_as = [...] or allow_scripts = false."""
        a = AgentProc(agent_id=agent_id, root=self.root, config_path=self.root / f"agent-{agent_id}.toml",
                      log_path=self.root / f"agent-{agent_id}.log", work_dir=self.root / f"agent-{agent_id}",
                      insecure=not self.tls, netns=self.placement(agent_id).netns)
        # In its own network namespace every agent has its own loopback; here they share one.
        a.metrics_address = f"127.0.0.1:{18891 if a.netns else free_ports(1)[0]}"
        q = toml_string  # paths and labels may hold quotes or backslashes
        lines = [f"agent_id = {q(agent_id)}", f"capacity = {capacity}",
                 "replicas = [" + ", ".join(q(r) for r in replicas or [r.agent_address for r in self.replicas]) + "]",
                 f"work_dir = {q(str(a.work_dir))}", f"lease_seconds = {lease_seconds}",
                 f"orphan_policy = {q(orphan_policy)}", f"metrics_address = {q(a.metrics_address)}"]
        if labels:
            lines.append("labels = { " + ", ".join(f"{q(k)} = {q(v)}" for k, v in labels.items()) + " }")
        for key, value in (settings or {}).items():
            rendered = ("true" if value else "false") if isinstance(value, bool) else \
                "[" + ", ".join(q(v) for v in value) + "]"
            lines.append(f"{key} = {rendered}")
        if self.tls:
            issue(self.certs, "agent", agent_id)
            cert, key = self.certs / f"agent-{agent_id}.crt", self.certs / f"agent-{agent_id}.key"
            lines += ["", "[tls]", f"ca = {q(str(self.certs / 'ca.crt'))}", f"cert = {q(str(cert))}",
                      f"key = {q(str(key))}"]
        lines += ["", "[log]", 'format = "json"', ""]
        a.config_path.write_text("\n".join(lines))
        self.agents.append(a)
        if start:
            a.start()
        return a

    # ---- views

    def client(self, servers: Sequence[str] | None = None, token: str | None = None, **kwargs: Any) -> Client:
        """A client of this cluster (every replica, or ``servers``) with the admin's credential, or ``token``."""
        return Client(list(servers) if servers is not None else [r.api_address for r in self.replicas],
                      credentials=self.credentials(token), **kwargs)

    def status_of(self, r: Replica, timeout: float = 2.0) -> api_pb2.ClusterStatus:
        with self.client([r.api_address], timeout=timeout, retry_for=0) as c:
            return c.status(server=r.api_address)

    def leader(self) -> Replica | None:
        for r in self.replicas:
            if not r.running:
                continue
            try:
                if self.status_of(r).role == "leader":
                    return r
            except (ClientError, grpc.RpcError):
                continue
        return None

    def wait_for_leader(self, timeout: float = 30.0, exclude: Replica | None = None) -> Replica:
        def found() -> Replica | None:
            leader = self.leader()
            return leader if leader is not None and leader is not exclude else None

        return wait_for(found, timeout, "a leader")

    def digests(self) -> dict[str, tuple[int, str]]:
        out = {}
        for r in self.replicas:
            if r.running:
                with self.client([r.api_address], retry_for=0) as c:
                    d = c.digest(r.api_address)
                out[r.node_id] = (d.applied_index, d.digest)
        return out

    def wait_settled(self, timeout: float = 30.0) -> dict[str, tuple[int, str]]:
        """The leader has begun its epoch and is dispatching, and every replica has applied it all."""
        leader = self.wait_for_leader(timeout)
        wait_for(lambda: self.status_of(leader).takeover_phase == "active", timeout, "the leader to be active")
        return self.wait_converged(timeout)

    def wait_converged(self, timeout: float = 30.0) -> dict[str, tuple[int, str]]:
        """Wait until every running replica reports the same applied index and digest."""
        def same() -> dict[str, tuple[int, str]] | None:
            d = self.digests()
            return d if len(set(d.values())) == 1 else None

        return wait_for(same, timeout, "equal digests on every replica", interval=0.2)

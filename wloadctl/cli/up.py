"""`wloadctl up`: run a local cluster of replica processes on loopback until Ctrl-C.

Each replica is its own `python -m wloadctl server` process, exactly as in production, so
what works here works with real deployments; `up` only writes their configs, starts them,
waits for a leader, restarts a process that dies (as systemd's Restart=on-failure does for a
deployed replica) and stops them again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import grpc

import wloadctl
from wloadctl.cli import userconfig
from wloadctl.cli.privatefile import write_private
from wloadctl.client import Client, ClientCredentials, ClientError
from wloadctl.config import ConfigError
from wloadctl.config.render import Peer, ensure_secret, render_config, toml_string
from wloadctl.proto.v1 import auth_pb2

__all__ = ["DEFAULT_BASE_PORT", "DEFAULT_DATA_DIR", "RAFT_PORT_OFFSET", "plan", "up"]

DEFAULT_BASE_PORT = 18581
DEFAULT_DATA_DIR = "wloadctl-data"
RAFT_PORT_OFFSET = 100
AGENT_PORT_OFFSET = 200
HTTP_PORT_OFFSET = 300  # 18881, 18882, ...: the console, /metrics and webhooks
AGENT_METRICS_PORT_OFFSET = 310  # 18891, 18892, ...: each agent's /metrics
HOST = "127.0.0.1"
LEADER_DEADLINE_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
SECRET_NAME = "cluster.secret"
ADMIN_TOKEN_NAME = "admin.token"  # the API key Bootstrap hands out once (role admin in every domain)
# The console's first user (role admin; its password must be changed at the first login).
CONSOLE_USER = "admin"
CONSOLE_PASSWORD_NAME = "console-admin.password"
CA_NAME = "ca.crt"
# Restarting a process that died: after 1 s, doubling up to 8 s; one that died this often
# within the window is left down (something is wrong that a restart will not fix).
RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0)
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 60.0
EXIT_CONFIG_ERROR = 2
EXIT_INCOMPATIBLE_ENTRY = 5  # wloadctl server: a log entry of a newer version
PARENT_ENV = "WLOADCTL_DIE_WITH_PARENT"  # see wloadctl/__main__.py


@dataclass
class Replica:
    """A replica (or, with kind="agent", an agent) process that `up` runs."""

    peer: Peer
    config_path: str
    data_dir: str
    log_path: str
    process: subprocess.Popen[bytes] | None = None
    log_handle: IO[bytes] | None = None
    reported_exit: bool = False
    kind: str = "replica"
    agent_address: str = ""
    http_address: str = ""
    exits: list[float] = field(default_factory=list)   # monotonic times it died at
    restart_at: float | None = None


class _Stop(Exception):
    """SIGTERM arrived; handled like Ctrl-C."""


def plan(replicas: int, base_port: int, data_dir: str) -> list[Replica]:
    """Where every replica listens and keeps its files (nothing is touched on disk)."""
    root = os.path.abspath(data_dir)
    out = []
    for i in range(replicas):
        node = f"r{i + 1}"
        peer = Peer(node, f"{HOST}:{base_port + RAFT_PORT_OFFSET + i}", f"{HOST}:{base_port + i}")
        agent_address = f"{HOST}:{base_port + AGENT_PORT_OFFSET + i}"
        out.append(Replica(peer, os.path.join(root, f"{node}.toml"), os.path.join(root, node),
                           os.path.join(root, f"{node}.log"), agent_address=agent_address,
                           http_address=f"{HOST}:{base_port + HTTP_PORT_OFFSET + i}"))
    return out


def plan_agents(agents: int, root: str, base_port: int = 18581) -> list[Replica]:
    return [Replica(Peer(f"a{i + 1}", "", ""), os.path.join(root, f"agent-a{i + 1}.toml"),
                    os.path.join(root, f"agent-a{i + 1}"), os.path.join(root, f"agent-a{i + 1}.log"), kind="agent",
                    http_address=f"{HOST}:{base_port + AGENT_METRICS_PORT_OFFSET + i}")
            for i in range(agents)]


def _port_in_use(port: int) -> bool:
    # SO_REUSEADDR so that sockets in TIME_WAIT from a cluster that just stopped don't count:
    # the replicas set it too, so only a live listener would actually stop them.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _check_ports(replicas: list[Replica]) -> str | None:
    for replica in replicas:
        for kind, address in (("API", replica.peer.api_address), ("Raft", replica.peer.raft_address),
                              ("agent link", replica.agent_address), ("HTTP", replica.http_address)):
            if not address:
                continue  # an agent has only its metrics port (http_address)
            port = int(address.rsplit(":", 1)[1])
            if _port_in_use(port):
                return (
                    f"port {port} ({kind} port of {replica.peer.id}) is already in use; is another "
                    f"cluster running? Stop it or pick other ports with --base-port"
                )
    return None


def restart_delay(exit_code: int, exits: list[float], now: float) -> tuple[float | None, str]:
    """When to restart a process that exited with ``exit_code`` (``exits``: the times it died,
    this one included): (seconds, "") or (None, why it stays down)."""
    if exit_code == EXIT_CONFIG_ERROR:
        return None, "a configuration error; fix it and run `wloadctl up` again"
    if exit_code == EXIT_INCOMPATIBLE_ENTRY:
        return None, "its log holds an entry this version cannot apply; run the newer version"
    recent = [t for t in exits if now - t <= RESTART_WINDOW_SECONDS]
    if len(recent) > RESTART_LIMIT:
        return None, f"it exited {len(recent)} times within {RESTART_WINDOW_SECONDS:.0f}s"
    return RESTART_DELAYS[min(len(recent), len(RESTART_DELAYS)) - 1], ""


def _child_env() -> dict[str, str]:
    # The replicas must run the same wloadctl as this process, also when it runs from a
    # source tree that is not installed.
    env = dict(os.environ)
    env[PARENT_ENV] = str(os.getpid())  # they stop if `up` itself is killed (Linux)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(wloadctl.__file__)))
    existing = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = package_parent + (os.pathsep + existing if existing else "")
    return env


def _start(replica: Replica, log_format: str, insecure: bool) -> None:
    verb = "agent" if replica.kind == "agent" else "server"
    command = [sys.executable, "-m", "wloadctl", verb, "--config", replica.config_path,
               "--log-format", log_format]
    if insecure:
        # The replica refuses to run a multi-replica cluster without a secret unless told to.
        command.append("--insecure")
    if replica.log_handle is not None:  # a restart: the previous process is gone
        replica.log_handle.close()
    replica.log_handle = open(replica.log_path, "ab")  # noqa: SIM115 - closed in _stop_all
    replica.process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=replica.log_handle,
        stderr=subprocess.STDOUT,
        env=_child_env(),
        # Own session: a Ctrl-C in the terminal reaches only `up`, which then stops the
        # replicas in order instead of them all dying mid-write at once.
        start_new_session=True,
    )
    replica.reported_exit = False
    replica.restart_at = None


def _say(message: str) -> None:
    print(message, flush=True)


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _report_exits(replicas: list[Replica], restart: bool = False) -> None:
    """Say which processes exited; with ``restart``, schedule them to start again."""
    now = time.monotonic()
    for replica in replicas:
        if replica.process is None or replica.reported_exit:
            continue
        code = replica.process.poll()
        if code is None:
            continue
        replica.reported_exit = True
        how = f"signal {-code}" if code < 0 else f"code {code}"
        message = f"{replica.kind} {replica.peer.id} exited ({how}); see {replica.log_path}"
        if restart:
            replica.exits.append(now)
            delay, why_not = restart_delay(code, replica.exits, now)
            if delay is None:
                message += f"; not restarting it: {why_not}"
            else:
                replica.restart_at = now + delay
                message += f"; restarting it in {delay:.0f}s"
        _warn(message)


def _restart_due(replicas: list[Replica], log_format: str, insecure: bool) -> None:
    now = time.monotonic()
    for replica in replicas:
        if replica.restart_at is not None and now >= replica.restart_at:
            _start(replica, log_format, insecure)
            _warn(f"{replica.kind} {replica.peer.id} restarted (pid {replica.process.pid if replica.process else '?'})")


def _alive(replicas: list[Replica]) -> list[Replica]:
    return [r for r in replicas if r.process is not None and r.process.poll() is None]


def _wait_for_leader(replicas: list[Replica], deadline_seconds: float,
                     credentials: ClientCredentials) -> tuple[str, str] | None:
    """(leader id, leader API address) once elected; ("", "") when the replicas answer but want a
    credential this process does not have (before Bootstrap); None on timeout or when a majority died."""
    servers = [r.peer.api_address for r in replicas]
    deadline = time.monotonic() + deadline_seconds
    majority = len(replicas) // 2 + 1
    with Client(servers, timeout=1.0, retry_for=0.0, credentials=credentials) as client:
        while time.monotonic() < deadline:
            _report_exits(replicas)
            if len(_alive(replicas)) < majority:
                return None
            try:
                status = client.status()
            except ClientError as failure:
                if failure.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    return "", ""
                status = None
            except grpc.RpcError:
                status = None
            if status is not None and status.leader_id and status.leader_api_address:
                return status.leader_id, status.leader_api_address
            time.sleep(POLL_SECONDS)
    return None


def _read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return ""


def _write_private(path: str, text: str) -> None:
    """A file only its owner may read (a credential), written whole or not at all."""
    write_private(path, text.encode("utf-8"))


def _bootstrap(replicas: list[Replica], ca_pem: bytes | None, token_file: str, seconds: float) -> str:
    """The cluster's first admin API key, written to ``token_file``; "" when there is none to be had."""
    servers = [r.peer.api_address for r in replicas]
    try:
        with Client(servers, timeout=5.0, retry_for=max(seconds, 1.0),
                    credentials=ClientCredentials(ca_pem=ca_pem)) as client:
            answer = client.bootstrap()
    except ClientError as failure:
        if failure.code == grpc.StatusCode.FAILED_PRECONDITION:
            _warn(f"warning: the cluster is already bootstrapped but {token_file} is missing: its admin credential "
                  "is lost; use another administrator's credential (wloadctl login, --api-key)")
        else:
            _warn(f"warning: no admin credential was created: {failure.message}")
        return ""
    _write_private(token_file, answer.token + "\n")
    _say(f"created admin credential {token_file} (API key {answer.key_id}, role admin)")
    return answer.token


def _console_user(replicas: list[Replica], ca_pem: bytes | None, token: str, password_file: str) -> None:
    """A first console user for a new cluster: ``admin`` with a generated password kept in
    ``password_file`` (mode 0600), to be changed at the first login."""
    password = "Wl-" + secrets.token_urlsafe(15) + "-7a"  # meets the default password policy
    try:
        with Client([r.peer.api_address for r in replicas], timeout=10.0, retry_for=30.0,
                    credentials=ClientCredentials(token=token, ca_pem=ca_pem)) as client:
            client.create_user(auth_pb2.CreateUserRequest(
                name=CONSOLE_USER, password=password, bindings=[auth_pb2.Binding(role="admin")],
                must_change_password=True, description="the console's first user, created by wloadctl up"))
    except ClientError as failure:
        _warn(f"warning: no console user was created: {failure.message}")
        return
    _write_private(password_file, password + "\n")
    _say(f"created console user {CONSOLE_USER} (role admin; password in {password_file}, to be changed at the "
         "first login)")


def write_cli_config(servers: list[str], ca: str, token_file: str) -> str | None:
    """Point the CLI config's [cluster] at this cluster, so every later command finds it from any
    directory; its path, or None when the existing file cannot be read (left alone)."""
    try:
        config = userconfig.load()
    except (ConfigError, OSError) as failure:
        _warn(f"warning: the CLI config {userconfig.config_path()} is not updated: {failure}")
        return None
    if (config.servers, config.ca, config.admin_token_file) != (servers, ca, token_file):
        # A stored login belongs to the cluster it was made on.
        config.login_user, config.login_token, config.login_expires_ms = "", "", 0
    config.servers, config.ca, config.admin_token_file = list(servers), ca, token_file
    try:
        return str(userconfig.save(config))
    except OSError as failure:
        _warn(f"warning: the CLI config {userconfig.config_path()} is not updated: {failure}")
        return None


def _stop_all(replicas: list[Replica]) -> None:
    running = _alive(replicas)
    for replica in running:
        assert replica.process is not None
        with contextlib.suppress(ProcessLookupError):
            replica.process.send_signal(signal.SIGTERM)
    # One shared grace period: the replicas shut down in parallel, so stopping five takes
    # no longer than stopping one.
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for replica in running:
        assert replica.process is not None
        try:
            replica.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _warn(f"{replica.kind} {replica.peer.id} did not stop within {STOP_GRACE_SECONDS:.0f}s; killing it")
            with contextlib.suppress(ProcessLookupError):
                replica.process.kill()
            replica.process.wait()
    for replica in replicas:
        if replica.log_handle is not None:
            replica.log_handle.close()
            replica.log_handle = None


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise _Stop()

    previous_term = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while the replicas are being stopped, so a second Ctrl-C
    cannot leave some of them running without anyone to stop them."""
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def _check_existing(root: str, replicas: list[Replica]) -> None:
    """Warn when the data directory holds a cluster of another size: its membership wins."""
    wanted = {r.peer.id for r in replicas}
    try:
        names = os.listdir(root)
    except OSError:
        return
    existing = {n for n in names if n.startswith("r") and n[1:].isdigit() and os.path.isdir(os.path.join(root, n))}
    if existing and existing != wanted:
        _warn(
            f"warning: {root} holds data of replicas {', '.join(sorted(existing))}; the stored cluster "
            f"membership, not --replicas, decides who is a member (use a new --data-dir for a fresh cluster)"
        )


def _console_hint(root: str, insecure: bool) -> str:
    if insecure:
        return "(no login: --insecure)"
    password_file = os.path.join(root, CONSOLE_PASSWORD_NAME)
    if os.path.exists(password_file):
        return f"(log in as {CONSOLE_USER}, password in {password_file}; every replica's HTTP port serves it)"
    return "(every replica's HTTP port; log in as a user: wloadctl user create NAME --role admin --password-stdin)"


def _print_banner(replicas: list[Replica], leader: tuple[str, str], root: str, insecure: bool,
                  agents: list[Replica] | None = None, token_file: str = "", cli_config: str | None = None) -> None:
    servers = ",".join(r.peer.api_address for r in replicas)
    noun = "replica" if len(replicas) == 1 else "replicas"
    elected = f"leader is {leader[0]} ({leader[1]})" if leader[0] else "a leader is elected"
    lines = [
        f"wloadctl: {len(replicas)} {noun} running; {elected}",
        "",
        f"servers:    {servers}",
        f"console:    http://{replicas[0].http_address}/  " + _console_hint(root, insecure),
        f"HTTP:       {', '.join('http://' + r.http_address + '/' for r in replicas)}  (POST /v1/events/NAME)",
        f"metrics:    {', '.join('http://' + r.http_address + '/metrics' for r in replicas + (agents or []))}",
        f"data dir:   {root}" + ("  (insecure: no cluster secret, no TLS)" if insecure else ""),
    ]
    if token_file and os.path.exists(token_file):
        lines.append(f"admin key:  {token_file}  (role admin in every domain; keep it secret)")
    if cli_config:
        lines.append(f"CLI config: {cli_config}  (wloadctl finds this cluster from any directory)")
    lines += [
        "",
        "point the CLI at this cluster (the default servers are 127.0.0.1:18581-18583):",
        f"  export WLOADCTL_SERVER={servers}",
        "",
        "logs:",
    ]
    lines += [f"  {r.peer.id}: {r.log_path}" for r in replicas + (agents or [])]
    lines += [
        "",
        "try:",
        "  wloadctl cluster status",
        "  wloadctl apply -f jobs.yaml",
        "  wloadctl get jobs",
        "  wloadctl describe job NAME",
        "  wloadctl run NAME && wloadctl get runs",
        "",
        "press Ctrl-C to stop the cluster",
    ]
    _say("\n".join(lines))


def _write_certs(root: str, members: list[Replica], agents: list[Replica]) -> str:
    """A local CA (kept across restarts) and one certificate per replica and agent."""
    from wloadctl.security.certs import CA_CERT, init_ca, issue

    certs = os.path.join(root, "certs")
    if not os.path.exists(os.path.join(certs, CA_CERT)):
        init_ca(Path(certs))
        _say(f"created cluster CA {os.path.join(certs, CA_CERT)}")
    for r in members:
        issue(Path(certs), "replica", r.peer.id, [HOST, "localhost"])
    for a in agents:
        issue(Path(certs), "agent", a.peer.id)
    return certs


def _tls(certs: str | None, kind: str, name: str) -> dict[str, str] | None:
    if certs is None:
        return None
    return {"ca": os.path.join(certs, CA_NAME), "cert": os.path.join(certs, f"{kind}-{name}.crt"),
            "key": os.path.join(certs, f"{kind}-{name}.key")}


def _agent_config(agent: Replica, members: list[Replica], certs: str | None, log_format: str) -> str:
    lines = ["# Generated by wloadctl up; see agent/agent.example.toml.",
             f"agent_id = {toml_string(agent.peer.id)}", "capacity = 8",
             "replicas = [" + ", ".join(toml_string(r.agent_address) for r in members) + "]",
             f"work_dir = {toml_string(agent.data_dir)}", "lease_seconds = 3.0", 'orphan_policy = "kill"',
             f"metrics_address = {toml_string(agent.http_address)}"]
    tls = _tls(certs, "agent", agent.peer.id)
    if tls:
        lines += ["", "[tls]"] + [f"{k} = {toml_string(v)}" for k, v in tls.items()]
    lines += ["", "[log]", f"format = {toml_string(log_format)}", ""]
    return "\n".join(lines)


def up(replicas: int, base_port: int, data_dir: str, insecure: bool, log_format: str, agents: int = 1) -> int:
    """Run a local cluster until interrupted; returns the process exit code."""
    if replicas not in (1, 3, 5):
        _warn("error: --replicas must be 1, 3 or 5")
        return 2
    if base_port < 1 or base_port + RAFT_PORT_OFFSET + replicas - 1 > 65535:
        _warn(f"error: --base-port must leave room for ports up to base+{RAFT_PORT_OFFSET + replicas - 1}"
              f" (at most {65535 - RAFT_PORT_OFFSET - replicas + 1})")
        return 2
    root = os.path.abspath(data_dir)
    members = plan(replicas, base_port, root)
    agent_procs = plan_agents(agents, root, base_port)
    if base_port + HTTP_PORT_OFFSET + replicas - 1 > 65535 or base_port + AGENT_METRICS_PORT_OFFSET + agents > 65536:
        _warn(f"error: --base-port leaves no room for the agent, HTTP and agent metrics ports "
              f"(base+{AGENT_PORT_OFFSET}..., base+{HTTP_PORT_OFFSET}..., base+{AGENT_METRICS_PORT_OFFSET}...)")
        return 2

    problem = _check_ports(members + agent_procs)
    if problem:
        _warn(f"error: {problem}")
        return 1

    os.makedirs(root, mode=0o700, exist_ok=True)
    _check_existing(root, members)
    secret_file: str | None = None
    if not insecure:
        secret_file = os.path.join(root, SECRET_NAME)
        if ensure_secret(secret_file):
            _say(f"created cluster secret {secret_file}")
    certs = None if insecure else _write_certs(root, members, agent_procs)
    peers = [r.peer for r in members]
    for replica in members:
        os.makedirs(replica.data_dir, mode=0o700, exist_ok=True)
        text = render_config(replica.peer.id, replica.peer.raft_address, replica.peer.api_address,
                             replica.data_dir, secret_file, peers, log_format, agent_address=replica.agent_address,
                             tls=_tls(certs, "replica", replica.peer.id), http_address=replica.http_address)
        with open(replica.config_path, "w", encoding="utf-8") as handle:
            handle.write(text)
    for agent in agent_procs:
        with open(agent.config_path, "w", encoding="utf-8") as handle:
            handle.write(_agent_config(agent, members, certs, log_format))

    with _signals():
        try:
            for replica in members:
                _start(replica, log_format, insecure)
            _say(f"starting {replicas} {'replica' if replicas == 1 else 'replicas'}; waiting for a leader...")
            started = time.monotonic()
            token_file = os.path.join(root, ADMIN_TOKEN_NAME)
            ca_file = "" if certs is None else os.path.join(certs, CA_NAME)
            ca_pem = Path(ca_file).read_bytes() if ca_file else None
            credentials = ClientCredentials(token=_read_token(token_file), ca_pem=ca_pem)
            leader = _wait_for_leader(members, LEADER_DEADLINE_SECONDS, credentials)
            if leader is not None and not credentials.token and not insecure:
                # A new cluster (or one whose credential was lost): ask for its first admin key.
                # (--insecure: the replicas authenticate nobody, so there is no credential to hand out.)
                remaining = LEADER_DEADLINE_SECONDS - (time.monotonic() - started)
                token = _bootstrap(members, ca_pem, token_file, remaining)
                if token:
                    _console_user(members, ca_pem, token, os.path.join(root, CONSOLE_PASSWORD_NAME))
                if token and not leader[0]:
                    leader = _wait_for_leader(members, max(remaining, 1.0),
                                              ClientCredentials(token=token, ca_pem=ca_pem))
            if leader is None:
                _report_exits(members)
                logs = ", ".join(r.log_path for r in members)
                _warn(f"error: no leader was elected within {LEADER_DEADLINE_SECONDS:.0f}s"
                      f" (or too many replicas exited); see the logs: {logs}")
                with _shielded():
                    _stop_all(members)
                return 1
            for agent in agent_procs:
                _start(agent, log_format, insecure)
            if insecure:
                token_file = ""
            cli_config = write_cli_config([r.peer.api_address for r in members], ca_file, token_file)
            _print_banner(members, leader, root, insecure, agent_procs, token_file, cli_config)
            while True:
                _report_exits(members + agent_procs, restart=True)
                _restart_due(members + agent_procs, log_format, insecure)
                if not _alive(members) and all(r.restart_at is None for r in members):
                    _warn("error: every replica has exited; see the logs above")
                    with _shielded():
                        _stop_all(agent_procs)
                        _stop_all(members)
                    return 1
                time.sleep(0.5)
        except (KeyboardInterrupt, _Stop):
            _say("\nstopping...")
            with _shielded():
                _stop_all(agent_procs)
                _stop_all(members)
            _say("stopped")
            return 0
        except BaseException:
            with _shielded():
                _stop_all(agent_procs)
                _stop_all(members)
            raise

"""Replica configuration (TOML), validated with errors that name the field."""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from wloadctl.config.addresses import check_address
from wloadctl.config.errors import ConfigError
from wloadctl.config.settings import ControlSettings, RaftTimers
from wloadctl.config.toml import read_toml, tls_paths

DEFAULT_API_PORT = 18581
DEFAULT_RAFT_PORT = 18681
DEFAULT_AGENT_PORT = 18781
DEFAULT_HTTP_PORT = 18881
MIN_SECRET_CHARS = 32
# Largest gRPC message (API, forwarding, agent link) unless max_message_bytes says otherwise. A
# command is at most one request, so this also bounds Raft entries (MAX_ENTRY_BYTES, raft/overrides.py).
DEFAULT_MAX_MESSAGE_BYTES = 16 << 20
MIN_MESSAGE_BYTES = 4 << 20          # a 2 MiB job definition (model/rules.py) must fit, with room to spare
MAX_MESSAGE_BYTES_LIMIT = 64 << 20
# Password logins per client address (api/auth.py): a burst, then a sustained rate per second.
DEFAULT_LOGIN_BURST = 30
DEFAULT_LOGIN_RATE = 2.0


@dataclass(frozen=True)
class Peer:
    id: str
    raft_address: str
    api_address: str


@dataclass(frozen=True)
class ServerConfig:
    node_id: str
    raft_address: str
    api_address: str
    data_dir: Path
    peers: tuple[Peer, ...]
    raft_bind_address: str = ""           # where the Raft port listens when peers reach it through NAT/a proxy
    secret_file: Path | None = None
    metrics_address: str = ""
    agent_address: str = ""               # the AgentLink port agents connect to
    http_address: str = ""                # webhooks (later the console and /metrics); "" = off
    tls_ca: Path | None = None            # mTLS on the agent port (replica certificate)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    control: ControlSettings = field(default_factory=ControlSettings)
    log_format: str = "json"
    log_level: str = "info"
    timers: RaftTimers = field(default_factory=RaftTimers)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    login_burst_per_source: int = DEFAULT_LOGIN_BURST
    login_rate_per_source: float = DEFAULT_LOGIN_RATE
    max_workflow_tasks: int = 100_000     # tasks per workflow the API accepts (the state's hard cap: 1,000,000)

    @property
    def multi_replica(self) -> bool:
        return len({p.raft_address for p in self.peers} | {self.raft_address}) > 1

    @property
    def raft_bind_setting(self) -> str:
        return "raft_bind_address" if self.raft_bind_address else "raft_address"

    def listen_addresses(self) -> list[tuple[str, str]]:
        """(setting, HOST:PORT) of every port this replica listens on."""
        found = [("api_address", self.api_address),
                 (self.raft_bind_setting, self.raft_bind_address or self.raft_address),
                 ("agent_address", self.agent_address)]
        if self.metrics_address:
            found.append(("metrics_address", self.metrics_address))
        if self.http_address:
            found.append(("http_address", self.http_address))
        return found

    def read_secret(self) -> str | None:
        if self.secret_file is None:
            return None
        path = self.secret_file
        try:
            mode = os.stat(path).st_mode
        except OSError as e:
            raise ConfigError(f"secret_file: cannot read {path}: {e.strerror}") from None
        if stat.S_ISDIR(mode):
            raise ConfigError(f"secret_file: {path} is a directory")
        # Whoever can read the secret can forge Raft messages, which pysyncobj unpickles.
        shared = "readable" if mode & 0o044 else "writable" if mode & 0o022 else ""
        if shared:
            raise ConfigError(f"secret_file: {path} is {shared} by other users (mode {stat.S_IMODE(mode):04o}); "
                              f"run chmod 600 {path}")
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"secret_file: cannot read {path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"secret_file: {path} is not text (create it as docs/operations.md shows)") from None
        if len(secret) < MIN_SECRET_CHARS:
            # pysyncobj derives its Fernet key from the secret with a fixed salt: a short secret can be
            # guessed offline from one captured Raft message. 32 hex characters carry 128 bits.
            target = shlex.quote(str(path))
            raise ConfigError(f"secret_file: {path} holds fewer than {MIN_SECRET_CHARS} characters (create it with: "
                              f"(umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' > {target}))")
        return secret


def _str(doc: dict[str, Any], key: str, required: bool = True, default: str = "") -> str:
    value = doc.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{key}: required")
        return default
    if not isinstance(value, str) or (required and not value):
        raise ConfigError(f"{key}: must be a non-empty string")
    return value


def load_config(path: str | Path) -> ServerConfig:
    path = Path(path)
    return parse_config(read_toml(path), base=path.parent)


_TOP = {"node_id", "raft_address", "api_address", "data_dir", "secret_file", "peers", "raft", "log",
        "metrics_address", "agent_address", "http_address", "tls", "control", "raft_bind_address", "max_message_bytes",
        "login_burst_per_source", "login_rate_per_source", "max_workflow_tasks"}


def parse_config(doc: dict[str, Any], base: Path = Path(".")) -> ServerConfig:
    unknown = sorted(set(doc) - _TOP)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting (known: {', '.join(sorted(_TOP))})")
    node_id = _str(doc, "node_id")
    raft_address = check_address(_str(doc, "raft_address"), "raft_address")
    raft_bind_address = _str(doc, "raft_bind_address", required=False)
    if raft_bind_address:
        check_address(raft_bind_address, "raft_bind_address")
        if raft_bind_address.rpartition(":")[0].strip("[]") in ("0.0.0.0", "::", ""):
            # The Raft port accepts pickled frames (authenticated by the secret); keep it on one interface.
            raise ConfigError("raft_bind_address: must name one interface, not a wildcard address")
    # Loopback by default: a public API address is a deliberate setting (docs/security.md).
    api_address = check_address(_str(doc, "api_address", required=False, default=f"127.0.0.1:{DEFAULT_API_PORT}"),
                                "api_address")
    data_dir = base / _str(doc, "data_dir")
    secret = doc.get("secret_file")
    secret_file = base / secret if isinstance(secret, str) and secret else None
    if secret is not None and not isinstance(secret, str):
        raise ConfigError("secret_file: must be a path")
    peers: list[Peer] = []
    raw_peers = doc.get("peers", [])
    if not isinstance(raw_peers, list):
        raise ConfigError("peers: must be an array of tables ([[peers]])")
    for i, p in enumerate(raw_peers):
        if not isinstance(p, dict):
            raise ConfigError(f"peers[{i}]: must be a table")
        extra = sorted(set(p) - {"id", "raft_address", "api_address"})
        if extra:
            raise ConfigError(f"peers[{i}].{extra[0]}: unknown setting")
        try:
            peers.append(Peer(id=_str(p, "id"), raft_address=check_address(_str(p, "raft_address"), "raft_address"),
                              api_address=check_address(_str(p, "api_address"), "api_address")))
        except ConfigError as e:
            raise ConfigError(f"peers[{i}].{e}") from None
    if not any(p.raft_address == raft_address for p in peers):
        peers.append(Peer(node_id, raft_address, api_address))
    ids = [p.id for p in peers]
    if len(set(ids)) != len(ids):
        raise ConfigError("peers: duplicate id")
    timers = RaftTimers()
    raft = doc.get("raft", {})
    if not isinstance(raft, dict):
        raise ConfigError("raft: must be a table")
    known = {f.name: f.type for f in fields(RaftTimers)}
    overrides: dict[str, Any] = {}
    for key, value in raft.items():
        if key not in known:
            raise ConfigError(f"raft.{key}: unknown setting (known: {', '.join(sorted(known))})")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"raft.{key}: must be a positive number")
        overrides[key] = int(value) if known[key] == "int" else float(value)
    if overrides:
        timers = RaftTimers(**{**timers.__dict__, **overrides})
    if timers.leader_fallback >= timers.election_min:
        raise ConfigError("raft.leader_fallback: must be below raft.election_min")
    log = doc.get("log", {})
    if not isinstance(log, dict):
        raise ConfigError("log: must be a table")
    log_format = log.get("format", "json")
    if log_format not in ("json", "human"):
        raise ConfigError("log.format: must be json or human")
    log_level = str(log.get("level", "info")).lower()
    if log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError("log.level: must be debug, info, warning or error")
    metrics = doc.get("metrics_address", "")
    if metrics:
        check_address(metrics, "metrics_address")
    agent_address = doc.get("agent_address") or f"{api_address.rpartition(':')[0]}:{DEFAULT_AGENT_PORT}"
    check_address(agent_address, "agent_address")
    # Like the agent port: on the API's host by default; an empty string turns it off.
    http_address = doc.get("http_address", f"{api_address.rpartition(':')[0]}:{DEFAULT_HTTP_PORT}")
    if not isinstance(http_address, str):
        raise ConfigError("http_address: must be a string HOST:PORT (\"\" turns the HTTP port off)")
    if http_address:
        check_address(http_address, "http_address")
    tls = tls_paths(doc, base)
    control = _control_settings(doc.get("control", {}))
    max_message = doc.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)
    if not isinstance(max_message, int) or isinstance(max_message, bool) \
            or not MIN_MESSAGE_BYTES <= max_message <= MAX_MESSAGE_BYTES_LIMIT:
        raise ConfigError(f"max_message_bytes: a number of bytes from {MIN_MESSAGE_BYTES} to {MAX_MESSAGE_BYTES_LIMIT}")
    login_burst = doc.get("login_burst_per_source", DEFAULT_LOGIN_BURST)
    if not isinstance(login_burst, int) or isinstance(login_burst, bool) or not 1 <= login_burst <= 100_000:
        raise ConfigError("login_burst_per_source: a whole number from 1 to 100000")
    login_rate = doc.get("login_rate_per_source", DEFAULT_LOGIN_RATE)
    if not isinstance(login_rate, int | float) or isinstance(login_rate, bool) or not 0.01 <= login_rate <= 10_000:
        raise ConfigError("login_rate_per_source: logins per second, from 0.01 to 10000")
    max_tasks = doc.get("max_workflow_tasks", 100_000)
    if not isinstance(max_tasks, int) or isinstance(max_tasks, bool) or not 1 <= max_tasks <= 1_000_000:
        raise ConfigError("max_workflow_tasks: a whole number from 1 to 1000000")
    return ServerConfig(node_id=node_id, raft_address=raft_address, api_address=api_address, data_dir=data_dir,
                        peers=tuple(peers), raft_bind_address=raft_bind_address, secret_file=secret_file,
                        metrics_address=metrics, http_address=http_address,
                        agent_address=agent_address, tls_ca=tls.get("ca"), tls_cert=tls.get("cert"),
                        tls_key=tls.get("key"), control=control,
                        log_format=log_format, log_level=log_level, timers=timers, max_message_bytes=max_message,
                        login_burst_per_source=login_burst, login_rate_per_source=float(login_rate),
                        max_workflow_tasks=max_tasks)


_CONTROL_KEYS = {"agent_quorum": "agent_quorum", "lease_margin_seconds": "lease_margin_s",
                 "degraded_after_seconds": "degraded_after_s", "runs_kept_seconds": "runs_kept_s",
                 "runs_kept_per_job": "runs_kept_per_job", "watch_max_streams": "watch_max_streams",
                 "watch_feed_mib": "watch_feed_mib", "watch_send_timeout_seconds": "watch_send_timeout_s",
                 "report_max_runs": "report_max_runs"}


def _control_settings(raw: Any) -> ControlSettings:
    if not isinstance(raw, dict):
        raise ConfigError("control: must be a table")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _CONTROL_KEYS:
            raise ConfigError(f"control.{key}: unknown setting (known: {', '.join(sorted(_CONTROL_KEYS))})")
        if key == "agent_quorum":
            if not (value in ("majority", "all") or (isinstance(value, int) and not isinstance(value, bool)
                                                     and value > 0)):
                raise ConfigError('control.agent_quorum: "majority", "all" or a positive number of agents')
            values["agent_quorum"] = str(value)
        else:
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"control.{key}: must be a positive number of seconds")
            values[_CONTROL_KEYS[key]] = float(value)
    return ControlSettings(**values)

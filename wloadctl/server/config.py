"""Replica configuration (TOML), validated with errors that name the field."""

from __future__ import annotations

import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from wloadctl.control.controller import ControlSettings
from wloadctl.raft.node import RaftTimers

DEFAULT_API_PORT = 18581
DEFAULT_RAFT_PORT = 18681
DEFAULT_AGENT_PORT = 18781


class ConfigError(ValueError):
    pass


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
    tls_ca: Path | None = None            # mTLS on the agent port (replica certificate)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    control: ControlSettings = field(default_factory=ControlSettings)
    log_format: str = "json"
    log_level: str = "info"
    timers: RaftTimers = field(default_factory=RaftTimers)

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
        if len(secret) < 16:
            raise ConfigError(f"secret_file: {path} holds fewer than 16 characters")
        return secret


def check_address(value: Any, name: str) -> str:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{name}: must be HOST:PORT, got {value!r}")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: must be HOST:PORT with a port from 1 to 65535, got {value!r}")
    return value


def _str(doc: dict[str, Any], key: str, required: bool = True, default: str = "") -> str:
    value = doc.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{key}: required")
        return default
    if not isinstance(value, str) or (required and not value):
        raise ConfigError(f"{key}: must be a non-empty string")
    return value


def read_toml(path: Path) -> dict[str, Any]:
    """A config file's TOML document, or a ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text (invalid byte at offset {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e


def tls_paths(doc: dict[str, Any], base: Path) -> dict[str, Path]:
    """The [tls] table's ca, cert and key paths (all three, or none)."""
    tls = doc.get("tls", {})
    if not isinstance(tls, dict) or set(tls) - {"ca", "cert", "key"}:
        raise ConfigError("tls: must be a table with ca, cert and key")
    if tls and set(tls) != {"ca", "cert", "key"}:
        raise ConfigError("tls: ca, cert and key are all required")
    for key in ("ca", "cert", "key"):
        if key in tls and (not isinstance(tls[key], str) or not tls[key]):
            raise ConfigError(f"tls.{key}: must be a path")
    return {k: base / v for k, v in tls.items()}


def ensure_dir(path: Path, setting: str, mode: int | None = None) -> None:
    """Create directory `path` if needed (then chmod it to `mode`) and check that files can be
    created in it, so that a bad path is a configuration error and not a failure mid-start."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{setting}: {path} is not a directory") from None
    except OSError as e:
        raise ConfigError(f"{setting}: cannot create {path}: {e.strerror}") from None
    if mode is not None:
        try:
            os.chmod(path, mode)
        except OSError as e:
            raise ConfigError(f"{setting}: cannot set mode {mode:04o} on {path}: {e.strerror}") from None
    try:
        # Also refuses a read-only file system, which os.access does not report for root.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(f"{setting}: cannot write in {path}: {e.strerror}") from None


def describe_error(error: Exception) -> str:
    """One line for an operator: "PATH: reason" for an OSError, not "[Errno 17] File exists: 'PATH'"."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)


def load_config(path: str | Path) -> ServerConfig:
    path = Path(path)
    return parse_config(read_toml(path), base=path.parent)


_TOP = {"node_id", "raft_address", "api_address", "data_dir", "secret_file", "peers", "raft", "log",
        "metrics_address", "agent_address", "tls", "control", "raft_bind_address"}


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
    api_address = check_address(_str(doc, "api_address", required=False, default=f"0.0.0.0:{DEFAULT_API_PORT}"),
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
    tls = tls_paths(doc, base)
    control = _control_settings(doc.get("control", {}))
    return ServerConfig(node_id=node_id, raft_address=raft_address, api_address=api_address, data_dir=data_dir,
                        peers=tuple(peers), raft_bind_address=raft_bind_address, secret_file=secret_file,
                        metrics_address=metrics,
                        agent_address=agent_address, tls_ca=tls.get("ca"), tls_cert=tls.get("cert"),
                        tls_key=tls.get("key"), control=control,
                        log_format=log_format, log_level=log_level, timers=timers)


_CONTROL_KEYS = {"agent_quorum": "agent_quorum", "lease_margin_seconds": "lease_margin_s",
                 "degraded_after_seconds": "degraded_after_s"}


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

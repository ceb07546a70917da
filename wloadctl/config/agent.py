"""Agent configuration (TOML), validated with errors that name the setting."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wloadctl.config.addresses import check_address
from wloadctl.config.errors import ConfigError
from wloadctl.config.toml import read_toml, tls_paths

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")  # as a job's runAs (wloadctl/model/rules.py)

_KEYS = {"agent_id", "capacity", "labels", "replicas", "work_dir", "lease_seconds", "orphan_policy",
         "log_retention_hours", "log_max_total_gib", "run_dirs_kept_hours", "max_run_dirs", "tls", "log",
         "leader_silence_seconds", "kill_jobs_with_agent",
         "allowed_run_as", "allowed_commands", "allow_scripts", "metrics_address"}
# Prometheus metrics of the agent (docs/observability.md); loopback unless configured otherwise.
DEFAULT_AGENT_METRICS_ADDRESS = "127.0.0.1:18891"


@dataclass(frozen=True)
class AgentConfig:
    agent_id: str
    replicas: tuple[str, ...]
    work_dir: Path
    capacity: int = 8
    labels: dict[str, str] = field(default_factory=dict)
    lease_seconds: float = 3.0
    orphan_policy: str = "kill"
    log_retention_hours: float = 168.0
    log_max_total_gib: float = 10.0       # logs beyond this go, the oldest first
    run_dirs_kept_hours: float = 168.0    # per-attempt work directories (WORK_DIR/runs) kept this long
    max_run_dirs: int = 10_000            # and at most this many (the oldest go first)
    leader_silence_seconds: float = 0.5
    kill_jobs_with_agent: bool = True     # with orphan_policy kill: jobs die if the agent process dies
    # What the agent runs (wloadctl/model/policy.py): runAs users besides its own (root only when
    # listed), argv[0] path globs (None: any command), and whether script jobs run at all.
    allowed_run_as: tuple[str, ...] = ()
    allowed_commands: tuple[str, ...] | None = None
    allow_scripts: bool = True
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_format: str = "json"
    log_level: str = "info"
    metrics_address: str = DEFAULT_AGENT_METRICS_ADDRESS  # "": no metrics port


def load_agent_config(path: str | Path) -> AgentConfig:
    path = Path(path)
    return parse_agent_config(read_toml(path), base=path.parent)


def _number(doc: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = doc.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{key}: must be a number from {low:g} to {high:g}")
    return float(value)


def _strings(doc: dict[str, Any], key: str, what: str, valid: Callable[[str], object]) -> tuple[str, ...] | None:
    """A list of strings that each pass ``valid``; None when the setting is absent."""
    if key not in doc:
        return None
    values = doc[key]
    if not isinstance(values, list) or len(values) > 256:
        raise ConfigError(f"{key}: a list of at most 256 strings, each {what}")
    for i, v in enumerate(values):
        if not isinstance(v, str) or not valid(v):
            raise ConfigError(f"{key}[{i}]: must be {what}")
    return tuple(dict.fromkeys(values))


def parse_agent_config(doc: dict[str, Any], base: Path = Path(".")) -> AgentConfig:
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting (known: {', '.join(sorted(_KEYS))})")
    agent_id = doc.get("agent_id")
    if not isinstance(agent_id, str) or not _ID.match(agent_id):
        raise ConfigError("agent_id: required; 1-64 letters, digits, '.', '_' or '-'")
    replicas = doc.get("replicas")
    if not isinstance(replicas, list) or not replicas:
        raise ConfigError("replicas: required, a list of the replicas' agent addresses (HOST:PORT)")
    for i, r in enumerate(replicas):
        check_address(r, f"replicas[{i}]")
    work_dir = doc.get("work_dir")
    if not isinstance(work_dir, str) or not work_dir:
        raise ConfigError("work_dir: required")
    capacity = doc.get("capacity", 8)
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 10_000:
        raise ConfigError("capacity: a whole number of slots from 1 to 10000")
    labels = doc.get("labels", {})
    if not isinstance(labels, dict) or len(labels) > 64:
        raise ConfigError("labels: a table of at most 64 string values")
    for k, v in labels.items():
        if not _LABEL_KEY.match(k) or len(k) > 63 or not isinstance(v, str) or len(v) > 256:
            raise ConfigError(f"labels.{k}: keys like zone or team/x, string values up to 256 characters")
    orphan = doc.get("orphan_policy", "kill")
    if orphan not in ("kill", "keep"):
        raise ConfigError('orphan_policy: "kill" or "keep"')
    tls = tls_paths(doc, base)
    kill_with_agent = doc.get("kill_jobs_with_agent", True)
    if not isinstance(kill_with_agent, bool):
        raise ConfigError("kill_jobs_with_agent: true or false")
    allowed_run_as = _strings(doc, "allowed_run_as", "a user name (^[a-z_][a-z0-9_-]{0,31}$)", _USER.match)
    allowed_commands = _strings(doc, "allowed_commands", "an absolute path glob such as /usr/local/bin/*",
                                lambda g: g.startswith("/") and "\0" not in g and len(g) <= 4096)
    allow_scripts = doc.get("allow_scripts", True)
    if not isinstance(allow_scripts, bool):
        raise ConfigError("allow_scripts: true or false")
    metrics_address = doc.get("metrics_address", DEFAULT_AGENT_METRICS_ADDRESS)
    if not isinstance(metrics_address, str):
        raise ConfigError('metrics_address: HOST:PORT, or "" for no metrics port')
    if metrics_address:
        check_address(metrics_address, "metrics_address")
    log = doc.get("log", {})
    if not isinstance(log, dict) or log.get("format", "json") not in ("json", "human"):
        raise ConfigError("log.format: json or human")
    log_level = str(log.get("level", "info")).lower()
    if log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError("log.level: debug, info, warning or error")
    return AgentConfig(
        agent_id=agent_id, replicas=tuple(replicas), work_dir=base / work_dir, capacity=capacity, labels=dict(labels),
        lease_seconds=_number(doc, "lease_seconds", 3.0, 0.5, 3600),
        orphan_policy=orphan, log_retention_hours=_number(doc, "log_retention_hours", 168, 0.01, 24 * 365),
        log_max_total_gib=_number(doc, "log_max_total_gib", 10, 0.001, 100_000),
        run_dirs_kept_hours=_number(doc, "run_dirs_kept_hours", 168, 0.01, 24 * 365),
        max_run_dirs=int(_number(doc, "max_run_dirs", 10_000, 1, 10_000_000)),
        leader_silence_seconds=_number(doc, "leader_silence_seconds", 0.5, 0.05, 60),
        kill_jobs_with_agent=kill_with_agent,
        allowed_run_as=allowed_run_as or (), allowed_commands=allowed_commands, allow_scripts=allow_scripts,
        tls_ca=tls.get("ca"), tls_cert=tls.get("cert"), tls_key=tls.get("key"),
        log_format=log.get("format", "json"), log_level=log_level, metrics_address=metrics_address)

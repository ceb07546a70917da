"""The CLI's own configuration: which cluster to talk to and with which credential.

`~/.config/wloadctl/config.toml` (or `$WLOADCTL_CONFIG`; `$XDG_CONFIG_HOME` is honoured), mode
0600, written by `wloadctl up` (the local cluster: servers, CA, its admin credential) and by
`wloadctl login` (the user's session for that cluster), like kind writes a kubeconfig. So the
README's commands work from any directory, whatever `--data-dir` was.

    [cluster]
    servers = ["127.0.0.1:18581", "127.0.0.1:18582", "127.0.0.1:18583"]
    ca = "/home/me/work/wloadctl-data/certs/ca.crt"     # "" = plaintext (a cluster run --insecure)
    admin_token_file = "/home/me/work/wloadctl-data/admin.token"

    [login]
    user = "alice"
    token = "wls.42.…"
    expires_ms = 1796000000000

Where a credential comes from, first match wins: flags (--token, --api-key), WLOADCTL_TOKEN,
WLOADCTL_API_KEY, the stored login (while it has not expired), the local cluster's admin
credential. The CA: --ca, WLOADCTL_CA, the config's `ca`.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wloadctl.config import ConfigError, read_toml, toml_string

__all__ = ["CliConfig", "Credential", "config_path", "load", "resolve_credential", "save"]

ENV_CONFIG = "WLOADCTL_CONFIG"
ENV_TOKEN = "WLOADCTL_TOKEN"
ENV_API_KEY = "WLOADCTL_API_KEY"
ENV_CA = "WLOADCTL_CA"


def config_path() -> Path:
    explicit = os.environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "wloadctl" / "config.toml"


@dataclass
class CliConfig:
    servers: list[str] = field(default_factory=list)
    ca: str = ""
    admin_token_file: str = ""
    login_user: str = ""
    login_token: str = ""
    login_expires_ms: int = 0

    def login_valid(self, now_ms: int | None = None) -> bool:
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        return bool(self.login_token) and (not self.login_expires_ms or now < self.login_expires_ms)


def load(path: Path | None = None) -> CliConfig:
    """The config, or an empty one when the file does not exist; ConfigError when it is broken."""
    path = path or config_path()
    if not path.exists():
        return CliConfig()
    doc: dict[str, Any] = read_toml(path)
    cluster = doc.get("cluster", {})
    login = doc.get("login", {})
    if not isinstance(cluster, dict) or not isinstance(login, dict):
        raise ConfigError(f"{path}: [cluster] and [login] must be tables")
    servers = cluster.get("servers", [])
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise ConfigError(f"{path}: cluster.servers must be a list of HOST:PORT strings")
    return CliConfig(servers=list(servers), ca=str(cluster.get("ca", "")),
                     admin_token_file=str(cluster.get("admin_token_file", "")),
                     login_user=str(login.get("user", "")), login_token=str(login.get("token", "")),
                     login_expires_ms=int(login.get("expires_ms", 0) or 0))


def save(config: CliConfig, path: Path | None = None) -> Path:
    """Write the config atomically with mode 0600 (it may hold a session token)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = ["# Written by wloadctl up and wloadctl login; see docs/security.md.", "", "[cluster]",
             "servers = [" + ", ".join(toml_string(s) for s in config.servers) + "]",
             f"ca = {toml_string(config.ca)}", f"admin_token_file = {toml_string(config.admin_token_file)}"]
    if config.login_token:
        lines += ["", "[login]", f"user = {toml_string(config.login_user)}",
                  f"token = {toml_string(config.login_token)}", f"expires_ms = {int(config.login_expires_ms)}"]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ("\n".join(lines) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Credential:
    token: str            # the bearer credential ("" = none)
    source: str           # where it came from, for messages: --token, WLOADCTL_TOKEN, login (alice), ...


def resolve_credential(token_flag: str = "", api_key_flag: str = "", config: CliConfig | None = None) -> Credential:
    if token_flag:
        return Credential(token_flag, "--token")
    if api_key_flag:
        return Credential(api_key_flag, "--api-key")
    for name in (ENV_TOKEN, ENV_API_KEY):
        value = os.environ.get(name, "").strip()
        if value:
            return Credential(value, name)
    config = config if config is not None else load()
    if config.login_valid():
        return Credential(config.login_token, f"login ({config.login_user})")
    if config.admin_token_file:
        with contextlib.suppress(OSError):
            token = Path(config.admin_token_file).read_text().strip()
            if token:
                return Credential(token, f"the local cluster's admin credential ({config.admin_token_file})")
    return Credential("", "")


def resolve_ca(ca_flag: str = "", config: CliConfig | None = None) -> str:
    """The CA file to trust ("" = plaintext)."""
    if ca_flag:
        return ca_flag
    env = os.environ.get(ENV_CA, "").strip()
    if env:
        return env
    config = config if config is not None else load()
    return config.ca

"""HOST:PORT settings, checked the same way in replica and agent configs and in the API."""

from __future__ import annotations

import ipaddress
from typing import Any

from wloadctl.config.errors import ConfigError


def check_address(value: Any, name: str) -> str:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{name}: must be HOST:PORT, got {value!r}")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: must be HOST:PORT with a port from 1 to 65535, got {value!r}")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP, brackets allowed) names this machine's loopback interface only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""Can this replica listen where its config says? Checked before anything starts.

gRPC only says "Failed to bind" (and only mid-start), and pysyncobj retries a taken Raft port
for ever without a word: each listen address is resolved and test-bound first, so that a taken
port is one `error:` line naming the setting (docs/operations.md).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from typing import Any

from wloadctl.config import ConfigError

__all__ = ["bind_error", "check_listen_addresses"]

SockAddr = tuple[Any, ...]


def check_listen_addresses(listeners: Sequence[tuple[str, str]]) -> None:
    """Raise a ConfigError naming the setting unless a server can listen on each
    (setting, HOST:PORT) now, each on a port of its own.

    Checked before anything starts: gRPC only says "Failed to bind" (and only mid-start), and
    pysyncobj retries a taken Raft port for ever without a word.
    """
    seen: list[tuple[str, str, list[SockAddr]]] = []
    for setting, address in listeners:
        try:
            mine = _resolve(address)
        except socket.gaierror as e:
            raise ConfigError(f"{setting}: cannot listen on {address} (cannot resolve its host: {e.strerror})") \
                from None
        for other_setting, other, theirs in seen:
            if any(_overlap(a, b) for a in mine for b in theirs):
                raise ConfigError(f"{setting}: {address} uses the same port as {other_setting} ({other})")
        problem = _bind_problem(mine)
        if problem:
            raise ConfigError(f"{setting}: cannot listen on {address} ({problem})")
        seen.append((setting, address, mine))


def _resolve(address: str) -> list[SockAddr]:
    host, _, port = address.rpartition(":")
    found = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return [sockaddr for *_, sockaddr in found]


def _overlap(a: SockAddr, b: SockAddr) -> bool:
    """Whether listening on `a` and on `b` collides (a wildcard covers its family; :: both)."""
    def covers(wide: SockAddr, other: SockAddr) -> bool:
        return wide[0] == "::" or (wide[0] == "0.0.0.0" and len(other) == 2)

    return a[1] == b[1] and (a[0] == b[0] or covers(a, b) or covers(b, a))


def _bind_problem(sockaddrs: list[SockAddr]) -> str | None:
    """Why no server can listen on these addresses now ("address already in use"), or None."""
    problems = []
    for sockaddr in sockaddrs:
        with socket.socket(socket.AF_INET6 if len(sockaddr) == 4 else socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As every server here does: a port left in TIME_WAIT by a process that just exited is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as e:
                reason = (e.strerror or str(e)).lower()
                if e.errno == errno.EADDRINUSE:
                    return reason
                problems.append(reason)
    # gRPC listens when one of the host's addresses works (localhost without IPv6).
    return problems[0] if problems and len(problems) == len(sockaddrs) else None


def bind_error(setting: str, address: str) -> ConfigError:
    """For a bind that failed after the check above passed: another process took the port."""
    try:
        problem = _bind_problem(_resolve(address))
    except socket.gaierror as e:
        problem = f"cannot resolve its host: {e.strerror}"
    return ConfigError(f"{setting}: cannot listen on {address} ({problem or 'taken while this replica started'})")

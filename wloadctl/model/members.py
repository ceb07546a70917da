"""Who a cluster member is: its id and addresses, checked and normalized by one set of rules.

The API normalizes an AddMember request with these rules before anything reaches the log or
pysyncobj, and ``apply()`` refuses a SetMember that breaks them: every replica then keys its
member and Raft member tables by the same bytes pysyncobj uses, and no value can exceed what
LMDB accepts as a key (511 bytes; a 600-character address once wedged every replica).
Pure functions, no I/O.
"""

from __future__ import annotations

import ipaddress
import re

from wloadctl.proto.v1 import commands_pb2

MAX_ID_LEN = 64
MAX_HOST_LEN = 253  # the longest DNS name (RFC 1035)
MAX_ADDRESS_LEN = MAX_HOST_LEN + 2 + 1 + 5  # "[" host "]" ":" port
_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_ID_LEN}}}")
# RFC 1123 labels; "_" as well, which container runtimes use in service names.
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


class MemberError(ValueError):
    """A member field that breaks the rules; str() is "field: reason"."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_member_id(value: str, field: str = "member.id") -> str:
    if not _ID.fullmatch(value):
        raise MemberError(field, f"1-{MAX_ID_LEN} letters, digits, '.', '_' or '-' (got {value[:80]!r})")
    return value


def normalize_host(host: str, field: str) -> str:
    """IPv4 as written, IPv6 in brackets in its compressed form, DNS names lower-cased."""
    if host.startswith("[") and host.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            raise MemberError(field, f"{host[:80]!r} is not an IPv6 address") from None
    if ":" in host:
        raise MemberError(field, "an IPv6 address goes in brackets, like [::1]:18681")
    if not host or len(host) > MAX_HOST_LEN:
        raise MemberError(field, f"the host must be 1-{MAX_HOST_LEN} characters (got {len(host)})")
    labels = host.rstrip(".").lower().split(".")
    if all(label.isdigit() for label in labels):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise MemberError(field, f"{host!r} is not an IPv4 address") from None
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise MemberError(field, f"{host[:80]!r} is not a host name (labels of 1-63 letters, digits and '-')")
    return ".".join(labels)


def normalize_address(value: str, field: str) -> str:
    """HOST:PORT in its normal form, or MemberError naming ``field``."""
    if len(value) > MAX_ADDRESS_LEN:
        raise MemberError(field, f"at most {MAX_ADDRESS_LEN} characters (got {len(value)})")
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise MemberError(field, f"must be HOST:PORT, got {value!r}")
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise MemberError(field, f"the port must be a number from 1 to 65535, got {port[:10]!r}")
    return f"{normalize_host(host, field)}:{int(port)}"


def normalized_member(member: commands_pb2.Member) -> commands_pb2.Member:
    """The member with its addresses in normal form (the API's AddMember); api_address may be empty."""
    check_member_id(member.id)
    api = normalize_address(member.api_address, "member.api_address") if member.api_address else ""
    return commands_pb2.Member(id=member.id, raft_address=normalize_address(member.raft_address,
                                                                           "member.raft_address"),
                               api_address=api)


def member_problem(member: commands_pb2.Member, normal: bool = True) -> str | None:
    """Why ``member`` may not be stored, or None. ``normal``: its addresses must already be in
    normal form (a SetMember, which the API normalized); without it they need only be valid
    (Bootstrap records the configured addresses exactly as pysyncobj uses them)."""
    try:
        if normal:
            if normalized_member(member) != member:
                return "member: addresses are not in normal form (the API normalizes them)"
        else:
            if not member.id or len(member.id) > MAX_ID_LEN:
                raise MemberError("member.id", f"1-{MAX_ID_LEN} characters")
            normalize_address(member.raft_address, "member.raft_address")
            if member.api_address:
                normalize_address(member.api_address, "member.api_address")
    except MemberError as e:
        return str(e)
    return None

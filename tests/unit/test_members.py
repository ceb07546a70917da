"""Member ids and addresses: one set of rules for the API (normalize) and apply() (check)."""

from __future__ import annotations

import pytest

from wloadctl.model.members import (
    MAX_ADDRESS_LEN,
    MemberError,
    check_member_id,
    member_problem,
    normalize_address,
    normalized_member,
)
from wloadctl.proto.v1 import commands_pb2


@pytest.mark.parametrize(("given", "normal"), [
    ("Node-1.Example.COM:0080", "node-1.example.com:80"),
    ("node1.example.com.:18681", "node1.example.com:18681"),
    ("10.0.0.7:18681", "10.0.0.7:18681"),
    ("[::0001]:18681", "[::1]:18681"),
    ("[2001:DB8::1]:1", "[2001:db8::1]:1"),
    ("compose_service:18681", "compose_service:18681"),
    ("localhost:65535", "localhost:65535"),
])
def test_addresses_are_normalized(given: str, normal: str) -> None:
    assert normalize_address(given, "f") == normal


@pytest.mark.parametrize(("given", "reason"), [
    ("h" * 600 + ":18681", f"at most {MAX_ADDRESS_LEN} characters"),
    ("h" * 254 + ":1", "the host must be 1-253 characters"),
    ("no-port", "must be HOST:PORT"),
    (":18681", "must be HOST:PORT"),
    ("host:0", "the port must be a number from 1 to 65535"),
    ("host:65536", "the port must be a number from 1 to 65535"),
    ("host:+80", "the port must be a number"),
    ("host:٨٠", "the port must be a number"),   # Arabic-Indic digits pass str.isdigit()
    ("::1:18681", "an IPv6 address goes in brackets"),
    ("[nope]:1", "is not an IPv6 address"),
    ("300.1.1.1:1", "is not an IPv4 address"),
    ("-bad.example:1", "is not a host name"),
    ("bad host:1", "is not a host name"),
    ("évil.example:1", "is not a host name"),
    ("a..b:1", "is not a host name"),
])
def test_bad_addresses_are_refused_with_the_field(given: str, reason: str) -> None:
    with pytest.raises(MemberError) as e:
        normalize_address(given, "member.raft_address")
    assert str(e.value).startswith("member.raft_address: ") and reason in str(e.value)


def test_member_ids() -> None:
    assert check_member_id("r1.dc-2_a") == "r1.dc-2_a"
    for bad in ("", "x" * 65, "r 1", "r/1", "\U0001d54f"):
        with pytest.raises(MemberError, match=r"member\.id: 1-64 letters"):
            check_member_id(bad)


def test_apply_accepts_only_what_the_api_normalized() -> None:
    raw = commands_pb2.Member(id="r4", raft_address="Host4:18681", api_address="HOST4:18581")
    normal = normalized_member(raw)
    assert (normal.raft_address, normal.api_address) == ("host4:18681", "host4:18581")
    assert member_problem(normal) is None
    assert member_problem(raw) == "member: addresses are not in normal form (the API normalizes them)"
    # Bootstrap records configured addresses as pysyncobj knows them: valid is enough.
    assert member_problem(raw, normal=False) is None
    long = commands_pb2.Member(id="r4", raft_address="h" * 600 + ":1")
    assert member_problem(long, normal=False) is not None
    assert normalized_member(commands_pb2.Member(id="r5", raft_address="h:1")).api_address == ""

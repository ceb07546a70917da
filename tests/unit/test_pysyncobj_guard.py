"""raft/overrides.py checks the pysyncobj it patches, caps Raft frames before authentication and
rebuilds membership entries with the restricted unpickler only."""

from __future__ import annotations

import os
import pickle
import struct
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from pysyncobj.node import TCPNode

from wloadctl.raft import overrides
from wloadctl.raft.overrides import (
    HANDSHAKE_FRAME_BYTES,
    MAX_ENTRY_BYTES,
    MAX_RAFT_FRAME_BYTES,
    MEMBERSHIP,
    PYSYNCOBJ_NAMES,
    PYSYNCOBJ_VERSION,
    DurableSyncObj,
    check_pysyncobj,
    frame_problem,
    max_raft_frame_bytes,
)


def real_modules() -> dict[str, Any]:
    return {name: sys.modules[name] for name in PYSYNCOBJ_NAMES}


def without(module: types.ModuleType, owner: str, name: str) -> types.ModuleType:
    """A copy of ``module`` whose ``owner`` class (or the module itself, owner "") lacks ``name``."""
    fake = types.ModuleType(module.__name__)
    fake.__dict__.update(vars(module))
    if not owner:
        del fake.__dict__[name]
        return fake
    cls = getattr(module, owner)
    namespace = {k: v for k, v in vars(cls).items() if k not in (name, "__dict__", "__weakref__")}
    setattr(fake, owner, type(cls.__name__, tuple(b for b in cls.__bases__), namespace))
    return fake


def test_the_installed_pysyncobj_passes() -> None:
    check_pysyncobj(PYSYNCOBJ_VERSION, real_modules())


def test_another_version_is_refused() -> None:
    with pytest.raises(ImportError, match=r"needs pysyncobj 0\.3\.17 exactly .* but 0\.3\.18 is installed"):
        check_pysyncobj("0.3.18", real_modules())


@pytest.mark.parametrize(("module", "owner", "name"), [
    ("pysyncobj.syncobj", "SyncObj", "_SyncObj__doApplyCommand"),
    ("pysyncobj.syncobj", "SyncObj", "_SyncObj__parseChangeClusterRequest"),
    ("pysyncobj.syncobj", "", "createJournal"),
    ("pysyncobj.tcp_connection", "TcpConnection", "_TcpConnection__processRead"),
    ("pysyncobj.transport", "TCPTransport", "_onNewIncomingConnection"),
])
def test_a_missing_name_is_named(module: str, owner: str, name: str) -> None:
    modules = real_modules()
    modules[module] = without(modules[module], owner, name)
    shown = f"{owner}.{name}" if owner else name
    with pytest.raises(ImportError, match=f"has no {module}.{shown}, which wloadctl/raft/overrides.py"):
        check_pysyncobj(PYSYNCOBJ_VERSION, modules)


def test_an_attribute_set_by_a_constructor_is_checked_in_its_code() -> None:
    modules = real_modules()

    class SyncObj:  # a SyncObj whose constructor no longer sets __raftElectionDeadline
        def __init__(self) -> None:
            self._SyncObj__raftLastApplied = 1

    fake = types.ModuleType("pysyncobj.syncobj")
    fake.__dict__.update(vars(modules["pysyncobj.syncobj"]))
    fake.SyncObj = type("SyncObj", (SyncObj,), {k: v for k, v in vars(modules["pysyncobj.syncobj"].SyncObj).items()
                                                  if k not in ("__init__", "__dict__", "__weakref__")})
    modules["pysyncobj.syncobj"] = fake
    with pytest.raises(ImportError, match=r"pysyncobj.syncobj.SyncObj\(\)._SyncObj__raftCommitIndex"):
        check_pysyncobj(PYSYNCOBJ_VERSION, modules)


def test_node_py_reads_no_private_pysyncobj_field() -> None:
    source = (Path(overrides.__file__).parent / "node.py").read_text()
    assert "_SyncObj__" not in source and "_TcpConnection__" not in source


def test_frame_cap() -> None:
    assert frame_problem(b"", 100) is None and frame_problem(b"\x01\x00", 100) is None  # header incomplete
    assert frame_problem(struct.pack("i", 100) + b"x", 100) is None
    assert "claims 101 bytes (the limit is 100)" in str(frame_problem(struct.pack("i", 101), 100))
    assert "claims -1 bytes" in str(frame_problem(struct.pack("i", -1), 100))
    two_gib = struct.pack("i", 2**31 - 1)
    assert frame_problem(two_gib, MAX_RAFT_FRAME_BYTES) is not None
    assert frame_problem(two_gib, HANDSHAKE_FRAME_BYTES) is not None
    # Twice the largest legitimate frame: a 1 MiB append batch ending with the largest entry,
    # base64-encoded by Fernet (4/3).
    assert max_raft_frame_bytes(1 << 20, 1 << 20) == MAX_RAFT_FRAME_BYTES
    assert 2 * ((1 << 20) + MAX_ENTRY_BYTES) * 4 // 3 < MAX_RAFT_FRAME_BYTES < 2**31 // 8
    assert max_raft_frame_bytes(8 << 20, 1 << 20) > MAX_RAFT_FRAME_BYTES  # follows the configured batch size


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_membership_entries_are_parsed_by_the_restricted_unpickler(tmp_path: Path) -> None:
    parse = DurableSyncObj._SyncObj__parseChangeClusterRequest  # type: ignore[attr-defined]
    node = TCPNode("127.0.0.1:4321")
    request = parse(None, bytes([MEMBERSHIP]) + pickle.dumps(["add", node.id, node], 2))
    assert request[:2] == ["add", "127.0.0.1:4321"] and request[2].address == "127.0.0.1:4321"
    assert parse(None, b"\x00protobuf bytes") is None  # not a membership entry
    marker = tmp_path / "ran"
    with pytest.raises(pickle.UnpicklingError, match=r"refused to load posix\.system"):
        parse(None, bytes([MEMBERSHIP]) + pickle.dumps(_Evil(marker)))
    assert not marker.exists()

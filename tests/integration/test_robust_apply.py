"""Robust apply and bounded resources, with real replicas.

A command whose apply raises is an error on every replica and the cluster goes on; an entry a
replica's version cannot apply stops that replica (exit code 5) unless it is marked ignorable;
membership input is checked at the API; the Raft port drops a frame too large to be legitimate
before buffering it; gRPC messages are bounded by max_message_bytes.

Where a test must put entries in the log that no API request makes (a command that raises, a
command of a newer version), the leader runs in this process: real pysyncobj and LMDB, the
other replicas as `wloadctl server` processes or in-process nodes.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.unknown_fields import UnknownFieldSet
from test_bad_input import healthy
from test_raft_overrides import Nodes

from wloadctl.client import ClientError
from wloadctl.config.server import DEFAULT_MAX_MESSAGE_BYTES
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, commands_pb2
from wloadctl.raft.node import RaftNode
from wloadctl.state.store import INCOMPATIBLE_ENTRY_EXIT_CODE, Store
from wloadctl.testing.builders import apply_cmd, batch, job, raising_command, unknown_command
from wloadctl.testing.cluster import LocalCluster, Replica, wait_for

pytestmark = pytest.mark.integration

INTERNAL = grpc.StatusCode.INTERNAL.value[0]
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED.value[0]


class NewerStore(Store):
    """The state machine of a newer version: it knows one more command type (field 999 of Command,
    see builders.unknown_command), which changes nothing. A replica of this version that cannot
    apply an entry stops applying (and, inside pysyncobj's tick, sending): the leader that proposes
    a new command type must be able to apply it, as in a real rolling upgrade."""

    def _apply_command(self, txn: Any, cmd: commands_pb2.Command, now_ms: int, raft_index: int,
                       position: int = 0) -> commands_pb2.CommandResult:
        if cmd.WhichOneof("body") is None and 999 in {f.field_number for f in UnknownFieldSet(cmd)}:
            return commands_pb2.CommandResult(raft_index=raft_index)
        return super()._apply_command(txn, cmd, now_ms, raft_index, position)


class Mixed(Nodes):
    """Some of a LocalCluster's replicas run in this process (they lead); the others are processes."""

    def __init__(self, cluster: LocalCluster, here: list[Replica], store: type[Store]) -> None:
        assert cluster.secret
        self.addresses = [r.raft_address for r in cluster.replicas]
        self.nodes = []
        for r in here:
            # The cluster secret keys the audit log's encryption: the same on every replica, or digests differ.
            node = RaftNode(r.node_id, r.raft_address, self.addresses, r.data_dir,
                            store(r.data_dir / "state", cluster_secret=cluster.secret), cluster.secret)
            node.start()
            self.nodes.append(node)


def mixed(cluster: LocalCluster, store: type[Store]) -> tuple[Mixed, Replica]:
    """Replicas r1 and r2 in this process (elected before r3 starts, so one of them leads), r3 a process."""
    here = Mixed(cluster, cluster.replicas[:2], store)
    here.leader()
    r3 = cluster.replicas[2]
    cluster.start(r3, wait=False)
    return here, r3


@pytest.fixture
def mixed_factory(cluster_factory: Any) -> Iterator[Any]:
    made: list[tuple[LocalCluster, Mixed]] = []

    def make(store: type[Store]) -> tuple[LocalCluster, Mixed, Replica]:
        cluster: LocalCluster = cluster_factory(tls=False)
        here, r3 = mixed(cluster, store)
        made.append((cluster, here))
        return cluster, here, r3

    yield make
    for cluster, here in made:
        cluster.stop()
        here.stop()


@pytest.fixture
def three_here(tmp_path: Path) -> Iterator[Nodes]:
    ns = Nodes(tmp_path / "here")
    try:
        yield ns
    finally:
        ns.stop()


def applied(cluster: LocalCluster, r: Replica) -> int:
    return cluster.status_of(r).applied_index


def test_a_command_that_raises_is_an_error_on_every_replica_and_the_cluster_goes_on(three_here: Nodes) -> None:
    ns = three_here
    ns.commit(batch(apply_cmd(job("a"))))
    # Before: every replica's apply raised BadValsizeError, pysyncobj retried the entry for ever
    # and this commit never answered (nor any after it).
    results = ns.commit(batch(apply_cmd(job("b"), key="kb"), raising_command(key="bad"), apply_cmd(job("c"))))
    assert [r.code for r in results] == [0, INTERNAL, 0]
    assert results[1].message.startswith("apply failed: BadValsizeError: ")
    index = results[0].raft_index
    for n in ns.nodes:
        wait_for(lambda n=n: n.store.applied_index() >= index, 10, f"{n.node_id} to apply the entry")
        recorded = n.store.idempotent_result("bad")
        assert recorded is not None and (recorded.code, recorded.message) == (INTERNAL, results[1].message)
        assert n.store.get_job("b") is not None and n.store.get_job("c") is not None
    after = ns.commit(batch(apply_cmd(job("d"))))
    for n in ns.nodes:
        wait_for(lambda n=n: n.store.applied_index() >= after[0].raft_index, 10, f"{n.node_id} to go on")
    assert len({n.store.digest() for n in ns.nodes}) == 1


def test_an_unknown_command_stops_a_replica_of_an_older_version(mixed_factory: Any) -> None:
    cluster, here, r3 = mixed_factory(NewerStore)
    done = here.commit(batch(apply_cmd(job("before"))))
    wait_for(lambda: applied(cluster, r3) >= done[0].raft_index, 30, "r3 to catch up")
    before = applied(cluster, r3)
    # A newer leader proposes a command type r3's version does not know, not marked ignorable.
    assert [r.code for r in here.commit(batch(unknown_command(key="new")))] == [0]
    assert r3.proc is not None
    assert r3.proc.wait(timeout=30) == INCOMPATIBLE_ENTRY_EXIT_CODE == 5
    text = r3.log_path.read_text()
    assert "cannot apply Raft entry" in text and "a type (field 999) this version does not know" in text
    assert "(exit code 5)" in text
    # Nothing of it was applied: the applied index is where it was (a newer version applies it on restart).
    stopped = Store(r3.data_dir / "state")
    try:
        assert stopped.applied_index() == before and stopped.idempotent_result("new") is None
    finally:
        stopped.close()


def test_an_ignorable_unknown_command_is_skipped_by_every_replica(mixed_factory: Any) -> None:
    cluster, here, r3 = mixed_factory(Store)  # all three run this version
    results = here.commit(batch(unknown_command(key="new", ignorable=True), apply_cmd(job("after"))))
    assert [r.code for r in results] == [UNIMPLEMENTED, 0] and "skipped" in results[0].message
    index = results[1].raft_index
    wait_for(lambda: applied(cluster, r3) >= index and all(n.store.applied_index() >= index for n in here.nodes),
             30, "every replica to apply the entry")
    assert r3.running
    with cluster.client([r3.api_address], retry_for=0) as c:
        digest = c.digest(r3.api_address)
    leader_store = here.leader().store
    wait_for(lambda: leader_store.applied_index() == digest.applied_index, 10, "the leader at r3's index")
    assert {(n.store.digest()) for n in here.nodes} == {(digest.applied_index, digest.digest)}
    assert leader_store.get_job("after") is not None and leader_store.idempotent_result("new") is None


def test_membership_input_is_checked_and_add_member_never_moves_a_member(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.wait_settled()
    r2 = cluster.replicas[1]
    with cluster.client(retry_for=5) as c:
        # Before: accepted, and its membership entry wedged every replica (BadValsizeError for ever).
        with pytest.raises(ClientError) as e:
            c.add_member("r9", "h" * 600 + ":18999", "h:1")
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and e.value.message.startswith("member.raft_address:")
        with pytest.raises(ClientError) as e:
            c.add_member("r 9", "127.0.0.1:1")
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and e.value.message.startswith("member.id:")
        # Before: silently recorded, and followers forwarded writes to 127.0.0.1:1 from then on.
        with pytest.raises(ClientError) as e:
            c.add_member(r2.node_id, r2.raft_address, "127.0.0.1:1")
        assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
        assert "to change its addresses, remove it" in e.value.message
        # The same addresses again (a retried request) is answered with the members.
        members = c.add_member(r2.node_id, r2.raft_address, r2.api_address).members
        assert {m.id: m.api_address for m in members}[r2.node_id] == r2.api_address
    healthy(cluster)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_frame_claiming_2_gib_is_dropped_before_it_is_buffered(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.wait_settled()
    victim = cluster.replicas[0]
    assert victim.proc is not None
    before = rss_bytes(victim.proc.pid)
    host, port = victim.raft_address.rsplit(":", 1)
    chunk = b"\0" * (1 << 20)
    sent = 0
    disconnected = False
    deadline = time.monotonic() + 30
    with socket.create_connection((host, int(port)), timeout=10) as s:
        try:
            s.sendall(struct.pack("i", 2**31 - 1))
            # Before: the replica read and kept all of it, waiting for 2 GiB to arrive.
            while sent < 256 and time.monotonic() < deadline:
                s.sendall(chunk)
                sent += 1
        except OSError:  # reset or broken pipe: the replica closed the connection
            disconnected = True
    grown = rss_bytes(victim.proc.pid) - before
    assert disconnected, f"{sent} MiB sent and still connected"
    assert grown < 32 << 20, f"the replica grew by {grown >> 20} MiB"
    assert "dropped a Raft connection: a frame header claims 2147483647 bytes" in victim.log_path.read_text()
    # Legitimate frames larger than 1 MiB still pass (an append batch ending with a large entry).
    with cluster.client() as c:
        c.apply_jobs([job(f"big{i}", argv=["/bin/echo", "x" * (600 << 10)]) for i in range(3)])
    healthy(cluster)


def grpc_request_bytes(cluster: LocalCluster, size: int) -> grpc.StatusCode:
    """ApplyJobs of about ``size`` bytes sent straight to the replica (no client-side limit)."""
    specs = [job(f"m{i}", argv=["/bin/echo", "x" * (1800 << 10)]) for i in range(size // (1800 << 10) + 1)]
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    creds = cluster.credentials()
    channel = grpc.secure_channel(cluster.replicas[0].api_address, grpc.ssl_channel_credentials(creds.ca_pem),
                                  options=options) if creds.ca_pem is not None else \
        grpc.insecure_channel(cluster.replicas[0].api_address, options=options)
    with channel as ch:
        try:
            api_pb2_grpc.JobServiceStub(ch).ApplyJobs(api_pb2.ApplyJobsRequest(jobs=specs), timeout=30,
                                                      metadata=(("authorization", f"Bearer {creds.token}"),))
        except grpc.RpcError as e:
            return e.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_grpc_messages_are_bounded_by_max_message_bytes(cluster_factory: Any) -> None:
    default: LocalCluster = cluster_factory(size=1)
    default.start()
    assert grpc_request_bytes(default, DEFAULT_MAX_MESSAGE_BYTES + (1 << 20)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_request_bytes(default, DEFAULT_MAX_MESSAGE_BYTES - (4 << 20)) == grpc.StatusCode.OK
    raised: LocalCluster = cluster_factory(size=1)
    config = raised.replicas[0].config_path
    config.write_text(f"max_message_bytes = {32 << 20}\n" + config.read_text())  # top-level keys come first
    raised.start()
    assert grpc_request_bytes(raised, DEFAULT_MAX_MESSAGE_BYTES + (1 << 20)) == grpc.StatusCode.OK

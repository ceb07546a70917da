"""Every change we make to pysyncobj's behaviour, in one place.

pysyncobj is pinned to exactly 0.3.17 (pyproject.toml): several overrides
below replace private (name-mangled) methods of ``SyncObj``, which is only
safe against the version they were written for. Each override names the
defect it neutralizes; each defect has a regression test (tests/unit/
test_raft_overrides.py, tests/integration/test_durability.py).

D1  No fsync: the mmap journal is never synced, term and vote are written
    without fsync, a follower acknowledges and the leader counts a commit with
    nothing on disk.            -> LmdbJournal + sync before every send and at
                                   the end of every tick (GuardedTransport.send,
                                   DurableSyncObj._wl_tick_sync).
D2  Acknowledged writes lost after kill -9 once compaction ran: on load, a
    snapshot newer than the journal's start clears the journal entries past
    the snapshot.               -> _SyncObj__loadDumpFile (never clears on start;
                                   recovery.plan_recovery decides).
D3  Compaction pickles the whole object inside the Raft loop (1-7 s stalls,
    needless elections).        -> serializer/serializeChecker hooks: an LMDB
                                   read transaction copied in a worker thread.
D4  A late acknowledgement makes followers truncate entries they already
    hold ("truncating already-applied log entries").
                                -> _wl_prepare_append + _SyncObj__deleteEntriesFrom
                                   + _SyncObj__doChangeCluster: only conflicting
                                   entries are ever removed (Raft §5.3).
D5  A deposed leader acts for leaderFallbackTimeout (30 s).
                                -> timers in raft/node.py (conf).
D6  Without a password one TCP message runs code (pickle); admin commands
    (syncobj_admin) need no authentication.
                                -> secret required (server config), Raft port
                                   bound to the configured address only, utility
                                   commands refused (GuardedTransport).
D7  The Raft port buffers a frame of whatever length its 4-byte header claims
    (up to 2 GiB) before it can authenticate it; membership entries are
    unpickled with plain pickle.loads.
                                -> _CappedConnection (frame size capped before
                                   authentication, the connection dropped),
                                   _SyncObj__parseChangeClusterRequest (the
                                   restricted unpickler).
D8  (see _SyncObj__onMessageReceived) A follower advances its commit index on an
    append_entries that carries (or announces) a snapshot, over the entries at the
    end of its own log that nobody checked: a deposed leader applies its
    uncommitted entries and answers their callers "done", then the snapshot
    replaces them (acknowledged writes lost; found by the chaos suite).
                                -> _SyncObj__onMessageReceived (such messages
                                   never move the commit index; the installed
                                   snapshot does).
D9  (see wl_set_last_applied) A proposal's callback runs when its index is
    applied; a snapshot install skips indexes, and the callbacks of a deposed
    leader's proposals there were never called (our proposer then stalled).
                                -> wl_set_last_applied fails them (outcome unknown).
Also: linearizable reads without a log entry (ReadIndex, Raft thesis 6.4): every
append_entries round carries a round number (``wl_read``) that followers echo in
their answer; a read takes the commit index and the next round number, and is
answered once a majority has echoed a round at least that high in the same term
(wl_begin_read, wl_read_confirmed). Followers of an older version echo nothing:
reads on the leader then wait for them to be upgraded, or time out.
Also: our commands are carried as raw protobuf bytes (REGULAR entries are not
pickled), see _SyncObj__doApplyCommand.

The installed pysyncobj and every private name used here are checked when this
module is imported (check_pysyncobj): an upgrade fails loudly, naming what moved.
"""

from __future__ import annotations

import importlib.metadata
import io
import logging
import os
import pickle
import struct
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pysyncobj.config
import pysyncobj.monotonic
import pysyncobj.node
import pysyncobj.syncobj as pyso_syncobj
import pysyncobj.tcp_connection
import pysyncobj.transport
import pysyncobj.version
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.config import FAIL_REASON, SERIALIZER_STATE
from pysyncobj.monotonic import monotonic as pyso_monotonic
from pysyncobj.tcp_connection import CONNECTION_STATE, TcpConnection
from pysyncobj.transport import TCPTransport

from wloadctl.config.server import MAX_MESSAGE_BYTES_LIMIT
from wloadctl.raft.journal import LmdbJournal
from wloadctl.raft.snapshots import MAGIC, PENDING, BackgroundSnapshotter, SnapshotHeader

log = logging.getLogger(__name__)

# ---- the pysyncobj this module was written for

PYSYNCOBJ_VERSION = "0.3.17"
# Every private name (and the few public ones we replace) used below or by raft/node.py, by module:
# "Class.name" is a class attribute (a method we override or call), "Class().name" an attribute its
# constructor sets (read or written on instances), a bare name a module global.
PYSYNCOBJ_NAMES: dict[str, tuple[str, ...]] = {
    "pysyncobj.syncobj": (
        "createJournal", "SyncObj", "SyncObj._SyncObj__doApplyCommand", "SyncObj._SyncObj__loadDumpFile",
        "SyncObj._SyncObj__deleteEntriesFrom", "SyncObj._SyncObj__doChangeCluster",
        "SyncObj._SyncObj__parseChangeClusterRequest", "SyncObj._SyncObj__updateClusterConfiguration",
        "SyncObj._SyncObj__onMessageReceived", "SyncObj._SyncObj__sendAppendEntries",
        "SyncObj._applyCommand", "SyncObj._isLeader", "SyncObj._getLeader", "SyncObj.raftLastApplied",
        "SyncObj()._SyncObj__raftLastApplied", "SyncObj()._SyncObj__raftCommitIndex",
        "SyncObj()._SyncObj__commandsWaitingCommit",
        "SyncObj()._SyncObj__lastResponseTime", "SyncObj()._SyncObj__raftElectionDeadline",
        "SyncObj()._SyncObj__transport", "SyncObj()._SyncObj__raftCurrentTerm", "SyncObj()._SyncObj__noopIDx",
        "SyncObj()._SyncObj__newAppendEntriesTime", "SyncObj()._SyncObj__pipeNotifier",
    ),
    "pysyncobj.transport": (
        "TCPTransport", "TCPTransport.setOnUtilityMessageCallback", "TCPTransport._onUtilityMessage",
        "TCPTransport._onIncomingMessageReceived", "TCPTransport._onMessageReceived",
        "TCPTransport._onNewIncomingConnection", "TCPTransport.addNode", "TCPTransport.ready",
        "TCPTransport()._syncObj", "TCPTransport()._connections", "TCPTransport()._unknownConnections",
    ),
    "pysyncobj.tcp_connection": (
        "CONNECTION_STATE", "TcpConnection", "TcpConnection._TcpConnection__processRead", "TcpConnection.disconnect",
        "TcpConnection()._TcpConnection__readBuffer", "TcpConnection().sendRandKey", "TcpConnection().encryptor",
    ),
    "pysyncobj.config": ("SERIALIZER_STATE", "FAIL_REASON"),
    "pysyncobj.monotonic": ("monotonic",),
    "pysyncobj.node": ("Node", "TCPNode"),
}


def _has(module: Any, name: str) -> bool:
    owner, dot, attribute = name.rpartition(".")
    if not dot:
        return hasattr(module, name)
    if owner.endswith("()"):
        # Set in a constructor: its compiled code names the attribute (name-mangled, as stored).
        cls = getattr(module, owner[:-2], None)
        inits = [vars(c)["__init__"] for c in getattr(cls, "__mro__", ()) if "__init__" in vars(c)]
        return any(attribute in getattr(getattr(f, "__code__", None), "co_names", ()) for f in inits)
    return hasattr(getattr(module, owner, None), attribute)


def check_pysyncobj(version: str, modules: Mapping[str, Any]) -> None:
    """ImportError unless ``version`` is the pysyncobj these overrides were written for and every
    name in PYSYNCOBJ_NAMES still exists in ``modules`` (name -> module)."""
    if version != PYSYNCOBJ_VERSION:
        raise ImportError(f"wloadctl needs pysyncobj {PYSYNCOBJ_VERSION} exactly (wloadctl/raft/overrides.py "
                          f"replaces private parts of it), but {version} is installed")
    for module_name, names in PYSYNCOBJ_NAMES.items():
        module = modules.get(module_name)
        for name in names:
            if module is None or not _has(module, name):
                raise ImportError(f"pysyncobj {version} has no {module_name}.{name}, which "
                                  "wloadctl/raft/overrides.py overrides or reads")


def _installed_pysyncobj() -> str:
    try:
        return importlib.metadata.version("pysyncobj")
    except importlib.metadata.PackageNotFoundError:  # not installed as a distribution (vendored)
        return str(pysyncobj.version.VERSION)


check_pysyncobj(_installed_pysyncobj(), sys.modules)

REGULAR = 0
NO_OP = 1
MEMBERSHIP = 2

Entry = tuple[bytes, int, int]

# ---- D7: Raft frame sizes
# The proposer closes an entry once its commands reach ENTRY_BATCH_BYTES; the command that crossed
# it is at most one gRPC request (max_message_bytes, never above MAX_MESSAGE_BYTES_LIMIT).
ENTRY_BATCH_BYTES = 4 << 20
MAX_ENTRY_BYTES = ENTRY_BATCH_BYTES + MAX_MESSAGE_BYTES_LIMIT
# The first frame on an encrypted connection is the peer's 32-byte random key (about 150 bytes
# on the wire): nothing larger is buffered from a peer that has not authenticated once.
HANDSHAKE_FRAME_BYTES = 64 << 10
_FRAME_OVERHEAD = 64 << 10  # pickled message dict, zlib header, Fernet token fields
_FRAME_HEADER = struct.Struct("i")  # pysyncobj's length prefix: native, signed


def max_raft_frame_bytes(append_batch_bytes: int, snapshot_chunk_bytes: int) -> int:
    """Twice the largest frame a peer legitimately sends. pysyncobj adds entries to an
    append_entries message until ``append_batch_bytes`` is reached, so one may end with a whole
    entry; a snapshot chunk is ``snapshot_chunk_bytes``. zlib may grow incompressible data by
    0.1%, and Fernet base64-encodes what it encrypts (4/3)."""
    message = max(append_batch_bytes + MAX_ENTRY_BYTES, snapshot_chunk_bytes) + _FRAME_OVERHEAD
    return 2 * ((message * 1001 // 1000) * 4 // 3 + _FRAME_OVERHEAD)


# With the default [raft] sizes (1 MiB append batches and snapshot chunks): about 184 MiB.
MAX_RAFT_FRAME_BYTES = max_raft_frame_bytes(1 << 20, 1 << 20)


def frame_problem(buffer: bytes, limit: int) -> str | None:
    """Why the frame at the start of ``buffer`` must not be read on, or None."""
    if len(buffer) < _FRAME_HEADER.size:
        return None
    (length,) = _FRAME_HEADER.unpack_from(buffer)
    if 0 <= length <= limit:
        return None
    return f"a frame header claims {length} bytes (the limit is {limit}) before the frame could be authenticated"


class _CappedConnection(TcpConnection):
    """pysyncobj's TCP connection with a frame size limit checked before authentication (D7).

    pysyncobj reads everything a socket holds into one buffer and only looks at a frame once
    it is complete: a header claiming 2 GiB made a replica buffer whatever the sender streamed.
    Here the header of the frame being read is checked as soon as it arrives (the connection
    is dropped when it is too large), and reading pauses once a whole frame is buffered, so
    pysyncobj authenticates and consumes it first. GuardedTransport gives every connection
    this class (incoming and outgoing)."""

    _wl_limit = MAX_RAFT_FRAME_BYTES

    def _TcpConnection__processRead(self) -> bool:
        more = bool(TcpConnection._TcpConnection__processRead(self))  # type: ignore[attr-defined]
        if self.state == CONNECTION_STATE.DISCONNECTED:
            return False
        buffer: bytes = self._TcpConnection__readBuffer  # type: ignore[attr-defined]
        # Until a peer has sent one authenticated frame (its random key), only a small frame is legitimate.
        limit = HANDSHAKE_FRAME_BYTES if self.encryptor is not None and not self.sendRandKey else self._wl_limit
        problem = frame_problem(buffer, limit)
        if problem is not None:
            log.warning("dropped a Raft connection: %s", problem)
            self.disconnect()
            return False
        return more and len(buffer) < limit + _FRAME_HEADER.size

# D4: pysyncobj logs "truncating already-applied log entries" before it calls
# __deleteEntriesFrom, which we turn into a no-op when nothing conflicts; the
# line would be a false alarm then. Set only while such a message is handled.
_KEEPING_SUFFIX = threading.local()


class _FalseTruncationAlarm(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_KEEPING_SUFFIX, "on", False) and "truncating already-applied" in record.msg)


logging.getLogger("pysyncobj.syncobj").addFilter(_FalseTruncationAlarm())

# createJournal is a module global of pysyncobj.syncobj, called once in
# SyncObj.__init__; it is swapped only for the duration of one constructor.
_INIT_LOCK = threading.Lock()


class _MembershipUnpickler(pickle.Unpickler):
    """pysyncobj encodes a membership change as a pickled ['add'|'rem', address, TCPNode].
    Even from our own (authenticated) log we only rebuild exactly that: lists, strings and
    pysyncobj's node classes; anything else is refused."""

    _ALLOWED = {("pysyncobj.node", "TCPNode"), ("pysyncobj.node", "Node")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} from a membership entry")


def membership_change(command: bytes) -> tuple[str, str]:
    """(op, address) of a pysyncobj MEMBERSHIP entry (its payload after the type byte)."""
    request = _MembershipUnpickler(io.BytesIO(bytes(command))).load()
    if not isinstance(request, list) or len(request) < 2 or request[0] not in ("add", "rem"):
        raise ValueError("not a membership change")
    return str(request[0]), str(request[1])


def plan_append(log_entries: Sequence[Entry], entries: Sequence[Entry]) -> tuple[int, bool]:
    """D4: how many leading ``entries`` this log already holds (same index and
    term), and whether that is all of them (then nothing may be truncated).

    By the Log Matching property, an entry with the same index and term as
    ours means every entry before it matches too.
    """
    if not log_entries or not entries:
        return 0, False
    first, last = log_entries[0][1], log_entries[-1][1]
    matched = 0
    for _, idx, term in entries:
        if idx < first or idx > last or log_entries[idx - first][2] != term:
            break
        matched += 1
    return matched, matched == len(entries)


class GuardedTransport(TCPTransport):
    """pysyncobj's TCP transport with our guards (D1, D4, D6)."""

    _syncObj: DurableSyncObj

    def _wl_cap(self, conn: Any) -> None:
        if type(conn) is TcpConnection:
            conn.__class__ = _CappedConnection  # pysyncobj creates them (TcpServer, addNode)
            conn._wl_limit = self._syncObj._wl_max_frame

    def _onNewIncomingConnection(self, conn: Any) -> None:
        self._wl_cap(conn)  # D7: before anything is read from it
        super()._onNewIncomingConnection(conn)

    def addNode(self, node: Any) -> None:
        super().addNode(node)
        conn = self._connections.get(node)
        if conn is not None:
            self._wl_cap(conn)

    def setOnUtilityMessageCallback(self, message: str, callback: Any) -> None:
        # D6: syncobj_admin's add/remove/transfer/status are not accepted;
        # membership changes go through the authenticated gRPC API.
        return None

    def _onUtilityMessage(self, conn: Any, message: Any) -> bool:
        log.warning("refused a pysyncobj utility command on the Raft port")
        conn.disconnect()
        return True

    def _onIncomingMessageReceived(self, conn: Any, message: Any) -> None:
        # A peer must introduce itself with its address (a str) or a utility
        # list; anything else (unhashable objects) would raise inside the Raft
        # loop, so the connection is dropped instead.
        if not isinstance(message, str | bytes | list):
            conn.disconnect()
            self._unknownConnections.discard(conn)
            return
        super()._onIncomingMessageReceived(conn, message)

    def send(self, node: Any, message: Any) -> bool:
        # D1: nothing leaves this node before what it reflects (entries
        # acknowledged, term, vote) is on disk.
        sync_obj = self._syncObj
        sync_obj._wl_journal.sync()
        if isinstance(message, dict):
            kind = message.get("type")
            # ReadIndex: a leader's round number out, a follower's echo of it back.
            if kind == "append_entries" and sync_obj._wl_stamp:
                message = {**message, READ_ROUND: sync_obj._wl_stamp}
            elif kind == "next_node_idx" and sync_obj._wl_echo:
                message = {**message, READ_ROUND: sync_obj._wl_echo}
        return bool(super().send(node, message))

    def _onMessageReceived(self, node: Any, message: Any) -> None:
        sync_obj = self._syncObj
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "append_entries":
            sync_obj._wl_prepare_append(message)
            echo = message.get(READ_ROUND, 0)
            sync_obj._wl_echo = echo if type(echo) is int and echo > 0 else 0
        elif kind == "next_node_idx":
            sync_obj._wl_read_acked(node, message.get(READ_ROUND, 0))
        try:
            super()._onMessageReceived(node, message)
        finally:
            sync_obj._wl_keep_suffix = False
            sync_obj._wl_echo = 0
            _KEEPING_SUFFIX.on = False


# The key of the ReadIndex round number in append_entries and in the answers to them.
READ_ROUND = "wl_read"

SNAPSHOT_RETRY_MIN_S = 1.0   # after a failed snapshot (a full disk), the first retry
SNAPSHOT_RETRY_MAX_S = 60.0


class DurableSyncObj(SyncObj):
    """SyncObj with a durable LMDB journal, LMDB snapshots and the fixes above.

    ``apply_entry(payload, index)`` is called on the Raft thread for each
    committed REGULAR entry; ``apply_meta(index, membership)`` for every other
    entry (no-op, membership change) so the store's applied index always
    equals pysyncobj's.
    """

    def __init__(
        self,
        self_address: str,
        peers: Sequence[str],
        conf: SyncObjConf,
        journal: LmdbJournal,
        snapshot_path: Path,
        apply_entry: Callable[[bytes, int], Any],
        apply_meta: Callable[[int, tuple[str, str] | None], None],
        begin_state_copy: Callable[[], Any],
        copy_state: Callable[[Path, Any], None],
        sync_state: Callable[[], None],
        on_start: Callable[[DurableSyncObj], None],
        install_snapshot: Callable[[DurableSyncObj, Path], None],
        bind_address: str | None = None,
    ) -> None:
        self._wl_journal = journal
        self._wl_apply_entry = apply_entry
        self._wl_apply_meta = apply_meta
        self._wl_begin_state_copy = begin_state_copy
        self._wl_on_start = on_start
        self._wl_install_snapshot = install_snapshot
        self._wl_keep_suffix = False
        # ReadIndex (see the module docstring). The lock orders a reader's round against the
        # stamping of a round, so a round at least as high as the reader's was sent after it began.
        self._wl_read_lock = threading.Lock()
        self._wl_next_round = 1
        self._wl_round_asked = 0  # the last round a reader asked to be sent at once
        self._wl_stamp = 0   # the round of the append_entries being sent (Raft thread)
        self._wl_echo = 0    # the round of the append_entries being answered (Raft thread)
        self._wl_acked: dict[str, int] = {}  # follower address -> highest round it echoed this term
        self._wl_acked_term = -1
        self.wl_on_read_ack: Callable[[], None] | None = None
        self._wl_snapshot_path = snapshot_path
        self._wl_snapshotter = BackgroundSnapshotter(snapshot_path, copy_state, sync_state)
        self._wl_snapshot_retry_at = 0.0
        self._wl_snapshot_backoff = SNAPSHOT_RETRY_MIN_S
        self._wl_snapshot_failed = False
        # D7, read by GuardedTransport while the constructor below creates its connections.
        self._wl_max_frame = max_raft_frame_bytes(conf.appendEntriesBatchSizeBytes, conf.logCompactionBatchSize)
        if not snapshot_path.exists():
            # pysyncobj runs its load hook only when the dump file exists; the
            # hook is where recovery happens (D2), so it must always run.
            snapshot_path.write_bytes(PENDING)
        conf.journalFile = str(journal.path)
        conf.fullDumpFile = str(snapshot_path)
        conf.serializer = self._wl_serialize
        conf.deserializer = self._wl_deserialize
        conf.serializeChecker = self._wl_check_serialize
        conf.useFork = False
        # D6: never 0.0.0.0. A separate bind address serves NAT and proxies: peers know this
        # node by `self_address`, which is what it announces and what they dial.
        conf.bindAddress = bind_address or self_address
        with _INIT_LOCK:
            original = pyso_syncobj.createJournal
            pyso_syncobj.createJournal = lambda _path: journal
            try:
                super().__init__(self_address, list(peers), conf=conf, transportClass=GuardedTransport)
            finally:
                pyso_syncobj.createJournal = original
        self.addOnTickCallback(self._wl_tick_sync)

    # ---- D1: the leader's own copy is durable before the next tick counts it

    def _wl_tick_sync(self) -> None:
        self._wl_journal.sync()

    # ---- our entries are protobuf bytes, applied by the store

    def propose(self, payload: bytes, callback: Callable[[Any, int], None]) -> None:
        """Queue one entry (thread-safe); ``callback(result, fail_reason)``
        runs on the Raft thread once it is applied or has failed."""
        self._applyCommand(payload, callback, REGULAR)

    def _SyncObj__doApplyCommand(self, command: bytes) -> Any:
        index = self.raftLastApplied + 1
        kind = command[0]
        if kind == REGULAR:
            return self._wl_apply_entry(bytes(command[1:]), index)
        membership: tuple[str, str] | None = None
        if kind == MEMBERSHIP:
            membership = membership_change(command[1:])
        result = SyncObj._SyncObj__doApplyCommand(self, command)  # type: ignore[attr-defined]
        self._wl_apply_meta(index, membership)
        return result

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:
        # D8: pysyncobj moves a follower's commit index up to min(leader's commit index, its own
        # last index) after every append_entries, also after those that carry a snapshot (or say
        # one is being prepared) and so checked nothing of the follower's log. A deposed leader's
        # uncommitted entries, still at the end of its log, were then applied, and their callers
        # told "done", before the snapshot replaced them: acknowledged writes that no replica kept
        # (found by the chaos suite's final_specs). Such messages no longer move the commit index;
        # the installed snapshot sets it (wl_set_last_applied).
        if isinstance(message, dict) and message.get("type") == "append_entries" and "prevLogIdx" not in message:
            message = {**message, "commit_index": 0}
        SyncObj._SyncObj__onMessageReceived(self, node, message)  # type: ignore[attr-defined]

    # ---- ReadIndex

    def _SyncObj__sendAppendEntries(self) -> None:
        with self._wl_read_lock:
            self._wl_stamp = self._wl_next_round
            self._wl_next_round += 1
        try:
            SyncObj._SyncObj__sendAppendEntries(self)  # type: ignore[attr-defined]
        finally:
            self._wl_stamp = 0
            if self._wl_round_asked >= self._wl_next_round:
                # A reader asked for the next round while this one was being sent (which set the
                # next send to a full period away): keep it at the next tick.
                self._SyncObj__newAppendEntriesTime = 0.0

    def _wl_read_acked(self, node: Any, value: Any) -> None:
        """A follower echoed round ``value``: it accepted this leader's term when it answered (it
        answers only append_entries of a term at least its own)."""
        if type(value) is not int or value <= 0 or not self._isLeader():
            return
        term = self._SyncObj__raftCurrentTerm  # type: ignore[attr-defined]
        address = str(getattr(node, "address", node))
        with self._wl_read_lock:
            if self._wl_acked_term != term:
                self._wl_acked = {}
                self._wl_acked_term = term
            if value <= self._wl_acked.get(address, 0):
                return
            self._wl_acked[address] = value
        callback = self.wl_on_read_ack
        if callback is not None:
            callback()

    def wl_begin_read(self) -> tuple[int, int, int] | None:
        """(round, read index, term) for a linearizable read; None when this node is not the leader.

        The read index is the commit index, or this term's no-op if that is not committed yet (a
        new leader does not know how far the previous one committed until then). Thread-safe."""
        with self._wl_read_lock:
            if not self._isLeader():
                return None
            term = self._SyncObj__raftCurrentTerm  # type: ignore[attr-defined]
            index = max(self._SyncObj__raftCommitIndex, self._SyncObj__noopIDx or 0)  # type: ignore[attr-defined]
            begun = (self._wl_next_round, index, term)
            ask = self._wl_round_asked < self._wl_next_round
            self._wl_round_asked = self._wl_next_round
        if ask:
            # Send the round at once rather than at the append period (50 ms) or the next tick
            # (5 ms): the Raft thread's poll is woken as for a new command. Once per round.
            self._SyncObj__newAppendEntriesTime = 0.0
            notifier = getattr(self, "_SyncObj__pipeNotifier", None)
            if notifier is not None:
                notifier.notify()
        return begun

    def wl_read_confirmed(self, round_: int, term: int) -> bool | None:
        """True once a majority (this node included) has echoed ``round_`` or later in ``term``;
        None when this node no longer leads in ``term`` (the read must fail); False meanwhile."""
        with self._wl_read_lock:
            if not self._isLeader() or self._SyncObj__raftCurrentTerm != term:  # type: ignore[attr-defined]
                return None
            others = [n.address for n in self.otherNodes]
            acked = self._wl_acked if self._wl_acked_term == term else {}
            confirmed = 1 + sum(1 for a in others if acked.get(a, 0) >= round_)
            return confirmed > (len(others) + 1) / 2

    def _SyncObj__parseChangeClusterRequest(self, command: bytes) -> Any:
        # D7: pysyncobj unpickles membership entries with plain pickle.loads, when they arrive
        # and again when they are applied; even from an authenticated peer, only a membership
        # request is rebuilt (see _MembershipUnpickler).
        if command[:1] != bytes([MEMBERSHIP]):
            return None
        return _MembershipUnpickler(io.BytesIO(bytes(command[1:]))).load()

    # ---- D2: recovery on start and snapshot install

    def _SyncObj__loadDumpFile(self, clearJournal: bool) -> None:
        try:
            if clearJournal:
                self._wl_install_snapshot(self, self._wl_snapshot_path)
            else:
                self._wl_on_start(self)
        except Exception:
            log.exception("snapshot load failed; the journal is kept as it is")

    def wl_transport_ready(self) -> bool:
        """The Raft port is bound (pysyncobj retries a failed bind every second without a word)."""
        return bool(self._SyncObj__transport.ready)  # type: ignore[attr-defined]

    def wl_delay_election(self, seconds: float) -> None:
        """Start no election for ``seconds`` (after a long snapshot install on the Raft thread)."""
        self._SyncObj__raftElectionDeadline = pyso_monotonic() + seconds

    def wl_set_last_applied(self, index: int) -> None:
        # D9: pysyncobj calls a proposal's callback when its index is applied; an installed snapshot
        # skips those indexes, so a deposed leader's proposals past its last applied entry never
        # heard back. Our proposer counts entries in flight by their callbacks: four lost ones and
        # the leader it became again proposed nothing (no epoch began, every write timed out; found
        # by the chaos suite). Whether such an entry is in the snapshot is unknown to us.
        waiting: dict[int, list[Any]] = self._SyncObj__commandsWaitingCommit  # type: ignore[attr-defined]
        for idx in sorted(i for i in waiting if i <= index):
            for _term, callback in waiting.pop(idx):
                callback(None, FAIL_REASON.UNKNOWN_OUTCOME)
        self._SyncObj__raftLastApplied = index
        if self._SyncObj__raftCommitIndex < index:
            self._SyncObj__raftCommitIndex = index

    def wl_leads_now(self, window: float) -> bool:
        """Leader, and a majority answered within ``window`` (below the election timeout).

        A paused leader that wakes up still believes it leads until its next tick; anything it
        does in between (renewing agents' leases) would be stale. Fresh majority contact means no
        other leader can have been elected meanwhile (found by the spin model, chaos/model)."""
        if not self._isLeader():
            return False
        others = self.otherNodes
        heard = self._SyncObj__lastResponseTime  # type: ignore[attr-defined]
        now = pyso_monotonic()
        fresh = sum(1 for n in others if heard.get(n, 0.0) > now - window)
        return fresh + 1 > (len(others) + 1) / 2

    def wl_heard_members(self, window: float) -> int:
        """Members connected to this node that answered it within ``window``, itself included."""
        heard = self._SyncObj__lastResponseTime  # type: ignore[attr-defined]
        now = pyso_monotonic()
        return 1 + sum(1 for n in self.otherNodes if heard.get(n, 0.0) > now - window and self.isNodeConnected(n))

    def wl_set_members(self, addresses: Sequence[str]) -> None:
        others = [a for a in addresses if a != self.selfNode.address]
        self._SyncObj__updateClusterConfiguration(others)

    # ---- D3: snapshots off the Raft thread

    def _wl_serialize(self, tmp_file: str, data: tuple[Entry, Entry, Any]) -> None:
        last, prev, cluster = data
        # pysyncobj renames tmp_file over the dump file right away; the real snapshot replaces
        # it when the worker has finished. Until then the previous snapshot must stay servable:
        # tmp_file becomes a hard link to it, so the rename leaves it in place.
        tmp = Path(tmp_file)
        tmp.unlink(missing_ok=True)
        if _is_snapshot(self._wl_snapshot_path):
            os.link(self._wl_snapshot_path, tmp)
        else:
            tmp.write_bytes(PENDING)
        header = SnapshotHeader(last=_entry(last), prev=_entry(prev),
                                members=sorted(n.address for n in cluster))
        self._wl_snapshotter.start(header, self._wl_begin_state_copy())

    def _wl_check_serialize(self) -> int:
        now = pyso_monotonic()
        if now < self._wl_snapshot_retry_at:
            return SERIALIZER_STATE.SERIALIZING  # backing off after a failure: pysyncobj waits
        if self._wl_snapshot_failed:
            self._wl_snapshot_failed = False
            return SERIALIZER_STATE.FAILED  # now pysyncobj may try again
        done = self._wl_snapshotter.poll()
        if done is None:
            return SERIALIZER_STATE.SERIALIZING if self._wl_snapshotter.busy else \
                SERIALIZER_STATE.NOT_SERIALIZING
        if done:
            self._wl_snapshot_backoff = SNAPSHOT_RETRY_MIN_S
            return SERIALIZER_STATE.SUCCESS
        # pysyncobj would start the next attempt at its next tick: with a full disk that was a
        # failed copy and an error line every ~10 ms. Wait, doubling up to SNAPSHOT_RETRY_MAX_S.
        self._wl_snapshot_retry_at = now + self._wl_snapshot_backoff
        self._wl_snapshot_backoff = min(self._wl_snapshot_backoff * 2, SNAPSHOT_RETRY_MAX_S)
        self._wl_snapshot_failed = True
        return SERIALIZER_STATE.SERIALIZING

    @staticmethod
    def _wl_deserialize(_path: str) -> Any:
        raise RuntimeError("unused: _SyncObj__loadDumpFile is overridden")

    # ---- D4: never truncate entries that match the leader's

    def _wl_prepare_append(self, message: dict[str, Any]) -> None:
        if "prevLogIdx" not in message or message.get("transmission") is not None:
            return
        entries = message.get("entries") or []
        matched, all_present = plan_append(self._wl_journal, entries)
        if matched == 0:
            return
        last_known = entries[matched - 1]
        message["prevLogIdx"], message["prevLogTerm"] = last_known[1], last_known[2]
        message["entries"] = list(entries[matched:])
        # With nothing new, entries after the matched ones may be ones the
        # leader has not re-sent yet: they must stay.
        self._wl_keep_suffix = all_present
        _KEEPING_SUFFIX.on = all_present

    def _SyncObj__deleteEntriesFrom(self, fromIDx: int) -> None:
        if self._wl_keep_suffix:
            return
        SyncObj._SyncObj__deleteEntriesFrom(self, fromIDx)  # type: ignore[attr-defined]

    def _SyncObj__doChangeCluster(self, request: Any, reverse: bool = False) -> bool:
        if reverse and self._wl_keep_suffix:
            return False  # the entry is kept, so its membership change stays
        return bool(SyncObj._SyncObj__doChangeCluster(self, request, reverse))  # type: ignore[attr-defined]


def _is_snapshot(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _entry(e: Any) -> Entry:
    command, idx, term = e
    return (bytes(command) if not isinstance(command, str) else command.encode(), int(idx), int(term))

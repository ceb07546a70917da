"""``wloadctl agent``: keeps a stream to every replica, obeys only the current leader.

Fencing: every message from a replica carries its epoch. The agent persists
the highest epoch it accepted and refuses anything older (logged, counted,
and reported back so the stale sender knows). A higher epoch is adopted only
through the takeover inquiry, once the old leader has gone silent and a
majority of the configured replicas have reported that their replicated state
holds it (so no single replica can push the fence past every real leader).
Work is taken only from the link the epoch was confirmed on.

Lease: a heartbeat renews the lease only when the current leader
acknowledges it; the lease then runs from when that heartbeat was *sent*.
Without a renewal for ``lease_seconds`` the agent applies its orphan policy
(kill: every running attempt is killed and reported later). The leader
declares the agent lost only after the lease plus a margin, counted from the
last heartbeat it *received*, so the two never overlap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import logging
import os
import platform
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

import grpc
import lmdb
import uvloop

import wloadctl
from wloadctl.agent.durable import AgentDurableState
from wloadctl.agent.executor import ExecError, ExecEvent, ExecSpec, Executor, own_user
from wloadctl.agent.filewatch import FileWatcher
from wloadctl.agent.hostload import HostSampler
from wloadctl.agent.logstore import LogStore
from wloadctl.agent.metrics import SPAWN_BUCKETS_S, AgentCollector, finish_outcome, serve_agent_metrics
from wloadctl.agent.workdirs import expire_run_dirs
from wloadctl.config import AgentConfig, ConfigError, describe_error, ensure_dir, load_agent_config
from wloadctl.config.server import DEFAULT_MAX_MESSAGE_BYTES
from wloadctl.logs import setup_logging
from wloadctl.model.policy import refusal
from wloadctl.observability.histogram import Buckets
from wloadctl.proto.v1 import agent_pb2, agent_pb2_grpc, jobs_pb2, runs_pb2

log = logging.getLogger("wloadctl.agent")
EVENT_FLUSH_S = 0.01  # events of a busy agent: one stream message and one synced commit per period
EV = agent_pb2.RunEvent
HEARTBEAT_S = 0.5
_MAX_MESSAGE = DEFAULT_MAX_MESSAGE_BYTES  # as the replicas' max_message_bytes
# File triggers: how often watched directories are listed, how often unacknowledged files are
# reported again, and how many go in one report.
FILE_SCAN_INTERVAL_S = 1.0
FILE_RESEND_INTERVAL_S = 5.0
FILE_REPORT_MAX = 1000
HOUSEKEEPING_INTERVAL_S = 600.0


@dataclass
class Link:
    """The stream to one replica."""

    address: str
    outbox: asyncio.Queue[agent_pb2.AgentMessage | None] = field(default_factory=asyncio.Queue)
    connected: bool = False
    replica_id: str = ""
    last_leader_msg: float = 0.0
    # The highest epoch this replica reported its replicated state holds (ReplicaMessage.state_epoch),
    # while connected: new epochs are adopted only when a majority of the links back them.
    state_epoch: int = 0
    unreachable: bool = False  # the current outage was logged (once per outage, not per retry)


def agent_policy(config: AgentConfig) -> runs_pb2.AgentPolicy:
    """What this agent runs, as checked before every spawn and advertised in its hello."""
    return runs_pb2.AgentPolicy(
        user=own_user(), allowed_run_as=config.allowed_run_as, restrict_commands=config.allowed_commands is not None,
        allowed_commands=config.allowed_commands or (), allow_scripts=config.allow_scripts, secret_env=True)


def schedule_env(slot_ms: int, business_date: str = "") -> dict[str, str]:
    """What a job is told of its business date, and of its slot when a schedule fired it."""
    env = {"WLOADCTL_BUSINESS_DATE": business_date} if business_date else {}
    if not slot_ms:
        return env
    when = datetime.datetime.fromtimestamp(slot_ms / 1000, datetime.UTC)
    return {**env, "WLOADCTL_SLOT_MS": str(slot_ms),
            "WLOADCTL_SCHEDULED_TIME": when.isoformat(timespec="milliseconds").replace("+00:00", "Z")}


class Agent:
    def __init__(self, config: AgentConfig, credentials: grpc.ChannelCredentials | None) -> None:
        """`credentials`: TLS to the replicas, see :func:`tls_credentials` (None: plain gRPC)."""
        self.config = config
        self.credentials = credentials
        self.durable = AgentDurableState(config.work_dir / "state")
        self.logs = LogStore(config.work_dir / "logs", retention_seconds=config.log_retention_hours * 3600,
                             max_total_bytes=int(config.log_max_total_gib * (1 << 30)))
        self.loop = asyncio.get_running_loop()
        self.executor = Executor(config.work_dir, self.logs, self._from_executor_thread,
                                 max_workers=min(64, max(4, config.capacity)),
                                 die_with_agent=config.orphan_policy == "kill" and config.kill_jobs_with_agent)
        self.links = {a: Link(a) for a in config.replicas}
        self.leader: Link | None = None
        self.policy = agent_policy(config)
        # Inquiries for an epoch not yet backed by a majority of the replicas, by link address:
        # confirmed as soon as enough replicas report it, without waiting for the leader to ask again.
        self._deferred: dict[str, agent_pb2.ReplicaMessage] = {}
        self.lease_expiry = 0.0            # monotonic; 0 = no lease yet
        self.heartbeat_seq = 0
        self._heartbeat_sent: dict[int, float] = {}
        self._pending: list[agent_pb2.RunEvent] = []
        self._flush_scheduled = False
        self._last_flush = 0.0
        self._running: set[tuple[str, int]] = set()
        # Finished since this process started (bounded: only re-sent assignments consult it).
        self._finished: set[tuple[str, int]] = set()
        self._finished_order: collections.deque[tuple[str, int]] = collections.deque()
        self._orphaned: set[tuple[str, int]] = set()
        # Bytes of output each running attempt has produced so far: its events carry where they start,
        # so the state can tell output that never reached it from output that follows on.
        self._output_offsets: dict[tuple[str, int], int] = {}
        self.rejected_stale = 0
        self.host = HostSampler(config.work_dir, self.logs.total_bytes)
        # Metrics (agent/metrics.py): read by the exporter's thread, written on the event loop.
        self.spawn_latency = Buckets(SPAWN_BUCKETS_S)   # assignment accepted -> process started
        self.runs_started = 0
        self.runs_finished: collections.Counter[str] = collections.Counter()
        self.assignments_refused: collections.Counter[str] = collections.Counter()
        self._accepted_at: dict[tuple[str, int], float] = {}
        self.files = FileWatcher(self.durable)
        # Watch sets and acknowledgements for the file watcher, applied in order by one task (the
        # watcher's work runs off the event loop: a hung NFS mount must not stall heartbeats).
        self._file_ops: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self.stop = asyncio.Event()

    # ---- connections

    def _channel(self, address: str) -> grpc.aio.Channel:
        options = [("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE),
                   ("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000)]
        if self.credentials is not None:
            return grpc.aio.secure_channel(address, self.credentials, options=options)
        return grpc.aio.insecure_channel(address, options=options)

    def _hello(self) -> agent_pb2.AgentMessage:
        c = self.config
        return agent_pb2.AgentMessage(hello=agent_pb2.AgentHello(
            agent_id=c.agent_id, labels=c.labels, capacity=c.capacity, hostname=socket.gethostname(),
            platform=platform.platform(terse=True), cpus=os.cpu_count() or 1, version=wloadctl.__version__,
            highest_epoch=self.durable.highest_epoch, lease_ms=int(c.lease_seconds * 1000),
            orphan_policy=c.orphan_policy, policy=self.policy))

    async def _maintain(self, link: Link) -> None:
        backoff = 0.1
        while not self.stop.is_set():
            channel = self._channel(link.address)
            try:
                stub = agent_pb2_grpc.AgentLinkStub(channel)
                outbox: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
                link.outbox = outbox
                outbox.put_nowait(self._hello())

                async def outgoing(outbox: asyncio.Queue[agent_pb2.AgentMessage | None] = outbox) -> object:
                    # Ends on the None put at stream end: a generator still awaiting the queue when
                    # the channel closes is finalised mid-await ("aclose(): ... already running").
                    while (out := await outbox.get()) is not None:
                        yield out

                call = stub.Connect(outgoing())
                link.connected = True
                async for msg in call:
                    backoff = 0.1
                    link.unreachable = False
                    self._on_replica_message(link, msg)
            except grpc.aio.AioRpcError as e:
                if e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
                    log.error("replica refused this agent", extra={"replica": link.address, "why": e.details()})
                elif not link.unreachable:
                    # Once per outage: says why (refused, timed out, a TLS handshake that failed because
                    # the server's certificate is not a replica's), without a line every retry.
                    link.unreachable = True
                    log.warning("cannot reach replica", extra={"replica": link.address, "why": e.details()})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stream to %s failed", link.address)
            finally:
                link.connected = False
                link.state_epoch = 0  # counts only while connected: a reconnect reports afresh
                self._deferred.pop(link.address, None)
                if self.leader is link:
                    self.leader = None
                link.outbox.put_nowait(None)
                await asyncio.sleep(0)  # let the request iterator see it and finish
                await channel.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), backoff)
            backoff = min(backoff * 2, 2.0)

    def _send(self, link: Link | None, msg: agent_pb2.AgentMessage) -> None:
        if link is not None and link.connected:
            link.outbox.put_nowait(msg)

    # ---- fencing

    def _reject(self, link: Link, msg: agent_pb2.ReplicaMessage, what: str) -> None:
        self.rejected_stale += 1
        log.warning("refused a message with a stale epoch", extra={
            "replica": msg.replica_id or link.address, "epoch": msg.epoch, "highest_epoch": self.durable.highest_epoch,
            "what": what, "rejected_total": self.rejected_stale, "time_ns": time.time_ns()})
        self._send(link, agent_pb2.AgentMessage(rejected=agent_pb2.RejectedMessage(
            epoch=msg.epoch, highest_epoch=self.durable.highest_epoch, what=what)))

    def _from_leader(self, link: Link, msg: agent_pb2.ReplicaMessage, what: str) -> bool:
        """True when ``msg`` comes from the leader of the epoch this agent accepted: on the very link
        the agent confirmed that epoch on. Another replica claiming the same epoch is not its leader
        (one epoch has one leader), whatever it says."""
        if msg.leader and msg.epoch == self.durable.highest_epoch and msg.epoch > 0:
            if link is self.leader:
                link.last_leader_msg = time.monotonic()
                return True
            if self.leader is not None:
                self._refuse_unconfirmed(link, msg, what)
            # else: no confirmed leader (between a reconnect and its inquiry): it must inquire first
            return False
        if msg.epoch < self.durable.highest_epoch and (msg.leader or msg.epoch > 0):
            self._reject(link, msg, what)
        return False

    def _refuse_unconfirmed(self, link: Link, msg: agent_pb2.ReplicaMessage, what: str) -> None:
        assert self.leader is not None
        self.rejected_stale += 1
        log.warning("refused a message from a replica that is not the leader this agent confirmed", extra={
            "replica": msg.replica_id or link.address, "address": link.address, "epoch": msg.epoch,
            "leader": self.leader.replica_id or self.leader.address, "what": what,
            "rejected_total": self.rejected_stale})
        self._send(link, agent_pb2.AgentMessage(rejected=agent_pb2.RejectedMessage(
            epoch=msg.epoch, highest_epoch=self.durable.highest_epoch,
            what=f"{what}: not the replica this agent confirmed epoch {msg.epoch} with")))

    def _on_replica_message(self, link: Link, msg: agent_pb2.ReplicaMessage) -> None:
        backing_grew = msg.state_epoch > link.state_epoch
        if backing_grew:
            link.state_epoch = msg.state_epoch
        self._on_body(link, msg)
        if backing_grew and self._deferred:
            self._retry_deferred()

    def _on_body(self, link: Link, msg: agent_pb2.ReplicaMessage) -> None:
        kind = msg.WhichOneof("body")
        if kind == "welcome":
            link.replica_id = msg.replica_id
        elif kind == "inquiry":
            self._on_inquiry(link, msg)
        elif kind == "heartbeat_ack":
            if self._from_leader(link, msg, "heartbeat ack"):
                sent = self._heartbeat_sent.pop(msg.heartbeat_ack.seq, None)
                if sent is not None:
                    self.lease_expiry = max(self.lease_expiry, sent + self.config.lease_seconds)
        elif kind == "dispatch":
            if self._from_leader(link, msg, "dispatch"):
                batch = list(msg.dispatch.assignments)
                fresh = self.durable.accept([(a.run_id, a.attempt) for a in batch])
                for assignment, new in zip(batch, fresh, strict=True):
                    if new:
                        self._start(assignment, msg.epoch)
                    else:  # seen before: a re-sent assignment never runs twice
                        self._account_for(assignment, msg.epoch)
        elif kind == "kill":
            if self._from_leader(link, msg, "kill"):
                self.executor.kill(msg.kill.run_id, msg.kill.attempt)
        elif kind == "event_ack":
            if self._from_leader(link, msg, "event ack"):
                self.durable.ack(msg.event_ack.seq, now_ms=time.time_ns() // 1_000_000)
        elif kind == "file_watches":
            if self._from_leader(link, msg, "file watches"):
                self._file_ops.put_nowait(("watches", msg.file_watches))
        elif kind == "file_ack":
            if self._from_leader(link, msg, "file acknowledgement"):
                self._file_ops.put_nowait(("ack", list(msg.file_ack.files)))
        elif kind == "log_request":
            self._serve_logs(link, msg.log_request)
        elif kind == "step_down":
            if msg.epoch < self.durable.highest_epoch:
                self._reject(link, msg, "step-down notice of a deposed leader")
            elif self.leader is link:
                self.leader = None  # the old leader is gone: the next inquiry can be confirmed at once
                link.last_leader_msg = 0.0

    def _retry_deferred(self) -> None:
        for address, msg in list(self._deferred.items()):
            link = self.links[address]
            if link.connected and msg.inquiry.epoch >= self.durable.highest_epoch:
                self._on_inquiry(link, msg, retry=True)
            else:
                self._deferred.pop(address, None)

    def _on_inquiry(self, link: Link, msg: agent_pb2.ReplicaMessage, retry: bool = False) -> None:
        epoch = msg.inquiry.epoch
        highest = self.durable.highest_epoch
        if epoch < highest:
            self._reject(link, msg, "inquiry")
            return
        old = self.leader
        if old is not None and old is not link:
            silent_for = time.monotonic() - old.last_leader_msg
            if epoch == highest:
                # One epoch has one leader, and this agent confirmed it on `old` (a reconnect or a
                # restart clears that first): another replica claiming it is not that leader.
                reason = f"epoch {epoch} was confirmed with {old.replica_id or old.address}"
            elif old.connected and silent_for < self.config.leader_silence_seconds:
                reason = f"still hearing leader {old.replica_id or old.address} (epoch {highest})"
            else:
                reason = ""
            if reason:
                self._deferred.pop(link.address, None)  # a real leader asks again while it waits
                self._send(link, agent_pb2.AgentMessage(inquiry_reply=agent_pb2.InquiryReply(
                    epoch=epoch, confirmed=False, reason=reason)))
                return
        if epoch > highest:
            # Only an epoch the replicated state has: a majority of the replicas must report it (the
            # leader's BeginEpoch is committed by a majority, so an honest leader soon has them). One
            # replica alone, faulty or not one at all, cannot raise the fence past every real leader.
            backing = sum(1 for other in self.links.values() if other.state_epoch >= epoch)
            needed = len(self.links) // 2 + 1
            if backing < needed:
                earlier = self._deferred.get(link.address)
                self._deferred[link.address] = msg
                if earlier is None or earlier.inquiry.epoch != epoch:
                    log.info("inquiry deferred: its epoch is not held by a majority of the replicas", extra={
                        "epoch": epoch, "replica": msg.replica_id or link.address, "backing": backing,
                        "needed": needed, "highest_epoch": highest})
                if not retry:
                    self._send(link, agent_pb2.AgentMessage(inquiry_reply=agent_pb2.InquiryReply(
                        epoch=epoch, confirmed=False,
                        reason=f"epoch {epoch}: {backing} of the {len(self.links)} replicas this agent knows "
                               f"report it in their state; {needed} must")))
                return
            # Steps 1-2: the old leader is gone for this agent; from now on it is refused.
            self.durable.adopt_epoch(epoch)
            # time_ns: from now on nothing older is accepted (checkers compare it with acceptances)
            log.info("adopted epoch", extra={"epoch": epoch, "leader": msg.replica_id, "time_ns": time.time_ns()})
        self._deferred.pop(link.address, None)
        self.leader = link
        link.last_leader_msg = time.monotonic()
        self._send(link, agent_pb2.AgentMessage(inquiry_reply=agent_pb2.InquiryReply(
            epoch=epoch, confirmed=True, report=self._report())))
        self._send(link, self._heartbeat())  # an ack to it starts the lease without waiting a beat

    def _report(self) -> agent_pb2.AgentReport:
        running = [EV(kind=EV.STARTED, run_id=r, attempt=a, pid=pid, time_ms=int(started * 1000))
                   for r, a, pid, started in self.executor.running()]
        return agent_pb2.AgentReport(highest_epoch=self.durable.highest_epoch, running=running,
                                     unacked=self.durable.unacked(), free_slots=self._free())

    def _free(self) -> int:
        return max(0, self.config.capacity - len(self._running))

    # ---- work

    def _start(self, a: agent_pb2.Assignment, epoch: int) -> None:
        key = (a.run_id, a.attempt)
        why = refusal(self.policy, a.spec)
        if why:
            # Whatever placement thought (an older leader, a policy changed since registration):
            # the agent decides. Final, so the state fails the run instead of queueing it again.
            log.warning("refused an assignment: its job is not allowed here",
                        extra={"run": a.run_id, "attempt": a.attempt, "why": why})
            self.assignments_refused["policy"] += 1
            self._queue_event(EV(kind=EV.REJECTED, run_id=a.run_id, attempt=a.attempt, epoch=epoch, error=why,
                                 policy=True))
            return
        if time.monotonic() >= self.lease_expiry:
            # Without a valid lease the leader may already count this agent as lost and retry the
            # run elsewhere: starting it could overlap that retry (found by the spin model).
            self.assignments_refused["no_lease"] += 1
            self._queue_event(EV(kind=EV.REJECTED, run_id=a.run_id, attempt=a.attempt, epoch=epoch,
                                 error="no valid lease"))
            return
        if len(self._running) >= self.config.capacity:
            self.assignments_refused["no_slot"] += 1
            self._queue_event(EV(kind=EV.REJECTED, run_id=a.run_id, attempt=a.attempt, epoch=epoch,
                                 error="no free slot"))
            return
        if a.secret_error:
            # The leader could not resolve the job's secrets (one deleted since it was applied): running
            # it without them would run something else than what was defined. The error holds no value.
            self._remember_finished(key)
            self._queue_event(EV(kind=EV.FINISHED, run_id=a.run_id, attempt=a.attempt, epoch=epoch,
                                 exit_code=126, error=a.secret_error))
            return
        spec = a.spec
        cmd = spec.command
        try:
            exec_spec = ExecSpec(
                run_id=a.run_id, attempt=a.attempt, argv=tuple(cmd.argv.args) if cmd.HasField("argv") else (),
                shell=cmd.shell if cmd.HasField("shell") else "",
                # After env: the two never name the same variable (model/rules.py). Secret values live
                # only in this process's memory and the job's environment: never in the agent's state,
                # its logs or an event. Then who runs it, under which epoch: lets a job (and the chaos
                # suite) record facts independent of the cluster's own bookkeeping.
                env={**spec.env, **a.secret_env, "WLOADCTL_AGENT_ID": self.config.agent_id,
                     "WLOADCTL_EPOCH": str(epoch), "WLOADCTL_ACCEPTED_NS": str(time.time_ns()),
                     **schedule_env(a.slot_ms, a.business_date)},
                params=dict(a.params),
                working_dir=spec.working_dir, timeout_seconds=spec.timeout_seconds, run_as=spec.run_as,
                empty=spec.task_type == jobs_pb2.EMPTY)
            self._running.add(key)
            self._accepted_at[key] = time.time()
            self.executor.start(exec_spec)
        except (ExecError, ValueError) as e:
            self._running.discard(key)
            self._queue_event(EV(kind=EV.FINISHED, run_id=a.run_id, attempt=a.attempt, epoch=epoch, exit_code=126,
                                 error=str(e)))

    def _account_for(self, a: agent_pb2.Assignment, epoch: int) -> None:
        """A re-sent attempt this agent accepted before: if it is neither running nor finished
        here, the agent restarted while it ran, and its outcome is unknown. Saying so keeps
        the run from staying RUNNING forever."""
        key = (a.run_id, a.attempt)
        if key in self._running or key in self._finished:
            return
        if any((e.run_id, e.attempt) == key for e in self.durable.unacked()):
            return
        self._remember_finished(key)
        self._queue_event(EV(kind=EV.FINISHED, run_id=a.run_id, attempt=a.attempt, epoch=epoch, exit_code=-1,
                             error="the agent restarted while this attempt ran; its outcome is unknown", lost=True))

    def _remember_finished(self, key: tuple[str, int]) -> None:
        self._finished.add(key)
        self._finished_order.append(key)
        if len(self._finished_order) > 100_000:
            self._finished.discard(self._finished_order.popleft())

    def _from_executor_thread(self, event: ExecEvent) -> None:
        self.loop.call_soon_threadsafe(self._on_exec_event, event)

    def _on_exec_event(self, e: ExecEvent) -> None:
        key = (e.run_id, e.attempt)
        epoch = self.durable.highest_epoch
        if e.kind == "started":
            self.runs_started += 1
            accepted = self._accepted_at.pop(key, None)
            if accepted is not None:
                self.spawn_latency.observe(max(0.0, e.time - accepted))
            ev = EV(kind=EV.STARTED, run_id=e.run_id, attempt=e.attempt, epoch=epoch, pid=e.pid,
                    time_ms=int(e.time * 1000))
        elif e.kind == "output":
            offset = self._output_offsets.get(key, 0)
            self._output_offsets[key] = offset + len(e.data)
            ev = EV(kind=EV.OUTPUT, run_id=e.run_id, attempt=e.attempt, epoch=epoch, data=e.data, offset=offset)
        else:
            self._accepted_at.pop(key, None)
            self.runs_finished[finish_outcome(e)] += 1
            self._output_offsets.pop(key, None)
            self._running.discard(key)
            self._remember_finished(key)
            orphaned = key in self._orphaned
            self._orphaned.discard(key)
            ev = EV(kind=EV.FINISHED, run_id=e.run_id, attempt=e.attempt, epoch=epoch, time_ms=int(e.time * 1000),
                    exit_code=e.exit_code, timed_out=e.timed_out, killed=e.killed and not orphaned, error=e.error,
                    orphaned=orphaned, outputs=e.outputs)
        self._queue_event(ev)

    def _queue_event(self, ev: agent_pb2.RunEvent) -> None:
        self._pending.append(ev)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Idle: at once (the events of this loop turn together; a workflow's next task waits on
            # this one's end). Busy: at most one flush (one synced commit, one message) per period.
            wait = self._last_flush + EVENT_FLUSH_S - self.loop.time()
            if wait > 0:
                self.loop.call_later(wait, self._flush)
            else:
                self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._last_flush = self.loop.time()
        events, self._pending = self._pending, []
        # Results are kept (synced, one commit for the batch) until the leader acknowledges them.
        self.durable.add_unacked([e for e in events if e.kind in (EV.FINISHED, EV.REJECTED)])
        if events and self.leader is not None:
            self._send(self.leader, agent_pb2.AgentMessage(events=agent_pb2.EventBatch(events=events)))
        # Without a leader, output chunks are dropped (the full log stays here) and
        # finished results wait in the durable unacked list.

    def _serve_logs(self, link: Link, req: agent_pb2.LogRequest) -> None:
        try:
            chunk = self.logs.read(req.run_id, req.attempt, req.offset, req.limit or (1 << 20))
            reply = agent_pb2.LogChunk(request_id=req.request_id, data=chunk.data, next_offset=chunk.next_offset,
                                       complete=chunk.complete, found=chunk.found)
        except Exception as e:  # a bad id from the replica: answer, do not crash
            log.warning("log request failed: %s", e)
            reply = agent_pb2.LogChunk(request_id=req.request_id, found=False)
        self._send(link, agent_pb2.AgentMessage(log_chunk=reply))

    # ---- timers

    def _heartbeat(self) -> agent_pb2.AgentMessage:
        now = time.monotonic()
        self.heartbeat_seq += 1
        self._heartbeat_sent[self.heartbeat_seq] = now  # the lease counts from the send time
        for seq in [s for s, t in self._heartbeat_sent.items() if now - t > self.config.lease_seconds]:
            del self._heartbeat_sent[seq]
        return agent_pb2.AgentMessage(heartbeat=agent_pb2.AgentHeartbeat(
            seq=self.heartbeat_seq, highest_epoch=self.durable.highest_epoch, running=len(self._running),
            free_slots=self._free(), host=self.host.sample()))

    async def _lease_watch(self) -> None:
        # Checked often, not once a heartbeat: the margin the leader waits must cover this delay.
        while not self.stop.is_set():
            self._check_lease(time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.1)

    async def _heartbeats(self) -> None:
        resend_unacked_at = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            hb = self._heartbeat()
            for link in self.links.values():
                self._send(link, hb)
            if self.leader is not None and now >= resend_unacked_at:
                resend_unacked_at = now + 2.0
                unacked = self.durable.unacked()
                if unacked:
                    self._send(self.leader, agent_pb2.AgentMessage(events=agent_pb2.EventBatch(events=unacked)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), HEARTBEAT_S)

    def _check_lease(self, now: float) -> None:
        if now < self.lease_expiry or not self._running:  # no lease yet counts as expired
            return
        if self.config.orphan_policy == "kill":
            for run_id, attempt, _, _ in self.executor.running():
                if (run_id, attempt) not in self._orphaned:
                    log.warning("lease expired: killing orphaned run",
                                extra={"run": run_id, "attempt": attempt,
                                       "expired_s": round(now - self.lease_expiry, 2)})
                    self._orphaned.add((run_id, attempt))
                    self.executor.kill(run_id, attempt, grace=0.5)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._maintain(link)) for link in self.links.values()]
        tasks.append(asyncio.create_task(self._heartbeats()))
        tasks.append(asyncio.create_task(self._lease_watch()))
        tasks.append(asyncio.create_task(self._expire_logs()))
        tasks.append(asyncio.create_task(self._watch_files()))
        log.info("agent started", extra={"agent": self.config.agent_id, "replicas": ",".join(self.config.replicas),
                                         "epoch": self.durable.highest_epoch, "capacity": self.config.capacity})
        await self.stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A clean stop keeps runs alive only under "keep"; "kill" ends them (reported at the next start).
        await asyncio.to_thread(self.executor.shutdown, self.config.orphan_policy == "kill")
        await asyncio.sleep(0)  # the executor's last events, posted from its threads
        self._flush()           # results are kept durably until a leader acknowledges them
        self.durable.close()
        log.info("agent stopped")

    async def _watch_files(self) -> None:
        """Scan the watched directories and report ready files to the confirmed leader until it
        acknowledges them; watch sets and acknowledgements apply in arrival order."""
        next_scan = 0.0
        last_report = 0.0
        while not self.stop.is_set():
            try:
                op = await asyncio.wait_for(self._file_ops.get(), max(0.0, next_scan - time.monotonic()))
            except TimeoutError:
                op = None
            try:
                if op is not None:
                    kind, payload = op
                    if kind == "watches":
                        await asyncio.to_thread(self.files.set_watches, payload)  # type: ignore[arg-type]
                    else:
                        await asyncio.to_thread(self.files.acknowledged, payload)  # type: ignore[arg-type]
                    continue
                next_scan = time.monotonic() + FILE_SCAN_INTERVAL_S
                if not self.files.watch_ids:
                    continue
                fresh = await asyncio.to_thread(self.files.scan)
                now = time.monotonic()
                if self.files.pending and self.leader is not None and \
                        (fresh or now - last_report >= FILE_RESEND_INTERVAL_S):
                    last_report = now
                    report = list(self.files.pending.values())[:FILE_REPORT_MAX]
                    self._send(self.leader, agent_pb2.AgentMessage(file_arrivals=agent_pb2.FileArrivals(files=report)))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("file watching failed; retrying")
                next_scan = time.monotonic() + FILE_SCAN_INTERVAL_S

    async def _expire_logs(self) -> None:
        """Retention on the agent: logs (age, total size), per-attempt work directories (age, count) and
        the records of attempts whose results the leader acknowledged long ago."""
        while not self.stop.is_set():
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.housekeeping)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), HOUSEKEEPING_INTERVAL_S)

    def housekeeping(self) -> dict[str, int]:
        c = self.config
        now = time.time()
        running = {f"{run_id}-{attempt}" for run_id, attempt, *_ in self.executor.running()}
        out = {"logs": self.logs.expire(),
               "run_dirs": expire_run_dirs(c.work_dir / "runs", running, c.run_dirs_kept_hours * 3600,
                                           c.max_run_dirs, now),
               "attempt_records": self.durable.prune_attempts(int((now - c.log_retention_hours * 3600) * 1000))}
        if any(out.values()):
            log.info("retention removed old records", extra=out)
        return out


def tls_credentials(config: AgentConfig, insecure: bool) -> grpc.ChannelCredentials | None:
    """The [tls] files, read and checked once (None: plain gRPC, with --insecure).

    Checked at start: a bad file found only when dialling would be retried for ever."""
    if config.tls_cert is None or config.tls_key is None or config.tls_ca is None:
        if insecure:
            return None
        raise ConfigError("tls: an agent needs ca, cert and key (wloadctl certs issue --kind agent), or --insecure")
    from wloadctl.security.certs import CertError, CertPaths, channel_credentials

    try:
        return channel_credentials(CertPaths(config.tls_cert, config.tls_key, config.tls_ca), table="tls")
    except CertError as e:
        raise ConfigError(str(e)) from None


def run_agent(config_path: str, insecure: bool = False, log_format: str | None = None,
              log_level: str | None = None) -> int:
    # Configuration errors are found before the first log line: each is one `error:` line.
    try:
        config = load_agent_config(config_path)
        credentials = tls_credentials(config, insecure)
        ensure_dir(config.work_dir, "work_dir")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    setup_logging(log_format or config.log_format, log_level or config.log_level, config.agent_id)

    collector: AgentCollector | None = None
    if config.metrics_address:
        try:
            collector = serve_agent_metrics(config.metrics_address)
        except OSError as e:
            print(f"error: metrics_address: cannot listen on {config.metrics_address} ({describe_error(e)}): "
                  f"set it to a free port, or to \"\" to turn the agent's metrics off", file=sys.stderr)
            return 2

    async def main() -> int:
        try:
            agent = Agent(config, credentials)
        except (lmdb.Error, OSError) as e:  # a damaged work dir: a runtime error (exit 1), as for a replica
            print(f"error: work_dir: cannot open the agent's state: {describe_error(e)}", file=sys.stderr)
            return 1
        if collector is not None:
            collector.agent = agent
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.stop.set)
        await agent.run()
        return 0

    return uvloop.run(main())

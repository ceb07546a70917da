"""The leader's loop: takeover checked by an agent quorum, then commit-then-dispatch.

Runs on every replica; acts only while its replica leads. Phases of a
leadership (the white paper's four steps, docs/takeover.md):

  begin_epoch  commit BeginEpoch(previous + 1): the epoch fences everything after
  inquiry      ask every agent whether it lost the old leader; an agent that
               confirms has persisted the new epoch and refuses the old leader
  degraded     inquiry still short of the agent quorum after `degraded_after`
  reconcile    record what confirmed agents report (started, finished runs),
               re-send dispatched attempts they never received
  active       dispatch: commit DispatchRuns, then send assignments

Every time-driven change (an agent lost) is a committed command (principle 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message

from wloadctl.config.settings import ControlSettings
from wloadctl.observability.histogram import Buckets
from wloadctl.proto.v1 import agent_pb2, commands_pb2, runs_pb2, secrets_pb2
from wloadctl.raft.node import RaftNode
from wloadctl.raft.proposer import Proposer
from wloadctl.raft.testhooks import dispatch_pause_s, takeover_pause_s
from wloadctl.scheduler.placement import AgentSlots, agent_quorum
from wloadctl.scheduler.plan import (
    LinkView,
    agent_record,
    file_arrival_command,
    free_slots,
    plan_dispatch,
    plan_file_watches,
    plan_lost_agents,
    plan_registrations,
    plan_resends,
    plan_schedules,
    plan_sweep,
    plan_workflow_timers,
)
from wloadctl.scheduler.retention import plan_prune
from wloadctl.state.secrets import resolve
from wloadctl.state.store import Store

log = logging.getLogger(__name__)
RS = runs_pb2.RunState
EV = agent_pb2.RunEvent
# One RecordRunEvents command holds at most this many bytes of events (and events_per_command events).
EVENT_CHUNK_BYTES = 1 << 20
# One DispatchBatch message to an agent holds at most this many bytes of assignments (one larger
# assignment goes alone): below the smallest max_message_bytes (4 MiB).
ASSIGNMENT_BATCH_BYTES = 2 << 20
# File triggers: jobs planned for watches, and file arrivals committed per tick (the rest waits).
MAX_FILE_TRIGGER_JOBS = 10_000
FILE_ARRIVALS_PER_TICK = 512


@dataclass
class AgentConn:
    """One agent's stream to this replica."""

    agent_id: str
    hello: agent_pb2.AgentHello
    outbox: asyncio.Queue[agent_pb2.ReplicaMessage]
    last_heard: float
    confirmed_epoch: int = 0
    report: agent_pb2.AgentReport | None = None
    running: int = 0
    free_slots: int = 0
    host: agent_pb2.HostLoad | None = None  # from its last heartbeat that had one (metrics, console)
    closed: bool = False
    sent_kill: dict[tuple[str, int], float] = field(default_factory=dict)
    sent_watches: bytes | None = None  # the file watches last sent (serialized), None: none yet
    # Ends the call with a status (set by the AgentLink servicer): a writer blocked on a peer that
    # reads nothing would never look at ``closed``.
    stop_stream: Callable[[], object] | None = None


class Controller:
    def __init__(self, node: RaftNode, store: Store, proposer: Proposer, node_id: str,
                 settings: ControlSettings | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 probe_followers: Callable[[], Awaitable[dict[str, int]]] | None = None) -> None:
        self.node = node
        self.store = store
        self.proposer = proposer
        self.node_id = node_id
        self.settings = settings or ControlSettings()
        self.clock = clock
        self.wall_clock = wall_clock  # schedule slots are instants: they are compared with wall time
        self.firings_total = 0
        self.firing_lateness = Buckets(LATENESS_BUCKETS_S)  # slot -> its run committed (leader only)
        self.runs_pruned = 0
        self._last_prune = 0.0
        self._prune_from = 0  # where the next retention sweep starts (a run's sequence number)
        self.conns: dict[str, AgentConn] = {}
        self.phase = "follower"
        self.epoch = 0
        self.confirmed: set[str] = set()
        self.takeover_started = 0.0
        self.activated_at = 0.0
        self.last_inquiry = 0.0
        self.disconnected_at: dict[str, float] = {}
        self._pending_events: dict[str, list[agent_pb2.RunEvent]] = {}
        # File arrivals agents reported, by agent, until committed (then acknowledged to the agent).
        self._pending_files: dict[str, dict[str, agent_pb2.FileArrival]] = {}
        self._last_watch_plan = 0.0
        self.file_runs_total = 0
        self._dispatched_at: dict[tuple[str, int], float] = {}
        self._registered_hello: dict[str, bytes] = {}
        self._log_requests: dict[int, asyncio.Future[agent_pb2.LogChunk]] = {}
        self._request_ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.rejections_seen = 0
        self.dispatched_total = 0
        self.probe_followers = probe_followers
        self._last_probe = 0.0
        self._last_transfer = 0.0
        self.transfers_requested = 0
        self._to_reconcile: set[str] = set()
        self._last_sweep = 0.0
        # Workflow timers this leader has seen, and when (its monotonic clock): scheduler/plan.py.
        self._timers_seen: dict[tuple[int, int, str], float] = {}
        self.outbox_overflows = 0     # agent streams closed because their outbox was full
        self.event_overflows = 0      # agent streams closed because too many of their events waited
        # The epoch this replica's state holds, as last told to the agents (every message carries it):
        # agents adopt a new epoch only once a majority of the replicas report it.
        self._state_epoch = 0

    # ---- lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="controller")

    async def stop(self) -> None:
        # Python 3.11's asyncio.wait_for can swallow a cancellation that arrives as its inner
        # await completes (the loop's tick wait, a proposal's timeout), and the loop would go on
        # forever: a replica hung in shutdown under the chaos matrix. The flag ends the loop at
        # its next turn whatever happened to the cancellation.
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=10)
            if not done:
                log.warning("controller did not stop within 10 s; leaving it")

    def wake(self) -> None:
        """Called on the event loop when the Raft role changes (and to hurry a tick)."""
        # A tick may be waiting seconds on a proposal that a deposed leader can no longer commit;
        # the step-down (phase, notice to the agents) must not wait for it.
        self._step_down_if_deposed()
        self._wake.set()

    def _step_down_if_deposed(self) -> bool:
        if self.node.is_leader():
            return False
        if self.phase != "follower":
            log.info("no longer leader: stop dispatching", extra={"epoch": self.epoch})
            if self.epoch:
                notice = agent_pb2.ReplicaMessage(epoch=self.epoch, replica_id=self.node_id, leader=True,
                                                  step_down=agent_pb2.StepDown())
                for conn in self.conns.values():
                    self._send(conn, notice)
            self.phase, self.epoch = "follower", 0
            self.confirmed.clear()
            # A follower commits nothing: the agents send their results again to the next leader.
            self._pending_events.clear()
            self._pending_files.clear()
        return True

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.tick_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller tick failed")
                await asyncio.sleep(self.settings.tick_s)

    # ---- messages to agents

    def _message(self, **body: object) -> agent_pb2.ReplicaMessage:
        active = self.phase != "follower" and self.epoch > 0
        return agent_pb2.ReplicaMessage(epoch=self.epoch if active else 0, replica_id=self.node_id, leader=active,
                                        **body)

    def _send(self, conn: AgentConn, msg: agent_pb2.ReplicaMessage) -> None:
        if not conn.closed:
            msg.state_epoch = self._state_epoch
            try:
                conn.outbox.put_nowait(msg)
            except asyncio.QueueFull:
                self.outbox_overflows += 1
                self._drop_stream(conn, f"its outbox is full ({conn.outbox.maxsize} messages not yet written)")

    def _drop_stream(self, conn: AgentConn, why: str) -> None:
        """Close an agent's stream that fell too far behind: the agent reconnects, confirms the
        epoch again and is reconciled from its report (runs it holds, results not acknowledged),
        which replaces whatever was waiting for it here."""
        log.warning("closing the stream of agent %s: %s; it reconnects and is reconciled", conn.agent_id, why,
                    extra={"agent": conn.agent_id})
        _close(conn)
        self._pending_events.pop(conn.agent_id, None)
        if conn.stop_stream is not None:
            conn.stop_stream()
        # Not now: callers may be iterating over self.conns.
        asyncio.get_running_loop().call_soon(self.detach, conn)

    def _announce_state_epoch(self) -> None:
        """Followers too: tell every agent when this replica's state epoch grows (a leader's
        BeginEpoch, applied here), so an agent can count a majority behind the new epoch."""
        epoch = self.store.epoch_info().epoch
        if epoch <= self._state_epoch:
            return
        self._state_epoch = epoch
        notice = self._message(epoch_notice=agent_pb2.EpochNotice())
        for conn in self.conns.values():
            self._send(conn, notice)

    # ---- stream events (called by the AgentLink servicer)

    def attach(self, hello: agent_pb2.AgentHello) -> AgentConn:
        self._announce_state_epoch()  # the welcome carries the current one
        old = self.conns.get(hello.agent_id)
        if old is not None:
            _close(old)
        conn = AgentConn(agent_id=hello.agent_id, hello=hello,
                         outbox=asyncio.Queue(maxsize=self.settings.outbox_max_messages), last_heard=self.clock(),
                         free_slots=hello.capacity)
        self.conns[hello.agent_id] = conn
        self.disconnected_at.pop(hello.agent_id, None)
        leader = self.node.leader_address()
        self._send(conn, self._message(welcome=agent_pb2.Welcome(leader_id=leader or "")))
        if self.phase not in ("follower", "begin_epoch"):
            self._send(conn, self._message(inquiry=agent_pb2.Inquiry(epoch=self.epoch)))
        self.wake()
        return conn

    def detach(self, conn: AgentConn) -> None:
        conn.closed = True
        if self.conns.get(conn.agent_id) is conn:
            del self.conns[conn.agent_id]
            self.disconnected_at[conn.agent_id] = conn.last_heard
            self.confirmed.discard(conn.agent_id)

    def on_message(self, conn: AgentConn, msg: agent_pb2.AgentMessage) -> None:
        conn.last_heard = self.clock()
        kind = msg.WhichOneof("body")
        if kind == "heartbeat":
            hb = msg.heartbeat
            conn.running, conn.free_slots = hb.running, hb.free_slots
            if hb.HasField("host"):
                conn.host = hb.host
            if self.phase not in ("follower", "begin_epoch") and hb.highest_epoch == self.epoch \
                    and self.node.leads_now():
                # Renews the agent's lease: only the leader of the current epoch may, and only while
                # a majority still follows it (a woken, deposed leader must not, before its tick).
                self._send(conn, self._message(heartbeat_ack=agent_pb2.HeartbeatAck(seq=hb.seq)))
        elif kind == "inquiry_reply":
            reply = msg.inquiry_reply
            if reply.epoch == self.epoch and reply.confirmed and self.phase != "follower":
                conn.confirmed_epoch = reply.epoch
                conn.report = reply.report
                conn.free_slots = reply.report.free_slots
                self.confirmed.add(conn.agent_id)
                if self.phase == "active":
                    self._to_reconcile.add(conn.agent_id)  # (re)joined after the takeover
                self.wake()
        elif kind == "events":
            if self.phase == "follower":
                return  # only a leader commits them; the agent sends them again to the one it follows
            pending = self._pending_events.setdefault(conn.agent_id, [])
            pending.extend(msg.events.events)
            if len(pending) > self.settings.pending_events_max:
                self.event_overflows += 1
                self._drop_stream(conn, f"{len(pending)} of its events wait to be committed "
                                        f"(at most {self.settings.pending_events_max})")
            self.wake()
        elif kind == "file_arrivals":
            if self.phase != "active" or conn.confirmed_epoch != self.epoch:
                return  # the agent reports them again to the leader it confirms
            pending = self._pending_files.setdefault(conn.agent_id, {})
            for arrival in msg.file_arrivals.files:
                if len(pending) >= self.settings.pending_events_max:
                    break  # the rest comes again with the agent's next report
                pending[file_arrival_command(conn.agent_id, arrival).idempotency_key] = arrival
            self.wake()
        elif kind == "log_chunk":
            fut = self._log_requests.pop(msg.log_chunk.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg.log_chunk)
        elif kind == "rejected":
            self.rejections_seen += 1
            log.warning("agent refused a stale message", extra={"agent": conn.agent_id,
                                                               "stale_epoch": msg.rejected.epoch,
                                                               "agent_epoch": msg.rejected.highest_epoch})

    async def request_logs(self, agent_id: str, run_id: str, attempt: int, offset: int,
                           limit: int) -> agent_pb2.LogChunk | None:
        conn = self.conns.get(agent_id)
        if conn is None:
            return None
        request_id = next(self._request_ids)
        fut: asyncio.Future[agent_pb2.LogChunk] = asyncio.get_running_loop().create_future()
        self._log_requests[request_id] = fut
        # Log reads are not fenced: they change nothing, and any replica may serve them.
        try:
            conn.outbox.put_nowait(agent_pb2.ReplicaMessage(
                epoch=self.epoch if self.phase != "follower" else 0, replica_id=self.node_id,
                leader=self.phase != "follower",
                log_request=agent_pb2.LogRequest(request_id=request_id, run_id=run_id, attempt=attempt,
                                                 offset=offset, limit=limit)))
        except asyncio.QueueFull:
            self._log_requests.pop(request_id, None)
            self.outbox_overflows += 1
            self._drop_stream(conn, f"its outbox is full ({conn.outbox.maxsize} messages not yet written)")
            return None
        try:
            return await asyncio.wait_for(fut, self.settings.log_request_timeout_s)
        except TimeoutError:
            return None
        finally:
            self._log_requests.pop(request_id, None)

    # ---- the loop

    async def tick(self) -> None:
        self._announce_state_epoch()
        if self._step_down_if_deposed():
            return
        if self.phase == "follower":
            await self._begin_epoch()
            return
        await self._register_agents()
        await self._fire_schedules()
        await self._fire_workflow_timers()
        if self.phase in ("inquiry", "degraded"):
            self._inquire()
            if self._quorum_reached():
                self.phase = "reconcile"
            elif self.clock() - self.takeover_started > self.settings.degraded_after_s and self.phase != "degraded":
                self.phase = "degraded"
                log.error("no agent quorum: not dispatching (wloadctl cluster force-dispatch overrides)",
                          extra=self.quorum_view())
        if self.phase == "reconcile":
            epoch = self.epoch
            if pause := takeover_pause_s():  # test-only (chaos): a new leader killed mid-takeover
                log.warning("test hook: pausing a takeover between the agent quorum and reconcile",
                            extra={"epoch": self.epoch, "seconds": pause})
                await asyncio.sleep(pause)
            await self._reconcile()
            if self.phase != "reconcile" or self.epoch != epoch:
                # Deposed while reconciling (wake() stepped down: follower, epoch 0). Going on to
                # "active" would dispatch in epoch 0 for ever, even once leader again, since only a
                # follower begins an epoch (found by bench/watch.py: elections under load).
                return
            self.phase = "active"
            self.activated_at = self.clock()
            took = round(self.clock() - self.takeover_started, 3)
            log.info("dispatching", extra={"epoch": self.epoch, "after_s": took})
        if self.phase not in ("inquiry", "degraded", "reconcile", "active"):
            return
        if self.phase == "active":
            self._inquire()  # agents that (re)connect after takeover confirm too
            if self._to_reconcile:
                joined, self._to_reconcile = self._to_reconcile, set()
                await self._reconcile(joined)
            # Proposed together, so both land in the same Raft entry.
            _, recorded = await asyncio.gather(self._dispatch(), self._record_events())
            if recorded:
                # Their entry may have queued runs (a workflow's next tasks, a retry, a buffered
                # run): placed now rather than a tick later.
                await self._dispatch()
            await self._prune()
            await self._file_triggers()
        else:
            await self._record_events()
        await self._detect_lost_agents()
        if self.phase == "active" and self.clock() - self._last_sweep >= 0.25:
            self._last_sweep = self.clock()  # kills and re-sends need no tick-level promptness
            self._send_kills_and_resends()
        await self._hand_over_if_cut_off()

    async def _commit(self, command: commands_pb2.Command) -> commands_pb2.CommandResult | None:
        try:
            return await self.proposer.submit(command, timeout=5)
        except Exception as e:  # not leader any more, or no commit in time: the next tick decides again
            log.warning("command not committed: %s", e)
            return None

    async def _begin_epoch(self) -> None:
        self.phase = "begin_epoch"
        expected = self.store.epoch_info().epoch + 1
        result = await self._commit(commands_pb2.Command(
            begin_epoch=commands_pb2.BeginEpoch(leader_id=self.node_id, expected_epoch=expected)))
        if result is None or result.code != 0 or not self.node.is_leader():
            self.phase = "follower"
            return
        self.epoch = result.epoch
        self.takeover_started = self.clock()
        self.confirmed.clear()
        self.last_inquiry = 0.0
        self.phase = "inquiry"
        for conn in self.conns.values():
            conn.confirmed_epoch = 0
        self._announce_state_epoch()  # before the inquiry, which agents check against it
        log.info("began epoch", extra={"epoch": self.epoch})
        self._inquire()

    def _inquire(self) -> None:
        now = self.clock()
        if now - self.last_inquiry < self.settings.inquiry_interval_s:
            return
        self.last_inquiry = now
        for conn in self.conns.values():
            if conn.confirmed_epoch != self.epoch:
                self._send(conn, self._message(inquiry=agent_pb2.Inquiry(epoch=self.epoch)))

    def quorum_view(self) -> dict[str, int]:
        registered = self._registered()
        return {"registered": len(registered), "confirmed": len(self.confirmed_agents(registered)),
                "required": agent_quorum(len(registered), self.settings.agent_quorum)}

    def _registered(self) -> set[str]:
        return {a.agent_id for a in self.store.agents() if not a.lost_ms}

    def confirmed_agents(self, registered: set[str] | None = None) -> set[str]:
        """Agents that count towards the agent quorum: confirmed this leader's epoch, registered, not lost.
        `get agents` shows this set and `cluster status` counts it, so the two never disagree."""
        return self.confirmed & (self._registered() if registered is None else registered)

    def _quorum_reached(self) -> bool:
        view = self.quorum_view()
        return view["confirmed"] >= view["required"] or (self.store.epoch_info().forced and \
            self.store.epoch_info().epoch == self.epoch)

    async def _register_agents(self) -> None:
        known = {a.agent_id: a for a in self.store.agents()}
        # Only agents fenced to this epoch join (or re-join) the pool; one registered with the hello it
        # still sends, and not lost since, is not even compared with its record again.
        changed = [c.hello for c in self.conns.values() if c.confirmed_epoch == self.epoch and not (
            c.agent_id in known and not known[c.agent_id].lost_ms and
            self._registered_hello.get(c.agent_id) == c.hello.SerializeToString(deterministic=True))]
        if not changed:
            return
        needed = {r.agent_id for r in plan_registrations(known, changed)}
        for hello in changed:
            fingerprint = hello.SerializeToString(deterministic=True)
            if hello.agent_id not in needed:
                self._registered_hello[hello.agent_id] = fingerprint
                continue
            result = await self._commit(commands_pb2.Command(
                register_agent=commands_pb2.RegisterAgent(agent=agent_record(hello))))
            if result is not None and result.code == 0:
                self._registered_hello[hello.agent_id] = fingerprint
                log.info("agent registered", extra={"agent": hello.agent_id})

    async def _reconcile(self, only: set[str] | None = None) -> None:
        """Step 4: what confirmed agents hold, against the state. Also run for an agent that
        (re)confirms later: a run the state has on it but it does not hold is re-sent, and the
        agent answers for it (started again never: it deduplicates; unknown outcome otherwise)."""
        active = self.store.on_agent_runs()
        for conn in list(self.conns.values()):
            report = conn.report
            skipped = only is not None and conn.agent_id not in only
            if report is None or conn.agent_id not in self.confirmed or skipped:
                continue
            events = list(report.running) + list(report.unacked)
            if events:
                self._pending_events.setdefault(conn.agent_id, [])[:0] = events
            resend = plan_resends(active, conn.agent_id, {(e.run_id, e.attempt) for e in events})
            if resend:
                self._send_assignments(conn, resend)
        await self._record_events()

    async def _record_events(self) -> int:
        """Commit the agents' events; how many were committed."""
        recorded = 0
        pending, self._pending_events = self._pending_events, {}
        for agent_id, events in pending.items():
            # In order, in commands of bounded size (one command holding everything an agent sent
            # during a long commit outage could exceed an entry).
            for start, end in message_chunks(events, self.settings.events_per_command, EVENT_CHUNK_BYTES):
                chunk = events[start:end]
                result = await self._commit(commands_pb2.Command(
                    record_run_events=commands_pb2.RecordRunEvents(agent_id=agent_id, events=chunk)))
                if result is None:
                    if self.phase != "follower":  # not committed: this chunk and the rest, next tick
                        self._pending_events.setdefault(agent_id, [])[:0] = events[start:]
                    break
                if result.code != 0:
                    # Committed and refused: the same events would be refused again. Results the agent
                    # keeps unacknowledged come back with its next resend or report.
                    log.error("agent events refused at apply: %s", result.message, extra={"agent": agent_id})
                    continue
                recorded += len(chunk)
                acked = max((e.seq for e in chunk if e.kind in (EV.FINISHED, EV.REJECTED)), default=0)
                conn = self.conns.get(agent_id)
                if acked and conn is not None:
                    self._send(conn, self._message(event_ack=agent_pb2.EventAck(seq=acked)))
        return recorded

    async def _hand_over_if_cut_off(self) -> None:
        """A leader that cannot reach the agents while a follower can hands leadership to
        that follower (it still leads Raft, so nobody else would take over)."""
        now = self.clock()
        if self.probe_followers is None or now - self._last_probe < self.settings.probe_interval_s \
                or now - self._last_transfer < self.settings.transfer_backoff_s:
            return
        known = len(self.store.agents())
        reachable = self.reachable_agents()
        if known == 0 or reachable >= known // 2 + 1:
            return
        self._last_probe = now
        seen = await self.probe_followers()
        best = max(seen.items(), key=lambda kv: kv[1], default=None)
        if best is None or best[1] <= reachable:
            return
        self._last_transfer = now
        self.transfers_requested += 1
        log.error("this leader cannot reach the agents but a follower can: moving leadership",
                  extra={"reachable": reachable, "known": known, "target": best[0], "target_sees": best[1]})
        self.node.transfer_leadership(best[0], lambda _res, _err: None)

    def _links(self) -> list[LinkView]:
        return [LinkView(c.agent_id, c.last_heard, c.confirmed_epoch) for c in self.conns.values()]

    async def _detect_lost_agents(self) -> None:
        heard = dict(self.disconnected_at)
        heard.update({agent_id: conn.last_heard for agent_id, conn in self.conns.items()})
        with self.store.view() as view:
            marks = plan_lost_agents(view, heard, self.takeover_started, self.clock(), self.settings.lease_margin_s,
                                     self.epoch)
        for mark in marks:
            result = await self._commit(commands_pb2.Command(mark_agent_lost=mark))
            if result is not None and result.code == 0:
                self._registered_hello.pop(mark.agent_id, None)
                conn = self.conns.get(mark.agent_id)
                if conn is not None:
                    conn.confirmed_epoch = 0  # it must confirm again before it gets work
                    self.confirmed.discard(mark.agent_id)
                log.warning("agent lost", extra={"agent": mark.agent_id, "runs": ",".join(result.run_ids)})

    async def _fire_schedules(self) -> None:
        """Time-driven firings due now (any leading phase: creating runs needs no agent)."""
        now_ms = int(self.wall_clock() * 1000)
        with self.store.view() as view:
            commands = plan_schedules(view, now_ms, self.settings.max_firings_per_tick)
        for fire in commands:
            result = await self._commit(commands_pb2.Command(fire_schedules=fire))
            if result is None:
                return
            self.firings_total += len(result.run_ids)
            done_ms = int(self.wall_clock() * 1000)
            slots = [slot for firing in fire.firings for slot in firing.fire_slots]
            if len(slots) != len(result.run_ids):  # some were refused (overlap, stale): the runs say which ran
                slots = [run.slot_ms for run in map(self.store.get_run, result.run_ids) if run is not None]
            for slot in slots:
                self.firing_lateness.observe(max(0.0, (done_ms - slot) / 1000))
            if result.message:
                log.info("firings refused at apply: %s", result.message)

    async def _fire_workflow_timers(self) -> None:
        """Workflow retries and wait timeouts whose time came (scheduler/plan.py decides which)."""
        with self.store.view() as view:
            if not view.next_workflow_timer_ms():
                self._timers_seen.clear()
                return
            timers = view.workflow_timers(1000)
        due = plan_workflow_timers(timers, int(self.wall_clock() * 1000), self.clock(), self._timers_seen)
        if due:
            result = await self._commit(commands_pb2.Command(
                fire_workflow_timers=commands_pb2.FireWorkflowTimers(timers=due)))
            if result is not None and result.code:
                log.warning("workflow timers: %s", result.message)

    async def _file_triggers(self) -> None:
        """Send each agent its file watches when they changed; commit a run per file the agents found."""
        now = self.clock()
        if now - self._last_watch_plan >= self.settings.file_watch_interval_s:
            self._last_watch_plan = now
            with self.store.view() as view:
                jobs = view.file_trigger_jobs(MAX_FILE_TRIGGER_JOBS)
            agents = [AgentSlots(c.agent_id, c.hello.labels, 0, 0, c.hello.policy if c.hello.HasField("policy")
                                 else None) for c in self.conns.values() if c.confirmed_epoch == self.epoch]
            for agent_id, watches in plan_file_watches(jobs, agents).items():
                conn = self.conns.get(agent_id)
                raw = watches.SerializeToString(deterministic=True)
                if conn is not None and raw != conn.sent_watches:
                    conn.sent_watches = raw
                    self._send(conn, self._message(file_watches=watches))
        if not self._pending_files:
            return
        batch: list[tuple[str, str, agent_pb2.FileArrival]] = []
        for agent_id, pending in self._pending_files.items():
            batch += [(agent_id, key, arrival) for key, arrival in list(pending.items())[:FILE_ARRIVALS_PER_TICK]]
        batch = batch[:FILE_ARRIVALS_PER_TICK]
        results = await asyncio.gather(*(self._commit(file_arrival_command(agent_id, a)) for agent_id, _, a in batch))
        acks: dict[str, list[agent_pb2.FileArrival]] = {}
        for (agent_id, key, arrival), result in zip(batch, results, strict=True):
            if result is None:
                continue  # not committed: the agent reports it again
            self._pending_files.get(agent_id, {}).pop(key, None)
            self.file_runs_total += len(result.run_ids)
            if result.code != 0 or result.message:
                log.info("file not run: %s", result.message, extra={"agent": agent_id, "path": arrival.path[:300]})
            acks.setdefault(agent_id, []).append(arrival)
        for agent_id in [a for a, p in self._pending_files.items() if not p]:
            del self._pending_files[agent_id]
        for agent_id, acked in acks.items():
            conn = self.conns.get(agent_id)
            if conn is not None:
                self._send(conn, self._message(file_ack=agent_pb2.FileArrivalAck(files=acked)))

    async def _prune(self) -> None:
        """Retention: finished runs the policy no longer keeps, a bounded sweep every few seconds."""
        now = self.clock()
        if now - self._last_prune < self.settings.prune_interval_s:
            return
        self._last_prune = now

        def plan() -> tuple[commands_pb2.PruneRuns | None, int]:
            with self.store.view() as view:
                return plan_prune(view, self._prune_from, int(self.wall_clock() * 1000), self.settings.runs_kept_s,
                                  int(self.settings.runs_kept_per_job), self.settings.prune_scan)

        # Parsing a thousand runs takes tens of milliseconds: not on the loop that serves the agents.
        prune, self._prune_from = await asyncio.to_thread(plan)
        if prune is not None:
            result = await self._commit(commands_pb2.Command(prune_runs=prune))
            if result is not None:
                self.runs_pruned += len(result.run_ids)

    async def _dispatch(self) -> None:
        with self.store.view() as view:
            slots = free_slots(view, self._links(), self.epoch, self.clock(), self.settings.agent_silence_s)
            decision = plan_dispatch(view, slots, self.epoch, self.settings.max_dispatch_batch)
        if decision is None:
            return
        result = await self._commit(commands_pb2.Command(dispatch_runs=decision))
        if result is None or result.code != 0:
            if result is not None and result.code == grpc.StatusCode.ABORTED.value[0]:
                log.error("dispatch refused: epoch %d is stale", self.epoch)
            return
        if pause := dispatch_pause_s():  # test-only (chaos): a leader killed between commit and send
            log.warning("test hook: pausing between a dispatch commit and its send",
                        extra={"runs": ",".join(result.run_ids), "seconds": pause})
            await asyncio.sleep(pause)
        if self.phase != "active":
            return  # deposed while committing: the next leader sends what the state recorded
        # Commit, then act: only what the state recorded goes out.
        by_agent: dict[str, list[runs_pb2.Run]] = {}
        for run_id in result.run_ids:
            run = self.store.get_run(run_id)
            if run is not None and run.state == RS.DISPATCHED:
                by_agent.setdefault(run.agent_id, []).append(run)
        for agent_id, runs in by_agent.items():
            conn = self.conns.get(agent_id)
            if conn is not None:
                self._send_assignments(conn, runs)
        self.dispatched_total += len(result.run_ids)

    def _send_assignments(self, conn: AgentConn, runs: list[runs_pb2.Run]) -> None:
        now = self.clock()
        for run in runs:
            self._dispatched_at[(run.run_id, run.attempt)] = now
        secrets = self._secrets_of(runs)
        assignments = [self._assignment(r, secrets) for r in runs]
        # Several messages when the specs are large: one message must stay below max_message_bytes.
        for start, end in message_chunks(assignments, len(assignments), ASSIGNMENT_BATCH_BYTES):
            self._send(conn, self._message(dispatch=agent_pb2.DispatchBatch(assignments=assignments[start:end])))

    def _secrets_of(self, runs: list[runs_pb2.Run]) -> dict[str, secrets_pb2.StoredSecret | None]:
        """The secrets the runs' specs refer to, as the state holds them now (one read)."""
        names = {ref.partition("/")[0] for r in runs for ref in r.spec.secret_env.values()}
        return self.store.stored_secrets(sorted(names)) if names else {}

    def _assignment(self, run: runs_pb2.Run,
                    secrets: dict[str, secrets_pb2.StoredSecret | None]) -> agent_pb2.Assignment:
        """The run's spec keeps the references; the values go only into the message to the agent
        that runs this attempt, resolved now: an attempt sent after a secret changed gets the new
        values, one sent after it was deleted fails with secret_error."""
        assignment = agent_pb2.Assignment(run_id=run.run_id, attempt=run.attempt, spec=run.spec, params=run.params,
                                          slot_ms=run.slot_ms, business_date=run.business_date)
        if run.spec.secret_env:
            env, error = resolve(self.store.secret_box, secrets, run.spec)
            if error:
                # The error names the variable and the secret, never a value.
                log.warning("attempt sent without its secrets: %s", error,
                            extra={"run": run.run_id, "attempt": run.attempt})
                assignment.secret_error = error
            else:
                assignment.secret_env.update(env)
        return assignment

    def _send_kills_and_resends(self) -> None:
        now = self.clock()
        sent: dict[tuple[str, int], float] = {}
        for conn in self.conns.values():
            sent.update(conn.sent_kill)
        sweep = plan_sweep(self.store.on_agent_runs(), set(self.conns), sent, self._dispatched_at, now,
                           kill_every_s=1.0, resend_after_s=self.settings.resend_after_s)
        for agent_id, run_id, attempt in sweep.kills:
            conn = self.conns[agent_id]
            conn.sent_kill[(run_id, attempt)] = now
            self._send(conn, self._message(kill=agent_pb2.KillRun(run_id=run_id, attempt=attempt)))
        for agent_id, runs in sweep.resends.items():
            self._send_assignments(self.conns[agent_id], runs)  # the agent deduplicates by (run, attempt)
        for key in set(self._dispatched_at) - sweep.live:
            del self._dispatched_at[key]
        for conn in self.conns.values():
            # Kills of runs no longer on the agent (ended, lost, moved) are never sent again.
            for key in [k for k in conn.sent_kill if k not in sweep.live]:
                del conn.sent_kill[key]

    # ---- views

    def view(self) -> dict[str, object]:
        q = self.quorum_view()
        return {"phase": self.phase, "epoch": self.epoch, "confirmed": q["confirmed"], "required": q["required"],
                "registered": q["registered"], "connected": self.reachable_agents()}

    def reachable_agents(self) -> int:
        """Agents with a stream to this replica that spoke within agent_silence_s.

        An open stream alone says little: a silently partitioned agent keeps its TCP connection
        for many seconds. Leader and followers count alike, or a leader missing one agent would
        hand leadership to a follower that merely has not noticed yet, and on, and on."""
        now = self.clock()
        return sum(1 for c in self.conns.values() if now - c.last_heard < self.settings.agent_silence_s)


LATENESS_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def _close(conn: AgentConn) -> None:
    """Mark a stream closed and wake its writer if it waits for a message (it then ends)."""
    conn.closed = True
    with contextlib.suppress(asyncio.QueueFull):  # a full outbox: the writer is not waiting
        conn.outbox.put_nowait(agent_pb2.ReplicaMessage())


def message_chunks(items: Sequence[Message], max_items: int, max_bytes: int) -> Iterator[tuple[int, int]]:
    """(start, end) of consecutive slices of ``items``, each with at most ``max_items`` items and
    ``max_bytes`` serialized bytes (a larger item goes alone)."""
    start = size = 0
    for i, item in enumerate(items):
        n = item.ByteSize()
        if i > start and (i - start >= max_items or size + n > max_bytes):
            yield start, i
            start, size = i, 0
        size += n
    if start < len(items):
        yield start, len(items)

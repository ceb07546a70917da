"""Prometheus metrics, read from the node at scrape time (nothing to keep in sync)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from wloadctl import __version__
from wloadctl.api.webhooks import EventWebhook
from wloadctl.control.controller import Controller
from wloadctl.observability.api import ApiMetrics
from wloadctl.observability.runs import RunMetrics
from wloadctl.raft.node import RaftNode
from wloadctl.raft.proposer import Proposer
from wloadctl.state.store import Store

TAKEOVER_PHASES = ("follower", "begin_epoch", "inquiry", "reconcile", "degraded", "active")


class ReplicaCollector:
    """Everything a replica exports. Each family costs O(1) reads of the state or a walk over
    agents (few), never over jobs or runs: a scrape costs the same with a million of each."""

    def __init__(self, node: RaftNode, proposer: Proposer) -> None:
        self.node = node
        self.proposer = proposer
        self.controller: Controller | None = None  # set once it exists (it starts after this)
        self.webhook: EventWebhook | None = None
        self.api_metrics: ApiMetrics | None = None
        self.run_metrics: RunMetrics | None = None
        self.tls_expiry: GaugeMetricFamily | None = None  # read_tls_certificates()

    def collect(self) -> Iterator[Metric]:
        status = self.node.status()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"wloadctl_{name}", doc, value=value)

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"wloadctl_{name}", doc, value=value)

        info = GaugeMetricFamily("wloadctl_replica_info", "This replica (value 1)", labels=["replica", "version"])
        info.add_metric([self.node.node_id, __version__], 1)
        yield info
        yield gauge("raft_term", "Current Raft term", status["term"])
        yield gauge("raft_is_leader", "1 when this replica is the leader", status["role"] == "leader")
        yield gauge("raft_has_leader", "1 when this replica knows a leader", bool(status["leader"]))
        yield gauge("raft_commit_index", "Raft commit index", status["commit_index"])
        yield gauge("raft_applied_index", "Last Raft entry applied to the state", status["applied_index"])
        yield gauge("raft_log_entries", "Entries in the Raft journal (since the last snapshot)",
                    status["log_entries"])
        yield gauge("raft_has_quorum", "1 when this replica sees a majority", status["has_quorum"])
        yield gauge("raft_members", "Voting members", len(status["members"]) + 1)
        if status["role"] == "leader":
            lag = GaugeMetricFamily("wloadctl_raft_follower_lag_entries", "Entries a follower is behind the "
                                    "leader's commit index (leader only)", labels=["follower"])
            connected = GaugeMetricFamily("wloadctl_raft_follower_connected", "1 when the leader is connected to "
                                          "the follower (leader only)", labels=["follower"])
            for address, member in sorted(status["members"].items()):
                lag.add_metric([address], max(0, status["commit_index"] - member["match_index"]))
                connected.add_metric([address], 1 if member["connected"] else 0)
            yield lag
            yield connected
        yield counter("raft_journal_syncs", "Journal fsyncs (each covers many entries)", status["journal_syncs"])
        yield counter("raft_snapshots", "Snapshots completed", status["snapshots"])
        snapshotter = self.node.obj._wl_snapshotter
        yield counter("raft_snapshot_failures", "Snapshots that failed (the journal was kept)", snapshotter.failed)
        yield snapshotter.durations.family("wloadctl_raft_snapshot_duration_seconds",
                                           "Time to copy, sync and write a snapshot of the state")
        yield counter("raft_elections_seen", "Times this replica became a candidate", self.node.elections_seen)
        yield counter("proposer_entries", "Raft entries proposed by this replica", self.proposer.entries_proposed)
        yield counter("proposer_commands", "Commands proposed by this replica", self.proposer.commands_proposed)
        yield counter("proposer_failures", "Proposed entries that failed to commit", self.proposer.failures)
        yield gauge("proposer_queued", "Commands waiting for a Raft entry", self.proposer.queued)
        store = self.node.store
        yield gauge("jobs", "Job definitions stored", store.count_jobs())
        yield gauge("workflows", "Workflow definitions stored", store.count_workflows())
        sizes = store.sizes()
        yield gauge("runs_stored", "Run records stored (finished ones until retention removes them)", sizes.runs)
        yield gauge("runs_unfinished", "Runs not in a final state", sizes.runs_active)
        now = store.run_counts_now()
        yield gauge("runs_queued", "Runs ready and waiting for an agent", now["queued"])
        yield gauge("runs_on_agents", "Runs dispatched to or running on an agent", now["on_agents"])
        yield gauge("state_bytes", "Pages of the state database in use, in bytes", sizes.state_bytes)
        counts = store.schedule_counts()
        yield gauge("schedule_jobs_scheduled", "Jobs with a next slot (schedules not suspended or ended)",
                    counts["scheduled"])
        yield gauge("schedule_next_due_timestamp_seconds", "When the earliest next slot is due (0: none)",
                    counts["next_due_ms"] / 1000)
        fired, misfired = store.schedule_totals()
        yield counter("schedule_firings", "Schedule slots that started a run", fired)
        misfires = CounterMetricFamily("wloadctl_schedule_misfires", "Schedule slots recorded as misfires",
                                       labels=["reason"])
        for reason, n in sorted(misfired.items()):
            misfires.add_metric([reason], n)
        yield misfires
        yield from self._agents(store)
        if self.run_metrics is not None:
            yield from self.run_metrics.families()
        if self.api_metrics is not None:
            yield from self.api_metrics.families()
        if self.webhook is not None:
            requests = CounterMetricFamily("wloadctl_webhook_requests", "Event webhook requests on this replica's "
                                           "HTTP port, by outcome", labels=["outcome"])
            requests.add_metric(["emitted"], self.webhook.emitted)
            requests.add_metric(["refused"], self.webhook.refused)
            yield requests
        if self.controller is not None:
            yield from self._controller(self.controller, store)
        if self.tls_expiry is not None:
            yield self.tls_expiry

    def read_tls_certificates(self, cert: Path, ca: Path | None) -> None:
        """When the replica's certificate and its CA expire: read once, at start (the replica uses a
        renewed certificate only after a restart anyway). In a CA bundle, the soonest per subject."""
        expiry: dict[tuple[str, str], float] = {}
        for role, path in (("replica", cert), ("ca", ca)):
            try:
                found = x509.load_pem_x509_certificates(path.read_bytes()) if path is not None else []
            except (OSError, ValueError):
                continue  # the ports loading the same files say what is wrong with them
            for c in found[:1] if role == "replica" else found:
                key = (role, c.subject.rfc4514_string())
                expiry[key] = min(expiry.get(key, float("inf")), c.not_valid_after_utc.timestamp())
        family = GaugeMetricFamily("wloadctl_tls_certificate_expiry_timestamp_seconds", "When a certificate this "
                                   "replica uses expires (its not-after time), by role (replica, ca) and subject",
                                   labels=["role", "subject"])
        for (role, subject), at in sorted(expiry.items()):
            family.add_metric([role, subject], at)
        self.tls_expiry = family

    def _agents(self, store: Store) -> Iterator[Metric]:
        agents = store.agents()
        yield GaugeMetricFamily("wloadctl_agents_registered", "Agents registered and not lost",
                                value=sum(1 for a in agents if not a.lost_ms))
        yield GaugeMetricFamily("wloadctl_agents_lost", "Registered agents whose lease expired (lost)",
                                value=sum(1 for a in agents if a.lost_ms))

    def _controller(self, controller: Controller, store: Store) -> Iterator[Metric]:
        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"wloadctl_{name}", doc, value=value)

        yield counter("agent_outbox_overflows", "Agent streams closed because their outbox was full",
                      controller.outbox_overflows)
        yield counter("agent_event_overflows", "Agent streams closed because too many of their events "
                      "waited to be committed", controller.event_overflows)
        yield counter("runs_pruned", "Finished runs this replica removed by retention while leading",
                      controller.runs_pruned)
        late = controller.firing_lateness
        yield HistogramMetricFamily(
            "wloadctl_schedule_firing_lateness_seconds",
            "From a slot to the commit of its run, on this replica while leading",
            buckets=[*((repr(float(b)), c) for b, c in zip(late.bounds, late.counts, strict=True)),
                     ("+Inf", late.total)],
            sum_value=late.sum)
        view = controller.view()
        phase = GaugeMetricFamily("wloadctl_takeover_phase", "1 for this replica's takeover phase (follower on "
                                  "replicas that do not lead)", labels=["phase"])
        for name in TAKEOVER_PHASES:
            phase.add_metric([name], 1 if view["phase"] == name else 0)
        yield phase
        yield GaugeMetricFamily("wloadctl_takeover_epoch", "The epoch this replica dispatches in (0: it does not)",
                                value=int(view["epoch"]))  # type: ignore[call-overload]
        epoch = store.epoch_info()
        yield GaugeMetricFamily("wloadctl_takeover_state_epoch", "The latest epoch recorded in the state",
                                value=epoch.epoch)
        yield GaugeMetricFamily("wloadctl_takeover_forced", "1 when the latest epoch was forced without an agent "
                                "quorum (operator)", value=1 if epoch.forced else 0)
        yield GaugeMetricFamily("wloadctl_takeover_agents_confirmed", "Registered agents that confirmed this "
                                "replica's epoch", value=int(view["confirmed"]))  # type: ignore[call-overload]
        yield GaugeMetricFamily("wloadctl_takeover_agents_required", "Agents that must confirm before a new "
                                "leader dispatches", value=int(view["required"]))  # type: ignore[call-overload]
        yield GaugeMetricFamily("wloadctl_agents_connected", "Agents with a stream to this replica that spoke "
                                "recently", value=int(view["connected"]))  # type: ignore[call-overload]
        yield from _agent_links(controller)


def _agent_links(controller: Controller) -> Iterator[Metric]:
    now = controller.clock()
    families = {
        "heartbeat_age": GaugeMetricFamily("wloadctl_agent_heartbeat_age_seconds", "Since this replica last heard "
                                           "from the agent", labels=["agent"]),
        "running": GaugeMetricFamily("wloadctl_agent_running", "Runs the agent reported running",
                                     labels=["agent"]),
        "free": GaugeMetricFamily("wloadctl_agent_free_slots", "Slots the agent reported free", labels=["agent"]),
        "load1": GaugeMetricFamily("wloadctl_agent_load1", "The agent host's 1-minute load average",
                                   labels=["agent"]),
        "cpu": GaugeMetricFamily("wloadctl_agent_cpu_busy_ratio", "The agent host's busy CPU share (0..1)",
                                 labels=["agent"]),
        "mem_total": GaugeMetricFamily("wloadctl_agent_memory_total_bytes", "The agent host's memory",
                                       labels=["agent"]),
        "mem_avail": GaugeMetricFamily("wloadctl_agent_memory_available_bytes", "The agent host's available "
                                       "memory", labels=["agent"]),
        "disk_total": GaugeMetricFamily("wloadctl_agent_disk_total_bytes", "Size of the agent's work_dir file "
                                        "system", labels=["agent"]),
        "disk_free": GaugeMetricFamily("wloadctl_agent_disk_free_bytes", "Free space on the agent's work_dir "
                                       "file system", labels=["agent"]),
        "logs": GaugeMetricFamily("wloadctl_agent_log_store_bytes", "Job logs kept by the agent",
                                  labels=["agent"]),
    }
    for conn in sorted(list(controller.conns.values()), key=lambda c: c.agent_id):
        if conn.closed:
            continue
        label = [conn.agent_id]
        families["heartbeat_age"].add_metric(label, max(0.0, now - conn.last_heard))
        families["running"].add_metric(label, conn.running)
        families["free"].add_metric(label, conn.free_slots)
        host = conn.host
        if host is None:
            continue
        families["load1"].add_metric(label, host.load1)
        families["cpu"].add_metric(label, host.cpu_busy_ratio)
        families["mem_total"].add_metric(label, host.memory_total_bytes)
        families["mem_avail"].add_metric(label, host.memory_available_bytes)
        families["disk_total"].add_metric(label, host.disk_total_bytes)
        families["disk_free"].add_metric(label, host.disk_free_bytes)
        families["logs"].add_metric(label, host.log_store_bytes)
    yield from families.values()


def replica_registry(collector: ReplicaCollector) -> CollectorRegistry:
    """The registry a replica serves: its own families and the process' CPU, memory and files."""
    registry = CollectorRegistry()
    registry.register(collector)  # type: ignore[arg-type]
    ProcessCollector(registry=registry)
    return registry

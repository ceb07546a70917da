"""Prometheus metrics, read from the node at scrape time (nothing to keep in sync)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from wloadctl.api.webhooks import EventWebhook
from wloadctl.control.controller import Controller
from wloadctl.raft.node import RaftNode
from wloadctl.raft.proposer import Proposer


class ReplicaCollector:
    def __init__(self, node: RaftNode, proposer: Proposer) -> None:
        self.node = node
        self.proposer = proposer
        self.controller: Controller | None = None  # set once it exists (it starts after this)
        self.webhook: EventWebhook | None = None

    def collect(self) -> Iterator[Metric]:
        status = self.node.status()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"wloadctl_{name}", doc, value=value)

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"wloadctl_{name}", doc, value=value)

        yield gauge("raft_term", "Current Raft term", status["term"])
        yield gauge("raft_is_leader", "1 when this replica is the leader", status["role"] == "leader")
        yield gauge("raft_commit_index", "Raft commit index", status["commit_index"])
        yield gauge("raft_applied_index", "Last Raft entry applied to the state", status["applied_index"])
        yield gauge("raft_log_entries", "Entries in the Raft journal (since the last snapshot)",
                    status["log_entries"])
        yield gauge("raft_has_quorum", "1 when this replica sees a majority", status["has_quorum"])
        yield gauge("raft_members", "Voting members", len(status["members"]) + 1)
        yield counter("raft_journal_syncs", "Journal fsyncs (each covers many entries)", status["journal_syncs"])
        yield counter("raft_snapshots", "Snapshots completed", status["snapshots"])
        yield counter("raft_elections_seen", "Times this replica became a candidate", self.node.elections_seen)
        yield counter("proposer_entries", "Raft entries proposed by this replica", self.proposer.entries_proposed)
        yield counter("proposer_commands", "Commands proposed by this replica", self.proposer.commands_proposed)
        yield counter("proposer_failures", "Proposed entries that failed to commit", self.proposer.failures)
        yield gauge("proposer_queued", "Commands waiting for a Raft entry", self.proposer.queued)
        yield gauge("jobs", "Job definitions stored", self.node.store.count_jobs())
        store = self.node.store
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
        if self.webhook is not None:
            requests = CounterMetricFamily("wloadctl_webhook_requests", "Event webhook requests on this replica's "
                                           "HTTP port, by outcome", labels=["outcome"])
            requests.add_metric(["emitted"], self.webhook.emitted)
            requests.add_metric(["refused"], self.webhook.refused)
            yield requests
        if self.controller is not None:
            yield counter("agent_outbox_overflows", "Agent streams closed because their outbox was full",
                          self.controller.outbox_overflows)
            yield counter("agent_event_overflows", "Agent streams closed because too many of their events "
                          "waited to be committed", self.controller.event_overflows)
            yield counter("runs_pruned", "Finished runs this replica removed by retention while leading",
                          self.controller.runs_pruned)
            late = self.controller.firing_lateness
            yield HistogramMetricFamily(
                "wloadctl_schedule_firing_lateness_seconds",
                "From a slot to the commit of its run, on this replica while leading",
                buckets=[*((str(b), c) for b, c in zip(late.bounds, late.counts, strict=True)), ("+Inf", late.total)],
                sum_value=late.sum)


def serve_metrics(address: str, node: RaftNode, proposer: Proposer) -> ReplicaCollector:
    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    collector = ReplicaCollector(node, proposer)
    registry.register(collector)  # type: ignore[arg-type]
    start_http_server(int(port), addr=host, registry=registry)
    return collector

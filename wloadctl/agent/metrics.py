"""The agent's own metrics, served on its ``metrics_address`` (default 127.0.0.1:18891).

Read at scrape time from the agent (nothing to keep in sync) by prometheus_client's server thread:
every value read is a number or a small copy, so a scrape never blocks the event loop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from wloadctl import __version__

if TYPE_CHECKING:
    from wloadctl.agent.executor import ExecEvent
    from wloadctl.agent.process import Agent

SPAWN_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OUTCOMES = ("succeeded", "failed", "timed_out", "killed", "not_started")


def finish_outcome(event: ExecEvent) -> str:
    if event.timed_out:
        return "timed_out"
    if event.killed:
        return "killed"
    if event.error and event.pid == 0 and event.exit_code != 0:
        return "not_started"
    return "succeeded" if event.exit_code == 0 else "failed"


class AgentCollector:
    def __init__(self) -> None:
        self.agent: Agent | None = None  # set once the agent exists (the port is bound before)

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        if agent is None:
            return

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"wloadctl_agent_{name}", doc, value=value)

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"wloadctl_agent_{name}", doc, value=value)

        config = agent.config
        info = GaugeMetricFamily("wloadctl_agent_info", "This agent (value 1)", labels=["agent", "version"])
        info.add_metric([config.agent_id, __version__], 1)
        yield info
        links = list(agent.links.values())
        yield gauge("replicas_connected", "Replicas this agent has a stream to", sum(1 for x in links if x.connected))
        yield gauge("replicas_configured", "Replicas this agent is configured with", len(links))
        yield gauge("has_leader", "1 when this agent follows a leader", agent.leader is not None)
        yield gauge("epoch", "Highest takeover epoch this agent adopted", agent.durable.highest_epoch)
        lease_left = agent.lease_expiry - time.monotonic() if agent.lease_expiry else 0.0
        yield gauge("lease_remaining_seconds", "Until this agent's lease expires unless the leader renews it "
                    "(0: none; it then starts nothing)", max(0.0, lease_left))
        yield gauge("capacity_slots", "Runs this agent may run at once", config.capacity)
        yield gauge("running_runs", "Attempts running on this agent now", len(agent._running))
        yield counter("runs_started", "Attempts this agent started (processes spawned)", agent.runs_started)
        finished = CounterMetricFamily("wloadctl_agent_runs_finished", "Attempts that ended on this agent, by "
                                       "outcome", labels=["outcome"])
        for outcome in OUTCOMES:
            finished.add_metric([outcome], agent.runs_finished.get(outcome, 0))
        yield finished
        refused = CounterMetricFamily("wloadctl_agent_assignments_refused", "Assignments this agent refused, by "
                                      "reason (policy, no_lease, no_slot)", labels=["reason"])
        for reason in ("policy", "no_lease", "no_slot"):
            refused.add_metric([reason], agent.assignments_refused.get(reason, 0))
        yield refused
        yield counter("stale_messages_refused", "Messages refused for carrying an older epoch (fencing)",
                      agent.rejected_stale)
        yield agent.spawn_latency.family("wloadctl_agent_spawn_seconds",
                                         "From accepting an assignment to its process running")
        yield gauge("unacknowledged_results", "Finished attempts kept until the leader acknowledges them",
                    len(agent.durable.unacked()))
        host = agent.host.sample()
        yield gauge("host_load1", "The host's 1-minute load average", host.load1)
        yield gauge("host_cpu_busy_ratio", "Share of the host's CPU time busy (0..1) over the last sample period",
                    host.cpu_busy_ratio)
        yield gauge("host_cpus", "CPUs of the host", host.cpus)
        yield gauge("host_memory_total_bytes", "The host's memory", host.memory_total_bytes)
        yield gauge("host_memory_available_bytes", "The host's memory available without swapping",
                    host.memory_available_bytes)
        yield gauge("work_dir_disk_total_bytes", "Size of the file system holding work_dir", host.disk_total_bytes)
        yield gauge("work_dir_disk_free_bytes", "Free space (for unprivileged users) on work_dir's file system",
                    host.disk_free_bytes)
        yield gauge("log_store_bytes", "Job logs kept by this agent", host.log_store_bytes)


def serve_agent_metrics(address: str) -> AgentCollector:
    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    collector = AgentCollector()
    registry.register(collector)  # type: ignore[arg-type]
    ProcessCollector(registry=registry)
    start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    return collector

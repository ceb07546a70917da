"""Where the replica's metrics are served: always at ``GET /metrics`` on the HTTP port (api/http_app.py),
and also on ``metrics_address`` when that is set (an extra, optional port, as before).

Only the wiring lives here: what is measured, and the registry that holds it, are server/metrics.py's.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

from wloadctl.raft.node import RaftNode
from wloadctl.raft.proposer import Proposer
from wloadctl.server.metrics import ReplicaCollector, replica_registry


def replica_metrics(node: RaftNode, proposer: Proposer, metrics_address: str = "") \
        -> tuple[ReplicaCollector, CollectorRegistry]:
    """The replica's collector and its registry, created on every replica; OSError when
    ``metrics_address`` is set and cannot be bound."""
    collector = ReplicaCollector(node, proposer)
    registry = replica_registry(collector)
    if metrics_address:
        host, _, port = metrics_address.rpartition(":")
        start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    return collector, registry

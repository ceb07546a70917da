"""Tunable settings of the Raft node and of the leader's loop, as the replica config sets them.

They live here, not next to the code they tune, so that reading a config needs neither
pysyncobj nor the controller (raft/node.py turns RaftTimers into pysyncobj's SyncObjConf).
"""

# Not only style: parse_config reads the field types as the strings "int" and "float".
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RaftTimers:
    """Raft timing, documented in docs/architecture.md ("Raft settings").

    leader_fallback < election_min: a leader cut off from its majority steps
    down before the rest of the cluster can elect a new one, so two replicas
    never both believe they lead for long (pysyncobj's default is 30 s).
    """

    tick: float = 0.005
    append_entries_period: float = 0.05
    election_min: float = 0.4
    election_max: float = 0.8
    leader_fallback: float = 0.35
    connection_timeout: float = 2.0
    connection_retry: float = 0.25
    compaction_min_entries: int = 20000
    compaction_min_time: float = 600.0
    snapshot_chunk_bytes: int = 1 << 20
    append_batch_bytes: int = 1 << 20


@dataclass(frozen=True)
class ControlSettings:
    agent_quorum: str = "majority"      # "majority", "all" or a number of agents
    lease_margin_s: float = 1.5         # added to an agent's lease before its runs are declared LOST
    degraded_after_s: float = 5.0
    inquiry_interval_s: float = 0.3
    tick_s: float = 0.05
    resend_after_s: float = 3.0         # re-send an assignment not confirmed as started
    max_dispatch_batch: int = 2000
    max_firings_per_tick: int = 5000    # jobs whose slot is due, decided per tick (the rest next tick)
    # Run retention, for jobs that set none (their keepRuns / keepRunsFor): finished runs are removed
    # once older than runs_kept_s, or beyond the newest runs_kept_per_job of their job.
    runs_kept_s: float = 30 * 86400.0
    runs_kept_per_job: float = 1000
    prune_interval_s: float = 5.0
    file_watch_interval_s: float = 1.0   # how often the leader recomputes the agents' file watches
    prune_scan: int = 1000              # runs looked at per sweep (bounded work, off the event loop)
    log_request_timeout_s: float = 5.0
    agent_silence_s: float = 2.0        # an agent not heard for this long does not count as reachable
    probe_interval_s: float = 2.0       # how often a leader short of agents asks the followers
    transfer_backoff_s: float = 10.0
    # Bounds of the leader's queues (docs/architecture.md, "Limits"). A full outbox, or too many of
    # an agent's events waiting to be committed, closes that agent's stream: it reconnects and is
    # reconciled from its own report, which holds what matters (running runs, unacknowledged results).
    outbox_max_messages: int = 10_000   # messages waiting to be written to one agent's stream
    pending_events_max: int = 100_000   # one agent's events waiting to be committed
    events_per_command: int = 1_000     # RecordRunEvents commits at most this many events each
    # Watches (api/watch.py, docs/architecture.md "Reads and watches"): streams per replica, the
    # change feed they resume from (MiB of recent changes), and how long one write may wait for a
    # consumer that reads nothing before its stream ends.
    watch_max_streams: float = 1000
    watch_feed_mib: float = 64
    watch_send_timeout_s: float = 10.0
    # Run reports (RunService/ReportRuns) read at most this many runs per request (then answer truncated).
    report_max_runs: float = 500_000

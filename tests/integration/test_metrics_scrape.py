"""Prometheus metrics of real replicas and a real agent: what they count after real runs, and
`promtool check metrics` on the scrapes (Debian's prometheus package; skipped without it)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wloadctl.proto.v1 import runs_pb2
from wloadctl.testing.builders import job
from wloadctl.testing.cluster import AgentProc, LocalCluster, wait_for

pytestmark = pytest.mark.integration

RS = runs_pb2.RunState
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, AgentProc]]:
    c = LocalCluster(tmp_path_factory.mktemp("metrics") / "c", size=3, metrics=True)
    try:
        c.start()
        agent = c.add_agent("a1")
        with c.client() as admin:
            admin.apply_jobs([job("metrics-ok"), job("metrics-fails", argv=("/bin/false",))])
            for name in ("metrics-ok", "metrics-ok", "metrics-fails"):
                admin.wait_run(admin.trigger_run(name).run_id, timeout=60)
        yield c, agent
    finally:
        c.stop()


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        assert answer.status == 200
        return answer.read().decode()


def samples(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_replica_counts_the_clusters_runs(cluster: tuple[LocalCluster, AgentProc]) -> None:
    c, _ = cluster
    leaders = 0
    for replica in c.replicas:
        # Counted from the change feed as each replica applies: the same numbers everywhere.
        got = wait_for(lambda r=replica: (lambda s: s if s.get(("wloadctl_runs_finished_total",
                                                                (("state", "failed"),))) == 1 else None)(
            samples(scrape(r.metrics_address))), 30, f"{replica.node_id} to count the failed run")
        assert got[("wloadctl_runs_finished_total", (("state", "succeeded"),))] == 2
        assert got[("wloadctl_runs_created_total", ())] == 3
        assert got[("wloadctl_run_trigger_to_start_seconds_count", ())] == 3
        assert got[("wloadctl_runs_queued", ())] == 0 and got[("wloadctl_runs_on_agents", ())] == 0
        assert got[("wloadctl_jobs", ())] == 2
        assert got[("wloadctl_raft_has_leader", ())] == 1
        assert got[("process_resident_memory_bytes", ())] > 0
        leaders += int(got[("wloadctl_raft_is_leader", ())])
        if got[("wloadctl_raft_is_leader", ())]:
            assert got[("wloadctl_takeover_phase", (("phase", "active"),))] == 1
            assert got[("wloadctl_takeover_agents_confirmed", ())] == 1
            lags = [v for (name, _), v in got.items() if name == "wloadctl_raft_follower_lag_entries"]
            assert len(lags) == 2
            assert got[("wloadctl_agent_free_slots", (("agent", "a1"),))] == 4
            assert got[("wloadctl_agent_memory_total_bytes", (("agent", "a1"),))] > 0
            # Calls the client made to this replica, by method and code.
            assert got[("wloadctl_api_requests_total", (("code", "OK"),
                                                        ("method", "/wloadctl.v1.JobService/ApplyJobs")))] >= 1
    assert leaders == 1


def test_the_agent_counts_what_it_ran(cluster: tuple[LocalCluster, AgentProc]) -> None:
    _, agent = cluster
    got = samples(scrape(agent.metrics_address))
    assert got[("wloadctl_agent_runs_started_total", ())] == 3
    assert got[("wloadctl_agent_runs_finished_total", (("outcome", "failed"),))] == 1
    assert got[("wloadctl_agent_runs_finished_total", (("outcome", "succeeded"),))] == 2
    assert got[("wloadctl_agent_spawn_seconds_count", ())] == 3
    assert got[("wloadctl_agent_replicas_connected", ())] == 3
    assert got[("wloadctl_agent_has_leader", ())] == 1
    assert got[("wloadctl_agent_capacity_slots", ())] == 4
    assert got[("wloadctl_agent_work_dir_disk_total_bytes", ())] > 0
    assert got[("wloadctl_agent_info", (("agent", "a1"), ("version", "0.1.0")))] == 1


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_scrapes(cluster: tuple[LocalCluster, AgentProc], tmp_path: Path) -> None:
    c, agent = cluster
    leader = c.leader()
    assert leader is not None
    for name, address in (("replica", leader.metrics_address), ("agent", agent.metrics_address)):
        text = scrape(address)
        (tmp_path / f"{name}.prom").write_text(text)
        result = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                                timeout=60)
        assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), \
            f"{name}: {result.stdout.decode()}{result.stderr.decode()}"

"""The shipped rules and dashboard (monitoring/) against a real cluster and a real Prometheus server.

A local 3-replica cluster with an agent runs a job that succeeds and one that fails. Every metric the
rules and the dashboard name must exist in real scrapes of the leader and the agent (and every family
those scrapes hold must be documented in docs/observability.md). Then Prometheus (Debian's package;
skipped without it) scrapes the replicas and the agent every second with the rules loaded, and its
HTTP API must report one leader, the runs the cluster did, the rule groups loaded and healthy, every
dashboard query valid, and a stopped replica as down.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from wloadctl.testing.builders import job
from wloadctl.testing.cluster import AgentProc, LocalCluster, free_ports, wait_for
from wloadctl.testing.promql import (
    dashboard_expressions,
    exposed,
    family,
    is_exposed,
    metric_names,
    recorded_names,
    rule_expressions,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "monitoring" / "prometheus" / "wloadctl-rules.yml"
DASHBOARD = REPO / "monitoring" / "grafana" / "wloadctl-dashboard.json"
DOC = REPO / "docs" / "observability.md"
PROMETHEUS = Path("/usr/bin/prometheus")
REPLICAS_JOB = "wloadctl-replicas"
AGENTS_JOB = "wloadctl-agents"
Stack = tuple[LocalCluster, AgentProc]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    c = LocalCluster(tmp_path_factory.mktemp("monitoring") / "c", size=3, metrics=True)
    try:
        c.start()
        agent = c.add_agent("a1")
        with c.client() as admin:
            admin.apply_jobs([job("monitoring-ok"), job("monitoring-fails", argv=("/bin/false",))])
            for name in ("monitoring-ok", "monitoring-fails"):
                admin.wait_run(admin.trigger_run(name).run_id, timeout=60)
        yield c, agent
    finally:
        c.stop()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def scrape(address: str) -> str:
    return get(f"http://{address}/metrics").decode()


def rules() -> dict[str, Any]:
    return yaml.safe_load(RULES.read_text())


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def referenced() -> dict[str, str]:
    """Metric name -> where the rules or the dashboard use it (recorded series left out)."""
    recorded = recorded_names(rules())
    names: dict[str, str] = {}
    for where, expr in [*rule_expressions(rules()), *dashboard_expressions(dashboard())]:
        for name in metric_names(expr):
            if name not in recorded:
                names.setdefault(name, where)
    return names


def leader_scrape(c: LocalCluster) -> str:
    """The leader's metrics once its run counters hold both runs (they follow the change feed)."""
    def counted() -> str | None:
        leader = c.leader()
        if leader is None:
            return None
        text = scrape(leader.metrics_address)
        return text if 'wloadctl_runs_finished_total{state="failed"} 1.0' in text else None

    return wait_for(counted, 30, "the leader to count the failed run")


def test_every_metric_the_rules_and_dashboard_name_exists_in_a_scrape(stack: Stack) -> None:
    c, agent = stack
    samples, histograms = set(), set()
    for text in (leader_scrape(c), scrape(agent.metrics_address)):
        s, h = exposed(text)
        samples |= s
        histograms |= h
    missing = {name: where for name, where in referenced().items() if not is_exposed(name, samples, histograms)}
    assert not missing, "named by the rules or the dashboard, in no scrape:\n" + \
        "\n".join(f"{name} ({where})" for name, where in sorted(missing.items()))


def test_every_family_scraped_is_documented(stack: Stack) -> None:
    c, agent = stack
    documented = set(re.findall(r"`([a-z0-9_:]+)`", DOC.read_text()))
    families = set()
    for text in (leader_scrape(c), scrape(agent.metrics_address)):
        samples, histograms = exposed(text)
        families |= {family(name, histograms) for name in samples}
    assert families - documented == set(), "families missing from docs/observability.md"


def test_the_http_port_serves_what_the_rules_need(stack: Stack) -> None:
    """Deployed replicas are scraped on their HTTP port (prometheus.example.yml), the tests' Prometheus
    scrapes metrics_address: both must serve what the rules and the dashboard read from a replica."""
    c, _ = stack
    on_metrics_address = exposed(leader_scrape(c))
    leader = c.wait_for_leader()
    assert leader.http_address
    on_http_port = exposed(scrape(leader.http_address))
    missing = [name for name in referenced() if is_exposed(name, *on_metrics_address)
               and not is_exposed(name, *on_http_port)]
    assert not missing, f"on metrics_address but not on the HTTP port's /metrics: {missing}"


# ---- a real Prometheus server

@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PROMETHEUS.exists():
        pytest.skip("prometheus not installed (Debian package prometheus)")
    c, agent = stack
    root = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": REPLICAS_JOB, "static_configs": [{"targets": [r.metrics_address for r in c.replicas]}]},
            {"job_name": AGENTS_JOB, "static_configs": [{"targets": [agent.metrics_address]}]},
        ],
    }
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_ports(1)[0]
    base = f"http://127.0.0.1:{port}"
    log_path = root / "prometheus.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(PROMETHEUS), f"--config.file={root / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--web.enable-lifecycle"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            return get(f"{base}/-/ready").startswith(b"Prometheus")

        wait_for(ready, 60, "Prometheus to be ready", interval=0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        body = json.loads(get(url))
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
    assert body["status"] == "success", f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
    return body["data"]


def query(base: str, expr: str) -> list[dict[str, Any]]:
    data = api(base, "query", query=expr)
    return data["result"] if data["resultType"] == "vector" else [{"metric": {}, "value": data["result"]}]


def value(base: str, expr: str) -> float | None:
    result = query(base, expr)
    return float(result[0]["value"][1]) if result else None


def poll(what: str, check: Any, timeout: float = 60) -> Any:
    """wait_for, failing with what ``check`` saw last."""
    seen: list[Any] = []

    def attempt() -> list[Any] | None:
        ok, last = check()
        seen[:] = [last]
        return [last] if ok else None  # truthy even when what was seen is empty

    try:
        return wait_for(attempt, timeout, what, interval=0.25)[0]
    except TimeoutError as e:
        pytest.fail(f"{e}; last seen: {seen[0] if seen else None}")


def test_prometheus_sees_one_leader_and_the_clusters_runs(stack: Stack, prometheus: str) -> None:
    c, _ = stack
    expected = {
        "sum(wloadctl_raft_is_leader)": 1,
        f'count(up{{job="{REPLICAS_JOB}"}} == 1)': 3,
        f'count(up{{job="{AGENTS_JOB}"}} == 1)': 1,
        # Every replica counts the cluster's runs: max is the cluster's figure, and all three agree.
        'max(wloadctl_runs_finished_total{state="failed"})': 1,
        'count(wloadctl_runs_finished_total{state="failed"} == 1)': 3,
        'max(wloadctl_runs_finished_total{state="succeeded"})': 1,
        "max(wloadctl_runs_created_total)": 2,
        'max(wloadctl_runs_failed_total{failure_class="exit_code"})': 1,
        "max(wloadctl_runs_queued)": 0,
        "sum(wloadctl_agent_runs_started_total)": 2,
        "max(wloadctl_jobs)": 2,
    }

    def check() -> tuple[bool, dict[str, float | None]]:
        got = {expr: value(prometheus, expr) for expr in expected}
        return got == expected, got

    poll("Prometheus to see the leader and the runs", check)
    leader = c.wait_for_leader()
    named = query(prometheus, "wloadctl_replica_info * on(instance) group_left() (wloadctl_raft_is_leader == 1)")
    assert [r["metric"]["replica"] for r in named] == [leader.node_id]


def test_prometheus_loaded_the_rules_and_evaluates_them(prometheus: str) -> None:
    shipped = rules()["groups"]

    def check() -> tuple[bool, Any]:
        groups = api(prometheus, "rules")["groups"]
        health = {(g["name"], r["name"]): (r["health"], r.get("lastError", "")) for g in groups for r in g["rules"]}
        ok = sorted(g["name"] for g in groups) == sorted(g["name"] for g in shipped) and \
            len(health) == sum(len(g["rules"]) for g in shipped) and \
            all(h == "ok" for h, _ in health.values())
        return ok, {k: v for k, v in health.items() if v[0] != "ok"} or health

    poll("the rule groups to be loaded and healthy", check)
    # A recording rule, evaluated by the server from the live scrapes.
    poll("the leaders recording rule", lambda: (
        (v := value(prometheus, f'job:wloadctl_raft_leaders:sum{{job="{REPLICAS_JOB}"}}')) == 1, v))
    # A healthy cluster raises no critical alert (once the first scrapes are in).
    poll("no critical alert", lambda: (
        not (active := [a for a in api(prometheus, "alerts")["alerts"] if a["labels"].get("severity") == "critical"]),
        active))


# Panels that must show data in a cluster that has a leader, an agent and two finished runs.
MUST_SHOW = {"Leader", "Leaders", "Quorum", "Replicas up", "Term", "Takeover", "Epoch", "Agents confirmed",
             "Follower lag", "Commit and applied index", "Queued now", "Jobs", "Runs stored", "Registered",
             "Connected to the leader", "Agents scraped", "Free slots", "Heartbeat age", "Host CPU",
             "Host memory used", "work_dir free", "Host load per CPU", "Requests by code", "Resident memory",
             "Certificates", "Runs created and finished", "Agent backlog"}


def grafana_to_promql(expr: str) -> str:
    return (expr.replace("$__rate_interval", "1m").replace("$agent_job", AGENTS_JOB).replace("$job", REPLICAS_JOB))


def test_every_dashboard_query_runs_in_prometheus(stack: Stack, prometheus: str) -> None:
    c, _ = stack
    queries = list(dashboard_expressions(dashboard()))
    for where, expr in queries:
        try:
            query(prometheus, grafana_to_promql(expr))  # valid PromQL that runs (api() asserts success)
        except AssertionError as e:
            pytest.fail(f"{where}: {e}")
    titles = {where.split("'")[1] for where, _ in queries if where.startswith("panel ")}
    assert titles >= MUST_SHOW
    for title in sorted(MUST_SHOW):
        exprs = [grafana_to_promql(e) for w, e in queries if w.startswith(f"panel {title!r} ")]
        poll(f"panel {title!r} to show data", lambda exprs=exprs: (
            all(query(prometheus, e) for e in exprs), {e: query(prometheus, e) for e in exprs}))
    leader = c.wait_for_leader()
    shown = {where: query(prometheus, grafana_to_promql(expr)) for where, expr in queries}
    assert [r["metric"]["replica"] for r in shown["panel 'Leader' A"]] == [leader.node_id]
    assert [r["metric"]["phase"] for r in shown["panel 'Takeover' A"]] == ["active"]
    assert float(shown["panel 'Agents confirmed' A"][0]["value"][1]) == 1
    assert float(shown["panel 'Jobs' A"][0]["value"][1]) == 2
    assert {r["metric"]["role"] for r in shown["panel 'Certificates' A"]} == {"replica", "ca"}


def test_a_stopped_replica_raises_its_alerts(stack: Stack, prometheus: str) -> None:
    """Last in this module: it stops a follower."""
    c, _ = stack
    leader = c.wait_for_leader()
    follower = next(r for r in c.replicas if r is not leader)
    c.kill(follower, signal.SIGTERM)

    def active() -> dict[str, dict[str, str]]:
        return {a["labels"]["alertname"]: a["labels"] for a in api(prometheus, "alerts")["alerts"]}

    def check() -> tuple[bool, Any]:
        alerts = active()
        down = alerts.get("WloadctlReplicaDown", {})
        return down.get("instance") == follower.metrics_address, alerts

    poll("WloadctlReplicaDown for the stopped replica", check)
    # Two replicas of three keep the quorum and a leader.
    alerts = active()
    assert "WloadctlNoLeader" not in alerts and "WloadctlNoQuorum" not in alerts, alerts

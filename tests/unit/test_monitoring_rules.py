"""The shipped alert rules, their unit tests and the Grafana dashboard (monitoring/, docs/observability.md).

promtool (Debian's prometheus package; those tests skip without it) checks the rules and the example
configuration and runs the rules' unit tests; every alert must have a test where it fires and one where
it stays silent, a severity, a `for:`, annotations and a runbook section in docs/observability.md. The
dashboard must be well-formed, every panel must query, and every metric the rules and the dashboard
name must be documented. That those metrics exist in real scrapes, and that a real Prometheus loads
the rules and runs the queries: tests/integration/test_monitoring_stack.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from wloadctl.testing.promql import (
    dashboard_expressions,
    exposed,
    is_exposed,
    metric_names,
    recorded_names,
    rule_expressions,
)

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "monitoring" / "prometheus"
RULES = PROMETHEUS_DIR / "wloadctl-rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "wloadctl-rules.test.yml"
EXAMPLE_CONFIG = PROMETHEUS_DIR / "prometheus.example.yml"
DASHBOARD = REPO / "monitoring" / "grafana" / "wloadctl-dashboard.json"
DOC = REPO / "docs" / "observability.md"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


def rules() -> dict[str, Any]:
    return yaml.safe_load(RULES.read_text())


def alerts() -> list[dict[str, Any]]:
    return [r for g in rules()["groups"] for r in g["rules"] if "alert" in r]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a document's headings (lowercase, punctuation dropped, spaces to -)."""
    anchors = set()
    in_fence = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (m := re.match(r"#{1,6}\s+(.*)", line)):
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


# ---- promtool

@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rules()['groups'])} rules found" in result.stdout


@needs_promtool
def test_the_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_accepts_the_example_configuration() -> None:
    result = promtool("check", "config", EXAMPLE_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_configuration_scrapes_what_wloadctl_up_starts() -> None:
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    assert config["rule_files"] == [RULES.name]
    jobs = {job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
            for job in config["scrape_configs"]}
    assert jobs == {"wloadctl-replicas": ["127.0.0.1:18881", "127.0.0.1:18882", "127.0.0.1:18883"],
                    "wloadctl-agents": ["127.0.0.1:18891"]}


# ---- the rules' own form

def test_every_alert_has_a_test_that_fires_and_one_that_stays_silent() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - fires == set(), "alerts without a test where they fire"
    assert names - silent == set(), "alerts without a test where they stay silent"
    assert (fires | silent) - names == set(), "tests of alerts that do not exist"


def test_every_alert_says_how_bad_what_and_where_to_read_more() -> None:
    anchors = github_anchors(DOC.read_text())
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)), "alert names repeat"
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning"), name
        assert "for" in alert, f"{name}: no for: duration"
        annotations = alert["annotations"]
        assert annotations.get("summary") and annotations.get("description"), name
        url = annotations["runbook_url"]
        assert url == f"docs/observability.md#{name.lower()}", f"{name}: runbook_url {url}"
        assert name.lower() in anchors, f"{name}: docs/observability.md has no section for it"


def test_recorded_series_the_alerts_use_are_recorded() -> None:
    recorded = recorded_names(rules())
    assert recorded
    for name, expr in rule_expressions(rules()):
        for metric in metric_names(expr):
            if ":" in metric:
                assert metric in recorded, f"{name} uses {metric}, which no rule records"


def test_run_counters_are_never_summed_over_replicas() -> None:
    """They are the same on every replica: a sum would count every run once per replica."""
    replicated = re.compile(r"\b(wloadctl_runs_\w+_total|wloadctl_run_\w+|wloadctl_runs_queued)\b")
    queries = [*rule_expressions(rules()), *dashboard_expressions(dashboard())]
    for where, expr in queries:
        for m in re.finditer(r"\bsum\b(?:\s+(?:by|without)\s*\([^)]*\))?\s*\(", expr):
            # The innermost call the sum wraps: replicated counters must be under a max first.
            inner = expr[m.end():]
            first = re.match(r"\s*(\w+)", inner)
            if first and first.group(1) in ("rate", "increase") and replicated.search(inner.split(")")[0]):
                pytest.fail(f"{where}: sums a replicated run counter over replicas: {expr}")


# ---- the dashboard

def test_the_dashboard_is_well_formed() -> None:
    d = dashboard()
    assert 36 <= d["schemaVersion"] <= 41
    assert d["uid"] and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    titles = [p["title"] for p in d["panels"] if p["type"] == "row"]
    assert titles == ["Cluster health", "Runs", "Scheduling", "API", "Agents", "Processes"]
    for panel in d["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"panel {panel['title']!r} has an empty query"
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert metric_names(target["expr"]), f"panel {panel['title']!r}: {target['expr']} names no metric"


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells


# ---- metric names

def test_every_metric_the_rules_and_dashboard_name_is_documented() -> None:
    doc = DOC.read_text()
    documented = set(re.findall(r"`([a-z0-9_:]+)`", doc))
    recorded = recorded_names(rules())
    missing = set()
    for where, expr in [*rule_expressions(rules()), *dashboard_expressions(dashboard())]:
        for name in metric_names(expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name in recorded or name == "up" or name in documented or base in documented:
                continue
            missing.add(f"{name} ({where})")
    assert not missing, "not in docs/observability.md:\n" + "\n".join(sorted(missing))


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (le) (rate(a_bucket{job=~"$job",x="b(c)"}[$__rate_interval]))', {"a_bucket"}),
    ("x_total / on(job, instance) group_left(agent) y_info * 2 > bool 1e3", {"x_total", "y_info"}),
    ("max without(instance) (z offset 15m) unless w and v or absent(u)", {"z", "w", "v", "u"}),
    ("changes(max(t{a='b'})[2m:]) > 0 # a comment's quote", {"t"}),
    ("1 - time()", set()),
    ("job:recorded:ratio15m > 0.1", {"job:recorded:ratio15m"}),
])
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exposed_names_count_families_without_samples_and_histogram_series() -> None:
    text = ("# HELP a_total x\n# TYPE a_total counter\n# HELP h x\n# TYPE h histogram\n"
            'h_bucket{le="+Inf"} 1.0\nh_count 1.0\nh_sum 0.5\ng{x="1"} 2\n')
    samples, histograms = exposed(text)
    assert is_exposed("a_total", samples, histograms)        # declared, no sample yet
    assert is_exposed("h_bucket", samples, histograms) and is_exposed("h_sum", samples, histograms)
    assert is_exposed("g", samples, histograms) and is_exposed("up", samples, histograms)
    assert not is_exposed("missing", samples, histograms)

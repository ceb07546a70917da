"""Which metrics the shipped rules and dashboard (monitoring/) name, and which a scrape exposes.

A small tokenizer, not a PromQL parser: it drops comments, string literals, label matchers (`{...}`), ranges
and subqueries (`[...]`), grouping and matching clauses (`by (...)`, `without (...)`, `on (...)`,
`ignoring (...)`, `group_left (...)`, `group_right (...)`) and Grafana's `$variables`; what is left
that looks like an identifier, is not followed by `(` (a function or an aggregation) and is not a
keyword is a metric name. Used by tests/unit/test_monitoring_rules.py and
tests/integration/test_monitoring_stack.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                      "offset", "bool", "inf", "nan", "atan2"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Written by Prometheus for every target, not by the target.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                       "scrape_samples_post_metric_relabeling", "scrape_series_added"})

# String literals and comments, left to right (a quote inside a comment, a `#` inside a string).
_STRINGS_AND_COMMENTS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|#[^\n]*')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_CLAUSES = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VARS = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((.*)\)\s*$", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana query holding $variables) selects."""
    text = _STRINGS_AND_COMMENTS.sub(" ", expr)
    text = _GRAFANA_VARS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _CLAUSES.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def rule_expressions(rules: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(rule name, expression) of every recording and alerting rule of a rules file."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def recorded_names(rules: dict[str, Any]) -> set[str]:
    return {rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule}


def dashboard_expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expression) of every query of a Grafana dashboard: panels (rows' nested panels too),
    annotation queries and query variables."""
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            yield f"panel {panel.get('title')!r} {target.get('refId')}", target.get("expr", "")
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            yield f"annotation {annotation.get('name')!r}", annotation["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        inner = _LABEL_VALUES.match(query) or _QUERY_RESULT.match(query)
        yield f"variable {variable.get('name')!r}", inner.group(1) if inner else query


def exposed(text: str) -> tuple[set[str], set[str]]:
    """(sample names, histogram family names) of a scrape in the Prometheus text format. Families
    that have no sample yet (a counter with labels before its first increment) count by their
    `# TYPE` line."""
    samples, histograms = set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            samples.add(name)
            if kind.strip() == "histogram":
                histograms.add(name)
        elif line and not line.startswith("#"):
            samples.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return samples, histograms


def is_exposed(name: str, samples: set[str], histograms: set[str]) -> bool:
    if name in samples or name in SYNTHETIC:
        return True
    return any(name.endswith(s) and name[: -len(s)] in histograms for s in HISTOGRAM_SUFFIXES)


def family(name: str, histograms: set[str]) -> str:
    """The family a sample name belongs to (a histogram's _bucket/_sum/_count go to the histogram)."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in histograms:
            return name[: -len(suffix)]
    return name

"""A bounded chaos subset for CI: real faults on a real cluster, then every checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos import netns
from chaos.runner import Scenario, run

pytestmark = pytest.mark.integration

NAMESPACES, WHY_NOT = netns.available()


@pytest.mark.parametrize(("nemeses", "seed", "replicas"), [
    (["kill-leader", "crash-agent"], 11, 3),
    (["pause-leader", "leader-agents-cut"], 12, 3),
    (["partition-leader", "lossy-replica-links"], 13, 3),
    (["partition-bridge", "agent-net-loss"], 14, 5),
    (["kill-leader-mid-dispatch", "restart-agent-fast"], 15, 3),
])
def test_chaos_subset(tmp_path: Path, nemeses: list[str], seed: int, replicas: int) -> None:
    if not NAMESPACES and all(n.startswith(("partition", "agent-net")) for n in nemeses):
        pytest.skip(f"every nemesis of this scenario needs network namespaces: {WHY_NOT}")
    ok, out, findings = run(Scenario(nemeses=nemeses, seconds=20, seed=seed, replicas=replicas, results=tmp_path))
    failed = [f"{f.checker}: {f.summary} {f.details[:3]}" for f in findings if not f.ok]
    assert ok, f"chaos {nemeses} seed {seed} failed (report {out}): {failed}"
    report = json.loads((out / "report.json").read_text())
    injected = {json.loads(line)["nemesis"] for line in (out / "nemesis.jsonl").read_text().splitlines()
                if "inject" in json.loads(line)}
    if NAMESPACES:
        assert report["network"] == "netns" and not report["skipped"]
        assert injected == set(nemeses), f"not every nemesis got a turn: {injected}"
    else:  # loopback: partitions are skipped, with the reason in the report
        assert set(report["skipped"]) == {n for n in nemeses if n.startswith(("partition", "agent-net"))}, WHY_NOT
        assert injected, "no fault was injected"

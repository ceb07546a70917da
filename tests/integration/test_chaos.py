"""A bounded chaos subset for CI: real faults on a real cluster, then every checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.runner import Scenario, run

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("nemeses", "seed"), [
    (["kill-leader", "crash-agent"], 11),
    (["pause-leader", "leader-agents-cut"], 12),
])
def test_chaos_subset(tmp_path: Path, nemeses: list[str], seed: int) -> None:
    ok, out, findings = run(Scenario(nemeses=nemeses, seconds=20, seed=seed, results=tmp_path))
    failed = [f"{f.checker}: {f.summary} {f.details[:3]}" for f in findings if not f.ok]
    assert ok, f"chaos {nemeses} seed {seed} failed (report {out}): {failed}"
    assert (out / "report.json").exists()
    faults = (out / "nemesis.jsonl").read_text()
    assert "inject" in faults, "no fault was injected"

"""Model check of the takeover / fencing / lease protocol (chaos/model/takeover.pml) with spin.

Skipped when spin or gcc is missing (CI installs spin through .ci/run). Every run is bounded
(depth, memory); the whole module takes about 75 s on a 2-core machine.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

_CHECK = Path(__file__).resolve().parents[2] / "chaos" / "model" / "check.py"
_spec = importlib.util.spec_from_file_location("spin_model_check", _CHECK)
assert _spec is not None and _spec.loader is not None
check = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = check
_spec.loader.exec_module(check)

pytestmark = pytest.mark.skipif(
    shutil.which("spin") is None or shutil.which("gcc") is None,
    reason="spin and gcc are needed to model-check chaos/model/takeover.pml (apt-get install spin)",
)

RUNS = {r.name: r for r in check.RUNS}
PASSING = [n for n, r in RUNS.items() if not r.expect_violation]
MUTATIONS = [n for n, r in RUNS.items() if r.expect_violation and not n.startswith("reach-")]
WITNESSES = [n for n in RUNS if n.startswith("reach-")]


@pytest.mark.parametrize("name", PASSING)
def test_model_passes(name: str) -> None:
    res = check.check(RUNS[name])
    assert res.errors == 0, f"{name}: spin reports a violation: {res.violation}\n{res.output[-3000:]}"
    assert not res.incomplete, f"{name}: pan stopped before the depth bound\n{res.output[-3000:]}"
    assert res.states > 0


@pytest.mark.parametrize("name", WITNESSES)
def test_each_witnessed_event_is_reached_within_the_bound(name: str) -> None:
    res = check.check(RUNS[name])
    assert res.errors >= 1 and "assertion violated" in res.violation, \
        f"{name}: the event was not reached, so the passes above say nothing about it\n{res.output[-3000:]}"


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_mutation_is_caught(name: str) -> None:
    res = check.check(RUNS[name])
    assert res.errors >= 1, f"{name}: the mutation went unnoticed\n{res.output[-3000:]}"


def test_every_mutation_is_a_switch_of_the_model() -> None:
    text = check.MODEL.read_text()
    assert {"NO_FENCING", "DISPATCH_BEFORE_COMMIT", "EARLY_RETRY", "NO_QUORUM", "STALE_ACK", "NO_LEASE_CHECK",
            "NO_ACCOUNT_FOR", "ACCEPT_AFTER_CHECKS"} <= set(MUTATIONS)
    for name in (*MUTATIONS, *check.FIXES, "LIVE"):
        assert f"#ifdef {name}" in text or f"#ifndef {name}" in text, name

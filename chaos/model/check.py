"""Run spin on chaos/model/takeover.pml: the safety and liveness checks, the known issues and the mutations.

    python chaos/model/check.py            # every run, one line each; exit 1 if one is not as expected
    python chaos/model/check.py baseline   # only the named runs

Each run generates the verifier (spin -a -D...), compiles pan.c with gcc and runs ./pan with a bounded
depth (-m) and memory (-DMEMLIM), in a temporary directory (never in the repository).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MODEL = Path(__file__).resolve().parent / "takeover.pml"
FIXES: tuple[str, ...] = ()  # the two findings are fixed in the code and are the model's default now


@dataclass(frozen=True)
class Run:
    name: str
    defines: tuple[str, ...]
    expect_violation: bool
    depth: int
    liveness: bool = False
    what: str = ""


RUNS: tuple[Run, ...] = (
    # The protocol with the two fixes of docs/reliability.md "Findings": every safety property holds.
    Run("baseline", FIXES, False, 150, what="(a)-(d), (q) with both fixes; 1 run, 2 epochs, 1 agent crash"),
    Run("baseline-2runs", (*FIXES, "NRUN=2"), False, 110, what="as baseline with 2 runs"),
    Run("baseline-replica-crash", (*FIXES, "REPLICA_CRASH", "DUP"), False, 120,
        what="as baseline, a replica may crash, messages may be delivered twice"),
    Run("liveness", (*FIXES, "LIVE"), False, 100_000, liveness=True,
        what="(e) stable leader, no loss: a queued run is eventually dispatched (-a -f)"),
    # The two findings, as mutations now that the code is fixed: each must still be caught.
    Run("STALE_ACK", ("STALE_ACK",), True, 100_000, what="finding 1: a deposed leader renews leases"),
    Run("NO_LEASE_CHECK", ("NO_LEASE_CHECK",), True, 200_000,
        what="finding 2: an agent starts work without a valid lease"),
    # Mutations: each must be caught.
    Run("NO_FENCING", (*FIXES, "NO_FENCING"), True, 300, what="(a)"),
    Run("DISPATCH_BEFORE_COMMIT", (*FIXES, "DISPATCH_BEFORE_COMMIT"), True, 300, what="(b)"),
    Run("EARLY_RETRY", (*FIXES, "EARLY_RETRY"), True, 200_000, what="(c)/(d)"),
    Run("NO_QUORUM", (*FIXES, "NO_QUORUM"), True, 300, what="(q)"),
)


@dataclass
class Result:
    run: Run
    errors: int
    states: int
    depth: int
    seconds: float
    violation: str
    output: str

    @property
    def ok(self) -> bool:
        return (self.errors >= 1) == self.run.expect_violation


def tools_missing() -> list[str]:
    return [t for t in ("spin", "gcc") if shutil.which(t) is None]


def check(run: Run, memlim_mb: int = 2048, timeout_s: float = 120) -> Result:
    with tempfile.TemporaryDirectory(prefix="spin-") as tmp:
        work = Path(tmp)
        shutil.copy(MODEL, work / "takeover.pml")
        defs = [f"-D{d}" for d in run.defines]
        subprocess.run(["spin", "-a", *defs, "takeover.pml"], cwd=work, check=True, capture_output=True,
                       timeout=60)
        cflags = ["-O2", f"-DMEMLIM={memlim_mb}", "-DCOLLAPSE", "-w"]
        cflags += ["-DNFAIR=3"] if run.liveness else ["-DSAFETY"]
        subprocess.run(["gcc", *cflags, "-o", "pan", "pan.c"], cwd=work, check=True, capture_output=True,
                       timeout=120)
        args = ["./pan", f"-m{run.depth}"]
        args += ["-a", "-f", "-N", "live"] if run.liveness else []
        start = time.monotonic()
        proc = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=timeout_s)
        seconds = time.monotonic() - start
    out = proc.stdout + proc.stderr
    errors = re.search(r"errors: (\d+)", out)
    states = re.search(r"(\d+) states, stored", out)
    depth = re.search(r"depth reached (\d+)", out)
    violation = re.search(r"pan:\d+: (.*)", out)
    return Result(run, int(errors.group(1)) if errors else -1, int(states.group(1)) if states else 0,
                  int(depth.group(1)) if depth else 0, seconds, violation.group(1) if violation else "", out)


def main(argv: list[str]) -> int:
    missing = tools_missing()
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    selected = [r for r in RUNS if not argv or r.name in argv]
    failed = 0
    for run in selected:
        res = check(run)
        verdict = "violation" if res.errors >= 1 else "pass"
        mark = "ok" if res.ok else "UNEXPECTED"
        print(f"{run.name:24} {verdict:9} {mark:10} states={res.states:<9} depth={res.depth:<6} "
              f"{res.seconds:6.1f}s  {res.violation or run.what}")
        failed += not res.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

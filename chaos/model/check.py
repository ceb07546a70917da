"""Run spin on chaos/model/takeover.pml: the safety and liveness checks, the witnesses and the mutations.

    python chaos/model/check.py            # every run of RUNS, one line each; exit 1 if one is not as expected
    python chaos/model/check.py baseline   # only the named runs (of RUNS or EXTENDED)
    python chaos/model/check.py extended   # the larger bounds (EXTENDED): minutes and up to 4 GiB each

Each run generates the verifier (spin -a -D...), compiles pan.c with gcc and runs ./pan with a bounded
depth (-m) and memory (-DMEMLIM), in a temporary directory (never in the repository). Run one at a time
on a shared machine, e.g. under `nice -n 19`.
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
    memlim_mb: int = 2048
    timeout_s: float = 120


# -m counts transitions: a controller tick, an agent's handling of one message, a timer tick, an election,
# a crash or a loss is one d_step each, plus one transition per nondeterministic choice before it.
RUNS: tuple[Run, ...] = (
    # The protocol as implemented (both fixes of docs/reliability.md "Findings"): every property holds.
    Run("baseline", FIXES, False, 40,
        what="(a)-(d), (q), (s): 1 run, 2 epochs, 1 agent crash; finish, reject and lost reports"),
    Run("baseline-2runs", (*FIXES, "NRUN=2"), False, 34, what="as baseline with 2 runs"),
    Run("baseline-replica-crash", (*FIXES, "REPLICA_CRASH", "DUP"), False, 34,
        what="as baseline, a replica may crash, messages may be delivered twice"),
    Run("liveness", (*FIXES, "LIVE"), False, 100_000, liveness=True,
        what="(e) stable leader, no loss: a queued run is eventually dispatched (-a -f)"),
    # Witnesses: an assert(false) at the event, which the bounded search must reach (else a pass above would
    # say nothing about it).
    Run("reach-rejected", ("WITNESS=1",), True, 40, what="a REJECTED report puts the run back to QUEUED"),
    Run("reach-reject-crash", ("WITNESS=2",), True, 40,
        what="crash between recording an attempt and syncing its REJECTED; reported lost after a re-send"),
    Run("reach-finished", ("WITNESS=3",), True, 40, what="a FINISHED report ends the run"),
    Run("reach-agent-lost", ("WITNESS=4",), True, 40, what="MarkAgentLost takes a dispatched run back"),
    Run("reach-last-epoch", ("WITNESS=5",), True, 40, what="the leader of epoch MAXEP activates"),
    Run("reach-last-attempt", ("WITNESS=6",), True, 40, what="attempt NATT starts"),
    Run("reach-reject-crash-failed", ("WITNESS=7", "NOLOSS"), True, 48,
        what="as reach-reject-crash on the last attempt: the run ends FAILED, no attempt having executed"),
    # The two findings, as mutations now that the code is fixed: each must still be caught.
    Run("STALE_ACK", ("STALE_ACK", "NOLOSS", "MAXCRASH=0"), True, 200,
        what="finding 1: a deposed leader renews leases"),
    Run("NO_LEASE_CHECK", ("NO_LEASE_CHECK",), True, 40,
        what="finding 2: an agent starts work without a valid lease"),
    # Mutations: each must be caught.
    Run("NO_FENCING", (*FIXES, "NO_FENCING"), True, 40, what="(a)"),
    Run("DISPATCH_BEFORE_COMMIT", (*FIXES, "DISPATCH_BEFORE_COMMIT", "NOLOSS", "MAXCRASH=0"), True, 60,
        what="(b)"),
    Run("EARLY_RETRY", (*FIXES, "EARLY_RETRY"), True, 40, what="(c)/(d)"),
    Run("NO_QUORUM", (*FIXES, "NO_QUORUM"), True, 40, what="(q)"),
    Run("NO_ACCOUNT_FOR", (*FIXES, "NO_ACCOUNT_FOR"), True, 40, what="(s)"),
    Run("ACCEPT_AFTER_CHECKS", (*FIXES, "ACCEPT_AFTER_CHECKS", "NOLOSS", "MAXCRASH=0"), True, 50, what="(d)"),
)
# Larger bounds, each within 4 GiB (memory, not time, is what bounds them: ~140 bytes a state with -DCOLLAPSE).
_BIG = {"memlim_mb": 4000, "timeout_s": 900}
EXTENDED: tuple[Run, ...] = (
    Run("deep", FIXES, False, 47, what="as baseline, deeper", **_BIG),
    Run("maxep3", (*FIXES, "MAXEP=3"), False, 37, what="as baseline with 3 epochs", **_BIG),
    Run("2runs-deep", (*FIXES, "NRUN=2"), False, 44, what="as baseline-2runs, deeper", **_BIG),
    Run("2runs-maxep3", (*FIXES, "NRUN=2", "MAXEP=3"), False, 36, what="2 runs, 3 epochs", **_BIG),
    Run("natt3", (*FIXES, "NATT=3"), False, 45, what="as baseline with 3 attempts dispatched per run", **_BIG),
    Run("replica-crash-deep", (*FIXES, "REPLICA_CRASH", "DUP"), False, 42,
        what="as baseline-replica-crash, deeper", **_BIG),
    Run("reach-epoch3", ("WITNESS=5", "MAXEP=3"), True, 37, what="the leader of epoch 3 activates", **_BIG),
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
    memory_mb: float = 0.0

    @property
    def incomplete(self) -> bool:
        """pan gave up before the depth bound was explored: out of memory (-DMEMLIM) or out of time."""
        return "reached -DMEMLIM bound" in self.output or self.errors < 0

    @property
    def ok(self) -> bool:
        if self.run.expect_violation:
            return self.errors >= 1
        return self.errors == 0 and not self.incomplete


def tools_missing() -> list[str]:
    return [t for t in ("spin", "gcc") if shutil.which(t) is None]


def check(run: Run, memlim_mb: int | None = None, timeout_s: float | None = None) -> Result:
    memlim_mb = memlim_mb or run.memlim_mb
    timeout_s = timeout_s or run.timeout_s
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
        try:
            proc = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return Result(run, -1, 0, 0, time.monotonic() - start, f"no result within {timeout_s:.0f} s", "")
        seconds = time.monotonic() - start
    out = proc.stdout + proc.stderr
    errors = re.search(r"errors: (\d+)", out)
    states = re.search(r"(\d+) states, stored", out)
    depth = re.search(r"depth reached (\d+)", out)
    violation = re.search(r"pan:\d+: (.*)", out)
    memory = re.search(r"([\d.]+)\s+total actual memory usage", out)
    return Result(run, int(errors.group(1)) if errors else -1, int(states.group(1)) if states else 0,
                  int(depth.group(1)) if depth else 0, seconds, violation.group(1) if violation else "", out,
                  float(memory.group(1)) if memory else 0.0)


def main(argv: list[str]) -> int:
    missing = tools_missing()
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    every = (*RUNS, *EXTENDED)
    unknown = [a for a in argv if a != "extended" and a not in {r.name for r in every}]
    if unknown:
        print(f"unknown run: {', '.join(unknown)}", file=sys.stderr)
        return 2
    selected = [r for r in every if (not argv and r in RUNS) or r.name in argv
                or ("extended" in argv and r in EXTENDED)]
    failed = 0
    for run in selected:
        res = check(run)
        verdict = "violation" if res.errors >= 1 else "INCOMPLETE" if res.incomplete else "pass"
        mark = "ok" if res.ok else "UNEXPECTED"
        print(f"{run.name:26} {verdict:10} {mark:10} states={res.states:<9} depth={res.depth:<6} "
              f"{res.memory_mb:6.0f}MB {res.seconds:6.1f}s  {res.violation or run.what}", flush=True)
        failed += not res.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

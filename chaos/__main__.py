"""``python -m chaos run --nemesis NAME[,NAME] --time 120 --seed S --replicas 3|5``"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from chaos.nemesis import NEMESES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description="WLOADCTL chaos suite")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one scenario and check its history")
    run.add_argument("--nemesis", default="kill-leader", help=f"comma-separated: {', '.join(sorted(NEMESES))}")
    run.add_argument("--time", type=float, default=120.0, help="seconds of faults and load (default 120)")
    run.add_argument("--seed", type=int, default=None, help="fault schedule seed (default: random, printed)")
    run.add_argument("--replicas", type=int, choices=(3, 5), default=3)
    run.add_argument("--agents", type=int, default=2)
    run.add_argument("--results", type=Path, default=Path("chaos/results"))
    run.add_argument("--network", choices=("auto", "netns", "loopback"), default="auto",
                     help="hosts in network namespaces (needs root) or all on loopback; auto picks namespaces "
                          "when possible and skips the partition nemeses otherwise")
    matrix = sub.add_parser("matrix", help="run the scenario matrix (docs/reliability.md) and summarise it")
    matrix.add_argument("--time", type=float, default=120.0, help="seconds per scenario (default 120)")
    matrix.add_argument("--seed", type=int, default=1, help="base seed; scenario i uses seed+i")
    matrix.add_argument("--results", type=Path, default=Path("chaos/results"))
    matrix.add_argument("--only", type=int, default=0, help="run only N scenarios (from --start)")
    matrix.add_argument("--start", type=int, default=0, help="skip the first N scenarios")
    matrix.add_argument("--network", choices=("auto", "netns", "loopback"), default="auto")
    args = parser.parse_args(argv)
    if args.command == "matrix":
        return _matrix(args)
    names = [n for n in args.nemesis.split(",") if n]
    unknown = [n for n in names if n not in NEMESES]
    if unknown:
        parser.error(f"unknown nemesis {unknown[0]!r}; known: {', '.join(sorted(NEMESES))}")
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    from chaos.runner import Scenario
    from chaos.runner import run as run_scenario

    ok, out, findings = run_scenario(Scenario(nemeses=names, seconds=args.time, seed=seed, replicas=args.replicas,
                                              agents=args.agents, results=args.results, network=args.network))
    for f in findings:
        print(f"{'ok  ' if f.ok else 'FAIL'} {f.checker}: {f.summary}")
        if not f.ok:
            for d in f.details[:10]:
                print(f"       {d}")
    print(f"{'PASS' if ok else 'FAIL'}: {','.join(names)} for {args.time:.0f} s, seed {seed}; report in {out}")
    if not ok:
        print(f"reproduce: python -m chaos run --nemesis {','.join(names)} --time {args.time:.0f} --seed {seed} "
              f"--replicas {args.replicas}")
    return 0 if ok else 1


# Each scenario: the nemeses it cycles through (two at once on about half the turns) and the replica count.
MATRIX: list[tuple[list[str], int]] = [
    (["kill-leader", "crash-agent"], 3),
    (["kill-follower", "partition-one-way"], 3),
    (["kill-random", "flap-leader"], 5),
    (["pause-leader", "leader-agents-cut"], 3),
    (["partition-leader", "crash-agent"], 3),
    (["partition-halves", "pause-leader"], 5),
    (["partition-bridge", "kill-random"], 5),
    (["agent-net-loss", "kill-leader"], 3),
    (["slow-replica-links", "transfer-leader"], 3),
    (["lossy-replica-links", "crash-agent"], 3),
    (["slow-agent-links", "partition-leader"], 3),
    (["lossy-agent-links", "kill-follower"], 3),
    (["clock-jump", "partition-halves"], 3),
    (["membership-change", "kill-follower"], 3),
    (["rolling-restart", "agent-net-loss"], 3),
    (["disk-full", "kill-leader"], 3),
    (["partition-one-way", "pause-leader"], 3),
    (["transfer-leader", "partition-bridge"], 5),
    (["flap-leader", "lossy-replica-links"], 3),
    (["disk-full", "partition-leader"], 3),
]


def _matrix(args: argparse.Namespace) -> int:
    import json
    import time

    from chaos.runner import Scenario
    from chaos.runner import run as run_scenario

    rows = []
    for i, (names, replicas) in enumerate(MATRIX):
        if i < args.start or (args.only and i >= args.start + args.only):
            continue
        seed = args.seed + i
        started = time.monotonic()
        try:
            ok, out, findings = run_scenario(Scenario(nemeses=names, seconds=args.time, seed=seed,
                                                      replicas=replicas, results=args.results, network=args.network))
        except Exception as e:  # the rest of the matrix still runs; this scenario counts as failed
            print(f"FAIL {i + 1:>2} {'+'.join(names)}: the runner failed: {type(e).__name__}: {e}", flush=True)
            rows.append({"scenario": i + 1, "nemeses": names, "replicas": replicas, "seed": seed, "ok": False,
                         "violations": [f"runner error: {type(e).__name__}: {e}"], "network": "", "skipped": {},
                         "faults": 0, "wall_s": round(time.monotonic() - started, 1), "report": ""})
            continue
        report = json.loads((out / "report.json").read_text())
        bad = [f.checker for f in findings if not f.ok]
        rows.append({"scenario": i + 1, "nemeses": names, "replicas": replicas, "seed": seed, "ok": ok,
                     "violations": bad, "network": report["network"], "skipped": report["skipped"],
                     "faults": sum(1 for e in report["faults"] if "inject" in e),
                     "wall_s": round(time.monotonic() - started, 1), "report": str(out)})
        print(f"{'PASS' if ok else 'FAIL'} {i + 1:>2} {'+'.join(names):<40} replicas={replicas} seed={seed} "
              f"faults={rows[-1]['faults']} {'violations: ' + ', '.join(bad) if bad else ''}"
              f"{' skipped: ' + ', '.join(report['skipped']) if report['skipped'] else ''}", flush=True)
    failed = [r for r in rows if not r["ok"]]
    args.results.mkdir(parents=True, exist_ok=True)
    summary = args.results / f"matrix-{time.strftime('%Y%m%d-%H%M%S')}.json"
    summary.write_text(json.dumps({"seconds": args.time, "base_seed": args.seed, "rows": rows}, indent=2))
    print(f"{len(rows) - len(failed)}/{len(rows)} scenarios passed, {args.time:.0f} s each; summary in {summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

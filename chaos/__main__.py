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
    matrix = sub.add_parser("matrix", help="run the scenario matrix (docs/reliability.md) and summarise it")
    matrix.add_argument("--time", type=float, default=120.0, help="seconds per scenario (default 120)")
    matrix.add_argument("--seed", type=int, default=1, help="base seed; scenario i uses seed+i")
    matrix.add_argument("--results", type=Path, default=Path("chaos/results"))
    matrix.add_argument("--only", type=int, default=0, help="run only the first N scenarios")
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
                                              agents=args.agents, results=args.results))
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


# Each scenario: the nemeses it cycles through and the replica count.
MATRIX: list[tuple[list[str], int]] = [
    (["kill-leader"], 3), (["kill-follower"], 3), (["kill-random"], 5), (["pause-leader"], 3),
    (["flap-leader"], 3), (["crash-agent"], 3), (["leader-agents-cut"], 3), (["transfer-leader"], 3),
    (["kill-leader", "crash-agent"], 3), (["pause-leader", "leader-agents-cut"], 3),
    (["kill-random", "flap-leader"], 5), (["crash-agent", "pause-leader"], 3),
    (["slow-agent-links", "kill-leader"], 3), (["lossy-agent-links", "crash-agent"], 3),
    (["clock-jump", "kill-leader"], 3), (["membership-change", "kill-follower"], 3),
    (["rolling-restart", "crash-agent"], 3),
]


def _matrix(args: argparse.Namespace) -> int:
    from chaos.runner import Scenario
    from chaos.runner import run as run_scenario

    scenarios = MATRIX[: args.only or None]
    rows = []
    for i, (names, replicas) in enumerate(scenarios):
        seed = args.seed + i
        ok, out, findings = run_scenario(Scenario(nemeses=names, seconds=args.time, seed=seed, replicas=replicas,
                                                  results=args.results))
        bad = [f.checker for f in findings if not f.ok]
        rows.append((ok, names, replicas, seed, bad, out))
        print(f"{'PASS' if ok else 'FAIL'} {'+'.join(names):<32} replicas={replicas} seed={seed} "
              f"{'violations: ' + ', '.join(bad) if bad else ''}", flush=True)
    failed = [r for r in rows if not r[0]]
    print(f"{len(rows) - len(failed)}/{len(rows)} scenarios passed, {args.time:.0f} s each")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())

"""``python -m chaos run --nemesis NAME[,NAME] --time 120 --seed S --replicas 3|5``

Exit status: 0 every check passed, 1 a check failed or the run stopped before its checks (the
error, the seed and the command that reproduces the run are printed), 2 a usage error, 130
interrupted.
"""

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
    run.add_argument("--results", type=Path, default=Path("chaos/results"),
                     help="folder for the reports, relative to the current directory (default chaos/results)")
    run.add_argument("--network", choices=("auto", "netns", "loopback"), default="auto",
                     help="hosts in network namespaces (needs root) or all on loopback; auto picks namespaces "
                          "when possible and skips the partition nemeses otherwise")
    matrix = sub.add_parser("matrix", help="run the scenario matrix (docs/reliability.md) and summarise it")
    matrix.add_argument("--time", type=float, default=120.0, help="seconds per scenario (default 120)")
    matrix.add_argument("--seed", type=int, default=1, help="base seed; scenario i uses seed+i")
    matrix.add_argument("--results", type=Path, default=Path("chaos/results"),
                        help="folder for the reports and the summary (default chaos/results)")
    matrix.add_argument("--only", type=int, default=0, help="run only N scenarios (from --start)")
    matrix.add_argument("--start", type=int, default=0, help="skip the first N scenarios")
    matrix.add_argument("--network", choices=("auto", "netns", "loopback"), default="auto")
    args = parser.parse_args(argv)
    # Relative to where the user ran the command, fixed before anything could change directory.
    args.results = args.results.resolve()
    if args.command == "matrix":
        return _matrix(args)
    names = [n for n in args.nemesis.split(",") if n]
    unknown = [n for n in names if n not in NEMESES]
    if unknown:
        parser.error(f"unknown nemesis {unknown[0]!r}; known: {', '.join(sorted(NEMESES))}")
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    from chaos.runner import RunAborted, Scenario
    from chaos.runner import run as run_scenario

    what = f"{','.join(names)} for {_seconds(args.time)} s, seed {seed}"
    again = reproduce(names, args.time, seed, args.replicas, args.agents, args.network)
    try:
        ok, out, findings = run_scenario(Scenario(nemeses=names, seconds=args.time, seed=seed, replicas=args.replicas,
                                                  agents=args.agents, results=args.results, network=args.network))
    except RunAborted as e:
        print(f"error: the run stopped before its checks: {e.why}", file=sys.stderr, flush=True)
        print(f"FAIL: {what}; {f'files in {e.out}' if e.out else 'nothing written'}\n{again}", flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {what}\n{again}", flush=True)
        return 130
    for f in findings:
        print(f"{'ok  ' if f.ok else 'FAIL'} {f.checker}: {f.summary}")
        if not f.ok:
            for d in f.details[:10]:
                print(f"       {d}")
    print(f"{'PASS' if ok else 'FAIL'}: {what}; report in {out}")
    if not ok:
        print(again)
    return 0 if ok else 1


def reproduce(names: list[str], seconds: float, seed: int, replicas: int, agents: int = 2,
              network: str = "auto") -> str:
    """The command that runs the same scenario with the same fault schedule again (defaults left out)."""
    return (f"reproduce: python -m chaos run --nemesis {','.join(names)} --time {_seconds(seconds)} --seed {seed} "
            f"--replicas {replicas}" + (f" --agents {agents}" if agents != 2 else "")
            + (f" --network {network}" if network != "auto" else ""))


def _seconds(value: float) -> str:
    # Exact, so that the command reproduces the same schedule: 120 rather than 120.0, 7.5 kept.
    return str(int(value)) if value.is_integer() else repr(value)


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
    (["kill-during-install", "crash-agent"], 3),
    (["kill-during-install", "membership-change"], 5),
    (["kill-leader-mid-dispatch", "restart-agent-fast"], 3),
    (["restart-agent-fast", "partition-one-way"], 3),
    (["kill-leader-mid-takeover", "lossy-agent-links"], 3),
]


# Protocol paths the whole matrix must take at least once (counters of chaos/runner.py).
REQUIRED_COUNTERS = ("snapshots_installed", "stale_messages_refused", "attempts_lost", "late_reports",
                     "lost_in_agent_restarts", "orphan_kills")


def _matrix(args: argparse.Namespace) -> int:
    import json
    import time

    from chaos.runner import RunAborted, Scenario
    from chaos.runner import run as run_scenario

    rows = []
    interrupted = False
    for i, (names, replicas) in enumerate(MATRIX):
        if i < args.start or (args.only and i >= args.start + args.only):
            continue
        seed = args.seed + i
        started = time.monotonic()
        again = reproduce(names, args.time, seed, replicas, network=args.network)
        head = f"{i + 1:>2} {'+'.join(names):<40} replicas={replicas} seed={seed}"
        try:
            ok, out, findings = run_scenario(Scenario(nemeses=names, seconds=args.time, seed=seed,
                                                      replicas=replicas, results=args.results, network=args.network))
        except RunAborted as e:  # the rest of the matrix still runs; this scenario counts as failed
            first, *details = e.why.splitlines()
            print(f"FAIL {head} the run stopped before its checks: {first}", flush=True)
            for line in details:
                print(f"       {line}")
            print(f"       {again}", flush=True)
            rows.append({"scenario": i + 1, "nemeses": names, "replicas": replicas, "seed": seed, "ok": False,
                         "violations": [f"run stopped: {first}"], "error": e.why, "network": "", "skipped": {},
                         "faults": 0, "wall_s": round(time.monotonic() - started, 1),
                         "report": str(e.out or ""), "reproduce": again})
            continue
        except KeyboardInterrupt:
            print(f"interrupted in scenario {i + 1}\n{again}", flush=True)
            interrupted = True
            break
        report = json.loads((out / "report.json").read_text())
        bad = [f.checker for f in findings if not f.ok]
        rows.append({"scenario": i + 1, "nemeses": names, "replicas": replicas, "seed": seed, "ok": ok,
                     "violations": bad, "network": report["network"], "skipped": report["skipped"],
                     "faults": sum(1 for e in report["faults"] if "inject" in e),
                     "no_effect": sum(1 for e in report["faults"] if "no_effect" in e),
                     "counters": report.get("counters", {}),
                     "wall_s": round(time.monotonic() - started, 1), "report": str(out),
                     **({} if ok else {"reproduce": again})})
        print(f"{'PASS' if ok else 'FAIL'} {head} "
              f"faults={rows[-1]['faults']} "
              + "".join(f"{k}={v} " for k, v in rows[-1]["counters"].items())
              + f"{'violations: ' + ', '.join(bad) if bad else ''}"
              f"{' skipped: ' + ', '.join(report['skipped']) if report['skipped'] else ''}", flush=True)
        if not ok:
            print(f"       {again}", flush=True)
    failed = [r for r in rows if not r["ok"]]
    totals: dict[str, int] = {}
    for r in rows:
        for name, n in r.get("counters", {}).items():
            totals[name] = totals.get(name, 0) + n
    print("across the matrix: " + ", ".join(f"{k}={v}" for k, v in totals.items()), flush=True)
    # A whole matrix that never took one of these paths tested less than it claims.
    unexercised = [name for name in REQUIRED_COUNTERS if not totals.get(name)]
    whole = not args.start and (not args.only or args.only >= len(MATRIX)) and not interrupted
    if whole and unexercised:
        print(f"FAIL: never exercised across the matrix: {', '.join(unexercised)}", flush=True)
    summary = args.results / f"matrix-{time.strftime('%Y%m%d-%H%M%S')}.json"
    try:
        args.results.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps({"seconds": args.time, "base_seed": args.seed, "rows": rows,
                                       "counters": totals, "unexercised": unexercised if whole else []},
                                      indent=2))
    except OSError as e:
        print(f"error: cannot write the summary: {e}", file=sys.stderr)
        return 1
    print(f"{len(rows) - len(failed)}/{len(rows)} scenarios passed, {_seconds(args.time)} s each; summary in {summary}")
    return 130 if interrupted else 1 if failed or (whole and unexercised) else 0


if __name__ == "__main__":
    sys.exit(main())

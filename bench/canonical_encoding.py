"""What canonical (deterministic) encoding costs: per message, and the one-time re-encode of an old data dir.

    python bench/canonical_encoding.py [--jobs 100000] [--runs 100000]

1. Serializing a JobVersion and a Run with several labels, env values and params, with
   ``SerializeToString()`` and with ``deterministic=True`` (what the state machine now uses).
2. Opening a store written by an older version (format 1: no format record, map entries in
   hash order): every job, version, run, agent and idempotency record is re-encoded once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import timeit
from pathlib import Path

import lmdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wloadctl.proto.v1 import commands_pb2, jobs_pb2, runs_pb2
from wloadctl.state.store import Store
from wloadctl.testing.builders import apply_cmd, batch

MAPS = {f"key{i}": f"value{i}" for i in range(6)}


def _spec(name: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, domain="bench", labels=MAPS, env={k.upper(): v for k, v in MAPS.items()},
                            command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/bin/true", name])))


def per_message() -> None:
    job = jobs_pb2.JobVersion(spec=_spec("nightly"), version=3, created_ms=1, raft_index=9)
    run = runs_pb2.Run(run_id="r1", job_name="nightly", params=MAPS, spec=job.spec, output_tail=b"x" * 4096)
    for _ in range(20):
        run.transitions.add(state=runs_pb2.RUNNING, time_ms=1, attempt=1, agent_id="a1", epoch=1, cause="started")
    for name, message in (("JobVersion", job), ("Run", run)):
        n = 20_000
        plain = min(timeit.repeat(message.SerializeToString, number=n, repeat=5)) / n
        canonical = min(timeit.repeat(lambda m=message: m.SerializeToString(deterministic=True), number=n,
                                      repeat=5)) / n
        print(f"{name:<10} {message.ByteSize():>6} bytes: default {plain * 1e6:6.2f} us, "
              f"deterministic {canonical * 1e6:6.2f} us ({canonical / plain:.2f}x)")


def migration(jobs: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state"
        store = Store(path)
        index = 0
        for start in range(0, jobs, 1000):
            index += 1
            store.apply(batch(apply_cmd(*(_spec(f"job{i}") for i in range(start, min(jobs, start + 1000))),
                                        key=f"apply-{start}")), index)
        for start in range(0, runs, 1000):
            index += 1
            triggers = [commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(job_name=f"job{i % jobs}",
                                                                                 params=MAPS))
                        for i in range(start, min(runs, start + 1000))]
            store.apply(batch(*triggers), index)
        store.close()
        # Make it an older version's data dir: default (hash-ordered) bytes, no format record.
        env = lmdb.open(str(path), max_dbs=32, map_size=64 << 30)
        rewritten = 0
        with env.begin(write=True) as txn:
            for name, kind in ((b"jobs", jobs_pb2.JobVersion), (b"job_versions", jobs_pb2.JobVersion),
                               (b"runs", runs_pb2.Run)):
                db = env.open_db(name, txn=txn)
                for key, value in list(txn.cursor(db=db)):
                    old = kind.FromString(value).SerializeToString()
                    rewritten += old != value
                    txn.put(key, old, db=db)
            txn.delete(b"format", db=env.open_db(b"meta", txn=txn))
        env.close()
        print(f"older data dir: {rewritten:,} of {2 * jobs + runs:,} records not canonical")
        size = (path / "data.mdb").stat().st_size
        started = time.perf_counter()
        Store(path).close()
        took = time.perf_counter() - started
        print(f"re-encode at open: {jobs:,} jobs ({jobs:,} versions) and {runs:,} runs, "
              f"{size / 1e6:.0f} MB data file: {took:.2f} s ({(2 * jobs + runs) / took:,.0f} records/s)")
        started = time.perf_counter()
        Store(path).close()
        print(f"open when already canonical: {(time.perf_counter() - started) * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=100_000)
    args = ap.parse_args()
    per_message()
    migration(args.jobs, args.runs)


if __name__ == "__main__":
    main()

"""Run reports: the replica's cost of `report runs` over many stored runs.

    python bench/run_report.py [--runs 200000] [--jobs 500] [--output-bytes 200]

Fills a state directly through Store.apply (the state machine, no cluster): runs of --jobs jobs in
four domains, one entry per second of state time, each run dispatched, started and finished (3 in
4 succeed, the rest fail with an exit code, time out or are killed) with --output-bytes of output.
Then times Store.report_runs + RunReportBuilder.report (what RunService/ReportRuns does apart from
gRPC) over the whole range and over a tenth of it, by job and by domain, hour and day buckets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wloadctl.model.runreport import RunReportBuilder
from wloadctl.proto.v1 import agent_pb2, commands_pb2, jobs_pb2, runs_pb2
from wloadctl.state.store import Store

EV = agent_pb2.RunEvent
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def fill(store: Store, runs: int, jobs: int, output_bytes: int, per_entry: int = 1000) -> int:
    index = 0

    def apply(time_ms: int, *cmds: commands_pb2.Command) -> list[commands_pb2.CommandResult]:
        nonlocal index
        index += 1
        out = store.apply(commands_pb2.CommandBatch(time_ms=time_ms, commands=list(cmds)).SerializeToString(), index)
        assert out is not None
        return out

    specs = [jobs_pb2.JobSpec(name=f"job-{j:04d}", domain=f"d{j % 4}",
                              command=jobs_pb2.JobCommand(shell=f"echo {j}")) for j in range(jobs)]
    apply(START_MS, commands_pb2.Command(apply_jobs=commands_pb2.ApplyJobs(jobs=specs)))
    apply(START_MS, commands_pb2.Command(begin_epoch=commands_pb2.BeginEpoch(leader_id="r1", expected_epoch=1)))
    apply(START_MS, commands_pb2.Command(register_agent=commands_pb2.RegisterAgent(
        agent=runs_pb2.Agent(agent_id="a1", capacity=10_000))))
    data = b"x" * output_bytes
    made = 0
    now = START_MS
    while made < runs:
        n = min(per_entry, runs - made)
        now += 1000
        results = apply(now, *(commands_pb2.Command(trigger_run=commands_pb2.TriggerRun(
            job_name=specs[(made + i) % jobs].name)) for i in range(n)))
        ids = [r.run_ids[0] for r in results]
        apply(now, commands_pb2.Command(dispatch_runs=commands_pb2.DispatchRuns(epoch=1, decisions=[
            commands_pb2.DispatchDecision(run_id=i, attempt=1, agent_id="a1") for i in ids])))
        evs = []
        for k, rid in enumerate(ids):
            evs.append(EV(kind=EV.STARTED, run_id=rid, attempt=1, epoch=1, time_ms=now + 10, pid=1))
            evs.append(EV(kind=EV.OUTPUT, run_id=rid, attempt=1, epoch=1, data=data, offset=0))
            kind = (made + k) % 8
            evs.append(EV(kind=EV.FINISHED, run_id=rid, attempt=1, epoch=1, time_ms=now + 10 + (made + k) % 5000,
                          exit_code=3 if kind == 5 else 0, timed_out=kind == 6, killed=kind == 7))
        apply(now, *(commands_pb2.Command(record_run_events=commands_pb2.RecordRunEvents(
            agent_id="a1", events=evs[i:i + 900])) for i in range(0, len(evs), 900)))
        made += n
    return now


def timed(store: Store, by: str, bucket: str, from_ms: int, to_ms: int) -> str:
    t0 = time.perf_counter()
    builder = RunReportBuilder(by, from_ms, to_ms, bucket)
    scan = store.report_runs(builder, None, 10_000_000)
    report = builder.report(scan.truncated, scan.covered_to_ms)
    took = time.perf_counter() - t0
    return (f"by {by:6} {bucket:4}: {scan.scanned:>9,} runs read, {len(report.rows):>6,} rows, {took * 1000:8.0f} ms "
            f"({scan.scanned / took:,.0f} runs/s), answer {report.ByteSize() / 1024:,.0f} KiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200_000)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--output-bytes", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state", map_size=64 << 30)
        t0 = time.monotonic()
        end = fill(store, args.runs, args.jobs, args.output_bytes)
        print(f"stored {args.runs:,} runs in {time.monotonic() - t0:.0f} s; state "
              f"{sum(f.stat().st_size for f in (Path(tmp) / 'state').rglob('*')) / 2**20:,.0f} MiB")
        span = end + 1 - START_MS
        for by, bucket in (("job", "day"), ("domain", "hour"), ("job", "hour")):
            print("whole range  ", timed(store, by, bucket, START_MS, end + 1))
        tenth = end + 1 - span // 10
        print("newest tenth ", timed(store, "job", "day", tenth, end + 1))
        store.close()


if __name__ == "__main__":
    main()

"""The chaos workload writes maps with several entries, so equal_digests can see map-order divergence.

Protobuf's default serialization writes map entries in the order of the process's hash table,
whose seed differs from process to process; a map with one entry reads the same in every process. A workload
whose labels, env and params had one entry each could not catch replicas that stored their
own orders (fixed in wloadctl/state/encoding.py).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from chaos.workload import job_spec, run_jobs, run_params
from wloadctl.model.rules import validate_specs
from wloadctl.proto.v1 import api_pb2

# Prints, as hex, the non-deterministic serialization of what the workload sends for one seed.
_SERIALIZE = """
import json, random, sys
from chaos.workload import job_spec, run_jobs, run_params
from wloadctl.proto.v1 import api_pb2
rng = random.Random(7)
messages = [job_spec(f"j-{n}", n, rng) for n in range(20)]
messages += [api_pb2.TriggerRunRequest(job_name="chaos-short", params=run_params(rng)) for _ in range(20)]
messages += run_jobs(__import__("pathlib").Path(sys.argv[1]))
print(json.dumps([m.SerializeToString().hex() for m in messages]))
"""


def test_job_writes_and_runs_carry_several_labels_env_and_params() -> None:
    rng = random.Random(3)
    specs = [job_spec(f"j-0-{n}", n, rng) for n in range(200)]
    params = [run_params(rng) for _ in range(200)]
    assert not validate_specs(specs[:100]) and not validate_specs(specs[100:])
    assert {len(s.labels) for s in specs} == {3, 4, 5}
    assert {len(s.env) for s in specs} == {3, 4, 5}
    assert {len(p) for p in params} == {2, 3, 4}
    assert len({tuple(sorted(s.env.items())) for s in specs}) > 150, "env values do not vary"
    for p in params:  # what the API accepts (wloadctl/api/runs.py)
        assert all(0 < len(k) <= 128 and len(v) <= 4096 for k, v in p.items())
    again = random.Random(3)
    assert [job_spec(f"j-0-{n}", n, again) for n in range(200)] == specs, "not reproducible from the seed"


def test_run_jobs_carry_several_labels_and_env(tmp_path: Path) -> None:
    jobs = run_jobs(tmp_path)
    assert not validate_specs(jobs)
    for spec in jobs:
        assert len(spec.labels) >= 3 and len(spec.env) >= 3
        assert spec.env["EXEC_DIR"] == str(tmp_path)  # the jobs' own execution records go there


def test_what_the_workload_sends_serializes_differently_in_different_processes(tmp_path: Path) -> None:
    # Each process as a replica would be; PYTHONHASHSEED varied too, though upb seeds its own tables.
    outputs = []
    for seed in range(6):
        done = subprocess.run([sys.executable, "-c", _SERIALIZE, str(tmp_path)], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYTHONHASHSEED": str(seed)})
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    differing = [i for i in range(len(outputs[0])) if len({out[i] for out in outputs}) > 1]
    # Job writes, run params and the chaos jobs each expose the hash order in some process.
    assert any(i < 20 for i in differing), "no job write serializes differently"
    assert any(20 <= i < 40 for i in differing), "no run's params serialize differently"
    assert any(i >= 40 for i in differing), "no chaos job serializes differently"
    parsed = api_pb2.TriggerRunRequest.FromString(bytes.fromhex(outputs[0][20]))
    assert len(parsed.params) >= 2


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_stubborn_job_outlives_sigterm_and_beats_until_sigkill(tmp_path: Path) -> None:
    """What lets the checkers see a kill that only signals the shell or never escalates: the
    job ignores SIGTERM in every process and its child keeps writing beats until SIGKILL."""
    import signal
    import time

    from wloadctl.testing.cluster import wait_for

    spec = next(j for j in run_jobs(tmp_path) if j.name == "chaos-stubborn")
    env = {**os.environ, **spec.env, "WLOADCTL_RUN_ID": "r7", "WLOADCTL_ATTEMPT": "2", "WLOADCTL_EPOCH": "3",
           "WLOADCTL_AGENT_ID": "a1", "WLOADCTL_ACCEPTED_NS": "5"}
    # The work sleeps 1-3 s: long enough that the TERM lands while it runs, bounded either way.
    proc = subprocess.Popen(["bash", "-c", spec.command.shell], env=env, start_new_session=True)
    log = tmp_path / "exec-a1.jsonl"
    try:
        wait_for(lambda: any(r["event"] == "alive" for r in _records(log)), 5, "the first beat")
        os.killpg(proc.pid, signal.SIGTERM)
        termed_ns = time.time_ns()
        wait_for(lambda: any(r["event"] == "alive" and int(str(r["time_ns"])) > termed_ns for r in _records(log)),
                 5, "a beat after SIGTERM")
        assert proc.poll() is None, "the job ended on SIGTERM"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    records = _records(log)
    assert records[0]["event"] == "start" and records[0]["run"] == "r7" and records[0]["attempt"] == 2
    assert not [r for r in records if r["event"] == "end"], "killed: no end record"


def test_a_job_that_finishes_records_its_exit_code_and_stops_beating(tmp_path: Path) -> None:
    spec = next(j for j in run_jobs(tmp_path) if j.name == "chaos-short")
    env = {**os.environ, **spec.env, "WLOADCTL_RUN_ID": "r1", "WLOADCTL_ATTEMPT": "1", "WLOADCTL_EPOCH": "1",
           "WLOADCTL_AGENT_ID": "a2", "WLOADCTL_ACCEPTED_NS": "5"}
    subprocess.run(["bash", "-c", spec.command.shell], env=env, check=True, timeout=10,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = _records(tmp_path / "exec-a2.jsonl")
    events = [r["event"] for r in records]
    assert events[0] == "start" and events.count("end") == 1 and "alive" in events
    end = next(r for r in records if r["event"] == "end")
    assert end["code"] == 0
    # The beats' child was killed before the end was written: none is later than the end.
    assert all(int(str(r["time_ns"])) <= int(str(end["time_ns"])) for r in records)

"""The chaos workload: job definition writes and manual runs at a steady rate.

Every client operation is recorded invoke -> ok | fail | info. Each run's own
process appends its start and end (run, attempt, epoch, agent, time) to a file
on its agent, so checkers do not rely only on the cluster's own records.

Job definitions carry several labels and env values, and manual runs several
params: protobuf maps with one entry serialize the same in every process, so a
replica that stored map entries in its own hash order only shows up in the
equal_digests checker when maps have several entries.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import grpc

from chaos.history import HistoryWriter
from wloadctl.client import Client, ClientCredentials, ClientError
from wloadctl.proto.v1 import jobs_pb2

# Outcome certainly not applied: the server refused before committing.
_DEFINITE_FAILURES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                      grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED}

RECORD = ('rec() { printf \'{"run":"%s","attempt":%s,"epoch":%s,"agent":"%s","event":"%s","time_ns":%s,'
          '"accepted_ns":%s}\\n\' "$WLOADCTL_RUN_ID" "$WLOADCTL_ATTEMPT" "$WLOADCTL_EPOCH" "$WLOADCTL_AGENT_ID" "$1" '
          '"$(date +%s%N)" "$WLOADCTL_ACCEPTED_NS" >> "$EXEC_DIR/exec-$WLOADCTL_AGENT_ID.jsonl"; }')


LABEL_KEYS = ("team", "tier", "zone", "owner", "app", "cost-center", "example.com/release")
ENV_KEYS = ("LOG_LEVEL", "REGION", "BATCH_SIZE", "TARGET_DB", "RETRY_MODE", "WORK_QUEUE", "FEATURE_FLAGS")
PARAM_KEYS = ("date", "region", "batch", "mode", "customer", "priority")


def _entries(rng: random.Random, keys: tuple[str, ...], low: int, high: int) -> dict[str, str]:
    """Between `low` and `high` entries with keys drawn from `keys` and values from `rng`."""
    return {k: f"v{rng.randrange(1000)}" for k in rng.sample(keys, rng.randint(low, high))}


def job_spec(name: str, n: int, rng: random.Random) -> jobs_pb2.JobSpec:
    """One job definition write of the workload: 3-5 labels and 3-5 env values."""
    return jobs_pb2.JobSpec(name=name, domain="chaos", labels={"n": str(n), **_entries(rng, LABEL_KEYS, 2, 4)},
                            env=_entries(rng, ENV_KEYS, 3, 5),
                            command=jobs_pb2.JobCommand(shell=f"echo {rng.random()}"))


def run_params(rng: random.Random) -> dict[str, str]:
    """The params of one manual run: 2-4 of them."""
    return _entries(rng, PARAM_KEYS, 2, 4)


def run_jobs(exec_dir: Path) -> list[jobs_pb2.JobSpec]:
    """Jobs whose processes record their own start and end."""
    def job(name: str, seconds: str) -> jobs_pb2.JobSpec:
        return jobs_pb2.JobSpec(name=name, domain="chaos", labels={"suite": "chaos", "job": name, "owner": "runner"},
                                env={"EXEC_DIR": str(exec_dir), "CHAOS_JOB": name, "CHAOS_SUITE": "chaos"},
                                command=jobs_pb2.JobCommand(shell=f"{RECORD}; rec start; sleep {seconds}; rec end"))

    return [job("chaos-short", "0.$((RANDOM % 5 + 1))"), job("chaos-long", "$((RANDOM % 3 + 2))")]


class Workload:
    def __init__(self, servers: list[str], history: HistoryWriter, seed: int, writes_per_s: float = 10,
                 runs_per_s: float = 2, credentials: ClientCredentials | None = None) -> None:
        self.servers = servers
        # An API key of its own (scheduling-admin in domain chaos): the matrix runs with authentication on.
        self.credentials = credentials
        self.history = history
        self.rng = random.Random(seed)
        self.writes_per_s = writes_per_s
        self.runs_per_s = runs_per_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for process, (target, rate) in enumerate(((self._writes, self.writes_per_s), (self._writes, self.writes_per_s),
                                                  (self._runs, self.runs_per_s))):
            t = threading.Thread(target=target, args=(process, rate, random.Random(self.rng.random())), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _call(self, process: int, f: str, key: str, value: dict[str, object], fn: object) -> dict[str, object] | None:
        index = self.history.invoke(process, f, key, value)
        try:
            result = fn()  # type: ignore[operator]
        except ClientError as e:
            kind = "fail" if e.code in _DEFINITE_FAILURES else "info"
            self.history.complete(index, kind, {**value, "error": f"{e.code.name}: {e.message}"[:300]})
            return None
        self.history.complete(index, "ok", {**value, **result})
        return result

    def _pace(self, rate: float, started: float, n: int) -> bool:
        delay = started + n / rate - time.monotonic()
        return not self._stop.wait(max(0.0, delay))

    def _writes(self, process: int, rate: float, rng: random.Random) -> None:
        with Client(self.servers, timeout=3, retry_for=5, credentials=self.credentials) as c:
            started, n = time.monotonic(), 0
            while self._pace(rate, started, n):
                n += 1
                name = f"j-{process}-{n}"
                spec = job_spec(name, n, rng)
                key = f"w-{process}-{n}"

                def apply(spec: jobs_pb2.JobSpec = spec, key: str = key) -> dict[str, object]:
                    return {"version": c.apply_jobs([spec], idempotency_key=key).jobs[0].version}

                self._call(process, "apply_job", key, {"name": name}, apply)

    def _runs(self, process: int, rate: float, rng: random.Random) -> None:
        with Client(self.servers, timeout=3, retry_for=5, credentials=self.credentials) as c:
            started, n = time.monotonic(), 0
            while self._pace(rate, started, n):
                n += 1
                job = rng.choice(["chaos-short", "chaos-short", "chaos-long"])
                params = run_params(rng)
                key = f"r-{process}-{n}"

                def trigger(job: str = job, key: str = key, params: dict[str, str] = params) -> dict[str, object]:
                    return {"run_id": c.trigger_run(job, params=params, idempotency_key=key).run_id}

                self._call(process, "trigger_run", key, {"job": job, "params": params}, trigger)

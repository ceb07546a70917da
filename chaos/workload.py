"""The chaos workload: job definition writes, manual runs and kills at a steady rate.

Every client operation is recorded invoke -> ok | fail | info. Each run's own
process appends its start, "alive" beats from a child process, and its end with
the work's exit code (run, attempt, epoch, agent, time) to a file on its agent,
so checkers judge outcomes by what the jobs did, not only by the cluster's own
records. One job ignores SIGTERM (only the agent's escalation to SIGKILL ends
it), so a kill that only signals the shell, or never escalates, leaves beats
behind. Some triggers and applies are sent twice with one idempotency key, as a
client retry would, and must get the same run or version.

Two workflows run beside the jobs (``workflows``): ``chaos-flow`` (a count publishing an output, a
switch choosing a big or a small branch by it, a big branch that fails now and then and is retried,
a publish that waits for ``chaos-settle``'s ``close`` of the same business date and fills templates,
a join after everything) and ``chaos-settle``; a fifth client triggers both for one business date
after another. Their tasks record their executions as the jobs do, with the task, its workflow run
and task attempt in each record.

Two readers (``READER_PROCESSES``), each with its own connection preferring another replica, read
the writers' job names at random (``get_job``: the version and spec digest, or absent), so that
``linearizable_jobs`` can check every name's reads against its writes across replicas.

Job definitions carry several labels and env values, and manual runs several
params: protobuf maps with one entry serialize the same in every process, so a
replica that stored map entries in its own hash order only shows up in the
equal_digests checker when maps have several entries.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import grpc

from chaos.history import HistoryWriter
from wloadctl.client import Client, ClientCredentials, ClientError
from wloadctl.proto.v1 import jobs_pb2, runs_pb2, workflows_pb2

# Outcome certainly not applied: the server refused before committing.
_DEFINITE_FAILURES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                      grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED}

# rec EVENT [CODE]: one JSON line, a single append (atomic for lines this short). A workflow task's
# records also name the task, its workflow run and task attempt; $CHAOS_EXTRA (a shell variable of
# the task's own script, e.g. ,"rows":"42") adds what the task wants to prove it saw.
RECORD = ('rec() { printf \'{"run":"%s","attempt":%s,"epoch":%s,"agent":"%s","event":"%s","time_ns":%s,'
          '"accepted_ns":%s,"slot":"%s"%s%s%s}\\n\' "$WLOADCTL_RUN_ID" "$WLOADCTL_ATTEMPT" "$WLOADCTL_EPOCH" '
          '"$WLOADCTL_AGENT_ID" "$1" "$(date +%s%N)" "$WLOADCTL_ACCEPTED_NS" "$WLOADCTL_SLOT_MS" '
          '"${2:+,\\"code\\":$2}" '
          '"${WLOADCTL_TASK:+,\\"task\\":\\"$WLOADCTL_TASK\\",\\"wrun\\":\\"$WLOADCTL_WORKFLOW_RUN\\",'
          '\\"task_attempt\\":$WLOADCTL_TASK_ATTEMPT}" "$CHAOS_EXTRA" '
          '>> "$EXEC_DIR/exec-$WLOADCTL_AGENT_ID.jsonl"; }')
BEAT_S = 0.2
# The work runs in the foreground; a child process beats while the job's process group lives.
# Its reaping is silenced so the job's output is exactly what the work printed. WORK_AT marks
# where the work goes (a name no variable of the records contains: WLOADCTL_WORKFLOW_RUN does "WORK").
WORK_AT = "@WORK@"
WORK = (f"{RECORD}; rec start; (while :; do rec alive; sleep {BEAT_S}; done) & beats=$!; "
        f"{WORK_AT}; code=$?; {{ kill -KILL $beats; wait $beats; }} 2>/dev/null; rec end $code")
# A workflow task's command: the same records, and the task's script ends with its work's exit code
# (a failed attempt must fail its run, so that the task's retry policy sees it).
TASK_WORK = WORK + "; exit $code"
# A random number 0-65535 in the tasks' shell (/bin/sh may be dash, which has no $RANDOM).
RANDOM_FN = "rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' \\n'; }"
OUTPUT_BYTES = 256 * 1024  # what chaos-output prints: more than the state's capped tail holds
SELECTED_ZONE = "a"        # chaos-picky runs only on agents labelled zone=a
# Every recorded job's work exits 0; the others end otherwise only by a fault, a kill or its timeout.
# Jobs fired by their schedules (every second, every 2 s): name -> (seconds between slots, misfire grace).
# chaos-cron keeps the defaults (run the latest late slot, 60 s grace: nothing is expected to be left
# out); chaos-cron-skip skips slots found more than 2 s late and forbids overlapping runs, so failovers
# and its 1-3 s runs leave misfires, each of which must be recorded.
SCHEDULED_JOBS = {"chaos-cron": (1, 60), "chaos-cron-skip": (2, 2)}
RECORDED_JOBS = frozenset({"chaos-short", "chaos-long", "chaos-stubborn", "chaos-timeout", "chaos-once",
                           "chaos-picky", "chaos-output", *SCHEDULED_JOBS})
# Triggered at random, weighted: mostly short runs.
RUN_MIX = ("chaos-short", "chaos-short", "chaos-short", "chaos-long", "chaos-stubborn", "chaos-timeout",
           "chaos-once", "chaos-picky", "chaos-output")

# Workflows (docs/workflows.md), in domain chaos, triggered by a client of their own for one business
# date after another: chaos-flow with param batch, and chaos-settle whose close chaos-flow's publish
# waits for (same business date, at most WAIT_TIMEOUT_S, then it runs anyway).
FLOW = "chaos-flow"
SETTLE = "chaos-settle"
WORKFLOWS = (FLOW, SETTLE)
# Each task's upstream tasks, as the specs below write them (the checker's model of the workflows).
WORKFLOW_TASKS: dict[str, dict[str, tuple[str, ...]]] = {
    FLOW: {"count": (), "route": ("count",), "big": ("route",), "small": ("route",), "publish": ("big", "small"),
           "join": ("publish",)},
    SETTLE: {"close": ()},
}
ROWS_SPLIT = 50            # route runs big when count's rows > ROWS_SPLIT, else small
BIG_FAIL_CODE = 75         # big fails with it on about a third of its attempts; retried on it alone
BIG_RETRIES = 2
RETRY_DELAY_S = 1
WAIT_TIMEOUT_S = 20        # publish's wait for chaos-settle's close, then it runs without it
WORKFLOW_PROCESS = 4       # the history process of the workflow client
BASE_DATE = date(2030, 1, 1)
SETTLE_SKIP_SHARE = 0.1    # of business dates: chaos-settle never triggered, so publish's wait times out
# The jobs the workflow tasks run as (WORKFLOW.TASK): recorded like RECORDED_JOBS; route is a switch.
WORKFLOW_TASK_JOBS = frozenset(f"{wf}.{task}" for wf, tasks in WORKFLOW_TASKS.items() for task in tasks
                               if task != "route")

REPEAT_SHARE = 0.1  # of acknowledged triggers and applies, sent again with the same key
KILL_SHARE = 0.1    # of acknowledged triggers of the longer jobs, killed at once
DELETE_SHARE = 0.1  # of definition writes: a delete of a name written before
BURST_SHARE = 0.05  # of trigger turns: BURST short runs at once, past the agents' free slots
BURST = 12
ACTIVE_STATES = frozenset({runs_pb2.PENDING, runs_pb2.QUEUED, runs_pb2.DISPATCHED, runs_pb2.RUNNING,
                           runs_pb2.RETRY_WAIT})
NAMES_PER_WRITER = 40  # names each writer updates again and again (per-name version histories)
WRITER_PROCESSES = (0, 1)  # the history processes of the two writers; their names are j-{process}-{k}
# The history processes of the two readers of those names. Reader i (from 0) lists the servers
# rotated by i + 1, so each prefers another replica (reads go to the first that answers).
READER_PROCESSES = (5, 6)
READS_PER_S = 20.0  # per reader

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
    """Jobs whose processes record their own start, beats and end (RECORDED_JOBS); their work always
    exits 0, so any other outcome needs a fault, a kill or a timeout to explain it."""
    def job(name: str, work: str, prologue: str = "", **fields: object) -> jobs_pb2.JobSpec:
        return jobs_pb2.JobSpec(name=name, domain="chaos", labels={"suite": "chaos", "job": name, "owner": "runner"},
                                env={"EXEC_DIR": str(exec_dir), "CHAOS_JOB": name, "CHAOS_SUITE": "chaos"},
                                command=jobs_pb2.JobCommand(shell=prologue + WORK.replace(WORK_AT, work)),
                                **fields)  # type: ignore[arg-type]

    # The longer ones outlive an agent's 3 s lease, so an agent cut off or crashed mid-run leaves
    # processes for the orphan policy to kill.
    return [job("chaos-short", "sleep 0.$((RANDOM % 5 + 1))"), job("chaos-long", "sleep $((RANDOM % 4 + 3))"),
            # An ignored signal stays ignored in every child, the beats and the sleep included.
            job("chaos-stubborn", "sleep $((RANDOM % 5 + 4))", prologue="trap '' TERM; "),
            job("chaos-timeout", "sleep 4", timeout_seconds=1),
            job("chaos-once", "sleep 1", lost_policy=jobs_pb2.FAIL, max_attempts=1),
            job("chaos-picky", "sleep 0.5", agent_selector={"zone": SELECTED_ZONE}),
            job("chaos-output", f"head -c {OUTPUT_BYTES} /dev/zero | tr '\\0' x"),
            job("chaos-cron", "sleep 0.2", schedules=[jobs_pb2.Schedule(cron="* * * * * *")]),
            job("chaos-cron-skip", "sleep $((RANDOM % 3 + 1))", schedules=[jobs_pb2.Schedule(cron="*/2 * * * * *")],
                misfire=jobs_pb2.MisfirePolicy(action=jobs_pb2.MISFIRE_SKIP, grace_seconds=2),
                overlap=jobs_pb2.OVERLAP_FORBID)]


def workflows(exec_dir: Path) -> list[workflows_pb2.WorkflowSpec]:
    """chaos-flow and chaos-settle (WORKFLOW_TASKS): every command task records its start, beats and
    end like the recorded jobs, with its task, workflow run and task attempt, and exits with its
    work's exit code. count publishes rows (1-100) and records them; route chooses big (rows >
    ROWS_SPLIT) or small; big exits BIG_FAIL_CODE on about a third of its attempts and is retried
    BIG_RETRIES times, RETRY_DELAY_S apart, on that code alone; publish (none-failed) waits for
    chaos-settle's close of its business date (WAIT_TIMEOUT_S, then it runs anyway) and records the
    rows and batch its templates gave it; join runs after publish whatever it did (all-done)."""
    def task(wf: str, name: str, work: str, prologue: str = "", **fields: object) -> workflows_pb2.WorkflowTask:
        shell = f"{RANDOM_FN}; {prologue}" + TASK_WORK.replace(WORK_AT, work)
        return workflows_pb2.WorkflowTask(
            name=name, depends_on=WORKFLOW_TASKS[wf][name], command=jobs_pb2.JobCommand(shell=shell),
            env={"EXEC_DIR": str(exec_dir), "CHAOS_JOB": f"{wf}.{name}", "CHAOS_SUITE": "chaos"},
            **fields)  # type: ignore[arg-type]

    labels = {"suite": "chaos", "owner": "runner"}
    settle = workflows_pb2.WorkflowSpec(
        name=SETTLE, domain="chaos", labels=labels, keep_runs=1000,
        # 0-2.9 s: sometimes publish finds the close done, sometimes it is held until it ends
        tasks=[task(SETTLE, "close", "sleep $(($(rnd) % 3)).$(($(rnd) % 10))")])
    flow = workflows_pb2.WorkflowSpec(
        name=FLOW, domain="chaos", labels=labels, keep_runs=1000, params={"batch": "0"},
        tasks=[
            task(FLOW, "count", 'echo "::set-output rows=$rows"; sleep 0.2',
                 prologue='rows=$(($(rnd) % 100 + 1)); CHAOS_EXTRA=",\\"rows\\":\\"$rows\\""; '),
            workflows_pb2.WorkflowTask(
                name="route", depends_on=WORKFLOW_TASKS[FLOW]["route"],
                cases=[workflows_pb2.SwitchCase(when=f"tasks.count.outputs.rows > {ROWS_SPLIT}", run=["big"]),
                       workflows_pb2.SwitchCase(run=["small"])]),
            task(FLOW, "big", f"(sleep 0.3; [ $(($(rnd) % 3)) -ne 0 ] || exit {BIG_FAIL_CODE})",
                 retry=workflows_pb2.RetryPolicy(attempts=BIG_RETRIES, delay_seconds=RETRY_DELAY_S,
                                                 exit_codes=[BIG_FAIL_CODE])),
            task(FLOW, "small", "sleep 0.2"),
            task(FLOW, "publish", "sleep 0.2",
                 prologue="rows='{{ tasks.count.outputs.rows }}'; batch='{{ params.batch }}'; "
                          'CHAOS_EXTRA=",\\"rows\\":\\"$rows\\",\\"batch\\":\\"$batch\\""; ',
                 trigger_rule=workflows_pb2.NONE_FAILED,
                 wait_for=[workflows_pb2.ExternalDependency(workflow=SETTLE, task="close", business_days=0,
                                                            timeout_seconds=WAIT_TIMEOUT_S, on_timeout="run")]),
            task(FLOW, "join", "sleep 0.1", trigger_rule=workflows_pb2.ALL_DONE),
        ])
    return [settle, flow]


def spec_digest(spec: jobs_pb2.JobSpec) -> str:
    """What a definition write decides and a read must give back: labels, env and command."""
    fields = {"labels": dict(spec.labels), "env": dict(spec.env), "shell": spec.command.shell}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def rotated(servers: list[str], by: int) -> list[str]:
    """``servers`` starting at index ``by`` (modulo their number), the ones before it at the end."""
    if not servers:
        return []
    by %= len(servers)
    return servers[by:] + servers[:by]


ABSENT: dict[str, object] = {"absent": True}  # a get_job's answer for a name with no definition


class Workload:
    def __init__(self, servers: list[str], history: HistoryWriter, seed: int, writes_per_s: float = 10,
                 runs_per_s: float = 2, credentials: ClientCredentials | None = None,
                 workflows_per_s: float = 0.5, reads_per_s: float = READS_PER_S) -> None:
        self.servers = servers
        # An API key of its own (scheduling-admin in domain chaos): the matrix runs with authentication on.
        self.credentials = credentials
        self.history = history
        self.rng = random.Random(seed)
        self.writes_per_s = writes_per_s
        self.runs_per_s = runs_per_s
        self.workflows_per_s = workflows_per_s  # business dates per second (0: no workflow runs)
        self.reads_per_s = reads_per_s  # get_job reads per second of each reader (0: no readers)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        # Two writers and two triggering clients (processes 0-3 of the history), each its own connection.
        plan = ((self._writes, self.writes_per_s), (self._writes, self.writes_per_s),
                (self._runs, self.runs_per_s / 2), (self._runs, self.runs_per_s / 2))
        for process, (target, rate) in enumerate(plan):
            t = threading.Thread(target=target, args=(process, rate, random.Random(self.rng.random())), daemon=True)
            t.start()
            self._threads.append(t)
        if self.workflows_per_s > 0:  # the workflows' client: process WORKFLOW_PROCESS
            t = threading.Thread(target=self._workflow_runs, daemon=True,
                                 args=(WORKFLOW_PROCESS, self.workflows_per_s, random.Random(self.rng.random())))
            t.start()
            self._threads.append(t)
        # The readers' seeds are drawn last, so the other clients' seeds are what they were without them.
        for i, process in enumerate(READER_PROCESSES if self.reads_per_s > 0 else ()):
            t = threading.Thread(target=self._reads, daemon=True,
                                 args=(process, self.reads_per_s, random.Random(self.rng.random()),
                                       rotated(self.servers, i + 1)))
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _call(self, process: int, f: str, key: str, value: dict[str, object], fn: object,
              answers: dict[grpc.StatusCode, dict[str, object]] | None = None) -> dict[str, object] | None:
        """Record ``fn()`` as one operation: ok with what it returns, or fail/info by its error's code.

        An error whose code is in ``answers`` is an answer, not a failure: ok with that result (a
        read's NOT_FOUND means the job is absent)."""
        index = self.history.invoke(process, f, key, value)
        try:
            result = fn()  # type: ignore[operator]
        except ClientError as e:
            if answers is not None and e.code in answers:
                self.history.complete(index, "ok", {**value, **answers[e.code]})
                return answers[e.code]
            kind = "fail" if e.code in _DEFINITE_FAILURES else "info"
            self.history.complete(index, kind, {**value, "error": f"{e.code.name}: {e.message}"[:300]})
            return None
        self.history.complete(index, "ok", {**value, **result})
        return result

    def _pace(self, rate: float, started: float, n: int) -> bool:
        delay = started + n / rate - time.monotonic()
        return not self._stop.wait(max(0.0, delay))

    def _writes(self, process: int, rate: float, rng: random.Random) -> None:
        """Updates and deletes of a fixed set of names, so each name has a version history."""
        written: set[str] = set()
        with Client(self.servers, timeout=3, retry_for=5, credentials=self.credentials) as c:
            started, n = time.monotonic(), 0
            while self._pace(rate, started, n):
                n += 1
                name = f"j-{process}-{rng.randrange(NAMES_PER_WRITER)}"
                key = f"w-{process}-{n}"
                if name in written and rng.random() < DELETE_SHARE:
                    def delete(name: str = name, key: str = key) -> dict[str, object]:
                        return {"version": c.delete_job(name, idempotency_key=key).job.version}

                    if self._call(process, "delete_job", key, {"name": name}, delete) is not None:
                        written.discard(name)
                    continue
                spec = job_spec(name, n, rng)

                def apply(spec: jobs_pb2.JobSpec = spec, key: str = key) -> dict[str, object]:
                    return {"version": c.apply_jobs([spec], idempotency_key=key).jobs[0].version}

                value = {"name": name, "spec": spec_digest(spec)}
                if self._call(process, "apply_job", key, value, apply) is None:
                    continue
                written.add(name)
                if rng.random() < REPEAT_SHARE:  # a client retry: the same version, not a second write
                    self._call(process, "apply_job", key, {**value, "repeat": True}, apply)

    def _reads(self, process: int, rate: float, rng: random.Random, servers: list[str]) -> None:
        """get_job of the writers' names at random, through a client that prefers ``servers[0]``."""
        with Client(servers, timeout=3, retry_for=5, credentials=self.credentials) as c:
            started, n = time.monotonic(), 0
            while self._pace(rate, started, n):
                n += 1
                self._read_job(process, c, f"j-{rng.choice(WRITER_PROCESSES)}-{rng.randrange(NAMES_PER_WRITER)}")

    def _read_job(self, process: int, c: Client, name: str) -> None:
        """One recorded get_job: ok {"version", "spec"} or {"absent": true} (NOT_FOUND: never written
        or deleted), else fail or info as for writes. Reads carry no idempotency key."""
        def read() -> dict[str, object]:
            job = c.get_job(name)
            if job.deleted:  # a tombstone is absent too, should a replica ever answer with one
                return dict(ABSENT)
            return {"version": job.version, "spec": spec_digest(job.spec)}

        self._call(process, "get_job", "", {"name": name}, read, answers={grpc.StatusCode.NOT_FOUND: ABSENT})

    def _runs(self, process: int, rate: float, rng: random.Random) -> None:
        outputs: list[str] = []  # runs of chaos-output whose logs are read back once they are final
        with Client(self.servers, timeout=3, retry_for=5, credentials=self.credentials) as c:
            started, n = time.monotonic(), 0
            while self._pace(rate, started, n):
                n += 1
                if outputs:
                    self._read_logs(process, c, outputs, n)
                burst = rng.random() < BURST_SHARE
                for i in range(BURST if burst else 1):
                    job = "chaos-short" if burst else rng.choice(RUN_MIX)
                    self._trigger(process, c, rng, job, f"r-{process}-{n}" + (f"-{i}" if burst else ""), outputs)

    def _trigger(self, process: int, c: Client, rng: random.Random, job: str, key: str, outputs: list[str]) -> None:
        params = run_params(rng)

        def trigger() -> dict[str, object]:
            return {"run_id": c.trigger_run(job, params=params, idempotency_key=key).run_id}

        done = self._call(process, "trigger_run", key, {"job": job, "params": params}, trigger)
        if done is None:
            return
        run_id = str(done["run_id"])
        if rng.random() < REPEAT_SHARE:  # a client retry: the same run, not a second one
            self._call(process, "trigger_run", key, {"job": job, "params": params, "repeat": True}, trigger)
        if job == "chaos-output":
            outputs.append(run_id)
        elif job != "chaos-short" and rng.random() < KILL_SHARE:
            def kill() -> dict[str, object]:
                return {"state": runs_pb2.RunState.Name(c.kill_run(run_id, idempotency_key="k-" + key).state)}

            self._call(process, "kill_run", "k-" + key, {"run_id": run_id}, kill)

    def _workflow_runs(self, process: int, rate: float, rng: random.Random) -> None:
        """For business date after business date (each used once; where they start depends on the
        seed): chaos-flow (param batch = n) and chaos-settle, in a random order and a little apart,
        each with an idempotency key, some sent twice with it (the same workflow run must come
        back). On SETTLE_SKIP_SHARE of the dates chaos-settle is not triggered: publish's wait times out."""
        first = BASE_DATE + timedelta(days=rng.randrange(36500))
        with Client(self.servers, timeout=3, retry_for=5, credentials=self.credentials) as c:
            started, n = time.monotonic(), 0
            while self._pace(rate, started, n):
                n += 1
                day = (first + timedelta(days=n)).isoformat()
                order = [FLOW, SETTLE] if rng.random() < 0.5 else [SETTLE, FLOW]
                if rng.random() < SETTLE_SKIP_SHARE:
                    order.remove(SETTLE)
                for i, workflow in enumerate(order):
                    if i and self._stop.wait(rng.uniform(0, 1.5)):
                        return
                    params = {"batch": str(n)} if workflow == FLOW else {}
                    self._run_workflow(process, c, rng, workflow, params, day, f"wf-{process}-{n}-{workflow}")

    def _run_workflow(self, process: int, c: Client, rng: random.Random, workflow: str, params: dict[str, str],
                      day: str, key: str) -> None:
        def trigger() -> dict[str, object]:
            return {"wrun_id": c.run_workflow(workflow, params=params, business_date=day, idempotency_key=key).id}

        value: dict[str, object] = {"workflow": workflow, "business_date": day}
        if params:
            value["params"] = params
        if self._call(process, "run_workflow", key, value, trigger) is not None and rng.random() < REPEAT_SHARE:
            self._call(process, "run_workflow", key, {**value, "repeat": True}, trigger)

    def _read_logs(self, process: int, c: Client, outputs: list[str], n: int) -> None:
        """The whole output of the oldest chaos-output run, once it has ended."""
        run_id = outputs[0]
        try:
            run = c.get_run(run_id)
        except ClientError:
            return
        if run.state in ACTIVE_STATES:
            return
        outputs.pop(0)
        if run.state != runs_pb2.SUCCEEDED:
            return

        def read() -> dict[str, object]:
            size, offset, answer = 0, 0, None
            for _ in range(64):  # bounded: 256 KiB in pages of the server's default size
                answer = c.get_run_logs(run_id, offset=offset)
                size += len(answer.data)
                offset = answer.next_offset
                if answer.complete or not answer.data:
                    break
            assert answer is not None
            return {"bytes": size, "complete": answer.complete, "source": answer.source}

        self._call(process, "read_logs", f"l-{process}-{n}", {"run_id": run_id}, read)

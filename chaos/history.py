"""Records of a chaos run and their loaders.

A results directory holds (each optional; a missing file reads as empty in ``RunData.load``):

``history.jsonl``
    The workload's client history, one event a line::

        {"index": 17, "process": 3, "type": "invoke", "f": "apply_job", "key": "k-17",
         "value": {"name": "j-3-17", "spec_hash": "..."}, "time": 12.5}

    Every line has its own ``index``, strictly increasing through the file (``HistoryWriter``
    allocates them under one lock). A completion (``ok``, ``fail`` or ``info``) repeats the
    ``process``, ``f`` and ``key`` of its invoke and carries only what the outcome adds in
    ``value`` (``{"version": 4}``, ``{"run_id": "r12"}``, ``{"jobs": {...}}``). Completions are
    paired with invokes by ``process``: a process has at most one operation in flight, and an
    invoke that is never completed, or whose process invokes again first, reads as ``info``.
    Operations (``f``): ``apply_job`` and ``delete_job`` (the writers), ``get_job`` (the readers,
    ``{"name": ...}``; ``ok`` with ``{"version": 3, "spec": "<digest>"}``, or ``{"absent": true}``
    when the job does not exist: NOT_FOUND is an answer, not a failure; a read has no idempotency
    key), ``trigger_run``, ``kill_run``, ``read_logs``, ``run_workflow`` and the runner's final
    ``read_jobs``.
``executions.jsonl``
    Written by the job's own process, not by the cluster::

        {"run": "r12", "attempt": 1, "epoch": 3, "agent": "a1", "event": "start", "time_ns": ...,
         "accepted_ns": ...}

    ``event`` is ``start`` (first thing the process does), ``alive`` (a beat about every 0.2 s
    while it runs) or ``end`` (its work finished; ``"code"`` is the work's exit code, 0 = clean).
    ``accepted_ns`` is when the agent accepted the assignment; ``code`` is absent from files written
    before it existed and reads as None. A workflow task's records add ``"task"``, ``"wrun"`` (its
    workflow run) and ``"task_attempt"``, and some tasks what they saw (``"rows"``, ``"batch"``);
    records without them (a job's, or older files) read them as "" and 0.
``agent_epochs.jsonl``
    ``{"agent": "a1", "epoch": 3, "time_ns": ...}`` (adopted) or
    ``{"agent": "a1", "rejected_epoch": 2, "highest": 3, "time_ns": ...}`` (stale message refused).
``final_runs.jsonl``
    ``{"run_id": "r12", "job": "...", "state": "SUCCEEDED", "attempt": 2, "idempotency_key": "r-2-17",
    "transitions": [{"state": "DISPATCHED", "time_ms": ..., "attempt": 2, "agent": "a1", "epoch": 3,
    "cause": "placed on a1"}, ...]}``; integers may be decimal strings, as protobuf's JSON mapping
    writes 64-bit fields, and empty or zero fields may be absent (``idempotency_key`` and ``cause``
    read as ""). A workflow task's run also has ``"workflow_run_id"`` and ``"task"`` ("" otherwise).
``workflow_runs.jsonl``
    One workflow run a line, as the cluster left it, with its tasks::

        {"id": "w3", "workflow": "chaos-flow", "state": "WF_SUCCEEDED", "business_date": "2030-01-02",
         "params": {"batch": "1"}, "created_ms": ..., "ended_ms": ..., "cause": "...",
         "tasks": [{"name": "big", "state": "TASK_SUCCEEDED", "run_id": "r40", "previous_run_ids": ["r31"],
                    "attempt": 2, "reason": "", "chosen": [], "waiting_for": "", ...}, ...]}
``digests.json``
    ``{"r1": [applied_index, "hex"], ...}``, one entry per replica.

Malformed input raises ``HistoryError`` naming the file and line, never a bare KeyError, so a
broken run is diagnosed from the message alone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

HISTORY_FILE = "history.jsonl"
EXECUTIONS_FILE = "executions.jsonl"
EPOCHS_FILE = "agent_epochs.jsonl"
FINAL_RUNS_FILE = "final_runs.jsonl"
DIGESTS_FILE = "digests.json"
SCHEDULES_FILE = "schedules.json"
WORKFLOW_RUNS_FILE = "workflow_runs.jsonl"

EventType = Literal["invoke", "ok", "fail", "info"]
OutcomeType = Literal["ok", "fail", "info"]
EVENT_TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")
OUTCOME_TYPES: tuple[str, ...] = ("ok", "fail", "info")
EXECUTION_EVENTS: tuple[str, ...] = ("start", "alive", "end")


class HistoryError(ValueError):
    """A record file is malformed; the message starts with ``file:line:`` when the line is known."""

    def __init__(self, message: str, source: str | Path | None = None, line: int | None = None) -> None:
        self.source = str(source) if source is not None else None
        self.line = line
        where = self.source or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    index: int
    process: int
    type: str  # one of EVENT_TYPES
    f: str
    key: str
    value: dict[str, Any]
    time: float
    line: int = field(default=0, compare=False)  # line in the source file, for error messages


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation: an invoke and its outcome.

    ``complete_index``/``complete_time`` are None when no completion was recorded (then ``type``
    is ``info``). ``value`` is what the invoke sent, ``result`` what the completion added.
    """

    process: int
    f: str
    key: str
    type: str  # one of OUTCOME_TYPES
    invoke_index: int
    complete_index: int | None
    invoke_time: float
    complete_time: float | None
    value: dict[str, Any]
    result: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        """A field of the operation, preferring what the completion reported over what was sent."""
        if name in self.result:
            return self.result[name]
        return self.value.get(name, default)


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    run: str
    attempt: int
    epoch: int
    agent: str
    event: str  # one of EXECUTION_EVENTS
    time_ns: int
    accepted_ns: int = 0  # when the agent accepted the assignment (its fencing decision); 0 = unknown
    code: int | None = None  # exit code of the job's work, on "end" records; None = not recorded
    slot_ms: int = 0  # the schedule slot the job was told it runs for (WLOADCTL_SLOT_MS); 0 = none
    task: str = ""  # a workflow task's records: its task (WLOADCTL_TASK), "" = not a task's
    wrun: str = ""  # its workflow run (WLOADCTL_WORKFLOW_RUN)
    task_attempt: int = 0  # its task attempt (WLOADCTL_TASK_ATTEMPT; the run's own attempt is ``attempt``)
    rows: str = ""  # what the task recorded it saw: rows counted or passed on by a template ("" = none)
    batch: str = ""


@dataclass(frozen=True, slots=True)
class EpochAdopted:
    agent: str
    epoch: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class EpochRejected:
    agent: str
    rejected_epoch: int
    highest: int
    time_ns: int


EpochRecord = EpochAdopted | EpochRejected


@dataclass(frozen=True, slots=True)
class Transition:
    state: str
    time_ms: int
    attempt: int = 0
    agent: str = ""
    epoch: int = 0
    cause: str = ""  # why the state machine made this transition, as it wrote it


@dataclass(frozen=True, slots=True)
class FinalRun:
    run_id: str
    job: str
    state: str
    attempt: int
    transitions: tuple[Transition, ...] = ()
    idempotency_key: str = ""  # the key of the trigger that created the run; "" = none given
    slot_ms: int = 0           # the schedule slot that fired it; 0 = not fired by a schedule
    created_ms: int = 0
    workflow_run_id: str = ""  # a workflow task's run: its workflow run and task ("" = not a task's)
    task: str = ""


@dataclass(frozen=True, slots=True)
class MisfireRecord:
    first_slot_ms: int
    last_slot_ms: int
    count: int
    reason: str


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """One scheduled job of the workload as the cluster left it (after it was suspended)."""

    job: str
    every_ms: int              # its slots are this far apart
    grace_ms: int
    last_slot_ms: int          # the last slot the cluster decided (fired or recorded as a misfire)
    fired: int
    misfired: int
    misfires: tuple[MisfireRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task of a workflow run as the cluster left it."""

    name: str
    state: str                 # TASK_SUCCEEDED, TASK_FAILED, TASK_SKIPPED (final) or another TaskState name
    run_id: str = ""           # its last run ("" = it never ran: skipped, a switch)
    previous_run_ids: tuple[str, ...] = ()  # the runs of its earlier attempts
    attempt: int = 0           # 1 for the first run, + 1 per retry
    reason: str = ""
    chosen: tuple[str, ...] = ()  # a switch: the tasks of the case it chose
    waiting_for: str = ""
    started_ms: int = 0
    ended_ms: int = 0
    exit_code: int = 0

    @property
    def runs(self) -> tuple[str, ...]:
        """Its runs in order, one per task attempt."""
        return (*self.previous_run_ids, self.run_id) if self.run_id else self.previous_run_ids


@dataclass(frozen=True, slots=True)
class WorkflowRunRecord:
    """One workflow run as the cluster left it, with its tasks."""

    wrun_id: str
    workflow: str
    state: str                 # WF_RUNNING, WF_SUCCEEDED, WF_FAILED, WF_KILLED
    business_date: str = ""
    params: dict[str, str] = field(default_factory=dict)
    created_ms: int = 0
    ended_ms: int = 0
    cause: str = ""
    tasks: tuple[TaskRecord, ...] = ()

    def task(self, name: str) -> TaskRecord | None:
        return next((t for t in self.tasks if t.name == name), None)


@dataclass(frozen=True, slots=True)
class Digest:
    applied_index: int
    digest: str


# --- parsing helpers -----------------------------------------------------------------------------

_MISSING: Any = object()


class _Fields:
    """Typed access to one parsed object so every error names the file, the line and the field."""

    def __init__(self, obj: dict[str, Any], source: str, line: int | None, what: str = "") -> None:
        self.obj = obj
        self.source = source
        self.line = line
        self.what = what  # prefix for nested objects, e.g. "transitions[2]."

    def error(self, message: str) -> HistoryError:
        return HistoryError(message, self.source, self.line)

    def _get(self, name: str, default: Any) -> Any:
        if name in self.obj:
            return self.obj[name]
        if default is _MISSING:
            raise self.error(f"missing field {(self.what + name)!r}")
        return default

    def get_int(self, name: str, default: Any = _MISSING, *, decimal_str: bool = False) -> int:
        value = self._get(name, default)
        if decimal_str and isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        # bool is an int subclass, and true/false in an integer field is a writer bug
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(f"field {(self.what + name)!r} must be an integer, got {value!r}")
        return value

    def get_number(self, name: str) -> float:
        value = self._get(name, _MISSING)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(f"field {(self.what + name)!r} must be a number, got {value!r}")
        return float(value)

    def get_str(self, name: str, default: Any = _MISSING, *, choices: tuple[str, ...] = ()) -> str:
        value = self._get(name, default)
        if not isinstance(value, str):
            raise self.error(f"field {(self.what + name)!r} must be a string, got {value!r}")
        if choices and value not in choices:
            raise self.error(f"field {(self.what + name)!r} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def get_dict(self, name: str, default: Any = _MISSING) -> dict[str, Any]:
        value = self._get(name, default)
        if not isinstance(value, dict):
            raise self.error(f"field {(self.what + name)!r} must be an object, got {value!r}")
        return value

    def get_list(self, name: str, default: Any = _MISSING) -> list[Any]:
        value = self._get(name, default)
        if not isinstance(value, list):
            raise self.error(f"field {(self.what + name)!r} must be a list, got {value!r}")
        return value


def _iter_jsonl(path: Path | str) -> Iterator[_Fields]:
    """Each non-blank line of a JSON Lines file as a parsed object."""
    source = str(path)
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            # decode per line so a bad byte is reported with its line, not as a bare UnicodeDecodeError
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise HistoryError(f"not UTF-8: {exc.reason}", source, lineno) from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise HistoryError(f"invalid JSON: {exc.msg} at column {exc.colno}", source, lineno) from None
            if not isinstance(obj, dict):
                raise HistoryError(f"expected a JSON object, got {type(obj).__name__}", source, lineno)
            yield _Fields(obj, source, lineno)


# --- loaders -------------------------------------------------------------------------------------


def load_history(path: Path | str) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    for rec in _iter_jsonl(path):
        event = HistoryEvent(
            index=rec.get_int("index"),
            process=rec.get_int("process"),
            type=rec.get_str("type", choices=EVENT_TYPES),
            f=rec.get_str("f"),
            key=rec.get_str("key", ""),  # reads carry no idempotency key
            value=rec.get_dict("value", {}),
            time=rec.get_number("time"),
            line=rec.line or 0,
        )
        if not event.f:
            raise rec.error("field 'f' must not be empty")
        # pairing relies on file order being event order, which the writer guarantees by index
        if events and event.index <= events[-1].index:
            raise rec.error(f"index {event.index} does not follow index {events[-1].index} (line {events[-1].line})")
        events.append(event)
    return events


def load_executions(path: Path | str) -> list[ExecutionRecord]:
    return [
        ExecutionRecord(
            run=rec.get_str("run"),
            attempt=rec.get_int("attempt"),
            epoch=rec.get_int("epoch"),
            agent=rec.get_str("agent"),
            event=rec.get_str("event", choices=EXECUTION_EVENTS),
            time_ns=rec.get_int("time_ns"),
            accepted_ns=rec.get_int("accepted_ns") if "accepted_ns" in rec.obj else 0,
            # null as well as absent: a writer may know the record is an end but not the code
            code=rec.get_int("code") if rec.obj.get("code") is not None else None,
            slot_ms=int(rec.obj["slot"]) if str(rec.obj.get("slot", "")).isdigit() else 0,
            task=rec.get_str("task", ""),
            wrun=rec.get_str("wrun", ""),
            task_attempt=rec.get_int("task_attempt", 0, decimal_str=True),
            rows=_text(rec, "rows"),
            batch=_text(rec, "batch"),
        )
        for rec in _iter_jsonl(path)
    ]


def _text(rec: _Fields, name: str) -> str:
    """A value a task recorded as it saw it: a string, or a number written without quotes."""
    value = rec.obj.get(name, "")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise rec.error(f"field {name!r} must be a string or an integer, got {value!r}")
    return str(value)


def load_agent_epochs(path: Path | str) -> list[EpochRecord]:
    records: list[EpochRecord] = []
    for rec in _iter_jsonl(path):
        adopted, rejected = "epoch" in rec.obj, "rejected_epoch" in rec.obj
        if adopted == rejected:
            raise rec.error("expected exactly one of 'epoch' (adopted) or 'rejected_epoch' (refused)")
        if adopted:
            records.append(EpochAdopted(rec.get_str("agent"), rec.get_int("epoch"), rec.get_int("time_ns")))
        else:
            records.append(EpochRejected(rec.get_str("agent"), rec.get_int("rejected_epoch"), rec.get_int("highest"),
                                         rec.get_int("time_ns")))
    return records


def load_final_runs(path: Path | str) -> list[FinalRun]:
    runs: list[FinalRun] = []
    seen: dict[str, int] = {}
    for rec in _iter_jsonl(path):
        transitions: list[Transition] = []
        for i, raw in enumerate(rec.get_list("transitions", [])):
            what = f"transitions[{i}]."
            if not isinstance(raw, dict):
                raise rec.error(f"{what[:-1]} must be an object, got {raw!r}")
            t = _Fields(raw, rec.source, rec.line, what)
            # proto3 JSON omits zero values, so only state and time are required
            transitions.append(Transition(
                state=t.get_str("state"),
                time_ms=t.get_int("time_ms", decimal_str=True),
                attempt=t.get_int("attempt", 0, decimal_str=True),
                agent=t.get_str("agent", ""),
                epoch=t.get_int("epoch", 0, decimal_str=True),
                cause=t.get_str("cause", ""),
            ))
        run = FinalRun(
            run_id=rec.get_str("run_id"),
            job=rec.get_str("job", ""),
            state=rec.get_str("state"),
            attempt=rec.get_int("attempt", 0, decimal_str=True),
            transitions=tuple(transitions),
            idempotency_key=rec.get_str("idempotency_key", ""),
            slot_ms=rec.get_int("slot_ms", 0, decimal_str=True),
            created_ms=rec.get_int("created_ms", 0, decimal_str=True),
            workflow_run_id=rec.get_str("workflow_run_id", ""),
            task=rec.get_str("task", ""),
        )
        if run.run_id in seen:
            raise rec.error(f"run {run.run_id} already reported on line {seen[run.run_id]}")
        seen[run.run_id] = rec.line or 0
        runs.append(run)
    return runs


def load_digests(path: Path | str) -> dict[str, Digest]:
    source = str(path)
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HistoryError(f"invalid JSON: {exc.msg} at column {exc.colno}", source, exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"not UTF-8: {exc.reason}", source) from None
    if not isinstance(obj, dict):
        raise HistoryError(f"expected a JSON object of replica -> [applied_index, digest], got {type(obj).__name__}",
                           source)
    digests: dict[str, Digest] = {}
    for replica, entry in obj.items():
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], int)
                or isinstance(entry[0], bool) or not isinstance(entry[1], str)):
            raise HistoryError(f"replica {replica!r}: expected [applied_index, \"hex\"], got {entry!r}", source)
        digests[replica] = Digest(entry[0], entry[1])
    return digests


def pair_operations(history: Iterable[HistoryEvent], source: str = HISTORY_FILE) -> list[Operation]:
    """Pair each invoke with its completion by process; the result is ordered by invoke index.

    An invoke with no completion, or superseded by another invoke of the same process, becomes an
    ``info`` operation (outcome unknown). A completion with no open invoke on its process, or one
    whose ``f``/``key`` differ from that invoke, raises ``HistoryError``.
    """
    open_invokes: dict[int, HistoryEvent] = {}
    ops: list[Operation] = []
    for ev in history:
        if ev.type == "invoke":
            abandoned = open_invokes.pop(ev.process, None)
            if abandoned is not None:
                ops.append(_operation(abandoned, None))
            open_invokes[ev.process] = ev
            continue
        inv = open_invokes.pop(ev.process, None)
        if inv is None:
            raise HistoryError(f"{ev.type} completion (index {ev.index}) for process {ev.process}, "
                               "which has no open invoke", source, ev.line or None)
        if (inv.f, inv.key) != (ev.f, ev.key):
            raise HistoryError(f"{ev.type} completion (index {ev.index}) is {ev.f} key {ev.key!r} but the open "
                               f"invoke of process {ev.process} (index {inv.index}) is {inv.f} key {inv.key!r}",
                               source, ev.line or None)
        ops.append(_operation(inv, ev))
    ops.extend(_operation(inv, None) for inv in open_invokes.values())
    ops.sort(key=lambda op: op.invoke_index)
    return ops


def _operation(inv: HistoryEvent, done: HistoryEvent | None) -> Operation:
    return Operation(
        process=inv.process,
        f=inv.f,
        key=inv.key,
        type=done.type if done is not None else "info",
        invoke_index=inv.index,
        complete_index=done.index if done is not None else None,
        invoke_time=inv.time,
        complete_time=done.time if done is not None else None,
        value=inv.value,
        result=done.value if done is not None else {},
    )


# --- writer --------------------------------------------------------------------------------------


class HistoryWriter:
    """Thread-safe appender of ``history.jsonl`` for the workload.

    Each line is written and flushed under one lock, so indexes increase through the file and a
    crash of the workload loses at most the line being written. Appending to an existing file
    continues after its last index; invokes left open by an earlier writer read back as ``info``.
    """

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        existing = load_history(self.path) if self.path.exists() else []
        self._next = existing[-1].index + 1 if existing else 0
        self._open: dict[int, tuple[int, str, str]] = {}  # invoke index -> (process, f, key)
        self._latest: dict[int, int] = {}  # process -> its open invoke index
        self._file: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the writer

    def invoke(self, process: int, f: str, key: str, value: dict[str, Any] | None = None) -> int:
        """Record an invoke and return its index, to be passed to ``complete``."""
        with self._lock:
            index = self._next
            self._append({"index": index, "process": process, "type": "invoke", "f": f, "key": key,
                          "value": value or {}, "time": self._clock()})
            superseded = self._latest.get(process)
            if superseded is not None:
                # the reader pairs by process, so the earlier invoke can no longer be completed
                del self._open[superseded]
            self._open[index] = (process, f, key)
            self._latest[process] = index
            return index

    def complete(self, index: int, type: OutcomeType, value: dict[str, Any] | None = None) -> None:
        """Record the outcome of the invoke ``index``: ok, fail (not applied) or info (unknown)."""
        if type not in OUTCOME_TYPES:
            raise ValueError(f"completion type must be one of {', '.join(OUTCOME_TYPES)}, got {type!r}")
        with self._lock:
            if index not in self._open:
                raise ValueError(f"no open invoke with index {index} (never invoked, already completed, "
                                 "or superseded by a later invoke of its process)")
            process, f, key = self._open[index]
            self._append({"index": self._next, "process": process, "type": type, "f": f, "key": key,
                          "value": value or {}, "time": self._clock()})
            del self._open[index]
            del self._latest[process]

    def _append(self, record: dict[str, Any]) -> None:
        # serialise before touching the file or the counters so an unencodable value changes nothing
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        if self._file.closed:
            raise ValueError(f"{self.path}: history writer is closed")
        self._file.write(line)
        self._file.flush()
        self._next += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def load_schedules(path: Path | str) -> list[ScheduleRecord]:
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise HistoryError(f"not JSON: {e}", path) from None
    if not isinstance(raw, dict):
        raise HistoryError("expected an object keyed by job name", path)
    out = []
    for job, obj in sorted(raw.items()):
        f = _Fields(obj, str(path), None, f"{job}.")
        misfires = []
        for i, m in enumerate(f.get_list("misfires", [])):
            mf = _Fields(m, str(path), None, f"{job}.misfires[{i}].")
            misfires.append(MisfireRecord(mf.get_int("first_slot_ms"), mf.get_int("last_slot_ms"),
                                          mf.get_int("count"), mf.get_str("reason")))
        out.append(ScheduleRecord(job=job, every_ms=f.get_int("every_ms"), grace_ms=f.get_int("grace_ms"),
                                  last_slot_ms=f.get_int("last_slot_ms"), fired=f.get_int("fired"),
                                  misfired=f.get_int("misfired"), misfires=tuple(misfires)))
    return out


def _str_list(f: _Fields, name: str) -> tuple[str, ...]:
    values = f.get_list(name, [])
    if not all(isinstance(v, str) for v in values):
        raise f.error(f"field {(f.what + name)!r} must be a list of strings, got {values!r}")
    return tuple(values)


def load_workflow_runs(path: Path | str) -> list[WorkflowRunRecord]:
    """``workflow_runs.jsonl``: one workflow run a line, each id once."""
    runs: list[WorkflowRunRecord] = []
    seen: dict[str, int] = {}
    for rec in _iter_jsonl(path):
        tasks: list[TaskRecord] = []
        for i, raw in enumerate(rec.get_list("tasks", [])):
            what = f"tasks[{i}]."
            if not isinstance(raw, dict):
                raise rec.error(f"{what[:-1]} must be an object, got {raw!r}")
            t = _Fields(raw, rec.source, rec.line, what)
            tasks.append(TaskRecord(
                name=t.get_str("name"), state=t.get_str("state"), run_id=t.get_str("run_id", ""),
                previous_run_ids=_str_list(t, "previous_run_ids"),
                attempt=t.get_int("attempt", 0, decimal_str=True), reason=t.get_str("reason", ""),
                chosen=_str_list(t, "chosen"), waiting_for=t.get_str("waiting_for", ""),
                started_ms=t.get_int("started_ms", 0, decimal_str=True),
                ended_ms=t.get_int("ended_ms", 0, decimal_str=True),
                exit_code=t.get_int("exit_code", 0, decimal_str=True)))
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise rec.error(f"a task is listed twice: {sorted(n for n in set(names) if names.count(n) > 1)}")
        params = rec.get_dict("params", {})
        if not all(isinstance(v, str) for v in params.values()):
            raise rec.error(f"field 'params' must map names to strings, got {params!r}")
        run = WorkflowRunRecord(
            wrun_id=rec.get_str("id"), workflow=rec.get_str("workflow"), state=rec.get_str("state"),
            business_date=rec.get_str("business_date", ""), params=dict(params),
            created_ms=rec.get_int("created_ms", 0, decimal_str=True),
            ended_ms=rec.get_int("ended_ms", 0, decimal_str=True), cause=rec.get_str("cause", ""),
            tasks=tuple(tasks))
        if run.wrun_id in seen:
            raise rec.error(f"workflow run {run.wrun_id} already reported on line {seen[run.wrun_id]}")
        seen[run.wrun_id] = rec.line or 0
        runs.append(run)
    return runs

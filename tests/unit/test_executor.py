"""The agent's executor with real processes: output, exit codes, env, timeouts, kills, shutdown."""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wloadctl.agent.executor import ExecError, ExecEvent, ExecSpec, Executor
from wloadctl.agent.logstore import LogStore, truncation_marker

WAIT = 15.0  # generous deadline for conditions; tests finish long before it unless broken


def alive(pid: int) -> bool:
    """Whether pid is a live process. Orphans are zombies until PID 1 reaps them (some never do): dead enough."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(pred: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    # Polls state the test cannot be notified of (another process's death); never a fixed sleep.
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Recorder:
    """on_event sink that tests can wait on."""

    def __init__(self) -> None:
        self.events: list[ExecEvent] = []
        self.cond = threading.Condition()
        self.hooks: list[Callable[[ExecEvent], None]] = []

    def __call__(self, event: ExecEvent) -> None:
        for hook in self.hooks:
            hook(event)
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[], bool], timeout: float = WAIT, what: str = "event") -> None:
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise AssertionError(f"timed out waiting for {what}; events so far: {self.events}")

    def of(self, run_id: str, attempt: int = 1) -> list[ExecEvent]:
        with self.cond:
            return [e for e in self.events if e.run_id == run_id and e.attempt == attempt]

    def finished(self, run_id: str, attempt: int = 1, timeout: float = WAIT) -> ExecEvent:
        self.wait_for(lambda: any(e.kind == "finished" for e in self.of(run_id, attempt)), timeout,
                      f"{run_id}-{attempt} to finish")
        return next(e for e in self.of(run_id, attempt) if e.kind == "finished")

    def output(self, run_id: str, attempt: int = 1, stream: str | None = None) -> bytes:
        return b"".join(e.data for e in self.of(run_id, attempt)
                        if e.kind == "output" and (stream is None or e.stream == stream))

    def wait_output(self, run_id: str, needle: bytes, attempt: int = 1) -> bytes:
        self.wait_for(lambda: needle in self.output(run_id, attempt), what=f"{needle!r} from {run_id}")
        return self.output(run_id, attempt)


class Harness:
    def __init__(self, tmp_path: Path, **kwargs: object) -> None:
        store_kwargs = {k: kwargs.pop(k) for k in ["max_bytes_per_run"] if k in kwargs}
        self.work_dir = tmp_path / "work"
        self.logs = LogStore(tmp_path / "logs", **store_kwargs)  # type: ignore[arg-type]
        self.rec = Recorder()
        kwargs.setdefault("kill_grace", 0.5)
        self.ex = Executor(self.work_dir, self.logs, self.rec, **kwargs)  # type: ignore[arg-type]

    def run(self, spec: ExecSpec) -> ExecEvent:
        self.ex.start(spec)
        return self.rec.finished(spec.run_id, spec.attempt)

    def log(self, run_id: str, attempt: int = 1) -> bytes:
        chunk = self.logs.read(run_id, attempt, limit=1 << 30)
        assert chunk.complete
        return chunk.data


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(**kwargs: object) -> Harness:
        h = Harness(tmp_path / str(len(made)), **kwargs)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.ex.shutdown(kill_running=True)
        assert h.ex.running() == []
        h.logs.close()


@pytest.fixture
def h(make: Callable[..., Harness]) -> Harness:
    return make()


def kinds(events: list[ExecEvent]) -> list[str]:
    return [e.kind for e in events]


def test_argv_run(h: Harness) -> None:
    fin = h.run(ExecSpec("argv", 1, argv=("/bin/echo", "hello", "world")))
    assert (fin.exit_code, fin.error, fin.timed_out, fin.killed) == (0, "", False, False)
    events = h.rec.of("argv")
    assert kinds(events)[0] == "started" and kinds(events)[-1] == "finished"
    assert set(kinds(events[1:-1])) == {"output"}
    assert events[0].pid > 0 and fin.pid == events[0].pid
    assert h.rec.output("argv", stream="stdout") == b"hello world\n"
    assert h.log("argv") == b"hello world\n"
    assert not alive(fin.pid)


def test_shell_run_streams_and_exit_code(h: Harness) -> None:
    script = "for i in $(seq 1 300); do echo out$i; echo err$i >&2; done; exit 3"
    fin = h.run(ExecSpec("sh", 2, shell=script))
    assert fin.exit_code == 3
    out = b"".join(f"out{i}\n".encode() for i in range(1, 301))
    err = b"".join(f"err{i}\n".encode() for i in range(1, 301))
    assert h.rec.output("sh", 2, "stdout") == out
    assert h.rec.output("sh", 2, "stderr") == err
    log = h.log("sh", 2)
    # the log interleaves the streams in arrival order: each stream's lines keep their order
    lines = log.splitlines(keepends=True)
    assert b"".join(x for x in lines if x.startswith(b"out")) == out
    assert b"".join(x for x in lines if x.startswith(b"err")) == err
    # and the events carry exactly the log's bytes in the same order
    assert b"".join(e.data for e in h.rec.of("sh", 2) if e.kind == "output") == log


def test_exit_by_signal(h: Harness) -> None:
    assert h.run(ExecSpec("sig", 1, shell="kill -USR1 $$")).exit_code == -signal.SIGUSR1


def test_env_and_params(make: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WLOADCTL_TEST_AGENT_SECRET", "must-not-leak")
    h = make()
    script = ('echo "$FOO|$WLOADCTL_PARAM_MY_KEY|$WLOADCTL_PARAM_X_Y_Z|$WLOADCTL_RUN_ID|$WLOADCTL_ATTEMPT|'
              '${WLOADCTL_TEST_AGENT_SECRET-unset}"; test -n "$PATH"')
    spec = ExecSpec("env", 4, shell=script, env={"FOO": "bar baz"}, params={"my-key": "v1", "x.y z": "2"})
    assert h.run(spec).exit_code == 0
    assert h.rec.output("env", 4) == b"bar baz|v1|2|env|4|unset\n"


def test_default_working_dir_created(h: Harness) -> None:
    assert h.run(ExecSpec("wd", 3, argv=("pwd",))).exit_code == 0
    expected = h.work_dir / "runs" / "wd-3"
    assert expected.is_dir()
    assert h.rec.output("wd", 3) == f"{expected}\n".encode()


def test_custom_working_dir(h: Harness, tmp_path: Path) -> None:
    custom = tmp_path / "custom dir"
    custom.mkdir()
    assert h.run(ExecSpec("cwd", 1, shell="pwd", working_dir=str(custom))).exit_code == 0
    assert h.rec.output("cwd") == f"{custom}\n".encode()


def test_bad_executable(h: Harness) -> None:
    fin = h.run(ExecSpec("bad", 1, argv=("/nonexistent/program", "x")))
    assert fin.exit_code == 127 and "/nonexistent/program" in fin.error
    assert kinds(h.rec.of("bad")) == ["finished"]  # never started
    assert b"failed to start" in h.log("bad")
    fin = h.run(ExecSpec("bad-path", 1, argv=("no-such-command-wloadctl",)))
    assert fin.exit_code == 127 and fin.error


def test_not_executable(h: Harness, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    fin = h.run(ExecSpec("noexec", 1, argv=(str(script),)))
    assert fin.exit_code == 126 and fin.error


def test_missing_working_dir(h: Harness, tmp_path: Path) -> None:
    fin = h.run(ExecSpec("nowd", 1, argv=("/bin/true",), working_dir=str(tmp_path / "missing")))
    assert fin.exit_code == 126 and "missing" in fin.error
    assert kinds(h.rec.of("nowd")) == ["finished"]


def test_timeout_terminates(h: Harness) -> None:
    t0 = time.monotonic()
    fin = h.run(ExecSpec("slow", 1, argv=("sleep", "30"), timeout_seconds=1))
    assert fin.timed_out and not fin.killed
    assert fin.exit_code in (-signal.SIGTERM, -signal.SIGKILL)
    assert 0.9 < time.monotonic() - t0 < 10


def test_timeout_escalates_to_kill(h: Harness) -> None:
    # ignoring TERM is inherited by sleep: only the SIGKILL after kill_grace (0.5 s) ends the group
    fin = h.run(ExecSpec("stubborn", 1, shell="trap '' TERM; sleep 30; echo survived", timeout_seconds=1))
    assert fin.timed_out and fin.exit_code == -signal.SIGKILL
    assert b"survived" not in h.log("stubborn")


def test_injected_clock_does_not_drive_timeouts(make: Callable[..., Harness]) -> None:
    ticks = iter(range(10**6))
    h = make(clock=lambda: 1_000_000.0 + next(ticks) * 3600)  # an hour per reading: jumps mean nothing
    fin = h.run(ExecSpec("clock", 1, shell="echo hi", timeout_seconds=5))
    assert not fin.timed_out and fin.exit_code == 0
    times = [e.time for e in h.rec.of("clock")]
    assert times == sorted(times) and times[0] >= 1_000_000.0


def test_kill_reaches_grandchildren(h: Harness) -> None:
    h.ex.start(ExecSpec("tree", 1, shell="sleep 30 & echo $!; wait"))
    grandchild = int(h.rec.wait_output("tree", b"\n"))  # arrives before exit: flushed by the timer
    assert alive(grandchild)
    assert [r[:2] for r in h.ex.running()] == [("tree", 1)]
    assert h.ex.kill("tree", 1)
    fin = h.rec.finished("tree")
    assert fin.killed and not fin.timed_out and fin.exit_code == -signal.SIGTERM
    wait_until(lambda: not alive(grandchild), what="the grandchild to die")
    assert not h.ex.kill("tree", 1)
    assert h.ex.running() == []


def test_kill_reaches_grandchild_ignoring_term(make: Callable[..., Harness]) -> None:
    # the leader dies of TERM at once; a grandchild that ignores TERM (and no longer holds the pipes)
    # must still get the KILL after the grace, while "finished" is not held back by it
    h = make(kill_grace=1.5)
    h.ex.start(ExecSpec("stray", 1, shell="(trap '' TERM; exec sleep 30 >/dev/null 2>&1) & echo $!; sleep 30"))
    grandchild = int(h.rec.wait_output("stray", b"\n"))
    t0 = time.monotonic()
    assert h.ex.kill("stray", 1)
    fin = h.rec.finished("stray")
    if time.monotonic() - t0 < 1.2:  # on a sane machine: reported before the KILL was due
        assert alive(grandchild)
    assert fin.killed and fin.exit_code == -signal.SIGTERM
    wait_until(lambda: not alive(grandchild), what="the KILL of the stray grandchild")


def test_kill_unknown_run(h: Harness) -> None:
    assert not h.ex.kill("never-started", 1)


def test_kill_with_zero_grace(make: Callable[..., Harness]) -> None:
    h = make(kill_grace=60)  # finishing well before the default grace shows grace=0 was honoured
    h.ex.start(ExecSpec("hard", 1, shell="trap '' TERM; echo ready; sleep 30"))
    h.rec.wait_output("hard", b"ready")
    t0 = time.monotonic()
    assert h.ex.kill("hard", 1, grace=0)
    fin = h.rec.finished("hard")
    assert fin.killed and fin.exit_code == -signal.SIGKILL and time.monotonic() - t0 < 10


def test_kill_before_spawn(make: Callable[..., Harness]) -> None:
    h = make(max_workers=1)
    gate = threading.Event()
    # hold the only spawn thread inside the "started" callback of a first run
    h.rec.hooks.append(lambda e: gate.wait(WAIT) if (e.kind, e.run_id) == ("started", "blocker") else None)
    h.ex.start(ExecSpec("blocker", 1, argv=("/bin/true",)))
    h.ex.start(ExecSpec("queued", 1, argv=("/bin/echo", "must not run")))
    assert ("queued", 1, 0) in [r[:3] for r in h.ex.running()]
    assert h.ex.kill("queued", 1)
    gate.set()
    fin = h.rec.finished("queued")
    assert fin.killed and fin.pid == 0 and kinds(h.rec.of("queued")) == ["finished"]
    assert h.rec.finished("blocker").exit_code == 0
    assert b"must not run" not in h.log("queued")


def test_empty_run(h: Harness) -> None:
    fin = h.run(ExecSpec("nothing", 1, empty=True))
    events = h.rec.of("nothing")
    assert kinds(events) == ["started", "finished"]
    assert all(e.pid == 0 for e in events) and fin.exit_code == 0 and not fin.error
    chunk = h.logs.read("nothing", 1)
    assert chunk.found and chunk.complete and chunk.data == b""
    assert not (h.work_dir / "runs" / "nothing-1").exists()


BIG_WRITER = """
import random, sys
data = random.Random(7).randbytes(int(sys.argv[1]))
out, pos, n = sys.stdout.buffer, 0, 1
while pos < len(data):  # writes of varied sizes, from 1 byte to ~100 kB
    out.write(data[pos:pos + n])
    pos += n
    n = n * 3 % 100003 + 1
"""


def test_large_output_not_lost_and_chunked(h: Harness) -> None:
    size = 5 * 1024 * 1024
    fin = h.run(ExecSpec("big", 1, argv=(sys.executable, "-c", BIG_WRITER, str(size))))
    assert fin.exit_code == 0
    chunks = [e.data for e in h.rec.of("big") if e.kind == "output"]
    assert all(0 < len(c) <= 32768 for c in chunks)
    data = b"".join(chunks)
    assert data == random.Random(7).randbytes(size)
    assert h.log("big") == data


def test_small_chunks_and_coalescing(make: Callable[..., Harness]) -> None:
    h = make(chunk_bytes=1000, flush_interval=5.0)
    # 200 separate small writes: coalesced into 1000-byte events, the rest flushed at EOF, not per write
    fin = h.run(ExecSpec("small", 1, shell="for i in $(seq 1000 1199); do echo line$i; done"))
    assert fin.exit_code == 0
    chunks = [e.data for e in h.rec.of("small") if e.kind == "output"]
    expected = b"".join(f"line{i}\n".encode() for i in range(1000, 1200))
    assert b"".join(chunks) == expected
    assert [len(c) for c in chunks[:-1]] == [1000] * (len(expected) // 1000)


def test_truncation_of_log_and_events(make: Callable[..., Harness]) -> None:
    h = make(max_bytes_per_run=1000)
    fin = h.run(ExecSpec("trunc", 1, shell="head -c 5000 /dev/zero | tr '\\0' x; echo tail >&2"))
    assert fin.exit_code == 0
    expected = b"x" * 1000 + truncation_marker(1000)
    assert h.log("trunc") == expected
    assert h.rec.output("trunc") == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="run_as needs an agent running as root")
def test_run_as_nobody(h: Harness, tmp_path: Path) -> None:
    fin = h.run(ExecSpec("as", 1, shell='id -un; echo "$USER $LOGNAME"; touch owned; stat -c %U owned',
                         run_as="nobody"))
    assert fin.exit_code == 0, h.log("as")
    assert h.rec.output("as", stream="stdout") == b"nobody\nnobody nobody\nnobody\n"

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    fin = h.run(ExecSpec("as-private", 1, argv=("pwd",), run_as="nobody", working_dir=str(private)))
    assert fin.exit_code == 126 and "nobody" in fin.error

    fin = h.run(ExecSpec("as-ghost", 1, argv=("true",), run_as="no-such-user-wloadctl"))
    assert fin.exit_code == 126 and "no such user" in fin.error


def test_run_as_refused_without_root(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h.ex, "_is_root", False)
    with pytest.raises(ExecError):
        h.ex.start(ExecSpec("as", 1, argv=("id",), run_as="nobody"))
    assert h.ex.running() == []


def test_run_as_the_agents_own_user_needs_no_root(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # runAs naming the agent's own user changes nothing, so an agent that is not root runs it (as
    # itself, with no setuid/setgroups, which would fail without root) instead of refusing it.
    monkeypatch.setattr(h.ex, "_is_root", False)
    me = pwd.getpwuid(os.geteuid()).pw_name
    fin = h.run(ExecSpec("as-me", 1, shell='echo "$USER"', run_as=me))
    assert fin.exit_code == 0 and not fin.error, h.log("as-me")
    assert h.rec.output("as-me", stream="stdout") == f"{me}\n".encode()


def test_malformed_specs_refused(h: Harness) -> None:
    for spec in [ExecSpec("both", 1, argv=("true",), shell="true"), ExecSpec("neither", 1),
                 ExecSpec("../escape", 1, argv=("true",)), ExecSpec("neg", -1, argv=("true",))]:
        with pytest.raises(ExecError):
            h.ex.start(spec)
    assert h.ex.running() == []


def test_duplicate_start_refused(h: Harness) -> None:
    h.ex.start(ExecSpec("dup", 1, shell="echo ready; sleep 30"))
    h.rec.wait_output("dup", b"ready")
    with pytest.raises(ExecError):
        h.ex.start(ExecSpec("dup", 1, argv=("/bin/true",)))
    h.ex.start(ExecSpec("dup", 2, argv=("/bin/true",)))  # another attempt is another run
    assert h.rec.finished("dup", 2).exit_code == 0
    h.ex.kill("dup", 1)
    assert h.rec.finished("dup", 1).killed


def test_restart_from_finished_callback(h: Harness) -> None:
    # on_event is never called under an internal lock: it may call back into the executor
    def again(e: ExecEvent) -> None:
        if e.kind == "finished" and e.attempt == 1:
            assert h.ex.running() == []
            h.ex.start(ExecSpec(e.run_id, 1 + e.attempt, argv=("/bin/true",)))

    h.rec.hooks.append(again)
    h.ex.start(ExecSpec("chain", 1, argv=("/bin/true",)))
    assert h.rec.finished("chain", 2).exit_code == 0


def test_grandchild_holding_stdout(h: Harness) -> None:
    # the child exits at once but its background sleep keeps stdout open: finish kill_grace later anyway
    t0 = time.monotonic()
    fin = h.run(ExecSpec("holder", 1, shell="sleep 30 & echo $!"))
    elapsed = time.monotonic() - t0
    grandchild = int(h.rec.output("holder"))
    try:
        assert fin.exit_code == 0 and not fin.killed
        assert 0.4 < elapsed < 10
        assert h.log("holder") == f"{grandchild}\n".encode()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(grandchild, signal.SIGKILL)


def test_without_pidfd(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # kernels before 5.3: a waiter thread per run (waitid WNOWAIT) replaces the pidfd
    monkeypatch.setattr(h.ex, "_has_pidfd", False)
    assert h.run(ExecSpec("nopidfd", 1, shell="echo hi; exit 5")).exit_code == 5
    assert h.rec.output("nopidfd") == b"hi\n"
    h.ex.start(ExecSpec("nopidfd-kill", 1, shell="sleep 30 & echo $!; wait"))
    grandchild = int(h.rec.wait_output("nopidfd-kill", b"\n"))
    assert h.ex.kill("nopidfd-kill", 1)
    assert h.rec.finished("nopidfd-kill").exit_code == -signal.SIGTERM
    wait_until(lambda: not alive(grandchild), what="the grandchild to die")
    assert h.run(ExecSpec("nopidfd-slow", 1, argv=("sleep", "30"), timeout_seconds=1)).timed_out


def test_many_concurrent_runs(h: Harness) -> None:
    for i in range(60):
        h.ex.start(ExecSpec(f"many{i}", 1, shell=f"echo {i}; exit {i % 5}"))
    for i in range(60):
        fin = h.rec.finished(f"many{i}")
        assert fin.exit_code == i % 5 and h.rec.output(f"many{i}") == f"{i}\n".encode()
        assert kinds(h.rec.of(f"many{i}")) == ["started", "output", "finished"]


def test_shutdown_kills_everything(make: Callable[..., Harness]) -> None:
    h = make()
    h.ex.start(ExecSpec("s1", 1, shell="sleep 30 & echo $!; wait"))
    h.ex.start(ExecSpec("s2", 1, shell="trap '' TERM; (sleep 30 & echo $!; wait) & echo $!; wait"))
    h.ex.start(ExecSpec("s3", 1, argv=("sleep", "30")))
    pids = [int(h.rec.wait_output("s1", b"\n"))]
    h.rec.wait_for(lambda: h.rec.output("s2").count(b"\n") == 2)
    pids += [int(x) for x in h.rec.output("s2").split()]
    h.rec.wait_for(lambda: len(h.ex.running()) == 3 and all(r[2] for r in h.ex.running()))
    pids += [r[2] for r in h.ex.running()]
    assert all(alive(p) for p in pids)

    h.ex.shutdown(kill_running=True)
    # every run finished (events delivered) before shutdown returned
    for run in ("s1", "s2", "s3"):
        assert kinds(h.rec.of(run))[-1] == "finished" and h.rec.of(run)[-1].killed
    assert h.rec.of("s2")[-1].exit_code == -signal.SIGKILL
    wait_until(lambda: not any(alive(p) for p in pids), what="every process of the runs to die")
    with pytest.raises(ExecError):
        h.ex.start(ExecSpec("late", 1, argv=("/bin/true",)))
    h.ex.shutdown(kill_running=True)  # idempotent


def test_shutdown_detaches(h: Harness) -> None:
    h.ex.start(ExecSpec("detached", 1, shell="echo ready; exec sleep 30"))
    h.rec.wait_output("detached", b"ready")
    pid = h.ex.running()[0][2]
    h.ex.shutdown(kill_running=False)
    try:
        assert alive(pid)
        assert h.ex.running() == []
        assert kinds(h.rec.of("detached"))[-1] != "finished"
        assert b"detached" in h.log("detached")
    finally:
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # subprocess's own cleanup may have reaped it
            os.waitpid(pid, 0)


def test_no_fd_or_thread_leak(tmp_path: Path) -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    threads_before = set(threading.enumerate())
    h = Harness(tmp_path)
    for i in range(20):
        h.ex.start(ExecSpec(f"leak{i}", 1, shell="echo out; echo err >&2"))
    h.ex.start(ExecSpec("leak-bad", 1, argv=("/nonexistent",)))
    h.ex.start(ExecSpec("leak-killed", 1, shell="echo ready; sleep 30"))
    h.rec.wait_output("leak-killed", b"ready")
    h.ex.kill("leak-killed", 1)
    for i in range(20):
        h.rec.finished(f"leak{i}")
    h.ex.shutdown(kill_running=True)
    h.logs.close()
    wait_until(lambda: set(threading.enumerate()) <= threads_before, what="executor threads to exit")
    assert set(os.listdir("/proc/self/fd")) <= fds_before

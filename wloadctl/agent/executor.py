"""Runs job processes on the agent and reports what they do as a stream of events.

Threads:

* a small pool spawns processes (``Popen`` costs a fork+exec; a thread pool with subprocess
  was measured at about twice the rate of asyncio's subprocess support);
* one reactor thread owns every running process after the spawn: it reads all pipes through a
  selector, sees exits through pidfds, enforces timeouts and kill escalations, writes the log
  and emits ``output``/``finished`` events.

``on_event`` is called from those threads (``started`` from a pool thread, the rest from the
reactor), never from the caller of ``start()``/``kill()`` and never under an internal lock, so it may
call back into the executor. It should be quick (hand the event to a queue): while it runs, the
reactor reads no output and enforces no timeout.

A direct child is left unreaped (a zombie) until the run is finished with, so its pid, which is
also its process group id, cannot be reused: ``killpg`` can never hit an unrelated group.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import os
import pwd
import re
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from wloadctl.agent.logstore import LogStore, LogWriter, truncation_marker, validate_run
from wloadctl.model.outputs import OutputCollector

log = logging.getLogger(__name__)

EXIT_NOT_FOUND = 127  # shell convention: command not found
EXIT_CANNOT_RUN = 126  # shell convention: found but cannot be run (and: bad user, bad working dir)
_PARAM_CHARS = re.compile(r"[^A-Z0-9_]")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_READ_SIZE = 1 << 16  # one pipe buffer: a single read empties a full pipe


_SETPRIV = shutil.which("setpriv") or ""
# Runs the job in the background of its own process group and kills that group when the
# kernel reports the agent's death (SIGUSR2 via pdeathsig); the job's exit status passes through.
# pdeathsig is set in the child after the fork: an agent that died before that (killed while it
# spawned) never signals, so the guard first checks that its parent is still the agent ($1) and
# otherwise exits without starting the job (the chaos matrix found such a job running on beside its
# retry, seed 15).
_GUARD_SCRIPT = 'trap "kill -KILL 0" USR2; [ "$PPID" = "$1" ] || exit 125; shift; "$@" & wait $!'


class ExecError(Exception):
    """A run cannot be accepted at all (duplicate, malformed spec, executor shut down)."""


@dataclass(frozen=True)
class ExecSpec:
    run_id: str
    attempt: int
    argv: tuple[str, ...] = ()
    shell: str = ""
    # Holds secrets' values (Assignment.secret_env): kept out of repr, so no log line or traceback
    # that shows a spec shows them.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    params: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""
    timeout_seconds: int = 0
    run_as: str = ""
    empty: bool = False


@dataclass(frozen=True)
class ExecEvent:
    kind: str  # "started" | "output" | "finished"
    run_id: str
    attempt: int
    time: float
    pid: int = 0
    stream: str = ""
    data: bytes = b""
    exit_code: int = 0
    timed_out: bool = False
    killed: bool = False
    error: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)


def own_user() -> str:
    """The name of the user this process runs as (its uid as text when it has no passwd entry)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # containers: a uid without an entry, which no runAs can name
        return str(os.geteuid())


def _as_user(user: pwd.struct_passwd) -> tuple[list[str], dict[str, object]]:
    """How to start a process as ``user`` (from root, without root's supplementary groups): an argv
    prefix, or Popen arguments.

    setpriv when there is one: Popen then keeps using vfork. Popen(user=...) has to fork(), and a
    fork of the agent (gRPC threads running) runs gRPC's fork handlers in the child, which abort it
    now and then before the job starts (SIGABRT, "Check failed: next_worker->state == KICKED":
    8 of 60 runAs runs on a root agent)."""
    if _SETPRIV:
        return [_SETPRIV, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"], {}
    return [], {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def param_env_name(key: str) -> str:
    return "WLOADCTL_PARAM_" + _PARAM_CHARS.sub("_", key.upper())


class _SpawnError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Run:
    """One accepted run. Fields marked (lock) are shared with start()/kill(); the rest belong to one thread
    at a time: the pool thread until the run is handed to the reactor, the reactor afterwards."""

    def __init__(self, spec: ExecSpec, accepted_at: float) -> None:
        self.spec = spec
        self.key = (spec.run_id, spec.attempt)
        self.state = "pending"  # (lock) pending -> spawning -> running; removed from the table when finished
        self.kill_grace: float | None = None  # (lock) set by kill(): a request the owner has to act on
        self.pid = 0  # (lock)
        self.started_at = accepted_at  # (lock)
        self.proc: subprocess.Popen[bytes] | None = None
        self.writer: LogWriter | None = None
        self.write_failed = False
        self.pidfd: int | None = None
        # open pipe read ends: fd -> (stream name, the file object that owns the fd). Closing goes through
        # the file object: an os.close() behind its back would let it close a reused fd number later.
        self.fds: dict[int, tuple[str, BinaryIO]] = {}
        self.status: int | None = None  # exit code (-N for signal N) once the direct child exited
        self.deadline: float | None = None  # monotonic timeout
        self.pipe_deadline: float | None = None  # monotonic: stop waiting for EOF held by a grandchild
        self.timed_out = False
        self.killed = False
        self.term_sent = False
        self.kill_at: float | None = None  # monotonic: SIGKILL the group
        self.kill_sent = False
        self.pending = bytearray()  # output not yet emitted, all from pending_stream
        self.pending_stream = ""
        self.flush_at: float | None = None
        self.event_bytes = 0  # output bytes offered to events, to mirror the log's truncation
        self.events_truncated = False
        self.done = False
        self.outputs = OutputCollector()  # `::set-output` lines on stdout


class Executor:
    def __init__(self, work_dir: Path, logs: LogStore, on_event: Callable[[ExecEvent], None], *,
                 max_workers: int = 16, kill_grace: float = 10.0, chunk_bytes: int = 32768,
                 flush_interval: float = 0.1, clock: Callable[[], float] = time.time,
                 die_with_agent: bool = False) -> None:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        # Jobs run in their own session, so a killed agent would leave them running while the
        # leader retries them elsewhere. With die_with_agent each job runs under a guard shell
        # that the kernel signals when the agent dies (setpriv --pdeathsig) and that then kills
        # the job's whole process group.
        self._guard = [_SETPRIV, "--pdeathsig", "USR2", "--", "/bin/sh", "-c", _GUARD_SCRIPT, "wloadctl-guard"] \
            if die_with_agent and _SETPRIV else []
        if die_with_agent and not _SETPRIV:
            log.warning("setpriv not found: jobs will outlive a killed agent (install util-linux)")
        self.work_dir = Path(work_dir)
        self._logs = logs
        self._on_event = on_event
        self._kill_grace = kill_grace
        self._chunk = chunk_bytes
        self._flush_interval = flush_interval
        self._clock = clock
        self._base_env = {"PATH": os.environ.get("PATH", _DEFAULT_PATH)}
        for name in ("HOME", "LANG"):
            if name in os.environ:
                self._base_env[name] = os.environ[name]
        self._is_root = os.geteuid() == 0
        self._user = own_user()
        self._has_pidfd = hasattr(os, "pidfd_open")

        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified whenever a run leaves the table
        self._runs: dict[tuple[str, int], _Run] = {}  # (lock)
        self._incoming: deque[_Run] = deque()  # (lock) spawned, to be adopted by the reactor
        self._exited: deque[_Run] = deque()  # (lock) exit seen by a fallback waiter thread (no pidfd)
        self._dirty: set[_Run] = set()  # (lock) runs with a new kill request
        self._closed = False  # (lock) no new work
        self._stopping = False  # (lock) the reactor should return
        self._detach = False  # (lock) ... without finishing its runs

        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="wloadctl-spawn")
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        # reactor-owned from here on
        self._active: set[_Run] = set()  # adopted, not finished
        self._timers: list[tuple[float, int, str, _Run | None]] = []
        self._seq = itertools.count()
        self._lingering: list[tuple[float, subprocess.Popen[bytes]]] = []
        self._reactor = threading.Thread(target=self._reactor_main, name="wloadctl-exec-reactor", daemon=True)
        self._reactor.start()

    # ----------------------------------------------------------------------------------------- public

    def start(self, spec: ExecSpec) -> None:
        """Accept a run; everything after this (including a failure to spawn) arrives as events."""
        try:
            validate_run(spec.run_id, spec.attempt)
        except ValueError as e:
            raise ExecError(str(e)) from e
        if not spec.empty and bool(spec.argv) == bool(spec.shell):
            raise ExecError(f"run {spec.run_id}-{spec.attempt}: exactly one of argv and shell must be given")
        if spec.run_as and not spec.empty and not self._is_root and spec.run_as != self._user:
            raise ExecError(f"run {spec.run_id}-{spec.attempt}: run_as={spec.run_as!r} needs an agent running as root")
        if spec.timeout_seconds < 0:
            raise ExecError(f"run {spec.run_id}-{spec.attempt}: negative timeout")
        run = _Run(spec, self._clock())
        with self._lock:
            if self._closed:
                raise ExecError("executor is shut down")
            if run.key in self._runs:
                raise ExecError(f"run {spec.run_id} attempt {spec.attempt} is already running")
            self._runs[run.key] = run
        try:
            self._pool.submit(self._launch, run)
        except RuntimeError as e:  # the pool shut down between the check and here
            with self._lock:
                self._runs.pop(run.key, None)
            raise ExecError("executor is shut down") from e

    def kill(self, run_id: str, attempt: int, grace: float | None = None) -> bool:
        """TERM the run's process group, KILL it after ``grace`` (default kill_grace). False if not running."""
        grace = self._kill_grace if grace is None else max(grace, 0.0)
        with self._lock:
            run = self._runs.get((run_id, attempt))
            if run is None:
                return False
            run.kill_grace = grace if run.kill_grace is None else min(run.kill_grace, grace)
            if run.state != "pending":  # a pending run is cancelled by its pool thread
                self._dirty.add(run)
        self._wake()
        return True

    def running(self) -> list[tuple[str, int, int, float]]:
        """(run_id, attempt, pid, started_at) of every accepted, unfinished run; pid is 0 until spawned."""
        with self._lock:
            return [(r.spec.run_id, r.spec.attempt, r.pid, r.started_at) for r in self._runs.values()]

    def shutdown(self, kill_running: bool) -> None:
        """Stop accepting work. Runs not spawned yet finish as killed without starting.

        kill_running: TERM every process group, KILL after kill_grace, and return once every run has
        finished (events delivered). Otherwise detach: leave the processes running, close the pipes
        and logs (a child writing to stdout afterwards gets SIGPIPE) and emit no more events.
        """
        with self._lock:
            already = self._closed
            self._closed = True
            if kill_running:
                for run in self._runs.values():
                    if run.kill_grace is None:
                        run.kill_grace = self._kill_grace
                    if run.state != "pending":
                        self._dirty.add(run)
        if already and not self._reactor.is_alive():
            return
        self._wake()
        self._pool.shutdown(wait=True)  # pending runs see _closed and finish as cancelled
        if kill_running:
            # TERM, kill_grace, KILL, then at most kill_grace for pipes: bounded unless a process
            # ignores SIGKILL (uninterruptible sleep), in which case detach rather than hang.
            deadline = time.monotonic() + 2 * self._kill_grace + 5.0
            with self._idle:
                while self._runs and time.monotonic() < deadline:
                    self._idle.wait(max(0.0, deadline - time.monotonic()))
                if self._runs:
                    log.warning("shutdown: %d runs did not finish after SIGKILL; detaching", len(self._runs))
        with self._lock:
            self._stopping = True
            self._detach = bool(self._runs)
        self._wake()
        self._reactor.join()

    # ------------------------------------------------------------------------------------- spawning

    def _launch(self, run: _Run) -> None:
        """Pool thread: spawn the process (or report why not) and hand it to the reactor."""
        with self._lock:
            cancelled = run.kill_grace is not None or self._closed
            if not cancelled:
                run.state = "spawning"
        spec = run.spec
        if cancelled:
            self._finish_unspawned(run, killed=True, message="cancelled before start")
            return
        try:
            run.writer = self._logs.open(spec.run_id, spec.attempt)
        except Exception as e:
            log.exception("cannot open the log of run %s-%s", spec.run_id, spec.attempt)
            self._finish_unspawned(run, error=f"cannot open log: {e}", exit_code=EXIT_CANNOT_RUN)
            return
        if spec.empty:
            now = self._clock()
            with self._lock:
                run.started_at = now
            self._emit(ExecEvent("started", spec.run_id, spec.attempt, now))
            self._finish_unspawned(run)
            return
        try:
            proc = self._spawn(spec)
        except _SpawnError as e:
            self._finish_unspawned(run, error=str(e), exit_code=e.exit_code)
            return
        except Exception as e:  # never lose a run to an unexpected error: it must still finish
            log.exception("spawning run %s-%s", spec.run_id, spec.attempt)
            self._finish_unspawned(run, error=f"spawn failed: {e}", exit_code=EXIT_CANNOT_RUN)
            return
        now_mono = time.monotonic()
        started_at = self._clock()
        run.proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        run.fds = {proc.stdout.fileno(): ("stdout", proc.stdout), proc.stderr.fileno(): ("stderr", proc.stderr)}
        if spec.timeout_seconds > 0:
            run.deadline = now_mono + spec.timeout_seconds
        if self._has_pidfd:
            try:
                run.pidfd = os.pidfd_open(proc.pid)
            except OSError as e:
                if e.errno in (errno.ENOSYS, errno.EPERM):  # kernel before 5.3, or seccomp
                    self._has_pidfd = False
                else:
                    log.warning("pidfd_open(%d): %s; using a waiter thread", proc.pid, e)
        with self._lock:
            run.pid = proc.pid
            run.started_at = started_at
            run.state = "running"
        self._emit(ExecEvent("started", spec.run_id, spec.attempt, started_at, pid=proc.pid))
        # only now may the reactor see it: no output or finished event can overtake "started"
        with self._lock:
            self._incoming.append(run)
        if run.pidfd is None:
            threading.Thread(target=self._wait_exit, args=(run,), name=f"wloadctl-wait-{proc.pid}",
                             daemon=True).start()
        self._wake()

    def _spawn(self, spec: ExecSpec) -> subprocess.Popen[bytes]:
        env = dict(self._base_env)
        env["WLOADCTL_RUN_ID"] = spec.run_id
        env["WLOADCTL_ATTEMPT"] = str(spec.attempt)
        user: pwd.struct_passwd | None = None
        if spec.run_as:
            try:
                user = pwd.getpwnam(spec.run_as)
            except KeyError:
                raise _SpawnError(f"no such user: {spec.run_as}", EXIT_CANNOT_RUN) from None
            env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
        # Not root: runAs names the agent's own user (start() refuses any other), nothing to switch.
        switch_to = user if self._is_root else None
        env.update(spec.env)  # the job's own settings win over the defaults, identity included
        env.update({param_env_name(k): v for k, v in spec.params.items()})

        if spec.working_dir:
            cwd = Path(spec.working_dir)
            if not cwd.is_dir():
                raise _SpawnError(f"working directory {spec.working_dir} does not exist", EXIT_CANNOT_RUN)
            if switch_to is not None:
                self._check_user_can_enter(cwd, switch_to)
        else:
            cwd = self.work_dir / "runs" / f"{spec.run_id}-{spec.attempt}"
            try:
                cwd.mkdir(parents=True, exist_ok=True)
                if switch_to is not None:  # the job's own scratch dir must be writable by it
                    os.chown(cwd, switch_to.pw_uid, switch_to.pw_gid)
            except OSError as e:
                raise _SpawnError(f"cannot create working directory {cwd}: {e}", EXIT_CANNOT_RUN) from e

        prefix, identity = _as_user(switch_to) if switch_to is not None else ([], {})
        guard = [*self._guard, str(os.getpid())] if self._guard else []
        argv = guard + prefix + (list(spec.argv) if spec.argv else ["/bin/sh", "-c", spec.shell])
        try:
            return subprocess.Popen(  # type: ignore[call-overload]
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                close_fds=True, start_new_session=True, cwd=cwd, env=env, **identity)
        except OSError as e:  # ENOENT; EACCES, ENOEXEC, a cwd the user may not enter, ...
            what = os.fspath(e.filename) if e.filename is not None else argv[0]
            if what == os.fspath(cwd):
                raise _SpawnError(f"working directory {what}: {e.strerror or e}", EXIT_CANNOT_RUN) from e
            code = EXIT_NOT_FOUND if isinstance(e, FileNotFoundError) else EXIT_CANNOT_RUN
            raise _SpawnError(f"{what}: {e.strerror or e}", code) from e
        except (ValueError, subprocess.SubprocessError) as e:  # NUL in env, setuid/setgid failures
            raise _SpawnError(f"{argv[0]}: {e}", EXIT_CANNOT_RUN) from e

    @staticmethod
    def _check_user_can_enter(cwd: Path, user: pwd.struct_passwd) -> None:
        """Popen does chdir(cwd) before it drops privileges, so as root it would start the job in a directory
        its user cannot enter. Let the kernel judge (ACLs included) with a throwaway `cd` as that user."""
        prefix, identity = _as_user(user)
        check = subprocess.run(  # type: ignore[call-overload]
            [*prefix, "/bin/sh", "-c", 'cd -- "$1"', "wloadctl-cwd-check", os.fspath(cwd)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, env={"PATH": _DEFAULT_PATH},
            cwd="/", timeout=30, check=False, **identity)
        if check.returncode != 0:
            raise _SpawnError(f"working directory {cwd}: user {user.pw_name} cannot enter it", EXIT_CANNOT_RUN)

    def _finish_unspawned(self, run: _Run, *, killed: bool = False, message: str = "", error: str = "",
                          exit_code: int = 0) -> None:
        """A run that ends without a process: empty, cancelled, or failed to spawn."""
        spec = run.spec
        if run.writer is None and not error:
            try:
                run.writer = self._logs.open(spec.run_id, spec.attempt)
            except Exception:
                log.exception("cannot open the log of run %s-%s", spec.run_id, spec.attempt)
        if run.writer is not None:
            note = message or (f"failed to start: {error}" if error else "")
            try:
                if note:
                    run.writer.write("stderr", f"[wloadctl: {note}]\n".encode())
            except OSError:
                log.exception("writing the log of run %s-%s", spec.run_id, spec.attempt)
            finally:
                run.writer.close()
        if killed:
            exit_code = -signal.SIGTERM
        self._release(run)
        self._emit(ExecEvent("finished", spec.run_id, spec.attempt, self._clock(), exit_code=exit_code,
                             killed=killed, error=error))

    def _wait_exit(self, run: _Run) -> None:
        """Fallback without pidfds: block until the child exits (without reaping it), then tell the reactor."""
        assert run.proc is not None
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, run.proc.pid, os.WEXITED | os.WNOWAIT)
        with self._lock:
            self._exited.append(run)
        self._wake()

    # -------------------------------------------------------------------------------------- reactor

    def _reactor_main(self) -> None:
        while True:
            try:
                if self._reactor_step():
                    break
            except Exception:  # a bug here must not strand every run: log it and keep serving
                log.exception("executor reactor")
        self._reactor_stop()

    def _reactor_step(self) -> bool:
        """One select round; True when the reactor should stop."""
        timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
        for key, _ in self._sel.select(timeout):
            if key.data is None:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass
                continue
            what, run = key.data
            if what == "exit":
                self._guarded(run, self._child_exited, run)
            else:
                self._guarded(run, self._read, run, key.fd, what)
        with self._lock:
            incoming, self._incoming = list(self._incoming), deque()
            exited, self._exited = list(self._exited), deque()
            dirty, self._dirty = self._dirty, set()
            stopping = self._stopping
        # each run on its own: these batches are already taken, a failure must not drop the rest
        for run in incoming:
            self._active.add(run)
            self._guarded(run, self._adopt, run)
            dirty.add(run)  # a kill() may have come while it was being spawned
        for run in exited:
            self._guarded(run, self._child_exited, run)
        for run in dirty:
            if run in self._active:
                self._guarded(run, self._apply_kill_request, run)
        self._fire_timers()
        return stopping

    @staticmethod
    def _guarded(run: _Run, fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("executor reactor: run %s-%s", run.spec.run_id, run.spec.attempt)

    def _reactor_stop(self) -> None:
        with self._lock:
            detach = self._detach
        if detach:
            for run in list(self._active):
                self._detach_run(run)
        for _, proc in self._lingering:
            self._kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
        self._lingering.clear()
        self._sel.close()
        with self._lock:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def _adopt(self, run: _Run) -> None:
        for fd, (stream, _) in list(run.fds.items()):
            try:
                os.set_blocking(fd, False)
                self._sel.register(fd, selectors.EVENT_READ, (stream, run))
            except (OSError, ValueError):  # never expected; lose the stream rather than the run
                log.exception("run %s-%s: cannot watch %s", run.spec.run_id, run.spec.attempt, stream)
                run.fds.pop(fd)[1].close()
        if run.pidfd is not None:
            self._sel.register(run.pidfd, selectors.EVENT_READ, ("exit", run))
        if run.deadline is not None:
            self._timer(run.deadline, "timeout", run)

    def _apply_kill_request(self, run: _Run) -> None:
        with self._lock:
            grace = run.kill_grace
        if grace is None or run.done:
            return
        run.killed = True
        self._terminate(run, grace)

    def _terminate(self, run: _Run, grace: float) -> None:
        assert run.proc is not None
        now = time.monotonic()
        if not run.term_sent:
            run.term_sent = True
            self._kill_group(run.proc.pid, signal.SIGTERM)
        if not run.kill_sent and (run.kill_at is None or now + grace < run.kill_at):
            run.kill_at = now + grace
            self._timer(run.kill_at, "kill", run)

    @staticmethod
    def _kill_group(pgid: int, sig: int) -> None:
        # Safe from pid reuse: the group leader is not reaped before we are done signalling it.
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        except OSError:
            log.exception("killpg(%d, %d)", pgid, sig)

    def _read(self, run: _Run, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, max(_READ_SIZE, self._chunk))
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(run, fd)
            if run.pending_stream == stream:
                self._flush(run)
            self._maybe_finish(run)
            return
        if stream == "stdout":
            run.outputs.feed(data)
        if run.writer is not None and not run.write_failed:
            try:
                run.writer.write(stream, data)
            except OSError:
                run.write_failed = True  # disk full: keep the run (and its events) going without a log
                log.exception("writing the log of run %s-%s", run.spec.run_id, run.spec.attempt)
        data = self._limit_event_bytes(run, data)
        if not data:
            return
        if run.pending and run.pending_stream != stream:
            self._flush(run)  # events keep the arrival order of the two streams
        run.pending_stream = stream
        run.pending += data
        while len(run.pending) >= self._chunk:
            chunk = bytes(run.pending[: self._chunk])
            del run.pending[: self._chunk]
            self._emit_output(run, stream, chunk)
        if not run.pending:
            run.flush_at = None
        elif run.flush_at is None:
            run.flush_at = time.monotonic() + self._flush_interval
            self._timer(run.flush_at, "flush", run)

    def _limit_event_bytes(self, run: _Run, data: bytes) -> bytes:
        """Events carry exactly what the log keeps: nothing past max_bytes_per_run but one marker."""
        if run.events_truncated:
            return b""
        limit = self._logs.max_bytes_per_run
        room = limit - run.event_bytes
        run.event_bytes += len(data)
        if len(data) <= room:
            return data
        run.events_truncated = True
        return data[: max(room, 0)] + truncation_marker(limit)

    def _flush(self, run: _Run) -> None:
        if run.pending:
            chunk = bytes(run.pending)
            run.pending.clear()
            self._emit_output(run, run.pending_stream, chunk)
        run.flush_at = None

    def _emit_output(self, run: _Run, stream: str, data: bytes) -> None:
        self._emit(ExecEvent("output", run.spec.run_id, run.spec.attempt, self._clock(), pid=run.pid,
                             stream=stream, data=data))

    def _close_pipe(self, run: _Run, fd: int) -> None:
        pipe = run.fds.pop(fd, None)
        if pipe is not None:
            with contextlib.suppress(KeyError):
                self._sel.unregister(fd)
            pipe[1].close()

    def _child_exited(self, run: _Run) -> None:
        if run.status is not None or run.proc is None:
            return
        try:
            # WNOWAIT: learn the status but leave the zombie, which keeps the process group id ours
            info = os.waitid(os.P_PID, run.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            log.error("run %s-%s: pid %d was reaped behind the executor's back; exit status lost",
                      run.spec.run_id, run.spec.attempt, run.proc.pid)
            run.status = 255
        else:
            if info is None:
                return  # spurious wake-up
            run.status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if run.pidfd is not None:
            self._sel.unregister(run.pidfd)
            os.close(run.pidfd)
            run.pidfd = None
        if run.fds:
            run.pipe_deadline = time.monotonic() + self._kill_grace
            self._timer(run.pipe_deadline, "pipes", run)
        self._maybe_finish(run)

    def _maybe_finish(self, run: _Run) -> None:
        if run.done or run.status is None or run.fds:
            return
        assert run.proc is not None
        spec = run.spec
        run.done = True
        self._active.discard(run)
        self._flush(run)
        if run.writer is not None:
            try:
                run.writer.close()
            except OSError:
                log.exception("closing the log of run %s-%s", spec.run_id, spec.attempt)
        if run.term_sent and not run.kill_sent and run.kill_at is not None:
            # The leader is gone but members of its group may still be using their grace; keep the
            # leader unreaped (pinning the group id) until it is time to KILL them.
            self._lingering.append((run.kill_at, run.proc))
            self._timer(run.kill_at, "linger", None)
        else:
            run.proc.wait()
            if run.proc.returncode is None:
                run.proc.returncode = run.status
        self._release(run)
        self._emit(ExecEvent("finished", spec.run_id, spec.attempt, self._clock(), pid=run.pid,
                             exit_code=run.status, timed_out=run.timed_out, killed=run.killed,
                             outputs=run.outputs.finish()))

    def _detach_run(self, run: _Run) -> None:
        for fd in list(run.fds):
            self._close_pipe(run, fd)
        if run.pidfd is not None:
            self._sel.unregister(run.pidfd)
            os.close(run.pidfd)
            run.pidfd = None
        if run.writer is not None:
            try:
                run.writer.write("stderr", b"\n[wloadctl: agent detached; later output was not captured]\n")
            except OSError:
                log.exception("writing the log of run %s-%s", run.spec.run_id, run.spec.attempt)
            finally:
                run.writer.close()
        run.done = True
        self._active.discard(run)
        self._release(run)

    def _timer(self, when: float, what: str, run: _Run | None) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), what, run))

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            when, _, what, run = heapq.heappop(self._timers)
            try:
                if what == "linger":
                    self._reap_lingering(now)
                    continue
                assert run is not None
                if run.done:
                    continue  # stale: timers are never removed, only ignored
                if what == "flush" and run.flush_at == when:
                    self._flush(run)
                elif what == "timeout" and run.status is None and not run.term_sent:
                    run.timed_out = True
                    self._terminate(run, self._kill_grace)
                elif what == "kill" and run.kill_at == when and not run.kill_sent:
                    run.kill_sent = True
                    assert run.proc is not None
                    self._kill_group(run.proc.pid, signal.SIGKILL)
                elif what == "pipes" and run.fds:
                    for fd in list(run.fds):
                        self._close_pipe(run, fd)
                    self._maybe_finish(run)
            except Exception:
                log.exception("executor reactor: timer %s", what)

    def _reap_lingering(self, now: float) -> None:
        keep = []
        for kill_at, proc in self._lingering:
            if kill_at <= now:
                self._kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
            else:
                keep.append((kill_at, proc))
        self._lingering = keep

    # ---------------------------------------------------------------------------------------- misc

    def _release(self, run: _Run) -> None:
        # Before the finished event: a handler of that event sees the run gone and may start it again.
        with self._lock:
            if self._runs.get(run.key) is run:
                del self._runs[run.key]
            self._idle.notify_all()

    def _emit(self, event: ExecEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("on_event failed for %s of run %s-%s", event.kind, event.run_id, event.attempt)

    def _wake(self) -> None:
        # under the lock: once the reactor closed the pipe, its fd number may belong to someone else
        with self._lock:
            if self._wake_w >= 0:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._wake_w, b"\0")

"""Jobs die with a killed agent when the orphan policy is kill (no overlap with a retry elsewhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wloadctl.agent import executor as ex

pytestmark = pytest.mark.skipif(not ex._SETPRIV, reason="setpriv (util-linux) is not installed")

_FAKE_AGENT = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from wloadctl.agent.executor import Executor, ExecSpec
    from wloadctl.agent.logstore import LogStore
    root = Path(sys.argv[1])
    started = threading.Event()
    ex = Executor(root, LogStore(root / "logs"), lambda e: e.kind == "started" and started.set(),
                  die_with_agent=sys.argv[2] == "1")
    ex.start(ExecSpec(run_id="r1", attempt=1, shell=f"sleep 60 & echo $! > {root}/grandchild; wait"))
    started.wait(10)
    print("ready", flush=True)
    threading.Event().wait()
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie nobody reaps (this sandbox's init) counts as dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def run_fake_agent(tmp_path: Path, guard: bool) -> int:
    proc = subprocess.Popen([sys.executable, "-c", _FAKE_AGENT, str(tmp_path), "1" if guard else "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        marker = tmp_path / "grandchild"
        deadline = time.monotonic() + 10
        while not (marker.exists() and marker.read_text().strip()):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.01)
        grandchild = int(marker.read_text())
        assert alive(grandchild)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        return grandchild
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_job_dies_with_a_killed_agent(tmp_path: Path) -> None:
    grandchild = run_fake_agent(tmp_path, guard=True)
    assert wait_dead(grandchild, 10), "the job's process group outlived the killed agent"


def test_without_the_guard_the_job_outlives_the_agent(tmp_path: Path) -> None:
    grandchild = run_fake_agent(tmp_path, guard=False)
    try:
        assert not wait_dead(grandchild, 0.5)  # what the guard exists for
    finally:
        os.kill(grandchild, signal.SIGKILL)


def test_the_guard_starts_nothing_when_its_parent_is_no_longer_the_agent(tmp_path: Path) -> None:
    """An agent killed between the fork and the child's pdeathsig never signals: the guard sees a
    parent other than the agent it was started for and exits 125 without running the job."""
    marker = tmp_path / "ran"
    guard = [ex._SETPRIV, "--pdeathsig", "USR2", "--", "/bin/sh", "-c", ex._GUARD_SCRIPT, "wloadctl-guard"]
    job = ["/bin/sh", "-c", f"touch {marker}"]
    wrong = subprocess.run([*guard, str(os.getpid() + 1_000_000), *job], timeout=10)
    assert wrong.returncode == 125 and not marker.exists()
    right = subprocess.run([*guard, str(os.getpid()), *job], timeout=10)
    assert right.returncode == 0 and marker.exists()

"""`python -m chaos` as a user runs it: from any directory, with relative paths, and failing readably.

Each test runs the real command in a session of its own; whatever is left of it at the end (the
runner, its replicas and agents) is interrupted, then killed by that session's process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration

# LMDB maps its whole map size when it opens (64 GiB for a replica's state), so under an 8 GiB
# address-space limit (`ulimit -v`) a replica cannot start, while the runner itself can.
AS_LIMIT = 8 << 30
_LIMITED = (f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({AS_LIMIT}, {AS_LIMIT})); "
            "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def _chaos(args: list[str], cwd: Path, timeout: float, limit_memory: bool = False) -> tuple[int, str, str]:
    """Run `python -m chaos ARGS` in `cwd` without the repository on its path: (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package, as a user has it
    argv = [sys.executable, *(["-c", _LIMITED] if limit_memory else []), "-m", "chaos", *args]
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # the runner stops its cluster and network on the way out
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # anything of this run still alive
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_local_cluster_with_a_relative_root_starts_and_writes_absolute_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cluster = LocalCluster(Path("rel") / "cluster", size=3)
    try:
        assert cluster.root == tmp_path / "rel" / "cluster"
        agent = cluster.add_agent("a1", start=False)
        for config in [*(r.config_path for r in cluster.replicas), agent.config_path]:
            for line in config.read_text().splitlines():
                if line.split("=", 1)[0].strip() in ("data_dir", "secret_file", "ca", "cert", "key", "work_dir"):
                    path = line.split("=", 1)[1].strip().strip('"')
                    assert Path(path).is_absolute(), f"{config.name}: {line}"
        cluster.start()
        agent.start()
        with cluster.client(retry_for=10) as c:
            wait_for(lambda: c.status().agents_confirmed == 1, 30, "the agent to confirm")
    finally:
        cluster.stop()


def test_run_from_another_directory_with_relative_results(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = _chaos(["run", "--nemesis", "kill-follower", "--time", "6", "--seed", "21",
                             "--results", "rel/results", "--network", "loopback"], cwd=elsewhere, timeout=240)
    assert code == 0, f"exit {code}\n{out}\n{err}"
    assert "PASS: kill-follower for 6 s, seed 21" in out
    [report] = (elsewhere / "rel" / "results").glob("*-kill-follower-seed21")
    assert str(report) in out, "the report's absolute path is printed"
    assert json.loads((report / "report.json").read_text())["ok"]
    assert f'secret_file = "{report}/cluster/cluster.secret"' in (report / "cluster" / "r1.toml").read_text()


def test_a_cluster_that_cannot_start_is_reported_with_its_own_error_and_the_seed(tmp_path: Path) -> None:
    code, out, err = _chaos(["run", "--nemesis", "kill-leader,crash-agent", "--time", "10", "--seed", "4242",
                             "--results", str(tmp_path / "results"), "--network", "loopback"],
                            cwd=tmp_path, timeout=120, limit_memory=True)
    text = out + err
    assert code == 1, text
    assert "Traceback" not in text
    assert "exited while the runner waited for a leader" in err
    [report] = (tmp_path / "results").glob("*-seed4242")
    log = re.escape(f"{report}/cluster/")
    exited = re.findall(rf"^replica (r\d) exited with exit code [1-9]\d*; its log: {log}\1\.log$", err, re.MULTILINE)
    assert exited, err
    for replica in exited:  # its own error line, as its log has it
        own = [line for line in (report / "cluster" / f"{replica}.log").read_text().splitlines()
               if line.startswith("error:")]
        assert own and "Cannot allocate memory" in own[-1]
        assert f"    {own[-1]}" in err.splitlines()
    assert "seed 4242" in out
    assert ("reproduce: python -m chaos run --nemesis kill-leader,crash-agent --time 10 --seed 4242 --replicas 3 "
            "--network loopback") in out.splitlines()
    saved = json.loads((report / "report.json").read_text())
    assert saved["ok"] is False and "Cannot allocate memory" in saved["error"]
    assert "Traceback" in (report / "runner-error.txt").read_text(), "the runner's stack is kept for debugging"


def test_matrix_reports_a_run_that_could_not_start_in_its_row_and_goes_on(tmp_path: Path) -> None:
    code, out, err = _chaos(["matrix", "--only", "2", "--time", "5", "--seed", "50", "--results", "results",
                             "--network", "loopback"], cwd=tmp_path, timeout=180, limit_memory=True)
    text = out + err
    assert code == 1, text
    assert "Traceback" not in text
    for scenario, nemeses, seed in ((1, "kill-leader,crash-agent", 50), (2, "kill-follower,partition-one-way", 51)):
        assert f"FAIL  {scenario} {nemeses.replace(',', '+')}" in out
        assert (f"reproduce: python -m chaos run --nemesis {nemeses} --time 5 --seed {seed} --replicas 3 "
                "--network loopback") in out
    assert out.count("Cannot allocate memory") >= 2, out
    assert "0/2 scenarios passed" in out
    [summary] = (tmp_path / "results").glob("matrix-*.json")
    rows = json.loads(summary.read_text())["rows"]
    assert [r["ok"] for r in rows] == [False, False]
    assert all("Cannot allocate memory" in r["error"] for r in rows)

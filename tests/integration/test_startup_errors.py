"""Every configuration or bind error of `wloadctl server` and `wloadctl agent` is one line on
stderr, `error: <setting>: ...`, and exit code 2, found before anything starts (docs/operations.md).

Real processes, real files and real ports: each case runs `python -m wloadctl server|agent`
and waits for it to exit (a process still running at the deadline is killed and the test fails).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wloadctl.config import ensure_secret, render_config
from wloadctl.raft.node import RaftBindError, RaftNode
from wloadctl.security.certs import init_ca, issue
from wloadctl.state.store import Store
from wloadctl.testing.builders import job
from wloadctl.testing.cluster import AgentProc, LocalCluster, free_ports, wait_for

pytestmark = pytest.mark.integration

# A refused start takes about a second. The deadline bounds a process that starts anyway and
# keeps running: subprocess.run kills it (by its pid) and the case fails.
EXIT_DEADLINE_S = 30.0


def run(verb: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wloadctl", verb, "--config", str(config)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=EXIT_DEADLINE_S,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def assert_config_error(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert result.stderr.splitlines() == [line], result.stderr
    assert result.returncode == 2, result.stderr


def assert_config_error_starting(result: subprocess.CompletedProcess[str], start: str) -> None:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), result.stderr
    assert result.returncode == 2, result.stderr


@contextlib.contextmanager
def listening(address: str, reuseport: bool = False) -> Iterator[socket.socket]:
    """Another process's server on `address`, as far as the replica can tell."""
    host, _, port = address.rpartition(":")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((host, int(port)))
        s.listen()
        yield s


def files_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Setup:
    """A replica config (mutual TLS, a 0600 secret as `wloadctl up` makes it) and an agent config."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.certs = self.root / "certs"
        init_ca(self.certs)
        issue(self.certs, "replica", "r1")
        issue(self.certs, "agent", "a1")
        self.secret = self.root / "cluster.secret"
        ensure_secret(str(self.secret))
        api, raft, agent, metrics = free_ports(4)
        self.settings = {
            "raft_address": f"127.0.0.1:{raft}", "api_address": f"127.0.0.1:{api}",
            "agent_address": f"127.0.0.1:{agent}", "metrics_address": f"127.0.0.1:{metrics}",
            "data_dir": str(self.root / "r1"), "secret_file": str(self.secret),
            "tls": _tls(self, "server"),
        }

    def replica_config(self, **changes: Any) -> Path:
        s = {**self.settings, **changes}
        path = self.root / "r1.toml"
        path.write_text(render_config(
            "r1", s["raft_address"], s["api_address"], s["data_dir"], s["secret_file"],
            [("r1", s["raft_address"], s["api_address"])], agent_address=s["agent_address"],
            metrics_address=s["metrics_address"], tls=s["tls"], raft_bind_address=s.get("raft_bind_address", "")))
        return path

    def agent_config(self, tls: dict[str, str] | None = None, extra: str = "", work_dir: Path | None = None) -> Path:
        tls = tls or _tls(self, "agent")
        path = self.root / "a1.toml"
        path.write_text(
            f'agent_id = "a1"\nreplicas = ["{self.settings["agent_address"]}"]\n'
            f'work_dir = "{work_dir or self.root / "a1"}"\nmetrics_address = "127.0.0.1:{free_ports(1)[0]}"\n'
            f'{extra}\n'
            "[tls]\n" + "".join(f'{k} = "{v}"\n' for k, v in tls.items()))
        return path


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


# ---- 1, 4: certificate files, checked before anything starts -------------------------------


def _tls(setup: Setup, verb: str) -> dict[str, str]:
    name = "replica-r1" if verb == "server" else "agent-a1"
    return {"ca": str(setup.certs / "ca.crt"), "cert": str(setup.certs / f"{name}.crt"),
            "key": str(setup.certs / f"{name}.key")}


@pytest.mark.parametrize("verb", ["server", "agent"])
@pytest.mark.parametrize("setting", ["cert", "key", "ca"])
def test_a_missing_certificate_file_is_one_line(setup: Setup, verb: str, setting: str) -> None:
    tls = _tls(setup, verb)
    tls[setting] = str(setup.root / f"missing-{setting}.pem")
    result = run(verb, setup.replica_config(tls=tls) if verb == "server" else setup.agent_config(tls))
    assert_config_error(result, f"error: tls.{setting}: {tls[setting]} not found")
    if verb == "server":
        assert not Path(setup.settings["data_dir"]).exists(), "the replica went on after a bad [tls] table"


@pytest.mark.parametrize("verb", ["server", "agent"])
def test_invalid_certificate_files_are_one_line(setup: Setup, verb: str) -> None:
    def config(tls: dict[str, str]) -> Path:
        return setup.replica_config(tls=tls) if verb == "server" else setup.agent_config(tls)

    good = _tls(setup, verb)
    garbage = setup.root / "garbage.pem"
    garbage.write_text("not a certificate\n")

    tls = {**good, "cert": str(setup.certs)}
    assert_config_error(run(verb, config(tls)), f"error: tls.cert: {setup.certs} is a directory")
    tls = {**good, "cert": str(garbage)}
    assert_config_error_starting(run(verb, config(tls)), f"error: tls.cert: {garbage}: not a PEM certificate (")
    tls = {**good, "ca": str(garbage)}
    assert_config_error_starting(run(verb, config(tls)), f"error: tls.ca: {garbage}: not a PEM certificate (")
    tls = {**good, "key": good["cert"]}
    assert_config_error_starting(run(verb, config(tls)),
                                 f"error: tls.key: {good['cert']}: not an unencrypted PEM private key (")
    # The other kind's key: a valid key, but not this certificate's.
    other = setup.certs / ("agent-a1.key" if verb == "server" else "replica-r1.key")
    tls = {**good, "key": str(other)}
    assert_config_error(run(verb, config(tls)), f"error: tls.key: {other} is not the private key of {good['cert']}")


# ---- 2: ports that are taken ---------------------------------------------------------------


@pytest.mark.parametrize("setting", ["api_address", "agent_address", "metrics_address", "raft_address",
                                     "raft_bind_address"])
def test_a_port_in_use_is_one_line(setup: Setup, setting: str) -> None:
    if setting == "raft_bind_address":
        setup.settings["raft_bind_address"] = f"127.0.0.1:{free_ports(1)[0]}"
    address = setup.settings[setting]
    with listening(address):
        result = run("server", setup.replica_config())
    assert_config_error(result, f"error: {setting}: cannot listen on {address} (address already in use)")
    assert not Path(setup.settings["data_dir"]).exists(), "the replica touched its data dir"


def test_a_taken_raft_port_stops_the_replica_with_its_data_intact(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory(size=1)
    r = cluster.replicas[0]
    cluster.start()
    with cluster.client() as c:
        c.apply_jobs([job("before-the-restart")])
    cluster.stop()
    before = files_digest(r.data_dir)
    assert before
    with listening(r.raft_address):
        result = run("server", r.config_path)
    assert_config_error(result, f"error: raft_address: cannot listen on {r.raft_address} (address already in use)")
    assert files_digest(r.data_dir) == before


def test_a_port_taken_after_the_check_still_stops_the_replica(tmp_path: Path) -> None:
    """The Raft node itself refuses to run without its port (pysyncobj would retry for ever)."""
    address = f"127.0.0.1:{free_ports(1)[0]}"
    store = Store(tmp_path / "state")
    node = RaftNode("n1", address, [address], tmp_path, store, "test-secret-0123456789")
    try:
        with listening(address), pytest.raises(RaftBindError, match=f"cannot listen on {address}"):
            node.start()
        assert node.sync_obj is None
    finally:
        node.stop()  # a node that did start (the old behaviour) must not outlive its store
        store.close()


def test_two_settings_on_one_port_are_one_line(setup: Setup) -> None:
    port = setup.settings["api_address"].rpartition(":")[2]
    result = run("server", setup.replica_config(api_address=f"localhost:{port}", agent_address=f"127.0.0.1:{port}"))
    assert_config_error(result, f"error: agent_address: 127.0.0.1:{port} uses the same port as api_address "
                                f"(localhost:{port})")


# ---- 3: a second replica on the agent port of a running one ----------------------------------


def test_a_second_replica_cannot_share_the_agent_port(cluster_factory: Any, setup: Setup) -> None:
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    first = cluster.replicas[0]
    result = run("server", setup.replica_config(agent_address=first.agent_address))
    assert_config_error(result, f"error: agent_address: cannot listen on {first.agent_address} "
                                "(address already in use)")
    assert first.running


def test_the_agent_port_is_not_shared_with_so_reuseport(cluster_factory: Any) -> None:
    """gRPC sets SO_REUSEPORT unless told not to: then any process of the same user that sets it
    too would bind the agent port as well and take half of the agents' connections."""
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    for address in (cluster.replicas[0].agent_address, cluster.replicas[0].api_address):
        with pytest.raises(OSError) as taken, listening(address, reuseport=True):
            pass
        assert taken.value.errno == errno.EADDRINUSE


# ---- 5: the cluster secret's mode ----------------------------------------------------------


def test_a_secret_readable_by_others_is_refused(setup: Setup) -> None:
    # What `python3 -c '...' > cluster.secret` makes under the usual umask 022.
    setup.secret.chmod(0o644)
    result = run("server", setup.replica_config())
    assert_config_error(result, f"error: secret_file: {setup.secret} is readable by other users (mode 0644); "
                                f"run chmod 600 {setup.secret}")
    setup.secret.chmod(0o620)
    result = run("server", setup.replica_config())
    assert_config_error(result, f"error: secret_file: {setup.secret} is writable by other users (mode 0620); "
                                f"run chmod 600 {setup.secret}")


# ---- 6: other startup failures -------------------------------------------------------------


def test_a_data_dir_that_is_a_file_is_one_line(setup: Setup) -> None:
    not_a_dir = setup.root / "data-file"
    not_a_dir.write_text("")
    result = run("server", setup.replica_config(data_dir=str(not_a_dir)))
    assert_config_error(result, f"error: data_dir: {not_a_dir} is not a directory")


def _damage(state: Path) -> None:
    state.mkdir(parents=True)
    (state / "data.mdb").write_bytes(b"not an LMDB file" * 1024)


def test_a_damaged_data_dir_is_a_runtime_error_without_a_traceback(setup: Setup) -> None:
    data_dir = Path(setup.settings["data_dir"])
    _damage(data_dir / "state")
    result = run("server", setup.replica_config())
    # Exit 1, as for any inconsistent data dir: the replica logs the cause, then says it once more.
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (f"error: data_dir: cannot open the state: {data_dir / 'state'}: "
                                              "MDB_INVALID: File is not an LMDB file")
    assert "Traceback" not in result.stderr


def test_a_damaged_work_dir_is_a_runtime_error_without_a_traceback(setup: Setup) -> None:
    work_dir = setup.root / "a1"
    _damage(work_dir / "state")
    result = run("agent", setup.agent_config())
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [f"error: work_dir: cannot open the agent's state: {work_dir / 'state'}: "
                                          "MDB_INVALID: File is not an LMDB file"]


def test_a_work_dir_that_is_a_file_is_one_line(setup: Setup) -> None:
    not_a_dir = setup.root / "work-file"
    not_a_dir.write_text("")
    result = run("agent", setup.agent_config(work_dir=not_a_dir))
    assert_config_error(result, f"error: work_dir: {not_a_dir} is not a directory")


def test_an_unknown_agent_log_level_is_one_line(setup: Setup) -> None:
    result = run("agent", setup.agent_config(extra='[log]\nlevel = "loud"'))
    assert_config_error(result, "error: log.level: debug, info, warning or error")


@pytest.mark.parametrize("verb", ["server", "agent"])
def test_a_config_that_is_not_utf8_is_one_line(tmp_path: Path, verb: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_bytes(b'node_id = "r\xff"\n')
    assert_config_error(run(verb, config), f"error: {config}: invalid TOML: not UTF-8 text (invalid byte at offset 12)")


def test_a_good_agent_config_still_starts(setup: Setup) -> None:
    """The checks above refuse nothing that is fine: the agent runs until it is stopped."""
    agent = AgentProc("a1", setup.root, setup.agent_config(), setup.root / "a1.log", setup.root / "a1")
    try:
        agent.start()
        wait_for(lambda: "agent started" in agent.log_path.read_text(), 30, "the agent to start")
        assert agent.running, agent.log_path.read_text()
    finally:
        agent.stop()
    assert agent.proc is not None and agent.proc.returncode == 0, agent.log_path.read_text()

"""The `wloadctl` command line against real replica and agent processes: the answers and exit codes
docs/cli.md promises when things are not simple (repeated deletes, no quorum, unreachable agents,
followers answering, dead transfer targets)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from wloadctl.cli.main import main
from wloadctl.client import Client
from wloadctl.proto.v1 import jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, Replica, wait_for

pytestmark = pytest.mark.integration
RS = runs_pb2.RunState
FINAL = {RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED}

JOBS_YAML = """\
kind: Job
metadata: {name: nightly-backup}
spec: {command: [/bin/true]}
"""


@pytest.fixture(autouse=True)
def isolated_cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads ~/.config/wloadctl: never the developer's own, never a credential from the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("WLOADCTL_TOKEN", "WLOADCTL_API_KEY", "WLOADCTL_CA", "WLOADCTL_SERVER", "WLOADCTL_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def cli(capsys: pytest.CaptureFixture[Any], target: LocalCluster | tuple[LocalCluster, list[Replica]],
        *argv: str) -> tuple[int, Any, Any]:
    """`wloadctl` as an administrator of the cluster (its CA and admin key), asking every replica or the
    ones given with it."""
    cluster, chosen = target if isinstance(target, tuple) else (target, target.replicas)
    auth = ["--ca", str(cluster.certs / "ca.crt"), "--api-key", cluster.admin_token] if cluster.secure else []
    code = main(["--server", ",".join(r.api_address for r in chosen), "--timeout", "3", "--retry-for", "2", *auth,
                 *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def shell_job(name: str, script: str) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, command=jobs_pb2.JobCommand(shell=script))


def final(c: Client, run_id: str) -> runs_pb2.Run:
    return wait_for(lambda: (r := c.get_run(run_id)).state in FINAL and r, 30, f"run {run_id} to finish")


def test_deleting_a_deleted_job_is_unchanged(cluster_factory: Any, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS_YAML)
    code, out, _ = cli(capsys, cluster, "apply", "-f", str(path))
    assert (code, out) == (0, "job/nightly-backup created (version 1)\n")
    assert cli(capsys, cluster, "delete", "job", "nightly-backup") == (
        0, "job/nightly-backup deleted (version 2)\n", "")
    assert cli(capsys, cluster, "delete", "job", "nightly-backup") == (
        0, "job/nightly-backup unchanged (already deleted)\n", "")
    code, out, err = cli(capsys, cluster, "delete", "job", "nightly-backup", "-o", "json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["job"] == {"name": "nightly-backup", "version": 2, "changed": False}
    assert document["raft_index"] > 0
    assert cli(capsys, cluster, "delete", "job", "never-was") == (
        1, "", "error: name: job 'never-was' not found\n")


def test_logs_exit_codes_say_whether_the_output_is_complete(cluster_factory: Any,
                                                            capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    cluster: LocalCluster = cluster_factory(size=1)
    cluster.start()
    agent = cluster.add_agent("a1")
    with cluster.client() as c:
        c.apply_jobs([shell_job("small", "printf 'hello\\n'"),
                      shell_job("big", "head -c 200000 /dev/zero | tr '\\0' x")])
        small, big = c.trigger_run("small").run_id, c.trigger_run("big").run_id
        done = final(c, big)
        final(c, small)

        code, out, err = cli(capsysbinary, cluster, "logs", big, "--attempt", "2")
        assert (code, out, err) == (1, b"", f"error: attempt: run {big} has 1 attempt\n".encode())
        code, out, err = cli(capsysbinary, cluster, "logs", big)
        assert (code, out, err) == (0, b"x" * 200000, b"")  # from the agent: the full log

        agent.stop()
        wait_for(lambda: c.get_run_logs(big).source == "state", 30, "the agent's log to be out of reach")

    # The tail held all of it: exit 0, with the note.
    code, out, err = cli(capsysbinary, cluster, "logs", small)
    assert (code, out) == (0, b"hello\n")
    assert err == (f"note: the agent of run {small} is unreachable: only the capped tail of its output kept in "
                   "the cluster state is available\n").encode()
    # Only the capped tail of a longer output: what there is, then an error saying what is missing.
    code, out, err = cli(capsysbinary, cluster, "logs", big)
    assert (code, out) == (1, b"x" * 65536)
    assert err == (f"error: the agent of run {big} (a1) is unreachable and the output printed is incomplete: only "
                   "the last 65536 of 200000 bytes of output are kept in the cluster state\n").encode()
    code, out, err = cli(capsysbinary, cluster, "logs", big, "-o", "json")
    document = json.loads(out)
    assert code == 1 and err.startswith(b"error: the agent of run")
    assert (document["source"], document["complete"], document["agent_id"]) == ("state", False, "a1")
    assert document["missing"] == "only the last 65536 of 200000 bytes of output are kept in the cluster state"
    # The agent says where each chunk starts: the state accounted for every byte, none missing.
    assert (done.output_bytes, done.output_gap_bytes, done.output_attempt, done.output_offset) == (
        200000, 0, 1, 200000)


def test_get_agents_on_a_follower_shows_the_leaders_view(cluster_factory: Any,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1")
    with cluster.client() as c:
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "agent a1 to confirm the epoch")
    leader = cluster.wait_for_leader()
    code, out, _ = cli(capsys, (cluster, [leader]), "cluster", "status")
    assert code == 0 and "agents:        1/1 confirmed" in out
    for follower in (r for r in cluster.replicas if r is not leader):
        code, out, err = cli(capsys, (cluster, [follower]), "get", "agents")
        assert (code, err) == (0, "")
        row = out.splitlines()[1].split()
        assert row[0] == "a1" and row[6] == "yes", out  # CONFIRMED, as `cluster status` counts it
        code, out, _ = cli(capsys, (cluster, [follower]), "get", "agents", "-o", "json")
        document = json.loads(out)
        assert (document["answered_by"], document["role"]) == (leader.node_id, "leader")
        assert document["agents"][0]["confirmed"] is True


def test_transfer_to_a_dead_replica_says_why(cluster_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    leader = cluster.wait_for_leader()
    dead, alive = [r for r in cluster.replicas if r is not leader]
    cluster.kill(dead)
    wait_for(lambda: not next(m for m in cluster.status_of(leader).members if m.id == dead.node_id).connected, 30,
             f"the leader to see {dead.node_id} gone")
    for asked in (leader, alive):  # answered by the leader, or forwarded to it
        code, out, err = cli(capsys, (cluster, [asked]), "cluster", "transfer-leader", dead.node_id)
        assert (code, out) == (1, "")
        assert err == (f"error: target_id: {dead.node_id} is not connected to the leader (down or unreachable); "
                       "leadership can only move to a running replica\n")
    assert cluster.status_of(leader).role == "leader"


def test_no_quorum_is_named_with_who_answered(cluster_factory: Any, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    cluster: LocalCluster = cluster_factory()
    cluster.start()
    cluster.add_agent("a1")
    with cluster.client() as c:
        wait_for(lambda: c.status().agents_confirmed == 1, 30, "agent a1 to confirm the epoch")
    survivor, *dead = cluster.replicas[1], cluster.replicas[0], cluster.replicas[2]
    for r in dead:
        cluster.kill(r, signal.SIGKILL)
    # A follower cut off from everyone keeps naming its last leader (it starts no election), so wait
    # for it to see the others gone (and, had it led, to step down) rather than for its leader to change.
    def alone() -> bool:
        status = cluster.status_of(survivor)
        return status.role != "leader" and not any(m.connected for m in status.members if not m.is_self)

    wait_for(alone, 30, "the survivor to see the others gone")
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS_YAML)

    code, out, err = cli(capsys, cluster, "apply", "-f", str(path))
    assert (code, out) == (1, "")
    assert err == (f"error: no quorum: {survivor.node_id} ({survivor.api_address}) answered but no leader is "
                   f"elected (it sees 1 of 3 members); {dead[0].api_address}, {dead[1].api_address}: "
                   "connection refused\n")
    # With --retry-for 0 every server is still asked once.
    code, _, err = cli(capsys, cluster, "--retry-for", "0", "apply", "-f", str(path))
    assert code == 1 and err.startswith(f"error: no quorum: {survivor.node_id} ")

    # A read with no leader to ask: the survivor's own view, and it says so.
    code, out, err = cli(capsys, (cluster, [survivor]), "get", "agents")
    assert code == 0 and out.splitlines()[1].split()[0] == "a1"
    assert err.startswith(f"note: answered by {survivor.node_id} (")
    assert err.endswith("): no leader could be reached; CONFIRMED is known on the leader only\n")

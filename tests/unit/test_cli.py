"""Unit tests for the wloadctl CLI: parsing, output formats, errors, configs and `up` checks.

Requests go to an in-process fake gRPC server (no replica processes), so these stay fast.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import socket
import stat
import threading
import tomllib
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from wloadctl.cli import output
from wloadctl.cli import up as up_module
from wloadctl.cli.main import main
from wloadctl.cli.parser import build_parser, merge_globals
from wloadctl.client import Client
from wloadctl.config import render as configs
from wloadctl.model.documents import parse_documents
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, commands_pb2, jobs_pb2, runs_pb2, watch_pb2, watch_pb2_grpc

RS = runs_pb2.RunState

# ---- fake server ---------------------------------------------------------------------------


@dataclass
class FakeState:
    jobs: dict[str, list[jobs_pb2.JobVersion]] = field(default_factory=dict)
    index: int = 10
    digest: str = "ab" * 32
    applied_index: int = 10
    self_id: str = "r1"
    requests: list[Any] = field(default_factory=list)
    takeover_phase: str = "active"
    # runs
    runs: dict[str, runs_pb2.Run] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    # What GetRun shows next for a run of a job: one (state, exit code) step per call, the last one stays.
    outcomes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    logs: dict[str, bytearray] = field(default_factory=dict)
    log_growth: list[bytes] = field(default_factory=list)  # appended to the log, one chunk per GetRunLogs
    log_page: int = 4  # bytes per GetRunLogs page, to exercise paging
    log_source: str = "agent"
    log_complete: bool = True  # complete once every byte was returned (and nothing is left to grow)
    agents: list[api_pb2.AgentStatus] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeJobs(api_pb2_grpc.JobServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def ApplyJobs(self, request: api_pb2.ApplyJobsRequest, context: grpc.ServicerContext) -> Any:
        self.state.requests.append(request)
        self.state.index += 1
        refs = []
        for spec in request.jobs:
            history = self.state.jobs.setdefault(spec.name, [])
            if history and history[-1].spec == spec and not history[-1].deleted:
                refs.append(jobs_pb2.JobRef(name=spec.name, version=history[-1].version, changed=False))
                continue
            version = jobs_pb2.JobVersion(spec=spec, version=len(history) + 1,
                                          created_ms=1_700_000_000_000, raft_index=self.state.index)
            history.append(version)
            refs.append(jobs_pb2.JobRef(name=spec.name, version=version.version, changed=True))
        return api_pb2.ApplyJobsResponse(jobs=refs, raft_index=self.state.index)

    def GetJob(self, request: api_pb2.GetJobRequest, context: grpc.ServicerContext) -> Any:
        history = self.state.jobs.get(request.name)
        if not history or (request.version == 0 and history[-1].deleted):
            context.abort(grpc.StatusCode.NOT_FOUND, f'job "{request.name}" not found')
        if request.version:
            if request.version > len(history):
                context.abort(grpc.StatusCode.NOT_FOUND, f'job "{request.name}" has no version {request.version}')
            return history[request.version - 1]
        return history[-1]

    def ListJobs(self, request: api_pb2.ListJobsRequest, context: grpc.ServicerContext) -> Any:
        self.state.requests.append(request)
        latest = [h[-1] for _, h in sorted(self.state.jobs.items()) if not h[-1].deleted]
        latest = [v for v in latest if not request.domain or v.spec.domain == request.domain]
        latest = [v for v in latest
                  if all(v.spec.labels.get(k) == val for k, val in request.label_selector.items())]
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = latest[start:start + size]
        token = str(start + size) if start + size < len(latest) else ""
        return api_pb2.ListJobsResponse(jobs=page, next_page_token=token)

    def DeleteJob(self, request: api_pb2.DeleteJobRequest, context: grpc.ServicerContext) -> Any:
        history = self.state.jobs.get(request.name)
        if not history:
            context.abort(grpc.StatusCode.NOT_FOUND, f'job "{request.name}" not found')
        self.state.index += 1
        if history[-1].deleted:
            return api_pb2.DeleteJobResponse(
                job=jobs_pb2.JobRef(name=request.name, version=history[-1].version, changed=False),
                raft_index=self.state.index)
        tomb = jobs_pb2.JobVersion(spec=history[-1].spec, version=len(history) + 1, deleted=True,
                                   created_ms=1_700_000_100_000, raft_index=self.state.index)
        history.append(tomb)
        return api_pb2.DeleteJobResponse(
            job=jobs_pb2.JobRef(name=request.name, version=tomb.version, changed=True), raft_index=self.state.index)


class FakeCluster(api_pb2_grpc.ClusterServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def Status(self, request: api_pb2.StatusRequest, context: grpc.ServicerContext) -> Any:
        members = [
            api_pb2.MemberStatus(id="r1", raft_address="127.0.0.1:18681", api_address="127.0.0.1:18581",
                                 role="leader", connected=True, match_index=42, lag=0, is_self=True),
            api_pb2.MemberStatus(id="r2", raft_address="127.0.0.1:18682", api_address="127.0.0.1:18582",
                                 role="follower", connected=False, match_index=40, lag=2),
        ]
        degraded = self.state.takeover_phase == "degraded"
        return api_pb2.ClusterStatus(self_id="r1", leader_id="r1", leader_api_address="", term=7,
                                     commit_index=42, applied_index=42, members=members, has_quorum=True,
                                     role="leader", log_entries=42, state_time_ms=1_700_000_000_000,
                                     epoch=4, takeover_phase=self.state.takeover_phase,
                                     agents_confirmed=1 if degraded else 2, agents_required=2, agents_registered=3,
                                     agents_connected=2)

    def AddMember(self, request: api_pb2.AddMemberRequest, context: grpc.ServicerContext) -> Any:
        self.state.requests.append(request)
        return api_pb2.MembershipResponse(members=[
            commands_pb2.Member(id="r1", raft_address="127.0.0.1:18681", api_address="127.0.0.1:18581"),
            request.member,
        ])

    def RemoveMember(self, request: api_pb2.RemoveMemberRequest, context: grpc.ServicerContext) -> Any:
        self.state.requests.append(request)
        return api_pb2.MembershipResponse(members=[commands_pb2.Member(id="r1", raft_address="127.0.0.1:18681")])

    def TransferLeader(self, request: api_pb2.TransferLeaderRequest, context: grpc.ServicerContext) -> Any:
        return api_pb2.TransferLeaderResponse(leader_id=request.target_id or "r2")

    def Digest(self, request: api_pb2.DigestRequest, context: grpc.ServicerContext) -> Any:
        return api_pb2.DigestResponse(applied_index=self.state.applied_index, digest=self.state.digest,
                                      self_id=self.state.self_id)


FINAL = {RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED}


class FakeRuns(api_pb2_grpc.RunServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def _run(self, run_id: str, context: grpc.ServicerContext) -> runs_pb2.Run:
        run = self.state.runs.get(run_id)
        if run is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"run_id: no run {run_id!r}")
        return run

    def TriggerRun(self, request: api_pb2.TriggerRunRequest, context: grpc.ServicerContext) -> Any:
        with self.state.lock:
            self.state.requests.append(request)
            if request.idempotency_key in self.state.by_key:
                return self.state.runs[self.state.by_key[request.idempotency_key]]
            history = self.state.jobs.get(request.job_name)
            if not history or history[-1].deleted:
                context.abort(grpc.StatusCode.NOT_FOUND, f"job_name: job {request.job_name!r} not found")
            run_id = f"r{len(self.state.runs) + 1}"
            run = runs_pb2.Run(run_id=run_id, job_name=request.job_name, job_version=history[-1].version,
                               params=request.params, state=RS.QUEUED, created_ms=1_700_000_000_000,
                               spec=history[-1].spec, idempotency_key=request.idempotency_key)
            run.transitions.add(state=RS.QUEUED, time_ms=1_700_000_000_000, cause="manual run")
            self.state.runs[run_id] = run
            self.state.by_key[request.idempotency_key] = run_id
            return run

    def GetRun(self, request: api_pb2.GetRunRequest, context: grpc.ServicerContext) -> Any:
        with self.state.lock:
            return self.step(self._run(request.run_id, context))

    def step(self, run: runs_pb2.Run) -> runs_pb2.Run:
        """The run's next scripted state (``outcomes``), as a real run moves on between two looks."""
        steps = self.state.outcomes.get(run.job_name)
        if steps:
            state, exit_code = steps.pop(0) if len(steps) > 1 else steps[0]
            if state != run.state:
                run.state = state
                run.attempt = run.attempt or 1
                run.agent_id = "a1"
                run.transitions.add(state=state, time_ms=1_700_000_001_000, attempt=run.attempt, agent_id="a1",
                                    epoch=4, cause=f"exit code {exit_code}" if state in FINAL else "")
                if state in FINAL:
                    run.exit_code = exit_code
                    run.finished_ms = 1_700_000_002_000
        return run

    def ListRuns(self, request: api_pb2.ListRunsRequest, context: grpc.ServicerContext) -> Any:
        self.state.requests.append(request)
        runs = [r for r in reversed(list(self.state.runs.values()))
                if (not request.job_name or r.job_name == request.job_name)
                and (not request.state or r.state == request.state)]
        start = int(request.page_token or 0)
        size = request.page_size or 100
        token = str(start + size) if start + size < len(runs) else ""
        page = []
        for run in runs[start:start + size]:
            copy = runs_pb2.Run()
            copy.CopyFrom(run)
            copy.ClearField("output_tail")
            page.append(copy)
        return api_pb2.ListRunsResponse(runs=page, next_page_token=token)

    def KillRun(self, request: api_pb2.KillRunRequest, context: grpc.ServicerContext) -> Any:
        with self.state.lock:
            self.state.requests.append(request)
            run = self._run(request.run_id, context)
            if run.state in FINAL:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"run_id: {run.run_id} already ended ({RS.Name(run.state)})")
            run.kill_requested = True
            if run.state == RS.QUEUED:
                run.state = RS.KILLED
            return run

    def GetRunLogs(self, request: api_pb2.GetRunLogsRequest, context: grpc.ServicerContext) -> Any:
        with self.state.lock:
            self.state.requests.append(request)
            run = self._run(request.run_id, context)
            log = self.state.logs.setdefault(run.run_id, bytearray())
            if self.state.log_growth:
                log += self.state.log_growth.pop(0)
            data = bytes(log[request.offset:request.offset + self.state.log_page])
            end = request.offset + len(data)
            complete = self.state.log_complete and end >= len(log) and not self.state.log_growth
            return api_pb2.GetRunLogsResponse(data=data, next_offset=end, complete=complete,
                                              source=self.state.log_source, state=run.state)

    def ListAgents(self, request: api_pb2.ListAgentsRequest, context: grpc.ServicerContext) -> Any:
        return api_pb2.ListAgentsResponse(agents=self.state.agents)

    def ForceDispatch(self, request: api_pb2.ForceDispatchRequest, context: grpc.ServicerContext) -> Any:
        self.state.requests.append(request)
        if not request.reason.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "reason: required")
        return api_pb2.ForceDispatchResponse(epoch=4)


@dataclass
class Fake:
    address: str
    state: FakeState


class FakeWatch(watch_pb2_grpc.WatchServiceServicer):
    """Watches of a fake that has no change feed: the watched run moves one scripted step every
    10 ms (a PUT when that changed it, else a BOOKMARK), like a real run with its changes."""

    def __init__(self, runs: FakeRuns) -> None:
        self.runs = runs

    def WatchRuns(self, request: watch_pb2.WatchRunsRequest, context: grpc.ServicerContext) -> Any:
        WE = watch_pb2.WatchEvent
        index = 100
        with self.runs.state.lock:
            run = self.runs.state.runs.get(request.run_id)
        if not request.from_index:
            if run is not None:
                with self.runs.state.lock:
                    self.runs.step(run)
                yield watch_pb2.WatchResponse(events=[WE(type=WE.SNAPSHOT, index=index, key=run.run_id, run=run)])
            yield watch_pb2.WatchResponse(events=[WE(type=WE.SYNCED, index=index)])
        for _ in range(2000):
            if not context.is_active() or run is None:
                return
            threading.Event().wait(0.01)  # the fake's pace of change, not a synchronisation
            index += 1
            with self.runs.state.lock:
                before = run.SerializeToString()
                self.runs.step(run)
                event = WE(type=WE.PUT, index=index, key=run.run_id, run=run) \
                    if run.SerializeToString() != before else WE(type=WE.BOOKMARK, index=index)
            yield watch_pb2.WatchResponse(events=[event])


def _start_fake(state: FakeState) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    runs = FakeRuns(state)
    watch_pb2_grpc.add_WatchServiceServicer_to_server(FakeWatch(runs), server)
    api_pb2_grpc.add_JobServiceServicer_to_server(FakeJobs(state), server)
    api_pb2_grpc.add_ClusterServiceServicer_to_server(FakeCluster(state), server)
    api_pb2_grpc.add_RunServiceServicer_to_server(runs, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = FakeState()
    server, address = _start_fake(state)
    try:
        yield Fake(address, state)
    finally:
        server.stop(grace=None)


@pytest.fixture(autouse=True)
def _no_env_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("WLOADCTL_SERVER", "WLOADCTL_DEBUG", "WLOADCTL_TOKEN", "WLOADCTL_API_KEY", "WLOADCTL_CA"):
        monkeypatch.delenv(name, raising=False)
    # The fake speaks plaintext without credentials: the user's own CLI config (its CA, a login) must not apply.
    monkeypatch.setenv("WLOADCTL_CONFIG", str(tmp_path / "no-such-dir" / "config.toml"))


def run(capsys: pytest.CaptureFixture[str], fake: Fake, *argv: str) -> tuple[int, str, str]:
    code = main(["--server", fake.address, "--timeout", "5", "--retry-for", "1", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


JOB_YAML = """\
apiVersion: wloadctl/v1
kind: Job
metadata:
  name: nightly-backup
  domain: ops
  labels: {team: ops, tier: "1"}
spec:
  command: [/usr/bin/backup, --full, "two words"]
  env: {A: "1"}
  workingDir: /srv
  timeout: 1h30m
---
apiVersion: wloadctl/v1
kind: Job
metadata:
  name: report
spec:
  script: |
    echo start
    run-report --fast
"""


@pytest.fixture
def job_file(tmp_path: Path) -> str:
    path = tmp_path / "jobs.yaml"
    path.write_text(JOB_YAML)
    return str(path)


# ---- parsing -------------------------------------------------------------------------------

HELP_ARGVS = [
    ["--help"],
    ["server", "--help"],
    ["up", "--help"],
    ["apply", "--help"],
    ["get", "--help"],
    ["get", "jobs", "--help"],
    ["get", "job", "--help"],
    ["describe", "--help"],
    ["describe", "job", "--help"],
    ["delete", "--help"],
    ["delete", "job", "--help"],
    ["cluster", "--help"],
    ["cluster", "status", "--help"],
    ["cluster", "add-member", "--help"],
    ["cluster", "remove-member", "--help"],
    ["cluster", "transfer-leader", "--help"],
    ["cluster", "digest", "--help"],
    ["cluster", "force-dispatch", "--help"],
    ["run", "--help"],
    ["get", "runs", "--help"],
    ["get", "run", "--help"],
    ["get", "agents", "--help"],
    ["describe", "run", "--help"],
    ["logs", "--help"],
    ["kill", "--help"],
    ["--version"],
]


@pytest.mark.parametrize("argv", HELP_ARGVS, ids=lambda a: " ".join(a))
def test_help_exits_zero(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: wloadctl") or out.startswith("wloadctl ")


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["get"],
    ["get", "pods"],
    ["get", "job"],
    ["get", "jobs", "-l", "novalue"],
    ["get", "jobs", "--limit", "0"],
    ["get", "job", "x", "--version", "0"],
    ["-o", "xml", "get", "jobs"],
    ["--timeout", "0", "get", "jobs"],
    ["--timeout", "soon", "get", "jobs"],
    ["apply"],
    ["server"],
    ["server", "--config", "c.toml", "--log-level", "loud"],
    ["up", "--replicas", "2"],
    ["up", "--base-port", "0"],
    ["cluster", "add-member", "r4"],
    ["cluster", "add-member", "r4", "not-an-address"],
    ["cluster", "add-member", "r4", "h:1", "--api-address", "h:99999"],
    ["cluster", "remove-member"],
    ["delete", "job"],
    ["get", "jobs", "--serv", "x"],  # no abbreviations: new options must not break scripts
    ["run"],
    ["run", "job", "--param", "novalue"],
    ["run", "job", "--param", "=value"],
    ["run", "job", "--wait", "--wait-timeout", "0"],
    ["run", "job", "--wait", "--wait-timeout", "soon"],
    ["run", "job", "--wait-timeout", "5"],  # without --wait
    ["get", "run"],
    ["get", "runs", "--state", "bogus"],
    ["get", "runs", "--limit", "0"],
    ["describe", "run"],
    ["logs"],
    ["logs", "r1", "--attempt", "0"],
    ["kill"],
    ["cluster", "force-dispatch"],
    ["cluster", "force-dispatch", "--reason", " "],
    ["cluster", "force-dispatch", "--operator", "me"],
], ids=lambda a: " ".join(a) or "<empty>")
def test_usage_errors_exit_two(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "name", "meant", "prog"), [
    # Global options are the root's: its usage, wherever they stand.
    (["get", "--serv", "x", "jobs"], "--serv", "--server", "wloadctl"),
    (["--serv", "x", "get", "jobs"], "--serv", "--server", "wloadctl"),
    (["get", "jobs", "--serv", "x"], "--serv", "--server", "wloadctl"),
    (["get", "jobs", "--serv=x"], "--serv", "--server", "wloadctl"),
    (["--time", "3", "cluster", "status"], "--time", "--timeout", "wloadctl"),
    (["get", "runs", "--retry", "1"], "--retry", "--retry-for", "wloadctl"),
    (["get", "--out", "json", "agents"], "--out", "--output", "wloadctl"),
    (["get", "jobs", "--dom", "ops"], "--dom", "--domain", "wloadctl get jobs"),
    (["get", "job", "x", "--vers", "2"], "--vers", "--version", "wloadctl get job"),
    (["logs", "r1", "--foll"], "--foll", "--follow", "wloadctl logs"),
    (["run", "job", "--wa"], "--wa", "--wait or --wait-timeout", "wloadctl run"),
    (["delete", "job", "x", "--idem", "k"], "--idem", "--idempotency-key", "wloadctl delete job"),
    (["cluster", "add-member", "r4", "h:1", "--api", "h:2"], "--api", "--api-address or --api-key",
         "wloadctl cluster add-member"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_abbreviated_options_are_named_as_such(argv: list[str], name: str, meant: str, prog: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {prog} ")
    assert err.splitlines()[-1] == (f"{prog}: error: unrecognized option {name} (options can't be abbreviated; "
                                    f"did you mean {meant}?)")


def test_every_verb_parses() -> None:
    parser = build_parser()
    cases: dict[str, list[str]] = {
        "server": ["server", "--config", "r1.toml", "--insecure", "--log-format", "human", "--log-level", "DEBUG"],
        "up": ["up", "--replicas", "5", "--base-port", "20000", "--data-dir", "/tmp/x", "--insecure",
               "--log-format", "json"],
        "apply": ["apply", "-f", "a.yaml", "-f", "-", "--idempotency-key", "k1"],
        "get jobs": ["get", "jobs", "--domain", "d", "-l", "a=b", "-l", "c=d,e=", "--limit", "5"],
        "get job": ["get", "job", "x", "--version", "3", "--export"],
        "describe": ["describe", "job", "x"],
        "delete": ["delete", "job", "x", "--idempotency-key", "k2"],
        "status": ["cluster", "status"],
        "add": ["cluster", "add-member", "r4", "10.0.0.4:18681", "--api-address", "10.0.0.4:18581"],
        "remove": ["cluster", "remove-member", "r4"],
        "transfer": ["cluster", "transfer-leader", "r2"],
        "transfer any": ["cluster", "transfer-leader"],
        "digest": ["cluster", "digest"],
        "run": ["run", "job", "--param", "a=b=c", "--param", "e=", "--idempotency-key", "k3", "--wait",
                "--wait-timeout", "7.5"],
        "get runs": ["get", "runs", "--job", "j", "--state", "Timed-Out", "--limit", "3"],
        "get run": ["get", "run", "r1"],
        "describe run": ["describe", "run", "r1"],
        "logs": ["logs", "r1", "-f", "--attempt", "2"],
        "kill": ["kill", "r1", "--idempotency-key", "k4"],
        "agents": ["get", "agents"],
        "force": ["cluster", "force-dispatch", "--reason", "rack down", "--operator", "ops"],
    }
    parsed = {name: parser.parse_args(argv) for name, argv in cases.items()}
    s = parsed["server"]
    assert (s.config, s.insecure, s.log_format, s.log_level) == ("r1.toml", True, "human", "debug")
    u = parsed["up"]
    assert (u.replicas, u.base_port, u.data_dir, u.insecure, u.log_format) == (5, 20000, "/tmp/x", True, "json")
    assert parsed["apply"].file == ["a.yaml", "-"] and parsed["apply"].idempotency_key == "k1"
    g = parsed["get jobs"]
    assert g.domain == "d" and g.limit == 5
    assert g.selector == [[("a", "b")], [("c", "d"), ("e", "")]]
    j = parsed["get job"]
    assert (j.name, j.version, j.export) == ("x", 3, True)
    assert parsed["delete"].idempotency_key == "k2"
    a = parsed["add"]
    assert (a.id, a.raft_address, a.api_address) == ("r4", "10.0.0.4:18681", "10.0.0.4:18581")
    assert parsed["transfer"].target == "r2" and parsed["transfer any"].target == ""
    assert parser.parse_args(["cluster", "add-member", "r4", "h:1"]).api_address is None
    up_defaults = parser.parse_args(["up"])
    assert (up_defaults.replicas, up_defaults.base_port, up_defaults.log_format) == (3, 18581, "human")
    r = parsed["run"]
    assert (r.job, r.param, r.idempotency_key, r.wait, r.wait_timeout) == (
        "job", [("a", "b=c"), ("e", "")], "k3", True, 7.5)
    r = parser.parse_args(["run", "job"])
    assert (r.param, r.idempotency_key, r.wait, r.wait_timeout) == ([], "", False, None)
    g = parsed["get runs"]
    assert (g.job, g.state, g.limit) == ("j", RS.TIMED_OUT, 3)
    assert parser.parse_args(["get", "runs"]).state == 0
    assert parsed["get run"].run_id == "r1" and parsed["describe run"].run_id == "r1"
    lg = parsed["logs"]
    assert (lg.run_id, lg.follow, lg.attempt) == ("r1", True, 2)
    assert parser.parse_args(["logs", "r1"]).attempt == 0
    assert (parsed["kill"].run_id, parsed["kill"].idempotency_key) == ("r1", "k4")
    assert (parsed["force"].reason, parsed["force"].operator) == ("rack down", "ops")


def test_unknown_run_state_lists_valid_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["get", "runs", "--state", "done"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown run state 'done'" in err
    assert "pending, queued, dispatched, running, succeeded, failed, timed_out, killed, lost, retry_wait, skipped" \
        in err


def test_global_options_anywhere() -> None:
    parser = build_parser()
    ctx = merge_globals(parser.parse_args(["get", "jobs"]))
    assert (ctx.servers, ctx.output, ctx.timeout, ctx.retry_for) == ([], "table", 10.0, 15.0)
    for argv in (
        ["--server", "a:1", "-o", "json", "--timeout", "3", "--retry-for", "2", "get", "jobs"],
        ["get", "--server", "a:1", "-o", "json", "jobs", "--timeout", "3", "--retry-for", "2"],
        ["get", "jobs", "--server", "a:1", "--output", "json", "--timeout", "3", "--retry-for", "2"],
        ["get", "jobs", "--server=a:1", "-ojson", "--timeout=3", "--retry-for=2"],
    ):
        ctx = merge_globals(parser.parse_args(argv))
        assert (ctx.servers, ctx.output, ctx.timeout, ctx.retry_for) == (["a:1"], "json", 3.0, 2.0), argv
    # --server accumulates across levels; for single-valued options the innermost wins.
    ctx = merge_globals(parser.parse_args(
        ["--server", "a:1", "-o", "yaml", "cluster", "--server", "b:2", "status", "--server", "c:3", "-o", "json"]))
    assert ctx.servers == ["a:1", "b:2", "c:3"] and ctx.output == "json"


# ---- output helpers ------------------------------------------------------------------------


def test_render_table_aligns_columns() -> None:
    text = output.render_table(("NAME", "VERSION"), [("a", 1), ("long-name", 12), ("x\ny", "")])
    assert text == (
        "NAME        VERSION\n"
        "a           1\n"
        "long-name   12\n"
        "x y\n"
    )
    assert output.render_table(("A", "B"), []) == "A   B\n"


def sample_version() -> jobs_pb2.JobVersion:
    spec = jobs_pb2.JobSpec(name="nightly", domain="ops", labels={"team": "ops"}, timeout_seconds=90)
    spec.command.argv.args.extend(["/bin/echo", "hi there"])
    return jobs_pb2.JobVersion(spec=spec, version=3, created_ms=1_700_000_000_000, raft_index=2**40)


def test_message_to_dict_complete_ordered_and_numeric() -> None:
    data = output.message_to_dict(sample_version())
    assert list(data) == ["spec", "version", "created_ms", "raft_index", "deleted"]
    assert data["version"] == 3 and data["raft_index"] == 2**40 and data["deleted"] is False
    assert list(data["spec"]) == ["name", "domain", "description", "labels", "command", "env",
                                  "working_dir", "timeout_seconds", "agent_selector", "lost_policy",
                                  "max_attempts", "task_type", "run_as", "secret_env", "schedules",
                                  "time_zone", "start_ms", "end_ms", "jitter_seconds", "dst_gap", "dst_repeat",
                                  "misfire", "overlap", "suspended", "calendars", "non_working_day",
                                  "business_day_start_minutes", "events", "keep_runs", "keep_runs_seconds",
                                  "file_triggers"]
    assert data["spec"]["misfire"] == {"action": "MISFIRE_RUN_LATEST", "grace_seconds": 0, "window_seconds": 0,
                                       "max_count": 0}  # an unset message prints with its defaults
    assert (data["spec"]["lost_policy"], data["spec"]["task_type"]) == ("RETRY", "COMMAND")  # enums by name
    assert data["spec"]["command"] == {"argv": {"args": ["/bin/echo", "hi there"]}}
    status = output.message_to_dict(api_pb2.ClusterStatus(members=[api_pb2.MemberStatus(id="r1")]))
    # Defaults are present so scripts never have to guess whether a key exists.
    assert status["leader_id"] == "" and status["term"] == 0 and status["has_quorum"] is False
    assert status["members"][0] == {"id": "r1", "raft_address": "", "api_address": "", "role": "",
                                    "connected": False, "match_index": 0, "lag": 0, "is_self": False}


def test_json_and_yaml_dump_round_trip() -> None:
    data = output.message_to_dict(sample_version())
    assert json.loads(output.dump(data, "json")) == data
    assert yaml.safe_load(output.dump(data, "yaml")) == data
    with pytest.raises(ValueError):
        output.dump(data, "table")


def test_yaml_multiline_strings_use_literal_blocks() -> None:
    text = output.dump_yaml({"script": "echo a\necho b\n"})
    assert text == "script: |\n  echo a\n  echo b\n"
    awkward = {"s": "trailing  \nline\n", "t": " lead\n\tx"}
    assert yaml.safe_load(output.dump_yaml(awkward)) == awkward


def test_format_helpers() -> None:
    assert output.format_ms(1_700_000_000_000) == "2023-11-14T22:13:20Z"
    assert output.format_ms(0) == "-"
    assert output.format_duration(5400) == "1h30m"
    assert output.format_duration(90061) == "1d1h1m1s"
    assert output.truncate("abcdef", 4) == "abc…"


# ---- commands against the fake server ------------------------------------------------------


def test_apply_table_output(capsys: pytest.CaptureFixture[str], fake: Fake, job_file: str) -> None:
    code, out, err = run(capsys, fake, "apply", "-f", job_file, "--idempotency-key", "k-1")
    assert code == 0, err
    assert out == "job/nightly-backup created (version 1)\njob/report created (version 1)\n"
    assert fake.state.requests[-1].idempotency_key == "k-1"
    code, out, _ = run(capsys, fake, "apply", "-f", job_file)
    assert out == "job/nightly-backup unchanged (version 1)\njob/report unchanged (version 1)\n"
    Path(job_file).write_text(JOB_YAML.replace("run-report --fast", "run-report --slow"))
    code, out, _ = run(capsys, fake, "apply", "-f", job_file)
    assert out == "job/nightly-backup unchanged (version 1)\njob/report configured (version 2)\n"


def test_apply_json_output(capsys: pytest.CaptureFixture[str], fake: Fake, job_file: str) -> None:
    code, out, _ = run(capsys, fake, "apply", "-f", job_file, "-o", "json")
    assert code == 0
    assert json.loads(out) == {
        "jobs": [{"name": "nightly-backup", "version": 1, "changed": True},
                 {"name": "report", "version": 1, "changed": True}],
        "raft_index": 11,
    }


def test_apply_invalid_file_reports_each_error(capsys: pytest.CaptureFixture[str], fake: Fake,
                                               tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: wloadctl/v1\nkind: Job\nmetadata: {name: 'bad name'}\nspec: {}\n")
    code, out, err = run(capsys, fake, "apply", "-f", str(bad))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert "metadata.name" in err and "spec.command" in err
    assert not fake.state.requests  # nothing was sent


def test_apply_missing_file(capsys: pytest.CaptureFixture[str], fake: Fake, tmp_path: Path) -> None:
    code, _, err = run(capsys, fake, "apply", "-f", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and "no such file" in err


def test_get_jobs_table_json_and_limit(capsys: pytest.CaptureFixture[str], fake: Fake, job_file: str) -> None:
    run(capsys, fake, "apply", "-f", job_file)
    code, out, _ = run(capsys, fake, "get", "jobs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DOMAIN", "VERSION", "COMMAND", "UPDATED"]
    assert lines[1].startswith("nightly-backup   ops ")
    assert "/usr/bin/backup --full 'two words'" in lines[1] and "2023-11-14T22:13:20Z" in lines[1]
    assert "sh -c 'echo start' …" in lines[2]
    header_col = lines[0].index("UPDATED")
    assert all(line[header_col:].startswith("2023") for line in lines[1:])

    code, out, _ = run(capsys, fake, "-o", "json", "get", "jobs", "--limit", "1")
    jobs = json.loads(out)["jobs"]
    assert [j["spec"]["name"] for j in jobs] == ["nightly-backup"]
    assert fake.state.requests[-1].page_size == 1

    code, out, _ = run(capsys, fake, "get", "jobs", "-l", "team=ops", "--domain", "ops", "-o", "yaml")
    assert [j["spec"]["name"] for j in yaml.safe_load(out)["jobs"]] == ["nightly-backup"]
    assert dict(fake.state.requests[-1].label_selector) == {"team": "ops"}


def test_get_jobs_follows_pages(capsys: pytest.CaptureFixture[str], fake: Fake, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    docs = "---\n".join(
        f"apiVersion: wloadctl/v1\nkind: Job\nmetadata: {{name: job-{i:02d}}}\nspec: {{command: [x]}}\n"
        for i in range(7))
    (tmp_path / "many.yaml").write_text(docs)
    run(capsys, fake, "apply", "-f", str(tmp_path / "many.yaml"))
    monkeypatch.setattr("wloadctl.cli.context.LIST_PAGE_SIZE", 3)
    code, out, _ = run(capsys, fake, "get", "jobs", "-o", "json")
    assert len(json.loads(out)["jobs"]) == 7
    code, out, _ = run(capsys, fake, "get", "jobs", "--limit", "5", "-o", "json")
    assert code == 0 and len(json.loads(out)["jobs"]) == 5


def test_get_jobs_empty(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run(capsys, fake, "get", "jobs")
    assert (code, out) == (0, "") and "No jobs found" in err
    code, out, _ = run(capsys, fake, "get", "jobs", "-o", "json")
    assert json.loads(out) == {"jobs": []}


def test_get_job_outputs_and_export(capsys: pytest.CaptureFixture[str], fake: Fake, job_file: str) -> None:
    run(capsys, fake, "apply", "-f", job_file)
    code, out, _ = run(capsys, fake, "get", "job", "report", "-o", "yaml")
    data = yaml.safe_load(out)
    assert data["version"] == 1 and data["deleted"] is False and data["raft_index"] == 11
    assert data["spec"]["command"]["shell"] == "echo start\nrun-report --fast\n"
    code, out, _ = run(capsys, fake, "get", "job", "nightly-backup")
    assert out.splitlines()[0].startswith("NAME") and len(out.splitlines()) == 2

    code, exported, _ = run(capsys, fake, "get", "job", "nightly-backup", "--export")
    assert code == 0
    [spec] = parse_documents(exported)
    assert spec == fake.state.jobs["nightly-backup"][-1].spec
    code, exported, _ = run(capsys, fake, "get", "job", "report", "--export")
    assert "script: |" in exported
    assert parse_documents(exported) == [fake.state.jobs["report"][-1].spec]
    code, out, _ = run(capsys, fake, "get", "job", "report", "--export", "-o", "json")
    assert json.loads(out)["spec"]["script"] == "echo start\nrun-report --fast\n"


def test_get_job_not_found(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run(capsys, fake, "get", "job", "ghost")
    assert code == 1 and out == ""
    assert err == 'error: job "ghost" not found\n'


def test_describe_job(capsys: pytest.CaptureFixture[str], fake: Fake, job_file: str) -> None:
    run(capsys, fake, "apply", "-f", job_file)
    code, out, _ = run(capsys, fake, "describe", "job", "nightly-backup")
    assert code == 0
    assert "Name:        nightly-backup\n" in out
    assert "Domain:      ops\n" in out
    assert "Updated:     2023-11-14T22:13:20Z\n" in out
    assert "Labels:      team=ops\n             tier=1\n" in out
    assert "Command:     /usr/bin/backup --full 'two words'\n" in out
    assert "Env:         A=1\n" in out
    assert "Working dir: /srv\n" in out
    assert "Timeout:     1h30m (5400s)\n" in out
    code, out, _ = run(capsys, fake, "describe", "job", "report")
    assert "Script:      (run by /bin/sh -c)\n  echo start\n  run-report --fast\n" in out
    assert "Labels:      <none>\n" in out and "Timeout:     none\n" in out
    code, out, _ = run(capsys, fake, "describe", "job", "report", "-o", "json")
    assert json.loads(out)["spec"]["name"] == "report"


def test_delete_job(capsys: pytest.CaptureFixture[str], fake: Fake, job_file: str) -> None:
    run(capsys, fake, "apply", "-f", job_file)
    code, out, _ = run(capsys, fake, "delete", "job", "report")
    assert (code, out) == (0, "job/report deleted (version 2)\n")
    code, out, _ = run(capsys, fake, "delete", "job", "report", "-o", "json")
    assert json.loads(out) == {"job": {"name": "report", "version": 2, "changed": False}, "raft_index": 13}
    code, out, _ = run(capsys, fake, "delete", "job", "report")
    assert out == "job/report unchanged (already deleted)\n"


def test_cluster_status(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "cluster", "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("leader:") and "r1" in lines[0]
    assert lines[1] == "term:          7"
    assert lines[2] == "commit index:  42" and lines[3] == "applied index: 42"
    table = out.split("\n\n", 1)[1].splitlines()
    assert re.split(r" {2,}", table[0]) == ["ID", "RAFT ADDRESS", "API ADDRESS", "ROLE", "CONNECTED", "MATCH INDEX",
                                    "LAG"]
    assert table[2].split() == ["r2", "127.0.0.1:18682", "127.0.0.1:18582", "follower", "no", "40", "2"]

    code, out, _ = run(capsys, fake, "cluster", "status", "-o", "json")
    data = json.loads(out)
    assert data["leader_id"] == "r1" and data["term"] == 7 and data["has_quorum"] is True
    assert data["members"][1]["api_address"] == "127.0.0.1:18582"
    assert data["members"][1]["connected"] is False and data["members"][1]["lag"] == 2


def test_membership_commands(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "cluster", "add-member", "r4", "127.0.0.1:18684",
                       "--api-address", "127.0.0.1:18584")
    assert (code, out) == (0, "member/r4 added (2 members: r1, r4)\n")
    request = fake.state.requests[-1]
    assert (request.member.id, request.member.raft_address, request.member.api_address) == (
        "r4", "127.0.0.1:18684", "127.0.0.1:18584")
    assert request.idempotency_key
    code, out, _ = run(capsys, fake, "cluster", "add-member", "r5", "127.0.0.1:18685", "-o", "json")
    assert json.loads(out)["members"][1] == {"id": "r5", "raft_address": "127.0.0.1:18685", "api_address": ""}
    code, out, _ = run(capsys, fake, "cluster", "remove-member", "r4")
    assert (code, out) == (0, "member/r4 removed (1 members: r1)\n")
    code, out, _ = run(capsys, fake, "cluster", "transfer-leader", "r3")
    assert out == "leader is now r3\n"
    code, out, _ = run(capsys, fake, "cluster", "transfer-leader", "-o", "json")
    assert json.loads(out) == {"leader_id": "r2"}


def test_cluster_status_epoch_takeover_and_agents(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, _ = run(capsys, fake, "cluster", "status")
    header = out.split("\n\n", 1)[0].splitlines()
    assert "epoch:         4" in header
    assert "takeover:      active" in header
    assert "agents:        2/2 confirmed, 3 registered, 2 connected" in header
    assert "DEGRADED" not in out
    code, out, _ = run(capsys, fake, "cluster", "status", "-o", "json")
    data = json.loads(out)
    assert code == 0
    assert (data["epoch"], data["takeover_phase"], data["agents_confirmed"], data["agents_required"],
            data["agents_registered"], data["agents_connected"], data["dispatch_forced"]) == (
        4, "active", 2, 2, 3, 2, False)


def test_cluster_status_degraded(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    fake.state.takeover_phase = "degraded"
    code, out, _ = run(capsys, fake, "cluster", "status")
    assert code == 0
    header, table = out.split("\n\n", 1)
    assert "takeover:      degraded" in header.splitlines()
    [degraded] = [line for line in header.splitlines() if line.startswith("DEGRADED")]
    assert degraded.startswith("DEGRADED: no agent quorum (1 of 2 agents confirmed the epoch)")
    assert table.splitlines()[0].startswith("ID ")


# ---- runs, logs, agents --------------------------------------------------------------------


@pytest.fixture
def with_jobs(fake: Fake, job_file: str, monkeypatch: pytest.MonkeyPatch) -> Fake:
    assert main_quiet(fake, "apply", "-f", job_file)[0] == 0
    fake.state.requests.clear()
    return fake


def test_run_prints_the_new_run(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    fake = with_jobs
    code, out, err = run(capsys, fake, "run", "report", "--param", "day=2024-05-01", "--param", "expr=a=b",
                         "--param", "day=2024-05-02")
    assert (code, out, err) == (0, "run/r1 queued (job report)\n", "")
    request = fake.state.requests[-1]
    assert request.job_name == "report"
    assert dict(request.params) == {"day": "2024-05-02", "expr": "a=b"}  # a later KEY wins
    assert len(request.idempotency_key) == 32  # generated

    code, out, _ = run(capsys, fake, "run", "report", "--idempotency-key", "once", "-o", "json")
    data = json.loads(out)
    assert data["run_id"] == "r2" and data["state"] == "QUEUED" and data["job_version"] == 1
    assert data["idempotency_key"] == "once" and data["output_tail"] == ""
    # The same key again: the same run.
    code, out, _ = run(capsys, fake, "run", "report", "--idempotency-key", "once")
    assert out == "run/r2 queued (job report)\n"


def test_run_unknown_job(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    code, out, err = run(capsys, with_jobs, "run", "ghost")
    assert (code, out) == (1, "")
    assert err == "error: no job or workflow named 'ghost'\n"


def test_run_wait_succeeded_exits_zero(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    with_jobs.state.outcomes["report"] = [(RS.DISPATCHED, 0), (RS.RUNNING, 0), (RS.SUCCEEDED, 0)]
    code, out, err = run(capsys, with_jobs, "run", "report", "--wait")
    assert (code, err) == (0, "")
    assert out == "run/r1 queued (job report)\nrun/r1 succeeded (exit 0)\n"


def test_run_wait_failed_exits_one(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    with_jobs.state.outcomes["report"] = [(RS.RUNNING, 0), (RS.FAILED, 3)]
    code, out, err = run(capsys, with_jobs, "run", "report", "--wait", "--wait-timeout", "30")
    assert code == 1
    assert out == "run/r1 queued (job report)\nrun/r1 failed (exit 3)\n"
    assert err == "error: run r1 ended FAILED: exit code 3\n"


def test_run_wait_json_is_one_document(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    with_jobs.state.outcomes["report"] = [(RS.TIMED_OUT, -9)]
    code, out, _ = run(capsys, with_jobs, "run", "report", "--wait", "-o", "json")
    assert code == 1
    data = json.loads(out)
    assert (data["state"], data["exit_code"]) == ("TIMED_OUT", -9)


def test_run_wait_timeout(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    with_jobs.state.outcomes["report"] = [(RS.RUNNING, 0)]
    code, out, err = run(capsys, with_jobs, "run", "report", "--wait", "--wait-timeout", "0.1")
    assert code == 1 and out == "run/r1 queued (job report)\n"
    assert err.startswith("error: run r1 did not finish within 0.1s (state RUNNING); the run goes on")
    assert err.count("\n") == 1


def add_runs(fake: Fake) -> None:
    for job, outcome in (("report", RS.SUCCEEDED), ("nightly-backup", RS.FAILED), ("report", RS.RUNNING)):
        fake.state.outcomes[job] = [(outcome, 1 if outcome == RS.FAILED else 0)]
        _, out, _ = main_quiet(fake, "run", job, "-o", "json")
        main_quiet(fake, "get", "run", json.loads(out)["run_id"])  # steps it to its outcome


def main_quiet(fake: Fake, *argv: str) -> tuple[int, str, str]:
    """main() with its output kept out of capsys (for setup steps)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--server", fake.address, "--timeout", "5", "--retry-for", "1", *argv])
    return code, out.getvalue(), err.getvalue()


def test_get_runs(capsys: pytest.CaptureFixture[str], with_jobs: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    add_runs(with_jobs)
    code, out, _ = run(capsys, with_jobs, "get", "runs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "JOB", "STATE", "ATTEMPT", "AGENT", "EXIT", "CREATED"]
    assert lines[1].split() == ["r3", "report", "RUNNING", "1", "a1", "-", "2023-11-14T22:13:20Z"]
    assert lines[2].split() == ["r2", "nightly-backup", "FAILED", "1", "a1", "1", "2023-11-14T22:13:20Z"]
    assert lines[3].split()[:6] == ["r1", "report", "SUCCEEDED", "1", "a1", "0"]

    code, out, _ = run(capsys, with_jobs, "get", "runs", "--job", "report", "--state", "succeeded", "-o", "json")
    runs = json.loads(out)["runs"]
    assert [r["run_id"] for r in runs] == ["r1"]
    request = with_jobs.state.requests[-1]
    assert (request.job_name, request.state) == ("report", RS.SUCCEEDED)

    monkeypatch.setattr("wloadctl.cli.context.LIST_PAGE_SIZE", 2)
    code, out, _ = run(capsys, with_jobs, "get", "runs", "-o", "yaml")
    assert [r["run_id"] for r in yaml.safe_load(out)["runs"]] == ["r3", "r2", "r1"]  # followed the pages
    code, out, _ = run(capsys, with_jobs, "get", "runs", "--limit", "1", "-o", "json")
    assert [r["run_id"] for r in json.loads(out)["runs"]] == ["r3"]
    assert with_jobs.state.requests[-1].page_size == 1

    code, out, err = run(capsys, with_jobs, "get", "runs", "--state", "KILLED")
    assert (code, out, err) == (0, "", "No runs found.\n")
    code, out, _ = run(capsys, with_jobs, "get", "runs", "--state", "killed", "-o", "json")
    assert json.loads(out) == {"runs": []}


def test_get_run(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    add_runs(with_jobs)
    code, out, _ = run(capsys, with_jobs, "get", "run", "r2")
    assert code == 0 and len(out.splitlines()) == 2
    assert out.splitlines()[1].split()[:3] == ["r2", "nightly-backup", "FAILED"]
    with_jobs.state.runs["r2"].output_tail = b"\xffbinary\n"
    code, out, _ = run(capsys, with_jobs, "get", "run", "r2", "-o", "json")
    data = json.loads(out)
    assert data["state"] == "FAILED" and data["exit_code"] == 1 and data["spec"]["name"] == "nightly-backup"
    assert base64.b64decode(data["output_tail"]) == b"\xffbinary\n"  # bytes are base64 in JSON
    assert data["transitions"][-1] == {"state": "FAILED", "time_ms": 1_700_000_001_000, "attempt": 1,
                                       "agent_id": "a1", "epoch": 4, "cause": "exit code 1"}
    code, out, err = run(capsys, with_jobs, "get", "run", "r99")
    assert (code, out, err) == (1, "", "error: run_id: no run 'r99'\n")


def test_describe_run(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    add_runs(with_jobs)
    stored = with_jobs.state.runs["r2"]
    stored.params["day"] = "2024-05-01"
    stored.error = "disk full"
    stored.started_ms = 1_700_000_000_500
    lines = [f"line {i}".encode() for i in range(30)]
    stored.output_tail = b"\n".join(lines) + b"\n\xff\xfe bad utf-8 \x1b[31mred\n"
    stored.output_bytes = 5000
    code, out, _ = run(capsys, with_jobs, "describe", "run", "r2")
    assert code == 0
    assert "Run:            r2\n" in out
    assert "Job:            nightly-backup (version 1)\n" in out
    assert "State:          FAILED\n" in out
    assert "Attempt:        1\n" in out and "Agent:          a1\n" in out and "Epoch:          -\n" in out
    assert "Params:         day=2024-05-01\n" in out
    assert "Created:        2023-11-14T22:13:20Z\n" in out and "Finished:       2023-11-14T22:13:22Z\n" in out
    assert "Exit code:      1\n" in out and "Error:          disk full\n" in out
    assert "Kill requested: no\n" in out
    transitions = out.split("Transitions:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert transitions[0].split() == ["TIME", "STATE", "ATTEMPT", "AGENT", "EPOCH", "CAUSE"]
    assert transitions[1].split() == ["2023-11-14T22:13:20Z", "QUEUED", "-", "-", "-", "manual", "run"]
    assert transitions[2].split() == ["2023-11-14T22:13:21Z", "FAILED", "1", "a1", "4", "exit", "code", "1"]
    tail = out.split("Output (last 20 lines; 5000 bytes in all", 1)[1].splitlines()[1:]
    assert len(tail) == 20
    assert tail[0] == "  line 11" and tail[-2] == "  line 29"
    assert tail[-1] == "  \ufffd\ufffd bad utf-8 ?[31mred"  # replacement characters, no raw ESC
    code, out, _ = run(capsys, with_jobs, "describe", "run", "r3", "-o", "yaml")
    assert yaml.safe_load(out)["run_id"] == "r3"
    stored.output_gap_bytes = 1234
    code, out, _ = run(capsys, with_jobs, "describe", "run", "r2")
    assert "Output (last 20 lines; 5000 bytes in all, 1234 of them never reached the cluster state, " \
           "`wloadctl logs` prints everything):\n" in out


def run_binary(capsysbinary: pytest.CaptureFixture[bytes], fake: Fake, *argv: str) -> tuple[int, bytes, bytes]:
    code = main(["--server", fake.address, "--timeout", "5", "--retry-for", "1", *argv])
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err


def test_logs_pages_binary_output(capsysbinary: pytest.CaptureFixture[bytes], with_jobs: Fake) -> None:
    fake = with_jobs
    add_runs(fake)
    payload = b"hello\n\x00\xff\xfe\x1b[0m tail\n"
    fake.state.logs["r1"] = bytearray(payload)
    code, out, err = run_binary(capsysbinary, fake, "logs", "r1")
    assert (code, out, err) == (0, payload, b"")
    offsets = [r.offset for r in fake.state.requests if isinstance(r, api_pb2.GetRunLogsRequest)]
    assert offsets == list(range(0, len(payload), 4))  # pages of 4 bytes until complete

    fake.state.requests.clear()
    code, out, err = run_binary(capsysbinary, fake, "logs", "r1", "--attempt", "2")
    assert fake.state.requests[0].attempt == 2


def test_logs_without_follow_stops_when_no_more_data(capsysbinary: pytest.CaptureFixture[bytes],
                                                     with_jobs: Fake) -> None:
    add_runs(with_jobs)
    with_jobs.state.log_complete = False  # still running
    with_jobs.state.logs["r3"] = bytearray(b"0123456789")
    code, out, _ = run_binary(capsysbinary, with_jobs, "logs", "r3")
    assert (code, out) == (0, b"0123456789")


def test_logs_follow_until_complete(capsysbinary: pytest.CaptureFixture[bytes], with_jobs: Fake) -> None:
    add_runs(with_jobs)
    # The log grows while it is followed: empty polls in between, then the rest.
    with_jobs.state.log_growth = [b"first\n", b"", b"", b"second\n", b"", b"third\n"]
    code, out, err = run_binary(capsysbinary, with_jobs, "logs", "r3", "-f")
    assert (code, out, err) == (0, b"first\nsecond\nthird\n", b"")


def test_logs_from_state_prints_a_note(capsysbinary: pytest.CaptureFixture[bytes], with_jobs: Fake) -> None:
    add_runs(with_jobs)
    with_jobs.state.log_source = "state"
    with_jobs.state.log_complete = False  # the tail is never "every byte"
    with_jobs.state.logs["r2"] = bytearray(b"the last bytes\n")
    code, out, err = run_binary(capsysbinary, with_jobs, "logs", "r2", "-f")  # a finished run: -f ends too
    assert (code, out) == (0, b"the last bytes\n")
    lines = err.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("note: the agent of run r2 is unreachable: only the capped tail")


def test_logs_json(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    add_runs(with_jobs)
    with_jobs.state.logs["r1"] = bytearray(b"\xffabc\ndef\n")
    code, out, _ = run(capsys, with_jobs, "logs", "r1", "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert base64.b64decode(data["data"]) == b"\xffabc\ndef\n"
    assert (data["next_offset"], data["complete"], data["source"], data["state"]) == (9, True, "agent", "SUCCEEDED")


def test_logs_interrupted_exits_130(capsys: pytest.CaptureFixture[str], with_jobs: Fake,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    add_runs(with_jobs)
    with_jobs.state.log_complete = False

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while waiting for the run's next change

    monkeypatch.setattr("wloadctl.client.Client.watch_runs", interrupt)
    code, _, err = run(capsys, with_jobs, "logs", "r3", "-f")
    assert code == 130 and err == "error: interrupted\n"


def test_kill(capsys: pytest.CaptureFixture[str], with_jobs: Fake) -> None:
    add_runs(with_jobs)
    main_quiet(with_jobs, "run", "nightly-backup")  # r4, queued
    code, out, _ = run(capsys, with_jobs, "kill", "r4", "--idempotency-key", "k-kill")
    assert (code, out) == (0, "run/r4 kill requested (state killed)\n")
    assert with_jobs.state.requests[-1].idempotency_key == "k-kill"
    code, out, _ = run(capsys, with_jobs, "kill", "r3", "-o", "json")
    data = json.loads(out)
    assert (data["run_id"], data["state"], data["kill_requested"]) == ("r3", "RUNNING", True)
    assert with_jobs.state.requests[-1].idempotency_key  # generated
    code, out, err = run(capsys, with_jobs, "kill", "r1")
    assert (code, out, err) == (1, "", "error: run_id: r1 already ended (SUCCEEDED)\n")


def test_get_agents(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run(capsys, fake, "get", "agents")
    assert (code, out, err) == (0, "", "No agents found.\n")
    fake.state.agents = [
        api_pb2.AgentStatus(agent=runs_pb2.Agent(agent_id="a2", capacity=2, lost_ms=1_700_000_000_000),
                            connected=False, confirmed=False, running=0, free_slots=0, last_heard_s=95.0),
        api_pb2.AgentStatus(agent=runs_pb2.Agent(agent_id="a1", labels={"os": "linux", "gpu": "1"}, capacity=4),
                            connected=True, confirmed=True, running=1, free_slots=3, last_heard_s=0.25),
    ]
    code, out, _ = run(capsys, fake, "get", "agents")
    lines = out.splitlines()
    assert lines[0].split() == ["AGENT", "LABELS", "CAPACITY", "RUNNING", "FREE", "CONNECTED", "CONFIRMED",
                                "LAST-HEARD", "LOST"]
    assert lines[1].split() == ["a1", "gpu=1,os=linux", "4", "1", "3", "yes", "yes", "0.2s", "ago", "no"]
    assert lines[2].split() == ["a2", "-", "2", "0", "0", "no", "no", "1m35s", "ago", "2023-11-14T22:13:20Z"]
    code, out, _ = run(capsys, fake, "get", "agents", "-o", "json")
    agents = json.loads(out)["agents"]
    assert agents[1]["agent"]["labels"] == {"os": "linux", "gpu": "1"} and agents[1]["free_slots"] == 3
    assert agents[0]["agent"]["lost_ms"] == 1_700_000_000_000 and agents[0]["last_heard_s"] == 95.0


def test_force_dispatch(capsys: pytest.CaptureFixture[str], fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "alice")
    code, out, _ = run(capsys, fake, "cluster", "force-dispatch", "--reason", "rack 4 is gone")
    assert (code, out) == (0, "dispatching forced for epoch 4\n")
    request = fake.state.requests[-1]
    assert (request.reason, request.operator) == ("rack 4 is gone", "alice")
    code, out, _ = run(capsys, fake, "cluster", "force-dispatch", "--reason", "r", "--operator", "bob", "-o", "json")
    assert json.loads(out) == {"epoch": 4}
    assert fake.state.requests[-1].operator == "bob"


def test_empty_job_in_tables_and_describe(capsys: pytest.CaptureFixture[str], fake: Fake, tmp_path: Path) -> None:
    path = tmp_path / "join.yaml"
    path.write_text("kind: Job\nmetadata: {name: join}\nspec:\n  type: empty\n  agentSelector: {os: linux}\n"
                    "  lostPolicy: fail\n  maxAttempts: 2\n")
    assert run(capsys, fake, "apply", "-f", str(path))[0] == 0
    code, out, _ = run(capsys, fake, "get", "jobs")
    assert out.splitlines()[1].split()[:4] == ["join", "-", "1", "(empty)"]
    code, out, _ = run(capsys, fake, "describe", "job", "join")
    assert "Type:        empty (runs nothing)\n" in out and "Command:     -\n" in out
    assert "Selector:    os=linux\n" in out
    assert "Lost policy: fail (when the agent running it is lost)\n" in out
    assert "Attempts:    2\n" in out
    code, exported, _ = run(capsys, fake, "get", "job", "join", "--export")
    assert code == 0
    assert parse_documents(exported) == [fake.state.jobs["join"][-1].spec]
    assert yaml.safe_load(exported)["spec"] == {"type": "empty", "agentSelector": {"os": "linux"},
                                                "lostPolicy": "fail", "maxAttempts": 2}


# ---- Client.wait_run ------------------------------------------------------------------------


def test_wait_run_lost_with_retry_keeps_waiting(with_jobs: Fake) -> None:
    with_jobs.state.outcomes["report"] = [(RS.LOST, 0), (RS.LOST, 0), (RS.QUEUED, 0), (RS.SUCCEEDED, 0)]
    with Client([with_jobs.address], timeout=5, retry_for=1) as client:
        run_id = client.trigger_run("report").run_id
        assert client.wait_run(run_id, timeout=10, poll=0.01).state == RS.SUCCEEDED


def test_wait_run_lost_without_retry_is_final_once_it_stays(with_jobs: Fake, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fail.yaml"
    path.write_text("kind: Job\nmetadata: {name: fragile}\nspec: {command: [x], lostPolicy: fail}\n")
    assert run(capsys, with_jobs, "apply", "-f", str(path))[0] == 0
    with_jobs.state.outcomes["fragile"] = [(RS.RUNNING, 0), (RS.LOST, 0)]
    with Client([with_jobs.address], timeout=5, retry_for=1) as client:
        run_id = client.trigger_run("fragile").run_id
        assert client.wait_run(run_id, timeout=10, poll=0.01).state == RS.LOST
        with_jobs.state.outcomes["fragile"] = [(RS.RUNNING, 0)]
        with pytest.raises(TimeoutError, match=r"did not finish within 0\.05s"):
            client.wait_run(run_id, timeout=0.05, poll=0.01)


@pytest.fixture
def second_fake() -> Iterator[Fake]:
    state = FakeState(self_id="r2")
    server, address = _start_fake(state)
    try:
        yield Fake(address, state)
    finally:
        server.stop(grace=None)


def run_digest(capsys: pytest.CaptureFixture[str], *servers: str, fmt: str = "table") -> tuple[int, str, str]:
    argv = [arg for server in servers for arg in ("--server", server)]
    code = main([*argv, "--timeout", "2", "-o", fmt, "cluster", "digest"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_digest_consistent(capsys: pytest.CaptureFixture[str], fake: Fake, second_fake: Fake) -> None:
    code, out, err = run_digest(capsys, fake.address, second_fake.address)
    assert code == 0 and err == ""
    assert re.split(r" {2,}", out.splitlines()[0])[:4] == ["SERVER", "ID", "APPLIED INDEX", "DIGEST"]
    code, out, _ = run_digest(capsys, fake.address, second_fake.address, fmt="json")
    data = json.loads(out)
    assert data["consistent"] is True and data["comparable"] is True
    assert data["servers"][1] == {"server": second_fake.address, "self_id": "r2", "applied_index": 10,
                                  "digest": "ab" * 32, "error": ""}


def test_digest_divergent(capsys: pytest.CaptureFixture[str], fake: Fake, second_fake: Fake) -> None:
    second_fake.state.digest = "cd" * 32
    code, out, err = run_digest(capsys, fake.address, second_fake.address)
    assert code == 1
    assert err.startswith("error: digests differ at applied index 10:") and err.count("\n") == 1
    # At different applied indexes digests are not comparable, so that is not a failure.
    second_fake.state.applied_index = 11
    code, out, err = run_digest(capsys, fake.address, second_fake.address, fmt="json")
    assert code == 0 and json.loads(out)["comparable"] is False


def test_digest_unreachable_server(capsys: pytest.CaptureFixture[str], fake: Fake) -> None:
    code, out, err = run_digest(capsys, fake.address, "127.0.0.1:1", fmt="json")
    assert code == 1
    data = json.loads(out)
    assert data["servers"][1]["error"].startswith("unreachable: ")
    assert err == "error: 1 of 2 servers did not answer\n"


# ---- errors --------------------------------------------------------------------------------


def test_unreachable_server_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--server", "127.0.0.1:1", "--timeout", "1", "--retry-for", "1", "get", "jobs"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.startswith("error: cannot reach the cluster")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_server_list_from_environment(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                      fake: Fake) -> None:
    monkeypatch.setenv("WLOADCTL_SERVER", fake.address)
    assert main(["cluster", "status", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["leader_id"] == "r1"


def test_unexpected_exception_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                          fake: Fake) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaput")

    monkeypatch.setattr("wloadctl.client.Client.status", boom)
    code, _, err = run(capsys, fake, "cluster", "status")
    assert code == 1 and err == "error: internal error: RuntimeError: kaput\n"


def test_keyboard_interrupt_exits_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                      fake: Fake) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("wloadctl.client.Client.status", interrupted)
    code, _, err = run(capsys, fake, "cluster", "status")
    assert code == 130 and err == "error: interrupted\n"


# ---- configs -------------------------------------------------------------------------------

PEERS = [
    configs.Peer("r1", "127.0.0.1:18681", "127.0.0.1:18581"),
    ("r2", "127.0.0.1:18682", "127.0.0.1:18582"),
    {"id": "r3", "raft_address": "127.0.0.1:18683", "api_address": "127.0.0.1:18583"},
]


def test_render_config_parses_with_tomllib() -> None:
    text = configs.render_config("r2", "127.0.0.1:18682", "127.0.0.1:18582", "/data/r2", "/data/cluster.secret",
                                 PEERS, "human")
    data = tomllib.loads(text)
    assert data["node_id"] == "r2"
    assert data["raft_address"] == "127.0.0.1:18682"
    assert data["api_address"] == "127.0.0.1:18582"
    assert data["data_dir"] == "/data/r2"
    assert data["secret_file"] == "/data/cluster.secret"
    assert data["peers"] == [
        {"id": "r1", "raft_address": "127.0.0.1:18681", "api_address": "127.0.0.1:18581"},
        {"id": "r2", "raft_address": "127.0.0.1:18682", "api_address": "127.0.0.1:18582"},
        {"id": "r3", "raft_address": "127.0.0.1:18683", "api_address": "127.0.0.1:18583"},
    ]
    assert data["log"] == {"format": "human", "level": "info"}


def test_render_config_insecure_and_escaping() -> None:
    odd = '/tmp/we"ird\\dir\n\x7f\t\U0001F600 é'
    text = configs.render_config("r1", "127.0.0.1:1", "127.0.0.1:2", odd, None, PEERS[:1], "json")
    data = tomllib.loads(text)
    assert "secret_file" not in data and data["data_dir"] == odd
    with pytest.raises(ValueError):
        configs.render_config("r9", "a:1", "a:2", "/d", None, PEERS, "json")
    with pytest.raises(ValueError):
        configs.render_config("r1", "a:1", "a:2", "/d", None, PEERS, "xml")


def test_ensure_secret(tmp_path: Path) -> None:
    path = tmp_path / "cluster.secret"
    assert configs.ensure_secret(str(path)) is True
    content = path.read_text()
    assert len(content) == 65 and content.endswith("\n") and int(content, 16) >= 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert configs.ensure_secret(str(path)) is False
    assert path.read_text() == content  # reused, so a restarted cluster keeps working
    other = tmp_path / "notes.txt"
    other.write_text("hello\n")
    with pytest.raises(ValueError, match="not a cluster secret"):
        configs.ensure_secret(str(other))
    assert other.read_text() == "hello\n"


# ---- up (no processes) ---------------------------------------------------------------------


def test_plan_ports_and_paths(tmp_path: Path) -> None:
    replicas = up_module.plan(3, 20000, str(tmp_path))
    assert [r.peer for r in replicas] == [
        configs.Peer("r1", "127.0.0.1:20100", "127.0.0.1:20000"),
        configs.Peer("r2", "127.0.0.1:20101", "127.0.0.1:20001"),
        configs.Peer("r3", "127.0.0.1:20102", "127.0.0.1:20002"),
    ]
    assert replicas[1].config_path == str(tmp_path / "r2.toml")
    assert replicas[1].log_path == str(tmp_path / "r2.log")
    assert replicas[1].data_dir == str(tmp_path / "r2")


def test_up_refuses_busy_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        if port + 100 > 65535:
            pytest.skip("ephemeral port too high for this test")
        code = up_module.up(1, port, str(tmp_path / "data"), False, "human")
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: port {port} (API port of r1) is already in use")
    assert not (tmp_path / "data").exists()  # nothing written before the check


def test_up_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert up_module.up(2, 20000, str(tmp_path), False, "human") == 2
    assert up_module.up(3, 65500, str(tmp_path), False, "human") == 2
    assert capsys.readouterr().err.count("error:") == 2


def test_up_restarts_a_dead_process_with_backoff_but_not_a_misconfigured_one() -> None:
    now = 1000.0
    assert up_module.restart_delay(-9, [now], now) == (1.0, "")
    assert up_module.restart_delay(1, [now - 10, now], now) == (2.0, "")
    assert up_module.restart_delay(3, [now - 30, now - 20, now - 10, now], now) == (8.0, "")
    delay, why = up_module.restart_delay(2, [now], now)
    assert delay is None and "configuration error" in why
    delay, why = up_module.restart_delay(5, [now], now)
    assert delay is None and "newer version" in why
    delay, why = up_module.restart_delay(1, [now - i for i in range(6)], now)
    assert delay is None and "6 times within 60s" in why
    # Deaths long ago do not count against it.
    assert up_module.restart_delay(1, [now - 500 - i for i in range(6)] + [now], now) == (1.0, "")


def test_cluster_not_ready_names_what_is_missing() -> None:
    from wloadctl.cli.commands.cluster import cluster_not_ready

    def status(**kw: Any) -> api_pb2.ClusterStatus:
        base: dict[str, Any] = dict(self_id="r1", leader_id="r1", role="leader", takeover_phase="active")
        base.update(kw)
        return api_pb2.ClusterStatus(**base)

    healthy = status(members=[api_pb2.MemberStatus(id="r1", connected=True),
                              api_pb2.MemberStatus(id="r2", connected=True)])
    assert cluster_not_ready(healthy) == []
    assert cluster_not_ready(status(leader_id="")) == ["no leader elected"]
    assert cluster_not_ready(status(role="follower", self_id="r2")) == [
        "the leader r1 did not answer (this is r2's view)"]
    lagging = status(takeover_phase="inquiry", members=[api_pb2.MemberStatus(id="r2", connected=True, lag=7),
                                                        api_pb2.MemberStatus(id="r4", connected=False)])
    assert cluster_not_ready(lagging) == ["the leader is not dispatching yet (takeover phase inquiry)",
                                          "r2 is 7 entries behind", "r4 is not connected"]

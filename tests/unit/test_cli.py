"""Unit tests for the wloadctl CLI: parsing, output formats, errors, configs and `up` checks.

Requests go to an in-process fake gRPC server (no replica processes), so these stay fast.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import tomllib
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from wloadctl.cli import configs, output
from wloadctl.cli import up as up_module
from wloadctl.cli.main import _merge_globals, build_parser, main
from wloadctl.model.jobs import parse_documents
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, commands_pb2, jobs_pb2

# ---- fake server ---------------------------------------------------------------------------


@dataclass
class FakeState:
    jobs: dict[str, list[jobs_pb2.JobVersion]] = field(default_factory=dict)
    index: int = 10
    digest: str = "ab" * 32
    applied_index: int = 10
    self_id: str = "r1"
    requests: list[Any] = field(default_factory=list)


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
        return api_pb2.ClusterStatus(self_id="r1", leader_id="r1", leader_api_address="", term=7,
                                     commit_index=42, applied_index=42, members=members, has_quorum=True,
                                     role="leader", log_entries=42, state_time_ms=1_700_000_000_000)

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


@dataclass
class Fake:
    address: str
    state: FakeState


def _start_fake(state: FakeState) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api_pb2_grpc.add_JobServiceServicer_to_server(FakeJobs(state), server)
    api_pb2_grpc.add_ClusterServiceServicer_to_server(FakeCluster(state), server)
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
def _no_env_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WLOADCTL_SERVER", raising=False)
    monkeypatch.delenv("WLOADCTL_DEBUG", raising=False)


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
], ids=lambda a: " ".join(a) or "<empty>")
def test_usage_errors_exit_two(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


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


def test_global_options_anywhere() -> None:
    parser = build_parser()
    ctx = _merge_globals(parser.parse_args(["get", "jobs"]))
    assert (ctx.servers, ctx.output, ctx.timeout, ctx.retry_for) == ([], "table", 10.0, 15.0)
    for argv in (
        ["--server", "a:1", "-o", "json", "--timeout", "3", "--retry-for", "2", "get", "jobs"],
        ["get", "--server", "a:1", "-o", "json", "jobs", "--timeout", "3", "--retry-for", "2"],
        ["get", "jobs", "--server", "a:1", "--output", "json", "--timeout", "3", "--retry-for", "2"],
        ["get", "jobs", "--server=a:1", "-ojson", "--timeout=3", "--retry-for=2"],
    ):
        ctx = _merge_globals(parser.parse_args(argv))
        assert (ctx.servers, ctx.output, ctx.timeout, ctx.retry_for) == (["a:1"], "json", 3.0, 2.0), argv
    # --server accumulates across levels; for single-valued options the innermost wins.
    ctx = _merge_globals(parser.parse_args(
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
                                  "working_dir", "timeout_seconds"]
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
    monkeypatch.setattr("wloadctl.cli.main.LIST_PAGE_SIZE", 3)
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

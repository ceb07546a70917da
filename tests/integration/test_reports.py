"""`wloadctl report runs` against real replicas and an agent: the counts, durations and failure
classes equal what `get runs -o json` shows, files come out readable, and a user of another domain
sees none of it."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from openpyxl import load_workbook

from wloadctl.cli.main import main
from wloadctl.client import ClientError
from wloadctl.proto.v1 import auth_pb2, jobs_pb2
from wloadctl.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration

PASSWORD = "Batch-Window-2026"
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "KILLED", "SKIPPED")


@pytest.fixture(autouse=True)
def isolated_cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("WLOADCTL_CONFIG", str(tmp_path / "config" / "none.toml"))
    for name in ("WLOADCTL_TOKEN", "WLOADCTL_API_KEY", "WLOADCTL_CA", "WLOADCTL_SERVER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, int]]:
    """A 3-replica cluster with an agent and finished runs: 3 successes, 2 exit-code failures and a
    timeout in finance, one success in hr. Yields the cluster and a time before the first run."""
    c = LocalCluster(tmp_path_factory.mktemp("reports") / "c", size=3)
    try:
        c.start()
        c.add_agent("a1", capacity=8)
        with c.client() as admin:
            admin.apply_jobs([
                jobs_pb2.JobSpec(name="nightly-ok", domain="finance",
                                 command=jobs_pb2.JobCommand(shell="sleep 0.2")),
                jobs_pb2.JobSpec(name="nightly-bad", domain="finance",
                                 command=jobs_pb2.JobCommand(shell="sleep 0.1; exit 3")),
                jobs_pb2.JobSpec(name="nightly-slow", domain="finance", timeout_seconds=1,
                                 command=jobs_pb2.JobCommand(shell="sleep 30")),
                jobs_pb2.JobSpec(name="payroll", domain="hr", command=jobs_pb2.JobCommand(shell="true")),
            ])
            since = time.time_ns() // 1_000_000 - 1000
            runs = [admin.trigger_run(name).run_id for name in
                    ("nightly-ok", "nightly-ok", "nightly-ok", "nightly-bad", "nightly-bad", "nightly-slow",
                     "payroll")]
            for run_id in runs:
                admin.wait_run(run_id, timeout=90)
        yield c, since
    finally:
        c.stop()


def _token(cluster: LocalCluster, name: str, domain: str) -> str:
    with cluster.client() as admin:
        try:
            admin.create_user(auth_pb2.CreateUserRequest(
                name=name, password=PASSWORD, bindings=[auth_pb2.Binding(role="business-operator", domains=[domain])]))
        except ClientError as e:
            assert e.code == grpc.StatusCode.ALREADY_EXISTS, e.message
    with cluster.client(token="") as anon:
        return anon.login(name, PASSWORD).token


def cli(capsysbinary: pytest.CaptureFixture[bytes], cluster: LocalCluster, *argv: str,
        token: str | None = None) -> tuple[int, bytes, str]:
    credential = ["--token", token] if token is not None else ["--api-key", cluster.admin_token]
    code = main(["--server", ",".join(r.api_address for r in cluster.replicas), "--ca", str(cluster.certs / "ca.crt"),
                 *credential, *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def _nearest_rank(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] if ordered else 0


def test_report_by_job_equals_what_get_runs_shows(cluster: tuple[LocalCluster, int],
                                                   capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    c, since = cluster
    code, out, err = cli(capsysbinary, c, "get", "runs", "-o", "json")
    assert code == 0, err
    runs = [r for r in json.loads(out)["runs"] if r["created_ms"] >= since]
    assert len(runs) == 7 and all(r["state"] in FINAL for r in runs)
    code, out, err = cli(capsysbinary, c, "report", "runs", "--by", "job", "--from", _iso(since), "--bucket", "none",
                         "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert not report["truncated"]
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {"nightly-ok", "nightly-bad", "nightly-slow", "payroll"}
    for job, row in rows.items():
        mine = [r for r in runs if r["job_name"] == job]
        states = Counter(r["state"] for r in mine)
        durations = [r["finished_ms"] - r["started_ms"] for r in mine if r["started_ms"] and r["finished_ms"]]
        rated = states["SUCCEEDED"] + states["FAILED"] + states["TIMED_OUT"] + states["KILLED"]
        assert (row["runs"], row["succeeded"], row["failed"], row["timed_out"], row["killed"], row["unfinished"]) == \
            (len(mine), states["SUCCEEDED"], states["FAILED"], states["TIMED_OUT"], states["KILLED"], 0), job
        assert row["success_rate"] == pytest.approx(states["SUCCEEDED"] / rated), job
        assert (row["durations"], row["duration_p50_ms"], row["duration_p95_ms"], row["duration_max_ms"]) == \
            (len(durations), _nearest_rank(durations, 50), _nearest_rank(durations, 95), max(durations)), job
    assert rows["nightly-ok"]["succeeded"] == 3 and rows["nightly-ok"]["failure_classes"] == {}
    assert rows["nightly-bad"]["failure_classes"] == {"exit_code": 2}
    assert all(r["exit_code"] == 3 for r in runs if r["job_name"] == "nightly-bad")
    assert rows["nightly-slow"]["failure_classes"] == {"timed_out": 1}
    assert report["total"]["runs"] == 7 and report["total"]["succeeded"] == 4
    # By domain and by agent, from a follower (a linearizable read there too).
    follower = next(r for r in c.replicas if r is not c.leader())
    with c.client([follower.api_address]) as client:
        by_domain = client.report_runs("domain", since, bucket="none")
        by_agent = client.report_runs("agent", since, bucket="hour")
        with pytest.raises(ClientError) as refused:
            client.report_runs("user", since)
        capped = client.report_runs("job", since, bucket="none", max_runs=2)
    assert {r.key: (r.runs, r.succeeded) for r in by_domain.rows} == {"finance": (6, 3), "hr": (1, 1)}
    assert sum(r.runs for r in by_agent.rows if r.key == "a1") == 7
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.message == "by: 'user' is not one of domain, agent, job, workflow"
    # Two runs read, and any other of the second one's millisecond: a report that says where it stopped.
    assert capped.truncated and 2 <= capped.total.runs < 7 and capped.covered_to_ms > since


def test_the_table_and_the_files(cluster: tuple[LocalCluster, int], capsysbinary: pytest.CaptureFixture[bytes],
                                 tmp_path: Path) -> None:
    c, since = cluster
    code, out, err = cli(capsysbinary, c, "report", "runs", "--by", "domain", "--from", _iso(since))
    assert code == 0, err
    lines = out.decode().splitlines()
    assert lines[0].split()[:4] == ["DAY", "(UTC)", "DOMAIN", "RUNS"] and lines[-1].split()[:3] == ["TOTAL", "7", "4"]
    target = tmp_path / "report.xlsx"
    code, out, err = cli(capsysbinary, c, "report", "runs", "--by", "job", "--from", _iso(since), "--bucket", "none",
                         "-o", "xlsx", "-f", str(target))
    assert code == 0, err
    sheet = load_workbook(target)["runs"]
    header = [cell.value for cell in sheet[1]]
    by_job = {row[2]: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert by_job["nightly-bad"]["class_exit_code"] == 2 and by_job["nightly-ok"]["succeeded"] == 3
    code, out, err = cli(capsysbinary, c, "report", "runs", "--by", "job", "--from", _iso(since), "-o", "csv")
    assert code == 0 and out.decode().splitlines()[0].startswith("bucket_start,bucket_end,job,runs,succeeded,failed")


def test_a_user_of_another_domain_sees_none_of_it(cluster: tuple[LocalCluster, int],
                                                   capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    c, since = cluster
    hr = _token(c, "hanna", "hr")
    code, out, err = cli(capsysbinary, c, "report", "runs", "--by", "job", "--from", _iso(since), "-o", "json",
                         token=hr)
    assert code == 0, err
    report = json.loads(out)
    assert [(r["key"], r["runs"]) for r in report["rows"]] == [("payroll", 1)] and report["total"]["runs"] == 1
    ops = _token(c, "otto", "ops")  # a domain without runs
    for by in ("domain", "agent", "job", "workflow"):
        code, out, err = cli(capsysbinary, c, "report", "runs", "--by", by, "--from", _iso(since), "-o", "json",
                             token=ops)
        assert code == 0, err
        document: dict[str, Any] = json.loads(out)
        assert document["rows"] == [] and document["total"]["runs"] == 0, by
    code, out, err = cli(capsysbinary, c, "report", "runs", "--by", "job", "--from", _iso(since), "--domain",
                         "finance", token=hr)
    assert (code, out) == (1, b"")
    assert err == "error: permission denied: run.read in domain 'finance' is needed (you have it in: hr)\n"


def test_the_summary_equals_the_listings_for_each_caller(cluster: tuple[LocalCluster, int],
                                                         capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    c, _ = cluster
    today = time.strftime("%Y-%m-%d", time.gmtime())
    code, out, err = cli(capsysbinary, c, "report", "summary", "-o", "json")
    assert code == 0, err
    summary = json.loads(out)
    code, out, err = cli(capsysbinary, c, "get", "runs", "-o", "json")
    runs = json.loads(out)["runs"]
    code, out, _ = cli(capsysbinary, c, "get", "jobs", "-o", "json")
    jobs = json.loads(out)["jobs"]
    by_domain = {d["domain"]: d for d in summary["domains"]}
    for domain in ("finance", "hr"):
        mine = [r for r in runs if r["spec"]["domain"] == domain]
        assert by_domain[domain]["runs_by_state"] == dict(Counter(r["state"] for r in mine)), domain
        assert by_domain[domain]["jobs"] == sum(1 for j in jobs if j["spec"]["domain"] == domain), domain
        created_today = Counter(r["state"] for r in mine if time.strftime(
            "%Y-%m-%d", time.gmtime(r["created_ms"] // 1000)) == today)
        assert by_domain[domain]["days"][0] == {"date": today, "runs_by_state": dict(created_today)}, domain
    assert summary["total"]["jobs"] == len(jobs)
    assert sum(summary["total"]["runs_by_state"].values()) == len(runs)
    # A user of hr sees hr's counts only; one of a domain with nothing sees nothing.
    code, out, err = cli(capsysbinary, c, "report", "summary", "-o", "json", token=_token(c, "summary-hr", "hr"))
    assert code == 0, err
    hr = json.loads(out)
    assert [d["domain"] for d in hr["domains"]] == ["hr"] and hr["total"]["runs_by_state"] == {"SUCCEEDED": 1}
    code, out, err = cli(capsysbinary, c, "report", "summary", token=_token(c, "summary-empty", "nowhere"))
    assert code == 0 and "finance" not in out.decode() and "hr" not in out.decode(), err

"""A RunReport as CSV and XLSX (wloadctl/model/reportfiles.py) and `wloadctl report runs` against an
in-process fake replica: every format, files written 0600, xlsx refused on a terminal."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from openpyxl import load_workbook

from wloadctl.cli.main import main
from wloadctl.model import reportfiles
from wloadctl.model.runreport import FAILURE_CLASSES, RunReportBuilder
from wloadctl.proto.v1 import api_pb2, api_pb2_grpc, jobs_pb2, runs_pb2

RS = runs_pb2.RunState
T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z
DAY = 86_400_000


def run(job: str, state: int, created: int, took: int | None = 1500, exit_code: int = 0) -> runs_pb2.Run:
    r = runs_pb2.Run(job_name=job, state=state, created_ms=created, exit_code=exit_code, agent_id="a1",
                     spec=jobs_pb2.JobSpec(name=job, domain="finance"))
    if took is not None:
        r.started_ms, r.finished_ms = created + 10, created + 10 + took
    return r


def sample(zone: str = "") -> api_pb2.RunReport:
    b = RunReportBuilder("job", T0, T0 + 2 * DAY, "day", zone)
    b.add(run("etl", RS.SUCCEEDED, T0 + 1000))
    b.add(run("etl", RS.FAILED, T0 + 2000, exit_code=2))
    b.add(run("=cmd|' /c calc'!A0", RS.SUCCEEDED, T0 + DAY + 5, took=250))  # a name a spreadsheet would run
    return b.report()


# ---- the writers

def test_csv_has_a_header_and_a_row_per_group() -> None:
    data = reportfiles.csv_bytes(sample())
    assert data.startswith("\ufeff".encode()) and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["bucket_start", "bucket_end", "job", "runs", "succeeded", "failed", "timed_out", "killed",
                       "skipped", "unfinished", "success_rate", "durations", "duration_p50_s", "duration_p95_s",
                       "duration_max_s", *(f"class_{c}" for c in FAILURE_CLASSES)]
    assert rows[1][:15] == ["2025-12-01T00:00:00Z", "2025-12-02T00:00:00Z", "etl", "2", "1", "1", "0", "0", "0",
                            "0", "0.5", "2", "1.5", "1.5", "1.5"]
    assert rows[1][15:] == ["1", "0", "0", "0", "0", "0", "0", "0"]  # exit_code first
    assert rows[2][2] == "'=cmd|' /c calc'!A0"  # never a formula
    assert len(rows) == 3
    assert not reportfiles.csv_bytes(sample(), bom=False).startswith("\ufeff".encode())


def test_csv_of_an_empty_report_is_its_header() -> None:
    data = reportfiles.csv_bytes(RunReportBuilder("agent", T0, T0 + DAY).report(), bom=False)
    assert data.decode().splitlines() == [",".join(reportfiles.header(RunReportBuilder("agent", T0).report()))]


def test_local_times_carry_their_offset() -> None:
    rows = list(csv.reader(io.StringIO(reportfiles.csv_bytes(sample("Europe/Berlin")).decode("utf-8-sig"))))
    assert rows[1][:2] == ["2025-12-01T00:00:00+01:00", "2025-12-02T00:00:00+01:00"]


def test_xlsx_reads_back_with_the_same_numbers(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_bytes(reportfiles.xlsx_bytes(sample()))
    book = load_workbook(path)
    assert book.sheetnames == ["runs", "total", "about"]
    runs = list(book["runs"].iter_rows(values_only=True))
    assert list(runs[0]) == reportfiles.header(sample())
    assert runs[1][:15] == ("2025-12-01T00:00:00Z", "2025-12-02T00:00:00Z", "etl", 2, 1, 1, 0, 0, 0, 0, 0.5, 2,
                            1.5, 1.5, 1.5)
    assert runs[2][2] == "=cmd|' /c calc'!A0"  # kept as text: a string cell, not a formula
    assert book["runs"].cell(row=3, column=3).data_type == "s"
    assert book["runs"].cell(row=2, column=11).number_format == "0.0%"
    total = list(book["total"].iter_rows(values_only=True))
    assert total[1][2:6] == (None, 3, 2, 1)  # key "" reads back as an empty cell
    about = dict(book["about"].iter_rows(values_only=True))
    assert about["runs by"] == "job" and about["truncated"] == "no" and about["time zone"] == "UTC"
    assert about["class_exit_code"] == FAILURE_CLASSES["exit_code"]


def test_classes_a_newer_replica_reports_get_their_own_column() -> None:
    report = sample()
    report.rows[0].failure_classes["disk_full"] = 1
    assert reportfiles.header(report)[-1] == "class_disk_full"
    assert reportfiles.row_cells(report, report.rows[0], reportfiles.class_names(report))[-1] == 1


# ---- the command, against a fake replica

class FakeRuns(api_pb2_grpc.RunServiceServicer):
    def __init__(self) -> None:
        self.requests: list[api_pb2.ReportRunsRequest] = []
        self.answer = sample()

    def ReportRuns(self, request: api_pb2.ReportRunsRequest, context: grpc.ServicerContext) -> api_pb2.RunReport:
        self.requests.append(request)
        return self.answer


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, FakeRuns]]:
    for name in ("WLOADCTL_SERVER", "WLOADCTL_TOKEN", "WLOADCTL_API_KEY", "WLOADCTL_CA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WLOADCTL_CONFIG", str(tmp_path / "no-such-dir" / "config.toml"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = FakeRuns()
    api_pb2_grpc.add_RunServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(grace=None)


def cli(capsysbinary: pytest.CaptureFixture[bytes], address: str, *argv: str) -> tuple[int, bytes, str]:
    code = main(["--server", address, "--retry-for", "0", "report", "runs", *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def test_the_request_carries_every_option(fake: tuple[str, FakeRuns], capsysbinary: pytest.CaptureFixture[bytes]) \
        -> None:
    address, servicer = fake
    code, _, err = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "--to", "2025-12-03",
                       "--bucket", "hour", "--domain", "finance", "--tz", "Europe/Berlin", "--max-runs", "500")
    assert (code, err) == (0, "")
    assert servicer.requests[-1] == api_pb2.ReportRunsRequest(
        by="job", from_ms=T0, to_ms=T0 + 2 * DAY, bucket="hour", domain="finance", time_zone="Europe/Berlin",
        max_runs=500)
    cli(capsysbinary, address, "--by", "agent", "--from", "1h")
    request = servicer.requests[-1]
    assert request.bucket == "day" and request.to_ms - request.from_ms == pytest.approx(3_600_000, abs=5_000)


def test_table_json_and_csv_on_stdout(fake: tuple[str, FakeRuns], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    address, _ = fake
    code, out, _ = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01")
    lines = out.decode().splitlines()
    assert code == 0 and lines[0].split() == ["DAY", "(UTC)", "JOB", "RUNS", "OK", "FAILED", "TIMED_OUT", "KILLED",
                                              "SKIPPED", "ACTIVE", "SUCCESS", "P50", "P95", "MAX", "FAILURE",
                                              "CLASSES"]
    assert lines[1].split() == ["2025-12-01", "etl", "2", "1", "1", "0", "0", "0", "0", "50.0%", "1.5s", "1.5s",
                                "1.5s", "exit_code=1"]
    assert lines[-1].split() == ["TOTAL", "3", "2", "1", "0", "0", "0", "0", "66.7%", "1.5s", "1.5s", "1.5s",
                                 "exit_code=1"]
    code, out, _ = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "-o", "json")
    document = json.loads(out)
    assert document["by"] == "job" and document["rows"][0]["failure_classes"] == {"exit_code": 1}
    assert document["rows"][0]["duration_p50_ms"] == 1500 and document["total"]["runs"] == 3
    assert list(document) == ["by", "bucket", "from_ms", "to_ms", "time_zone", "rows", "total", "truncated",
                              "covered_to_ms"]
    code, out, _ = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "-o", "csv")
    assert code == 0 and out.startswith(b"bucket_start,bucket_end,job,runs,")  # no BOM on a pipe
    # The global -o before the command works too.
    code = main(["--server", address, "-o", "json", "report", "runs", "--by", "job", "--from", "1d"])
    assert code == 0 and json.loads(capsysbinary.readouterr()[0])["by"] == "job"


def test_files_are_written_0600_and_xlsx_needs_one(fake: tuple[str, FakeRuns], tmp_path: Path,
                                                  capsysbinary: pytest.CaptureFixture[bytes],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    address, _ = fake
    target = tmp_path / "r.xlsx"
    code, out, _ = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "-o", "xlsx", "-f", str(target))
    assert code == 0 and out == f"report of runs by job (2 rows, 3 runs) written to {target} (xlsx)\n".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert load_workbook(target)["runs"].cell(row=2, column=3).value == "etl"
    code, _, _ = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "-o", "csv", "-f",
                     str(tmp_path / "r.csv"))
    assert code == 0 and (tmp_path / "r.csv").read_bytes().startswith("\ufeff".encode())
    assert not list(tmp_path.glob(".*.tmp"))
    # Binary to a terminal: refused, with what to do instead; piped, it is written.
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    code, out, err = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "-o", "xlsx")
    assert (code, out) == (2, b"") and err == "error: -o xlsx writes a binary file: give -f FILE (or redirect " \
                                              "stdout to a file)\n"
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    code, out, _ = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "-o", "xlsx")
    assert code == 0 and out[:2] == b"PK"  # a zip: the workbook


def test_truncation_and_empty_reports_are_said_on_stderr(fake: tuple[str, FakeRuns],
                                                         capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    address, servicer = fake
    servicer.answer = RunReportBuilder("job", T0, T0 + DAY).report()
    code, out, err = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "--to", "2025-12-02")
    assert (code, out, err) == (0, b"", "No runs found.\n")
    servicer.answer = RunReportBuilder("job", T0, T0 + DAY).report(truncated=True, covered_to_ms=T0 + 3_600_000)
    code, out, err = cli(capsysbinary, address, "--by", "job", "--from", "2025-12-01", "-o", "json")
    assert code == 0 and json.loads(out)["truncated"] is True
    assert err.startswith("note: the replica stopped after reading its limit of runs") and \
        "2025-12-01T01:00:00Z" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--by", "user", "--from", "1d"], "invalid choice: 'user'"),
    (["--by", "job"], "the following arguments are required: --from"),
    (["--by", "job", "--from", "2025-12-02", "--to", "2025-12-01"], "--to (2025-12-01T00:00:00Z) must be after"),
    (["--by", "job", "--from", "yesterday"], "must be an ISO-8601 UTC time"),
])
def test_bad_arguments_are_usage_errors(fake: tuple[str, FakeRuns], capsysbinary: pytest.CaptureFixture[bytes],
                                        argv: list[str], message: str) -> None:
    address, servicer = fake
    try:
        code, _, err = cli(capsysbinary, address, *argv)
    except SystemExit as e:
        code, err = int(e.code or 0), capsysbinary.readouterr()[1].decode()
    assert code == 2 and message in err
    assert not servicer.requests

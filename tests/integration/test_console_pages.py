"""The console's Gantt, misfires, audit, calendars and reports pages in a real browser (Debian's Chromium
through Debian's chromedriver, as test_console_browser.py) against a real replica with authentication
and an agent: a bar per run of a business date with the failed one red, a misfire listed, the
console's own logins found in the audit log with their console source, the chain verified, exports
and report downloads saved by the browser and equal to the CLI's files, next firings as `job next`
computes them, and a user of another domain seeing none of the first domain's runs. Screenshots go to
the test's temporary directory (and to docs/console with WLOADCTL_CONSOLE_SCREENSHOTS=docs/console)."""

from __future__ import annotations

import csv
import datetime
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from test_console_browser import (
    CHROMEDRIVER,
    CHROMIUM,
    MARKUP,
    PASSWORD,
    WAIT_S,
    _job,
    base,
    cli,
    login,
    screenshot,
    until,
)

from wloadctl.model.auditfiles import COLUMNS
from wloadctl.proto.v1 import auth_pb2, jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[test]')")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

RS = runs_pb2.RunState
FINAL = {RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED, RS.LOST}
RED = "rgb(192, 38, 45)"     # console.css --bad
GREEN = "rgb(27, 127, 59)"   # console.css --ok


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("console-pages")
    c = LocalCluster(root / "c", size=1)
    try:
        c.start()
        c.add_agent("a1", capacity=4)
        with c.client() as admin:
            for name, role, domains in (("olivia", "admin", ()), ("hank", "business-operator", ("hr",))):
                admin.create_user(auth_pb2.CreateUserRequest(
                    name=name, password=PASSWORD, bindings=[auth_pb2.Binding(role=role, domains=list(domains))]))
            admin.apply_calendars([jobs_pb2.CalendarSpec(
                name="target2", description="TARGET2 settlement days", working_weekdays=[1, 2, 3, 4, 5],
                holidays=["2026-12-25", "2026-12-26", "2027-01-01", "2027-04-02", "2027-04-05"])])
            eod = _job("eod", "finance", "echo end of day", time_zone="Europe/Berlin", calendars=["target2"])
            eod.schedules.add(cron="0 18 * * *")
            # A slot every second, each run 2 s, overlap forbidden: the slots in between are misfires.
            overlapping = _job("overlapping", "finance", "sleep 2", overlap=jobs_pb2.OVERLAP_FORBID)
            overlapping.schedules.add(cron="* * * * * *")
            # Runs of a second or two, overlapping: the Gantt shows them in rows of their lane.
            admin.apply_jobs([_job("ledger", "finance", "sleep 1.5; echo ledger done", description=MARKUP),
                              _job("ledger-fails", "finance", "sleep 1; echo failing >&2; exit 3"),
                              _job("hr-report", "hr", "sleep 0.5; echo hr report"), eod, overlapping])
            wait_for(lambda: list(admin.iter_misfires("overlapping")), 30, "an overlap misfire")
            admin.suspend_job("overlapping")
            started = [admin.trigger_run(name).run_id for name in ("ledger", "ledger-fails", "ledger", "hr-report")]
            for run_id in started:
                admin.wait_run(run_id, timeout=60)
            wait_for(lambda: all(r.state in FINAL for r in admin.iter_runs()), 60, "every run to end")
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, downloads: Path) -> Iterator[WebDriver]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("needs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")


def download(driver: WebDriver, link_id: str, folder: Path) -> Path:
    """Click a download link; the file the browser saved."""
    for old in folder.iterdir():
        old.unlink()
    driver.find_element(By.ID, link_id).click()
    return wait_for(lambda: next((p for p in folder.iterdir() if not p.name.endswith((".crdownload", ".tmp"))
                                  and p.stat().st_size), None), WAIT_S, f"the download of #{link_id}")


def run_cli(cluster: LocalCluster, home: Path, *argv: str) -> str:
    """The CLI with the admin key (admin in every domain: what olivia sees); its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLOADCTL_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    done = subprocess.run([sys.executable, "-m", "wloadctl", "--server", cluster.replicas[0].api_address,
                           "--ca", str(cluster.certs / "ca.crt"), "--api-key", cluster.admin_token, *argv],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def css(driver: WebDriver, selector: str, prop: str) -> str:
    return str(driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]];", selector, prop))


def report_window(cluster: LocalCluster) -> tuple[str, str]:
    """From before the first run to after the last one, to the second (as the CLI takes them)."""
    with cluster.client() as admin:
        created = [r.created_ms for r in admin.iter_runs()]
    return _iso(min(created)), _iso(max(created) + 2000)


def test_gantt_draws_a_bar_per_run_of_the_date_the_failed_one_red(cluster: LocalCluster, browser: WebDriver,
                                                                  shots: Path, tmp_path: Path) -> None:
    with cluster.client() as admin:
        failed = next(admin.iter_runs("ledger-fails"))
        ledger = next(admin.iter_runs("ledger"))
    date = failed.business_date
    runs = cli(cluster, tmp_path, "get", "runs")["runs"]
    expected = {r["run_id"] for r in runs if r["business_date"] == date}
    assert len(expected) >= 5 and failed.run_id in expected
    login(browser, cluster, "olivia")
    browser.get(f"{base(cluster)}/gantt?date={date}")
    bars = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#gantt a.bar"), "the Gantt's bars")
    assert {b.get_attribute("data-run") for b in bars} == expected
    assert browser.find_element(By.ID, "gantt-count").text == str(len(expected))
    assert {g.get_attribute("data-lane") for g in browser.find_elements(By.CSS_SELECTOR, "#gantt g.lane")} == \
        {"finance", "hr"}
    red = f'#gantt a.bar[data-run="{failed.run_id}"] rect.ran'
    assert css(browser, red, "fill") == RED
    assert css(browser, f'#gantt a.bar[data-run="{ledger.run_id}"] rect.ran', "fill") == GREEN
    bar = browser.find_element(By.CSS_SELECTOR, f'#gantt a.bar[data-run="{failed.run_id}"]')
    title = bar.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert f"{failed.run_id} · ledger-fails · FAILED" in title and "created  " in title and "finished " in title
    screenshot(browser, shots, "gantt")
    browser.get(f"{base(cluster)}/gantt?date={date}&by=agent")
    assert {g.get_attribute("data-lane") for g in browser.find_elements(By.CSS_SELECTOR, "#gantt g.lane")} == {"a1"}
    # A click on a bar opens its run.
    browser.find_element(By.CSS_SELECTOR, f'#gantt a.bar[data-run="{failed.run_id}"]').click()
    until(browser, lambda d: d.current_url.endswith(f"/runs/{failed.run_id}"), "the failed run's page")
    assert until(browser, lambda d: d.find_element(By.ID, "run-state"), "the run page").text == "FAILED"
    # Another date: no bars; a date that is no date: 400 and the reason.
    browser.get(f"{base(cluster)}/gantt?date=2020-02-02")
    assert browser.find_element(By.ID, "gantt-empty") and not browser.find_elements(By.CSS_SELECTOR, "a.bar")
    browser.get(f"{base(cluster)}/gantt?date=2026-02-30")
    assert "no such date" in browser.find_element(By.ID, "gantt-error").text


def test_misfires_are_listed_and_filtered(cluster: LocalCluster, browser: WebDriver, shots: Path,
                                         tmp_path: Path) -> None:
    misfires = cli(cluster, tmp_path, "get", "misfires")["misfires"]
    assert misfires and {m["job_name"] for m in misfires} == {"overlapping"}
    login(browser, cluster, "olivia")
    browser.get(base(cluster) + "/misfires")
    rows = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#misfires tr[data-misfire]"), "misfires")
    assert [r.get_attribute("data-misfire") for r in rows] == [str(m["seq"]) for m in misfires][:50]
    assert "overlap" in rows[0].text and "forbid" in rows[0].text
    screenshot(browser, shots, "misfires")
    browser.find_element(By.ID, "misfire-job").send_keys("ledger")
    browser.find_element(By.ID, "misfire-job").submit()
    until(browser, lambda d: "job=ledger" in d.current_url, "the filtered page")
    assert not browser.find_elements(By.CSS_SELECTOR, "#misfires tr[data-misfire]")


def test_audit_finds_the_consoles_logins_verifies_and_exports(cluster: LocalCluster, browser: WebDriver,
                                                              shots: Path, downloads: Path, tmp_path: Path) -> None:
    login(browser, cluster, "olivia")
    browser.get(base(cluster) + "/audit?user=olivia&operation=login")
    rows = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#audit tr[data-seq]"), "olivia's logins")
    sources = [r.find_element(By.CSS_SELECTOR, "td.source").text for r in rows]
    assert sources and all(s.startswith("console:127.0.0.1:") for s in sources)
    assert all(r.get_attribute("data-operation") == "login" for r in rows)
    screenshot(browser, shots, "audit")
    # The export selects what the search does: the same records as `wloadctl audit export`, byte for byte.
    link = browser.find_element(By.ID, "audit-export-csv").get_attribute("href")
    since = parse_qs(urlsplit(link).query)["since"][0]
    saved = download(browser, "audit-export-csv", downloads)
    table = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"), newline="")))
    assert table[0] == list(COLUMNS) and len(table) == len(rows) + 1
    assert all(r[0] == "user/olivia" and r[2].startswith("console:127.0.0.1:") and r[7] == "login"
               for r in table[1:])
    cli_file = tmp_path / "audit.csv"
    run_cli(cluster, tmp_path, "audit", "export", "--format", "csv", "-o", str(cli_file), "--user", "olivia",
            "--operation", "login", "--since", since)
    assert saved.read_bytes() == cli_file.read_bytes()
    xlsx = download(browser, "audit-export-xlsx", downloads)
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    assert [c.value for c in sheet[1]] == list(COLUMNS) and sheet.max_row == len(rows) + 1
    # Verification: a read (GET), the verdict of the API.
    browser.find_element(By.ID, "audit-verify").click()
    verdict = until(browser, lambda d: d.find_element(By.ID, "verify-verdict"), "the verdict")
    assert verdict.get_attribute("data-ok") == "yes" and "intact" in verdict.text
    verified = cli(cluster, tmp_path, "audit", "verify")
    assert verified["ok"] and f"seq {verified['first_seq']}.." in verdict.text
    screenshot(browser, shots, "audit-verify")
    # Refused requests are records too: a filter on the outcome finds them.
    browser.get(base(cluster) + "/audit?outcome=failed&since=all")
    assert all(r.find_element(By.XPATH, "td[6]").get_attribute("class") == "bad"
               for r in browser.find_elements(By.CSS_SELECTOR, "#audit tr[data-seq]"))
    # What was asked is shown as text: markup in a job's description runs nothing.
    browser.get(base(cluster) + "/audit?operation=job.apply&resource=job/ledger&since=all")
    record = until(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#audit tr[data-seq]"), "the job.apply record")
    record.find_element(By.TAG_NAME, "summary").click()
    assert "<script>window.__pwned=1</script>" in record.find_element(By.TAG_NAME, "details").text
    assert browser.execute_script("return typeof window.__pwned;") == "undefined"
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")
    browser.get(base(cluster) + "/audit?operation=DROP%20TABLE")
    assert "operation:" in browser.find_element(By.ID, "audit-error").text


def test_calendars_and_next_firings_as_job_next_computes_them(cluster: LocalCluster, browser: WebDriver,
                                                              shots: Path, tmp_path: Path) -> None:
    login(browser, cluster, "olivia")
    browser.get(base(cluster) + "/calendars")
    row = until(browser, lambda d: d.find_element(By.CSS_SELECTOR, '#calendars tr[data-calendar="target2"]'),
                "the calendar")
    assert "mon,tue,wed,thu,fri" in row.text and "TARGET2 settlement days" in row.text
    preview = cli(cluster, tmp_path, "job", "next", "eod", "--count", "5")
    shown = [r.find_element(By.TAG_NAME, "time").get_attribute("datetime")
             for r in browser.find_elements(By.CSS_SELECTOR, '#firings tr[data-firing="eod"]')]
    expected = [datetime.datetime.fromtimestamp(t["due_ms"] / 1000, datetime.UTC).isoformat(timespec="milliseconds")
                for t in preview["times"]]
    assert shown == expected and len(shown) == 5
    firing = browser.find_element(By.CSS_SELECTOR, '#firings tr[data-firing="eod"]').text
    assert preview["times"][0]["local_time"] in firing and preview["times"][0]["business_date"] in firing
    scheduled = {r.get_attribute("data-scheduled"): r.text
                 for r in browser.find_elements(By.CSS_SELECTOR, "#scheduled tr[data-scheduled]")}
    assert set(scheduled) == {"eod", "overlapping"} and "suspended" in scheduled["overlapping"]
    # A suspended job fires only after `job resume`: not among the next firings.
    assert not browser.find_elements(By.CSS_SELECTOR, '#firings tr[data-firing="overlapping"]')
    assert "Europe/Berlin" in scheduled["eod"]
    screenshot(browser, shots, "calendars")


def test_the_report_equals_the_clis_and_downloads_the_clis_csv(cluster: LocalCluster, browser: WebDriver,
                                                               shots: Path, downloads: Path, tmp_path: Path) -> None:
    start, end = report_window(cluster)
    args = ["--by", "job", "--from", start, "--to", end, "--bucket", "hour"]
    answer = cli(cluster, tmp_path, "report", "runs", *args)
    login(browser, cluster, "olivia")
    browser.get(f"{base(cluster)}/reports?by=job&from={start}&to={end}&bucket=hour")
    until(browser, lambda d: d.find_elements(By.ID, "report-total"), "the report")
    shown = {(r.get_attribute("data-key"), int(r.get_attribute("data-bucket"))): r
             for r in browser.find_elements(By.CSS_SELECTOR, "#report tbody tr[data-key]")}
    assert set(shown) == {(r["key"], r["bucket_start_ms"]) for r in answer["rows"]}
    for row in [*answer["rows"], answer["total"]]:
        element = shown[(row["key"], row["bucket_start_ms"])] if row is not answer["total"] else \
            browser.find_element(By.ID, "report-total")
        for col in ("runs", "succeeded", "failed", "timed_out", "killed", "skipped", "unfinished"):
            assert element.find_element(By.CSS_SELECTOR, f'[data-col="{col}"]').text == str(row[col]), (row, col)
        rate = element.find_element(By.CSS_SELECTOR, '[data-col="success_rate"]').text
        assert rate == "-" or rate == f"{row['success_rate'] * 100:.1f}%"
    assert answer["total"]["failed"] == 1 and answer["total"]["runs"] >= 5 and len(answer["rows"]) >= 4
    screenshot(browser, shots, "reports")
    # The download is `report runs -o csv -f FILE`, byte for byte (both with the byte-order mark of a file).
    saved = download(browser, "report-csv", downloads)
    cli_file = tmp_path / "report.csv"
    run_cli(cluster, tmp_path, "report", "runs", *args, "-o", "csv", "-f", str(cli_file))
    assert saved.read_bytes() == cli_file.read_bytes() and saved.read_bytes().startswith(b"\xef\xbb\xbf")
    xlsx = download(browser, "report-xlsx", downloads)
    from openpyxl import load_workbook

    assert load_workbook(xlsx).sheetnames == ["runs", "total", "about"]


def test_a_user_of_another_domain_sees_none_of_the_first_domains_runs(cluster: LocalCluster, browser: WebDriver,
                                                                      shots: Path, downloads: Path,
                                                                      tmp_path: Path) -> None:
    with cluster.client() as admin:
        hr_runs = {r.run_id for r in admin.iter_runs("hr-report")}
        date = next(admin.iter_runs("ledger-fails")).business_date
    login(browser, cluster, "hank")
    browser.get(f"{base(cluster)}/gantt?date={date}")
    bars = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#gantt a.bar"), "hank's bars")
    assert {b.get_attribute("data-run") for b in bars} == hr_runs
    assert {g.get_attribute("data-lane") for g in browser.find_elements(By.CSS_SELECTOR, "#gantt g.lane")} == {"hr"}
    page = browser.find_element(By.TAG_NAME, "main").get_attribute("textContent")
    for finance in ("ledger", "overlapping", "finance"):
        assert finance not in page
    screenshot(browser, shots, "gantt-other-domain")
    start, end = report_window(cluster)
    browser.get(f"{base(cluster)}/reports?by=domain&from={start}&to={end}&bucket=none")
    keys = {r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR, "#report tbody tr[data-key]")}
    assert keys == {"hr"}
    assert browser.find_element(By.CSS_SELECTOR, '#report-total [data-col="runs"]').text == str(len(hr_runs))
    saved = download(browser, "report-csv", downloads)
    table = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"), newline="")))
    assert [r[2] for r in table[1:]] == ["hr"]
    # Asking for the other domain by name is refused by the API, and so is its download.
    browser.get(f"{base(cluster)}/reports?by=job&from={start}&to={end}&domain=finance")
    assert browser.find_element(By.ID, "report-error").text and not browser.find_elements(By.ID, "report-total")
    browser.get(f"{base(cluster)}/reports/download?by=job&from={start}&to={end}&domain=finance&format=csv")
    assert "ledger" not in browser.page_source and browser.find_element(By.ID, "error").text
    browser.get(base(cluster) + "/misfires")
    assert not browser.find_elements(By.CSS_SELECTOR, "#misfires tr[data-misfire]")
    browser.get(base(cluster) + "/misfires?job=overlapping")
    assert not browser.find_elements(By.CSS_SELECTOR, "#misfires tr[data-misfire]")
    assert browser.find_element(By.ID, "misfires-error").text  # refused: not hank's domain
    browser.get(base(cluster) + "/calendars")
    assert not browser.find_elements(By.CSS_SELECTOR, "#firings tr[data-firing]")
    # No audit.read: the search, the verification and the export are refused as in the CLI.
    browser.get(base(cluster) + "/audit")
    assert browser.find_element(By.ID, "audit-error").text and not browser.find_elements(By.CSS_SELECTOR,
                                                                                         "#audit tr[data-seq]")
    for old in downloads.iterdir():
        old.unlink()
    browser.get(base(cluster) + "/audit/export?format=csv")
    assert "permission" in browser.find_element(By.ID, "error").text
    time.sleep(0.5)
    assert not list(downloads.iterdir())  # an error page, no file


def test_downloads_are_attachments_never_sniffed_and_need_a_session(cluster: LocalCluster) -> None:
    from test_console_security import Session

    start, end = report_window(cluster)
    paths = {"/audit/export?format=csv": "text/csv; charset=utf-8",
             "/audit/export?format=jsonl": "application/x-ndjson; charset=utf-8",
             f"/reports/download?by=agent&from={start}&to={end}&format=xlsx":
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    anonymous = Session(cluster.replicas[0].http_address)
    client = Session(cluster.replicas[0].http_address)
    assert client.login("olivia", PASSWORD).status == 303
    for path, content_type in paths.items():
        assert anonymous.request("GET", path).status == 401
        answer = client.request("GET", path)
        assert answer.status == 200, (path, answer.body[:300])
        assert answer.headers["Content-Type"] == content_type
        assert answer.headers["Content-Disposition"].startswith('attachment; filename="')
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"
        assert "'unsafe-inline'" not in answer.headers["Content-Security-Policy"]
    assert client.request("GET", "/reports/download?format=pdf").status == 400
    assert client.request("GET", "/audit/export?format=csv&since=soon").status == 400

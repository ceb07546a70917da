"""The web console in a real browser (Debian's Chromium, driven by Selenium through Debian's chromedriver)
against a real replica with authentication and an agent: login and lockout, the overview's numbers
against the CLI's `-o json`, a run's log arriving live, markup in jobs, params and output shown as
text, and a user of another domain seeing none of it. A screenshot of every page goes to the test's
temporary directory; with WLOADCTL_CONSOLE_SCREENSHOTS=docs/console they also replace the ones the
documentation shows (docs/console.md)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wloadctl.proto.v1 import auth_pb2, jobs_pb2, runs_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip("needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[test]')")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

RS = runs_pb2.RunState
WAIT_S = 30
SCREENSHOTS_ENV = "WLOADCTL_CONSOLE_SCREENSHOTS"
PASSWORD = "Console-Browser-2026!"
MARKUP = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'


def _job(name: str, domain: str, script: str, **extra: Any) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(name=name, domain=domain, command=jobs_pb2.JobCommand(shell=script), **extra)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("console-browser")
    c = LocalCluster(root / "c", size=1)
    try:
        c.start()
        c.add_agent("a1", capacity=4)
        gate = root / "release-live-run"
        with c.client() as admin:
            for name, role, domains in (("olivia", "admin", ()), ("hank", "business-operator", ("hr",)),
                                        ("lockme", "auditor", ())):
                admin.create_user(auth_pb2.CreateUserRequest(
                    name=name, password=PASSWORD, bindings=[auth_pb2.Binding(role=role, domains=list(domains))]))
            admin.apply_jobs([
                _job("ledger", "finance", "echo ledger done"),
                _job("ledger-fails", "finance", "echo failing >&2; exit 3"),
                _job("markup", "finance", f"printf '%s\\n' '{MARKUP}'", description=MARKUP,
                     labels={"note": MARKUP}),
                _job("live", "finance", f"echo tick-one; while [ ! -e '{gate}' ]; do sleep 0.05; done; echo tick-two"),
                _job("hr-report", "hr", "echo hr report"),
            ])
            for name, params in (("ledger", {}), ("ledger", {}), ("ledger-fails", {}), ("markup", {"p": MARKUP}),
                                 ("hr-report", {})):
                admin.wait_run(admin.trigger_run(name, params).run_id, timeout=60)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def live_run(cluster: LocalCluster) -> str:
    """A run of `live` that has printed its first line and waits for its gate file."""
    with cluster.client() as admin:
        run_id = admin.trigger_run("live").run_id
        wait_for(lambda: admin.get_run(run_id).state == RS.RUNNING and b"tick-one" in
                 admin.get_run_logs(run_id).data, WAIT_S, "the live run to print its first line")
    return run_id


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")


def screenshot(driver: WebDriver, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    driver.save_screenshot(str(path))
    target = os.environ.get(SCREENSHOTS_ENV)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / path.name)


def base(cluster: LocalCluster) -> str:
    return f"http://{cluster.replicas[0].http_address}"


def until(driver: WebDriver, condition: Any, what: str) -> Any:
    try:
        return WebDriverWait(driver, WAIT_S).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}; page: {driver.current_url}\n"
                             f"{driver.find_element(By.TAG_NAME, 'body').text[:2000]}") from None


def submit_login(driver: WebDriver, cluster: LocalCluster, user: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(base(cluster) + "/login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    old = driver.find_element(By.ID, "login-form")
    driver.find_element(By.ID, "login-submit").click()
    until(driver, lambda d: _stale(old), "the login answer")


def _stale(element: Any) -> bool:
    try:
        element.is_enabled()
        return False
    except Exception:
        return True


def login(driver: WebDriver, cluster: LocalCluster, user: str) -> None:
    submit_login(driver, cluster, user, PASSWORD)
    until(driver, lambda d: d.find_elements(By.ID, "who"), f"{user} to be logged in")


def cli(cluster: LocalCluster, home: Path, *argv: str) -> dict[str, Any]:
    """The CLI's JSON answer, with the admin key (admin in every domain: what olivia sees)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLOADCTL_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    done = subprocess.run([sys.executable, "-m", "wloadctl", "--server", cluster.replicas[0].api_address,
                           "--ca", str(cluster.certs / "ca.crt"), "--api-key", cluster.admin_token, "-o", "json",
                           *argv], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def metric(driver: WebDriver, name: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, f'[data-metric="{name}"]').text)


def test_login_and_lockout_after_three_wrong_passwords(cluster: LocalCluster, browser: WebDriver,
                                                       shots: Path) -> None:
    browser.get(base(cluster) + "/runs")
    until(browser, lambda d: "/login" in d.current_url, "a redirect to the login page")
    screenshot(browser, shots, "login")
    for attempt in range(3):
        submit_login(browser, cluster, "lockme", f"Wrong-Password-{attempt}!")
        error = until(browser, lambda d: d.find_element(By.ID, "login-error"), "the login error").text
        assert "invalid user name or password" in error
    assert "now locked after 3 failed logins" in error
    screenshot(browser, shots, "login-locked")
    submit_login(browser, cluster, "lockme", PASSWORD)
    assert "is locked" in browser.find_element(By.ID, "login-error").text
    assert not browser.find_elements(By.ID, "who")


def test_overview_numbers_equal_the_clis(cluster: LocalCluster, browser: WebDriver, live_run: str, shots: Path,
                                         tmp_path: Path) -> None:
    login(browser, cluster, "olivia")
    browser.get(base(cluster) + "/")
    until(browser, lambda d: d.find_elements(By.ID, "m-jobs"), "the overview")
    screenshot(browser, shots, "overview")
    jobs = cli(cluster, tmp_path, "get", "jobs")["jobs"]
    workflows = cli(cluster, tmp_path, "get", "workflows")["workflows"]
    running = cli(cluster, tmp_path, "get", "runs", "--state", "running")["runs"]
    queued = cli(cluster, tmp_path, "get", "runs", "--state", "queued")["runs"]
    agents = cli(cluster, tmp_path, "get", "agents")["agents"]
    status = cli(cluster, tmp_path, "cluster", "status")
    runs = cli(cluster, tmp_path, "get", "runs")["runs"]
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    todays = [r for r in runs if datetime.datetime.fromtimestamp(r["created_ms"] / 1000, datetime.UTC)
              .strftime("%Y-%m-%d") == today]
    assert len(running) == 1 and running[0]["run_id"] == live_run
    assert metric(browser, "jobs") == str(len(jobs)) == "5"
    assert metric(browser, "workflows") == str(len(workflows))
    assert metric(browser, "running") == str(len(running))
    assert metric(browser, "queued") == str(len(queued))
    assert metric(browser, "agents-online") == str(sum(1 for a in agents if a["connected"] and not
                                                       a["agent"]["lost_ms"]))
    assert metric(browser, "leader") == status["leader_id"]
    assert metric(browser, "epoch") == str(status["epoch"])
    assert metric(browser, "today-created") == str(len(todays))
    assert metric(browser, "today-succeeded") == str(sum(1 for r in todays if r["state"] == "SUCCEEDED"))
    assert metric(browser, "today-failed") == str(sum(1 for r in todays if r["state"] in
                                                      ("FAILED", "TIMED_OUT", "LOST")))


def test_a_runs_log_appears_live(cluster: LocalCluster, browser: WebDriver, live_run: str, shots: Path) -> None:
    login(browser, cluster, "olivia")
    browser.get(f"{base(cluster)}/runs/{live_run}")
    log = browser.find_element(By.ID, "log")
    assert log.get_attribute("data-stream")  # still running: the page follows the log
    until(browser, lambda d: "tick-one" in d.find_element(By.ID, "log").text, "the log's first line")
    browser.execute_script("window.__samePage = 42;")
    screenshot(browser, shots, "run-live")
    (cluster.root.parent / "release-live-run").touch()
    until(browser, lambda d: "tick-two" in d.find_element(By.ID, "log").text, "the log's next line, live")
    until(browser, lambda d: d.find_element(By.ID, "log").get_attribute("data-done") == "yes", "the stream's end")
    assert browser.execute_script("return window.__samePage;") == 42  # no reload: it came over the stream
    assert browser.find_element(By.ID, "run-state").text == "SUCCEEDED"
    browser.get(base(cluster) + "/runs")
    screenshot(browser, shots, "runs")


def test_markup_in_jobs_params_and_output_is_shown_as_text(cluster: LocalCluster, browser: WebDriver,
                                                           shots: Path) -> None:
    login(browser, cluster, "olivia")
    browser.get(base(cluster) + "/runs?job=markup")
    link = until(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#runs a[href^='/runs/r']"), "the markup run")
    link.click()
    until(browser, lambda d: d.find_elements(By.ID, "run-description"), "the run page")
    screenshot(browser, shots, "run-markup")
    assert browser.find_element(By.ID, "run-description").text == MARKUP
    assert MARKUP in browser.find_element(By.ID, "run-labels").text
    assert MARKUP in browser.find_element(By.ID, "run-params").text
    assert MARKUP in browser.find_element(By.ID, "log").text
    assert browser.execute_script("return typeof window.__pwned;") == "undefined"
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")


def test_agents_and_cluster_pages(cluster: LocalCluster, browser: WebDriver, shots: Path) -> None:
    login(browser, cluster, "olivia")
    browser.get(base(cluster) + "/agents")
    row = until(browser, lambda d: d.find_element(By.ID, "agent-a1"), "agent a1")
    assert "yes" in row.text
    screenshot(browser, shots, "agents")
    browser.get(base(cluster) + "/cluster")
    assert browser.find_element(By.ID, "c-leader").text.startswith("r1")
    assert browser.find_element(By.CSS_SELECTOR, '#members tr[data-member="r1"]')
    screenshot(browser, shots, "cluster")


def test_a_user_of_another_domain_sees_none_of_it(cluster: LocalCluster, browser: WebDriver, shots: Path) -> None:
    login(browser, cluster, "hank")
    browser.get(base(cluster) + "/runs")
    rows = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]"), "hank's runs")
    assert rows and all(r.find_elements(By.XPATH, "td[3]")[0].text == "hr" for r in rows)
    page = browser.find_element(By.TAG_NAME, "main").text
    for finance in ("ledger", "markup", "live", "finance"):
        assert finance not in page
    browser.get(base(cluster) + "/runs?domain=finance")
    assert not browser.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]")
    browser.get(base(cluster) + "/")
    until(browser, lambda d: d.find_elements(By.ID, "m-jobs"), "hank's overview")
    assert metric(browser, "jobs") == "1"  # hr-report only
    screenshot(browser, shots, "overview-other-domain")
    with cluster.client() as admin:
        finance_run = next(r.run_id for r in admin.iter_runs("ledger"))
    browser.get(f"{base(cluster)}/runs/{finance_run}")
    assert "ledger" not in browser.find_element(By.TAG_NAME, "main").text
    assert browser.find_element(By.ID, "error").text  # the API's refusal, shown

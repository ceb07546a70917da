"""The business link view and the approvals page in a real browser (Debian's Chromium through Selenium)
against a real replica with authentication and an agent.

A workflow a -> b -> c, a -> d whose task b fails (its command succeeds on its second attempt, once a
marker file exists): the link view shows b red (its SVG node's state and computed fill), selecting b
highlights c as what it blocks (not d, not a) and shows b's log tail and outputs (markup in them
shown as text); rerun-from-here under a
four-eyes policy (run.rerun in finance) by one user says "approval requested", the requester cannot
approve it herself, a second user approves it on the approvals page (in a second browser), and the
first user's open page turns b and c green live, without a reload; the action is audited with the
console as its source and both names. Pause, resume and kill with their previews (over HTTP, as the
page's script sends them). A user of another domain gets nothing. Screenshots go to the
test's temporary directory (and, with WLOADCTL_CONSOLE_SCREENSHOTS=docs/console, to the docs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_console_browser import (
    CHROMEDRIVER,
    CHROMIUM,
    PASSWORD,
    base,
    browser,  # noqa: F401  (a fixture: the first user's browser)
    login,
    screenshot,
    shots,  # noqa: F401  (a fixture: the screenshots' directory)
    until,
)
from test_console_security import Session

from wloadctl.proto.v1 import audit_pb2, auth_pb2, jobs_pb2, runs_pb2, workflows_pb2
from wloadctl.testing.cluster import LocalCluster, wait_for

pytestmark = pytest.mark.integration

from selenium import webdriver  # noqa: E402  (test_console_browser skips the module without it)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

WF = workflows_pb2.WorkflowRunState
RS = runs_pb2.RunState
MARKUP = '<img src=x onerror="window.__pwned=1">'
RED = "rgb(192, 38, 45)"      # --st-failed in linkview.css
GREEN = "rgb(27, 127, 59)"    # --st-succeeded


@dataclass
class Flow:
    cluster: LocalCluster
    run_id: str
    marker: Path


def _task(name: str, script: str, *after: str) -> workflows_pb2.WorkflowTask:
    return workflows_pb2.WorkflowTask(name=name, command=jobs_pb2.JobCommand(shell=script), depends_on=list(after))


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    root = tmp_path_factory.mktemp("console-workflows")
    marker = root / "b-has-its-input"
    c = LocalCluster(root / "c", size=1)
    try:
        c.start()
        c.add_agent("a1", capacity=4)
        with c.client() as admin:
            for name, role, domains in (("fiona", "scheduling-admin", ["finance"]),
                                        ("gabe", "scheduling-admin", ["finance"]),
                                        ("hank", "business-operator", ["hr"])):
                admin.create_user(auth_pb2.CreateUserRequest(
                    name=name, password=PASSWORD, bindings=[auth_pb2.Binding(role=role, domains=domains)]))
            admin.apply_workflows([workflows_pb2.WorkflowSpec(name="settle", domain="finance", tasks=[
                _task("a", "echo extracted"),
                _task("b", f"if [ -e '{marker}' ]; then echo 'b: loaded'; "
                           f"else touch '{marker}'; echo 'b failing: no input yet'; "
                           f"echo '::set-output note={MARKUP}'; exit 3; fi", "a"),
                _task("c", "echo published", "b"),
                _task("d", "echo archived", "a"),
            ])])
            run_id = admin.run_workflow("settle").id
            wait_for(lambda: admin.get_workflow_run(run_id).state != WF.WF_RUNNING, 60, "the workflow run to end")
            assert admin.get_workflow_run(run_id).state == WF.WF_FAILED
        yield Flow(c, run_id, marker)
    finally:
        c.stop()


@pytest.fixture(scope="module")
def second_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """The second user's browser (its own profile, so its own cookies)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile-2')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def node(driver: WebDriver, task: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, f'#lv-nodes g.lv-node[data-task="{task}"]')


def node_fill(driver: WebDriver, task: str) -> str:
    return str(driver.execute_script(
        "return getComputedStyle(document.querySelector("
        "'#lv-nodes g.lv-node[data-task=\"' + arguments[0] + '\"] rect')).fill;", task))


def open_link_view(driver: WebDriver, flow: Flow, task: str = "") -> None:
    driver.get(f"{base(flow.cluster)}/workflows/runs/{flow.run_id}" + (f"?task={task}" if task else ""))
    until(driver, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-layout-ms"), "the layout")
    until(driver, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-live") == "yes",
          "the live stream")


def test_the_failed_node_is_red_and_selecting_it_shows_what_it_blocks(flow: Flow, browser: WebDriver,  # noqa: F811
                                                                      shots: Path) -> None:  # noqa: F811
    login(browser, flow.cluster, "fiona")
    browser.get(base(flow.cluster) + "/workflows/runs")
    nav = browser.find_element(By.CSS_SELECTOR, "nav.side a.active")
    assert nav.text == "Business links"
    assert browser.find_element(By.CSS_SELECTOR, 'nav.side a[href="/approvals"]').text == "Approvals"
    row = until(browser, lambda d: d.find_element(By.CSS_SELECTOR, f'#wf-runs tr[data-wrun="{flow.run_id}"]'),
                "the workflow run in the list")
    assert "FAILED" in row.text and "settle" in row.text
    row.find_element(By.LINK_TEXT, flow.run_id).click()
    until(browser, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-layout-ms"), "the layout")

    b = node(browser, "b")
    assert b.get_attribute("data-state") == "failed" and "st-failed" in (b.get_attribute("class") or "")
    assert node_fill(browser, "b") == RED
    assert {t: node(browser, t).get_attribute("data-state") for t in "acd"} == \
        {"a": "succeeded", "c": "skipped", "d": "succeeded"}
    assert node_fill(browser, "a") == GREEN
    assert len(browser.find_elements(By.CSS_SELECTOR, "#lv-edges path.lv-edge")) == 3
    assert "failed" in browser.find_element(By.ID, "lv-legend").text

    b.click()
    until(browser, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-impact") == "c",
          "b's impact set")
    assert "impacted" in (node(browser, "c").get_attribute("class") or "")
    for other in ("a", "d"):
        assert "impacted" not in (node(browser, other).get_attribute("class") or "")
    assert "selected" in (b.get_attribute("class") or "")
    assert browser.find_element(By.ID, "lv-d-name").text == "b"
    assert "1 task(s) after it" in browser.find_element(By.ID, "lv-d-impact-count").text
    facts = browser.find_element(By.ID, "lv-d-facts").text
    assert "exit code 3" in facts and "a1" in facts     # why it failed, and its agent
    until(browser, lambda d: "b failing: no input yet" in d.find_element(By.ID, "lv-log").text, "b's log tail")
    # Output and log text are text, never markup.
    assert MARKUP in browser.find_element(By.ID, "lv-d-outputs").text
    assert MARKUP in browser.find_element(By.ID, "lv-log").text
    assert browser.execute_script("return typeof window.__pwned;") == "undefined"
    assert not browser.find_elements(By.CSS_SELECTOR, "#lv-panel img, #lv-panel script")
    screenshot(browser, shots, "workflow-failed-impact")

    # The task run's page links back to the link view, with its node selected.
    b_run = browser.find_element(By.ID, "lv-d-run-link").get_attribute("href")
    assert re.search(r"/runs/r\d+$", str(b_run))
    browser.get(str(b_run))
    browser.find_element(By.ID, "run-workflow-link").click()
    until(browser, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-selected") == "b",
          "the link view with b selected")


def test_rerun_from_here_waits_for_a_second_user_then_turns_green_live(flow: Flow, browser: WebDriver,  # noqa: F811
                                                                       second_browser: WebDriver,
                                                                       shots: Path) -> None:  # noqa: F811
    cluster = flow.cluster
    with cluster.client() as admin:
        policy = admin.get_policy()
        policy.approvals.add(operation="run.rerun", domains=["finance"])
        admin.set_policy(policy)
    try:
        login(browser, cluster, "fiona")
        open_link_view(browser, flow, "b")
        until(browser, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-impact") == "c", "b selected")
        browser.find_element(By.ID, "act-rerun").click()
        until(browser, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-preview-state") == "ready",
              "the rerun's preview")
        assert browser.find_element(By.ID, "lv-preview-text").text == "would run again (downstream): b, c"
        assert browser.find_element(By.ID, "lv-preview-cli").text == f"wloadctl rerun {flow.run_id} --task b --dry-run"
        browser.find_element(By.ID, "lv-confirm").click()
        until(browser, lambda d: d.find_element(By.ID, "linkview").get_attribute("data-result"), "the action's answer")
        result = browser.find_element(By.ID, "lv-result-text").text
        found = re.fullmatch(r"approval requested: (a\d+), waiting for a second user", result)
        assert found, result
        approval_id = found.group(1)
        assert browser.find_element(By.ID, "lv-approvals-link").get_attribute("href").endswith("/approvals")
        assert node(browser, "b").get_attribute("data-state") == "failed"   # nothing ran

        # The requester cannot approve her own request: the API says so, the page shows it.
        browser.find_element(By.ID, "lv-approvals-link").click()
        until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'#approvals tr[data-approval="{approval_id}"]'),
              "the pending approval")
        browser.find_element(By.ID, f"approve-{approval_id}").click()
        error = until(browser, lambda d: d.find_element(By.ID, "approvals-error"), "the refusal").text
        assert "another person must decide" in error

        # Back on the link view, watching; the second user approves in another browser.
        open_link_view(browser, flow, "b")
        browser.execute_script("window.__samePage = 42;")
        login(second_browser, cluster, "gabe")
        second_browser.get(base(cluster) + "/approvals")
        row = until(second_browser, lambda d: d.find_element(
            By.CSS_SELECTOR, f'#approvals tr[data-approval="{approval_id}"]'), "gabe's pending approval")
        assert f"rerun downstream of b in workflow run {flow.run_id} (2 tasks: b, c)" in row.text
        assert "user/fiona" in row.text and "run.rerun" in row.text
        screenshot(second_browser, shots, "approvals")
        row.find_element(By.NAME, "reason").send_keys("input file delivered")
        second_browser.find_element(By.ID, f"approve-{approval_id}").click()
        done = until(second_browser, lambda d: d.find_element(By.ID, "approvals-done"), "the approval").text
        assert done.startswith(f"approval/{approval_id} approved: rerun downstream of b") and "user/fiona" in done

        # The first user's page: b and c turn green over the live stream, no reload.
        until(browser, lambda d: node(d, "b").get_attribute("data-state") == "succeeded", "b to turn green live")
        until(browser, lambda d: node(d, "c").get_attribute("data-state") == "succeeded", "c to run after it")
        assert node_fill(browser, "b") == GREEN and node_fill(browser, "c") == GREEN
        assert browser.execute_script("return window.__samePage;") == 42
        until(browser, lambda d: d.find_element(By.ID, "wf-state").text == "SUCCEEDED", "the run's state, live")
        until(browser, lambda d: "b: loaded" in d.find_element(By.ID, "lv-log").text, "the new attempt's log")
        screenshot(browser, shots, "workflow-rerun-succeeded")
        with cluster.client() as admin:
            assert admin.get_workflow_run(flow.run_id).state == WF.WF_SUCCEEDED
            records = list(admin.iter_audit(audit_pb2.ListAuditRequest(resource=f"workflowrun/{flow.run_id}")))
            reruns = list(admin.iter_audit(audit_pb2.ListAuditRequest(operation="workflow.rerun")))
        # Carried out once, as the requester, from the console, with the approver's name.
        assert len(reruns) == 1 and reruns[0].actor.name == "fiona" and reruns[0].approved_by == "user/gabe"
        assert reruns[0].actor.source.startswith("console:127.0.0.1:")
        requests = [r for r in records if r.operation == "approval.request"]
        assert requests and requests[0].actor.source.startswith("console:127.0.0.1:")
    finally:
        with cluster.client() as admin:
            policy = admin.get_policy()
            del policy.approvals[:]
            admin.set_policy(policy)


def test_a_user_of_another_domain_gets_nothing(flow: Flow, browser: WebDriver) -> None:  # noqa: F811
    login(browser, flow.cluster, "hank")
    browser.get(base(flow.cluster) + "/workflows/runs")
    assert not browser.find_elements(By.CSS_SELECTOR, "#wf-runs tr[data-wrun]")
    assert "settle" not in browser.find_element(By.TAG_NAME, "main").text
    browser.get(f"{base(flow.cluster)}/workflows/runs/{flow.run_id}")
    assert browser.find_element(By.ID, "error").text
    assert not browser.find_elements(By.ID, "linkview")
    page = browser.find_element(By.TAG_NAME, "main").text
    for secret in ("settle", "b failing", "extracted"):
        assert secret not in page
    browser.get(base(flow.cluster) + "/approvals?state=all")
    assert not browser.find_elements(By.CSS_SELECTOR, "#approvals tr[data-approval]")
    # The data routes answer 403 with no data.
    client = Session(flow.cluster.replicas[0].http_address)
    assert client.login("hank", PASSWORD).status == 303
    for path in ("graph", "events", "task?name=b", "preview?action=rerun&task=b", "preview?action=kill"):
        answer = client.request("GET", f"/workflows/runs/{flow.run_id}/{path}")
        assert answer.status == 403 and "settle" not in answer.body, (path, answer.status, answer.body)
    answer = client.request("POST", f"/workflows/runs/{flow.run_id}/action",
                            {"csrf_token": client.csrf("/workflows/runs"), "action": "kill"},
                            headers={"Accept": "application/json"})
    assert answer.status == 403 and "settle" not in answer.body


def test_pause_resume_and_kill_from_the_console_with_their_previews(flow: Flow, tmp_path: Path) -> None:
    """Over HTTP as the page's script does it (preview, then a POST with the CSRF header): the CLI's
    dry-run text first, then the action; the killed task's node says killed."""
    gate = tmp_path / "never-opened"
    with flow.cluster.client() as admin:
        admin.apply_workflows([workflows_pb2.WorkflowSpec(name="gated", domain="finance", tasks=[
            _task("x", f"while [ ! -e '{gate}' ]; do sleep 0.05; done"), _task("y", "echo after", "x")])])
        run_id = admin.run_workflow("gated").id
        wait_for(lambda: admin.get_workflow_run(run_id).tasks[0].run_id and
                 admin.get_run(admin.get_workflow_run(run_id).tasks[0].run_id).state == RS.RUNNING, 30, "x to run")
    client = Session(flow.cluster.replicas[0].http_address)
    assert client.login("fiona", PASSWORD).status == 303
    csrf = client.csrf("/workflows/runs")
    json_headers = {"Accept": "application/json"}

    def preview(**query: str) -> dict[str, Any]:
        path = f"/workflows/runs/{run_id}/preview?" + "&".join(f"{k}={v}" for k, v in query.items())
        answer = client.request("GET", path, headers=json_headers)
        assert answer.status == 200, answer.body
        return json.loads(answer.body)  # type: ignore[no-any-return]

    def act(action: str, key: str) -> dict[str, Any]:
        answer = client.request("POST", f"/workflows/runs/{run_id}/action", {"action": action, "key": key},
                                headers={**json_headers, "X-CSRF-Token": csrf})
        assert answer.status == 200, answer.body
        return json.loads(answer.body)  # type: ignore[no-any-return]

    shown = preview(action="pause")
    assert shown["text"].startswith(f"pause {run_id} (domain finance): no task starts until it is resumed; "
                                    "1 started task(s) go on:\nTASK   STATE     RUN\nx      STARTED   r")
    assert act("pause", shown["key"])["text"] == f"workflowrun/{run_id} paused: no task starts until it is resumed"
    graph = json.loads(client.request("GET", f"/workflows/runs/{run_id}/graph").body)
    assert graph["run"]["paused"] is True
    assert preview(action="resume")["text"] == f"resume {run_id} (domain finance): 0 ready task(s) start:\n"
    assert act("resume", preview(action="resume")["key"])["text"] == f"workflowrun/{run_id} resumed"
    shown = preview(action="kill")
    assert shown["text"] == (f"kill {run_id} (domain finance) would end 2 task(s) (dry run: nothing changed):\n"
                             "TASK   STATE     WOULD BE\nx      STARTED   killed\ny      WAITING   skipped\n")
    assert act("kill", shown["key"])["text"] == \
        f"workflowrun/{run_id} KILLED: running tasks are being killed, the others skipped"
    wait_for(lambda: {n["id"]: n["state"] for n in json.loads(client.request(
        "GET", f"/workflows/runs/{run_id}/graph").body)["nodes"]} == {"x": "killed", "y": "skipped"}, 30,
        "x killed and y skipped")
    # The same confirm again (its key) acts at most once: the run is not running any more, nothing changes.
    again = client.request("POST", f"/workflows/runs/{run_id}/action", {"action": "kill", "key": shown["key"]},
                           headers={**json_headers, "X-CSRF-Token": csrf})
    assert again.status in (200, 409), again.body
    # Without the CSRF token: refused before anything is done.
    refused = client.request("POST", f"/workflows/runs/{run_id}/action", {"action": "pause"}, headers=json_headers)
    assert refused.status == 403 and "CSRF" in refused.body
    with flow.cluster.client() as admin:
        kills = list(admin.iter_audit(audit_pb2.ListAuditRequest(operation="workflow.kill")))
    assert kills and kills[-1].actor.name == "fiona" and kills[-1].actor.source.startswith("console:")

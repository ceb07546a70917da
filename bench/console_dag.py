"""The business link view with a 1,000-task workflow run: the console's server time for the run's graph
JSON (and its page), and the browser's time to a laid-out, drawn DAG.

    python bench/console_dag.py [--layers 20 --width 50 --deps 2 --requests 30 --loads 3] [--agent]
                                [--screenshot docs/console/workflow-1000.png]

A 1-replica cluster with authentication; a workflow of LAYERS x WIDTH tasks (each task after DEPS
tasks of the layer before it), tasks running an `empty` job; one run of it (without --agent its
tasks stay pending: the first layer queued, the rest waiting, which is all the layout needs; with
--agent one agent runs it while the benchmark reads). A user logs in over HTTP, then:

* server: GET /workflows/runs/ID/graph REQUESTS times, then the page itself, on one keep-alive
  connection; the time from sending the request to the last byte of the answer, p50/p95/max.
* browser: Debian's Chromium (Selenium, headless) opens the link view LOADS times (a new page each
  time, cache warm after the first); the page's script sets data-layout-ms when the graph is laid
  out by ELK and drawn (milliseconds from the navigation's start, performance.now()) and data-elk-ms
  (ELK's layout alone); both are printed, and their medians.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wloadctl.proto.v1 import auth_pb2, jobs_pb2, workflows_pb2
from wloadctl.testing.cluster import LocalCluster

PASSWORD = "Link-View-Timing-2026!"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class Http:
    """One keep-alive connection with a cookie jar (redirects not followed)."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = urlencode(form).encode() if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        took = time.perf_counter() - started
        for line in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, data, took

    def login(self, user: str, password: str) -> None:
        _, page, _ = self.request("GET", "/login")
        found = re.search(rb'name="csrf_token" value="([0-9a-f]{64})"', page)
        assert found, page[:300]
        status, _, _ = self.request("POST", "/login", {"csrf_token": found.group(1).decode(), "user": user,
                                                       "password": password, "next": "/"})
        assert status == 303 and "wloadctl_session" in self.cookies, status


def workflow(layers: int, width: int, deps: int) -> workflows_pb2.WorkflowSpec:
    tasks = []
    for layer in range(layers):
        for i in range(width):
            after = [] if layer == 0 else sorted({f"t{layer - 1:02d}-{(i * (k * 7 + 1) + k * 3) % width:03d}"
                                                  for k in range(deps)})
            tasks.append(workflows_pb2.WorkflowTask(name=f"t{layer:02d}-{i:03d}", job="noop", depends_on=after))
    return workflows_pb2.WorkflowSpec(name="big-dag", domain="bench", tasks=tasks)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def browser_times(url: str, cookies: dict[str, str], loads: int, profile: Path,
                  screenshot: str = "", select: str = "") -> list[tuple[int, int]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        origin = url.split("/workflows/")[0]
        driver.get(origin + "/login")
        for name, value in cookies.items():
            driver.add_cookie({"name": name, "value": value, "path": "/"})
        found = []
        for _ in range(loads):
            driver.get("about:blank")
            driver.get(url)
            WebDriverWait(driver, 120).until(
                lambda d: d.find_element(By.ID, "linkview").get_attribute("data-layout-ms"))
            root = driver.find_element(By.ID, "linkview")
            drawn = len(driver.find_elements(By.CSS_SELECTOR, "#lv-nodes g.lv-node"))
            assert drawn > 0, driver.find_element(By.ID, "lv-status").text
            found.append((int(root.get_attribute("data-layout-ms") or 0), int(root.get_attribute("data-elk-ms") or 0)))
        if screenshot:
            # The view with a task in the middle selected: its impact set highlighted, zoomed out.
            driver.get(f"{url}?task={select}")
            WebDriverWait(driver, 120).until(
                lambda d: d.find_element(By.ID, "linkview").get_attribute("data-impact"))
            driver.find_element(By.ID, "lv-fit").click()
            driver.save_screenshot(screenshot)
        return found
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--deps", type=int, default=2)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--agent", action="store_true", help="run the workflow on an agent meanwhile")
    parser.add_argument("--screenshot", default="", metavar="PNG", help="save the view (a middle task selected)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wloadctl-bench-console-") as tmp:
        cluster = LocalCluster(Path(tmp) / "c", size=1)
        cluster.start()
        try:
            if args.agent:
                cluster.add_agent("a1", capacity=64)
            with cluster.client() as admin:
                admin.create_user(auth_pb2.CreateUserRequest(name="bench", password=PASSWORD, bindings=[
                    auth_pb2.Binding(role="scheduling-admin", domains=["bench"])]))
                admin.apply_jobs([jobs_pb2.JobSpec(name="noop", domain="bench", task_type=jobs_pb2.EMPTY)])
                spec = workflow(args.layers, args.width, args.deps)
                admin.apply_workflows([spec])
                run_id = admin.run_workflow("big-dag").id
            edges = sum(len(t.depends_on) for t in spec.tasks)
            print(f"workflow run {run_id}: {len(spec.tasks)} tasks in {args.layers} layers of {args.width}, "
                  f"{edges} dependencies{' (running on an agent)' if args.agent else ' (pending: no agent)'}")
            client = Http(cluster.replicas[0].http_address)
            client.login("bench", PASSWORD)
            graph_path = f"/workflows/runs/{run_id}/graph"
            status, body, _ = client.request("GET", graph_path)
            assert status == 200, body[:300]
            times = []
            for _ in range(args.requests):
                status, body, took = client.request("GET", graph_path)
                assert status == 200
                times.append(took * 1000)
            print(f"graph JSON ({len(body) / 1024:.0f} KiB), {args.requests} requests: p50 {pct(times, 50):.1f} ms, "
                  f"p95 {pct(times, 95):.1f} ms, max {max(times):.1f} ms")
            page_times = []
            for _ in range(min(args.requests, 10)):
                status, page, took = client.request("GET", f"/workflows/runs/{run_id}")
                assert status == 200
                page_times.append(took * 1000)
            print(f"link view page ({len(page) / 1024:.0f} KiB), {len(page_times)} requests: "
                  f"p50 {pct(page_times, 50):.1f} ms, p95 {pct(page_times, 95):.1f} ms")
            if CHROMIUM.exists() and CHROMEDRIVER.exists():
                loads = browser_times(f"http://{cluster.replicas[0].http_address}/workflows/runs/{run_id}",
                                      client.cookies, args.loads, Path(tmp) / "profile", args.screenshot,
                                      f"t{args.layers // 2:02d}-{args.width // 2:03d}")
                for i, (total, elk) in enumerate(loads, 1):
                    print(f"browser load {i}: laid out and drawn {total} ms after navigation (ELK layout {elk} ms)")
                print(f"browser: median {statistics.median(t for t, _ in loads):.0f} ms to a drawn DAG, "
                      f"ELK median {statistics.median(e for _, e in loads):.0f} ms")
            else:
                print("browser: skipped (needs /usr/bin/chromium and /usr/bin/chromedriver)")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()

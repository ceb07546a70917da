"""The business link view's pure parts: a workflow run as the graph the page lays out (nodes, edges,
node states), the live stream's changes, the impact set, the ids and names its routes take, and the
action previews in the CLI's words and tables."""

from __future__ import annotations

from wloadctl.cli import output
from wloadctl.console import linkgraph, previews
from wloadctl.console.routes import ROUTES
from wloadctl.proto.v1 import workflows_pb2

TS = workflows_pb2.TaskState
WF = workflows_pb2.WorkflowRunState
T = workflows_pb2.WorkflowTask


def _spec() -> workflows_pb2.WorkflowSpec:
    return workflows_pb2.WorkflowSpec(name="settle", domain="finance", tasks=[
        T(name="a"), T(name="b", depends_on=["a"]), T(name="c", depends_on=["b"]), T(name="d", depends_on=["a"]),
        T(name="sub", workflow="child", depends_on=["d"]), T(name="pick", cases=[workflows_pb2.SwitchCase(run=["c"])]),
    ], on_failure=[T(name="page")])


def _run(**states: int) -> workflows_pb2.WorkflowRun:
    wrun = workflows_pb2.WorkflowRun(id="w7", workflow_name="settle", workflow_version=3, domain="finance",
                                     state=WF.WF_FAILED, business_date="2026-11-30", tasks_total=6,
                                     tasks_succeeded=2, tasks_failed=1, tasks_skipped=1)
    for name in ("a", "b", "c", "d", "sub", "pick"):
        wrun.tasks.add(name=name, state=states.get(name, TS.TASK_WAITING))
    wrun.tasks.add(name="page", handler=True)
    return wrun


def _impact() -> workflows_pb2.ImpactResponse:
    held = workflows_pb2.TaskRun(name="r", state=TS.TASK_HELD)
    return workflows_pb2.ImpactResponse(
        run_id="w7", task="b", affected=[workflows_pb2.TaskRun(name="c", state=TS.TASK_SKIPPED)],
        elsewhere=[workflows_pb2.ImpactedTask(run_id="w9", workflow="report", domain="finance", task=held)])


def test_a_run_becomes_nodes_and_edges_in_the_order_written() -> None:
    wrun = _run(a=TS.TASK_SUCCEEDED, b=TS.TASK_FAILED, c=TS.TASK_SKIPPED, d=TS.TASK_SUCCEEDED)
    wrun.tasks[1].run_id, wrun.tasks[1].attempt = "r12", 2
    found = linkgraph.graph(wrun, _spec())
    assert [n["id"] for n in found["nodes"]] == ["a", "b", "c", "d", "sub", "pick", "page"]
    assert found["nodes"][1] == {"id": "b", "state": "failed", "run": "r12", "attempt": 2}
    assert found["nodes"][4]["kind"] == "workflow" and found["nodes"][5]["kind"] == "switch"
    assert found["nodes"][6] == {"id": "page", "state": "pending", "handler": True}
    assert "kind" not in found["nodes"][0]   # a command, the usual case: not said
    assert found["edges"] == [["a", "b"], ["b", "c"], ["a", "d"], ["d", "sub"]]
    assert found["edges_known"] and found["run"]["state"] == "FAILED" and found["run"]["failed"] == 1
    assert found["states"] == list(linkgraph.NODE_STATES)
    # Without the workflow version (not kept, or not readable): the nodes, no edges, and it says so.
    bare = linkgraph.graph(wrun, None)
    assert len(bare["nodes"]) == 7 and bare["edges"] == [] and not bare["edges_known"]


def test_node_states() -> None:
    cases = [
        (workflows_pb2.TaskRun(state=TS.TASK_STARTED), "running"),
        (workflows_pb2.TaskRun(state=TS.TASK_SUCCEEDED), "succeeded"),
        (workflows_pb2.TaskRun(state=TS.TASK_FAILED, reason="run r3 ended FAILED, exit code 3"), "failed"),
        (workflows_pb2.TaskRun(state=TS.TASK_FAILED, reason="run r3 ended KILLED"), "killed"),
        (workflows_pb2.TaskRun(state=TS.TASK_FAILED, reason="the workflow run was killed before its retry"),
         "killed"),
        (workflows_pb2.TaskRun(state=TS.TASK_SKIPPED), "skipped"),
        (workflows_pb2.TaskRun(state=TS.TASK_HELD, waiting_for="waits for task x"), "waiting"),
        (workflows_pb2.TaskRun(state=TS.TASK_RETRYING), "retrying"),
        (workflows_pb2.TaskRun(state=TS.TASK_WAITING, ready=True), "paused"),
        (workflows_pb2.TaskRun(state=TS.TASK_WAITING), "pending"),
    ]
    for task, state in cases:
        assert linkgraph.node_state(task) == state, task
    assert {s for _, s in cases} == set(linkgraph.NODE_STATES)


def test_the_live_stream_sends_what_changed() -> None:
    before, changed = linkgraph.changes({}, _run())
    assert len(changed) == 7   # the first event: every node
    wrun = _run(a=TS.TASK_STARTED)
    wrun.tasks[0].run_id = "r1"
    after, changed = linkgraph.changes(before, wrun)
    assert changed == [{"id": "a", "state": "running", "run": "r1"}]
    assert linkgraph.changes(after, wrun)[1] == []


def test_the_impact_set_is_the_apis_answer() -> None:
    response = _impact()
    response.domain = "finance"
    assert linkgraph.impact_set(response) == {
        "task": "b", "domain": "finance", "affected": [{"id": "c", "state": "skipped"}],
        "elsewhere": [{"run": "w9", "workflow": "report", "domain": "finance", "task": "r", "state": "waiting"}]}


def test_ids_and_task_names_follow_the_models_rules() -> None:
    assert linkgraph.valid_task_name("load-2_b") and linkgraph.valid_task_name("x" * 64)
    for bad in ("", "x" * 65, "-a", "a.b", "<script>", "a b", "a/../b"):
        assert not linkgraph.valid_task_name(bad), bad
    assert linkgraph.WORKFLOW_RUN_ID.fullmatch("w12") and not linkgraph.WORKFLOW_RUN_ID.fullmatch("r12")
    assert linkgraph.APPROVAL_ID.fullmatch("a42") and not linkgraph.APPROVAL_ID.fullmatch("a" + "1" * 20)


def test_previews_print_what_the_cli_prints() -> None:
    rows = [("c", "SKIPPED", "-"), ("publish-long-name", "WAITING", "r12")]
    assert previews.render_table(("TASK", "STATE", "RUN"), rows) == output.render_table(("TASK", "STATE", "RUN"), rows)
    rerun = previews.rerun(workflows_pb2.RerunWorkflowResponse(tasks=["b", "c"]), "downstream")
    assert rerun.text == "would run again (downstream): b, c\n" and rerun.highlight == ["b", "c"]
    impact = _impact()
    assert previews.mark(impact, "b", "succeeded").text == (
        "marking b succeeded in w7 decides again 1 task(s) after it (dry run: nothing changed):\n"
        "TASK   STATE     RUN\nc      SKIPPED   -\n"
        "\nwaiting on them in other workflow runs, 1 task(s):\n"
        "WORKFLOW RUN   WORKFLOW   DOMAIN    TASK   STATE\nw9             report     finance   r      HELD\n")
    ended = _run(a=TS.TASK_SUCCEEDED)
    assert previews.kill(ended, []).changes_nothing
    running = _run(a=TS.TASK_STARTED, b=TS.TASK_RETRYING)
    running.state = WF.WF_RUNNING
    running.tasks[0].run_id = "r1"
    kill = previews.kill(running, [impact])
    assert kill.text.startswith("kill w7 (domain finance) would end 7 task(s) (dry run: nothing changed):\n"
                                "TASK   STATE      WOULD BE\na      STARTED    killed\nb      RETRYING   failed\n")
    assert "w9             report" in kill.text
    # The kill preview asks Impact only for open tasks after no other open task: they cover the rest.
    upstream = {t.name: list(t.depends_on) for t in _spec().tasks}
    assert previews.kill_frontier(running, upstream) == ["a", "pick"]
    assert previews.pause(running).text.startswith("pause w7 (domain finance): no task starts until it is resumed; "
                                                   "1 started task(s) go on:\n")
    assert previews.resume(running).changes_nothing   # not paused
    running.paused = True
    running.tasks[2].ready = True
    assert previews.resume(running).text == "resume w7 (domain finance): 1 ready task(s) start:\nTASK   STATE\n" \
                                            "c      WAITING\n"
    assert previews.done_text("rerun", "w7", running, tasks=["b", "c"]) == "workflowrun/w7 RUNNING: running again b, c"


def test_the_link_views_routes_are_in_the_table() -> None:
    names = {r.name: r for r in ROUTES}
    for name in ("workflow_runs", "workflow_run", "workflow_graph", "workflow_events", "workflow_task",
                 "workflow_preview", "workflow_action", "approvals", "approval_approve", "approval_reject"):
        assert names[name].access == "session", name
    # What changes something is a POST (CSRF-checked); the previews are GETs that change nothing.
    assert {r.name for r in ROUTES if r.method == "POST" and r.name.startswith(("workflow", "approval"))} == \
        {"workflow_action", "approval_approve", "approval_reject"}

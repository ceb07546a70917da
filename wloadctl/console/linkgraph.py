"""The business link view's data, pure (no I/O): a workflow run and its workflow version as the graph
the page lays out (nodes, edges, node states), the changes of node states between two reads of the
run (what the live stream sends), and the checks of the ids and names the link view's routes take.

Node states are the page's words for a task's state (its colour and legend):

========== ================================================================
running     started: its run is queued, dispatched or running
succeeded   ended succeeded (or marked so)
failed      ended failed: its run failed or timed out, or it could not start
killed      ended failed because it (or its workflow run) was killed
skipped     ruled out by its trigger rule or condition, or marked skipped
waiting     its rule holds and it is held by a wait for another workflow
retrying    its run failed; the next attempt starts at retry time
paused      its rule holds but the workflow run is paused: starts at resume
pending     its rule does not hold yet
========== ================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wloadctl.model.workflows import _TASK_NAME as TASK_NAME
from wloadctl.proto.v1 import workflows_pb2

TS = workflows_pb2.TaskState
WF = workflows_pb2.WorkflowRunState
WORKFLOW_RUN_ID = re.compile(r"w[0-9]{1,19}")
APPROVAL_ID = re.compile(r"a[0-9]{1,19}")
RUN_ID = re.compile(r"r[0-9]{1,19}")
NODE_STATES = ("running", "succeeded", "failed", "killed", "skipped", "waiting", "retrying", "paused", "pending")
_KILLED = re.compile(r"\bkilled\b|\bKILLED\b")
# Plain ints: an enum wrapper's attribute lookup costs more than the rest (1,000 tasks per graph).
_FAILED, _WAITING = int(TS.TASK_FAILED), int(TS.TASK_WAITING)
_STATE_OF = {int(TS.TASK_STARTED): "running", int(TS.TASK_SUCCEEDED): "succeeded", int(TS.TASK_SKIPPED): "skipped",
             int(TS.TASK_HELD): "waiting", int(TS.TASK_RETRYING): "retrying"}


def valid_task_name(name: str) -> bool:
    """The model's rule for task names (1-64 letters, digits, '_' or '-')."""
    return bool(TASK_NAME.fullmatch(name))


def run_state(state: int) -> str:
    return WF.Name(state).removeprefix("WF_") if state in WF.values() else str(state)


def node_state(task: workflows_pb2.TaskRun) -> str:
    state = task.state
    if state == _FAILED:
        return "killed" if _KILLED.search(task.reason) else "failed"
    if state == _WAITING:
        return "paused" if task.ready else "pending"
    return _STATE_OF.get(state, "pending")


def task_kind(spec: workflows_pb2.WorkflowTask | None) -> str:
    if spec is None:
        return ""
    if spec.cases:
        return "switch"
    if spec.workflow:
        return "workflow"
    if spec.job:
        return "job"
    return "command"


def node(task: workflows_pb2.TaskRun) -> dict[str, Any]:
    """What the page needs of a task to draw it and to update it live (small: 1,000 of them load at once)."""
    found: dict[str, Any] = {"id": task.name, "state": node_state(task)}
    if task.attempt > 1:
        found["attempt"] = task.attempt
    if task.run_id:
        found["run"] = task.run_id
    if task.child_run_id:
        found["child"] = task.child_run_id
    return found


def run_summary(wrun: workflows_pb2.WorkflowRun) -> dict[str, Any]:
    return {"id": wrun.id, "workflow": wrun.workflow_name, "version": wrun.workflow_version,
            "state": run_state(wrun.state), "paused": wrun.paused, "domain": wrun.domain,
            "business_date": wrun.business_date, "total": wrun.tasks_total, "succeeded": wrun.tasks_succeeded,
            "failed": wrun.tasks_failed, "skipped": wrun.tasks_skipped, "ended_ms": wrun.ended_ms}


def graph(wrun: workflows_pb2.WorkflowRun, spec: workflows_pb2.WorkflowSpec | None) -> dict[str, Any]:
    """The run as the page's graph: a node per task (in the order written, handlers last), an edge per
    dependency (upstream -> downstream) between tasks the run has. Without the workflow version (no
    longer kept) the nodes come without edges, and ``edges_known`` says so."""
    specs = {t.name: t for t in (*spec.tasks, *spec.on_failure)} if spec is not None else {}
    present = {t.name for t in wrun.tasks}
    nodes = []
    for task in wrun.tasks:
        n = node(task)
        kind = task_kind(specs.get(task.name))
        if kind != "command":
            n["kind"] = kind
        if task.handler:
            n["handler"] = True
        nodes.append(n)
    edges = []
    for t in spec.tasks if spec is not None else ():
        name = t.name
        if name in present:
            edges.extend([up, name] for up in t.depends_on if up in present)
    return {"run": run_summary(wrun), "nodes": nodes, "edges": edges, "edges_known": spec is not None,
            "states": list(NODE_STATES)}


def changes(before: Mapping[str, dict[str, Any]], wrun: workflows_pb2.WorkflowRun) \
        -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The nodes of ``wrun`` and those of them that differ from ``before`` (the last ones sent)."""
    now = {t.name: node(t) for t in wrun.tasks}
    return now, [n for name, n in now.items() if before.get(name) != n]


def impact_set(response: workflows_pb2.ImpactResponse) -> dict[str, Any]:
    """The Impact API's answer as the page highlights it: the tasks after the task in this run
    (transitively), and the tasks of other workflow runs held on them."""
    return {"task": response.task, "domain": response.domain,
            "affected": [{"id": t.name, "state": node_state(t)} for t in response.affected],
            "elsewhere": [{"run": e.run_id, "workflow": e.workflow, "domain": e.domain, "task": e.task.name,
                           "state": node_state(e.task)} for e in response.elsewhere]}

"""Human output of workflows and their runs (tables, and the task list of `describe run wN`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from wloadctl.cli import output
from wloadctl.cli.render import enum_name
from wloadctl.proto.v1 import runs_pb2, workflows_pb2

WF = workflows_pb2.WorkflowRunState
TS = workflows_pb2.TaskState
RS = runs_pb2.RunState


def run_state(value: int) -> str:
    return enum_name(WF, value).removeprefix("WF_")


def task_state(value: int) -> str:
    return enum_name(TS, value).removeprefix("TASK_")


def workflows_table(versions: Sequence[workflows_pb2.WorkflowVersion]) -> str:
    rows = [(v.spec.name, v.spec.domain, v.version, len(v.spec.tasks), ",".join(sorted(v.spec.params)) or "-",
             output.format_ms(v.created_ms)) for v in versions]
    return output.render_table(("NAME", "DOMAIN", "VERSION", "TASKS", "PARAMS", "UPDATED"), rows)


def workflow_runs_table(runs: Sequence[workflows_pb2.WorkflowRun]) -> str:
    rows = [(r.id, r.workflow_name, run_state(r.state), _progress(r), r.business_date,
             output.format_ms(r.created_ms)) for r in runs]
    return output.render_table(("RUN", "WORKFLOW", "STATE", "TASKS", "BUSINESS DATE", "CREATED"), rows)


def _progress(r: workflows_pb2.WorkflowRun) -> str:
    done = r.tasks_succeeded + r.tasks_failed + r.tasks_skipped
    parts = [f"{done}/{r.tasks_total} done"]
    if r.tasks_failed:
        parts.append(f"{r.tasks_failed} failed")
    if r.tasks_skipped:
        parts.append(f"{r.tasks_skipped} skipped")
    return ", ".join(parts)


def describe_workflow_run(r: workflows_pb2.WorkflowRun, spec: workflows_pb2.WorkflowSpec | None,
                          runs: Mapping[str, runs_pb2.Run]) -> str:
    """The run, then its tasks in the order written, each with its state, its run, what it waits for."""
    pairs = [("Run", r.id), ("Workflow", f"{r.workflow_name} (version {r.workflow_version})"),
             ("Domain", r.domain), ("State", run_state(r.state)), ("Tasks", _progress(r)),
             ("Business date", r.business_date), ("Params", ", ".join(f"{k}={v}" for k, v in sorted(r.params.items()))
                                                  or "-"),
             ("Created", output.format_ms(r.created_ms)), ("Ended", output.format_ms(r.ended_ms) if r.ended_ms
                                                           else "-"), ("Cause", r.cause or "-")]
    if r.paused:
        pairs.insert(4, ("Paused", "yes: no task starts until `wloadctl resume " + r.id + "`"))
    if r.parent_run_id:
        pairs.append(("Parent", f"task {r.parent_task} of {r.parent_run_id}"))
    if r.slot_time:
        pairs.append(("Slot", r.slot_time))
    if r.context:
        pairs.append(("Context", ", ".join(f"{k}={v}" for k, v in sorted(r.context.items()))[:300]))
    if r.handlers_total:
        pairs.append(("On failure", f"{r.handlers_done}/{r.handlers_total} handlers done" if r.handlers_started
                      else "handlers not started"))
    width = max(len(k) for k, _ in pairs) + 2
    lines = [f"{k + ':':<{width}}{v}" for k, v in pairs]
    upstream = {t.name: list(t.depends_on) for t in spec.tasks} if spec is not None else {}
    depth = _depths(upstream)
    states = {t.name: t for t in r.tasks}
    rows = []
    for t in r.tasks:
        run = runs.get(t.run_id)
        attempt = str(t.attempt) if t.attempt else "-"
        detail = t.reason
        if t.ready:
            detail = "ready: starts when the run is resumed"
        elif t.state == TS.TASK_WAITING and t.handler:
            detail = "runs if a task fails" if not r.ended_ms else "not needed"
        elif t.state == TS.TASK_WAITING:
            waiting = [u for u in upstream.get(t.name, []) if states.get(u) is not None and
                       states[u].state not in (TS.TASK_SUCCEEDED, TS.TASK_FAILED, TS.TASK_SKIPPED)]
            detail = f"waits for {', '.join(waiting)}" if waiting else "waits"
        elif t.state == TS.TASK_HELD:
            detail = t.waiting_for
        elif t.state == TS.TASK_STARTED and t.child_run_id:
            detail = f"workflow run {t.child_run_id}"
        elif t.state == TS.TASK_STARTED and run is not None:
            detail = enum_name(RS, run.state) + (f" ({t.reason})" if t.reason else "")
        after = "on failure" if t.handler else ",".join(upstream.get(t.name, [])) or "-"
        level = depth.get(t.name, 0)
        name = "  " * (level - 1) + "\\_ " + t.name if level else t.name  # as ps --forest draws
        rows.append((name, task_state(t.state), t.run_id or t.child_run_id or "-", attempt,
                     output.format_ms(t.started_ms) if t.started_ms else "-",
                     output.format_ms(t.ended_ms) if t.ended_ms else "-", after, detail or "-"))
    table = output.render_table(("TASK", "STATE", "RUN", "ATTEMPT", "STARTED", "ENDED", "AFTER", "DETAIL"), rows)
    return "\n".join(lines) + "\n\n" + table


def _depths(upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each task's level: 0 without upstreams, else one more than its deepest upstream (the tree
    `describe run` draws). Iterative depth-first, whatever the depth; definitions are acyclic, and
    an upstream already on the path would count as level 0, never be looped on."""
    depth: dict[str, int] = {}
    for root in upstream:
        if root in depth:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(upstream.get(root, ())))]
        on_path = {root}
        while stack:
            name, ups = stack[-1]
            up = next(ups, None)
            if up is None:
                known = [depth.get(u, 0) for u in upstream.get(name, ()) if u in upstream]
                depth[name] = 1 + max(known) if known else 0
                on_path.discard(name)
                stack.pop()
            elif up in upstream and up not in depth and up not in on_path:
                on_path.add(up)
                stack.append((up, iter(upstream.get(up, ()))))
    return depth

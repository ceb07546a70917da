"""What an action of the business link view would do, in the words and tables the CLI prints for
``--dry-run`` (wloadctl/cli/commands/workflows.py), from the same API answers. Pure: the caller makes
the calls (RerunWorkflow with dry_run, Impact, GetWorkflowRun) and hands the answers in.

=========================  ==================================================================
action                     computed from (as the CLI does)
=========================  ==================================================================
rerun (downstream, only)   RerunWorkflow(dry_run=True): ``would run again (MODE): TASKS``
mark succeeded / skipped   Impact(task): the tasks decided again, and those of other workflow runs
kill                       GetWorkflowRun, Impact of its open tasks: what ends how
pause / resume             GetWorkflowRun (the CLI has no dry run for them): what goes on, what starts
=========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wloadctl.proto.v1 import workflows_pb2

TS = workflows_pb2.TaskState
WF = workflows_pb2.WorkflowRunState
ENDED = (TS.TASK_SUCCEEDED, TS.TASK_FAILED, TS.TASK_SKIPPED)
ACTIONS = ("rerun", "mark", "pause", "resume", "kill")
RERUN_MODES = ("downstream", "only")
OUTCOMES = ("succeeded", "skipped")


@dataclass
class Preview:
    text: str                                    # as the CLI prints it
    highlight: list[str] = field(default_factory=list)  # tasks of this run it touches
    changes_nothing: bool = False                # the action would do nothing (the API would refuse it)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "".join(" " if c in "\n\r\t" else ("?" if ord(c) < 32 or ord(c) == 127 else c) for c in text)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The CLI's tables (cli/output.py render_table): left-aligned columns, three spaces apart."""
    cells = [[_cell(h) for h in headers]]
    cells.extend([_cell(c) for c in row] for row in rows)
    widths = [max(len(row[i]) if i < len(row) else 0 for row in cells) for i in range(len(headers))]
    return "\n".join("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells) + "\n"


def task_state(value: int) -> str:
    return TS.Name(value).removeprefix("TASK_") if value in TS.values() else str(value)


def run_state(value: int) -> str:
    return WF.Name(value).removeprefix("WF_") if value in WF.values() else str(value)


def _elsewhere(elsewhere: Sequence[workflows_pb2.ImpactedTask]) -> str:
    if not elsewhere:
        return ""
    return (f"\nwaiting on them in other workflow runs, {len(elsewhere)} task(s):\n"
            + render_table(("WORKFLOW RUN", "WORKFLOW", "DOMAIN", "TASK", "STATE"),
                           [(e.run_id, e.workflow, e.domain, e.task.name, task_state(e.task.state))
                            for e in elsewhere]))


def rerun(response: workflows_pb2.RerunWorkflowResponse, mode: str) -> Preview:
    return Preview(f"would run again ({mode}): {', '.join(response.tasks)}\n", list(response.tasks))


def mark(response: workflows_pb2.ImpactResponse, task: str, outcome: str) -> Preview:
    text = (f"marking {task} {outcome} in {response.run_id} decides again {len(response.affected)} "
            "task(s) after it (dry run: nothing changed):\n")
    if response.affected:
        text += render_table(("TASK", "STATE", "RUN"), [(t.name, task_state(t.state), t.run_id or "-")
                                                        for t in response.affected])
    return Preview(text + _elsewhere(response.elsewhere), [task, *(t.name for t in response.affected)])


def open_tasks(wrun: workflows_pb2.WorkflowRun) -> list[workflows_pb2.TaskRun]:
    return [t for t in wrun.tasks if t.state not in ENDED]


def kill_frontier(wrun: workflows_pb2.WorkflowRun, upstream: dict[str, list[str]]) -> list[str]:
    """The open tasks none of whose upstream tasks is open: every other open task comes after one of
    them, so the Impact of these covers what the CLI asks Impact for one by one (``upstream``: the
    workflow's dependencies; without them, every open task)."""
    open_names = {t.name for t in open_tasks(wrun) if not t.handler}
    return [t.name for t in wrun.tasks if t.name in open_names
            and not any(up in open_names for up in upstream.get(t.name, ()))]


def kill(wrun: workflows_pb2.WorkflowRun, impacts: Iterable[workflows_pb2.ImpactResponse]) -> Preview:
    ending = open_tasks(wrun)
    if wrun.state != WF.WF_RUNNING:
        return Preview(f"workflow run {wrun.id} is {run_state(wrun.state)}: a kill would change nothing\n",
                       changes_nothing=True)
    elsewhere: list[workflows_pb2.ImpactedTask] = []
    seen: set[tuple[str, str]] = set()
    for response in impacts:
        for e in response.elsewhere:
            if (e.run_id, e.task.name) not in seen:
                seen.add((e.run_id, e.task.name))
                elsewhere.append(e)
    text = f"kill {wrun.id} (domain {wrun.domain}) would end {len(ending)} task(s) (dry run: nothing changed):\n"
    text += render_table(("TASK", "STATE", "WOULD BE"), [
        (t.name, task_state(t.state), "killed" if t.state == TS.TASK_STARTED else
         "failed" if t.state == TS.TASK_RETRYING else "skipped") for t in ending])
    return Preview(text + _elsewhere(elsewhere), [t.name for t in ending])


def pause(wrun: workflows_pb2.WorkflowRun) -> Preview:
    if wrun.state != WF.WF_RUNNING:
        return Preview(f"workflow run {wrun.id} is {run_state(wrun.state)}: a pause would change nothing\n",
                       changes_nothing=True)
    if wrun.paused:
        return Preview(f"workflow run {wrun.id} is paused already\n", changes_nothing=True)
    running = [t for t in wrun.tasks if t.state == TS.TASK_STARTED]
    text = (f"pause {wrun.id} (domain {wrun.domain}): no task starts until it is resumed; "
            f"{len(running)} started task(s) go on:\n")
    if running:
        text += render_table(("TASK", "STATE", "RUN"), [(t.name, task_state(t.state), t.run_id or "-")
                                                        for t in running])
    return Preview(text, [t.name for t in running])


def resume(wrun: workflows_pb2.WorkflowRun) -> Preview:
    if wrun.state != WF.WF_RUNNING:
        return Preview(f"workflow run {wrun.id} is {run_state(wrun.state)}: a resume would change nothing\n",
                       changes_nothing=True)
    if not wrun.paused:
        return Preview(f"workflow run {wrun.id} is not paused: a resume would change nothing\n",
                       changes_nothing=True)
    ready = [t for t in wrun.tasks if t.ready]
    text = f"resume {wrun.id} (domain {wrun.domain}): {len(ready)} ready task(s) start:\n"
    if ready:
        text += render_table(("TASK", "STATE"), [(t.name, task_state(t.state)) for t in ready])
    return Preview(text, [t.name for t in ready])


def done_text(action: str, run_id: str, answer: workflows_pb2.WorkflowRun | None, tasks: Sequence[str] = (),
              task: str = "", outcome: str = "") -> str:
    """What the CLI prints once the action is done (wloadctl rerun|mark|pause|resume|kill)."""
    state = run_state(answer.state) if answer is not None else ""
    if action == "rerun":
        return f"workflowrun/{run_id} {state}: running again {', '.join(tasks)}"
    if action == "mark":
        return f"workflowrun/{run_id} {state}: task {task} marked {outcome}"
    if action == "pause":
        return f"workflowrun/{run_id} paused: no task starts until it is resumed"
    if action == "resume":
        return f"workflowrun/{run_id} resumed"
    return f"workflowrun/{run_id} {state}: running tasks are being killed, the others skipped"

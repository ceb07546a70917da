"""Workflow rules: the checks the API, the CLI and the state machine share (pure, deterministic).

A task is a job in all but name: its command, environment, selector, timeout and run-as are
checked by the job rules (model/rules.py), on the job spec the task would run as
(``task_job_spec``), with the field names of the workflow (``tasks[3].command``).
"""

from __future__ import annotations

import re

from wloadctl.model.rules import SpecError, validate_spec
from wloadctl.proto.v1 import jobs_pb2, workflows_pb2
from wloadctl.scheduler import dag

# The API's default limit on tasks per workflow (a replica setting may lower or raise it); the
# state machine refuses more than HARD_MAX_TASKS whatever the setting.
DEFAULT_MAX_TASKS = 100_000
HARD_MAX_TASKS = 1_000_000
MAX_UPSTREAMS = 1_000
MAX_PARAMS = 64
_TASK_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?")
_PARAM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def task_job_spec(spec: workflows_pb2.WorkflowSpec, task: workflows_pb2.WorkflowTask) -> jobs_pb2.JobSpec:
    """The job a command task runs as: ``WORKFLOW.TASK`` in the workflow's domain."""
    job = jobs_pb2.JobSpec(name=f"{spec.name}.{task.name}", domain=spec.domain, description=task.description,
                           env=task.env, working_dir=task.working_dir, timeout_seconds=task.timeout_seconds,
                           agent_selector=task.agent_selector, run_as=task.run_as)
    if task.HasField("command"):
        job.command.CopyFrom(task.command)
    return job


def validate_workflow(spec: workflows_pb2.WorkflowSpec, max_tasks: int = DEFAULT_MAX_TASKS) -> list[SpecError]:
    errors: list[SpecError] = []

    def err(where: str, reason: str) -> None:
        errors.append(SpecError(where, reason))

    header = jobs_pb2.JobSpec(name=spec.name, domain=spec.domain, description=spec.description, labels=spec.labels,
                              command=jobs_pb2.JobCommand(shell="true"))
    errors += [e for e in validate_spec(header) if e.field in ("name", "domain", "description") or
               e.field.startswith("labels")]
    if not spec.tasks:
        err("tasks", "a workflow needs at least one task")
    if len(spec.tasks) > min(max_tasks, HARD_MAX_TASKS):
        err("tasks", f"at most {min(max_tasks, HARD_MAX_TASKS):,} tasks (got {len(spec.tasks):,}); "
                     f"the limit is the replicas' max_workflow_tasks")
        return errors
    if len(spec.params) > MAX_PARAMS:
        err("params", f"at most {MAX_PARAMS}")
    for key, value in sorted(spec.params.items())[:MAX_PARAMS + 1]:
        if not _PARAM_KEY.fullmatch(key) or len(value) > 4096 or "\0" in value:
            err(f"params.{key[:40]}", "names: a letter or '_' then letters, digits or '_' (up to 64); values up to "
                                      "4096 characters, no NUL")
    for i, task in enumerate(spec.tasks):
        where = f"tasks[{i}]"
        if not _TASK_NAME.fullmatch(task.name):
            err(f"{where}.name", "1-64 letters, digits, '_' or '-', starting and ending with a letter or digit")
        if len(task.depends_on) > MAX_UPSTREAMS:
            err(f"{where}.dependsOn", f"at most {MAX_UPSTREAMS} upstream tasks")
        if task.trigger_rule not in workflows_pb2.TriggerRule.values():
            err(f"{where}.triggerRule", f"unknown value {task.trigger_rule}")
        if task.job and task.HasField("command"):
            err(where, "either command or job, not both")
        elif task.job:
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", task.job) or len(task.job) > 253:
                err(f"{where}.job", "not a job name")
            if task.env or task.working_dir or task.timeout_seconds or task.agent_selector or task.run_as:
                err(where, "a task that runs a job takes everything from the job (no env, workingDir, timeout, "
                           "agentSelector or runAs of its own)")
        elif not task.HasField("command"):
            err(where, "needs a command (or a job to run)")
        else:
            for e in validate_spec(task_job_spec(spec, task)):
                if e.field in ("name", "domain") or e.field.startswith("labels"):
                    continue  # the workflow's, reported once above
                err(f"{where}.{e.field}" if e.field else where, e.reason)
    errors += [SpecError(f, r) for f, r in dag.problems(spec.tasks)]
    return errors

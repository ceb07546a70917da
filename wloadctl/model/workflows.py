"""Workflow rules: the checks the API, the CLI and the state machine share (pure, deterministic).

A task is a job in all but name: its command, environment, selector, timeout and run-as are
checked by the job rules (model/rules.py), on the job spec the task would run as
(``task_job_spec``), with the field names of the workflow (``tasks[3].command``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from wloadctl.model import expressions, scheduling
from wloadctl.model.rules import SpecError, validate_spec
from wloadctl.proto.v1 import jobs_pb2, workflows_pb2
from wloadctl.scheduler import dag, task_policy

# The API's default limit on tasks per workflow (a replica setting may lower or raise it); the
# state machine refuses more than HARD_MAX_TASKS whatever the setting.
DEFAULT_MAX_TASKS = 100_000
HARD_MAX_TASKS = 1_000_000
MAX_UPSTREAMS = 1_000
MAX_PARAMS = 64
_TASK_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?")
_PARAM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
MAX_CASES = 64
MAX_WAITS = 16
MAX_HANDLERS = 16
MAX_RETRY_DELAY_S = 86400
MAX_WAIT_TIMEOUT_S = 31 * 86400
# What expressions and templates may name (docs/expressions.md): root -> path segments after it.
ROOTS: dict[str, int | None] = {"params": 1, "tasks": None, "context": 1, "business_date": 0, "run": 1}
_RUN_FIELDS = ("id", "workflow", "attempt")
_TASK_FIELDS = ("state", "exit_code")


def task_job_spec(spec: workflows_pb2.WorkflowSpec, task: workflows_pb2.WorkflowTask) -> jobs_pb2.JobSpec:
    """The job a command task runs as: ``WORKFLOW.TASK`` in the workflow's domain."""
    job = jobs_pb2.JobSpec(name=f"{spec.name}.{task.name}", domain=spec.domain, description=task.description,
                           env=task.env, working_dir=task.working_dir, timeout_seconds=task.timeout_seconds,
                           agent_selector=task.agent_selector, run_as=task.run_as)
    if task.HasField("command"):
        job.command.CopyFrom(task.command)
    return job


def trigger_job(wf: workflows_pb2.WorkflowVersion) -> jobs_pb2.JobVersion:
    """A workflow's scheduling fields as the job the schedule and event tables know (no command:
    that is how they tell it from a job)."""
    spec = jobs_pb2.JobSpec()
    spec.CopyFrom(wf.spec.trigger)
    spec.name, spec.domain = wf.spec.name, wf.spec.domain or "default"
    return jobs_pb2.JobVersion(spec=spec, version=wf.version, created_ms=wf.created_ms, raft_index=wf.raft_index,
                               deleted=wf.deleted)


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
        kinds = [k for k, present in (("command", task.HasField("command")), ("job", bool(task.job)),
                                      ("workflow", bool(task.workflow)), ("cases", bool(task.cases))) if present]
        if len(kinds) > 1:
            err(where, f"one of command, script, job, workflow or cases (got {' and '.join(kinds)})")
        elif task.cases:
            _check_switch(spec, i, task, err)
        elif task.workflow:
            if not _NAME.fullmatch(task.workflow) or len(task.workflow) > 253:
                err(f"{where}.workflow", "not a workflow name")
            elif task.workflow == spec.name:
                err(f"{where}.workflow", "a workflow cannot run itself as a task")
            if task.env or task.working_dir or task.timeout_seconds or task.agent_selector or task.run_as:
                err(where, "a sub-workflow task runs tasks of its own (no env, workingDir, timeout, agentSelector "
                           "or runAs)")
            for key, value in sorted(task.workflow_params.items()):
                if not _PARAM_KEY.fullmatch(key) or len(value) > 4096:
                    err(f"{where}.workflowParams.{key[:40]}", "a parameter name, and a value up to 4096 characters")
                _check_template(spec, value, f"{where}.workflowParams.{key[:40]}", err)
        elif task.job:
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", task.job) or len(task.job) > 253:
                err(f"{where}.job", "not a job name")
            if task.env or task.working_dir or task.timeout_seconds or task.agent_selector or task.run_as:
                err(where, "a task that runs a job takes everything from the job (no env, workingDir, timeout, "
                           "agentSelector or runAs of its own)")
        elif not task.HasField("command"):
            err(where, "needs a command or script (or a job, a workflow, or cases)")
        else:
            for e in validate_spec(task_job_spec(spec, task)):
                if e.field in ("name", "domain") or e.field.startswith("labels"):
                    continue  # the workflow's, reported once above
                err(f"{where}.{e.field}" if e.field else where, e.reason)
            _check_command_templates(spec, task, where, err)
        if task.workflow_params and not task.workflow:
            err(f"{where}.workflowParams", "only for a task that runs a workflow")
        if task.when:
            _check_expression(spec, task.when, f"{where}.when", err)
        _check_retry(task.retry, f"{where}.retry", err)
        _check_waits(spec, task, where, err)
    _check_handlers(spec, err)
    _check_trigger(spec, err)
    errors += [SpecError(f, r) for f, r in dag.problems(spec.tasks)]
    return errors


def _check_expression(spec: workflows_pb2.WorkflowSpec, text: str, where: str,
                      err: Callable[[str, str], None]) -> None:
    try:
        expr = expressions.parse(text)
    except expressions.ExpressionError as e:
        err(where, str(e))
        return
    _check_references(spec, expr.references(), where, err, expressions.check(expr, ROOTS))


def _check_template(spec: workflows_pb2.WorkflowSpec, text: str, where: str,
                    err: Callable[[str, str], None]) -> None:
    if "{{" not in text:
        return
    try:
        template = expressions.parse_template(text)
    except expressions.ExpressionError as e:
        err(where, str(e))
        return
    problems = [p for part in template.parts if isinstance(part, expressions.Expression)
                for p in expressions.check(part, ROOTS)]
    _check_references(spec, template.references(), where, err, problems)


def _check_references(spec: workflows_pb2.WorkflowSpec, refs: Iterable[tuple[str, ...]], where: str,
                      err: Callable[[str, str], None], problems: list[str]) -> None:
    """Names an expression uses must exist: declared parameters, tasks of this workflow."""
    for problem in problems[:5]:
        err(where, problem)
    if problems:
        return
    tasks = {t.name for t in spec.tasks} | {t.name for t in spec.on_failure}
    for ref in sorted(refs):
        if ref[0] == "params" and ref[1] not in spec.params:
            err(where, f"no parameter {ref[1]!r} (declare it under params)")
        elif ref[0] == "run" and ref[1] not in _RUN_FIELDS:
            err(where, f"run.{ref[1]}: run has {', '.join(_RUN_FIELDS)}")
        elif ref[0] == "tasks":
            if len(ref) < 3 or ref[1] not in tasks:
                err(where, f"{'.'.join(ref)}: write tasks.TASK.state, tasks.TASK.exit_code or "
                           "tasks.TASK.outputs.KEY with a task of this workflow")
            elif not ((len(ref) == 3 and ref[2] in _TASK_FIELDS) or (len(ref) == 4 and ref[2] == "outputs")):
                err(where, f"{'.'.join(ref)}: a task has state, exit_code and outputs.KEY")


def _check_command_templates(spec: workflows_pb2.WorkflowSpec, task: workflows_pb2.WorkflowTask, where: str,
                             err: Callable[[str, str], None]) -> None:
    kind = task.command.WhichOneof("kind")
    if kind == "shell":
        _check_template(spec, task.command.shell, f"{where}.command.shell", err)
    elif kind == "argv":
        for j, arg in enumerate(task.command.argv.args):
            _check_template(spec, arg, f"{where}.command.argv[{j}]", err)
    for key, value in sorted(task.env.items()):
        _check_template(spec, value, f"{where}.env.{key[:40]}", err)


def _check_switch(spec: workflows_pb2.WorkflowSpec, i: int, task: workflows_pb2.WorkflowTask,
                  err: Callable[[str, str], None]) -> None:
    where = f"tasks[{i}]"
    if len(task.cases) > MAX_CASES:
        err(f"{where}.cases", f"at most {MAX_CASES}")
        return
    if task.env or task.working_dir or task.timeout_seconds or task.agent_selector or task.run_as or \
            task.HasField("retry") or task.wait_for:
        err(where, "a switch task runs nothing (no env, workingDir, timeout, agentSelector, runAs, retry or waitFor: "
                   "put a wait on the tasks of its branches)")
    downstream = {t.name for t in spec.tasks if task.name in t.depends_on}
    named: dict[str, int] = {}
    for j, case in enumerate(task.cases):
        at = f"{where}.cases[{j}]"
        if not case.when and j != len(task.cases) - 1:
            err(f"{at}.when", "only the last case may be the default (no when)")
        if case.when:
            _check_expression(spec, case.when, f"{at}.when", err)
        if not case.run:
            err(f"{at}.run", "the tasks this case runs (tasks that depend on the switch)")
        for name in case.run:
            if name not in downstream:
                err(f"{at}.run", f"{name!r} does not depend on {task.name!r} (add it to that task's dependsOn)")
            elif name in named:
                err(f"{at}.run", f"{name!r} is also in cases[{named[name]}] (a task belongs to one branch)")
            named.setdefault(name, j)


def _check_retry(retry: workflows_pb2.RetryPolicy, where: str, err: Callable[[str, str], None]) -> None:
    if retry.attempts > task_policy.MAX_RETRIES:
        err(f"{where}.attempts", f"at most {task_policy.MAX_RETRIES}")
    if retry.delay_seconds > MAX_RETRY_DELAY_S or retry.max_delay_seconds > MAX_RETRY_DELAY_S:
        err(f"{where}.delay", "delays are at most 1 day")
    if len(retry.exit_codes) > 64 or any(not -1 <= c <= 255 for c in retry.exit_codes):
        err(f"{where}.exitCodes", "at most 64 exit codes, each from -1 (timeout or lost) to 255")
    if (retry.delay_seconds or retry.exit_codes or retry.exponential) and not retry.attempts:
        err(f"{where}.attempts", "how many times to retry (1 or more)")


def _check_waits(spec: workflows_pb2.WorkflowSpec, task: workflows_pb2.WorkflowTask, where: str,
                 err: Callable[[str, str], None]) -> None:
    if len(task.wait_for) > MAX_WAITS:
        err(f"{where}.waitFor", f"at most {MAX_WAITS}")
        return
    for j, dep in enumerate(task.wait_for):
        at = f"{where}.waitFor[{j}]"
        if dep.job and (dep.workflow or dep.task):
            err(at, "a job, or a workflow (and a task of it), not both")
        if dep.job and not _NAME.fullmatch(dep.job):
            err(f"{at}.job", "not a job name")
        if dep.workflow and not _NAME.fullmatch(dep.workflow):
            err(f"{at}.workflow", "not a workflow name")
        if dep.task and not _TASK_NAME.fullmatch(dep.task):
            err(f"{at}.task", "not a task name")
        if not dep.job and dep.workflow in ("", spec.name) and dep.business_days == 0:
            err(at, "a task waits for its own workflow only on another business date (businessDays: -1)")
        if not dep.job and dep.workflow in ("", spec.name) and dep.task and \
                dep.task not in {t.name for t in spec.tasks}:
            err(f"{at}.task", f"no task {dep.task!r} in this workflow")
        if abs(dep.business_days) > task_policy.MAX_BUSINESS_DAYS:
            err(f"{at}.businessDays", f"from -{task_policy.MAX_BUSINESS_DAYS} to {task_policy.MAX_BUSINESS_DAYS}")
        if dep.calendar and not _NAME.fullmatch(dep.calendar):
            err(f"{at}.calendar", "not a calendar name")
        if dep.timeout_seconds > MAX_WAIT_TIMEOUT_S:
            err(f"{at}.timeout", "at most 31 days")
        if dep.on_timeout and dep.on_timeout not in task_policy.ON_TIMEOUT:
            err(f"{at}.onTimeout", f"one of {', '.join(task_policy.ON_TIMEOUT)}")


def _check_handlers(spec: workflows_pb2.WorkflowSpec, err: Callable[[str, str], None]) -> None:
    if len(spec.on_failure) > MAX_HANDLERS:
        err("on_failure", f"at most {MAX_HANDLERS} handlers")
        return
    names = {t.name for t in spec.tasks}
    for i, task in enumerate(spec.on_failure):
        where = f"on_failure[{i}]"
        if not _TASK_NAME.fullmatch(task.name):
            err(f"{where}.name", "1-64 letters, digits, '_' or '-', starting and ending with a letter or digit")
        elif task.name in names:
            err(f"{where}.name", f"{task.name!r} is also a task (or another handler)")
        names.add(task.name)
        if task.depends_on or task.cases or task.wait_for or task.when or task.workflow:
            err(where, "a handler runs once the other tasks ended and one failed: no dependsOn, cases, waitFor, "
                       "when or workflow")
        if task.job and task.HasField("command"):
            err(where, "either command or job, not both")
        elif not task.job and not task.HasField("command"):
            err(where, "needs a command or script (or a job)")
        elif task.HasField("command"):
            for e in validate_spec(task_job_spec(spec, task)):
                if e.field not in ("name", "domain") and not e.field.startswith("labels"):
                    err(f"{where}.{e.field}" if e.field else where, e.reason)
            _check_command_templates(spec, task, where, err)
        _check_retry(task.retry, f"{where}.retry", err)


def _check_trigger(spec: workflows_pb2.WorkflowSpec, err: Callable[[str, str], None]) -> None:
    """The scheduling fields are a job's and judged by the job rules; nothing else of a job."""
    trigger = spec.trigger
    if trigger.name or trigger.HasField("command") or trigger.env or trigger.agent_selector or \
            trigger.file_triggers or trigger.run_as or trigger.timeout_seconds or trigger.labels:
        err("trigger", "only the scheduling fields of a job (schedules, timeZone, calendars, events, misfire, "
                       "overlap, suspended, businessDayStart); fileTriggers are not supported on workflows yet")
    if trigger.overlap not in (jobs_pb2.OVERLAP_ALLOW, jobs_pb2.OVERLAP_FORBID):
        err("trigger.overlap", "allow or forbid for a workflow")
    if trigger.keep_runs or trigger.keep_runs_seconds:
        err("trigger.keep_runs", "a workflow keeps runs by its own keepRuns (keepRunsFor is for jobs)")
    scheduling.problems(trigger, lambda f, r: err(f"trigger.{f}", r))
    if spec.keep_runs > scheduling.MAX_KEEP_RUNS:
        err("keep_runs", f"at most {scheduling.MAX_KEEP_RUNS}")

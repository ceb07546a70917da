"""`kind: Workflow` documents (YAML as the CLI reads it) to WorkflowSpec, and back.

```yaml
apiVersion: wloadctl/v1
kind: Workflow
metadata: {name: nightly, domain: finance}
spec:
  params: {region: eu}
  tasks:
    - name: extract
      script: ./extract.sh --region "$WLOADCTL_PARAM_REGION"
    - name: load
      job: load-warehouse            # an existing Job
      dependsOn: [extract]
    - name: alert
      command: [/usr/local/bin/page, oncall]
      dependsOn: [load]
      triggerRule: any-failed
```

Errors use the document's field names (spec.tasks[2].triggerRule); the rules are those of
model/workflows.py, the same the API and the state machine apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from wloadctl.model import scheduling
from wloadctl.model.workflows import validate_workflow
from wloadctl.proto.v1 import jobs_pb2, workflows_pb2

WORKFLOW_KIND = "Workflow"
TR = workflows_pb2.TriggerRule
TRIGGER_RULES = {"all-succeeded": TR.ALL_SUCCEEDED, "all-done": TR.ALL_DONE, "any-failed": TR.ANY_FAILED,
                 "any-succeeded": TR.ANY_SUCCEEDED, "none-failed": TR.NONE_FAILED, "always": TR.ALWAYS}
_TOP = ("apiVersion", "kind", "metadata", "spec")
_METADATA = ("name", "domain", "description", "labels")
_SCHEDULING = tuple(f for f in scheduling.YAML_FIELDS if f not in ("keepRunsFor",))
_SPEC = ("params", "tasks", "onFailure", *_SCHEDULING)
_TASK = ("name", "command", "script", "job", "workflow", "params", "cases", "dependsOn", "triggerRule", "when",
         "retry", "waitFor", "agentSelector", "timeout", "runAs", "env", "workingDir", "description")
_HANDLER = tuple(k for k in _TASK if k not in ("workflow", "params", "cases", "dependsOn", "triggerRule", "when",
                                               "waitFor"))
_RETRY = ("attempts", "delay", "backoff", "maxDelay", "exitCodes")
_WAIT = ("workflow", "task", "job", "businessDays", "calendar", "timeout", "onTimeout")
# Proto field names (in the rules' messages) -> the document's.
_YAML_FIELD = {"timeout_seconds": "timeout", "agent_selector": "agentSelector", "run_as": "runAs",
               "working_dir": "workingDir", "trigger_rule": "triggerRule", "depends_on": "dependsOn",
               "command.argv": "command", "command.shell": "script", "workflow_params": "params",
               "wait_for": "waitFor", "on_failure": "onFailure", "business_days": "businessDays",
               "on_timeout": "onTimeout", "exit_codes": "exitCodes", "delay_seconds": "delay",
               "max_delay_seconds": "maxDelay", "keep_runs": "keepRuns"}

Err = Callable[[str, str], None]
Duration = Callable[[object, str], "int | None"]


def _strings(value: Any, where: str, err: Err) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        err(where, "must be a mapping of strings to strings (put numbers in quotes)")
        return {}
    return dict(value)


def _unknown(mapping: dict[Any, Any], known: tuple[str, ...], where: str, err: Err) -> None:
    for key in mapping:
        if key not in known:
            err(f"{where}.{key}" if where else str(key), f"unknown field (known: {', '.join(known)})")


def parse_workflow(doc: dict[Any, Any], api_version: str, duration: Duration,
                   max_tasks: int | None = None) -> tuple[workflows_pb2.WorkflowSpec, list[tuple[str, str]]]:
    """A `kind: Workflow` document: (spec, [(field, reason)])."""
    problems: list[tuple[str, str]] = []

    def err(where: str, reason: str) -> None:
        problems.append((where, reason))

    spec = workflows_pb2.WorkflowSpec()
    _unknown(doc, _TOP, "", err)
    if doc.get("apiVersion") != api_version:
        err("apiVersion", f'must be "{api_version}"')
    metadata = doc.get("metadata") or {}
    body = doc.get("spec") or {}
    if not isinstance(metadata, dict) or not isinstance(body, dict):
        err("metadata" if not isinstance(metadata, dict) else "spec", "must be a mapping")
        return spec, problems
    _unknown(metadata, _METADATA, "metadata", err)
    _unknown(body, _SPEC, "spec", err)
    for key in ("name", "domain", "description"):
        value = metadata.get(key, "")
        if not isinstance(value, str):
            err(f"metadata.{key}", "must be a string")
        else:
            setattr(spec, key, value)
    spec.labels.update(_strings(metadata.get("labels"), "metadata.labels", err))
    spec.params.update(_strings(body.get("params"), "spec.params", err))
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        err("spec.tasks", "required: a list of tasks, each with a name and a command, script, job, workflow or cases")
        return spec, problems
    for i, item in enumerate(tasks):
        _parse_task(item, f"spec.tasks[{i}]", spec.tasks.add(), err, duration, _TASK)
    handlers = body.get("onFailure", [])
    if not isinstance(handlers, list):
        err("spec.onFailure", "a list of handler tasks (each like a task, without dependsOn)")
    else:
        for i, item in enumerate(handlers):
            _parse_task(item, f"spec.onFailure[{i}]", spec.on_failure.add(), err, duration, _HANDLER)
    scheduling.parse_yaml({k: v for k, v in body.items() if k in _SCHEDULING and k != "keepRuns"}, spec.trigger, err,
                          duration)
    keep = body.get("keepRuns")
    if keep is not None:
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= scheduling.MAX_KEEP_RUNS:
            err("spec.keepRuns", f"must be a whole number from 1 to {scheduling.MAX_KEEP_RUNS}")
        else:
            spec.keep_runs = keep
    if not problems:
        scheduling.problems(spec.trigger, err, yaml_names=True)
    if not problems:
        kwargs = {"max_tasks": max_tasks} if max_tasks else {}
        for e in validate_workflow(spec, **kwargs):
            err(yaml_field(e.field), e.reason)
    return spec, problems


def _parse_task(item: Any, where: str, task: workflows_pb2.WorkflowTask, err: Err, duration: Duration,
                known: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        err(where, "must be a mapping with name and a command, script, job, workflow or cases")
        return
    _unknown(item, known, where, err)
    for key, attr in (("name", "name"), ("job", "job"), ("runAs", "run_as"), ("workingDir", "working_dir"),
                      ("description", "description"), ("workflow", "workflow"), ("when", "when")):
        value = item.get(key, "")
        if not isinstance(value, str):
            err(f"{where}.{key}", "must be a string")
        else:
            setattr(task, attr, value)
    command, script = item.get("command"), item.get("script")
    if command is not None and script is not None:
        err(where, "command or script, not both")
    elif command is not None:
        if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
            err(f"{where}.command", "must be a non-empty list of strings (arguments), or use script")
        else:
            task.command.argv.args.extend(command)
    elif script is not None:
        if not isinstance(script, str):
            err(f"{where}.script", "must be a string")
        else:
            task.command.CopyFrom(jobs_pb2.JobCommand(shell=script))
    deps = item.get("dependsOn", [])
    if isinstance(deps, str):
        deps = [deps]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        err(f"{where}.dependsOn", "must be a list of task names")
    else:
        task.depends_on.extend(deps)
    rule = item.get("triggerRule")
    if rule is not None:
        if rule not in TRIGGER_RULES:
            err(f"{where}.triggerRule", f"must be one of {', '.join(TRIGGER_RULES)}")
        else:
            task.trigger_rule = TRIGGER_RULES[rule]
    task.agent_selector.update(_strings(item.get("agentSelector"), f"{where}.agentSelector", err))
    task.env.update(_strings(item.get("env"), f"{where}.env", err))
    if "timeout" in item:
        seconds = duration(item["timeout"], f"{where}.timeout")
        if seconds is not None:
            task.timeout_seconds = max(0, min(seconds, 2**32 - 1))
    task.workflow_params.update(_strings(item.get("params"), f"{where}.params", err))
    if "cases" in item:
        _parse_cases(item["cases"], f"{where}.cases", task, err)
    if "retry" in item:
        _parse_retry(item["retry"], f"{where}.retry", task.retry, err, duration)
    if "waitFor" in item:
        _parse_waits(item["waitFor"], f"{where}.waitFor", task, err, duration)


def _parse_cases(value: Any, where: str, task: workflows_pb2.WorkflowTask, err: Err) -> None:
    if not isinstance(value, list) or not value:
        err(where, "a list of {when: EXPRESSION, run: [TASK, ...]}, the last may omit when (the default)")
        return
    for j, case in enumerate(value):
        at = f"{where}[{j}]"
        if not isinstance(case, dict):
            err(at, "must be a mapping {when: EXPRESSION, run: [TASK, ...]}")
            continue
        _unknown(case, ("when", "run"), at, err)
        when, run = case.get("when", ""), case.get("run", [])
        if isinstance(run, str):
            run = [run]
        if not isinstance(when, str):
            err(f"{at}.when", "must be a string (an expression; quote it)")
        elif not isinstance(run, list) or not all(isinstance(r, str) for r in run):
            err(f"{at}.run", "must be a list of task names")
        else:
            task.cases.add(when=when, run=run)


def _parse_retry(value: Any, where: str, retry: workflows_pb2.RetryPolicy, err: Err, duration: Duration) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"attempts": value}
    if not isinstance(value, dict):
        err(where, "a number of attempts, or {attempts, delay, backoff: fixed|exponential, maxDelay, exitCodes}")
        return
    _unknown(value, _RETRY, where, err)
    attempts = value.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        err(f"{where}.attempts", "must be a whole number")
    else:
        retry.attempts = min(attempts, 2**31)
    for key, attr in (("delay", "delay_seconds"), ("maxDelay", "max_delay_seconds")):
        if key in value:
            seconds = duration(value[key], f"{where}.{key}")
            if seconds is not None:
                setattr(retry, attr, max(0, min(seconds, 2**31)))
    backoff = value.get("backoff", "fixed")
    if backoff not in ("fixed", "exponential"):
        err(f"{where}.backoff", "fixed or exponential")
    retry.exponential = backoff == "exponential"
    codes = value.get("exitCodes", [])
    if not isinstance(codes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        err(f"{where}.exitCodes", "must be a list of exit codes (numbers)")
    else:
        retry.exit_codes.extend(max(-2, min(c, 256)) for c in codes)


def _parse_waits(value: Any, where: str, task: workflows_pb2.WorkflowTask, err: Err, duration: Duration) -> None:
    if not isinstance(value, list):
        err(where, "a list of {workflow, task, businessDays, timeout, onTimeout} or {job, businessDays, ...}")
        return
    for j, item in enumerate(value):
        at = f"{where}[{j}]"
        if not isinstance(item, dict):
            err(at, "must be a mapping like {workflow: NAME, task: TASK, businessDays: -1}")
            continue
        _unknown(item, _WAIT, at, err)
        dep = task.wait_for.add()
        for key, attr in (("workflow", "workflow"), ("task", "task"), ("job", "job"), ("calendar", "calendar"),
                          ("onTimeout", "on_timeout")):
            v = item.get(key, "")
            if not isinstance(v, str):
                err(f"{at}.{key}", "must be a string")
            else:
                setattr(dep, attr, v)
        days = item.get("businessDays", 0)
        if isinstance(days, bool) or not isinstance(days, int):
            err(f"{at}.businessDays", "a whole number of business days (-1: the business day before)")
        else:
            dep.business_days = max(-100_000, min(days, 100_000))
        if "timeout" in item:
            seconds = duration(item["timeout"], f"{at}.timeout")
            if seconds is not None:
                dep.timeout_seconds = max(0, min(seconds, 2**32 - 1))


def yaml_field(field: str) -> str:
    """A rules field name (tasks[2].trigger_rule) as the document names it (spec.tasks[2].triggerRule)."""
    if field in ("name", "domain", "description") or field.startswith("labels"):
        return f"metadata.{field}"
    if not field:
        return ""
    if field == "trigger" or field.startswith("trigger."):
        field = field.removeprefix("trigger").removeprefix(".") or "schedules"
    for proto, yaml in _YAML_FIELD.items():
        field = re.sub(rf"(?<=\.){re.escape(proto)}\b", yaml, field)
    return f"spec.{field}"


def workflow_to_dict(spec: workflows_pb2.WorkflowSpec, api_version: str) -> dict[str, Any]:
    """The document of a WorkflowSpec (what `get workflow NAME --export` prints)."""
    metadata: dict[str, Any] = {"name": spec.name}
    if spec.domain:
        metadata["domain"] = spec.domain
    if spec.description:
        metadata["description"] = spec.description
    if spec.labels:
        metadata["labels"] = dict(sorted(spec.labels.items()))
    tasks = []
    for t in spec.tasks:
        tasks.append(_task_to_dict(t))
    body: dict[str, Any] = {}
    if spec.params:
        body["params"] = dict(sorted(spec.params.items()))
    body["tasks"] = tasks
    if spec.on_failure:
        body["onFailure"] = [_task_to_dict(t) for t in spec.on_failure]
    scheduling.to_yaml(spec.trigger, body)
    if spec.keep_runs:
        body["keepRuns"] = spec.keep_runs
    return {"apiVersion": api_version, "kind": WORKFLOW_KIND, "metadata": metadata, "spec": body}


_RULE_NAMES = {v: k for k, v in TRIGGER_RULES.items()}


def _task_to_dict(t: workflows_pb2.WorkflowTask) -> dict[str, Any]:
    item: dict[str, Any] = {"name": t.name}
    if t.job:
        item["job"] = t.job
    elif t.workflow:
        item["workflow"] = t.workflow
    elif t.command.WhichOneof("kind") == "argv":
        item["command"] = list(t.command.argv.args)
    elif t.command.WhichOneof("kind") == "shell":
        item["script"] = t.command.shell
    if t.workflow_params:
        item["params"] = dict(sorted(t.workflow_params.items()))
    if t.cases:
        item["cases"] = [({"when": c.when} if c.when else {}) | {"run": list(c.run)} for c in t.cases]
    if t.depends_on:
        item["dependsOn"] = list(t.depends_on)
    if t.trigger_rule != TR.ALL_SUCCEEDED:
        item["triggerRule"] = _RULE_NAMES[t.trigger_rule]
    if t.when:
        item["when"] = t.when
    if t.retry.attempts:
        r = t.retry
        retry: dict[str, Any] = {"attempts": r.attempts}
        if r.delay_seconds:
            retry["delay"] = r.delay_seconds
        if r.exponential:
            retry["backoff"] = "exponential"
        if r.max_delay_seconds:
            retry["maxDelay"] = r.max_delay_seconds
        if r.exit_codes:
            retry["exitCodes"] = list(r.exit_codes)
        item["retry"] = retry
    if t.wait_for:
        waits = []
        for d in t.wait_for:
            w: dict[str, Any] = {}
            for key, value in (("workflow", d.workflow), ("task", d.task), ("job", d.job),
                               ("businessDays", d.business_days), ("calendar", d.calendar),
                               ("timeout", d.timeout_seconds), ("onTimeout", d.on_timeout)):
                if value:
                    w[key] = value
            waits.append(w)
        item["waitFor"] = waits
    for key, value in (("agentSelector", dict(sorted(t.agent_selector.items()))),
                       ("env", dict(sorted(t.env.items()))), ("timeout", t.timeout_seconds),
                       ("runAs", t.run_as), ("workingDir", t.working_dir), ("description", t.description)):
        if value:
            item[key] = value
    return item

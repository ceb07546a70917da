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

from wloadctl.model.workflows import validate_workflow
from wloadctl.proto.v1 import jobs_pb2, workflows_pb2

WORKFLOW_KIND = "Workflow"
TR = workflows_pb2.TriggerRule
TRIGGER_RULES = {"all-succeeded": TR.ALL_SUCCEEDED, "all-done": TR.ALL_DONE, "any-failed": TR.ANY_FAILED,
                 "any-succeeded": TR.ANY_SUCCEEDED, "none-failed": TR.NONE_FAILED, "always": TR.ALWAYS}
_TOP = ("apiVersion", "kind", "metadata", "spec")
_METADATA = ("name", "domain", "description", "labels")
_SPEC = ("params", "tasks")
_TASK = ("name", "command", "script", "job", "dependsOn", "triggerRule", "agentSelector", "timeout", "runAs", "env",
         "workingDir", "description")
# Proto field names (in the rules' messages) -> the document's.
_YAML_FIELD = {"timeout_seconds": "timeout", "agent_selector": "agentSelector", "run_as": "runAs",
               "working_dir": "workingDir", "trigger_rule": "triggerRule", "depends_on": "dependsOn",
               "command.argv": "command", "command.shell": "script"}

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
        err("spec.tasks", "required: a list of tasks, each with a name and a command, script or job")
        return spec, problems
    for i, item in enumerate(tasks):
        _parse_task(item, f"spec.tasks[{i}]", spec, err, duration)
    if not problems:
        kwargs = {"max_tasks": max_tasks} if max_tasks else {}
        for e in validate_workflow(spec, **kwargs):
            err(yaml_field(e.field), e.reason)
    return spec, problems


def _parse_task(item: Any, where: str, spec: workflows_pb2.WorkflowSpec, err: Err, duration: Duration) -> None:
    task = spec.tasks.add()
    if not isinstance(item, dict):
        err(where, "must be a mapping with name and a command, script or job")
        return
    _unknown(item, _TASK, where, err)
    for key, attr in (("name", "name"), ("job", "job"), ("runAs", "run_as"), ("workingDir", "working_dir"),
                      ("description", "description")):
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


def yaml_field(field: str) -> str:
    """A rules field name (tasks[2].trigger_rule) as the document names it (spec.tasks[2].triggerRule)."""
    if field in ("name", "domain", "description") or field.startswith("labels"):
        return f"metadata.{field}"
    if not field:
        return ""
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
    rules = {v: k for k, v in TRIGGER_RULES.items()}
    for t in spec.tasks:
        item: dict[str, Any] = {"name": t.name}
        if t.job:
            item["job"] = t.job
        elif t.command.WhichOneof("kind") == "argv":
            item["command"] = list(t.command.argv.args)
        elif t.command.WhichOneof("kind") == "shell":
            item["script"] = t.command.shell
        if t.depends_on:
            item["dependsOn"] = list(t.depends_on)
        if t.trigger_rule != TR.ALL_SUCCEEDED:
            item["triggerRule"] = rules[t.trigger_rule]
        for key, value in (("agentSelector", dict(sorted(t.agent_selector.items()))),
                           ("env", dict(sorted(t.env.items()))), ("timeout", t.timeout_seconds),
                           ("runAs", t.run_as), ("workingDir", t.working_dir), ("description", t.description)):
            if value:
                item[key] = value
        tasks.append(item)
    body: dict[str, Any] = {}
    if spec.params:
        body["params"] = dict(sorted(spec.params.items()))
    body["tasks"] = tasks
    return {"apiVersion": api_version, "kind": WORKFLOW_KIND, "metadata": metadata, "spec": body}

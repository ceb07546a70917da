"""Workflow rules (model/workflows.py): tasks are checked by the job rules under the workflow's
field names; structure problems name the field; limits hold."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wloadctl.model.documents import load_documents
from wloadctl.model.rules import SpecErrors
from wloadctl.model.workflow_documents import workflow_to_dict
from wloadctl.model.workflows import task_job_spec, validate_workflow
from wloadctl.proto.v1 import jobs_pb2, workflows_pb2


def nightly() -> workflows_pb2.WorkflowSpec:
    spec = workflows_pb2.WorkflowSpec(name="nightly", domain="finance", params={"region": "eu"})
    spec.tasks.add(name="extract", command=jobs_pb2.JobCommand(shell="echo extract"))
    spec.tasks.add(name="load", job="load-warehouse", depends_on=["extract"])
    return spec


def fields(spec: workflows_pb2.WorkflowSpec, **kw: int) -> list[str]:
    return [e.field for e in validate_workflow(spec, **kw)]


def test_a_valid_workflow_and_the_job_a_task_runs_as() -> None:
    assert validate_workflow(nightly()) == []
    job = task_job_spec(nightly(), nightly().tasks[0])
    assert (job.name, job.domain, job.command.shell) == ("nightly.extract", "finance", "echo extract")


def test_each_problem_names_its_field() -> None:
    spec = nightly()
    spec.name = "bad name"
    spec.tasks[0].timeout_seconds = 10**9
    spec.tasks[0].env["1BAD"] = "x"
    spec.tasks.add(name="orphan")
    spec.tasks.add(name="-x-", command=jobs_pb2.JobCommand(shell="true"), depends_on=["ghost"])
    spec.params["bad key"] = "v"
    got = fields(spec)
    assert "name" in got and "tasks[0].timeout_seconds" in got and any(f.startswith("tasks[0].env") for f in got)
    assert "tasks[2]" in got and "tasks[3].name" in got and "tasks[3].dependsOn[0]" in got
    assert "params.bad key" in got


def test_command_and_job_exclude_each_other_and_limits_hold() -> None:
    spec = nightly()
    spec.tasks[1].command.shell = "true"
    assert fields(spec) == ["tasks[1]"]
    spec = nightly()
    spec.tasks[1].env["A"] = "b"
    assert fields(spec) == ["tasks[1]"]
    assert fields(nightly(), max_tasks=1) == ["tasks"]
    assert fields(workflows_pb2.WorkflowSpec(name="empty")) == ["tasks"]


# ---- kind: Workflow documents with conditions, switches, retries, waits, handlers, schedules

NIGHTLY_YAML = """\
apiVersion: wloadctl/v1
kind: Workflow
metadata: {name: nightly, domain: finance}
spec:
  params: {mode: delta}
  schedules: [{cron: "0 22 * * 1-5"}]
  timeZone: Europe/Zurich
  keepRuns: 30
  tasks:
    - name: count
      script: ./count.sh --mode {{ params.mode }}
      retry: {attempts: 3, delay: 30s, backoff: exponential, maxDelay: 10m, exitCodes: [75]}
    - name: route
      dependsOn: [count]
      cases:
        - when: "tasks.count.outputs.rows > 1000"
          run: [big]
        - run: [small]
    - name: big
      dependsOn: [route]
      script: ./big.sh
    - name: small
      dependsOn: [route]
      script: ./small.sh
    - name: publish
      dependsOn: [big, small]
      triggerRule: none-failed
      when: "business_date != '2027-12-24'"
      script: ./publish.sh
      waitFor:
        - {workflow: settlement, task: close-books, businessDays: -1, timeout: 2h, onTimeout: skip}
    - name: archive
      dependsOn: [publish]
      workflow: archive-all
      params: {target: "s3://{{ params.mode }}"}
  onFailure:
    - name: page
      command: [/usr/local/bin/page, oncall]
"""


def _load(tmp_path: Path, text: str) -> tuple[list[workflows_pb2.WorkflowSpec], str]:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    try:
        return load_documents([str(path)])[2], ""
    except SpecErrors as e:
        return [], str(e)


def test_a_nightly_document_with_every_feature_parses_and_exports_the_same(tmp_path: Path) -> None:
    found, problem = _load(tmp_path, NIGHTLY_YAML)
    assert problem == ""
    spec = found[0]
    tasks = {t.name: t for t in spec.tasks}
    assert tasks["count"].retry == workflows_pb2.RetryPolicy(attempts=3, delay_seconds=30, exponential=True,
                                                              max_delay_seconds=600, exit_codes=[75])
    assert [list(c.run) for c in tasks["route"].cases] == [["big"], ["small"]]
    assert tasks["publish"].wait_for[0] == workflows_pb2.ExternalDependency(
        workflow="settlement", task="close-books", business_days=-1, timeout_seconds=7200, on_timeout="skip")
    assert tasks["archive"].workflow == "archive-all" and tasks["archive"].workflow_params["target"]
    assert spec.on_failure[0].name == "page" and spec.keep_runs == 30
    assert spec.trigger.schedules[0].cron == "0 22 * * 1-5" and spec.trigger.time_zone == "Europe/Zurich"
    exported = yaml.safe_dump(workflow_to_dict(spec, "wloadctl/v1"))
    again, problem = _load(tmp_path, exported)
    assert problem == "" and again[0] == spec


@pytest.mark.parametrize(("change", "expected"), [
    ("retry: {attempts: 3, delay: 30s, backoff: exponential, maxDelay: 10m, exitCodes: [75]}",
     "spec.tasks[0].retry.attempts: at most 20"),
    ('        - when: "tasks.count.outputs.rows > 1000"', "spec.tasks[1].cases[0].when"),
    ("onTimeout: skip}", "spec.tasks[4].waitFor[0].onTimeout: one of fail, skip, run"),
    ("workflow: archive-all", "spec.tasks[5].workflow: a workflow cannot run itself as a task"),
    ('timeZone: Europe/Zurich', "spec.timeZone"),
])
def test_document_errors_name_the_field(tmp_path: Path, change: str, expected: str) -> None:
    replacement = {
        "retry: {attempts: 3, delay: 30s, backoff: exponential, maxDelay: 10m, exitCodes: [75]}":
            "retry: {attempts: 30}",
        '        - when: "tasks.count.outputs.rows > 1000"': '        - when: "tasks.nope.state == 1"',
        "onTimeout: skip}": "onTimeout: later}",
        "workflow: archive-all": "workflow: nightly",
        "timeZone: Europe/Zurich": "timeZone: Mars/Olympus",
    }[change]
    _, problem = _load(tmp_path, NIGHTLY_YAML.replace(change, replacement))
    assert expected in problem, problem


def test_a_switch_runs_nothing_so_it_takes_no_wait_or_retry() -> None:
    spec = workflows_pb2.WorkflowSpec(name="s")
    spec.tasks.add(name="a", command=jobs_pb2.JobCommand(shell="true"))
    spec.tasks.add(name="route", depends_on=["a"], cases=[workflows_pb2.SwitchCase(run=["b"])],
                   wait_for=[workflows_pb2.ExternalDependency(workflow="other")])
    spec.tasks.add(name="b", depends_on=["route"], command=jobs_pb2.JobCommand(shell="true"))
    errors = validate_workflow(spec)
    assert [(e.field, e.reason.split(" (")[0]) for e in errors] == [("tasks[1]", "a switch task runs nothing")]

"""Workflow rules (model/workflows.py): tasks are checked by the job rules under the workflow's
field names; structure problems name the field; limits hold."""

from __future__ import annotations

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

"""Unit tests for wloadctl.model.rules and .documents: YAML parsing, validation, loading and round trips."""

from __future__ import annotations

import copy
import io
import pickle
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wloadctl.model.documents import load_paths, parse_documents, spec_to_dict
from wloadctl.model.rules import (
    MAX_AGENT_SELECTOR,
    MAX_TIMEOUT_SECONDS,
    SpecError,
    SpecErrors,
    normalize,
    validate_spec,
    validate_specs,
)
from wloadctl.proto.v1 import jobs_pb2

MIB = 1024 * 1024
_REMOVE = object()

BASE: dict[str, Any] = {
    "apiVersion": "wloadctl/v1",
    "kind": "Job",
    "metadata": {"name": "job-a"},
    "spec": {"command": ["/bin/true"]},
}


def job(name: str = "job-a", **spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["metadata"]["name"] = name
    doc["spec"].update(spec)
    return doc


def with_field(path: str, value: Any) -> dict[str, Any]:
    """BASE with one field set, e.g. with_field("spec.timeout", 5); the value _REMOVE deletes it."""
    doc = copy.deepcopy(BASE)
    target = doc
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    if value is _REMOVE:
        del target[last]
    else:
        target[last] = value
    return doc


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def errors_of(text: str, source: str = "jobs.yaml") -> list[SpecError]:
    with pytest.raises(SpecErrors) as info:
        parse_documents(text, source)
    return info.value.errors


def only_error(text: str) -> SpecError:
    errors = errors_of(text)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def argv_spec(*args: str) -> jobs_pb2.JobSpec:
    return make_spec(command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=args)))


def shell_spec(script: str) -> jobs_pb2.JobSpec:
    return make_spec(command=jobs_pb2.JobCommand(shell=script))


def make_spec(**kwargs: Any) -> jobs_pb2.JobSpec:
    kwargs.setdefault("name", "job-a")
    if "command" not in kwargs:
        kwargs["command"] = jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/bin/true"]))
    return jobs_pb2.JobSpec(**kwargs)


def fields(errors: list[SpecError]) -> list[str]:
    return [e.field for e in errors]


# --- valid input -------------------------------------------------------------------------


def test_full_document_parses() -> None:
    text = """
apiVersion: wloadctl/v1
kind: Job
metadata:
  name: nightly-settlement
  domain: finance
  description: "Settles the day's trades"
  labels: {team: payments, app.example.com/tier: "1"}
spec:
  command: ["/usr/bin/settle", "--date", "today"]
  env: {TZ: UTC, _X1: ""}
  workingDir: /srv/batch
  timeout: 1h30m
"""
    [spec] = parse_documents(text)
    assert spec == jobs_pb2.JobSpec(
        name="nightly-settlement",
        domain="finance",
        description="Settles the day's trades",
        labels={"team": "payments", "app.example.com/tier": "1"},
        command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["/usr/bin/settle", "--date", "today"])),
        env={"TZ": "UTC", "_X1": ""},
        working_dir="/srv/batch",
        timeout_seconds=5400,
    )


def test_scheduling_fields_parse() -> None:
    text = """
kind: Job
metadata: {name: a}
spec:
  type: command
  command: [x]
  agentSelector: {os: linux, zone/rack: "r1"}
  lostPolicy: fail
  maxAttempts: 5
"""
    [spec] = parse_documents(text)
    assert spec == make_spec(
        name="a",
        command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["x"])),
        agent_selector={"os": "linux", "zone/rack": "r1"},
        lost_policy=jobs_pb2.FAIL,
        max_attempts=5,
        task_type=jobs_pb2.COMMAND,
    )


def test_scheduling_fields_default() -> None:
    [spec] = parse_documents(dump(job(lostPolicy="retry", maxAttempts=0)))
    assert spec.lost_policy == jobs_pb2.RETRY and spec.max_attempts == 0 and spec.task_type == jobs_pb2.COMMAND
    assert not spec.agent_selector
    assert spec == make_spec()


def test_empty_job_needs_no_command() -> None:
    [spec] = parse_documents("kind: Job\nmetadata: {name: a}\nspec: {type: empty, timeout: 5s}\n")
    assert spec == jobs_pb2.JobSpec(name="a", task_type=jobs_pb2.EMPTY, timeout_seconds=5)
    assert not spec.HasField("command")
    assert validate_spec(spec) == []
    [spec] = parse_documents("kind: Job\nmetadata: {name: a}\nspec: {type: empty}\n")
    assert spec == jobs_pb2.JobSpec(name="a", task_type=jobs_pb2.EMPTY)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "empty", "command": ["x"]},
        {"type": "empty", "script": "echo"},
        {"type": "empty", "command": ["x"], "script": "echo"},
        {"type": "empty", "command": []},
        {"type": "empty", "command": "not a list"},
    ],
    ids=["command", "script", "both", "empty-command", "malformed-command"],
)
def test_empty_job_with_a_command_is_one_error(body: dict[str, Any]) -> None:
    error = only_error(dump(with_field("spec", body)))
    assert (error.field, error.reason) == ("spec.command", "an empty job runs nothing: remove command/script")


def test_unknown_type_does_not_also_require_a_command() -> None:
    error = only_error(dump(with_field("spec", {"type": "noop"})))
    assert (error.field, error.reason) == ("spec.type", 'must be "command" or "empty", got "noop"')


def test_minimal_document_without_api_version_keeps_domain_empty() -> None:
    [spec] = parse_documents("kind: Job\nmetadata: {name: a}\nspec:\n  script: |\n    echo hi\n")
    assert spec.name == "a"
    assert spec.domain == ""  # defaulted by normalize(), not by the parser
    assert spec.command.WhichOneof("kind") == "shell"
    assert spec.command.shell == "echo hi\n"
    assert spec.timeout_seconds == 0


def test_null_optional_fields_are_treated_as_absent() -> None:
    text = "kind: Job\nmetadata:\n  name: a\n  description:\n  labels:\n"
    text += "spec:\n  command: [x]\n  env:\n  timeout:\n"
    [spec] = parse_documents(text)
    assert spec == make_spec(name="a", command=jobs_pb2.JobCommand(argv=jobs_pb2.ArgvCommand(args=["x"])))


@pytest.mark.parametrize("name", ["a", "A", "9", "a.b_c-D", "x" * 128, "1.2.3"])
def test_valid_names(name: str) -> None:
    [spec] = parse_documents(dump(job(name)))
    assert spec.name == name


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0),
        (3600, 3600),
        ("0s", 0),
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1d2h3m4s", 93784),
        ("90m", 5400),
        ("31d", MAX_TIMEOUT_SECONDS),
        (MAX_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS),
    ],
)
def test_valid_timeouts(value: Any, seconds: int) -> None:
    [spec] = parse_documents(dump(job(timeout=value)))
    assert spec.timeout_seconds == seconds


def test_yaml_merge_keys_are_allowed() -> None:
    text = """
kind: Job
metadata:
  name: a
  labels:
    <<: &common {team: payments, tier: "2"}
    tier: "1"
spec: {command: [x]}
"""
    [spec] = parse_documents(text)
    assert dict(spec.labels) == {"team": "payments", "tier": "1"}


def test_utf8_script_and_env_values_allowed() -> None:
    [spec] = parse_documents(dump(job(command=None, script="echo 'héllo'\n\tdone", env={"A": "x\ny"})))
    assert spec.command.shell == "echo 'héllo'\n\tdone"
    assert spec.env["A"] == "x\ny"


# --- multi-document parsing ---------------------------------------------------------------


def test_multiple_documents_in_order_and_empty_documents_ignored() -> None:
    text = "---\n" + dump(job("a")) + "---\n---\n# just a comment\n---\n" + dump(job("b"), job("c")) + "---\n"
    assert [s.name for s in parse_documents(text)] == ["a", "b", "c"]


def test_document_numbers_count_empty_documents() -> None:
    text = dump(job("a")) + "---\n---\n" + dump(job("b", timeout="soon"))
    error = only_error(text)
    assert error.source == "jobs.yaml#3"
    assert str(error).startswith("jobs.yaml#3: spec.timeout: must be a duration like 90s, 15m or 2h")


def test_source_without_file_name_uses_document_number() -> None:
    error = errors_of(dump(job("a"), job("b", timeout=-1)), source="")[0]
    assert error.source == "document 2"
    assert str(error) == "document 2: spec.timeout: must not be negative"


def test_errors_from_all_documents_are_collected() -> None:
    text = dump(job("a", timeout="x"), job("b"), job("-bad", workingDir="rel"))
    errors = errors_of(text)
    assert [(e.source, e.field) for e in errors] == [
        ("jobs.yaml#1", "spec.timeout"),
        ("jobs.yaml#3", "metadata.name"),
        ("jobs.yaml#3", "spec.workingDir"),
    ]


def test_all_errors_in_one_document_are_collected() -> None:
    doc = job("-bad", timeout="x", workingDir="rel", env={"1X": "v"})
    doc["metadata"]["labels"] = {"team": 5}
    doc["extra"] = 1
    assert sorted(fields(errors_of(dump(doc)))) == [
        "extra",
        "metadata.labels.team",
        "metadata.name",
        "spec.env.1X",
        "spec.timeout",
        "spec.workingDir",
    ]


def test_duplicate_names_in_one_file() -> None:
    error = only_error(dump(job("a"), job("b"), job("a")))
    assert (error.field, error.source) == ("metadata.name", "jobs.yaml#3")
    assert 'duplicate job name "a"' in error.reason
    assert "jobs.yaml#1" in error.reason


def test_names_are_case_sensitive() -> None:
    assert len(parse_documents(dump(job("a"), job("A")))) == 2


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing here\n# at all\n", "---\n---\n"])
def test_no_job_documents(text: str) -> None:
    error = only_error(text)
    assert error.field == ""
    assert "no Job, Calendar or Workflow documents" in error.reason
    assert error.source == "jobs.yaml"


# --- YAML syntax --------------------------------------------------------------------------


def test_yaml_syntax_error_reports_line_and_column() -> None:
    text = "kind: Job\nmetadata:\n  name: a\nspec:\n  command: [x, y\n  env: {}\n"
    error = only_error(text)
    assert error.field == ""
    assert error.source == "jobs.yaml"
    assert error.reason.startswith("invalid YAML: ")
    assert "at line 6 column" in error.reason


def test_yaml_syntax_error_keeps_errors_of_earlier_documents() -> None:
    text = dump(job("a", timeout="x")) + "---\nkind: Job\nmetadata: {name: [\n"
    errors = errors_of(text)
    assert [e.field for e in errors] == ["spec.timeout", ""]
    assert "invalid YAML" in errors[1].reason


def test_tab_indentation_is_a_syntax_error() -> None:
    error = only_error("kind: Job\nmetadata:\n\tname: a\n")
    assert "invalid YAML" in error.reason
    assert "line 3" in error.reason


def test_unprintable_character_reports_position() -> None:
    error = only_error("kind: Job\nmetadata: {name: a\x01}\n")
    assert error.reason.startswith("invalid YAML: unacceptable character U+0001")
    assert "line 2 column 19" in error.reason


def test_duplicate_keys_are_rejected() -> None:
    text = "kind: Job\nmetadata: {name: a}\nspec:\n  command: [x]\n  command: [y]\n"
    error = only_error(text)
    assert 'duplicate key "command"' in error.reason
    assert "line 5 column 3" in error.reason


def test_unsafe_tags_are_rejected() -> None:
    error = only_error("kind: Job\nmetadata: {name: !!python/name:os.system a}\n")
    assert "invalid YAML" in error.reason
    assert "line 2" in error.reason


def test_huge_integer_is_an_error_not_a_crash() -> None:
    assert "invalid YAML" in only_error(dump(job()) + "---\nx: " + "9" * 5000 + "\n").reason


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert "invalid YAML" in only_error("[" * 2000).reason


# --- document structure -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        ({**BASE, "foo": 1}, "foo", 'unknown field "foo"'),
        ({**BASE, "kinds": 1}, "kinds", 'unknown field "kinds" (did you mean "kind"?)'),
        ({**BASE, "name": "x"}, "name", 'unknown field "name" (it belongs under "metadata")'),
        ({**BASE, 7: "x"}, "7", 'unknown field "7"'),
        (with_field("metadata.nmae", "x"), "metadata.nmae", '(did you mean "name"?)'),
        (with_field("metadata.kind", "Job"), "metadata.kind", "(it belongs at the top level)"),
        (with_field("spec.comand", ["x"]), "spec.comand", 'unknown field "comand" (did you mean "command"?)'),
        (with_field("spec.working_dir", "/x"), "spec.working_dir", '(did you mean "workingDir"?)'),
        (with_field("spec.labels", {}), "spec.labels", '(it belongs under "metadata")'),
        (with_field("spec.agent_selector", {}), "spec.agent_selector", '(did you mean "agentSelector"?)'),
        (with_field("spec.maxAttempt", 3), "spec.maxAttempt", '(did you mean "maxAttempts"?)'),
        (with_field("spec.zzz", 1), "spec.zzz", 'unknown field "zzz"'),
        (with_field("apiVersion", "wloadctl/v2"), "apiVersion", 'must be "wloadctl/v1", got "wloadctl/v2"'),
        (with_field("apiVersion", 1), "apiVersion", 'must be "wloadctl/v1", got integer'),
        (with_field("kind", _REMOVE), "kind", 'required: must be "Job"'),
        (with_field("kind", "CronJob"), "kind", 'must be "Job" or "Calendar", got "CronJob"'),
        (with_field("kind", "job"), "kind", 'must be "Job"'),
        (with_field("metadata", ["x"]), "metadata", "must be a mapping, got list"),
        (with_field("spec", "run"), "spec", "must be a mapping, got string"),
    ],
)
def test_structure_errors(doc: dict[Any, Any], field: str, reason: str) -> None:
    errors = errors_of(yaml.safe_dump(doc))
    assert field in fields(errors), [str(e) for e in errors]
    assert reason in next(e.reason for e in errors if e.field == field)


@pytest.mark.parametrize("text", ["[1, 2]\n", "just a string\n", "42\n"])
def test_document_must_be_a_mapping(text: str) -> None:
    error = only_error(text)
    assert error.field == ""
    assert "must be a mapping" in error.reason


def test_wrong_kind_reports_only_the_kind() -> None:
    doc = with_field("kind", "Pipeline")
    doc["spec"] = {"stages": []}
    assert fields(errors_of(dump(doc))) == ["kind"]


def test_missing_spec_reports_missing_command() -> None:
    error = only_error(dump(with_field("spec", _REMOVE)))
    assert error.field == "spec.command"
    assert error.reason == "required: set command (a list of arguments) or script"


# --- field rules --------------------------------------------------------------------------

QUOTE = "(put the value in quotes)"
LONG_LABELS = {f"k{i}": "v" for i in range(65)}
LONG_ENV = {f"K{i}": "v" for i in range(257)}
LONG_SELECTOR = {f"k{i}": "v" for i in range(33)}

FIELD_CASES: list[tuple[str, Any, str, str]] = [
    # name
    ("metadata.name", _REMOVE, "metadata.name", "required"),
    ("metadata.name", None, "metadata.name", "required"),
    ("metadata.name", "", "metadata.name", "required"),
    ("metadata.name", 2024, "metadata.name", f"must be a string, got integer {QUOTE}"),
    ("metadata.name", "x" * 129, "metadata.name", "must be at most 128 characters (got 129)"),
    ("metadata.name", "-a", "metadata.name", "start and end with a letter or digit"),
    ("metadata.name", "a-", "metadata.name", "start and end with a letter or digit"),
    ("metadata.name", "a b", "metadata.name", "must contain only letters, digits"),
    ("metadata.name", "a/b", "metadata.name", "must contain only letters, digits"),
    ("metadata.name", "j\u00f6b", "metadata.name", "must contain only letters, digits"),
    ("metadata.name", "a\n", "metadata.name", "must contain only letters, digits"),
    ("metadata.name", "\u0661\u0662", "metadata.name", "must contain only letters, digits"),
    # domain
    ("metadata.domain", "", "metadata.domain", "must not be empty"),
    ("metadata.domain", "d" * 65, "metadata.domain", "must be at most 64 characters (got 65)"),
    ("metadata.domain", "fin ance", "metadata.domain", "must contain only letters, digits"),
    ("metadata.domain", "_x", "metadata.domain", "start and end with a letter or digit"),
    ("metadata.domain", 5, "metadata.domain", "must be a string"),
    # description
    ("metadata.description", "d" * 4097, "metadata.description", "at most 4096 characters (got 4097)"),
    ("metadata.description", ["x"], "metadata.description", "must be a string, got list"),
    # labels
    ("metadata.labels", ["a"], "metadata.labels", "must be a mapping of strings to strings, got list"),
    ("metadata.labels", "a=b", "metadata.labels", "must be a mapping of strings to strings"),
    ("metadata.labels", LONG_LABELS, "metadata.labels", "must have at most 64 entries (got 65)"),
    ("metadata.labels", {"": "v"}, 'metadata.labels[""]', "key must not be empty"),
    ("metadata.labels", {"k" * 64: "v"}, "metadata.labels." + "k" * 64, "key must be at most 63 characters"),
    ("metadata.labels", {"-team": "v"}, "metadata.labels.-team", "key must contain only letters"),
    ("metadata.labels", {"a b": "v"}, 'metadata.labels["a b"]', "key must contain only letters"),
    ("metadata.labels", {1: "v"}, "metadata.labels.1", "key must be a string, got integer"),
    ("metadata.labels", {"team": True}, "metadata.labels.team", f"must be a string, got boolean {QUOTE}"),
    ("metadata.labels", {"team": 5}, "metadata.labels.team", f"must be a string, got integer {QUOTE}"),
    ("metadata.labels", {"team": 1.5}, "metadata.labels.team", f"must be a string, got number {QUOTE}"),
    ("metadata.labels", {"team": None}, "metadata.labels.team", "must be a string, got null"),
    ("metadata.labels", {"team": ["a"]}, "metadata.labels.team", "must be a string, got list"),
    ("metadata.labels", {"team": "v" * 257}, "metadata.labels.team", "at most 256 characters (got 257)"),
    ("metadata.labels", {"team": "a\nb"}, "metadata.labels.team", "control characters (found U+000A)"),
    ("metadata.labels", {"team": "a\tb"}, "metadata.labels.team", "control characters (found U+0009)"),
    ("metadata.labels", {"team": "a\x7f"}, "metadata.labels.team", "control characters (found U+007F)"),
    # env
    ("spec.env", ["TZ=UTC"], "spec.env", "must be a mapping of strings to strings, got list"),
    ("spec.env", LONG_ENV, "spec.env", "must have at most 256 entries (got 257)"),
    ("spec.env", {"1X": "v"}, "spec.env.1X", "key must be a valid environment variable name"),
    ("spec.env", {"A-B": "v"}, "spec.env.A-B", "key must be a valid environment variable name"),
    ("spec.env", {"": "v"}, 'spec.env[""]', "key must be a valid environment variable name"),
    ("spec.env", {"DEBUG": True}, "spec.env.DEBUG", f"must be a string, got boolean {QUOTE}"),
    ("spec.env", {"PORT": 8080}, "spec.env.PORT", f"must be a string, got integer {QUOTE}"),
    ("spec.env", {"A": "v" * 32769}, "spec.env.A", "must be at most 32768 characters (got 32769)"),
    ("spec.env", {"A": "a\0b"}, "spec.env.A", "must not contain NUL characters"),
    # command
    ("spec.command", "/bin/echo hi", "spec.command", "must be a list of strings, got string (use script"),
    ("spec.command", {"a": 1}, "spec.command", "must be a list of strings, got mapping"),
    ("spec.command", [], "spec.command", "must not be empty"),
    ("spec.command", ["x"] * 1025, "spec.command", "must have at most 1024 arguments (got 1025)"),
    ("spec.command", ["/bin/x", 3], "spec.command[1]", f"must be a string, got integer {QUOTE}"),
    ("spec.command", ["/bin/x", None], "spec.command[1]", "must be a string, got null"),
    ("spec.command", ["/bin/x", ""], "spec.command[1]", "must not be empty"),
    ("spec.command", ["/bin/x\0"], "spec.command[0]", "must not contain NUL characters"),
    ("spec.command", _REMOVE, "spec.command", "required: set command (a list of arguments) or script"),
    # workingDir
    ("spec.workingDir", "srv/batch", "spec.workingDir", "must be an absolute path"),
    ("spec.workingDir", "", "spec.workingDir", "must be an absolute path"),
    ("spec.workingDir", "/srv\0", "spec.workingDir", "must not contain NUL characters"),
    ("spec.workingDir", "/" + "d" * 4096, "spec.workingDir", "must be at most 4096 bytes (got 4097)"),
    ("spec.workingDir", 5, "spec.workingDir", "must be a string"),
    # runAs
    ("spec.runAs", "Batch", "spec.runAs", "must be a POSIX user name matching ^[a-z_][a-z0-9_-]{0,31}$"),
    ("spec.runAs", "1batch", "spec.runAs", "must be a POSIX user name"),
    ("spec.runAs", "-batch", "spec.runAs", "must be a POSIX user name"),
    ("spec.runAs", "bat ch", "spec.runAs", "must be a POSIX user name"),
    ("spec.runAs", "batch\n", "spec.runAs", "must be a POSIX user name"),
    ("spec.runAs", "b\u00e4tch", "spec.runAs", "must be a POSIX user name"),
    ("spec.runAs", "b" * 33, "spec.runAs", "must be a POSIX user name"),
    ("spec.runAs", "batch\0", "spec.runAs", "must be a POSIX user name"),
    ("spec.runAs", 1000, "spec.runAs", f"must be a string, got integer {QUOTE}"),
    ("spec.runAs", ["batch"], "spec.runAs", "must be a string, got list"),
    # timeout
    ("spec.timeout", -1, "spec.timeout", "must not be negative"),
    ("spec.timeout", MAX_TIMEOUT_SECONDS + 1, "spec.timeout", "must be at most 31d (2678400 seconds)"),
    ("spec.timeout", "32d", "spec.timeout", "must be at most 31d"),
    ("spec.timeout", "744h1s", "spec.timeout", "must be at most 31d"),
    ("spec.timeout", "9" * 30 + "s", "spec.timeout", "must be at most 31d"),
    ("spec.timeout", "1h3", "spec.timeout", "must be a duration like 90s, 15m or 2h"),
    ("spec.timeout", "90", "spec.timeout", "whole seconds as an unquoted integer"),
    ("spec.timeout", "", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "-5s", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "1.5h", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "1H", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "30m1h", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "1h 30m", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "1h1h", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "\uff11s", "spec.timeout", "must be a duration like"),
    ("spec.timeout", "soon", "spec.timeout", 'got "soon"'),
    ("spec.timeout", 1.5, "spec.timeout", "like 90s, 15m or 2h, or whole seconds as an integer, got number"),
    ("spec.timeout", True, "spec.timeout", "got boolean"),
    ("spec.timeout", [60], "spec.timeout", "got list"),
    # agentSelector: the label rules, at most 32 entries
    ("spec.agentSelector", ["os=linux"], "spec.agentSelector", "must be a mapping of strings to strings, got list"),
    ("spec.agentSelector", LONG_SELECTOR, "spec.agentSelector", "must have at most 32 entries (got 33)"),
    ("spec.agentSelector", {"": "v"}, 'spec.agentSelector[""]', "key must not be empty"),
    ("spec.agentSelector", {"-os": "v"}, "spec.agentSelector.-os", "key must contain only letters"),
    ("spec.agentSelector", {"k" * 64: "v"}, "spec.agentSelector." + "k" * 64, "key must be at most 63 characters"),
    ("spec.agentSelector", {1: "v"}, "spec.agentSelector.1", "key must be a string, got integer"),
    ("spec.agentSelector", {"gpu": True}, "spec.agentSelector.gpu", f"must be a string, got boolean {QUOTE}"),
    ("spec.agentSelector", {"os": "v" * 257}, "spec.agentSelector.os", "at most 256 characters (got 257)"),
    ("spec.agentSelector", {"os": "a\nb"}, "spec.agentSelector.os", "control characters (found U+000A)"),
    # lostPolicy
    ("spec.lostPolicy", "FAIL", "spec.lostPolicy", 'must be "retry" or "fail", got "FAIL"'),
    ("spec.lostPolicy", "ignore", "spec.lostPolicy", 'must be "retry" or "fail", got "ignore"'),
    ("spec.lostPolicy", 1, "spec.lostPolicy", 'must be "retry" or "fail", got integer'),
    ("spec.lostPolicy", False, "spec.lostPolicy", 'must be "retry" or "fail", got boolean'),
    # maxAttempts
    ("spec.maxAttempts", 11, "spec.maxAttempts", "must be from 1 to 10 (0 or absent: the default, 3); got 11"),
    ("spec.maxAttempts", -1, "spec.maxAttempts", "must be from 1 to 10"),
    ("spec.maxAttempts", "3", "spec.maxAttempts", "must be a whole number from 1 to 10, got string"),
    ("spec.maxAttempts", 2.5, "spec.maxAttempts", "must be a whole number from 1 to 10, got number"),
    ("spec.maxAttempts", True, "spec.maxAttempts", "got boolean"),
    # type
    ("spec.type", "Empty", "spec.type", 'must be "command" or "empty", got "Empty"'),
    ("spec.type", "shell", "spec.type", 'must be "command" or "empty", got "shell"'),
    ("spec.type", 0, "spec.type", 'must be "command" or "empty", got integer'),
    ("spec.type", ["empty"], "spec.type", "got list"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"), FIELD_CASES, ids=[f"{c[2][:40]}:{c[3][:40]}" for c in FIELD_CASES]
)
def test_field_rules(path: str, value: Any, field: str, reason: str) -> None:
    error = only_error(yaml.safe_dump(with_field(path, value)))
    assert error.field == field
    assert reason in error.reason
    assert error.source == "jobs.yaml#1"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"command": ["x"], "script": "echo"}, "set exactly one of command or script, not both"),
        ({"script": "echo", "command": "echo"}, "set exactly one of command or script, not both"),
    ],
)
def test_command_and_script_together(spec: dict[str, Any], reason: str) -> None:
    doc = with_field("spec", spec)
    errors = errors_of(dump(doc))
    assert errors[0].field == "spec.command"
    assert errors[0].reason == reason


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("", "must not be empty"),
        ("  \n\t", "must not be empty"),
        ("x" * (MIB + 1), f"must be at most 1 MiB (got {MIB + 1} bytes)"),
        ("echo\0", "must not contain NUL characters"),
        (5, "must be a string, got integer"),
        (["echo"], "must be a string, got list"),
    ],
    ids=["empty", "blank", "too-large", "nul", "int", "list"],
)
def test_script_rules(script: Any, reason: str) -> None:
    error = only_error(dump(with_field("spec", {"script": script})))
    assert error.field == "spec.script"
    assert reason in error.reason


def test_script_at_limits_is_accepted() -> None:
    [spec] = parse_documents(dump(with_field("spec", {"script": "x" * MIB})))
    assert len(spec.command.shell) == MIB


def test_non_string_yaml_scalars_as_labels_and_env_values() -> None:
    text = (
        "kind: Job\nmetadata:\n  name: a\n  labels: {enabled: yes, since: 2024-01-01, ratio: 0.5}\n"
        "spec:\n  command: [x]\n  env: {PORT: 0x50, EMPTY: ~}\n"
    )
    errors = {e.field: e.reason for e in errors_of(text)}
    assert errors == {
        "metadata.labels.enabled": "must be a string, got boolean (put the value in quotes)",
        "metadata.labels.since": "must be a string, got timestamp (put the value in quotes)",
        "metadata.labels.ratio": "must be a string, got number (put the value in quotes)",
        "spec.env.PORT": "must be a string, got integer (put the value in quotes)",
        "spec.env.EMPTY": "must be a string, got null",
    }


def test_yaml_boolean_label_key() -> None:
    text = "kind: Job\nmetadata:\n  name: a\n  labels: {on: x}\nspec: {command: [x]}\n"
    error = only_error(text)
    assert error.field == "metadata.labels.True"
    assert "key must be a string, got boolean" in error.reason


def test_surrogate_escape_is_rejected() -> None:
    error = only_error('kind: Job\nmetadata: {name: "a\\ud800"}\nspec: {command: [x]}\n')
    assert error.field == "metadata.name"
    assert "surrogate" in error.reason


def test_label_and_env_limits_are_inclusive() -> None:
    labels = {f"k{i}": "v" * 256 for i in range(64)}
    labels["k" * 63] = labels.pop("k0")
    env = {f"K{i}": "v" for i in range(256)}
    doc = job(env=env, workingDir="/" + "d" * 4095)
    doc["metadata"].update(labels=labels, description="d" * 4096, domain="d" * 64)
    [spec] = parse_documents(dump(doc))
    assert len(spec.labels) == 64
    assert len(spec.env) == 256


def test_agent_selector_and_max_attempts_limits_are_inclusive() -> None:
    selector = {f"k{i}": "v" * 256 for i in range(MAX_AGENT_SELECTOR)}
    [spec] = parse_documents(dump(job(agentSelector=selector, maxAttempts=10)))
    assert len(spec.agent_selector) == MAX_AGENT_SELECTOR and spec.max_attempts == 10
    [spec] = parse_documents(dump(job(maxAttempts=1)))
    assert spec.max_attempts == 1


def test_total_size_limit() -> None:
    # Aliases keep the YAML text small while the parsed job is over 2 MiB.
    env = "\n".join(f"    K{i}: *big" for i in range(1, 70))
    text = "kind: Job\nmetadata: {name: a}\nspec:\n  command: [x]\n  env:\n"
    text += f"    K0: &big {'v' * 32768}\n{env}\n"
    error = only_error(text)
    assert error.field == ""
    assert "too large" in error.reason
    assert "2 MiB" in error.reason


# --- load_paths ---------------------------------------------------------------------------


def write(path: Any, *docs: dict[str, Any]) -> str:
    path.write_text(dump(*docs))
    return str(path)


def test_load_single_file(tmp_path: Any) -> None:
    path = write(tmp_path / "jobs.yaml", job("a"), job("b"))
    assert [s.name for s in load_paths([path])] == ["a", "b"]


def test_load_directory_sorted_non_recursive(tmp_path: Any) -> None:
    write(tmp_path / "b.yml", job("from-b"))
    write(tmp_path / "a.yaml", job("from-a"))
    write(tmp_path / "c.txt", job("ignored-txt"))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "d.yaml", job("ignored-nested"))
    (tmp_path / "dir.yaml").mkdir()
    assert [s.name for s in load_paths([str(tmp_path)])] == ["from-a", "from-b"]


def test_load_files_and_directories_in_given_order(tmp_path: Any) -> None:
    (tmp_path / "dir").mkdir()
    write(tmp_path / "dir" / "x.yaml", job("x"))
    first = write(tmp_path / "first.yaml", job("first"))
    assert [s.name for s in load_paths([first, str(tmp_path / "dir")])] == ["first", "x"]


def test_same_file_twice_is_loaded_once(tmp_path: Any) -> None:
    path = write(tmp_path / "a.yaml", job("a"))
    assert [s.name for s in load_paths([path, str(tmp_path), path])] == ["a"]


def test_missing_file(tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(SpecErrors) as info:
        load_paths([missing])
    [error] = info.value.errors
    assert (error.source, error.field) == (missing, "")
    assert "no such file" in error.reason


def test_directory_without_yaml_files(tmp_path: Any) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(SpecErrors) as info:
        load_paths([str(tmp_path)])
    [error] = info.value.errors
    assert error.source == str(tmp_path)
    assert "no .yaml" in error.reason


def test_no_paths() -> None:
    with pytest.raises(SpecErrors) as info:
        load_paths([])
    assert "no files given" in str(info.value)


def test_duplicate_names_across_files(tmp_path: Any) -> None:
    a = write(tmp_path / "a.yaml", job("x"), job("y"))
    b = write(tmp_path / "b.yaml", job("z"), job("x"))
    with pytest.raises(SpecErrors) as info:
        load_paths([a, b])
    [error] = info.value.errors
    assert (error.field, error.source) == ("metadata.name", f"{b}#2")
    assert f"also defined in {a}#1" in error.reason


def test_errors_from_all_files_are_collected(tmp_path: Any) -> None:
    bad = write(tmp_path / "bad.yaml", job("a", timeout="x"))
    comments = tmp_path / "comments.yaml"
    comments.write_text("# nothing yet\n")
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(SpecErrors) as info:
        load_paths([bad, str(comments), missing])
    assert [(e.source, e.field) for e in info.value.errors] == [
        (f"{bad}#1", "spec.timeout"),
        (str(comments), ""),
        (missing, ""),
    ]
    assert "no Job, Calendar or Workflow documents" in info.value.errors[1].reason
    assert len(str(info.value).splitlines()) == 3


def test_non_utf8_file(tmp_path: Any) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: Job\nmetadata: {name: caf\xe9}\n")
    with pytest.raises(SpecErrors) as info:
        load_paths([str(path)])
    assert "not UTF-8" in info.value.errors[0].reason


def test_utf8_bom_is_accepted(tmp_path: Any) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + dump(job("a")).encode())
    assert [s.name for s in load_paths([str(path)])] == ["a"]


def test_stdin(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(dump(job("from-stdin"), job("dup"))))
    path = write(tmp_path / "a.yaml", job("dup"))
    with pytest.raises(SpecErrors) as info:
        load_paths(["-", path])
    [error] = info.value.errors
    assert error.source == f"{path}#1"
    assert "also defined in <stdin>#2" in error.reason


def test_stdin_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(dump(job("a"))))
    assert [s.name for s in load_paths(["-"])] == ["a"]


# --- validate_spec (proto path) -----------------------------------------------------------


def test_valid_proto_spec() -> None:
    spec = make_spec(
        domain="finance",
        labels={"team": "payments"},
        env={"TZ": "UTC"},
        working_dir="/srv",
        timeout_seconds=MAX_TIMEOUT_SECONDS,
    )
    assert validate_spec(spec) == []
    assert validate_spec(make_spec(command=jobs_pb2.JobCommand(shell="echo hi"))) == []
    scheduled = make_spec(
        agent_selector={f"k{i}": "v" for i in range(MAX_AGENT_SELECTOR)},
        lost_policy=jobs_pb2.FAIL,
        max_attempts=10,
        task_type=jobs_pb2.COMMAND,
    )
    assert validate_spec(scheduled) == []
    assert validate_spec(jobs_pb2.JobSpec(name="a", task_type=jobs_pb2.EMPTY)) == []


PROTO_CASES: list[tuple[jobs_pb2.JobSpec, str, str]] = [
    (make_spec(name=""), "name", "required"),
    (make_spec(name="a b"), "name", "must contain only letters"),
    (make_spec(name="n" * 129), "name", "at most 128"),
    (make_spec(domain="d" * 65), "domain", "at most 64"),
    (make_spec(description="d" * 4097), "description", "at most 4096"),
    (make_spec(labels={f"k{i}": "" for i in range(65)}), "labels", "at most 64 entries"),
    (make_spec(labels={"team": "a\nb"}), "labels.team", "control characters"),
    (make_spec(labels={"bad key": "v"}), 'labels["bad key"]', "key must contain only"),
    (make_spec(env={"1X": "v"}), "env.1X", "environment variable name"),
    (make_spec(env={"A": "\0"}), "env.A", "NUL"),
    (make_spec(env={f"K{i}": "" for i in range(257)}), "env", "at most 256 entries"),
    (jobs_pb2.JobSpec(name="a"), "command", "required"),
    (make_spec(command=jobs_pb2.JobCommand()), "command", "required"),
    (argv_spec(), "command.argv.args", "must not be empty"),
    (argv_spec("x", ""), "command.argv.args[1]", "must not be empty"),
    (argv_spec(*["x"] * 1025), "command.argv.args", "at most 1024 arguments (got 1025)"),
    (shell_spec(""), "command.shell", "must not be empty"),
    (shell_spec(" \n"), "command.shell", "must not be empty"),
    (shell_spec("a\0"), "command.shell", "NUL"),
    (shell_spec("x" * (MIB + 1)), "command.shell", f"at most 1 MiB (got {MIB + 1} bytes)"),
    (shell_spec("\u00e9" * (MIB // 2 + 1)), "command.shell", "at most 1 MiB"),  # bytes, not chars
    (make_spec(working_dir="/a\0"), "working_dir", "NUL"),
    (make_spec(working_dir="/" + "d" * 4096), "working_dir", "at most 4096 bytes"),
    (make_spec(working_dir="rel"), "working_dir", "absolute"),
    (make_spec(run_as="Batch"), "run_as", "must be a POSIX user name matching ^[a-z_][a-z0-9_-]{0,31}$"),
    (make_spec(run_as="1batch"), "run_as", "must be a POSIX user name"),
    (make_spec(run_as="-batch"), "run_as", "must be a POSIX user name"),
    (make_spec(run_as="b" * 33), "run_as", "must be a POSIX user name"),
    (make_spec(run_as="batch\n"), "run_as", "must be a POSIX user name"),
    (make_spec(run_as="batch\0"), "run_as", "must be a POSIX user name"),
    (make_spec(timeout_seconds=MAX_TIMEOUT_SECONDS + 1), "timeout_seconds", "at most 31d"),
    (make_spec(env={f"K{i}": "v" * 32768 for i in range(70)}), "", "too large"),
    (make_spec(agent_selector={f"k{i}": "" for i in range(33)}), "agent_selector", "at most 32 entries (got 33)"),
    (make_spec(agent_selector={"os": "a\tb"}), "agent_selector.os", "control characters"),
    (make_spec(agent_selector={"bad key": "v"}), 'agent_selector["bad key"]', "key must contain only"),
    (make_spec(lost_policy=7), "lost_policy", "must be RETRY or FAIL (got 7)"),
    (make_spec(max_attempts=11), "max_attempts", "must be from 1 to 10 (0 or absent: the default, 3); got 11"),
    (make_spec(task_type=5), "task_type", "must be COMMAND or EMPTY (got 5)"),
    (jobs_pb2.JobSpec(name="a", task_type=5), "task_type", "must be COMMAND or EMPTY (got 5)"),
    (make_spec(task_type=jobs_pb2.EMPTY), "command", "an empty job runs nothing: remove command/script"),
    (jobs_pb2.JobSpec(name="a", task_type=jobs_pb2.EMPTY, command=jobs_pb2.JobCommand(shell="")), "command",
     "an empty job runs nothing"),
    (jobs_pb2.JobSpec(name="a", task_type=jobs_pb2.COMMAND), "command", "required"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "field", "reason"), PROTO_CASES, ids=[f"{c[1]}:{c[2][:40]}" for c in PROTO_CASES])
def test_validate_spec_errors(spec: jobs_pb2.JobSpec, field: str, reason: str) -> None:
    errors = validate_spec(spec)
    assert len(errors) == 1, [str(e) for e in errors]
    assert errors[0].field == field
    assert reason in errors[0].reason
    assert errors[0].source == ""


def test_validate_spec_empty_domain_means_default() -> None:
    assert validate_spec(make_spec(domain="")) == []


def test_validate_spec_rejects_unknown_fields_from_newer_clients() -> None:
    raw = make_spec().SerializeToString() + b"\xa0\x01\x05"  # field 20, varint 5
    errors = validate_spec(jobs_pb2.JobSpec.FromString(raw))
    assert [(e.field, e.reason) for e in errors] == [
        ("", "unknown field number 20 (is the client newer than the server?)")
    ]


def test_validate_spec_is_deterministic_and_pure() -> None:
    labels = {f"k{i}": "bad\n" for i in range(10)}
    first = make_spec(name="", labels=labels)
    second = make_spec(name="", labels=dict(reversed(labels.items())))
    before = first.SerializeToString(deterministic=True)
    results = [[str(e) for e in validate_spec(s)] for s in (first, second, first)]
    assert results[0] == results[1] == results[2]
    assert results[0][0] == "name: required"
    assert [r.split(":")[0] for r in results[0][1:]] == sorted(f"labels.k{i}" for i in range(10))
    assert first.SerializeToString(deterministic=True) == before
    unset = jobs_pb2.JobSpec(name="a")
    validate_spec(unset)
    assert not unset.HasField("command")


def test_yaml_and_proto_paths_apply_the_same_rules() -> None:
    doc = job("-bad", timeout=MAX_TIMEOUT_SECONDS + 1, workingDir="rel", env={"1X": "v"})
    doc["metadata"]["labels"] = {"team": "x" * 300}
    yaml_fields = sorted(fields(errors_of(dump(doc))))
    spec = make_spec(
        name="-bad",
        timeout_seconds=MAX_TIMEOUT_SECONDS + 1,
        working_dir="rel",
        env={"1X": "v"},
        labels={"team": "x" * 300},
    )
    proto_fields = sorted(fields(validate_spec(spec)))
    assert yaml_fields == [
        "metadata.labels.team",
        "metadata.name",
        "spec.env.1X",
        "spec.timeout",
        "spec.workingDir",
    ]
    assert proto_fields == ["env.1X", "labels.team", "name", "timeout_seconds", "working_dir"]


def test_yaml_and_proto_paths_apply_the_same_rules_to_scheduling_fields() -> None:
    selector = {f"k{i}": "v" for i in range(32)}
    selector["-bad"] = "x\n"
    doc = job(type="empty", maxAttempts=11, agentSelector=selector)
    yaml_errors = [(e.field, e.reason) for e in errors_of(dump(doc))]
    spec = make_spec(task_type=jobs_pb2.EMPTY, max_attempts=11, agent_selector=selector)
    proto_errors = [(e.field, e.reason) for e in validate_spec(spec)]
    yaml_to_proto = {
        "spec.agentSelector": "agent_selector",
        "spec.agentSelector.-bad": "agent_selector.-bad",
        "spec.command": "command",
        "spec.maxAttempts": "max_attempts",
    }
    assert sorted((yaml_to_proto[f], r) for f, r in yaml_errors) == sorted(proto_errors)
    assert sorted(f for f, _ in proto_errors) == [
        "agent_selector",
        "agent_selector.-bad",
        "agent_selector.-bad",
        "command",
        "max_attempts",
    ]


RUN_AS_VALID = ["batch", "_", "_svc", "a1", "www-data", "svc_2", "x-", "a" * 32]
RUN_AS_INVALID = ["Batch", "1a", "-a", "a.b", "a b", "a$", "a@b", "\u00e9", "a" * 33, "a\n", " a", "root\0"]


@pytest.mark.parametrize("value", RUN_AS_VALID)
def test_run_as_valid_on_both_paths(value: str) -> None:
    [spec] = parse_documents(dump(job(runAs=value)))
    assert spec == make_spec(run_as=value)
    assert validate_spec(make_spec(run_as=value)) == []


@pytest.mark.parametrize("value", RUN_AS_INVALID)
def test_run_as_invalid_on_both_paths(value: str) -> None:
    yaml_error = only_error(dump(job(runAs=value)))
    [proto_error] = validate_spec(make_spec(run_as=value))
    assert (yaml_error.field, proto_error.field) == ("spec.runAs", "run_as")
    assert yaml_error.reason == proto_error.reason
    assert "must be a POSIX user name matching ^[a-z_][a-z0-9_-]{0,31}$" in proto_error.reason


def test_run_as_absent_or_empty_means_the_agents_user() -> None:
    assert parse_documents(dump(job())) == [make_spec()]
    assert parse_documents(dump(job(runAs=""))) == [make_spec()]
    assert parse_documents("kind: Job\nmetadata: {name: job-a}\nspec: {command: [/bin/true], runAs: ~}\n") == [
        make_spec()
    ]
    assert validate_spec(make_spec(run_as="")) == []
    assert "runAs" not in spec_to_dict(make_spec(run_as=""))["spec"]


def test_run_as_misspelled_gets_a_hint() -> None:
    error = only_error(dump(with_field("spec.run_as", "batch")))
    assert error.field == "spec.run_as"
    assert error.reason == 'unknown field "run_as" (did you mean "runAs"?)'


def test_spec_to_dict_run_as() -> None:
    body = spec_to_dict(make_spec(working_dir="/srv", run_as="batch", timeout_seconds=5))["spec"]
    assert body == {"command": ["/bin/true"], "workingDir": "/srv", "runAs": "batch", "timeout": 5}
    assert list(body) == ["command", "workingDir", "runAs", "timeout"]


# --- validate_specs -----------------------------------------------------------------------


def test_validate_specs_ok() -> None:
    assert validate_specs([make_spec(name="a"), make_spec(name="b")]) == []


def test_validate_specs_empty() -> None:
    [error] = validate_specs([])
    assert (error.field, error.reason) == ("jobs", "at least one job is required")


def test_validate_specs_too_many() -> None:
    errors = validate_specs([make_spec(name=f"j{i}") for i in range(1001)])
    assert [(e.field, e.reason) for e in errors] == [("jobs", "at most 1000 jobs per apply (got 1001)")]
    assert validate_specs([make_spec(name=f"j{i}") for i in range(1000)]) == []


def test_validate_specs_prefixes_and_duplicates() -> None:
    specs = [
        make_spec(name="a"),
        make_spec(name="b", labels={"team": "\x00"}),
        make_spec(name="a"),
        make_spec(name="big", env={f"K{i}": "v" * 32768 for i in range(70)}),
    ]
    errors = validate_specs(specs)
    assert [e.field for e in errors] == ["jobs[1].labels.team", "jobs[2].name", "jobs[3]"]
    assert errors[1].reason == 'duplicate job name "a" (also jobs[0])'


# --- spec_to_dict, normalize, round trip ----------------------------------------------------


def test_spec_to_dict_full() -> None:
    spec = make_spec(
        name="n",
        domain="finance",
        description="d",
        labels={"z": "1", "a": "2"},
        env={"TZ": "UTC"},
        working_dir="/srv",
        timeout_seconds=90,
    )
    assert spec_to_dict(spec) == {
        "apiVersion": "wloadctl/v1",
        "kind": "Job",
        "metadata": {"name": "n", "domain": "finance", "description": "d", "labels": {"a": "2", "z": "1"}},
        "spec": {"command": ["/bin/true"], "env": {"TZ": "UTC"}, "workingDir": "/srv", "timeout": 90},
    }
    assert list(spec_to_dict(spec)["metadata"]["labels"]) == ["a", "z"]


def test_spec_to_dict_scheduling_fields() -> None:
    spec = make_spec(agent_selector={"z": "1", "os": "linux"}, lost_policy=jobs_pb2.FAIL, max_attempts=4)
    body = spec_to_dict(spec)["spec"]
    assert body == {"command": ["/bin/true"], "agentSelector": {"os": "linux", "z": "1"}, "lostPolicy": "fail",
                    "maxAttempts": 4}  # fmt: skip
    assert list(body["agentSelector"]) == ["os", "z"]
    empty = jobs_pb2.JobSpec(name="e", task_type=jobs_pb2.EMPTY)
    assert spec_to_dict(empty)["spec"] == {"type": "empty"}
    # Defaults (retry, 0 = 3 attempts, command) are left out.
    assert spec_to_dict(make_spec(lost_policy=jobs_pb2.RETRY, max_attempts=0))["spec"] == {"command": ["/bin/true"]}


def test_spec_to_dict_minimal_omits_empty_optionals() -> None:
    spec = make_spec(command=jobs_pb2.JobCommand(shell="echo hi"))
    assert spec_to_dict(spec) == {
        "apiVersion": "wloadctl/v1",
        "kind": "Job",
        "metadata": {"name": "job-a"},
        "spec": {"script": "echo hi"},
    }


@pytest.mark.parametrize(
    "spec",
    [
        make_spec(),
        make_spec(command=jobs_pb2.JobCommand(shell="#!/bin/sh\nset -e\necho 'a: b' # c\n")),
        make_spec(
            domain="default",
            description="yes",
            labels={"on": "true", "n": "1", "date": "2024-01-01", "empty": "", "null": "~"},
            env={
                "A": "null",
                "B": "0x10",
                "C": " padded ",
                "D": "line\nbreak\r\n",
                "E": "\x01\u2028\U0001f600",
            },
            working_dir="/srv/a b/:c",
            timeout_seconds=MAX_TIMEOUT_SECONDS,
        ),
        make_spec(agent_selector={"os": "linux", "on": "yes"}, lost_policy=jobs_pb2.FAIL, max_attempts=10),
        make_spec(max_attempts=1),
        make_spec(run_as="batch"),
        make_spec(run_as="_"),
        make_spec(run_as="y"),  # a YAML 1.1 boolean when unquoted
        make_spec(run_as="svc-" + "a" * 28),  # 32 characters
        jobs_pb2.JobSpec(name="join", task_type=jobs_pb2.EMPTY, env={"A": "1"}, timeout_seconds=60),
    ],
)
def test_round_trip(spec: jobs_pb2.JobSpec) -> None:
    assert validate_spec(spec) == []
    assert parse_documents(yaml.safe_dump(spec_to_dict(spec))) == [spec]


def test_normalize() -> None:
    spec = make_spec()
    normalized = normalize(spec)
    assert normalized.domain == "default"
    assert spec.domain == ""  # input untouched
    assert normalize(make_spec(domain="finance")).domain == "finance"
    assert normalize(normalized) == normalized


# --- error types --------------------------------------------------------------------------


def test_spec_error_formatting_and_pickling() -> None:
    error = SpecError("spec.timeout", "must be a duration like 90s, 15m or 2h", "jobs.yaml#2")
    assert str(error) == "jobs.yaml#2: spec.timeout: must be a duration like 90s, 15m or 2h"
    assert str(SpecError("name", "required")) == "name: required"
    assert str(SpecError("", "no Job documents", "a.yaml")) == "a.yaml: no Job documents"
    assert isinstance(error, ValueError)
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.field, copied.reason, copied.source) == (error.field, error.reason, error.source)
    errors = SpecErrors([error, SpecError("name", "required")])
    assert isinstance(errors, ValueError)
    assert str(errors).splitlines() == [str(error), "name: required"]
    assert len(pickle.loads(pickle.dumps(errors)).errors) == 2


# --- property test -------------------------------------------------------------------------

_no_surrogates = st.characters(blacklist_categories=("Cs",))
_text = st.text(alphabet=_no_surrogates, max_size=40)
_text_no_nul = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
_identifier = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9._-]{0,20}[A-Za-z0-9])?\Z")
_label_key = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,20}[A-Za-z0-9])?\Z")
_label_value = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
_env_key = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z")
_user_name = st.from_regex(r"\A[a-z_][a-z0-9_-]{0,31}\Z")
_argv = st.lists(_text_no_nul.filter(bool), min_size=1, max_size=5)
_script = _text_no_nul.filter(lambda s: s.strip() != "")


@st.composite
def valid_specs(draw: st.DrawFn) -> jobs_pb2.JobSpec:
    spec = jobs_pb2.JobSpec(
        name=draw(_identifier),
        domain=draw(st.one_of(st.just(""), _identifier)),
        description=draw(_text),
        labels=draw(st.dictionaries(_label_key, _label_value, max_size=4)),
        env=draw(st.dictionaries(_env_key, _text_no_nul, max_size=4)),
        working_dir=draw(st.one_of(st.just(""), _text_no_nul.map(lambda s: "/" + s))),
        run_as=draw(st.one_of(st.just(""), _user_name)),
        timeout_seconds=draw(st.integers(0, MAX_TIMEOUT_SECONDS)),
        agent_selector=draw(st.dictionaries(_label_key, _label_value, max_size=4)),
        lost_policy=draw(st.sampled_from([jobs_pb2.RETRY, jobs_pb2.FAIL])),
        max_attempts=draw(st.integers(0, 10)),
    )
    kind = draw(st.sampled_from(["argv", "shell", "empty"]))
    if kind == "argv":
        spec.command.argv.args.extend(draw(_argv))
    elif kind == "shell":
        spec.command.shell = draw(_script)
    else:
        spec.task_type = jobs_pb2.EMPTY
    return spec


@settings(max_examples=200, deadline=None, database=None)
@given(valid_specs())
def test_round_trip_property(spec: jobs_pb2.JobSpec) -> None:
    assert validate_spec(spec) == []
    assert parse_documents(yaml.safe_dump(spec_to_dict(spec))) == [spec]

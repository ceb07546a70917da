"""Job definitions as YAML documents: parsing them into JobSpecs (every error found, with the
document it is in), loading files and directories, and writing a JobSpec back as a document.

Only the CLI reads YAML; what makes a job valid is in rules.py, shared with the API and
Store.apply().
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from wloadctl.model import scheduling
from wloadctl.model.rules import (
    DEFAULT_DOMAIN,
    LOST_POLICIES,
    MAX_ATTEMPTS,
    MAX_TIMEOUT_SECONDS,
    TASK_TYPES,
    FieldNames,
    Fields,
    SpecError,
    SpecErrors,
    check_fields,
    entry_field,
    quote,
    size_problem,
)
from wloadctl.model.workflow_documents import WORKFLOW_KIND, parse_workflow
from wloadctl.proto.v1 import jobs_pb2, workflows_pb2

__all__ = [
    "API_VERSION",
    "KIND",
    "STDIN_SOURCE",
    "load_paths",
    "parse_documents",
    "spec_to_dict",
]

API_VERSION = "wloadctl/v1"
KIND = "Job"
CALENDAR_KIND = "Calendar"

STDIN_SOURCE = "<stdin>"

# ASCII classes and fullmatch(), for the reasons given in rules.py.
_DURATION_RE = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_DURATION_UNITS = (86400, 3600, 60, 1)

_DURATION_HINT = "must be a duration like 90s, 15m or 2h"

_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_FIELDS = ("name", "domain", "description", "labels")
_SPEC_FIELDS = (
    "type",
    "command",
    "script",
    "env",
    "secretEnv",
    "workingDir",
    "runAs",
    "timeout",
    "agentSelector",
    "lostPolicy",
    "maxAttempts",
    *scheduling.YAML_FIELDS,
)
_SECTIONS = {"": _TOP_FIELDS, "metadata": _METADATA_FIELDS, "spec": _SPEC_FIELDS}


_YAML_NAMES = FieldNames(
    name="metadata.name",
    domain="metadata.domain",
    description="metadata.description",
    labels="metadata.labels",
    env="spec.env",
    secret_env="spec.secretEnv",
    command="spec.command",
    command_required="required: set command (a list of arguments) or script",
    args="spec.command",
    arg="spec.command[{}]",
    script="spec.script",
    working_dir="spec.workingDir",
    run_as="spec.runAs",
    timeout="spec.timeout",
    agent_selector="spec.agentSelector",
    lost_policy="spec.lostPolicy",
    max_attempts="spec.maxAttempts",
    task_type="spec.type",
)


# --- JobSpec -> document ------------------------------------------------------------------


def spec_to_dict(spec: jobs_pb2.JobSpec) -> dict[str, Any]:
    """Render a JobSpec as the YAML document form, leaving out empty optional fields."""
    metadata: dict[str, Any] = {"name": spec.name}
    if spec.domain:
        metadata["domain"] = spec.domain
    if spec.description:
        metadata["description"] = spec.description
    if spec.labels:
        metadata["labels"] = dict(sorted(spec.labels.items()))
    body: dict[str, Any] = {}
    if spec.task_type != jobs_pb2.COMMAND:
        body["type"] = _enum_yaml(TASK_TYPES, spec.task_type)
    kind = spec.command.WhichOneof("kind") if spec.HasField("command") else None
    if kind == "argv":
        body["command"] = list(spec.command.argv.args)
    elif kind == "shell":
        body["script"] = spec.command.shell
    if spec.env:
        body["env"] = dict(sorted(spec.env.items()))
    if spec.secret_env:  # references ("SECRET/KEY"), never values: a JobSpec holds none
        body["secretEnv"] = dict(sorted(spec.secret_env.items()))
    if spec.working_dir:
        body["workingDir"] = spec.working_dir
    if spec.run_as:
        body["runAs"] = spec.run_as
    if spec.timeout_seconds:
        body["timeout"] = spec.timeout_seconds
    if spec.agent_selector:
        body["agentSelector"] = dict(sorted(spec.agent_selector.items()))
    if spec.lost_policy != jobs_pb2.RETRY:
        body["lostPolicy"] = _enum_yaml(LOST_POLICIES, spec.lost_policy)
    if spec.max_attempts:
        body["maxAttempts"] = spec.max_attempts
    scheduling.to_yaml(spec, body)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": body}


def _enum_yaml(names: dict[str, int], value: int) -> str | int:
    """The YAML spelling of an enum value; an unknown number stays a number (and fails validation)."""
    for name, number in names.items():
        if number == value:
            return name
    return value


# --- document -> JobSpec ------------------------------------------------------------------


def _type_name(value: object) -> str:
    # bool before int: bool is an int subclass.
    for kind, name in (
        (type(None), "null"),
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (list, "list"),
        (dict, "mapping"),
        (datetime.date, "timestamp"),  # also covers datetime.datetime
        (bytes, "binary"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__



def _describe(value: object) -> str:
    return quote(value, 40) if isinstance(value, str) else _type_name(value)


def _unknown_field_reason(key: object, section: str) -> str:
    name = str(key)
    reason = f"unknown field {quote(name)}"
    for other, known in _SECTIONS.items():
        if other != section and name in known:
            where = f'under "{other}"' if other else "at the top level"
            return f"{reason} (it belongs {where})"
    close = difflib.get_close_matches(name, _SECTIONS[section], n=1)
    if close:
        return f'{reason} (did you mean "{close[0]}"?)'
    return reason


class _DocParser:
    """Turns one YAML document into a JobSpec, collecting every error."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[SpecError] = []

    def err(self, where: str, reason: str) -> None:
        self.errors.append(SpecError(where, reason, self.source))

    def string(self, value: object, where: str) -> str | None:
        if not isinstance(value, str):
            reason = f"must be a string, got {_type_name(value)}"
            if isinstance(value, bool | int | float | datetime.date):
                reason += " (put the value in quotes)"
            self.err(where, reason)
            return None
        try:
            value.encode()
        except UnicodeEncodeError:
            self.err(where, "must be valid Unicode text (found a surrogate code point)")
            return None
        return value

    def mapping(self, parent: dict[Any, Any], key: str, where: str) -> dict[Any, Any]:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.err(where, f"must be a mapping, got {_type_name(value)}")
            return {}
        self.unknown(value, key)
        return value

    def unknown(self, mapping: dict[Any, Any], section: str) -> None:
        known = _SECTIONS[section]
        for key in mapping:
            if key not in known:
                where = f"{section}.{key}" if section else str(key)
                self.err(where, _unknown_field_reason(key, section))

    def string_map(self, parent: dict[Any, Any], key: str, where: str) -> tuple[list[tuple[str, str | None]], int]:
        value = parent.get(key)
        if value is None:
            return [], 0
        if not isinstance(value, dict):
            self.err(where, f"must be a mapping of strings to strings, got {_type_name(value)}")
            return [], 0
        entries: list[tuple[str, str | None]] = []
        for entry_key, entry_value in value.items():
            entry_where = entry_field(where, entry_key)
            if not isinstance(entry_key, str):
                self.err(entry_where, f"key must be a string, got {_type_name(entry_key)} (put it in quotes)")
                continue
            if self.string(entry_key, entry_where) is None:
                continue
            entries.append((entry_key, self.string(entry_value, entry_where)))
        return entries, len(value)

    def duration(self, value: object, where: str = _YAML_NAMES.timeout) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.err(
                where,
                f"{_DURATION_HINT}, or whole seconds as an integer, got {_type_name(value)}",
            )
            return None
        if isinstance(value, int):
            return value
        match = _DURATION_RE.fullmatch(value)
        if not value or match is None:
            self.err(
                where,
                f"{_DURATION_HINT} (or combined, like 1h30m), or whole seconds as an unquoted integer; "
                f"got {quote(value, 40)}",
            )
            return None
        seconds = 0
        for digits, unit in zip(match.groups(), _DURATION_UNITS, strict=True):
            if digits:
                # Longer digit strings are out of range anyway, and int() refuses huge ones.
                seconds += int(digits) * unit if len(digits) <= 12 else MAX_TIMEOUT_SECONDS + 1
        return seconds

    def choice(self, value: object, where: str, choices: dict[str, int]) -> int | None:
        allowed = " or ".join(f'"{name}"' for name in choices)
        if not isinstance(value, str):
            self.err(where, f"must be {allowed}, got {_type_name(value)}")
            return None
        if value not in choices:
            self.err(where, f"must be {allowed}, got {quote(value, 40)}")
            return None
        return choices[value]

    def attempts(self, value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(
                _YAML_NAMES.max_attempts,
                f"must be a whole number from 1 to {MAX_ATTEMPTS}, got {_type_name(value)}",
            )
            return None
        return value

    def parse(self, doc: object) -> jobs_pb2.JobSpec:
        spec = jobs_pb2.JobSpec()
        if not isinstance(doc, dict):
            self.err("", f"a document must be a mapping with kind, metadata and spec, got {_type_name(doc)}")
            return spec
        self.unknown(doc, "")
        api_version = doc.get("apiVersion")
        kind = doc.get("kind")
        if api_version is not None and api_version != API_VERSION:
            self.err("apiVersion", f'must be "{API_VERSION}", got {_describe(api_version)}')
        if kind is None:
            self.err("kind", f'required: must be "{KIND}" or "{CALENDAR_KIND}"')
        elif kind != KIND:
            self.err("kind", f'must be "{KIND}" or "{CALENDAR_KIND}", got {_describe(kind)}')
        if (api_version is not None and api_version != API_VERSION) or (kind is not None and kind != KIND):
            # Another kind or version has other fields; checking them as a Job would only add noise.
            return spec

        names = _YAML_NAMES
        metadata = self.mapping(doc, "metadata", "metadata")
        body = self.mapping(doc, "spec", "spec")
        fields = Fields()

        name = metadata.get("name")
        if name is not None:
            fields.name = self.string(name, names.name)
        domain = metadata.get("domain")
        if domain is not None:
            fields.domain = self.string(domain, names.domain)
            if fields.domain == "":
                self.err(names.domain, f'must not be empty (leave it out for the "{DEFAULT_DOMAIN}" domain)')
        description = metadata.get("description")
        if description is not None:
            fields.description = self.string(description, names.description)
        fields.labels, fields.labels_count = self.string_map(metadata, "labels", names.labels)
        fields.env, fields.env_count = self.string_map(body, "env", names.env)
        fields.secret_env, fields.secret_env_count = self.string_map(body, "secretEnv", names.secret_env)

        fields.agent_selector, fields.agent_selector_count = self.string_map(
            body, "agentSelector", names.agent_selector
        )
        task_type = body.get("type")
        if task_type is not None:
            fields.task_type = self.choice(task_type, names.task_type, TASK_TYPES)
            # With the type unknown, "command required" may be wrong: the type error says it all.
            fields.command_reported = fields.task_type is None
        lost_policy = body.get("lostPolicy")
        if lost_policy is not None:
            fields.lost_policy = self.choice(lost_policy, names.lost_policy, LOST_POLICIES)
        max_attempts = body.get("maxAttempts")
        if max_attempts is not None:
            fields.max_attempts = self.attempts(max_attempts)

        command = body.get("command")
        script = body.get("script")
        fields.command_present = command is not None or script is not None
        if fields.task_type == jobs_pb2.EMPTY and fields.command_present:
            # Checking the command of a job that must not have one would only add noise.
            command = script = None
            fields.command_reported = True
        if command is not None and script is not None:
            self.err(names.command, "set exactly one of command or script, not both")
            fields.command_reported = True
        if command is not None:
            if isinstance(command, list):
                fields.args = []
                fields.args_count = len(command)
                for index, arg in enumerate(command):
                    text = self.string(arg, names.arg.format(index))
                    if text is not None:
                        fields.args.append((index, text))
            else:
                hint = " (use script for a shell command line)" if isinstance(command, str) else ""
                self.err(names.command, f"must be a list of strings, got {_type_name(command)}{hint}")
                fields.command_reported = True
        if script is not None:
            fields.script = self.string(script, names.script)
            fields.command_reported = fields.command_reported or fields.script is None

        working_dir = body.get("workingDir")
        if working_dir is not None:
            fields.working_dir = self.string(working_dir, names.working_dir)
            if fields.working_dir == "":
                self.err(names.working_dir, "must be an absolute path (starting with /)")
        run_as = body.get("runAs")
        if run_as is not None:
            fields.run_as = self.string(run_as, names.run_as)
        timeout = body.get("timeout")
        if timeout is not None:
            fields.timeout = self.duration(timeout)

        check_fields(fields, names, self.err)

        if fields.name:
            spec.name = fields.name
        if fields.domain:
            spec.domain = fields.domain
        if fields.description:
            spec.description = fields.description
        spec.labels.update({k: v for k, v in fields.labels if v is not None})
        spec.env.update({k: v for k, v in fields.env if v is not None})
        spec.secret_env.update({k: v for k, v in fields.secret_env if v is not None})
        if fields.args is not None and fields.script is None:
            spec.command.argv.args.extend(arg for _, arg in fields.args)
        elif fields.script is not None and fields.args is None:
            spec.command.shell = fields.script
        if fields.working_dir:
            spec.working_dir = fields.working_dir
        if fields.run_as:
            spec.run_as = fields.run_as
        if fields.timeout is not None and 0 <= fields.timeout <= MAX_TIMEOUT_SECONDS:
            spec.timeout_seconds = fields.timeout
        spec.agent_selector.update({k: v for k, v in fields.agent_selector if v is not None})
        if fields.task_type is not None:
            spec.task_type = fields.task_type
        if fields.lost_policy is not None:
            spec.lost_policy = fields.lost_policy
        if fields.max_attempts is not None and 0 <= fields.max_attempts <= MAX_ATTEMPTS:
            spec.max_attempts = fields.max_attempts
        scheduling.parse_yaml(body, spec, self.err, self.duration)
        scheduling.problems(spec, self.err, yaml_names=True)
        if problem := size_problem(spec):
            self.err("", problem)
        return spec


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys; plain PyYAML silently keeps the last one."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[type, Any]] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # merge keys may override on purpose
                key = self.construct_object(key_node, deep=True)
                marker = (type(key), key)  # so that 1 and true are different keys
                try:
                    duplicate = marker in seen
                except TypeError:
                    continue  # unhashable; the base class reports it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {_describe(key) if not isinstance(key, str) else quote(key)}",
                        key_node.start_mark,
                    )
                seen.add(marker)
        return super().construct_mapping(node, deep=deep)


def _yaml_reason(error: Exception, text: str) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        problem = error.problem or error.context or "syntax error"
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            return f"invalid YAML: {problem} at line {mark.line + 1} column {mark.column + 1}"
        return f"invalid YAML: {problem}"
    if isinstance(error, yaml.reader.ReaderError):
        position = error.position
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        character = error.character if isinstance(error.character, int) else ord(error.character)
        return f"invalid YAML: unacceptable character U+{character:04X} ({error.reason}) at line {line} column {column}"
    if isinstance(error, RecursionError):
        return "invalid YAML: nesting too deep"
    return f"invalid YAML: {error}"


def _doc_source(source: str, number: int) -> str:
    return f"{source}#{number}" if source else f"document {number}"


Spec = jobs_pb2.JobSpec | jobs_pb2.CalendarSpec | workflows_pb2.WorkflowSpec


def _parse_text(text: str, source: str) -> tuple[list[tuple[Spec, str]], list[SpecError]]:
    """Every Job and Calendar document in text with its source, and all errors found."""
    docs: list[tuple[Spec, str]] = []
    errors: list[SpecError] = []
    number = 0
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        while loader.check_data():
            number += 1
            data = loader.get_data()
            if data is None:
                continue
            where = _doc_source(source, number)
            if isinstance(data, dict) and data.get("kind") == CALENDAR_KIND:
                calendar, problems = scheduling.parse_calendar(data, API_VERSION)
                docs.append((calendar, where))
                errors.extend(SpecError(field, reason, where) for field, reason in problems)
                continue
            if isinstance(data, dict) and data.get("kind") == WORKFLOW_KIND:
                workflow, problems = parse_workflow(data, API_VERSION, _DocParser(where).duration)
                docs.append((workflow, where))
                errors.extend(SpecError(field, reason, where) for field, reason in problems)
                continue
            parser = _DocParser(where)
            docs.append((parser.parse(data), parser.source))
            errors.extend(parser.errors)
    # ValueError: PyYAML lets int() and date() errors escape for values like 10**5000 or 2024-13-45.
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        errors.append(SpecError("", _yaml_reason(error, text), source))
        return docs, errors
    finally:
        if loader is not None:
            loader.dispose()
    if not docs:
        errors.append(SpecError("", "no Job, Calendar or Workflow documents found (empty, or only comments)", source))
    return docs, errors


def _duplicate_errors(docs: list[tuple[Spec, str]]) -> list[SpecError]:
    errors: list[SpecError] = []
    first: dict[tuple[str, str], str] = {}
    for spec, source in docs:
        if not spec.name:
            continue
        what = "job" if isinstance(spec, jobs_pb2.JobSpec) else "calendar" if isinstance(
            spec, jobs_pb2.CalendarSpec) else "workflow"
        key = (what, spec.name)
        if key in first:
            errors.append(
                SpecError(
                    _YAML_NAMES.name,
                    f"duplicate {what} name {quote(spec.name)} (also defined in {first[key]})",
                    source,
                )
            )
        else:
            first[key] = source
    return errors


def parse_documents(text: str, source: str = "") -> list[jobs_pb2.JobSpec]:
    """Parse every Job document in text; raises SpecErrors listing all problems.

    Specs are returned as written: an omitted domain stays "" (see normalize()), which keeps
    parse_documents(yaml.safe_dump(spec_to_dict(s))) == [s].
    """
    docs, errors = _parse_text(text, source)
    errors.extend(_duplicate_errors(docs))
    if errors:
        raise SpecErrors(errors)
    return [spec for spec, _ in docs if isinstance(spec, jobs_pb2.JobSpec)]


def _expand(path: str) -> tuple[list[str], SpecError | None]:
    if path == "-" or not os.path.isdir(path):
        return [path], None
    try:
        names = sorted(os.listdir(path))
    except OSError as error:
        return [], SpecError("", f"cannot read directory: {error.strerror}", path)
    files = [
        os.path.join(path, name)
        for name in names
        if name.endswith((".yaml", ".yml")) and os.path.isfile(os.path.join(path, name))
    ]
    if not files:
        return [], SpecError("", "no .yaml or .yml files in directory", path)
    return files, None


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, "rb") as handle:
        data = handle.read()
    return data.decode("utf-8-sig")


def load_paths(paths: Sequence[str]) -> list[jobs_pb2.JobSpec]:
    """The Job documents of ``paths`` (see load_documents)."""
    return load_documents(paths)[0]


def load_documents(paths: Sequence[str], progress: Callable[[int, int], None] | None = None) -> tuple[
        list[jobs_pb2.JobSpec], list[jobs_pb2.CalendarSpec], list[workflows_pb2.WorkflowSpec]]:
    """Load Job, Calendar and Workflow documents from files, directories (*.yaml, *.yml; not recursive) and
    '-' (stdin).

    Raises SpecErrors listing every problem in every file, including duplicate names across files.
    """
    errors: list[SpecError] = []
    docs: list[tuple[Spec, str]] = []
    if not paths:
        raise SpecErrors([SpecError("", "no files given")])
    seen: set[str] = set()
    expanded = [_expand(path) for path in paths]
    total, done = sum(len(files) for files, _ in expanded), 0
    for files, error in expanded:
        if error is not None:
            errors.append(error)
        for file in files:
            # The same file named twice (or via its directory) is read once, not reported as duplicates.
            identity = file if file == "-" else os.path.realpath(file)
            if identity in seen:
                continue
            seen.add(identity)
            source = STDIN_SOURCE if file == "-" else file
            try:
                text = _read(file)
            except FileNotFoundError:
                errors.append(SpecError("", "no such file or directory", source))
                continue
            except UnicodeDecodeError as decode_error:
                reason = f"not UTF-8 text (bad byte at offset {decode_error.start})"
                errors.append(SpecError("", reason, source))
                continue
            except OSError as os_error:
                errors.append(SpecError("", f"cannot read: {os_error.strerror or os_error}", source))
                continue
            file_docs, file_errors = _parse_text(text, source)
            done += 1
            if progress is not None:  # (files read, files in all): the CLI shows it on a terminal
                progress(done, total)
            docs.extend(file_docs)
            errors.extend(file_errors)
    errors.extend(_duplicate_errors(docs))
    if errors:
        raise SpecErrors(errors)
    return ([s for s, _ in docs if isinstance(s, jobs_pb2.JobSpec)],
            [s for s, _ in docs if isinstance(s, jobs_pb2.CalendarSpec)],
            [s for s, _ in docs if isinstance(s, workflows_pb2.WorkflowSpec)])

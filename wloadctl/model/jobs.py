"""Job definitions: YAML documents and JobSpec protos, and the rules that make them valid.

The same rules apply to YAML the CLI reads and to JobSpecs that arrive over gRPC: both
paths reduce their input to `_Fields` and run `_check_fields` on it, so the two can't drift.
Only the field names in errors differ (YAML style "spec.workingDir", proto style "working_dir").
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from google.protobuf import unknown_fields

from wloadctl.proto.v1 import jobs_pb2

__all__ = [
    "API_VERSION",
    "DEFAULT_DOMAIN",
    "DEFAULT_MAX_ATTEMPTS",
    "KIND",
    "LOST_POLICIES",
    "MAX_ATTEMPTS",
    "MAX_JOBS_PER_APPLY",
    "TASK_TYPES",
    "SpecError",
    "SpecErrors",
    "load_paths",
    "normalize",
    "parse_documents",
    "spec_to_dict",
    "validate_spec",
    "validate_specs",
]

API_VERSION = "wloadctl/v1"
KIND = "Job"
DEFAULT_DOMAIN = "default"

MAX_NAME_LEN = 128
MAX_DOMAIN_LEN = 64
MAX_DESCRIPTION_LEN = 4096
MAX_LABELS = 64
MAX_LABEL_KEY_LEN = 63
MAX_LABEL_VALUE_LEN = 256
MAX_ENV = 256
MAX_ENV_VALUE_LEN = 32768
MAX_ARGS = 1024
MAX_SCRIPT_BYTES = 1 << 20
MAX_WORKING_DIR_BYTES = 4096
MAX_TIMEOUT_SECONDS = 31 * 86400
MAX_SPEC_BYTES = 2 << 20
MAX_JOBS_PER_APPLY = 1000
MAX_AGENT_SELECTOR = 32
MAX_ATTEMPTS = 10
DEFAULT_MAX_ATTEMPTS = 3

# YAML spellings of the enums (spec.lostPolicy, spec.type); the first of each is the default.
LOST_POLICIES = {"retry": jobs_pb2.RETRY, "fail": jobs_pb2.FAIL}
TASK_TYPES = {"command": jobs_pb2.COMMAND, "empty": jobs_pb2.EMPTY}
_EMPTY_JOB_REASON = "an empty job runs nothing: remove command/script"

STDIN_SOURCE = "<stdin>"

# Explicit ASCII classes and fullmatch() throughout: `\d` accepts non-ASCII digits and `$`
# accepts a trailing newline, both of which would let odd names through.
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_LABEL_KEY_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?")
_ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION_RE = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_DURATION_UNITS = (86400, 3600, 60, 1)
_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9._/-]{1,80}")
_USER_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

_NAME_CHARSET = "must contain only letters, digits, '.', '_' and '-', and start and end with a letter or digit"
_DURATION_HINT = "must be a duration like 90s, 15m or 2h"
_USER_NAME_RULE = (
    "must be a POSIX user name matching ^[a-z_][a-z0-9_-]{0,31}$ (lower-case letters, digits, '_' and '-', "
    "not starting with a digit or '-', at most 32 characters; leave it out to run as the agent's user)"
)

_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_FIELDS = ("name", "domain", "description", "labels")
_SPEC_FIELDS = (
    "type",
    "command",
    "script",
    "env",
    "workingDir",
    "runAs",
    "timeout",
    "agentSelector",
    "lostPolicy",
    "maxAttempts",
)
_SECTIONS = {"": _TOP_FIELDS, "metadata": _METADATA_FIELDS, "spec": _SPEC_FIELDS}


class SpecError(ValueError):
    """One precise validation error."""

    def __init__(self, field: str, reason: str, source: str = "") -> None:
        # Passing everything to ValueError keeps the exception picklable.
        super().__init__(field, reason, source)
        self.field = field
        self.reason = reason
        self.source = source

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.field, self.reason) if part)

    def __repr__(self) -> str:
        return f"SpecError(field={self.field!r}, reason={self.reason!r}, source={self.source!r})"


class SpecErrors(ValueError):
    """Several errors collected from one apply (all reported, nothing applied)."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        super().__init__(list(errors))
        self.errors: list[SpecError] = list(errors)

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


# --- rules shared by the YAML and the proto paths -------------------------------------------


@dataclass(frozen=True)
class _Names:
    """Where each logical field lives, for error messages."""

    name: str
    domain: str
    description: str
    labels: str
    env: str
    command: str
    command_required: str
    args: str
    arg: str  # format string taking the index
    script: str
    working_dir: str
    run_as: str
    timeout: str
    agent_selector: str
    lost_policy: str
    max_attempts: str
    task_type: str


_YAML_NAMES = _Names(
    name="metadata.name",
    domain="metadata.domain",
    description="metadata.description",
    labels="metadata.labels",
    env="spec.env",
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

_PROTO_NAMES = _Names(
    name="name",
    domain="domain",
    description="description",
    labels="labels",
    env="env",
    command="command",
    command_required="required: set argv or shell",
    args="command.argv.args",
    arg="command.argv.args[{}]",
    script="command.shell",
    working_dir="working_dir",
    run_as="run_as",
    timeout="timeout_seconds",
    agent_selector="agent_selector",
    lost_policy="lost_policy",
    max_attempts="max_attempts",
    task_type="task_type",
)


@dataclass
class _Fields:
    """A job reduced to plain values; None means absent or already reported as malformed."""

    name: str | None = ""  # "" is reported as missing
    domain: str | None = None
    description: str | None = None
    labels: list[tuple[str, str | None]] = field(default_factory=list)
    labels_count: int = 0
    env: list[tuple[str, str | None]] = field(default_factory=list)
    env_count: int = 0
    command_reported: bool = False
    args: list[tuple[int, str]] | None = None
    args_count: int = 0
    script: str | None = None
    working_dir: str | None = None
    run_as: str | None = None  # "" (or absent) runs the job as the agent's user
    timeout: int | None = None
    agent_selector: list[tuple[str, str | None]] = field(default_factory=list)
    agent_selector_count: int = 0
    lost_policy: int | None = None  # a LostPolicy value
    max_attempts: int | None = None
    task_type: int | None = None  # a TaskType value
    command_present: bool = False  # a command or script was given (valid or not)


def _identifier_problem(value: str, max_len: int) -> str | None:
    if len(value) > max_len:
        return f"must be at most {max_len} characters (got {len(value)})"
    if not _NAME_RE.fullmatch(value):
        return _NAME_CHARSET
    return None


def _label_key_problem(key: str) -> str | None:
    if not key:
        return "key must not be empty"
    if len(key) > MAX_LABEL_KEY_LEN:
        return f"key must be at most {MAX_LABEL_KEY_LEN} characters (got {len(key)})"
    if not _LABEL_KEY_RE.fullmatch(key):
        return "key must contain only letters, digits, '.', '_', '-' and '/', and start and end with a letter or digit"
    return None


def _label_value_problem(value: str) -> str | None:
    if len(value) > MAX_LABEL_VALUE_LEN:
        return f"must be at most {MAX_LABEL_VALUE_LEN} characters (got {len(value)})"
    for char in value:
        if unicodedata.category(char) == "Cc":
            return f"must not contain control characters (found U+{ord(char):04X})"
    return None


def _env_key_problem(key: str) -> str | None:
    if not _ENV_KEY_RE.fullmatch(key):
        return "key must be a valid environment variable name (letters, digits and '_', not starting with a digit)"
    return None


def _env_value_problem(value: str) -> str | None:
    if len(value) > MAX_ENV_VALUE_LEN:
        return f"must be at most {MAX_ENV_VALUE_LEN} characters (got {len(value)})"
    if "\0" in value:
        return "must not contain NUL characters"
    return None


def _entry_field(base: str, key: object) -> str:
    if isinstance(key, str):
        if _PLAIN_KEY_RE.fullmatch(key):
            return f"{base}.{key}"
        return f"{base}[{_quote(key)}]"
    return f"{base}.{key}"


def _check_map(
    entries: list[tuple[str, str | None]],
    count: int,
    base: str,
    max_entries: int,
    key_problem: Callable[[str], str | None],
    value_problem: Callable[[str], str | None],
    err: Callable[[str, str], None],
) -> None:
    if count > max_entries:
        err(base, f"must have at most {max_entries} entries (got {count})")
    for key, value in entries:
        where = _entry_field(base, key)
        problem = key_problem(key)
        if problem:
            err(where, problem)
        if value is not None:
            problem = value_problem(value)
            if problem:
                err(where, problem)


def _check_fields(fields: _Fields, names: _Names, err: Callable[[str, str], None]) -> None:
    if fields.name is not None:
        if not fields.name:
            err(names.name, "required")
        elif problem := _identifier_problem(fields.name, MAX_NAME_LEN):
            err(names.name, problem)
    if fields.domain and (problem := _identifier_problem(fields.domain, MAX_DOMAIN_LEN)):
        err(names.domain, problem)
    if fields.description is not None and len(fields.description) > MAX_DESCRIPTION_LEN:
        err(
            names.description,
            f"must be at most {MAX_DESCRIPTION_LEN} characters (got {len(fields.description)})",
        )
    _check_map(
        fields.labels,
        fields.labels_count,
        names.labels,
        MAX_LABELS,
        _label_key_problem,
        _label_value_problem,
        err,
    )
    _check_map(fields.env, fields.env_count, names.env, MAX_ENV, _env_key_problem, _env_value_problem, err)
    _check_map(
        fields.agent_selector,
        fields.agent_selector_count,
        names.agent_selector,
        MAX_AGENT_SELECTOR,
        _label_key_problem,
        _label_value_problem,
        err,
    )

    type_known = fields.task_type is None or fields.task_type in TASK_TYPES.values()
    if not type_known:
        err(names.task_type, f"must be COMMAND or EMPTY (got {fields.task_type})")
    if fields.task_type == jobs_pb2.EMPTY:
        if fields.command_present:
            err(names.command, _EMPTY_JOB_REASON)
    elif type_known and fields.args is None and fields.script is None and not fields.command_reported:
        err(names.command, names.command_required)
    if fields.args is not None:
        if fields.args_count == 0:
            err(names.args, "must not be empty")
        elif fields.args_count > MAX_ARGS:
            err(names.args, f"must have at most {MAX_ARGS} arguments (got {fields.args_count})")
        for index, arg in fields.args:
            if not arg:
                err(names.arg.format(index), "must not be empty")
            elif "\0" in arg:
                err(names.arg.format(index), "must not contain NUL characters")
    if fields.script is not None:
        size = len(fields.script.encode())
        if not fields.script.strip():
            err(names.script, "must not be empty")
        elif size > MAX_SCRIPT_BYTES:
            err(names.script, f"must be at most 1 MiB (got {size} bytes)")
        elif "\0" in fields.script:
            err(names.script, "must not contain NUL characters")

    if fields.working_dir:
        size = len(fields.working_dir.encode())
        if not fields.working_dir.startswith("/"):
            err(names.working_dir, "must be an absolute path (starting with /)")
        elif "\0" in fields.working_dir:
            err(names.working_dir, "must not contain NUL characters")
        elif size > MAX_WORKING_DIR_BYTES:
            err(names.working_dir, f"must be at most {MAX_WORKING_DIR_BYTES} bytes (got {size})")
    if fields.run_as and not _USER_NAME_RE.fullmatch(fields.run_as):
        err(names.run_as, _USER_NAME_RULE)
    if fields.timeout is not None:
        if fields.timeout < 0:
            err(names.timeout, "must not be negative")
        elif fields.timeout > MAX_TIMEOUT_SECONDS:
            err(names.timeout, f"must be at most 31d ({MAX_TIMEOUT_SECONDS} seconds)")
    if fields.lost_policy is not None and fields.lost_policy not in LOST_POLICIES.values():
        err(names.lost_policy, f"must be RETRY or FAIL (got {fields.lost_policy})")
    if fields.max_attempts is not None and not 0 <= fields.max_attempts <= MAX_ATTEMPTS:
        err(
            names.max_attempts,
            f"must be from 1 to {MAX_ATTEMPTS} (0 or absent: the default, {DEFAULT_MAX_ATTEMPTS}); "
            f"got {fields.max_attempts}",
        )


def _size_problem(spec: jobs_pb2.JobSpec) -> str | None:
    size = spec.ByteSize()
    if size > MAX_SPEC_BYTES:
        return f"job definition is too large: {size} bytes serialized, the limit is 2 MiB"
    return None


# --- proto path --------------------------------------------------------------------------


def validate_spec(spec: jobs_pb2.JobSpec) -> list[SpecError]:
    """Check a JobSpec that arrived over gRPC; returns errors with proto-style field names.

    Pure and deterministic: the replicated state machine calls it again at apply time, so
    it must give the same answer on every replica (maps are walked in sorted order).
    """
    errors: list[SpecError] = []

    def err(where: str, reason: str) -> None:
        errors.append(SpecError(where, reason))

    # An unknown field means the client has a newer schema; dropping it silently would
    # store a different job than the one the user asked for.
    messages: list[tuple[str, Any]] = [("", spec)]
    if spec.HasField("command"):
        messages.append(("command", spec.command))
        if spec.command.HasField("argv"):
            messages.append(("command.argv", spec.command.argv))
    for where, message in messages:
        numbers = sorted({f.field_number for f in unknown_fields.UnknownFieldSet(message)})
        for number in numbers:
            err(where, f"unknown field number {number} (is the client newer than the server?)")

    kind = spec.command.WhichOneof("kind") if spec.HasField("command") else None
    if spec.task_type == jobs_pb2.EMPTY:
        kind = None  # the command of a job that must not have one is reported as a whole
    args = list(spec.command.argv.args) if kind == "argv" else None
    fields = _Fields(
        name=spec.name,
        domain=spec.domain,
        description=spec.description,
        labels=sorted(spec.labels.items()),
        labels_count=len(spec.labels),
        env=sorted(spec.env.items()),
        env_count=len(spec.env),
        args=list(enumerate(args)) if args is not None else None,
        args_count=len(args) if args is not None else 0,
        script=spec.command.shell if kind == "shell" else None,
        working_dir=spec.working_dir,
        run_as=spec.run_as,
        timeout=spec.timeout_seconds,
        agent_selector=sorted(spec.agent_selector.items()),
        agent_selector_count=len(spec.agent_selector),
        lost_policy=spec.lost_policy,
        max_attempts=spec.max_attempts,
        task_type=spec.task_type,
        command_present=spec.HasField("command"),
    )
    _check_fields(fields, _PROTO_NAMES, err)
    if problem := _size_problem(spec):
        err("", problem)
    return errors


def validate_specs(specs: Sequence[jobs_pb2.JobSpec]) -> list[SpecError]:
    """Check the jobs of one apply request: each job, duplicate names and the batch size."""
    errors: list[SpecError] = []
    if not specs:
        errors.append(SpecError("jobs", "at least one job is required"))
    elif len(specs) > MAX_JOBS_PER_APPLY:
        errors.append(SpecError("jobs", f"at most {MAX_JOBS_PER_APPLY} jobs per apply (got {len(specs)})"))
    first_index: dict[str, int] = {}
    for index, spec in enumerate(specs):
        prefix = f"jobs[{index}]"
        for error in validate_spec(spec):
            where = f"{prefix}.{error.field}" if error.field else prefix
            errors.append(SpecError(where, error.reason, error.source))
        if not spec.name:
            continue
        if spec.name in first_index:
            errors.append(
                SpecError(
                    f"{prefix}.name",
                    f"duplicate job name {_quote(spec.name)} (also jobs[{first_index[spec.name]}])",
                )
            )
        else:
            first_index[spec.name] = index
    return errors


def normalize(spec: jobs_pb2.JobSpec) -> jobs_pb2.JobSpec:
    """Return a copy with defaults filled in (domain "default")."""
    copy = jobs_pb2.JobSpec()
    copy.CopyFrom(spec)
    if not copy.domain:
        copy.domain = DEFAULT_DOMAIN
    return copy


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
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": body}


def _enum_yaml(names: dict[str, int], value: int) -> str | int:
    """The YAML spelling of an enum value; an unknown number stays a number (and fails validation)."""
    for name, number in names.items():
        if number == value:
            return name
    return value


# --- YAML path ---------------------------------------------------------------------------


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


def _quote(value: str, limit: int = 80) -> str:
    if len(value) > limit:
        value = value[:limit] + "..."
    return json.dumps(value)


def _describe(value: object) -> str:
    return _quote(value, 40) if isinstance(value, str) else _type_name(value)


def _unknown_field_reason(key: object, section: str) -> str:
    name = str(key)
    reason = f"unknown field {_quote(name)}"
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
            entry_where = _entry_field(where, entry_key)
            if not isinstance(entry_key, str):
                self.err(entry_where, f"key must be a string, got {_type_name(entry_key)} (put it in quotes)")
                continue
            if self.string(entry_key, entry_where) is None:
                continue
            entries.append((entry_key, self.string(entry_value, entry_where)))
        return entries, len(value)

    def duration(self, value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.err(
                _YAML_NAMES.timeout,
                f"{_DURATION_HINT}, or whole seconds as an integer, got {_type_name(value)}",
            )
            return None
        if isinstance(value, int):
            return value
        match = _DURATION_RE.fullmatch(value)
        if not value or match is None:
            self.err(
                _YAML_NAMES.timeout,
                f"{_DURATION_HINT} (or combined, like 1h30m), or whole seconds as an unquoted integer; "
                f"got {_quote(value, 40)}",
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
            self.err(where, f"must be {allowed}, got {_quote(value, 40)}")
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
            self.err("kind", f'required: must be "{KIND}"')
        elif kind != KIND:
            self.err("kind", f'must be "{KIND}", got {_describe(kind)}')
        if (api_version is not None and api_version != API_VERSION) or (kind is not None and kind != KIND):
            # Another kind or version has other fields; checking them as a Job would only add noise.
            return spec

        names = _YAML_NAMES
        metadata = self.mapping(doc, "metadata", "metadata")
        body = self.mapping(doc, "spec", "spec")
        fields = _Fields()

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

        _check_fields(fields, names, self.err)

        if fields.name:
            spec.name = fields.name
        if fields.domain:
            spec.domain = fields.domain
        if fields.description:
            spec.description = fields.description
        spec.labels.update({k: v for k, v in fields.labels if v is not None})
        spec.env.update({k: v for k, v in fields.env if v is not None})
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
        if problem := _size_problem(spec):
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
                        f"found duplicate key {_describe(key) if not isinstance(key, str) else _quote(key)}",
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


def _parse_text(text: str, source: str) -> tuple[list[tuple[jobs_pb2.JobSpec, str]], list[SpecError]]:
    """Every Job document in text with its source, and all errors found."""
    docs: list[tuple[jobs_pb2.JobSpec, str]] = []
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
            parser = _DocParser(_doc_source(source, number))
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
        errors.append(SpecError("", "no Job documents found (empty, or only comments)", source))
    return docs, errors


def _duplicate_errors(docs: list[tuple[jobs_pb2.JobSpec, str]]) -> list[SpecError]:
    errors: list[SpecError] = []
    first: dict[str, str] = {}
    for spec, source in docs:
        if not spec.name:
            continue
        if spec.name in first:
            errors.append(
                SpecError(
                    _YAML_NAMES.name,
                    f"duplicate job name {_quote(spec.name)} (also defined in {first[spec.name]})",
                    source,
                )
            )
        else:
            first[spec.name] = source
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
    return [spec for spec, _ in docs]


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
    """Load Job documents from files, directories (*.yaml, *.yml; not recursive) and '-' (stdin).

    Raises SpecErrors listing every problem in every file, including duplicate names across files.
    """
    errors: list[SpecError] = []
    docs: list[tuple[jobs_pb2.JobSpec, str]] = []
    if not paths:
        raise SpecErrors([SpecError("", "no files given")])
    seen: set[str] = set()
    for path in paths:
        files, error = _expand(path)
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
            docs.extend(file_docs)
            errors.extend(file_errors)
    errors.extend(_duplicate_errors(docs))
    if errors:
        raise SpecErrors(errors)
    return [spec for spec, _ in docs]

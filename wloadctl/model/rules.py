"""The rules that make a job definition valid, and its defaults: pure, no I/O.

Store.apply() runs them again at apply time and the API at its boundary, so they must give the
same answer on every replica. The YAML documents the CLI reads (documents.py) reduce to the
same `Fields` and are checked by the same `check_fields`, so the two paths can't drift; only the
field names in errors differ (YAML style "spec.workingDir", proto style "working_dir").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import unknown_fields

from wloadctl.model import scheduling
from wloadctl.model.secrets import ref_problem
from wloadctl.proto.v1 import jobs_pb2

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_MAX_ATTEMPTS",
    "LOST_POLICIES",
    "MAX_ATTEMPTS",
    "MAX_JOBS_PER_APPLY",
    "TASK_TYPES",
    "SpecError",
    "SpecErrors",
    "normalize",
    "validate_spec",
    "validate_specs",
]

DEFAULT_DOMAIN = "default"

MAX_NAME_LEN = 128
MAX_DOMAIN_LEN = 64
MAX_DESCRIPTION_LEN = 4096
MAX_LABELS = 64
MAX_LABEL_KEY_LEN = 63
MAX_LABEL_VALUE_LEN = 256
MAX_ENV = 256
MAX_ENV_VALUE_LEN = 32768
MAX_SECRET_ENV = 64
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

# Explicit ASCII classes and fullmatch() throughout: `\d` accepts non-ASCII digits and `$`
# accepts a trailing newline, both of which would let odd names through.
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_LABEL_KEY_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?")
_ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9._/-]{1,80}")
_USER_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

_NAME_CHARSET = "must contain only letters, digits, '.', '_' and '-', and start and end with a letter or digit"
_USER_NAME_RULE = (
    "must be a POSIX user name matching ^[a-z_][a-z0-9_-]{0,31}$ (lower-case letters, digits, '_' and '-', "
    "not starting with a digit or '-', at most 32 characters; leave it out to run as the agent's user)"
)


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
class FieldNames:
    """Where each logical field lives, for error messages."""

    name: str
    domain: str
    description: str
    labels: str
    env: str
    secret_env: str
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


_PROTO_NAMES = FieldNames(
    name="name",
    domain="domain",
    description="description",
    labels="labels",
    env="env",
    secret_env="secret_env",
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
class Fields:
    """A job reduced to plain values; None means absent or already reported as malformed."""

    name: str | None = ""  # "" is reported as missing
    domain: str | None = None
    description: str | None = None
    labels: list[tuple[str, str | None]] = field(default_factory=list)
    labels_count: int = 0
    env: list[tuple[str, str | None]] = field(default_factory=list)
    env_count: int = 0
    secret_env: list[tuple[str, str | None]] = field(default_factory=list)  # variable -> "SECRET/KEY"
    secret_env_count: int = 0
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


def entry_field(base: str, key: object) -> str:
    if isinstance(key, str):
        if _PLAIN_KEY_RE.fullmatch(key):
            return f"{base}.{key}"
        return f"{base}[{quote(key)}]"
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
        where = entry_field(base, key)
        problem = key_problem(key)
        if problem:
            err(where, problem)
        if value is not None:
            problem = value_problem(value)
            if problem:
                err(where, problem)


def check_fields(fields: Fields, names: FieldNames, err: Callable[[str, str], None]) -> None:
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
    _check_map(fields.secret_env, fields.secret_env_count, names.secret_env, MAX_SECRET_ENV, _env_key_problem,
               ref_problem, err)
    plain = {key for key, _ in fields.env}
    for key, _ in fields.secret_env:
        if key in plain:
            # Which one would win is an accident of merge order: say so instead of choosing.
            err(entry_field(names.secret_env, key), f"also set in {names.env}: a variable comes from one of them")
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


def size_problem(spec: jobs_pb2.JobSpec) -> str | None:
    size = spec.ByteSize()
    if size > MAX_SPEC_BYTES:
        return f"job definition is too large: {size} bytes serialized, the limit is 2 MiB"
    return None


def quote(value: str, limit: int = 80) -> str:
    if len(value) > limit:
        value = value[:limit] + "..."
    return json.dumps(value)


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
    messages += [(f"schedules[{i}]", schedule) for i, schedule in enumerate(spec.schedules)]
    if spec.HasField("misfire"):
        messages.append(("misfire", spec.misfire))
    for where, message in messages:
        numbers = sorted({f.field_number for f in unknown_fields.UnknownFieldSet(message)})
        for number in numbers:
            err(where, f"unknown field number {number} (is the client newer than the server?)")

    kind = spec.command.WhichOneof("kind") if spec.HasField("command") else None
    if spec.task_type == jobs_pb2.EMPTY:
        kind = None  # the command of a job that must not have one is reported as a whole
    args = list(spec.command.argv.args) if kind == "argv" else None
    fields = Fields(
        name=spec.name,
        domain=spec.domain,
        description=spec.description,
        labels=sorted(spec.labels.items()),
        labels_count=len(spec.labels),
        env=sorted(spec.env.items()),
        env_count=len(spec.env),
        secret_env=sorted(spec.secret_env.items()),
        secret_env_count=len(spec.secret_env),
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
    check_fields(fields, _PROTO_NAMES, err)
    scheduling.problems(spec, err)
    if problem := size_problem(spec):
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
                    f"duplicate job name {quote(spec.name)} (also jobs[{first_index[spec.name]}])",
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

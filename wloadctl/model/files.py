"""File-arrival triggers: the rules the CLI, the API, the state machine, the leader and the agents share.

A job's ``fileTriggers`` name a directory and a glob; the agents the job may run on watch them and
report each file once its size and modification time have held still for ``stableFor``. A file is
identified by (directory, glob, path, size, mtime): the same file reported twice, by one agent or
by two that share the directory, starts one run.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Callable
from typing import Any

from wloadctl.proto.v1 import jobs_pb2

MAX_FILE_TRIGGERS = 8
MAX_STABLE_MS = 3600 * 1000
DEFAULT_STABLE_MS = 5000
DEFAULT_PARAM = "file"
MAX_PATH = 4096
YAML_KEYS = ("directory", "glob", "stableFor", "param", "includeExisting")
_PARAM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")

Err = Callable[[str, str], None]


def stable_ms(trigger: jobs_pb2.FileTrigger) -> int:
    return trigger.stable_ms or DEFAULT_STABLE_MS


def param(trigger: jobs_pb2.FileTrigger) -> str:
    return trigger.param or DEFAULT_PARAM


def watch_id(job_name: str, index: int, trigger: jobs_pb2.FileTrigger) -> str:
    """Stable across versions of the job while the directory and glob stay the same (an agent keeps
    what it already reported); a changed directory or glob is a new watch."""
    fingerprint = hashlib.sha256(f"{trigger.directory}\0{trigger.glob}".encode()).hexdigest()[:12]
    return f"{job_name}/{index}:{fingerprint}"


def arrival_key(job_name: str, watch: str, path: str, size: int, mtime_ns: int) -> str:
    """The idempotency key of one file's run: the same file never starts two runs of the job."""
    digest = hashlib.sha256(f"{job_name}\0{watch}\0{path}\0{size}\0{mtime_ns}".encode()).hexdigest()[:40]
    return f"file-{digest}"


def matches(trigger: jobs_pb2.FileTrigger, path: str) -> bool:
    """Whether ``path`` is a file directly in the trigger's directory whose name matches its glob."""
    directory, name = os.path.split(path)
    return os.path.normpath(directory) == os.path.normpath(trigger.directory) and bool(name) \
        and fnmatch.fnmatchcase(name, trigger.glob)


def problems(spec: jobs_pb2.JobSpec, err: Err, yaml_names: bool = False) -> None:
    field = "spec.fileTriggers" if yaml_names else "file_triggers"
    if len(spec.file_triggers) > MAX_FILE_TRIGGERS:
        err(field, f"at most {MAX_FILE_TRIGGERS}")
        return
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(spec.file_triggers):
        where = f"{field}[{i}]"
        if not t.directory.startswith("/") or len(t.directory) > MAX_PATH or "\0" in t.directory:
            err(f"{where}.directory", "an absolute path (up to 4096 characters)")
        if not t.glob or "/" in t.glob or "\0" in t.glob or len(t.glob) > 255:
            err(f"{where}.glob", 'a file name pattern like "*.csv" (no "/", up to 255 characters)')
        if t.stable_ms > MAX_STABLE_MS:
            err(f"{where}.{'stableFor' if yaml_names else 'stable_ms'}", "at most 1 hour")
        if t.param and not _PARAM_KEY.fullmatch(t.param):
            err(f"{where}.param", "a parameter name: 1-128 letters, digits, '_', '.' or '-', not starting with a digit")
        if (t.directory, t.glob) in seen:
            err(where, "the same directory and glob twice")
        seen.add((t.directory, t.glob))


def parse(value: Any, spec: jobs_pb2.JobSpec, err: Err, duration: Callable[[object, str], int | None]) -> None:
    """``spec.fileTriggers`` of a job document."""
    if not isinstance(value, list):
        err("spec.fileTriggers", "must be a list of {directory, glob, stableFor, param, includeExisting}")
        return
    for i, item in enumerate(value):
        where = f"spec.fileTriggers[{i}]"
        if not isinstance(item, dict):
            err(where, "must be a mapping with directory and glob")
            continue
        for key in item:
            if key not in YAML_KEYS:
                err(f"{where}.{key}", f"unknown field (known: {', '.join(YAML_KEYS)})")
        trigger = jobs_pb2.FileTrigger()
        for key, attr in (("directory", "directory"), ("glob", "glob"), ("param", "param")):
            raw = item.get(key, "")
            if not isinstance(raw, str):
                err(f"{where}.{key}", "must be a string")
            else:
                setattr(trigger, attr, raw)
        if "directory" not in item or "glob" not in item:
            err(where, "needs directory and glob")
        if "stableFor" in item:
            seconds = duration(item["stableFor"], f"{where}.stableFor")
            if seconds is not None:
                trigger.stable_ms = max(1, min(seconds * 1000, MAX_STABLE_MS + 1))
        existing = item.get("includeExisting", False)
        if not isinstance(existing, bool):
            err(f"{where}.includeExisting", "must be true or false")
        else:
            trigger.include_existing = existing
        spec.file_triggers.append(trigger)


def render(spec: jobs_pb2.JobSpec) -> list[dict[str, Any]]:
    out = []
    for t in spec.file_triggers:
        item: dict[str, Any] = {"directory": t.directory, "glob": t.glob}
        if t.stable_ms:
            item["stableFor"] = f"{-(-t.stable_ms // 1000)}s"  # documents speak whole seconds
        if t.param:
            item["param"] = t.param
        if t.include_existing:
            item["includeExisting"] = True
        out.append(item)
    return out

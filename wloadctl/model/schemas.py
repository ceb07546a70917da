"""JSON Schemas (draft 2020-12) of the YAML documents users write: Job, Workflow and Calendar.

Editors (VS Code's YAML extension and anything else that speaks yaml-language-server) validate and
complete job files with them; `wloadctl schema KIND` prints one and the package ships them as
wloadctl/schemas/<kind>.schema.json (written by scripts/gen_schemas.py from this module).

This module is the one source of the schemas. The limits, patterns and enum spellings come from
the model's own constants (rules.py, scheduling.py, files.py, workflows.py, calendars.py), and
tests/unit/test_document_schemas.py checks that every section lists exactly the fields its parser
knows, so a field added to a parser and not here fails a test. The parsers stay the authority: a
schema says what the shape of a document is (fields, types, enums, name patterns, sizes), not the
rules that need the whole document or the cluster (a cron expression that never fires, a DAG
cycle, a calendar that does not exist).
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from wloadctl.model import files, rules, scheduling, workflow_documents, workflows
from wloadctl.model import secrets as secret_rules
from wloadctl.scheduler import calendars, task_policy

__all__ = ["DRAFT", "KINDS", "all_kinds_schema", "file_name", "json_view", "render", "schema", "summary"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
API_VERSION = "wloadctl/v1"
# The kinds, in the order `wloadctl schema` lists them; "all" is every kind in one schema.
KINDS = ("Job", "Workflow", "Calendar")
ALL = "all"

_SUMMARIES = {
    "Job": "A job: what to run (a command or a script), where, and when (schedules, events, file arrivals).",
    "Workflow": "A workflow: a DAG of tasks (commands, scripts, jobs, sub-workflows, switches) run together.",
    "Calendar": "A business calendar: working weekdays and holidays that jobs and workflows schedule by.",
    ALL: "Any wloadctl document (Job, Workflow or Calendar), chosen by its kind: for files that mix kinds.",
}


def _anchored(pattern: re.Pattern[str] | str) -> str:
    """A fullmatch() pattern of the model as a JSON Schema pattern (those match anywhere)."""
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return f"^(?:{text})$"


def _str(description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **more}


def _enum(description: str, values: Any) -> dict[str, Any]:
    return {"type": "string", "enum": list(values), "description": description}


def _ref(name: str, description: str) -> dict[str, Any]:
    # In 2020-12 a $ref may have siblings: the description shows in editors at the point of use.
    return {"$ref": f"#/$defs/{name}", "description": description}


def _closed(properties: dict[str, Any], description: str, required: tuple[str, ...] = (),
            **more: Any) -> dict[str, Any]:
    """An object with exactly these fields (the parsers refuse unknown ones)."""
    out: dict[str, Any] = {"type": "object", "description": description, "properties": properties,
                           "additionalProperties": False}
    if required:
        out["required"] = list(required)
    out.update(more)
    return out


_DURATION_PATTERN = r"^(?=.)(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?$"


def _defs() -> dict[str, Any]:
    """The definitions the kinds share (a combined schema merges them)."""
    label_key = {"type": "string", "minLength": 1, "maxLength": rules.MAX_LABEL_KEY_LEN,
                 "pattern": _anchored(rules._LABEL_KEY_RE)}
    label_value = {"type": "string", "maxLength": rules.MAX_LABEL_VALUE_LEN,
                   "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}
    env_key = {"type": "string", "pattern": _anchored(rules._ENV_KEY_RE)}
    return {
        "duration": {
            "description": "A duration: 90s, 15m, 2h, 1d or combined (1h30m), or whole seconds as an integer.",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": _DURATION_PATTERN},
            ],
        },
        "name": {
            "type": "string", "minLength": 1, "maxLength": rules.MAX_NAME_LEN,
            "pattern": _anchored(rules._NAME_RE),
            "description": f"Letters, digits, '.', '_' and '-', starting and ending with a letter or digit "
                           f"(at most {rules.MAX_NAME_LEN} characters).",
        },
        "domain": {
            "type": "string", "minLength": 1, "maxLength": rules.MAX_DOMAIN_LEN,
            "pattern": _anchored(rules._NAME_RE),
            "description": f"The business domain (default \"{rules.DEFAULT_DOMAIN}\"): who may see and change "
                           f"it. Letters, digits, '.', '_' and '-' (at most {rules.MAX_DOMAIN_LEN}).",
        },
        "description": {"type": "string", "maxLength": rules.MAX_DESCRIPTION_LEN,
                        "description": "Free text for people."},
        "labels": {
            "type": "object", "maxProperties": rules.MAX_LABELS, "propertyNames": label_key,
            "additionalProperties": label_value,
            "description": f"key: value pairs to select by (`wloadctl get jobs -l team=ops`); at most "
                           f"{rules.MAX_LABELS}, keys up to {rules.MAX_LABEL_KEY_LEN} characters, values up to "
                           f"{rules.MAX_LABEL_VALUE_LEN}. Quote values that look like numbers or booleans.",
        },
        "selector": {
            "type": "object", "maxProperties": rules.MAX_AGENT_SELECTOR, "propertyNames": label_key,
            "additionalProperties": label_value,
            "description": "Run only on agents that have all these labels (same rules as labels).",
        },
        "env": {
            "type": "object", "maxProperties": rules.MAX_ENV, "propertyNames": env_key,
            "additionalProperties": {"type": "string", "maxLength": rules.MAX_ENV_VALUE_LEN},
            "description": "Environment variables of the process (strings: quote numbers).",
        },
        "argv": {
            "type": "array", "minItems": 1, "maxItems": rules.MAX_ARGS,
            "items": {"type": "string", "minLength": 1},
            "description": "The program and its arguments, run without a shell; or use script.",
        },
        "script": {
            "type": "string", "pattern": "\\S",
            "description": "A shell script, run by /bin/sh -c; or use command.",
        },
        "workingDir": {"type": "string", "pattern": "^/", "description": "Absolute working directory."},
        "runAs": {
            "type": "string", "pattern": f"^(?:|{rules._USER_NAME_RE.pattern})$",
            "description": "POSIX user to run as (the agent must allow it, allowed_run_as); absent or \"\": "
                           "the agent's user.",
        },
        "timeZone": {"type": "string", "minLength": 1,
                     "description": "IANA time zone the cron schedules are read in, like Europe/Berlin "
                                    "(default UTC)."},
        "instant": {
            "type": "string", "minLength": 1,
            "description": "An RFC 3339 time like 2027-01-04T09:00:00+01:00 (without an offset: in timeZone).",
        },
        "schedule": {
            "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
            "description": "Exactly one of cron, every or at.",
            "properties": {
                "cron": _str("A cron expression: 5 fields (minute hour day month weekday), or 6 with "
                             "seconds first. Quote it.", minLength=1, maxLength=scheduling.MAX_CRON_LEN),
                "every": _ref("duration", "A fixed interval, from start (or the Unix epoch), in UTC."),
                "at": _ref("instant", "Once, at this time."),
            },
        },
        "misfire": {
            "description": "What to do with slots missed while no leader could fire them: a policy name, "
                           "or {policy, grace, window, maxCount}.",
            "oneOf": [
                _enum("The policy.", scheduling.MISFIRE),
                _closed({
                    "policy": _enum("run-latest (default): one run for the latest missed slot; skip; run-all.",
                                    scheduling.MISFIRE),
                    "grace": _ref("duration", "A slot this late still runs as if on time."),
                    "window": _ref("duration", "Only slots missed within this window are considered."),
                    "maxCount": {"type": "integer", "minimum": 1, "maximum": scheduling.MAX_MISFIRE_COUNT,
                                 "description": "run-all starts at most this many runs."},
                }, "The misfire policy and its bounds."),
            ],
        },
        "event": {
            "description": "An event name, or {name, params} mapping run parameters to the event's.",
            "oneOf": [
                _str("The event's name.", pattern=_anchored(scheduling._EVENT_NAME)),
                _closed({
                    "name": _str("The event's name.", pattern=_anchored(scheduling._EVENT_NAME)),
                    "params": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "RUN_PARAM: EVENT_PARAM (names only)."},
                }, "An event with parameters.", required=("name",)),
            ],
        },
        "fileTrigger": _closed({
            "directory": _str("Absolute path of the directory the agents watch.", pattern="^/"),
            "glob": _str('A file name pattern like "*.csv" (no "/").', minLength=1, maxLength=255,
                         pattern="^[^/]*$"),
            "stableFor": _ref("duration", "A file counts once its size and mtime held still this long "
                                          f"(default {files.DEFAULT_STABLE_MS // 1000}s, at most 1h)."),
            "param": _str(f"The run parameter that gets the file's path (default \"{files.DEFAULT_PARAM}\").",
                          pattern=_anchored(files._PARAM_KEY)),
            "includeExisting": {"type": "boolean",
                                "description": "Also start runs for files already there when the job is applied."},
        }, "Start a run for each file that arrives in a directory.", required=("directory", "glob")),
        "calendarName": {
            "type": "string", "pattern": _anchored(calendars._NAME),
            "description": "The name of a Calendar document.",
        },
        "strings": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "A mapping of strings to strings."},
    }


def _scheduling_properties(workflow: bool = False) -> dict[str, Any]:
    """The scheduling fields of a job's spec (a workflow's spec has them too, less a few)."""
    what = "workflow" if workflow else "job"
    overlap = ("allow", "forbid") if workflow else tuple(scheduling.OVERLAP)
    props: dict[str, Any] = {
        "schedules": {
            "type": "array", "minItems": 1, "maxItems": scheduling.MAX_SCHEDULES, "items": {"$ref": "#/$defs/schedule"},
            "description": f"When the {what} runs: a list of {{cron}}, {{every}} or {{at}} "
                           f"(at most {scheduling.MAX_SCHEDULES}).",
        },
        "timeZone": _ref("timeZone", "IANA zone the cron schedules are read in (default UTC)."),
        "start": _ref("instant", "No slot before this time."),
        "end": _ref("instant", "No slot after this time."),
        "jitter": _ref("duration", f"Each slot runs up to this much later, fixed per {what} (at most 1d)."),
        "dst": _closed({
            "gap": _enum("A local time skipped by a DST change: shift (default) runs at the first valid time, "
                         "skip does not run.", scheduling.DST_GAP),
            "repeat": _enum("A local time repeated by a DST change: once (default) or twice.", scheduling.DST_REPEAT),
        }, "How cron schedules treat daylight saving time changes."),
        "misfire": {"$ref": "#/$defs/misfire"},
        "overlap": _enum("When a slot comes while the previous run is still going: "
                         + ("allow (default) or forbid." if workflow else
                            "allow (default), forbid, replace, buffer-one or buffer-all."), overlap),
        "suspended": {"type": "boolean", "description": "true: the schedules do not fire (until resumed)."},
        "calendars": {
            "type": "array", "maxItems": scheduling.MAX_JOB_CALENDARS, "items": {"$ref": "#/$defs/calendarName"},
            "description": f"Run only on working days of these calendars (at most {scheduling.MAX_JOB_CALENDARS}).",
        },
        "nonWorkingDay": _enum("A slot on a non-working day: skip (default), next or previous working day.",
                               scheduling.NON_WORKING),
        "businessDayStart": _str('Local time a business date starts at, "HH:MM" (quoted), like "06:00".',
                                 pattern=_anchored(scheduling._HHMM)),
        "events": {
            "type": "array", "maxItems": scheduling.MAX_EVENT_TRIGGERS, "items": {"$ref": "#/$defs/event"},
            "description": f"Events that start a run (wloadctl event emit; at most {scheduling.MAX_EVENT_TRIGGERS}).",
        },
        "keepRuns": {"type": "integer", "minimum": 1, "maximum": scheduling.MAX_KEEP_RUNS,
                     "description": "Keep at most this many finished runs."},
    }
    if not workflow:
        props["keepRunsFor"] = _ref("duration", "Keep finished runs this long (at most 10 years).")
        props["fileTriggers"] = {
            "type": "array", "maxItems": files.MAX_FILE_TRIGGERS, "items": {"$ref": "#/$defs/fileTrigger"},
            "description": f"Directories to watch for arriving files (at most {files.MAX_FILE_TRIGGERS}).",
        }
    return props


# timeZone, start, end and jitter need at least one schedule (scheduling.problems).
_NEEDS_SCHEDULES = {key: ["schedules"] for key in ("timeZone", "start", "end", "jitter")}


def _header(kind: str, api_version_required: bool) -> tuple[dict[str, Any], list[str]]:
    props = {
        "apiVersion": {"const": API_VERSION,
                       "description": f"Always {API_VERSION}" + ("." if api_version_required else " (optional).")},
        "kind": {"const": kind, "description": f"What the document defines: a {kind}."},
    }
    return props, (["apiVersion", "kind"] if api_version_required else ["kind"])


def _job() -> dict[str, Any]:
    top, required = _header("Job", api_version_required=False)
    metadata = _closed({
        "name": _ref("name", "The job's name, unique in the cluster (required)."),
        "domain": {"$ref": "#/$defs/domain"},
        "description": {"$ref": "#/$defs/description"},
        "labels": {"$ref": "#/$defs/labels"},
    }, "Who the job is: name, domain, description and labels.", required=("name",))
    spec_props: dict[str, Any] = {
        "type": _enum("command (default): runs command or script; empty: runs nothing (join points).",
                      rules.TASK_TYPES),
        "command": {"$ref": "#/$defs/argv"},
        "script": {"$ref": "#/$defs/script"},
        "env": {"$ref": "#/$defs/env"},
        "secretEnv": {
            "type": "object", "maxProperties": rules.MAX_SECRET_ENV,
            "propertyNames": {"type": "string", "pattern": _anchored(rules._ENV_KEY_RE)},
            "additionalProperties": {
                "type": "string",
                "pattern": f"^(?:{secret_rules._NAME_RE.pattern})/(?:{secret_rules._KEY_RE.pattern})$",
            },
            "description": "Variables whose values come from secrets of the job's domain, as SECRET/KEY "
                           "(wloadctl secret set); not also in env.",
        },
        "workingDir": {"$ref": "#/$defs/workingDir"},
        "runAs": {"$ref": "#/$defs/runAs"},
        "timeout": _ref("duration", "Kill the run after this long (at most 31d); absent: no timeout."),
        "agentSelector": {"$ref": "#/$defs/selector"},
        "lostPolicy": _enum("When the agent running the job is lost: retry (default) on another agent, or fail.",
                            rules.LOST_POLICIES),
        "maxAttempts": {"type": "integer", "minimum": 0, "maximum": rules.MAX_ATTEMPTS,
                        "description": f"Attempts in all when agents are lost (1..{rules.MAX_ATTEMPTS}; 0 or absent: "
                                       f"{rules.DEFAULT_MAX_ATTEMPTS})."},
        **_scheduling_properties(),
    }
    has_command = [{"required": ["command"]}, {"required": ["script"]}]
    spec = _closed(spec_props, "What the job runs and when.", dependentRequired=_NEEDS_SCHEDULES,
                   **{"if": {"properties": {"type": {"const": "empty"}}, "required": ["type"]},
                      "then": {"not": {"anyOf": has_command}},
                      "else": {"oneOf": has_command}})
    return _closed({**top, "metadata": metadata, "spec": spec}, _SUMMARIES["Job"],
                   required=(*required, "metadata", "spec"))


_TASK_NAME = {"type": "string", "pattern": _anchored(workflows._TASK_NAME),
              "description": "1-64 letters, digits, '_' or '-', starting and ending with a letter or digit."}


def _task_properties(handler: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": {**_TASK_NAME, "description": "The task's name, unique in the workflow (required). "
                                              + _TASK_NAME["description"]},
        "command": {"$ref": "#/$defs/argv"},
        "script": {"$ref": "#/$defs/script"},
        "job": _ref("name", "Run this existing job (its command, env, selector...)."),
        "workflow": _ref("name", "Run this workflow as a sub-workflow."),
        "params": {"type": "object", "additionalProperties": {"type": "string"},
                   "propertyNames": {"pattern": _anchored(workflows._PARAM_KEY)},
                   "description": "Parameters for the sub-workflow (with workflow)."},
        "cases": {
            "type": "array", "minItems": 1, "maxItems": workflows.MAX_CASES,
            "description": "A switch: the first case whose when holds chooses the tasks it runs; the last may "
                           "omit when (the default).",
            "items": _closed({
                "when": _str("An expression (docs/expressions.md); quote it."),
                "run": {"description": "The task(s) this case runs.",
                        "oneOf": [_TASK_NAME, {"type": "array", "items": _TASK_NAME}]},
            }, "One case of a switch."),
        },
        "dependsOn": {"description": "Tasks that must end first (see triggerRule).",
                      "oneOf": [_TASK_NAME, {"type": "array", "maxItems": workflows.MAX_UPSTREAMS,
                                             "items": _TASK_NAME}]},
        "triggerRule": _enum("When the task runs, given its upstream tasks: all-succeeded (default), all-done, "
                             "any-failed, any-succeeded, none-failed or always.", workflow_documents.TRIGGER_RULES),
        "when": _str("A condition (docs/expressions.md): false skips the task. Quote it."),
        "retry": {
            "description": "Retries: a number of attempts, or {attempts, delay, backoff, maxDelay, exitCodes}.",
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": task_policy.MAX_RETRIES},
                _closed({
                    "attempts": {"type": "integer", "minimum": 0, "maximum": task_policy.MAX_RETRIES,
                                 "description": f"How many times to retry (at most {task_policy.MAX_RETRIES})."},
                    "delay": _ref("duration", "Wait this long before a retry (at most 1d)."),
                    "backoff": _enum("fixed (default) or exponential.", ("fixed", "exponential")),
                    "maxDelay": _ref("duration", "The longest exponential delay (at most 1d)."),
                    "exitCodes": {"type": "array", "maxItems": 64,
                                  "items": {"type": "integer", "minimum": -1, "maximum": 255},
                                  "description": "Retry only on these exit codes (-1: timeout or lost)."},
                }, "The retry policy."),
            ],
        },
        "waitFor": {
            "type": "array", "maxItems": workflows.MAX_WAITS,
            "description": "Cross-run dependencies: wait for another workflow's task or a job on a business day.",
            "items": _closed({
                "workflow": _ref("name", "The workflow whose run (of the business day) to wait for."),
                "task": {**_TASK_NAME, "description": "A task of that workflow."},
                "job": _ref("name", "A job whose run to wait for (instead of a workflow)."),
                "businessDays": {"type": "integer",
                                 "description": "Which business day: 0 the same, -1 the one before."},
                "calendar": _ref("calendarName", "The calendar business days are counted in."),
                "timeout": _ref("duration", "Give up waiting after this long."),
                "onTimeout": _str("What to do when the wait times out."),
            }, "One dependency."),
        },
        "agentSelector": {"$ref": "#/$defs/selector"},
        "timeout": _ref("duration", "Kill the task's run after this long."),
        "runAs": {"$ref": "#/$defs/runAs"},
        "env": {"$ref": "#/$defs/env"},
        "workingDir": {"$ref": "#/$defs/workingDir"},
        "description": {"$ref": "#/$defs/description"},
    }
    if handler:
        for key in ("workflow", "params", "cases", "dependsOn", "triggerRule", "when", "waitFor"):
            del props[key]
    return props


def _task(handler: bool) -> dict[str, Any]:
    props = _task_properties(handler)
    kinds = [k for k in ("command", "script", "job", "workflow", "cases") if k in props]
    what = "A handler task: runs once the other tasks ended and one failed." if handler else "A task of the DAG."
    return _closed(props, what, required=("name",), oneOf=[{"required": [k]} for k in kinds])


def _workflow() -> dict[str, Any]:
    top, required = _header("Workflow", api_version_required=True)
    metadata = _closed({
        "name": _ref("name", "The workflow's name (required)."),
        "domain": {"$ref": "#/$defs/domain"},
        "description": {"$ref": "#/$defs/description"},
        "labels": {"$ref": "#/$defs/labels"},
    }, "Who the workflow is: name, domain, description and labels.", required=("name",))
    spec = _closed({
        "params": {"type": "object", "maxProperties": workflows.MAX_PARAMS,
                   "propertyNames": {"pattern": _anchored(workflows._PARAM_KEY)},
                   "additionalProperties": {"type": "string", "maxLength": 4096},
                   "description": "Default parameters (WLOADCTL_PARAM_NAME in tasks; params.NAME in expressions)."},
        "tasks": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/task"},
                  "description": "The tasks (required): each a command, script, job, workflow or cases."},
        "onFailure": {"type": "array", "maxItems": workflows.MAX_HANDLERS, "items": {"$ref": "#/$defs/handler"},
                      "description": "Tasks that run once the others ended and one failed."},
        **_scheduling_properties(workflow=True),
    }, "The workflow's tasks, parameters and schedules.", required=("tasks",), dependentRequired=_NEEDS_SCHEDULES)
    return _closed({**top, "metadata": metadata, "spec": spec}, _SUMMARIES["Workflow"],
                   required=(*required, "metadata", "spec"))


def _calendar() -> dict[str, Any]:
    top, required = _header("Calendar", api_version_required=False)
    refs = {"type": "array", "maxItems": calendars.MAX_REFERENCES, "items": {"$ref": "#/$defs/calendarName"}}
    metadata = _closed({
        "name": {"$ref": "#/$defs/calendarName", "description": "The calendar's name (required)."},
        "description": {"$ref": "#/$defs/description"},
    }, "The calendar's name and description (calendars belong to no domain).", required=("name",))
    spec = _closed({
        "workingDays": {"type": "array", "uniqueItems": True, "items": {"enum": list(calendars.WEEKDAY_NAMES)},
                        "description": "Working weekdays (default mon to fri)."},
        "holidays": {"type": "array", "maxItems": calendars.MAX_HOLIDAYS,
                     "items": {"type": "string", "pattern": _anchored(calendars._DATE.pattern.replace("\\d", "[0-9]"))},
                     "description": "Dates YYYY-MM-DD that are not working days."},
        "include": {**refs, "description": "Calendars whose holidays are holidays here too."},
        "exclude": {**refs, "description": "Calendars whose holidays are working days here."},
    }, "Working weekdays and holidays.")
    return _closed({**top, "metadata": metadata, "spec": spec}, _SUMMARIES["Calendar"],
                   required=(*required, "metadata"))


def _used_defs(node: Any, defs: dict[str, Any], found: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] not in found:
            found.add(ref[8:])
            _used_defs(defs[ref[8:]], defs, found)
        for value in node.values():
            _used_defs(value, defs, found)
    elif isinstance(node, list):
        for value in node:
            _used_defs(value, defs, found)
    return found


def _all_defs() -> dict[str, Any]:
    return {**_defs(), "task": _task(handler=False), "handler": _task(handler=True)}


_BUILDERS = {"Job": _job, "Workflow": _workflow, "Calendar": _calendar}


def _canonical(kind: str) -> str:
    for known in (*KINDS, ALL):
        if kind.lower() == known.lower():
            return known
    raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)}, or {ALL})")


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind (any case: job, Job), or of every kind ("all")."""
    kind = _canonical(kind)
    if kind == ALL:
        return all_kinds_schema()
    body = _BUILDERS[kind]()
    every = _all_defs()
    used = sorted(_used_defs(body, every, set()))
    return {"$schema": DRAFT, "title": f"wloadctl {kind}",
            **body, "$defs": {name: every[name] for name in used}}


def all_kinds_schema() -> dict[str, Any]:
    """One schema for files that mix kinds: each document is checked by the schema of its kind."""
    every = _all_defs()
    bodies = {kind: _BUILDERS[kind]() for kind in KINDS}
    return {
        "$schema": DRAFT, "title": "wloadctl document",
        "description": _SUMMARIES[ALL],
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(KINDS), "description": "What the document defines."}},
        "allOf": [{"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                   "then": {"$ref": f"#/$defs/{kind}"}} for kind in KINDS],
        "$defs": {**{kind: bodies[kind] for kind in KINDS}, **every},
    }


def render(kind: str) -> str:
    """The schema as the shipped file holds it (ASCII JSON, two-space indent, newline at the end)."""
    return json.dumps(schema(kind), indent=2, ensure_ascii=True) + "\n"


def file_name(kind: str) -> str:
    return f"{_canonical(kind).lower()}.schema.json"


def summary(kind: str) -> str:
    return _SUMMARIES[_canonical(kind)]


def json_view(value: Any) -> Any:
    """A YAML document as editors see it, for validation: PyYAML reads an unquoted 2027-01-04 as a
    date, the JSON data model (and yaml-language-server) as a string."""
    if isinstance(value, dict):
        return {key: json_view(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_view(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value

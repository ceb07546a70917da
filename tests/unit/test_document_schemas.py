"""The JSON Schemas of the YAML kinds (wloadctl/model/schemas.py, shipped as wloadctl/schemas/*.json):
fresh, in step with the parsers' fields, accepting every example in the docs, and judging wrong
documents the way the repository's own loader does."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.docs.transcripts import blocks
from wloadctl.model import documents, files, scheduling, schemas, workflow_documents
from wloadctl.model.documents import parse_documents
from wloadctl.model.rules import SpecErrors

ROOT = Path(__file__).resolve().parents[2]


def _validator(kind: str = "all") -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schemas.schema(kind))


def _schema_errors(doc: Any, kind: str = "all") -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
            for e in _validator(kind).iter_errors(schemas.json_view(doc))]


def _loader_accepts(text: str) -> bool:
    try:
        parse_documents(text)
    except SpecErrors:
        return False
    return True


# ---- the shipped files -----------------------------------------------------------------------


def _gen_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "scripts" / "gen_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_schemas"] = module
    spec.loader.exec_module(module)
    return module


def test_shipped_schema_files_are_fresh(tmp_path: Path) -> None:
    written = _gen_module().generate(tmp_path)
    shipped = ROOT / "wloadctl" / "schemas"
    assert sorted(p.name for p in written) == sorted(p.name for p in shipped.glob("*.schema.json")), \
        "wloadctl/schemas/ holds other files than scripts/gen_schemas.py writes"
    stale = [p.name for p in written if p.read_text() != (shipped / p.name).read_text()]
    assert not stale, f"stale schemas {stale}: run python scripts/gen_schemas.py"


@pytest.mark.parametrize("kind", [*schemas.KINDS, "all"])
def test_schemas_are_valid_draft_2020_12_and_ascii(kind: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schemas.schema(kind))
    assert schemas.schema(kind)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schemas.render(kind).isascii()


def _undescribed(node: Any, where: str, defs: dict[str, Any]) -> list[str]:
    """Properties without a description (editors show it as help), recursively; a field that is
    only a $ref shows its definition's."""
    missing = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            ref = prop.get("$ref", "") if isinstance(prop, dict) else ""
            if isinstance(prop, dict) and "description" not in prop and "description" not in defs.get(ref[8:], {}):
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            if key in ("if", "not"):  # conditions, not fields
                continue
            missing += _undescribed(value, f"{where}.{key}" if key != "properties" else where, defs)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            missing += _undescribed(value, f"{where}[{i}]", defs)
    return missing


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_every_field_has_a_description(kind: str) -> None:
    schema = schemas.schema(kind)
    defs = schema["$defs"]
    assert not _undescribed(schema, kind, defs)
    assert not [name for name, d in defs.items() if "description" not in d]


# ---- the schemas know exactly the fields the parsers know ------------------------------------


def _props(schema: dict[str, Any], *path: str) -> set[str]:
    node = schema
    for key in path:
        node = node["properties"][key] if key in node.get("properties", {}) else node["$defs"][key]
    return set(node["properties"])


def test_job_schema_fields_are_the_parsers() -> None:
    job = schemas.schema("Job")
    assert _props(job) == set(documents._TOP_FIELDS)
    assert _props(job, "metadata") == set(documents._METADATA_FIELDS)
    assert _props(job, "spec") == set(documents._SPEC_FIELDS)
    assert set(job["$defs"]["fileTrigger"]["properties"]) == set(files.YAML_KEYS)
    assert set(job["$defs"]["schedule"]["properties"]) == {"cron", "every", "at"}
    assert set(job["properties"]["spec"]["properties"]["dst"]["properties"]) == {"gap", "repeat"}


def test_workflow_schema_fields_are_the_parsers() -> None:
    wf = schemas.schema("Workflow")
    assert _props(wf) == set(workflow_documents._TOP)
    assert _props(wf, "metadata") == set(workflow_documents._METADATA)
    # fileTriggers parse but are refused on workflows (model/workflows.py): not offered.
    assert _props(wf, "spec") == set(workflow_documents._SPEC) - {"fileTriggers"} | {"keepRuns"}
    assert set(wf["$defs"]["task"]["properties"]) == set(workflow_documents._TASK)
    assert set(wf["$defs"]["handler"]["properties"]) == set(workflow_documents._HANDLER)
    retry = wf["$defs"]["task"]["properties"]["retry"]["oneOf"][1]
    assert set(retry["properties"]) == set(workflow_documents._RETRY)
    assert set(wf["$defs"]["task"]["properties"]["waitFor"]["items"]["properties"]) == set(workflow_documents._WAIT)


def test_calendar_schema_fields_are_the_parsers() -> None:
    cal = schemas.schema("Calendar")
    assert _props(cal, "spec") == set(scheduling._CALENDAR_SPEC_FIELDS)
    assert _props(cal, "metadata") == {"name", "description"}


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Job, Workflow, Calendar"):
        schemas.schema("Pod")
    assert schemas.schema("job") == schemas.schema("Job")


# ---- every example in the docs validates ---------------------------------------------------

_HEREDOC = re.compile(r"<<(')?YAML'?\n(.*?)^(?:> )?YAML$", re.S | re.M)
_PRINTF = re.compile(r"printf '((?:kind|apiVersion): [^']*)'")


def _examples() -> list[tuple[str, str]]:
    """(where, YAML text) of every example document: ```yaml blocks, heredocs that write job files
    in shell blocks and transcripts, printf one-liners, and the example in a model docstring."""
    found = []
    for path in [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]:
        for block in blocks(path):
            where = f"{path.relative_to(ROOT)}:{block.line}"
            if block.lang == "yaml":
                found.append((where, block.text))
            for match in _HEREDOC.finditer(block.text):
                text = match.group(2)
                if block.lang == "console":  # a heredoc typed in a transcript: `> ` continues it
                    text = "".join(line[2:] if line.startswith("> ") else line for line in text.splitlines(True))
                if not match.group(1):  # unquoted: the shell expands it
                    text = text.replace("\\$", "$").replace("$PWD", "/srv/example")
                found.append((where, text))
            for match in _PRINTF.finditer(block.text):
                found.append((where, match.group(1).replace("\\n", "\n")))
    docstring = workflow_documents.__doc__ or ""
    found.append(("wloadctl/model/workflow_documents.py", docstring.split("```yaml\n")[1].split("```")[0]))
    return found


EXAMPLES = _examples()


def test_the_docs_have_examples_of_every_kind() -> None:
    kinds = {doc.get("kind") for _, text in EXAMPLES for doc in yaml.safe_load_all(text) if isinstance(doc, dict)}
    assert set(schemas.KINDS) <= kinds
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize(("where", "text"), EXAMPLES, ids=[f"{w}#{i}" for i, (w, _) in enumerate(EXAMPLES)])
def test_doc_example_validates_like_the_loader_says(where: str, text: str) -> None:
    problems = [f"{doc.get('kind')}: {p}" for doc in yaml.safe_load_all(text) if isinstance(doc, dict)
                for p in _schema_errors(doc)]
    if _loader_accepts(text):
        assert not problems, f"{where}: the loader accepts it, the schema does not:\n" + "\n".join(problems)
    else:
        # The docs' deliberate mistakes: a schema cannot know every rule (a misspelt time zone, a cron
        # that never fires), but what it refuses the loader refuses too.
        assert _loader_accepts(text) is False


def test_the_docs_invalid_job_is_refused_by_both() -> None:
    bad = [text for _, text in EXAMPLES if "bad name" in text]
    assert bad, "docs/cli.md's invalid job example moved"
    assert not _loader_accepts(bad[0])
    assert _schema_errors(yaml.safe_load(bad[0]))


# ---- the schema and the loader judge the same samples alike ---------------------------------

_JOB = "kind: Job\nmetadata: {name: backup}\nspec: {command: [/bin/true]}\n"


def _job_with(more: str) -> str:
    """_JOB with more fields in its spec (", timeout: 1h")."""
    return _JOB.replace("[/bin/true]}", f"[/bin/true]{more}}}")

_WF = ("apiVersion: wloadctl/v1\nkind: Workflow\nmetadata: {name: wf}\n"
       "spec:\n  tasks:\n    - {name: a, script: echo a}\n")

SAMPLES: list[tuple[str, bool, str]] = [
    ("minimal job", True, _JOB),
    ("full job", True, """\
apiVersion: wloadctl/v1
kind: Job
metadata: {name: nightly.backup-1, domain: ops, description: d, labels: {team: ops, tier: "1"}}
spec:
  script: |
    echo hi
  env: {TZ: UTC}
  secretEnv: {DB_PASSWORD: payroll-db/password}
  workingDir: /srv
  runAs: batch
  timeout: 1h30m
  agentSelector: {os: linux}
  lostPolicy: fail
  maxAttempts: 5
  schedules: [{cron: "30 2 * * *"}, {every: 6h}, {at: "2027-01-04T09:00:00+01:00"}]
  timeZone: Europe/Berlin
  jitter: 30
  dst: {gap: skip, repeat: twice}
  misfire: {policy: run-all, grace: 60s, window: 1d, maxCount: 10}
  overlap: buffer-one
  suspended: false
  calendars: [eu-banking]
  nonWorkingDay: next
  businessDayStart: "06:00"
  events: [orders.ready, {name: files.in, params: {path: file}}]
  keepRuns: 100
  keepRunsFor: 7d
  fileTriggers: [{directory: /in, glob: "*.csv", stableFor: 5s, param: path, includeExisting: true}]
"""),
    ("empty job", True, "kind: Job\nmetadata: {name: join}\nspec: {type: empty}\n"),
    ("misfire as a name", True, _job_with(", schedules: [{every: 1h}], misfire: skip")),
    ("unknown top-level field", False, _JOB + "status: {}\n"),
    ("unknown metadata field", False, _JOB.replace("{name: backup}", "{name: backup, owner: me}")),
    ("unknown spec field", False, _JOB.replace("[/bin/true]}", "[/bin/true], retries: 3}")),
    ("misspelt field", False, _JOB.replace("command:", "comand:")),
    ("no kind", False, _JOB.replace("kind: Job\n", "")),
    ("other apiVersion", False, "apiVersion: v2\n" + _JOB),
    ("no name", False, "kind: Job\nmetadata: {}\nspec: {command: [/bin/true]}\n"),
    ("bad name", False, _JOB.replace("backup", "bad name")),
    ("name too long", False, _JOB.replace("backup", "b" * 129)),
    ("command as a string", False, _JOB.replace("[/bin/true]", "/bin/true")),
    ("empty command", False, _JOB.replace("[/bin/true]", "[]")),
    ("a number in the command", False, _JOB.replace("[/bin/true]", "[/bin/sleep, 5]")),
    ("command and script", False, _JOB.replace("[/bin/true]}", "[/bin/true], script: x}")),
    ("neither command nor script", False, "kind: Job\nmetadata: {name: x}\nspec: {env: {A: b}}\n"),
    ("empty job with a command", False, _JOB.replace("{command", "{type: empty, command")),
    ("timeout true", False, _job_with(", timeout: true")),
    ("timeout 2w", False, _job_with(", timeout: 2w")),
    ("timeout as a float", False, _job_with(", timeout: 1.5")),
    ("maxAttempts as a string", False, _job_with(", maxAttempts: '3'")),
    ("maxAttempts 11", False, _job_with(", maxAttempts: 11")),
    ("label value a number", False, _JOB.replace("{name: backup}", "{name: backup, labels: {tier: 1}}")),
    ("env key with a dash", False, _job_with(", env: {MY-VAR: x}")),
    ("env value a number", False, _job_with(", env: {N: 5}")),
    ("relative workingDir", False, _job_with(", workingDir: srv")),
    ("runAs upper case", False, _job_with(", runAs: Admin")),
    ("lostPolicy upper case", False, _job_with(", lostPolicy: RETRY")),
    ("secretEnv without a key", False, _job_with(", secretEnv: {P: db}")),
    ("a schedule with two kinds", False, _job_with(", schedules: [{cron: '* * * * *', every: 1m}]")),
    ("cron as a number", False, _job_with(", schedules: [{cron: 5}]")),
    ("timeZone without schedules", False, _job_with(", timeZone: UTC")),
    ("unknown overlap", False, _job_with(", schedules: [{every: 1h}], overlap: queue")),
    ("suspended as a string", False, _job_with(", schedules: [{every: 1h}], suspended: 'no'")),
    ("businessDayStart unquoted minutes", False, _job_with(", businessDayStart: 25:00")),
    ("file trigger without glob", False, _job_with(", fileTriggers: [{directory: /in}]")),
    ("minimal workflow", True, _WF),
    ("workflow without apiVersion", False, _WF.replace("apiVersion: wloadctl/v1\n", "")),
    ("workflow without tasks", False, "apiVersion: wloadctl/v1\nkind: Workflow\nmetadata: {name: wf}\nspec: {}\n"),
    ("task with an unknown field", False, _WF.replace("script: echo a", "script: echo a, retries: 2")),
    ("task with a bad trigger rule", False, _WF.replace("script: echo a", "script: echo a, triggerRule: any")),
    ("task with nothing to run", False, _WF.replace(", script: echo a", "")),
    ("task with script and job", False, _WF.replace("script: echo a", "script: echo a, job: backup")),
    ("task retry as a mapping", True, _WF.replace("script: echo a", "script: echo a, retry: {attempts: 2, "
                                                                    "delay: 10s, backoff: exponential}")),
    ("task retry with a bad backoff", False, _WF.replace("script: echo a", "script: echo a, retry: {attempts: 2, "
                                                                            "backoff: linear}")),
    ("workflow overlap replace", False, _WF + "  schedules: [{every: 1h}]\n  overlap: replace\n"),
    ("calendar", True, "kind: Calendar\nmetadata: {name: eu}\nspec: {workingDays: [mon, tue], "
                       "holidays: [2026-12-25, '2027-01-01'], include: [base]}\n"),
    ("calendar with a domain", False, "kind: Calendar\nmetadata: {name: eu, domain: ops}\nspec: {}\n"),
    ("calendar with a bad weekday", False, "kind: Calendar\nmetadata: {name: eu}\nspec: {workingDays: [monday]}\n"),
    ("calendar with an unknown field", False, "kind: Calendar\nmetadata: {name: eu}\nspec: {weekends: [sat]}\n"),
]


@pytest.mark.parametrize(("what", "valid", "text"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_schema_and_loader_agree(what: str, valid: bool, text: str) -> None:
    doc = yaml.safe_load(text)
    assert _loader_accepts(text) is valid, f"the loader {'refuses' if valid else 'accepts'} {what}"
    problems = _schema_errors(doc)
    assert (not problems) is valid, f"the schema {'refuses' if valid else 'accepts'} {what}: {problems}"
    kind = doc.get("kind")
    if kind in schemas.KINDS:  # the kind's own schema says the same as the combined one
        assert (not _schema_errors(doc, kind)) is valid


# ---- wloadctl schema ----------------------------------------------------------------------------


def test_schema_command_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    from wloadctl.cli.main import main

    assert main(["schema", "job"]) == 0
    assert capsys.readouterr().out == (ROOT / "wloadctl" / "schemas" / "job.schema.json").read_text()
    assert main(["schema", "Workflow", "-o", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == schemas.schema("Workflow")
    assert main(["schema", "calendar", "--path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == "calendar.schema.json" and path.read_text() == schemas.render("Calendar")


def test_schema_command_lists_the_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    from wloadctl.cli.main import main

    assert main(["schema"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["KIND", "FILE", "DESCRIPTION"]
    assert [row.split()[0] for row in table[1:]] == [*schemas.KINDS, "all"]
    assert main(["schema", "--list", "-o", "json"]) == 0
    listed = yaml.safe_load(capsys.readouterr().out)
    assert [k["file"] for k in listed["kinds"]] == ["job.schema.json", "workflow.schema.json",
                                                    "calendar.schema.json", "all.schema.json"]
    with pytest.raises(SystemExit) as exc:
        main(["schema", "Pod"])
    assert exc.value.code == 2

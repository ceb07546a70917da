"""`wloadctl import crontab`: crontab lines (with their environment lines) as Job documents.

What each crontab construct becomes (as Vixie cron and cronie read them):

* `m h dom mon dow COMMAND` -> a job with `schedules: [{cron: "m h dom mon dow"}]` and
  `script: COMMAND` (cron runs the command with /bin/sh -c, so does a job's script). With
  `SHELL=/bin/bash` before it: `command: [/bin/bash, -c, COMMAND]`.
* `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually` -> the same
  5-field expressions cron uses for them. `@reboot` has no equivalent (jobs run on schedules,
  events and file arrivals, not at an agent's boot): skipped with a warning naming the line.
* `NAME=value` (quotes around the value removed, as cron does) -> `env` of the jobs that follow.
  `CRON_TZ` -> the `timeZone` of the jobs that follow (their schedules are read in that zone);
  `TZ` -> their environment and, without a CRON_TZ, their time zone too. `RANDOM_DELAY=N`
  (cronie, minutes) -> `jitter`. `MAILTO`/`MAILFROM` have no equivalent (a run's output is kept
  with the run: `wloadctl logs`): a warning, and a comment in the output.
* A system crontab (/etc/crontab, /etc/cron.d/*; or --system) has a user column after the time
  fields: it becomes `runAs` (the agents must allow that user, allowed_run_as).
* `%` in a command: cron ends the command at the first unescaped `%` and feeds the rest to its
  standard input, each further `%` a newline; `\\%` is a literal `%`. The job's script does the
  same with a here-document.

Job names come from the command's program (`/usr/local/bin/backup.sh --full` -> `backup.sh`),
made valid for the name rules, with -2, -3... for repeats; each job's description names its
line. Every job is checked by the same parser `wloadctl apply` uses, and a problem is reported
with its line number; nothing is printed unless every line converts.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from wloadctl.model.documents import API_VERSION, KIND, parse_documents
from wloadctl.model.rules import _ENV_KEY_RE as _ENV_KEY
from wloadctl.model.rules import MAX_DESCRIPTION_LEN, MAX_NAME_LEN, SpecErrors
from wloadctl.scheduler.triggers import ScheduleError, zone

__all__ = ["CrontabError", "Imported", "convert", "render"]

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
# Paths whose crontabs have the user column.
SYSTEM_PATHS = ("/etc/crontab", "/etc/cron.d/")
LABELS = {"imported-from": "crontab"}
# cron's own variables that configure cron, not the command.
_MAIL_VARIABLES = ("MAILTO", "MAILFROM", "CONTENT_TYPE", "CONTENT_TRANSFER_ENCODING")
_ENV_LINE = re.compile(r"\s*(?:\"([^\"]+)\"|'([^']+)'|([^\s=]+))\s*=\s*(.*?)\s*")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")
_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")
# Words that start a command without being what it runs: `cd /srv && ./run`, `sudo -u x backup`.
_WRAPPERS = frozenset({"sudo", "nice", "ionice", "nohup", "exec", "env", "time", "chronic", "flock", "timeout",
                       "cd", "test", "[", "[[", "!", "(", "{", "sh", "bash", "-c"})
_SCRIPT_SUFFIXES = frozenset({"sh", "bash", "py", "pl", "rb", "php"})
_OPERATORS = frozenset({"&&", "||", ";", "|", "(", ")", "{", "}", "&"})
_STDIN_MARK = "WLOADCTL_CRON_STDIN"
_NAME_ROOM = MAX_NAME_LEN - 8  # room for a -NNNN suffix
_DESCRIPTION_LEN = min(200, MAX_DESCRIPTION_LEN)


class CrontabError(ValueError):
    """Lines that do not convert, each as `FILE:LINE: reason` (main prints one `error:` per line)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Imported:
    documents: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # for stderr, each naming its line
    comments: list[str] = field(default_factory=list)  # for the head of the YAML output
    zone_given: bool = True  # False: some job's schedules are read in UTC for want of a zone


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _env_line(line: str) -> tuple[str, str] | None:
    """(NAME, value) for an environment line, else None (cron's load_env: NAME = value)."""
    match = _ENV_LINE.fullmatch(line)
    if match is None:
        return None
    name = match.group(1) or match.group(2) or match.group(3)
    # A job line never has '=' before its first blank: `*/5 * * * * A=1 cmd` is not an env line.
    return name, _unquote(match.group(4))


def split_percent(command: str) -> tuple[str, str | None]:
    """(command, standard input or None) as cron reads a command with '%' in it."""
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            escaped = False
            if ch == "%":
                out[-1] = "%"  # the backslash goes
                continue
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            return "".join(out), _stdin_text(command[i + 1:])
        out.append(ch)
    return "".join(out), None


def _stdin_text(data: str) -> str:
    """The input cron writes: '%' -> newline, '\\%' -> '%', a newline at the end."""
    out: list[str] = []
    escaped = False
    for ch in data:
        if escaped:
            if ch != "%":
                out.append("\\")
        elif ch == "%":
            ch = "\n"
        escaped = ch == "\\"
        if not escaped:
            out.append(ch)
    if escaped:
        out.append("\\")
    text = "".join(out)
    return text if text.endswith("\n") else text + "\n"


def _with_stdin(command: str, stdin: str) -> str:
    """A shell script that runs ``command`` with ``stdin`` as its standard input."""
    mark = _STDIN_MARK
    while mark in stdin.splitlines():
        mark += "_"
    return f"{{ {command}\n}} <<'{mark}'\n{stdin}{mark}\n"


def _program(command: str) -> str:
    """What a command runs, for its job's name: the first word that is not a wrapper, a variable
    assignment, an operator or an option."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    in_test = after_wrapper = option_value = False
    positionals = 0  # words a wrapper takes before the command: cd DIR, timeout 30, flock FILE
    for word in words:
        if word in _OPERATORS:
            in_test = after_wrapper = option_value = False
            positionals = 0
            continue
        if in_test or option_value:  # `test -x /usr/sbin/anacron || ...`: a condition, not what runs
            option_value = False
            continue
        if word.startswith("-"):
            # `sudo -u app cmd`, `nice -n 5 cmd`: a wrapper's one-letter option takes the next word
            option_value = after_wrapper and re.fullmatch(r"-[A-Za-z]", word) is not None
            continue
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*|[0-9]*[<>].*", word):  # FOO=1 cmd, >/dev/null
            continue
        base = os.path.basename(word.rstrip("/"))
        if base in _WRAPPERS:
            after_wrapper = True
            positionals = 1 if base in ("cd", "timeout", "flock") else 0
            in_test = base in ("test", "[", "[[")
            continue
        if positionals:
            positionals -= 1
            continue
        if base and _SLUG_BAD.sub("", base):
            stem, dot, suffix = base.rpartition(".")
            return stem if dot and stem and suffix in _SCRIPT_SUFFIXES else base
    return ""


def _slug(text: str) -> str:
    slug = _SLUG_BAD.sub("-", text).strip("._-")
    slug = re.sub(r"([._-])[._-]+", r"\1", slug)
    return slug[:_NAME_ROOM].rstrip("._-")


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def is_system_path(path: str) -> bool:
    return path == SYSTEM_PATHS[0] or path.startswith(SYSTEM_PATHS[1])


@dataclass
class _Settings:
    domain: str = ""
    system: bool = False
    run_as: str = ""
    time_zone: str = ""
    prefix: str = ""


def convert(text: str, source: str = "crontab", *, domain: str = "", system: bool = False, run_as: str = "",
            time_zone: str = "", prefix: str = "") -> Imported:
    """The Job documents of a crontab's text; raises CrontabError naming every line that does not
    convert (nothing is returned then)."""
    settings = _Settings(domain, system, run_as, time_zone, prefix)
    result = Imported()
    problems: list[str] = []
    env: dict[str, str] = {}
    cron_tz = ""
    taken: set[str] = set()
    mail_noted: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{number}"
        if not line or line.startswith("#"):
            continue
        assignment = _env_line(line)
        if assignment is not None:
            name, value = assignment
            if name == "CRON_TZ":
                if value and not _is_zone(value):
                    problems.append(f"{where}: CRON_TZ: unknown time zone {value!r} (an IANA name like Europe/Berlin)")
                cron_tz = value
            elif name in _MAIL_VARIABLES:
                if value and name not in mail_noted:  # MAILTO="" turns mail off: nothing to say
                    mail_noted.add(name)
                    result.warnings.append(f"{where}: {name} is not imported: a run's output stays with the run "
                                           "(wloadctl logs RUN), nothing is mailed")
                    result.comments.append(f"{name}={value} ({where}) is not imported: see wloadctl logs")
            elif not _ENV_KEY.fullmatch(name):
                problems.append(f"{where}: {name!r} is not an environment variable name (letters, digits and '_', "
                                "not starting with a digit)")
            else:
                env[name] = value
                if name == "TZ" and value and not _is_zone(value) and not cron_tz:
                    result.warnings.append(f"{where}: TZ={value} is no IANA time zone: only the commands see it, "
                                           "the schedules are not read in it")
            continue
        try:
            document = _job(line, number, where, env, cron_tz, settings, taken, result)
        except ValueError as failure:
            problems.append(f"{where}: {failure}")
            continue
        if document is None:
            continue
        problems += _check(document, where)
        result.documents.append(document)
    if problems:
        raise CrontabError(problems)
    return result


def _job(line: str, number: int, where: str, env: dict[str, str], cron_tz: str, settings: _Settings,
         taken: set[str], result: Imported) -> dict[str, Any] | None:
    fields = line.split(None, 1)
    if fields[0].startswith("@"):
        macro = fields[0].lower()
        if macro == "@reboot":
            result.warnings.append(f"{where}: @reboot has no equivalent (jobs run on schedules, events and file "
                                   "arrivals, not when an agent starts): skipped")
            return None
        if macro not in MACROS:
            raise ValueError(f"unknown schedule {fields[0]!r} (known: {', '.join(MACROS)}, @reboot)")
        cron, rest = MACROS[macro], fields[1] if len(fields) > 1 else ""
    else:
        parts = line.split(None, 5)
        if len(parts) < 6 or not all(_CRON_FIELD.fullmatch(p) for p in parts[:5]):
            raise ValueError("not a crontab line: expected 5 time fields and a command, an @schedule and a "
                             "command, or NAME=value")
        cron, rest = " ".join(parts[:5]), parts[5]
    user = ""
    if settings.system:
        user_and_command = rest.split(None, 1)
        if len(user_and_command) < 2:
            raise ValueError("a system crontab line needs a user and a command after the schedule")
        user, rest = user_and_command
    command = rest.strip()
    if not command:
        raise ValueError("no command after the schedule")
    if not settings.system and (hint := _user_column_hint(command)):
        result.warnings.append(f"{where}: {hint!r} looks like the user column of a system crontab; pass --system "
                               "if it is one")
    script, stdin = split_percent(command)
    program = _program(script)
    if stdin is not None:
        script = _with_stdin(script, stdin)
    metadata: dict[str, Any] = {"name": ""}
    if settings.domain:
        metadata["domain"] = settings.domain
    description = f"crontab line {number}: {line}"
    metadata["description"] = description if len(description) <= _DESCRIPTION_LEN else \
        description[:_DESCRIPTION_LEN - 3] + "..."
    metadata["labels"] = dict(LABELS)
    spec: dict[str, Any] = {}
    shell = env.get("SHELL", "")
    if shell and shell not in ("/bin/sh", "sh"):
        spec["command"] = [shell, "-c", script]
    else:
        spec["script"] = script
    job_env = {k: v for k, v in env.items() if k not in ("RANDOM_DELAY",)}
    if job_env:
        spec["env"] = dict(sorted(job_env.items()))
    run_as = user or settings.run_as
    if run_as:
        spec["runAs"] = run_as
    spec["schedules"] = [{"cron": cron}]
    tz = env.get("TZ", "")
    zone = cron_tz or (tz if _is_zone(tz) else "") or settings.time_zone
    if zone:
        spec["timeZone"] = zone
    else:
        result.zone_given = False
    delay = env.get("RANDOM_DELAY", "")
    if delay:
        if not delay.isdigit():
            raise ValueError(f"RANDOM_DELAY must be a whole number of minutes, got {delay!r}")
        if int(delay):
            spec["jitter"] = f"{int(delay)}m"
    base = _slug(settings.prefix + (program or "cron-job"))
    metadata["name"] = _unique(base or "cron-job", taken)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def _is_zone(name: str) -> bool:
    try:
        zone(name)
    except ScheduleError:
        return False
    return bool(name)


def _user_column_hint(command: str) -> str:
    """The first word of a user crontab's command when it is a local user's name (`root`): likely
    a system crontab read as a user's."""
    first = command.split(None, 1)[0]
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", first) or len(command.split(None, 1)) < 2:
        return ""
    try:
        import pwd

        uid = pwd.getpwnam(first).pw_uid
    except (ImportError, KeyError):
        return ""
    # root, or a person's account: service accounts (mail, news...) share their names with commands.
    return first if uid == 0 or uid >= 1000 else ""


def _check(document: dict[str, Any], where: str) -> list[str]:
    """What `wloadctl apply` would refuse in the document, as `FILE:LINE: field: reason`."""
    try:
        parse_documents(render_documents([document]))
    except SpecErrors as errors:
        return [f"{where}: {e.field}: {e.reason}" if e.field else f"{where}: {e.reason}" for e in errors.errors]
    return []


class _Dumper(yaml.SafeDumper):
    """Scripts as literal blocks (readable here-documents); ASCII output."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def render_documents(documents: list[dict[str, Any]]) -> str:
    return "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                                  allow_unicode=False, width=120) for d in documents)


def render(result: Imported, source: str) -> str:
    """The YAML stream `wloadctl apply -f` takes, with a comment head."""
    head = [f"# {len(result.documents)} jobs from {source} (wloadctl import crontab)"]
    head += [f"# {c}" for c in result.comments]
    return "\n".join(head) + "\n" + render_documents(result.documents)

"""The rules of secrets and of the references jobs make to them: pure, no I/O.

A secret is a named set of key/value pairs in a business domain; a job refers to one of its
values as "NAME/KEY" (JobSpec.secret_env). The API checks requests with these rules and
Store.apply() checks commands with them again, so both give the same verdict on every replica.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "MAX_SECRET_DESCRIPTION",
    "MAX_SECRET_KEYS",
    "MAX_SECRET_VALUE_LEN",
    "parse_ref",
    "ref_problem",
    "secret_key_problem",
    "secret_name_problem",
    "secret_problems",
    "secret_value_problem",
]

MAX_SECRET_NAME_LEN = 64  # = MAX_DOMAIN_LEN (rules.py): domains follow the same rule
MAX_SECRET_KEY_LEN = 128
MAX_SECRET_KEYS = 64
# A value becomes an environment variable: the same bound as a job's env values.
MAX_SECRET_VALUE_LEN = 32768
MAX_SECRET_DESCRIPTION = 1000

# ASCII classes and fullmatch(), for the reasons given in rules.py. No '/' in either: it separates
# them in a reference.
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_KEY_RE = re.compile(r"[A-Za-z0-9._-]+")


def secret_name_problem(name: str) -> str | None:
    if not name:
        return "required"
    if len(name) > MAX_SECRET_NAME_LEN:
        return f"must be at most {MAX_SECRET_NAME_LEN} characters (got {len(name)})"
    if not _NAME_RE.fullmatch(name):
        return "must contain only letters, digits, '.', '_' and '-', and start and end with a letter or digit"
    return None


def secret_key_problem(key: str) -> str | None:
    if not key:
        return "key must not be empty"
    if len(key) > MAX_SECRET_KEY_LEN:
        return f"key must be at most {MAX_SECRET_KEY_LEN} characters (got {len(key)})"
    if not _KEY_RE.fullmatch(key):
        return "key must contain only letters, digits, '.', '_' and '-'"
    return None


def secret_value_problem(value: str) -> str | None:
    """Says nothing about the value itself: error messages must never carry it."""
    if len(value) > MAX_SECRET_VALUE_LEN:
        return f"must be at most {MAX_SECRET_VALUE_LEN} characters (got {len(value)})"
    if "\0" in value:
        return "must not contain NUL characters (it becomes an environment variable)"
    return None


def parse_ref(ref: str) -> tuple[str, str] | None:
    """("NAME", "KEY") of a well-formed "NAME/KEY" reference, else None."""
    name, sep, key = ref.partition("/")
    if not sep or secret_name_problem(name) or secret_key_problem(key):
        return None
    return name, key


def ref_problem(ref: str) -> str | None:
    if parse_ref(ref) is None:
        return ('must be "SECRET/KEY": the name of a secret of the job\'s domain, "/" and one of its keys '
                f"(got {ref[:80]!r})")
    return None


def secret_problems(name: str, domain: str, description: str, keys: Sequence[str]) -> list[str]:
    """Why a secret cannot be set as given, values aside ([] when it can): its name, domain ("" is
    the default one), description and keys. The API checks a request with it, apply the command."""
    problems = []
    if problem := secret_name_problem(name):
        problems.append(f"name: {problem}")
    # The same rule as a job's domain (a domain name is at most as long as a secret name).
    if domain and (problem := secret_name_problem(domain)):
        problems.append(f"domain: {problem}")
    if len(description) > MAX_SECRET_DESCRIPTION:
        problems.append(f"description: at most {MAX_SECRET_DESCRIPTION} characters")
    if not keys:
        problems.append("values: at least one key")
    elif len(keys) > MAX_SECRET_KEYS:
        problems.append(f"values: at most {MAX_SECRET_KEYS} keys (got {len(keys)})")
    if len(set(keys)) != len(keys):
        problems.append("values: a key appears twice")
    problems += [f"values.{key[:130]}: {problem}" for key in sorted(set(keys))
                 if (problem := secret_key_problem(key))]
    return problems

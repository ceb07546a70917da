"""Passwords, bearer credentials and permissions: the pure parts of identity and access."""

from __future__ import annotations

import pytest

from wloadctl.security import passwords, tokens
from wloadctl.security.permissions import (
    ALL_DOMAINS,
    BUILTIN_ROLES,
    CLUSTER_WIDE,
    Permission,
    grants_of,
    role_problems,
)

P = Permission
ROLES = {name: [p.value for p in role.permissions] for name, role in BUILTIN_ROLES.items()}


# ---- passwords

def test_a_hash_verifies_its_password_only() -> None:
    stored = passwords.hash_password("Correct horse 9!", n=1 << 10)
    assert stored.startswith("scrypt$1024$8$1$")
    assert passwords.verify_password("Correct horse 9!", stored)
    assert not passwords.verify_password("correct horse 9!", stored)
    assert passwords.hash_password("Correct horse 9!", n=1 << 10) != stored  # salted
    assert passwords.needs_rehash(stored) and not passwords.needs_rehash(passwords.hash_password("x"))


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$x$8$1$AA==$AA==", "md5$1$2$3$4$5", "scrypt$1024$8$1$!!$!!"])
def test_malformed_stored_hashes_never_verify(stored: str) -> None:
    assert not passwords.verify_password("anything", stored)


def test_the_password_rules_name_what_is_missing() -> None:
    policy = passwords.PasswordPolicy()
    assert passwords.policy_problems("Batch-Window-2026", policy) == []
    assert passwords.policy_problems("short", policy) == [
        "at least 12 characters", "an upper-case letter", "a digit",
        "a special character (one of !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ or a space)"]
    assert passwords.policy_problems("ALLUPPERCASE1!", policy) == ["a lower-case letter"]
    assert passwords.policy_problems("Alice-Is-Me-2026", policy, user="alice") == ["not the user name"]
    lenient = passwords.PasswordPolicy(min_length=4, require_special=False, require_digit=False)
    assert passwords.policy_problems("Abcd", lenient) == []


def test_an_absurdly_long_password_is_refused_before_hashing() -> None:
    with pytest.raises(ValueError):
        passwords.hash_password("x" * (passwords.MAX_PASSWORD_BYTES + 1))
    assert not passwords.verify_password("x" * (passwords.MAX_PASSWORD_BYTES + 1), passwords.hash_password("x"))


# ---- tokens

def test_tokens_round_trip_and_match_only_their_hash() -> None:
    secret = tokens.new_secret()
    text = tokens.format_token("session", 42, secret)
    assert text.startswith("wls.42.")
    token = tokens.parse_token(text)
    assert token is not None and token.kind == "session" and token.index == 42 and token.id == "s42"
    assert tokens.matches(token, tokens.secret_hash(secret))
    assert not tokens.matches(token, tokens.secret_hash(tokens.new_secret()))
    key = tokens.parse_token(tokens.format_token("apikey", 7, secret))
    assert key is not None and key.id == "k7"


@pytest.mark.parametrize("text", ["", "wls", "wls.1", "wls.x.abc", "wlx.1.abc", "wls.1.", "a" * 300,
                                  "wls.99999999999999999999.abc"])
def test_things_that_are_not_tokens(text: str) -> None:
    assert tokens.parse_token(text) is None


# ---- permissions

def test_bindings_grant_per_domain_and_cluster_permissions_need_every_domain() -> None:
    grants = grants_of([("business-operator", ["finance"]), ("auditor", [])], ROLES)
    assert grants.allows(P.RUN_TRIGGER, "finance")
    assert not grants.allows(P.RUN_TRIGGER, "hr")
    assert grants.allows(P.RUN_READ, "hr")  # the auditor reads everything
    assert grants.allows(P.AUDIT_READ)
    assert not grants.allows(P.JOB_WRITE)
    assert grants.domains(P.RUN_TRIGGER) == frozenset({"finance"}) and grants.domains(P.RUN_READ) is None
    scoped_ops = grants_of([("ops-admin", ["finance"])], ROLES)
    assert not scoped_ops.allows(P.CLUSTER_MEMBERSHIP), "a cluster-wide permission bound to one domain"
    assert scoped_ops.allows(P.JOB_READ, "finance")
    assert "run.trigger@finance" in grants.describe() and "audit.read" in grants.describe()


def test_unknown_roles_and_permissions_grant_nothing() -> None:
    grants = grants_of([("no-such-role", []), ("custom", ["x"])], {"custom": ["job.read", "not.a.permission"]})
    assert grants.allows(P.JOB_READ, "x") and not grants.allows(P.JOB_READ, "y")
    assert set(grants.by_permission) == {P.JOB_READ}


# The white paper's separation of duties, cell by cell: (role, permission) -> allowed.
SEPARATION = {
    "system-admin": ({P.USER_ADMIN, P.ROLE_ADMIN, P.KEY_ADMIN, P.POLICY_ADMIN},
                     {P.JOB_WRITE, P.RUN_TRIGGER, P.RUN_KILL, P.CLUSTER_MEMBERSHIP, P.AUDIT_READ, P.SECRET_READ,
                      P.SECRET_WRITE}),
    "ops-admin": ({P.CLUSTER_MEMBERSHIP, P.CLUSTER_LEADERSHIP, P.CLUSTER_FORCE_DISPATCH, P.AGENT_READ, P.JOB_READ},
                  {P.JOB_WRITE, P.JOB_DELETE, P.RUN_TRIGGER, P.USER_ADMIN, P.SECRET_WRITE}),
    "scheduling-admin": ({P.JOB_WRITE, P.JOB_DELETE, P.JOB_ACTIVATE, P.RUN_TRIGGER, P.RUN_KILL, P.SECRET_READ,
                          P.SECRET_WRITE},
                         {P.CLUSTER_MEMBERSHIP, P.USER_ADMIN, P.ROLE_ADMIN, P.CLUSTER_FORCE_DISPATCH}),
    "business-operator": ({P.RUN_TRIGGER, P.RUN_KILL, P.RUN_READ, P.RUN_LOGS, P.JOB_READ},
                          {P.JOB_WRITE, P.JOB_DELETE, P.CLUSTER_READ, P.USER_ADMIN, P.AUDIT_READ, P.SECRET_READ,
                           P.SECRET_WRITE}),
    "auditor": ({P.JOB_READ, P.RUN_READ, P.RUN_LOGS, P.AGENT_READ, P.CLUSTER_READ, P.AUDIT_READ, P.SECRET_READ},
                {P.JOB_WRITE, P.JOB_DELETE, P.RUN_TRIGGER, P.RUN_KILL, P.CLUSTER_MEMBERSHIP, P.USER_ADMIN,
                 P.APPROVE, P.SECRET_WRITE}),
}


@pytest.mark.parametrize("role", sorted(SEPARATION))
def test_built_in_roles_keep_the_separation_of_duties(role: str) -> None:
    allowed, denied = SEPARATION[role]
    grants = grants_of([(role, [])], ROLES)
    assert {p for p in allowed if not grants.allows(p)} == set()
    assert {p for p in denied if grants.allows(p)} == set()


def test_admin_holds_everything_and_the_auditor_changes_nothing() -> None:
    admin = grants_of([("admin", [])], ROLES)
    assert all(admin.allows(p, "any") for p in Permission)
    auditor = BUILTIN_ROLES["auditor"].permissions
    assert all(p.value.endswith((".read", ".logs")) for p in auditor)
    assert CLUSTER_WIDE and ALL_DOMAINS == "*"


def test_custom_role_names_and_permissions_are_checked() -> None:
    assert role_problems("night-shift", ["run.read", "run.trigger"]) == []
    problems = role_problems("Admin Role", [])
    assert problems[0].startswith("name:") and "permissions: at least one" in problems
    assert role_problems("auditor", ["run.read"]) == ["name: 'auditor' is a built-in role"]
    assert "unknown permission 'run.fly'" in role_problems("x", ["run.fly"])[0]

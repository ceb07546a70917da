"""Identities and what they may do: `user ...`, `role ...`, `apikey ...`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from wloadctl.cli import render
from wloadctl.cli.context import Context, answer, show
from wloadctl.cli.parser import Verbs, duration_seconds, network, time_ms
from wloadctl.cli.passwords import PasswordReader
from wloadctl.proto.v1 import auth_pb2
from wloadctl.security.permissions import BUILTIN_ROLES, Permission

TIME_HELP = "ISO-8601 UTC (2026-12-01T00:00:00Z or 2026-12-01) or a duration ago (24h, 7d)"
ROLES_HINT = f"built-in roles: {', '.join(BUILTIN_ROLES)}"


def _domains(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--domain", action="append", default=[], metavar="D",
                        help=f"a business domain {what} (repeatable; default: every domain)")


def register(verbs: Verbs) -> None:
    _register_users(verbs)
    _register_roles(verbs)
    _register_keys(verbs)


def _register_users(verbs: Verbs) -> None:
    create = verbs.add_to(
        "user", "create", "create a user with a role",
        description="Create a user holding ROLE in the domains given (in every domain without --domain).\n"
                    "The password is asked for twice, or read from stdin (--password-stdin), or there is\n"
                    "none (--no-password: a user who authenticates with a certificate only).",
        epilog="examples:\n  wloadctl user create alice --role business-operator --domain finance\n"
               "  wloadctl user create temp1 --role auditor --valid-until 2026-12-31 --must-change-password\n"
               "  printf '%s\\n' \"$PASSWORD\" | wloadctl user create ci --role scheduling-admin --password-stdin\n\n"
               f"{ROLES_HINT}\noutput: user/NAME created",
        handler=cmd_user_create,
    )
    create.add_argument("name", metavar="NAME", help="user name")
    create.add_argument("--role", required=True, metavar="ROLE", help="the role to hold")
    _domains(create, "the role holds in")
    how = create.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
    how.add_argument("--no-password", action="store_true", help="no password (certificate-only user)")
    create.add_argument("--valid-from", type=time_ms, default=0, metavar="T", help=f"not before T: {TIME_HELP}")
    create.add_argument("--valid-until", type=time_ms, default=0, metavar="T", help=f"not after T: {TIME_HELP}")
    create.add_argument("--description", default="", metavar="TEXT", help="who this is, for people")
    create.add_argument("--must-change-password", action="store_true",
                        help="the user must choose a new password at the first login")

    get = verbs.add_to(
        "user", "get", "list users, or show one",
        description="List every user (USER ACTIVE LOCKED ROLES VALID-UNTIL LAST-LOGIN), or one.\n"
                    "ROLES shows role@domains, or the role alone when it holds in every domain.",
        epilog="examples:\n  wloadctl user get\n  wloadctl user get alice -o yaml",
        handler=cmd_user_get,
    )
    get.add_argument("name", metavar="NAME", nargs="?", default="", help="one user (default: all)")
    describe = verbs.add_to("user", "describe", "show a user in detail",
                            description="Show every setting of a user: status, lock, validity, password "
                                        "changes, logins, roles.",
                            epilog="example:\n  wloadctl user describe alice", handler=cmd_user_describe)
    describe.add_argument("name", metavar="NAME", help="user name")

    update = verbs.add_to(
        "user", "update", "change a user's status, validity or description",
        description="Change the settings given; the others stay as they are.",
        epilog="examples:\n  wloadctl user update temp1 --valid-until 2027-01-31\n"
               "  wloadctl user update bob --deactivate",
        handler=cmd_user_update,
    )
    update.add_argument("name", metavar="NAME", help="user name")
    active = update.add_mutually_exclusive_group()
    active.add_argument("--activate", action="store_true", help="let the user authenticate again")
    active.add_argument("--deactivate", action="store_true", help="the user can no longer authenticate")
    update.add_argument("--valid-from", type=time_ms, default=None, metavar="T", help=f"not before T: {TIME_HELP}")
    update.add_argument("--valid-until", type=time_ms, default=None, metavar="T", help=f"not after T: {TIME_HELP}")
    update.add_argument("--description", default=None, metavar="TEXT", help="who this is, for people")
    update.add_argument("--must-change-password", action="store_true",
                        help="the user must choose a new password at the next login")
    update.set_defaults(parser=update)

    for name, help_text, description in (
            ("lock", "lock a user out", "Lock the user: no login or session works until unlocked."),
            ("unlock", "unlock a user", "Unlock the user and reset the count of failed logins."),
            ("delete", "delete a user", "Delete the user; its sessions end with it.")):
        parser = verbs.add_to("user", name, help_text, description=description,
                              epilog=f"example:\n  wloadctl user {name} alice\n\noutput: user/alice {name}"
                                     f"{'d' if name == 'delete' else 'ed'}",
                              handler=cmd_user_simple)
        parser.add_argument("name", metavar="NAME", help="user name")
        parser.set_defaults(action=name)
    for name, help_text in (("grant", "give a user a role (in some domains)"),
                            ("revoke", "take a role (or some of its domains) from a user")):
        parser = verbs.add_to(
            "user", name, help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}. Without --domain: in every domain.\n"
                        "Nobody changes their own roles.",
            epilog=f"example:\n  wloadctl user {name} alice --role business-operator --domain ops\n\n{ROLES_HINT}",
            handler=cmd_user_binding)
        parser.add_argument("name", metavar="NAME", help="user name")
        parser.add_argument("--role", required=True, metavar="ROLE", help="the role")
        _domains(parser, "concerned")
        parser.set_defaults(action=name)


def _register_roles(verbs: Verbs) -> None:
    permissions = ", ".join(p.value for p in Permission)
    create = verbs.add_to(
        "role", "create", "create a role from permissions",
        description="Create a custom role: a name and the permissions it grants. Domains are given\n"
                    "when the role is granted (user grant, apikey create), not here.",
        epilog="example:\n  wloadctl role create run-watcher --permission run.read --permission run.logs\n\n"
               f"permissions: {permissions}",
        handler=cmd_role_create,
    )
    create.add_argument("name", metavar="NAME", help="role name (lower case letters, digits, '.', '_', '-')")
    create.add_argument("--permission", action="append", required=True, metavar="P",
                        help="a permission it grants (repeatable)")
    create.add_argument("--description", default="", metavar="TEXT", help="what it is for")
    get = verbs.add_to("role", "get", "list roles, or show one",
                       description="List the roles (built-in first: NAME BUILTIN PERMISSIONS), or one.",
                       epilog="examples:\n  wloadctl role get\n  wloadctl role get auditor -o json",
                       handler=cmd_role_get)
    get.add_argument("name", metavar="NAME", nargs="?", default="", help="one role (default: all)")
    describe = verbs.add_to("role", "describe", "show a role and every permission it grants",
                            epilog="example:\n  wloadctl role describe scheduling-admin", handler=cmd_role_describe)
    describe.add_argument("name", metavar="NAME", help="role name")
    delete = verbs.add_to("role", "delete", "delete a custom role",
                          description="Delete a custom role (built-in roles stay).",
                          epilog="example:\n  wloadctl role delete run-watcher", handler=cmd_role_delete)
    delete.add_argument("name", metavar="NAME", help="role name")


def _register_keys(verbs: Verbs) -> None:
    create = verbs.add_to(
        "apikey", "create", "create an API key (shown once)",
        description="Create an API key for automation, holding ROLE in the domains given (every domain\n"
                    "without --domain), and never more than its owner holds. The key is printed once; the\n"
                    "cluster keeps only its hash. Use it with --api-key or WLOADCTL_API_KEY.",
        epilog="examples:\n  wloadctl apikey create --role business-operator --domain finance --expires 90d \\\n"
               "      --allow-ip 10.0.0.0/8 --description 'nightly batch trigger'\n"
               "  wloadctl apikey create --role auditor -o json | jq -r .token\n\n"
               "output: apikey/k57 created; the key is shown once:\n        wlk.57.…",
        handler=cmd_apikey_create,
    )
    create.add_argument("--role", required=True, metavar="ROLE", help="the role it holds")
    _domains(create, "the role holds in")
    create.add_argument("--allow-ip", action="append", type=network, default=[], metavar="CIDR",
                        help="a network the key may be used from (repeatable; default: anywhere)")
    create.add_argument("--expires", type=duration_seconds, default=0, metavar="DURATION",
                        help="valid this long: 90s, 15m, 2h, 1d or combined (default: never expires)")
    create.add_argument("--description", default="", metavar="TEXT", help="what it is for")
    create.add_argument("--owner", default="", metavar="USER",
                        help="the user it acts for in the audit log (default: you)")
    get = verbs.add_to("apikey", "get", "list API keys, or show one",
                       description="List the API keys (ID OWNER ROLES ALLOWED-FROM EXPIRES REVOKED DESCRIPTION), "
                                   "or one.\nThe keys themselves are never shown again.",
                       epilog="examples:\n  wloadctl apikey get\n  wloadctl apikey get k57 -o yaml",
                       handler=cmd_apikey_get)
    get.add_argument("key_id", metavar="ID", nargs="?", default="", help="one key, e.g. k57 (default: all)")
    revoke = verbs.add_to("apikey", "revoke", "revoke an API key for good",
                          description="Revoke an API key: every later request with it is refused.",
                          epilog="example:\n  wloadctl apikey revoke k57\n\noutput: apikey/k57 revoked",
                          handler=cmd_apikey_revoke)
    revoke.add_argument("key_id", metavar="ID", help="key id, e.g. k57")


def _one_or_all(ctx: Context, name: str, one: Callable[[str], Any], every: Callable[[], Any],
                table: Callable[[list[Any]], str], field: str) -> int:
    """`get [NAME]`: one resource (its message with -o json|yaml) or the whole listing."""
    if name:
        item = one(name)
        return show(ctx, item, table([item]))
    response = every()
    return show(ctx, response, table(list(getattr(response, field))))


# ---- users ---------------------------------------------------------------------------------


def cmd_user_create(args: argparse.Namespace, ctx: Context) -> int:
    password = ""
    if not args.no_password:
        password = PasswordReader(args.password_stdin).new(f"password for {args.name}: ")
    request = auth_pb2.CreateUserRequest(
        name=args.name, password=password, bindings=[auth_pb2.Binding(role=args.role, domains=args.domain)],
        valid_from_ms=args.valid_from, valid_until_ms=args.valid_until, description=args.description,
        must_change_password=args.must_change_password)
    user = ctx.client().create_user(request)
    return answer(ctx, user, f"user/{user.name or args.name} created")


def cmd_user_get(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    return _one_or_all(ctx, args.name, client.get_user, client.list_users, render.users_table, "users")


def cmd_user_describe(args: argparse.Namespace, ctx: Context) -> int:
    user = ctx.client().get_user(args.name)
    return show(ctx, user, render.describe_user(user))


def cmd_user_update(args: argparse.Namespace, ctx: Context) -> int:
    request = auth_pb2.UpdateUserRequest(name=args.name)
    if args.activate or args.deactivate:
        request.active = args.activate
    if args.valid_from is not None:
        request.valid_from_ms = args.valid_from
    if args.valid_until is not None:
        request.valid_until_ms = args.valid_until
    if args.description is not None:
        request.description = args.description
    if args.must_change_password:
        request.must_change_password = True
    if request.ListFields() == [(auth_pb2.UpdateUserRequest.DESCRIPTOR.fields_by_name["name"], args.name)]:
        args.parser.error("nothing to change: give at least one setting")
    user = ctx.client().update_user(request)
    return answer(ctx, user, f"user/{user.name or args.name} updated")


def cmd_user_simple(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    if args.action == "delete":
        return answer(ctx, client.delete_user(args.name), f"user/{args.name} deleted")
    request = auth_pb2.UpdateUserRequest(name=args.name, locked=args.action == "lock")
    user = client.update_user(request)
    return answer(ctx, user, f"user/{user.name or args.name} {args.action}ed")


def cmd_user_binding(args: argparse.Namespace, ctx: Context) -> int:
    binding = auth_pb2.Binding(role=args.role, domains=args.domain)
    request = auth_pb2.UpdateUserRequest(name=args.name, **{args.action: [binding]})
    user = ctx.client().update_user(request)
    verb = "granted" if args.action == "grant" else "revoked"
    where = render.domains_text(args.domain)
    return answer(ctx, user, f"user/{user.name or args.name} {verb} role {args.role} {where}")


# ---- roles ---------------------------------------------------------------------------------


def cmd_role_create(args: argparse.Namespace, ctx: Context) -> int:
    role = ctx.client().create_role(args.name, args.permission, args.description)
    return answer(ctx, role, f"role/{role.name or args.name} created")


def cmd_role_get(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    return _one_or_all(ctx, args.name, client.get_role, client.list_roles, render.roles_table, "roles")


def cmd_role_describe(args: argparse.Namespace, ctx: Context) -> int:
    role = ctx.client().get_role(args.name)
    return show(ctx, role, render.describe_role(role))


def cmd_role_delete(args: argparse.Namespace, ctx: Context) -> int:
    return answer(ctx, ctx.client().delete_role(args.name), f"role/{args.name} deleted")


# ---- API keys ------------------------------------------------------------------------------


def cmd_apikey_create(args: argparse.Namespace, ctx: Context) -> int:
    expires_ms = time.time_ns() // 1_000_000 + args.expires * 1000 if args.expires else 0
    request = auth_pb2.CreateApiKeyRequest(
        bindings=[auth_pb2.Binding(role=args.role, domains=args.domain)], allowed_networks=args.allow_ip,
        expires_ms=expires_ms, description=args.description, owner=args.owner)
    response = ctx.client().create_api_key(request)
    text = f"apikey/{response.key.id} created; the key is shown once:\n{response.token}"
    if response.webhook_signing_key:
        text += f"\nwebhook signing key (signs POST /v1/events/NAME as this key; shown once):\n" \
                f"{response.webhook_signing_key}"
    return answer(ctx, response, text)


def cmd_apikey_get(args: argparse.Namespace, ctx: Context) -> int:
    client = ctx.client()
    return _one_or_all(ctx, args.key_id, client.get_api_key, client.list_api_keys, render.api_keys_table, "keys")


def cmd_apikey_revoke(args: argparse.Namespace, ctx: Context) -> int:
    key = ctx.client().revoke_api_key(args.key_id)
    return answer(ctx, key, f"apikey/{key.id or args.key_id} revoked")


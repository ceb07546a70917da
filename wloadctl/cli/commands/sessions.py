"""Who the CLI acts as: `login`, `logout`, `whoami`, `password`, and the cluster's security
settings: `auth bootstrap`, `auth policy get|set`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import grpc

from wloadctl.cli import output, render, userconfig
from wloadctl.cli.context import EXIT_OK, Context, answer, show
from wloadctl.cli.parser import Verbs, command, int_at_least, operation_rule, subparsers
from wloadctl.cli.passwords import PasswordReader
from wloadctl.client import ClientError
from wloadctl.proto.v1 import auth_pb2
from wloadctl.security.tokens import parse_token

STDIN_HELP = "read the password from stdin (one line; a second line is the new one when it must be changed)"


def register(verbs: Verbs) -> None:
    login = verbs.add(
        "login", "log in: a session for the commands that follow",
        description="Log in with a user name and password, or with a client certificate (--cert and --key:\n"
                    "wloadctl certs issue --kind client --name USER). The session token is stored in the CLI\n"
                    f"config ({userconfig.config_path()}, mode 0600) and used by later commands until it\n"
                    "expires (--token, --api-key, WLOADCTL_TOKEN and WLOADCTL_API_KEY take precedence).\n"
                    "When the password must be changed first (new account, reset, expired), the new one\n"
                    "is asked for (twice) and set, and the session is opened with it.",
        epilog="examples:\n  wloadctl login --user alice\n"
               "  wloadctl login --cert client-alice.crt --key client-alice.key\n"
               "  printf '%s\\n' \"$PASSWORD\" | wloadctl login --user alice --password-stdin\n\n"
               "output: logged in as alice (session s42, expires 2026-12-01T00:00:00Z)",
        handler=cmd_login,
    )
    login.add_argument("--user", default="", metavar="NAME", help="the user name (not with --cert)")
    login.add_argument("--password-stdin", action="store_true", help=STDIN_HELP)
    login.set_defaults(parser=login)

    verbs.add(
        "logout", "close the stored session",
        description="Close the session of the stored login (or of --token/$WLOADCTL_TOKEN when that\n"
                    "is a session token) and remove it from the CLI config. Later commands fall back\n"
                    "to the next credential (the local cluster's admin credential, if any).",
        epilog="example:\n  wloadctl logout\n\noutput: logged out alice (session s42 closed)",
        handler=cmd_logout,
    )
    verbs.add(
        "whoami", "show who the CLI acts as and what it may do",
        description="Show the identity behind the credential in use (kind, name, method), where the\n"
                    "credential came from, its roles (role@domains) and the permissions they grant\n"
                    "(permission@domain; a permission alone holds in every domain), and when it expires.",
        epilog="examples:\n  wloadctl whoami\n  wloadctl whoami -o json | jq -r '.permissions[]'",
        handler=cmd_whoami,
    )
    password = verbs.add(
        "password", "change your password, or reset another user's",
        description="Change your own password (the current one is asked for, then the new one twice).\n"
                    "With --user and user.admin, set another user's password; they must change it\n"
                    "at their next login.",
        epilog="examples:\n  wloadctl password\n  wloadctl password --user bob\n"
               "  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | wloadctl password --password-stdin",
        handler=cmd_password,
    )
    password.add_argument("--user", default="", metavar="NAME", help="whose password (default: your own)")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the passwords from stdin, one a line: the current one (your own only), "
                               "then the new one")

    verbs.add_to(
        "auth", "bootstrap", "hand out the first admin API key of a new cluster (once)",
        description="Ask a new cluster for its first credential: an API key bound to role admin in\n"
                    "every domain. It is printed once and never again; the cluster refuses a second\n"
                    "bootstrap. `wloadctl up` does this by itself (DATA_DIR/admin.token); use it for a\n"
                    "cluster started from `wloadctl server` configs, then create users and keys with it.",
        epilog="example:\n  wloadctl auth bootstrap | tail -n 1 > admin.token   # keep it safe (mode 0600)",
        handler=cmd_bootstrap,
    )
    policy = verbs.add_to("auth", "policy", "show or change the security policy",
                          epilog="examples:\n  wloadctl auth policy get\n"
                                 "  wloadctl auth policy set --approval job.delete@finance")
    policy_subs = subparsers(policy, "policy_action", "actions")
    command(policy_subs, "get", 3, "show the security policy",
            description="Show the security policy: password rules, lockout, session lifetime, audit\n"
                        "retention and the operations that need a four-eyes approval.",
            epilog="examples:\n  wloadctl auth policy get\n"
                   "  wloadctl auth policy get -o json | jq .max_failed_logins",
            handler=cmd_policy_get)
    policy_set = command(
        policy_subs, "set", 3, "change some settings of the security policy",
        description="Read the current policy, change the settings given, and store it. --approval\n"
                    "replaces the list of four-eyes rules (repeat it for several; OPERATION alone holds\n"
                    "in every domain); --no-approvals empties it.",
        epilog="examples:\n  wloadctl auth policy set --password-min-length 14 --max-failed-logins 5\n"
               "  wloadctl auth policy set --approval job.delete@finance --approval run.kill\n\n"
               "operations: job.delete, run.kill, run.rerun, cluster.force_dispatch, cluster.membership, role.change",
        handler=cmd_policy_set)
    numbers = (("--password-min-length", "shortest password allowed"),
               ("--password-max-age-days", "days before a password must be changed (0: never)"),
               ("--max-failed-logins", "failed logins in a row that lock an account"),
               ("--session-ttl-minutes", "how long a login session lasts"),
               ("--audit-retention-days", "days of audit records kept (0: every record)"))
    for flag, help_text in numbers:
        policy_set.add_argument(flag, type=int_at_least(0), default=None, metavar="N", help=help_text)
    rules = policy_set.add_mutually_exclusive_group()
    rules.add_argument("--approval", action="append", type=operation_rule, default=None,
                       metavar="OPERATION[@DOMAIN]", help="an operation that needs a second person's approval")
    rules.add_argument("--no-approvals", action="store_true", help="no operation needs an approval")
    policy_set.set_defaults(parser=policy_set)


# ---- sessions ------------------------------------------------------------------------------


def _session_id(token: str) -> str:
    parsed = parse_token(token)
    return parsed.id if parsed is not None and parsed.kind == "session" else "?"


def cmd_login(args: argparse.Namespace, ctx: Context) -> int:
    if ctx.cert or ctx.key:
        if args.user:
            args.parser.error("--user and --cert: the certificate names the user")
        response = ctx.certificate_session()
        args.user = response.user
    elif not args.user:
        args.parser.error("--user NAME is required (or --cert FILE --key FILE)")
    else:
        response = _password_login(args, ctx)
    config = ctx.cli_config()
    config.login_user, config.login_token, config.login_expires_ms = args.user, response.token, response.expires_ms
    userconfig.save(config)
    expires = output.format_ms(response.expires_ms) if response.expires_ms else "never"
    return answer(ctx, response, f"logged in as {response.user or args.user} "
                                 f"(session {_session_id(response.token)}, expires {expires})")


def _password_login(args: argparse.Namespace, ctx: Context) -> auth_pb2.LoginResponse:
    passwords = PasswordReader(args.password_stdin)
    password = passwords.current(f"password for {args.user}: ")
    # No credential is sent: Login is open, and a stale stored session must not get in the way.
    with ctx.new_client(token="") as client:
        response = client.login(args.user, password)
        if response.password_change_required:
            print(f"note: the password of {args.user} must be changed before anything else", file=sys.stderr)
            new = passwords.new("new password: ")
            with ctx.new_client(token=response.token) as limited:
                try:
                    limited.change_password(new, old_password=password)
                finally:
                    # That session may do nothing but change the password: close it, open a full one.
                    with contextlib.suppress(ClientError):
                        limited.logout()
            response = client.login(args.user, new)
    return response


def cmd_logout(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.cli_config()
    explicit = ctx.token or os.environ.get(userconfig.ENV_TOKEN, "").strip()
    explicit_session = parse_token(explicit) if explicit else None
    if explicit_session is not None and explicit_session.kind == "session":
        token, user = explicit, ""
    elif config.login_token:
        token, user = config.login_token, config.login_user
    else:
        print("note: not logged in (no stored login)", file=sys.stderr)
        return EXIT_OK
    note = ""
    try:
        with ctx.new_client(token=token) as client:
            client.logout()
    except ClientError as failure:
        if failure.code != grpc.StatusCode.UNAUTHENTICATED:
            raise
        note = f"note: the session had already ended: {failure.message}"
    if config.login_token == token:
        config.login_user, config.login_token, config.login_expires_ms = "", "", 0
        userconfig.save(config)
    if note:
        print(note, file=sys.stderr)
    ended = "had already ended" if note else "closed"
    return answer(ctx, auth_pb2.LogoutResponse(),
                  f"logged out{' ' + user if user else ''} (session {_session_id(token)} {ended})")


def cmd_whoami(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().whoami()
    return show(ctx, response, render.whoami(response, ctx.credential().source))


def cmd_password(args: argparse.Namespace, ctx: Context) -> int:
    passwords = PasswordReader(args.password_stdin)
    client = ctx.client()
    own = not args.user
    if not own:
        me = client.whoami()
        own = me.kind == "user" and me.name == args.user
    if own:
        old = passwords.current("current password: ", "the current password")
        new = passwords.new("new password: ")
        response = client.change_password(new, old_password=old)
        return answer(ctx, response, "password changed")
    new = passwords.new(f"new password for {args.user}: ")
    response = client.change_password(new, user=args.user)
    return answer(ctx, response, f"password of {args.user} set; they must change it at their next login")


# ---- cluster security settings -------------------------------------------------------------


def cmd_bootstrap(args: argparse.Namespace, ctx: Context) -> int:
    response = ctx.client().bootstrap()
    return answer(ctx, response, f"apikey/{response.key_id} created (role admin in every domain); "
                                 f"the key is shown once:\n{response.token}")


def cmd_policy_get(args: argparse.Namespace, ctx: Context) -> int:
    policy = ctx.client().get_policy()
    return show(ctx, policy, render.policy(policy))


def approval_rules(given: list[tuple[str, str]]) -> dict[str, list[str]]:
    """--approval values as rules: per operation its domains, [] for every domain (an operation
    given without a domain holds everywhere, whatever else names it)."""
    everywhere = {operation for operation, domain in given if not domain}
    rules: dict[str, list[str]] = {}
    for operation, domain in given:
        listed = rules.setdefault(operation, [])
        if operation not in everywhere and domain not in listed:
            listed.append(domain)
    return rules


def cmd_policy_set(args: argparse.Namespace, ctx: Context) -> int:
    changes = {name: getattr(args, name) for name in (
        "password_min_length", "password_max_age_days", "max_failed_logins", "session_ttl_minutes",
        "audit_retention_days") if getattr(args, name) is not None}
    if not changes and args.approval is None and not args.no_approvals:
        args.parser.error("nothing to change: give at least one setting")
    client = ctx.client()
    policy = client.get_policy()
    for name, value in changes.items():
        setattr(policy, name, value)
    if args.approval is not None or args.no_approvals:
        del policy.approvals[:]
        for operation, domains in approval_rules(args.approval or []).items():
            policy.approvals.add(operation=operation, domains=domains)
    stored = client.set_policy(policy)
    return show(ctx, stored, "security policy updated\n" + render.policy(stored))

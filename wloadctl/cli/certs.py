"""`wloadctl certs`: create the cluster CA and issue mTLS certificates (see docs/security.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from wloadctl.cli import output
from wloadctl.cli.context import EXIT_FAILURE, EXIT_OK, Context, emit, emit_data, error
from wloadctl.cli.parser import command, subparsers
from wloadctl.security import certs

__all__ = ["DEFAULT_DIR", "add_certs_parser", "cmd_init", "cmd_issue", "cmd_show"]

DEFAULT_DIR = os.path.join(".", "wloadctl-certs")

_CERTS_DESCRIPTION = """\
Create the cluster's private CA and issue the certificates that replicas, execution agents
and API clients use for mutual TLS. Each certificate names its holder with the URI SAN
wloadctl://KIND/NAME; servers identify callers by it. Key files are written with mode 0600."""

_ISSUE_EPILOG = """\
examples:
  wloadctl certs issue --kind replica --name r1 --host r1.example.com --host 10.0.0.1
  wloadctl certs issue --kind agent --name a1
  wloadctl certs issue --kind client --name alice --dir /etc/wloadctl/certs

Replica certificates always include localhost and 127.0.0.1. Issuing again for the same
KIND and NAME replaces the files: that is how a certificate is renewed."""


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_certs_parser(verbs: Any) -> None:
    """Add `certs init|issue|show` to the top-level verbs of `wloadctl` (a sub-parsers action)."""
    group = command(verbs, "certs", 1, "create the cluster CA and issue TLS certificates",
                    description=_CERTS_DESCRIPTION)
    actions = subparsers(group, "action", "actions")

    init = command(
        actions, "init", 2, "create the cluster CA (ca.crt, ca.key)",
        description="Create the cluster CA: an ECDSA P-256 key (ca.key, mode 0600) and a self-signed\n"
                    "CA certificate (ca.crt). Every replica, agent and client gets ca.crt; ca.key is\n"
                    "needed only to issue certificates, so keep it off the cluster machines.\n"
                    "An existing CA is never replaced without --force.",
        epilog="example:\n  wloadctl certs init --dir /etc/wloadctl/certs",
        handler=cmd_init,
    )
    init.add_argument("--dir", default=DEFAULT_DIR, metavar="DIR",
                      help=f"where ca.crt and ca.key go (default {DEFAULT_DIR})")
    init.add_argument("--days", type=_days, default=3650, metavar="N", help="validity in days (default 3650)")
    init.add_argument("--force", action="store_true",
                      help="replace an existing CA (every certificate it issued stops being trusted)")

    issue = command(
        actions, "issue", 2, "issue a certificate for a replica, agent or client",
        description="Issue a certificate signed by the CA in --dir, written as DIR/KIND-NAME.crt and\n"
                    "DIR/KIND-NAME.key (mode 0600).",
        epilog=_ISSUE_EPILOG,
        handler=cmd_issue,
    )
    issue.add_argument("--kind", required=True, choices=certs.KINDS,
                       help="replica (server and client), agent or client (an API user)")
    issue.add_argument("--name", required=True, metavar="NAME",
                       help="replica id, agent id or user name: 1-64 of A-Z a-z 0-9 . _ -")
    issue.add_argument("--host", action="extend", nargs="+", dest="hosts", default=[], metavar="H",
                       help="DNS name or IP address peers dial (repeatable, or comma-separated)")
    issue.add_argument("--dir", default=DEFAULT_DIR, metavar="DIR",
                       help=f"the CA directory, where the files go too (default {DEFAULT_DIR})")
    issue.add_argument("--days", type=_days, default=825, metavar="N", help="validity in days (default 825)")

    show = command(
        actions, "show", 2, "show a certificate's subject, identity, validity and fingerprint",
        description="Show who a certificate identifies, its SANs, validity period and SHA-256\n"
                    "fingerprint (-o json|yaml for scripts).",
        handler=cmd_show,
    )
    show.add_argument("file", metavar="FILE", help="a PEM certificate (.crt)")


# ---- handlers ------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, ctx: Context) -> int:
    try:
        paths = certs.init_ca(Path(args.dir), days=args.days, force=args.force)
        info = certs.describe(paths.cert)
    except certs.CertError as failure:
        error(str(failure))
        return EXIT_FAILURE
    if ctx.output != "table":
        emit_data(ctx, {
            "ca": str(paths.cert), "key": str(paths.key), "subject": info["subject"],
            "not_after": info["not_after"], "fingerprint_sha256": info["fingerprint_sha256"],
        })
        return EXIT_OK
    emit(
        f"CA certificate: {paths.cert}\n"
        f"CA key:         {paths.key} (keep it secret; needed only to issue certificates)\n"
        f"expires:        {info['not_after']}\n"
        f"fingerprint:    SHA256 {info['fingerprint_sha256']}\n"
    )
    return EXIT_OK


def cmd_issue(args: argparse.Namespace, ctx: Context) -> int:
    hosts = [part.strip() for value in args.hosts for part in value.split(",") if part.strip()]
    try:
        paths = certs.issue(Path(args.dir), args.kind, args.name, hosts, days=args.days)
        info = certs.describe(paths.cert)
        ca_expiry = certs.describe(paths.ca)["not_after"]
    except certs.CertError as failure:
        error(str(failure))
        return EXIT_FAILURE
    if info["not_after"] == ca_expiry:
        print(f"note: validity shortened to the CA's expiry ({ca_expiry}); rotate the CA before then",
              file=sys.stderr)
    if ctx.output != "table":
        emit_data(ctx, {
            "cert": str(paths.cert), "key": str(paths.key), "ca": str(paths.ca),
            "kind": info["kind"], "name": info["name"],
            "dns_names": info["dns_names"], "ip_addresses": info["ip_addresses"],
            "not_after": info["not_after"], "fingerprint_sha256": info["fingerprint_sha256"],
        })
        return EXIT_OK
    emit(
        f"wrote {paths.cert}\n"
        f"wrote {paths.key}\n"
        f"identity wloadctl://{info['kind']}/{info['name']}, expires {info['not_after']}, CA {paths.ca}\n"
    )
    return EXIT_OK


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    try:
        info = certs.describe(Path(args.file))
    except certs.CertError as failure:
        error(str(failure))
        return EXIT_FAILURE
    if ctx.output != "table":
        emit_data(ctx, info)
        return EXIT_OK
    if info["kind"]:
        identity = f"{info['kind']}/{info['name']} (wloadctl://{info['kind']}/{info['name']})"
    else:
        identity = "CA certificate" if info["ca"] else "none (no wloadctl:// URI SAN)"
    validity = f"{info['not_before']} to {info['not_after']}"
    if not info["valid_now"]:
        validity += "  (NOT VALID NOW)"
    rows = [
        ("File", info["file"]),
        ("Subject", info["subject"]),
        ("Issuer", info["issuer"]),
        ("Identity", identity),
        ("DNS names", ", ".join(info["dns_names"]) or "-"),
        ("IP addresses", ", ".join(info["ip_addresses"]) or "-"),
        ("Key usage", ", ".join(info["extended_key_usage"]) or "-"),
        ("Validity", validity),
        ("Serial", info["serial"]),
        ("Fingerprint", f"SHA256 {info['fingerprint_sha256']}"),
    ]
    emit("".join(f"{key + ':':<14}{output.sanitize_cell(value)}\n" for key, value in rows))
    return EXIT_OK

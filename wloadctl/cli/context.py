"""What every command handler works with: the global options (Context), exit codes, and how a
result or a failure is written.

The conventions (docs/cli.md; operators' scripts depend on them): stdout carries only the
result, a table or one JSON/YAML document with -o; every failure is `error: <message>` lines
on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import grpc

from wloadctl.cli import output, userconfig
from wloadctl.client import ENV_SERVER, Client, ClientCredentials, servers_from_env

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_APPROVAL_PENDING = 3  # a write held by a four-eyes policy: it runs once another user approves it
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_FOR = 15.0
LIST_PAGE_SIZE = 500


@dataclass
class Context:
    servers: list[str] = field(default_factory=list)
    output: str = "table"
    timeout: float = DEFAULT_TIMEOUT
    retry_for: float = DEFAULT_RETRY_FOR
    token: str = ""       # --token
    api_key: str = ""     # --api-key
    ca: str = ""          # --ca
    cert: str = ""        # --cert: a client certificate, exchanged for a session (with --key)
    key: str = ""         # --key
    stale: bool = False   # --stale
    _client: Client | None = None
    _config: userconfig.CliConfig | None = None
    _cert_login: Any = None

    def cli_config(self) -> userconfig.CliConfig:
        """The CLI's own config file (read once; an empty one when there is none)."""
        if self._config is None:
            self._config = userconfig.load()
        return self._config

    def server_list(self) -> list[str]:
        """--server, else WLOADCTL_SERVER, else the CLI config's [cluster] servers, else the defaults."""
        if not self.servers and not os.environ.get(ENV_SERVER, "").strip() and self.cli_config().servers:
            return list(self.cli_config().servers)
        return servers_from_env(self.servers or None)

    def credential(self) -> userconfig.Credential:
        if (self.cert or self.key) and not (self.token or self.api_key):
            return userconfig.Credential(self.certificate_session().token, "--cert")
        return userconfig.resolve_credential(self.token, self.api_key, self.cli_config())

    def certificate_session(self) -> Any:
        """A session from --cert/--key (one per invocation): the replica's mutual-TLS port checks it."""
        if self._cert_login is None:
            if not (self.cert and self.key):
                raise ValueError("--cert and --key go together")
            try:
                cert, key = Path(self.cert).read_bytes(), Path(self.key).read_bytes()
            except OSError as e:
                raise ValueError(f"cannot read {e.filename}: {e.strerror or e}") from None
            with Client(self.server_list(), timeout=self.timeout, retry_for=self.retry_for,
                        credentials=ClientCredentials(ca_pem=self.ca_pem())) as client:
                self._cert_login = client.certificate_login(cert, key)
        return self._cert_login

    def ca_pem(self) -> bytes | None:
        """The CA certificate to trust (None: plaintext, for a cluster run with --insecure)."""
        path = userconfig.resolve_ca(self.ca, self.cli_config())
        if not path:
            return None
        if self.ca:
            source = "--ca"
        elif os.environ.get(userconfig.ENV_CA, "").strip():
            source = userconfig.ENV_CA
        else:
            source = f"the CLI config {userconfig.config_path()}"
        try:
            pem = Path(path).read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read the CA certificate {path} (from {source}): {e.strerror or e}") from None
        # gRPC takes anything and fails later with an opaque handshake error: say it here.
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            raise ValueError(f"the CA certificate {path} (from {source}) is not a PEM certificate")
        return pem

    def new_client(self, token: str | None = None, timeout: float | None = None,
                   retry_for: float | None = None) -> Client:
        """A client of its own (the caller closes it): ``token`` None uses the resolved credential,
        "" none at all (login)."""
        credentials = ClientCredentials(token=self.credential().token if token is None else token,
                                        ca_pem=self.ca_pem())
        return Client(self.server_list(), timeout=self.timeout if timeout is None else timeout,
                      retry_for=self.retry_for if retry_for is None else retry_for, credentials=credentials,
                      stale=self.stale)

    def client(self) -> Client:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


Handler = Callable[[argparse.Namespace, Context], int]


# ---- results -------------------------------------------------------------------------------


def emit(text: str) -> None:
    sys.stdout.write(text)


def emit_data(ctx: Context, data: Any) -> None:
    emit(output.dump(data, ctx.output))


def emit_bytes(data: bytes) -> None:
    """Raw bytes to stdout, after any text already written (binary-safe: no decoding)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only replacement of stdout
        sys.stdout.write(data.decode("utf-8", errors="replace"))
        sys.stdout.flush()
        return
    buffer.write(data)
    buffer.flush()


def answer(ctx: Context, response: Any, line: str) -> int:
    """The response as a document with -o json|yaml, else one human line."""
    if ctx.output != "table":
        emit_data(ctx, output.message_to_dict(response))
    else:
        emit(line + "\n")
    return EXIT_OK


def show(ctx: Context, message: Any, text: str) -> int:
    """The message as a document with -o json|yaml, else its text for people (a table, a describe)."""
    emit(output.dump(output.message_to_dict(message), ctx.output) if ctx.output != "table" else text)
    return EXIT_OK


def listing(ctx: Context, items: Any, limit: int, key: str, table: Callable[[list[Any]], str]) -> int:
    """A listing: `limit` items at most, as {key: [...]} with -o json|yaml, else a table."""
    chosen = list(islice(items, limit) if limit else items)
    if ctx.output != "table":
        emit_data(ctx, {key: [output.message_to_dict(m) for m in chosen]})
    elif not chosen:
        print(f"No {key} found.", file=sys.stderr)
    else:
        emit(table(chosen))
    return EXIT_OK


def page_size(limit: int) -> int:
    return min(limit, LIST_PAGE_SIZE) if limit else LIST_PAGE_SIZE


# ---- failures ------------------------------------------------------------------------------


def error(message: str) -> None:
    # A multi-line message (several validation errors) stays one `error:` per line, so that
    # `grep '^error:'` and line-based log collectors see every line.
    for line in str(message).splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def rpc_error_message(failure: grpc.RpcError) -> str:
    code = failure.code() if hasattr(failure, "code") else grpc.StatusCode.UNKNOWN
    details = failure.details() if hasattr(failure, "details") else ""
    return status_message(code, details or "")


def status_message(code: grpc.StatusCode, message: str) -> str:
    message = message or code.name.lower().replace("_", " ")
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach the cluster: {message}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"request timed out (see --timeout): {message}"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"not authenticated: {message} (log in with wloadctl login, or pass --token/--api-key)"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        # The server's own message may already say so ("permission denied: job.read in domain ...").
        return message if message.startswith("permission denied") else f"permission denied: {message}"
    if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED):
        return f"server error ({code.name}): {message}"
    # INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION...: the server's message says it all.
    return message

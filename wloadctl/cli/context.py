"""What every command handler works with: the global options (Context), exit codes, and how a
result or a failure is written.

The conventions (docs/cli.md; operators' scripts depend on them): stdout carries only the
result, a table or one JSON/YAML document with -o; every failure is `error: <message>` lines
on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import grpc

from wloadctl.cli import output
from wloadctl.client import Client

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
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
    _client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.servers or None, timeout=self.timeout, retry_for=self.retry_for)
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
        return f"not authenticated: {message}"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied: {message}"
    if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED):
        return f"server error ({code.name}): {message}"
    # INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION...: the server's message says it all.
    return message

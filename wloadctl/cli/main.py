"""The `wloadctl` command line: kubectl-like verbs over the Client API.

Conventions every command keeps (operators' scripts depend on them, see docs/cli.md):
  * stdout carries only the result (a table, or one JSON/YAML document with -o);
  * every failure is `error: <message>` lines on stderr, never a traceback;
  * exit codes: 0 ok, 1 request/validation failure, 2 usage error, 3 the request waits for a
    four-eyes approval, 130 interrupted, 141 stdout closed early (e.g. piped into `head`).

The parser is in parser.py, the commands in commands/, how resources read in render.py; this
module runs one command and turns what it raises into a message and an exit code.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import grpc

from wloadctl.cli.context import (
    EXIT_APPROVAL_PENDING,
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    Handler,
    error,
    rpc_error_message,
    status_message,
)
from wloadctl.cli.parser import build_parser, merge_globals
from wloadctl.client import ClientError, ClusterUnavailableError

__all__ = ["build_parser", "main"]

DEBUG_ENV = "WLOADCTL_DEBUG"


def _describe_os_error(failure: OSError) -> str:
    reason = failure.strerror or str(failure)
    return f"{failure.filename}: {reason}" if failure.filename else reason


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    ctx = merge_globals(args)
    handler: Handler = args.handler
    try:
        return handler(args, ctx)
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): quietly stop, and keep Python's own flush at exit
        # from raising again on the dead pipe.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_BROKEN_PIPE
    except ClusterUnavailableError as failure:
        error(failure.message)  # complete already: what each server answered, or that it was unreachable
        return EXIT_FAILURE
    except ClientError as failure:
        if failure.approval_id:
            # Not a failure: the write is held until a second person approves it (four-eyes).
            # stderr, like other notes, so that stdout stays one document with -o json|yaml.
            print(f"approval/{failure.approval_id} requested: {failure.message}", file=sys.stderr)
            print(f"another user approves it with: wloadctl approval approve {failure.approval_id}", file=sys.stderr)
            return EXIT_APPROVAL_PENDING
        error(status_message(failure.code, failure.message))
        return EXIT_FAILURE
    except grpc.RpcError as failure:
        error(rpc_error_message(failure))
        return EXIT_FAILURE
    except ValueError as failure:
        # SpecErrors renders one line per validation error; other ValueErrors are bad input.
        error(str(failure))
        return EXIT_FAILURE
    except OSError as failure:
        error(_describe_os_error(failure))
        return EXIT_FAILURE
    except Exception as failure:
        # A bug, not a user mistake. The replica process (`server`) writes to a log that is
        # read after the fact, so it keeps the traceback; the CLI shows one line.
        if os.environ.get(DEBUG_ENV) or args.verb in ("server", "agent"):
            traceback.print_exc()
        error(f"internal error: {type(failure).__name__}: {failure}")
        return EXIT_FAILURE
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())

"""`-w`/`--watch`: print a watch's events as they come (kubectl-style), never polling.

As a table: the snapshot as one table, then one row per change (a DELETE row says the object left
the filter or was removed). With -o json: one WatchEvent per line (JSON Lines), SNAPSHOT events,
one SYNCED, then PUT, DELETE and BOOKMARK events with their Raft index; with -o yaml the same
documents separated by `---`. The client resumes a broken stream on another replica by itself."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from wloadctl.cli import output
from wloadctl.cli.context import EXIT_OK, Context, emit
from wloadctl.proto.v1 import watch_pb2

WE = watch_pb2.WatchEvent


def event_line(ctx: Context, event: watch_pb2.WatchEvent) -> str:
    data = output.message_to_dict(event)
    if ctx.output == "json":
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
    return "---\n" + output.dump_yaml(data)


def _rows(table: str) -> list[str]:
    return table.splitlines(keepends=True)[1:]


def follow(ctx: Context, events: Iterable[watch_pb2.WatchEvent], table: Callable[[Sequence[Any]], str],
           obj: Callable[[watch_pb2.WatchEvent], Any]) -> int:
    """Print ``events`` for ever (Ctrl-C ends it)."""
    snapshot: list[Any] = []
    for event in events:
        item = obj(event) if event.WhichOneof("object") else None
        if ctx.output != "table":
            emit(event_line(ctx, event))
            sys.stdout.flush()
        elif event.type == WE.SNAPSHOT:
            snapshot.append(item)
        elif event.type == WE.SYNCED:
            if snapshot:
                emit(table(snapshot))
            else:
                print("No matches yet; watching.", file=sys.stderr)
            snapshot = []
            sys.stdout.flush()
        elif event.type == WE.PUT and item is not None:
            emit("".join(_rows(table([item]))))
            sys.stdout.flush()
        elif event.type == WE.DELETE:
            emit(f"{event.key} (removed, or no longer matching)\n")
            sys.stdout.flush()
    return EXIT_OK

"""Progress of long CLI work (a large apply, an audit export) on one stderr line.

Shown only to a person: when stderr is a terminal and the output is the human one (never with
-o json|yaml, never in a pipe, a file or a CI log). It stays silent for the first half second, so
quick commands print exactly what they always printed, is redrawn at most ten times a second, and
is erased when the work is done, so the terminal keeps only the command's result.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

DELAY_S = 0.5
INTERVAL_S = 0.1


class Progress:
    """``with Progress(ctx.output, "reading audit records") as p: p.update(n)``.

    ``update(done, total)`` shows "what: done/total" (or "what: done" without a total);
    ``phase(text)`` shows a line of its own while a single long step runs (a request); ``force``
    shows it at once, for steps known to be long (a large apply)."""

    def __init__(self, output_format: str, what: str, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.what = what
        self.clock = clock
        self.started = clock()
        self.last_draw = float("-inf")
        self.width = 0
        if enabled is None:
            enabled = output_format == "table" and _is_terminal(self.stream)
        self.enabled = enabled

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.clear()

    def update(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self.started < DELAY_S or (now - self.last_draw < INTERVAL_S and done != total):
            return
        self._draw(f"{self.what}: {done}/{total}" if total else f"{self.what}: {done}", now)

    def phase(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if force or now - self.started >= DELAY_S:
            self._draw(text, now)

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def _draw(self, text: str, now: float) -> None:
        text = text.encode("ascii", "replace").decode()[:_columns() - 1]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = max(self.width, len(text))
        self.last_draw = now


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


def _columns() -> int:
    try:
        return max(20, os.get_terminal_size(sys.stderr.fileno()).columns)
    except (OSError, ValueError, AttributeError):
        return 80

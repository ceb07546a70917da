"""Read-your-writes on any replica (Nomad-style index passing).

Every successful answer carries the Raft index it reflects (INDEX_HEADER); a request may carry the
highest index its client has seen (MIN_INDEX_HEADER) and is then answered only once this replica
has applied it. A follower that forwarded a write to the leader answers with the leader's index,
so the client's next read, wherever it lands, sees that write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextvars import ContextVar

import grpc

from wloadctl.api.headers import MIN_INDEX_HEADER

# How long a replica waits to catch up with a caller's index before telling it to try another one:
# a healthy follower is milliseconds behind; one seconds behind is better skipped.
MAX_CATCH_UP_S = 5.0

# The index an answer produced on another replica (a forwarded call) reflects; one value per call
# (each RPC runs in its own task, and awaiting a coroutine shares the caller's context).
forwarded_index: ContextVar[int] = ContextVar("forwarded_index", default=0)


def note_forwarded_index(value: str | None) -> None:
    """Record the index header of an answer this replica relayed from the leader."""
    try:
        index = int(value or 0)
    except ValueError:
        return
    if index > forwarded_index.get():
        forwarded_index.set(index)


def requested_min_index(context: grpc.aio.ServicerContext) -> int | None:
    """The caller's min index (0 if none), or None if the header is malformed."""
    for key, value in context.invocation_metadata() or ():
        if key == MIN_INDEX_HEADER:
            if not isinstance(value, str) or not value.isdigit() or len(value) > 20:
                return None
            return int(value)
    return 0


async def wait_applied(applied: Callable[[], int], index: int, timeout: float) -> int:
    """Wait until ``applied()`` reaches ``index`` or ``timeout`` passes; returns the last applied index.

    Polls with a short backoff: waiting happens only on a replica that is behind, for the few
    milliseconds a follower trails the leader."""
    deadline = time.monotonic() + max(0.0, timeout)
    delay = 0.001
    while True:
        reached = applied()
        if reached >= index or time.monotonic() >= deadline:
            return reached
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.02)

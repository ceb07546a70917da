"""A workflow run's node states, live, as Server-Sent Events: what the business link view recolours.

The replica's WatchWorkflowRuns stream for the one run (each change carries the whole run with its
tasks) is read as the logged-in user; the stream sends the browser only what changed since the last
event: ``nodes`` (the tasks whose state, attempt or run changed, as linkgraph.node makes them) and
``run`` (the run's state, counts, paused). The first event after connecting carries every node, so a
browser that reconnects (EventSource does by itself) is right again whatever it missed. Nothing is
polled. Bounded as the log streams are (logstream.py): streams per replica (shared with them), each
stream's life, a comment line every ``PING_S`` to notice a browser that left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wloadctl.console import linkgraph
from wloadctl.console.gateway import ApiError, Caller, Gateway
from wloadctl.console.logstream import MAX_STREAM_S, MAX_STREAMS, PING_S
from wloadctl.console.security import PAGE_HEADERS
from wloadctl.proto.v1 import workflows_pb2

if TYPE_CHECKING:
    from wloadctl.console.app import Console


class _Latest:
    """The newest state of the run the watch delivered (changes coalesce: each carries the whole run)."""

    def __init__(self) -> None:
        self.run: workflows_pb2.WorkflowRun | None = None
        self.changed = asyncio.Event()
        self.error = ""
        self.ended = False


async def _send(response: web.StreamResponse, event: str, data: object) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())


async def stream_workflow_run(request: web.Request, console: Console, gw: Gateway, caller: Caller,
                              run_id: str) -> web.StreamResponse:
    if len(console.streams) >= MAX_STREAMS:
        return web.json_response({"error": "too many live streams on this replica; retry later"}, status=503)
    # The first read happens before the stream opens: a refusal (no such run, another domain's, the
    # session over) is an ordinary HTTP answer, and EventSource does not retry it.
    first = await gw.get_workflow_run(caller, run_id)
    response = web.StreamResponse(headers={**PAGE_HEADERS, "Content-Type": "text/event-stream",
                                           "X-Accel-Buffering": "no"})
    latest = _Latest()
    latest.run = first
    console.streams.add(latest.changed)  # set at shutdown too: the loop below sees console.stopping
    watcher = asyncio.create_task(_watch(gw, caller, run_id, latest))
    sent: dict[str, dict[str, Any]] = {}
    sent_run: dict[str, Any] = {}
    deadline = time.monotonic() + MAX_STREAM_S
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        while not console.stopping and time.monotonic() < deadline:
            wrun, latest.run = latest.run, None
            latest.changed.clear()
            if wrun is not None:
                sent, changed = linkgraph.changes(sent, wrun)
                if changed:
                    await _send(response, "nodes", changed)
                summary = linkgraph.run_summary(wrun)
                if summary != sent_run:
                    await _send(response, "run", summary)
                    sent_run = summary
                continue
            if latest.ended:
                await _send(response, "end", {"error": latest.error or "the watch ended"})
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(latest.changed.wait(), min(PING_S, max(0.0, deadline - time.monotonic())))
            if not latest.changed.is_set():
                await response.write(b": ping\n\n")  # fails once the browser has gone
    except ConnectionError:
        pass  # the browser left
    finally:
        console.streams.discard(latest.changed)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
    return response


async def _watch(gw: Gateway, caller: Caller, run_id: str, latest: _Latest) -> None:
    try:
        async for event in gw.watch_workflow_run(caller, run_id):
            if event.HasField("workflow_run"):
                latest.run = event.workflow_run
                latest.changed.set()
    except ApiError as e:
        latest.error = e.message
    finally:
        latest.ended = True
        latest.changed.set()

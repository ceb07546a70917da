"""A run's log, live, as Server-Sent Events: what `wloadctl logs -f` does, for a browser.

Read the log from an offset (GetRunLogs: the agent's full log, or the capped tail in the state when
the agent is unreachable); when nothing new is there, wait for the run's next change (a WatchRuns
stream: new output, a new state, or a bookmark) and read again; stop when the attempt's log is
complete. Each ``log`` event carries text (JSON, so the page adds it with textContent: log output is
never markup) and, as its id, the byte offset reached: a browser that reconnects sends it back as
Last-Event-ID and the stream resumes there. Bounded: streams per replica, and each stream's life
(the browser reconnects after it); a comment line every ``PING_S`` notices a browser that left.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import time
from typing import TYPE_CHECKING

from aiohttp import web

from wloadctl.console.gateway import ApiError, Caller, Gateway
from wloadctl.console.security import PAGE_HEADERS
from wloadctl.proto.v1 import runs_pb2

if TYPE_CHECKING:
    from wloadctl.console.app import Console

RS = runs_pb2.RunState
FINAL = frozenset({RS.SUCCEEDED, RS.FAILED, RS.TIMED_OUT, RS.KILLED, RS.SKIPPED})
MAX_STREAMS = 64
MAX_STREAM_S = 600.0
PING_S = 15.0
FINAL_WAIT_S = 10.0
CHUNK_BYTES = 64 << 10
MAX_OFFSET = 1 << 50


def _offset(text: str) -> int | None:
    if not text:
        return 0
    if not text.isdigit() or len(text) > 16 or int(text) > MAX_OFFSET:
        return None
    return int(text)


async def _send(response: web.StreamResponse, event: str, data: object, event_id: str = "") -> None:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data))
    await response.write(("\n".join(lines) + "\n\n").encode())


async def stream_log(request: web.Request, console: Console, gw: Gateway, caller: Caller,
                     run_id: str) -> web.StreamResponse:
    offset = _offset(request.headers.get("Last-Event-ID", "") or request.query.get("offset", ""))
    attempt_text = request.query.get("attempt", "0")
    if offset is None or not attempt_text.isdigit() or len(attempt_text) > 4:
        return web.json_response({"error": "offset: a byte offset; attempt: a number"}, status=400)
    if len(console.streams) >= MAX_STREAMS:
        return web.json_response({"error": "too many log streams on this replica; retry later"}, status=503)
    # The first read happens before the stream opens: a refusal (no such run, no permission, the
    # session over) is an ordinary HTTP answer, and the page can tell.
    page = await gw.run_logs(caller, run_id, int(attempt_text), offset, CHUNK_BYTES)
    response = web.StreamResponse(headers={**PAGE_HEADERS, "Content-Type": "text/event-stream",
                                           "X-Accel-Buffering": "no"})
    changed = asyncio.Event()
    console.streams.add(changed)
    watcher = asyncio.create_task(_watch(gw, caller, run_id, changed))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    deadline = time.monotonic() + MAX_STREAM_S
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        while not console.stopping and time.monotonic() < deadline:
            next_offset = max(offset, page.next_offset or offset + len(page.data))
            if page.data:
                await _send(response, "log", {"text": decoder.decode(page.data)}, str(next_offset))
            progressed = bool(page.data) and next_offset > offset
            offset = next_offset
            if page.complete or (not progressed and page.source == "state" and page.state in FINAL):
                state = await _final_state(gw, caller, run_id, page.state, changed)
                await _send(response, "end", {"state": RS.Name(state) if state in RS.values() else "",
                                              "missing": page.missing, "source": page.source})
                break
            if not progressed:
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), PING_S)
                if not changed.is_set():
                    await response.write(b": ping\n\n")  # fails once the browser has gone
                if watcher.done() and not changed.is_set():
                    await _send(response, "end", {"state": "", "missing": "", "source": "", "error": "watch ended"})
                    break
            page = await gw.run_logs(caller, run_id, int(attempt_text), offset, CHUNK_BYTES)
    except ApiError as e:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await _send(response, "end", {"state": "", "missing": "", "source": "", "error": e.message})
    except ConnectionError:
        pass  # the browser left
    finally:
        console.streams.discard(changed)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
    return response


async def _final_state(gw: Gateway, caller: Caller, run_id: str, state: int, changed: asyncio.Event) -> int:
    """The run's state once it is final: an agent's log is complete a moment before the run's end is
    committed. Waits for the run's changes, at most ``FINAL_WAIT_S``; then the state as it is."""
    deadline = time.monotonic() + FINAL_WAIT_S
    while state not in FINAL and time.monotonic() < deadline:
        changed.clear()
        state = (await gw.get_run(caller, run_id)).state
        if state not in FINAL:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.0, deadline - time.monotonic()))
    return state


async def _watch(gw: Gateway, caller: Caller, run_id: str, changed: asyncio.Event) -> None:
    """Set ``changed`` on every change of the run (the first read covers what the snapshot says)."""
    with contextlib.suppress(ApiError):
        async for _event in gw.watch_run(caller, run_id):
            changed.set()

"""How values read on the console's pages: times in UTC (as the CLI prints them), durations, states."""

from __future__ import annotations

import datetime

import jinja2

from wloadctl.proto.v1 import runs_pb2

RS = runs_pb2.RunState
_STATE_CLASS = {RS.SUCCEEDED: "ok", RS.FAILED: "bad", RS.TIMED_OUT: "bad", RS.LOST: "bad", RS.KILLED: "warn",
                RS.SKIPPED: "muted", RS.RUNNING: "live", RS.DISPATCHED: "live"}


def format_ms(ms: int) -> str:
    if not ms:
        return "-"
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # as the CLI prints times


def iso_ms(ms: int) -> str:
    """Machine-readable, for <time datetime=...>."""
    if not ms:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat(timespec="milliseconds")


def duration(ms: int | float | None) -> str:
    if ms is None or ms < 0:
        return "-"
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def between(start_ms: int, end_ms: int) -> str:
    return duration(end_ms - start_ms) if start_ms and end_ms else "-"


def state_name(state: int) -> str:
    return RS.Name(state) if state in RS.values() else str(state)


def state_class(state: int) -> str:
    return _STATE_CLASS.get(state, "")


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def install(env: jinja2.Environment) -> None:
    env.filters.update(ms=format_ms, iso=iso_ms, duration=duration, state=state_name, state_class=state_class,
                       percent=percent)
    env.globals.update(between=between)

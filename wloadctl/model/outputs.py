"""Task outputs: a job publishes `key=value` pairs by printing `::set-output key=value` lines on
stdout; the agent collects them (bounded) and reports them with the attempt's end; workflow tasks
downstream receive them as `WLOADCTL_UPSTREAM_<TASK>_<KEY>` environment variables.

The same bounds are applied by the agent (collecting) and by the state machine (recording), so a
misbehaving agent cannot grow a run record past them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PREFIX = b"::set-output "
MAX_OUTPUTS = 64
MAX_KEY = 64
MAX_VALUE = 4096
MAX_TOTAL = 64 << 10
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# A line longer than any valid output line is not one: its bytes are skipped, never buffered.
_MAX_LINE = len(PREFIX) + MAX_KEY + 1 + MAX_VALUE


def env_name(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9_]", "_", p).upper() for p in parts)


def upstream_env(task: str, key: str) -> str:
    return f"WLOADCTL_UPSTREAM_{env_name(task, key)}"


def clean(outputs: Mapping[str, str]) -> dict[str, str]:
    """The outputs that fit the bounds (sorted by key, the first MAX_OUTPUTS, at most MAX_TOTAL bytes)."""
    out: dict[str, str] = {}
    total = 0
    for key, value in sorted(outputs.items()):
        if len(out) >= MAX_OUTPUTS or not _KEY.fullmatch(key) or len(value.encode()) > MAX_VALUE or "\0" in value:
            continue
        total += len(key) + len(value.encode())
        if total > MAX_TOTAL:
            break
        out[key] = value
    return out


class OutputCollector:
    """Feeds on a stdout stream in arbitrary chunks; `outputs` holds what `::set-output` lines set
    (a later line for the same key replaces it)."""

    def __init__(self) -> None:
        self.outputs: dict[str, str] = {}
        self._line = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> None:
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                if len(self._line) + len(piece) > _MAX_LINE:
                    self._skipping = True
                    self._line.clear()
                else:
                    self._line += piece
            if end < 0:
                return
            if not self._skipping:
                self._take(bytes(self._line))
            self._line.clear()
            self._skipping = False
            start = end + 1

    def finish(self) -> dict[str, str]:
        if self._line and not self._skipping:
            self._take(bytes(self._line))
        self._line.clear()
        return clean(self.outputs)

    def _take(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if not line.startswith(PREFIX):
            return
        key, sep, value = line[len(PREFIX):].partition(b"=")
        try:
            k, v = key.decode(), value.decode()
        except UnicodeDecodeError:
            return
        if sep and _KEY.fullmatch(k) and len(value) <= MAX_VALUE and (k in self.outputs or
                                                                      len(self.outputs) < MAX_OUTPUTS):
            self.outputs[k] = v

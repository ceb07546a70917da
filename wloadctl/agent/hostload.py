"""What the agent's host is doing: load, CPU, memory, disk (Linux /proc; elsewhere what os offers).

Sampled at most every SAMPLE_EVERY_S (heartbeats are more frequent) and cheap: three small
/proc reads and one statvfs."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from wloadctl.proto.v1 import agent_pb2

SAMPLE_EVERY_S = 5.0


def _cpu_times(text: str) -> tuple[int, int] | None:
    """(busy, total) jiffies of the aggregate ``cpu`` line of /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            total = sum(values[:8])  # guest time is already counted in user
            return total - idle, total
    return None


def _available_memory(text: str) -> tuple[int, int]:
    """(total, available) bytes from /proc/meminfo."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024
    return fields.get("MemTotal", 0), fields.get("MemAvailable", fields.get("MemFree", 0))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class HostSampler:
    def __init__(self, work_dir: Path, log_bytes: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.work_dir = work_dir
        self.log_bytes = log_bytes
        self.clock = clock
        self._last: agent_pb2.HostLoad | None = None
        self._taken = 0.0
        self._cpu: tuple[int, int] | None = None

    def sample(self) -> agent_pb2.HostLoad:
        """The latest sample, taken again when older than SAMPLE_EVERY_S."""
        now = self.clock()
        if self._last is not None and now - self._taken < SAMPLE_EVERY_S:
            return self._last
        self._taken = now
        self._last = self._measure()
        return self._last

    def _measure(self) -> agent_pb2.HostLoad:
        load = agent_pb2.HostLoad(cpus=os.cpu_count() or 0, sampled_ms=int(time.time() * 1000))
        with contextlib.suppress(OSError):
            load.load1 = os.getloadavg()[0]
        cpu = _cpu_times(_read("/proc/stat"))
        if cpu is not None:
            if self._cpu is not None and cpu[1] > self._cpu[1]:
                load.cpu_busy_ratio = max(0.0, min(1.0, (cpu[0] - self._cpu[0]) / (cpu[1] - self._cpu[1])))
            self._cpu = cpu
        load.memory_total_bytes, load.memory_available_bytes = _available_memory(_read("/proc/meminfo"))
        try:
            st = os.statvfs(self.work_dir)
            load.disk_total_bytes = st.f_blocks * st.f_frsize
            load.disk_free_bytes = st.f_bavail * st.f_frsize
        except OSError:
            pass
        load.log_store_bytes = self.log_bytes()
        return load

"""The agent's host sampler: /proc parsing and the sampling period."""

from __future__ import annotations

from pathlib import Path

from wloadctl.agent.hostload import SAMPLE_EVERY_S, HostSampler, _available_memory, _cpu_times


def test_proc_stat_and_meminfo_parse() -> None:
    stat = "cpu  100 5 50 800 45 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n"
    assert _cpu_times(stat) == (155, 1000)
    assert _cpu_times("intr 1 2\n") is None
    meminfo = "MemTotal:       16000 kB\nMemFree:    1000 kB\nMemAvailable:   8000 kB\n"
    assert _available_memory(meminfo) == (16000 * 1024, 8000 * 1024)
    assert _available_memory("MemTotal: 10 kB\nMemFree: 4 kB\n") == (10240, 4096)


def test_samples_are_reused_within_the_period_and_real(tmp_path: Path) -> None:
    now = [100.0]
    sampler = HostSampler(tmp_path, lambda: 1234, clock=lambda: now[0])
    first = sampler.sample()
    assert first.disk_total_bytes > 0 and first.log_store_bytes == 1234 and first.cpus >= 1
    assert first.memory_total_bytes >= first.memory_available_bytes > 0
    now[0] += SAMPLE_EVERY_S / 2
    assert sampler.sample() is first
    now[0] += SAMPLE_EVERY_S
    second = sampler.sample()
    assert second is not first and 0.0 <= second.cpu_busy_ratio <= 1.0

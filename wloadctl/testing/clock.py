"""A clock that moves only when a test moves it: decisions are tested without sleeping."""

from __future__ import annotations

from datetime import datetime


class ManualClock:
    """Seconds, like time.time() and time.monotonic(); call it to read, advance() or set() to move."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    @property
    def ms(self) -> int:
        return int(self.now * 1000)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: float | datetime) -> None:
        """Jump (forwards or backwards) to ``when``: seconds since the epoch or an aware datetime."""
        self.now = when.timestamp() if isinstance(when, datetime) else float(when)

"""Token buckets: how often something may happen, overall or per client address.

In memory on each replica, never replicated: they protect a replica's CPU and the cluster's
write rate from a caller who repeats something expensive (a password guess costs ~80 ms of
scrypt; a permission denial costs an audit record through Raft). Correctness never depends on
them: the lockout after failed logins is counted in the replicated state.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["PerKeyLimiter", "TokenBucket"]


class TokenBucket:
    """``rate`` events per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.last = clock()

    def take(self) -> float:
        """0 when the event may happen now (and it is counted); else seconds until it may."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class PerKeyLimiter:
    """A TokenBucket per key (a client's IP address), for at most ``max_keys`` keys.

    Beyond ``max_keys`` the least recently seen key is forgotten, so the memory stays bounded
    whoever calls; a forgotten key starts again with a full burst."""

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        TokenBucket(rate, burst, clock)  # the same argument checks
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when ``key`` may act now (and it is counted); else seconds until it may."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()

    def __len__(self) -> int:
        return len(self._buckets)

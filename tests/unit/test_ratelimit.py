"""Token buckets with an injected clock."""

from __future__ import annotations

import pytest

from wloadctl.api.ratelimit import PerKeyLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)   # one token takes half a second at 2/s
    clock.now += 0.25
    assert bucket.take() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take() == 0.0
    clock.now += 3600
    assert [bucket.take() for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # never more than the burst saved up
    assert bucket.take() > 0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=3)
    with pytest.raises(ValueError):
        PerKeyLimiter(rate=1, burst=0)


def test_each_address_has_its_own_bucket_and_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = PerKeyLimiter(rate=1.0, burst=2, max_keys=3, clock=clock)
    assert [limiter.take("10.0.0.1") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("10.0.0.1") == pytest.approx(1.0)
    assert limiter.take("10.0.0.2") == 0.0            # another address is not held back
    for ip in ("10.0.0.3", "10.0.0.4", "10.0.0.5"):
        limiter.take(ip)
    assert len(limiter) == 3                          # the least recently seen were forgotten
    assert limiter.take("10.0.0.1") == 0.0            # ... and start again with a full burst

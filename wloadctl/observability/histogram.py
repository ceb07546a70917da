"""A histogram kept as plain numbers, exported by a collector at scrape time.

Cheaper than prometheus_client's Histogram on hot paths (no lock, no label lookup) and readable by
code that is not about Prometheus (benchmarks, the console)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from prometheus_client.core import HistogramMetricFamily

# Seconds: from tens of milliseconds (a DAG hop, a dispatch) to minutes (a queue, a late firing).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Buckets:
    """A histogram's buckets, sum and count."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self._counts = [0] * (len(self.bounds) + 1)  # per bucket (not cumulative); the last is +Inf
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        self._counts[bisect.bisect_left(self.bounds, value)] += 1

    @property
    def counts(self) -> list[int]:
        """Cumulative counts per bound (Prometheus' `le` buckets, +Inf excluded)."""
        out, running = [], 0
        for n in self._counts[:-1]:
            running += n
            out.append(running)
        return out

    def family(self, name: str, documentation: str, labels: Sequence[str] = (),
               label_values: Sequence[str] = ()) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, documentation, labels=list(labels) or None)
        self.add_to(family, label_values)
        return family

    def add_to(self, family: HistogramMetricFamily, label_values: Sequence[str] = ()) -> None:
        buckets = [(_bound(b), c) for b, c in zip(self.bounds, self.counts, strict=True)]
        buckets.append(("+Inf", self.total))
        family.add_metric(list(label_values), buckets, self.sum)


def _bound(value: float) -> str:
    return repr(float(value))

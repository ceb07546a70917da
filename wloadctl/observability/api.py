"""API request counters and latency histograms, by method and status code.

Plain dictionaries touched on the event loop only (every servicer runs there): no lock, no label
lookup of prometheus_client's metric objects per call. The series are bounded: methods come from
the registered services, codes from gRPC's seventeen."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from wloadctl.observability.histogram import Buckets

# Unary calls: from a fast stale read (~1 ms) to a write that waits for a slow commit.
API_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = {}
        self.latency: dict[tuple[str, str], Buckets] = {}
        self.streams_open: dict[str, int] = {}

    def stream_opened(self, method: str) -> None:
        self.streams_open[method] = self.streams_open.get(method, 0) + 1

    def stream_closed(self, method: str) -> None:
        self.streams_open[method] = self.streams_open.get(method, 1) - 1

    def observe(self, method: str, code: grpc.StatusCode | None, seconds: float, streaming: bool) -> None:
        key = (method, (code or grpc.StatusCode.OK).name)
        self.requests[key] = self.requests.get(key, 0) + 1
        if streaming:
            return  # a stream's length says how long it was watched, not how fast it was served
        buckets = self.latency.get(key)
        if buckets is None:
            buckets = self.latency[key] = Buckets(API_BUCKETS_S)
        buckets.observe(seconds)

    def families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("wloadctl_api_requests", "API calls answered by this replica, by method "
                                       "and gRPC status code", labels=["method", "code"])
        failures = CounterMetricFamily("wloadctl_api_authentication_failures", "API calls refused as "
                                       "UNAUTHENTICATED (bad, expired or missing credentials, wrong passwords)",
                                       labels=["method"])
        for (method, code), n in sorted(self.requests.items()):
            requests.add_metric([method, code], n)
            if code == "UNAUTHENTICATED":
                failures.add_metric([method], n)
        yield requests
        yield failures
        latency = HistogramMetricFamily("wloadctl_api_request_duration_seconds", "Time to answer a unary API "
                                        "call on this replica, by method and code", labels=["method", "code"])
        for (method, code), buckets in sorted(self.latency.items()):
            buckets.add_to(latency, (method, code))
        yield latency
        streams = GaugeMetricFamily("wloadctl_api_streams_open", "Streaming calls (watches) open now, by method",
                                    labels=["method"])
        for method, n in sorted(self.streams_open.items()):
            streams.add_metric([method], n)
        yield streams

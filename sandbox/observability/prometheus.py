"""The shop's metrics in Prometheus's format: what `sandbox serve` answers at `/metrics`, and
what `sandbox scenario NAME --metrics-file out.prom` writes when the run ends.

Counted from each finished request's trace, as an agent beside the app would count them:

    sandbox_http_requests_total{method, route, status}     requests answered
    sandbox_http_request_duration_seconds{method, route}   a latency histogram (simulated s)
    sandbox_ratelimit_rejected_total{route}                 429s from the gateway
    sandbox_cache_hits_total, sandbox_cache_misses_total    cache lookups
    sandbox_db_queries_total, sandbox_db_pool_waits_total   SQL statements, waits for a
                                                            pooled connection
    sandbox_queue_depth                                     jobs waiting or being worked on

Label values come from small fixed sets (route templates, standard methods, status codes), so
no request can add a time series of its own; user ids and tokens are never labels.

prometheus-client writes the text; the counting is a custom collector's (the library's way for
figures that come from somewhere else, here the traces). Its ready-made Counter and Histogram
would add a wall-clock `_created` series to each, so a scenario's file would differ from run
to run with the same seed; plain dict counters are also cheaper per request than their locks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sandbox.observability.routes import PROBES, RouteTemplates, method_label
from sandbox.tracing import Trace

PREFIX = "sandbox_"
# Upper bounds in seconds. The shop answers in about 8 ms when idle; overload and faults push
# requests into seconds, so the buckets run from a millisecond to ten seconds.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                     1.0, 2.5, 5.0, 10.0)


class ShopMetrics(Collector):
    """The shop's request metrics, in a registry of their own.

    Each sandbox gets its own `CollectorRegistry`, never prometheus-client's global one: tests
    and the terminal app build many sandboxes in one process, and each must count only its own
    requests.

    Args:
        queue_depth: read at each scrape: jobs waiting or being worked on.
    """

    def __init__(self, queue_depth: Callable[[], int] | None = None) -> None:
        self._routes = RouteTemplates()
        self.queue_depth = queue_depth
        self.requests: dict[tuple[str, str, int], int] = {}
        # (method, route) -> [count per bucket (not yet cumulative) ..., +Inf's, sum of seconds]
        self.latency: dict[tuple[str, str], list[float]] = {}
        self.rejected: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe(self, trace: Trace) -> None:
        """Count one finished request (probes are left out: they are not the shop's traffic)."""
        route = self._routes.template(trace.path)
        if route in PROBES:
            return
        method = method_label(trace.method)
        status = trace.status
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        seconds = trace.root.duration_ms / 1000.0
        buckets = self.latency.get((method, route))
        if buckets is None:
            buckets = self.latency[(method, route)] = [0.0] * (len(LATENCY_BUCKETS_S) + 2)
        buckets[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1  # `le`: a bound is inclusive
        buckets[-1] += seconds
        if status == 429:
            self.rejected[route] = self.rejected.get(route, 0) + 1
        counts = self.counts
        for name, n in trace.counts.items():
            counts[name] = counts.get(name, 0) + n

    def collect(self) -> Iterator[Metric]:
        """The metric families as they stand now (prometheus-client calls this at each scrape)."""
        requests = CounterMetricFamily(
            f"{PREFIX}http_requests_total", "HTTP requests the shop answered (probes and the "
            "admin API not included).", labels=["method", "route", "status"])
        for (method, route, status), n in sorted(self.requests.items()):
            requests.add_metric([method, route, str(status)], n)
        yield requests
        latency = HistogramMetricFamily(
            f"{PREFIX}http_request_duration_seconds", "Time from the client's request to its "
            "answer, in simulated seconds.", labels=["method", "route"])
        for (method, route), counts in sorted(self.latency.items()):
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for bound, in_bucket in zip((*LATENCY_BUCKETS_S, float("inf")), counts, strict=False):
                running += in_bucket
                cumulative.append((_bound(bound), running))
            latency.add_metric([method, route], cumulative, sum_value=counts[-1])
        yield latency
        rejected = CounterMetricFamily(
            f"{PREFIX}ratelimit_rejected_total", "Requests the gateway refused with 429 Too "
            "Many Requests.", labels=["route"])
        for route, n in sorted(self.rejected.items()):
            rejected.add_metric([route], n)
        yield rejected
        for name, key, help_text in (
            ("cache_hits_total", "cache.hits", "Cache lookups that found the value."),
            ("cache_misses_total", "cache.misses", "Cache lookups that had to ask the database."),
            ("db_queries_total", "db.queries", "SQL statements the app sent to the database."),
            ("db_pool_waits_total", "db.pool_waits", "Times a request waited for a free "
             "database connection from its instance's pool."),
        ):
            yield CounterMetricFamily(PREFIX + name, help_text, value=self.counts.get(key, 0))
        if self.queue_depth is not None:
            yield GaugeMetricFamily(f"{PREFIX}queue_depth", "Jobs on the queue that no worker "
                                    "has finished yet.", value=self.queue_depth())

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The text a scraper asked for in its Accept header (Prometheus text by default, or
        OpenMetrics), and its content type."""
        try:
            encode, content_type = choose_encoder(accept)
        except (TypeError, ValueError):
            # prometheus-client trips over a version that is not a number (`version=abc`);
            # a made-up Accept header gets the format every scraper reads, not a 500.
            encode, content_type = generate_latest, CONTENT_TYPE_PLAIN_0_0_4
        return encode(self.registry), content_type

    def text(self) -> bytes:
        """The metrics as Prometheus text, what `curl /metrics` shows (a scenario's file)."""
        return generate_latest(self.registry)


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)

"""Metrics: what a scenario run measured, aggregated from its traces.

Latency is reported as percentiles (p50, p95, p99), not averages: an average hides the slow
requests that users actually notice. Every figure is in simulated time, so the same seed and
settings give byte-identical metrics.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from sandbox.tracing import Trace


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 50), 3),
        "p95": round(percentile(ordered, 95), 3),
        "p99": round(percentile(ordered, 99), 3),
        "max": round(ordered[-1], 3) if ordered else 0.0,
        "mean": round(sum(ordered) / len(ordered), 3) if ordered else 0.0,
    }


class MetricsRecorder:
    """Collects one record per request as a scenario runs; `summary()` gives the numbers."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.status: Counter[int] = Counter()
        self.by_action: dict[str, list[float]] = {}
        self.by_instance: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.first_ms: float | None = None
        self.last_ms = 0.0
        # Per simulated second: [requests, errors (5xx and 429), summed latency]
        self.timeline: dict[int, list[float]] = {}

    def record(self, action: str, trace: Trace) -> None:
        latency = trace.duration_ms
        start = trace.root.start_ms
        status = trace.status
        self.latencies.append(latency)
        self.status[status] += 1
        self.by_action.setdefault(action, []).append(latency)
        if trace.instance:
            self.by_instance[trace.instance] += 1
        counts = self.counts
        for name, n in trace.counts.items():  # Counter.update, without its generality
            counts[name] += n
        if self.first_ms is None:
            self.first_ms = start
        self.last_ms = max(self.last_ms, start + latency)
        second = int(start // 1000)
        bucket = self.timeline.get(second)
        if bucket is None:
            bucket = self.timeline[second] = [0, 0, 0.0]
        bucket[0] += 1
        if status >= 500 or status == 429:
            bucket[1] += 1
        bucket[2] += latency

    def summary(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        n = len(self.latencies)
        span_s = (self.last_ms - (self.first_ms or 0.0)) / 1000.0
        hits, misses = self.counts["cache.hits"], self.counts["cache.misses"]
        looked = hits + misses
        out: dict[str, Any] = {
            "requests": n,
            "duration_s": round(span_s, 3),
            "status": {str(code): self.status[code] for code in sorted(self.status)},
            "latency_ms": latency_summary(self.latencies),
            "throughput_rps": round(n / span_s, 3) if span_s > 0 else 0.0,
            "cache": {
                "hits": hits,
                "misses": misses,
                "hit_rate": round(hits / looked, 4) if looked else 0.0,
                "stale_reads": self.counts["cache.stale_reads"],
                "evictions": self.counts["cache.evictions"],
                # Writes that committed while the cache kept its old copy (Redis was down).
                "invalidation_failed": self.counts["cache.invalidation_failed"],
            },
            "db": {
                "queries": self.counts["db.queries"],
                "rows_scanned": self.counts["db.rows_scanned"],
                "replica_queries": self.counts["db.replica_queries"],
                "stale_reads": self.counts["db.stale_reads"],
                "pool_waits": self.counts["db.pool_waits"],
            },
            "ratelimit": {"rejected": self.status[429]},
            "queue": {"published": 0, "processed": 0, "dead_lettered": 0, "lost": 0},
            "instances": {name: self.by_instance[name] for name in sorted(self.by_instance)},
            "endpoints": {
                action: {"requests": len(values), **latency_summary(values)}
                for action, values in sorted(self.by_action.items())
            },
            "timeline": [
                {"second": s, "requests": int(b[0]), "errors": int(b[1]),
                 "mean_latency_ms": round(b[2] / b[0], 3)}
                for s, b in sorted(self.timeline.items())
            ],
        }
        if extra:
            out.update(extra)
        return out

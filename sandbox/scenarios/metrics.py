"""Metrics: what a scenario run measured, aggregated from its traces.

Latency is reported as percentiles (p50, p95, p99), not averages: an average hides the slow
requests that users actually notice. Every figure is in simulated time, so the same seed and
settings give byte-identical metrics.
"""

from __future__ import annotations

import bisect
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


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 2) if whole else 0.0


TICK_MS = 100  # the finest time a chart shows
# The spans in which a request waits for the database to do its work: statements, not the
# wait for a pooled connection (that is the app's queue, not the database's load).
DB_WORK = frozenset({"db.query", "db.write"})


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
        # Per tick (a tenth of a simulated second): [answered, refused (429), failed (5xx),
        # the latencies, cache hits, cache misses]. The per-second timeline and the charts'
        # series are read from it.
        self.ticks: dict[int, list[Any]] = {}
        # Levels drawn beside the traffic, such as a queue's consumer lag: name -> (times
        # something started waiting, times something stopped), in simulated ms. Given once,
        # after the run (`add_level`), so they cost nothing per request.
        self.levels: dict[str, tuple[list[float], list[float]]] = {}
        # Per client class, when the scenario's clients come in classes (see `record_class`):
        # [latencies, refused (429), failed (5xx), ms spent in database statements].
        self.classes: dict[str, list[Any]] = {}

    def add_level(self, name: str, added_ms: list[float], removed_ms: list[float]) -> None:
        """A series `name` in `series`: how many were waiting at the end of each bucket."""
        self.levels[name] = (sorted(added_ms), sorted(removed_ms))

    def record(self, action: str, trace: Trace) -> None:
        # Runs once a request: plain dict reads and writes, nothing allocated that is not kept.
        root = trace.root
        latency = root.duration_ms
        start = root.start_ms
        status = trace.status
        self.latencies.append(latency)
        self.status[status] += 1
        per_action = self.by_action.get(action)
        if per_action is None:
            per_action = self.by_action[action] = []
        per_action.append(latency)
        if trace.instance:
            self.by_instance[trace.instance] += 1
        counts = self.counts
        traced = trace.counts
        for name, n in traced.items():  # Counter.update, without its generality
            counts[name] += n
        if self.first_ms is None or start < self.first_ms:  # overlapping runs finish out of order
            self.first_ms = start
        end = start + latency
        if end > self.last_ms:
            self.last_ms = end
        number = int(start // TICK_MS)
        tick = self.ticks.get(number)
        if tick is None:
            tick = self.ticks[number] = [0, 0, 0, [], 0, 0]
        tick[1 if status == 429 else 2 if status >= 500 else 0] += 1
        tick[3].append(latency)
        if traced:
            tick[4] += traced.get("cache.hits", 0)
            tick[5] += traced.get("cache.misses", 0)

    def record_class(self, name: str, trace: Trace) -> None:
        """Count one request for client class `name` too. Only scenarios whose clients come
        in classes call this, so the ordinary ones pay nothing for it."""
        entry = self.classes.get(name)
        if entry is None:
            entry = self.classes[name] = [[], 0, 0, 0.0]
        entry[0].append(trace.root.duration_ms)
        status = trace.status
        if status == 429:
            entry[1] += 1
        elif status >= 500:
            entry[2] += 1
        # Database time as the requests spent it: the durations of their statements' spans.
        entry[3] += sum(span.duration_ms for _, span in trace.spans() if span.name in DB_WORK)

    def _per_class(self) -> dict[str, Any]:
        """Requests, latency, errors and share of the database's time, per client class."""
        total_db = sum(entry[3] for entry in self.classes.values())
        out: dict[str, Any] = {}
        for name, (latencies, refused, failed, db_ms) in sorted(self.classes.items()):
            summary = latency_summary(latencies)
            out[name] = {
                "requests": len(latencies),
                "p50_ms": summary["p50"],
                "p95_ms": summary["p95"],
                "p99_ms": summary["p99"],
                "refused_429": refused,
                "failed_5xx": failed,
                "db_time_ms": round(db_ms, 3),
                "db_share": round(db_ms / total_db, 4) if total_db else 0.0,
            }
        return out

    def _per_second(self) -> list[dict[str, Any]]:
        """Requests, errors (429 and 5xx) and mean latency in each simulated second, counted
        from the measured part's first request (as `series`, the alerts and a deploy's
        timeline count): second 0 is the first, whatever a warm-up sent before it."""
        seconds: dict[int, list[Any]] = {}
        first = min(self.ticks, default=0)
        for tick, (answered, refused, failed, latencies, *_) in sorted(self.ticks.items()):
            second = seconds.setdefault((tick - first) * TICK_MS // 1000, [0, 0, []])
            second[0] += answered + refused + failed
            second[1] += refused + failed
            second[2].extend(latencies)
        return [{"second": s, "requests": n, "errors": bad, "mean_latency_ms": round(sum(lat) / n, 3)}
                for s, (n, bad, lat) in seconds.items()]

    def _series(self) -> dict[str, Any]:
        """What the charts draw: per bucket of `bucket_s` simulated seconds (as fine as keeps
        the run to about 100 points; `t_s` counts from the run's first request), answered,
        refused (429) and failed (5xx) requests per second, the bucket's p95 latency (None
        where no request started) and its cache hit rate in percent (None where nothing was
        looked up)."""
        out: dict[str, Any] = {"bucket_s": 0.1, "t_s": [], "answered_per_s": [],
                               "refused_per_s": [], "failed_per_s": [], "p95_ms": [],
                               "hit_rate_pct": []}
        for name in self.levels:
            out[name] = []
        if not self.ticks:
            return out
        first, last = min(self.ticks), max(self.ticks)
        ticks_per = next((n for n in (1, 2, 5, 10, 20, 50, 100, 300, 600)
                          if (last - first) // n < 100), 600)
        bucket_s = ticks_per * TICK_MS / 1000
        out["bucket_s"] = bucket_s
        origin = first - first % ticks_per
        for start in range(origin, last + 1, ticks_per):
            answered = refused = failed = hits = misses = 0
            latencies: list[float] = []
            for tick in range(start, start + ticks_per):
                found = self.ticks.get(tick)
                if found is not None:
                    answered, refused, failed = (answered + found[0], refused + found[1],
                                                 failed + found[2])
                    latencies.extend(found[3])
                    hits, misses = hits + found[4], misses + found[5]
            out["t_s"].append(round((start - origin) * TICK_MS / 1000, 3))  # into the run
            out["answered_per_s"].append(round(answered / bucket_s, 3))
            out["refused_per_s"].append(round(refused / bucket_s, 3))
            out["failed_per_s"].append(round(failed / bucket_s, 3))
            out["p95_ms"].append(round(percentile(sorted(latencies), 95), 3) if latencies else None)
            looked = hits + misses
            out["hit_rate_pct"].append(round(100 * hits / looked, 1) if looked else None)
            end_ms = (start + ticks_per) * TICK_MS
            for name, (added, removed) in self.levels.items():
                out[name].append(bisect.bisect_right(added, end_ms)
                                 - bisect.bisect_right(removed, end_ms))
        return out

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
            # `db.rating`: what a product view reads, and what a review writes, in the database.
            "rating": {
                "product_loads": self.counts["rating.product_loads"],
                "rows_read_per_product_load": _ratio(self.counts["rating.rows_read"],
                                                     self.counts["rating.product_loads"]),
                "reviews_written": self.counts["rating.reviews_written"],
                "statements_per_review": _ratio(self.counts["rating.review_statements"],
                                                self.counts["rating.reviews_written"]),
                "rows_written_per_review": _ratio(self.counts["rating.review_rows"],
                                                  self.counts["rating.reviews_written"]),
            },
            "ratelimit": {"rejected": self.status[429]},
            "auth": {
                "login_failed": self.counts["auth.login_failed"],
                "login_limited": self.counts["auth.login_limited"],
                # One Redis round trip each (`auth.revocation_check`), and the tokens refused.
                "revocation_checks": self.counts["auth.revocation_checks"],
                "revoked_refused": self.counts["auth.revoked_refused"],
            },
            "queue": {"published": 0, "processed": 0, "dead_lettered": 0, "lost": 0},
            "connections": connection_figures(self.counts),
            "cdn": edge_figures(self.counts),
            "instances": {name: self.by_instance[name] for name in sorted(self.by_instance)},
            "endpoints": {
                action: {"requests": len(values), **latency_summary(values)}
                for action, values in sorted(self.by_action.items())
            },
            "timeline": self._per_second(),
            "series": self._series(),
        }
        if self.classes:
            out["clients"] = self._per_class()
        if extra:
            out.update(extra)
        return out


def connection_figures(counts: Counter[str]) -> dict[str, Any]:
    """New connections opened (each paying DNS unless cached, and its handshakes), and the
    time those handshakes took, summed over the run."""
    return {
        "new": counts["net.new_connections"],
        "handshakes": counts["net.handshakes"],
        "handshake_ms": round(counts["net.handshake_us"] / 1000.0, 3),
        "dns_lookups": counts["dns.lookups"],
    }


def edge_figures(counts: Counter[str]) -> dict[str, Any]:
    """The edge cache: of the public pages asked for, how many it answered itself; each hit is
    an origin request saved (it never reached the balancer). Stale hits: pages served after
    the product they show had changed."""
    hits, misses = counts["edge.hits"], counts["edge.misses"]
    return {
        "hits": hits,
        "misses": misses,
        "passed": counts["edge.passed"],
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0,
        "origin_requests_saved": hits,
        "stale_hits": counts["edge.stale_hits"],
    }

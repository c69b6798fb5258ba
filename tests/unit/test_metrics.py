from __future__ import annotations

import pytest

from sandbox.clock import SimClock
from sandbox.scenarios.metrics import MetricsRecorder, latency_summary, percentile
from sandbox.tracing import Trace


@pytest.mark.parametrize(("p", "expected"), [(50, 50), (95, 95), (99, 99), (100, 100),
                                             (1, 1), (0, 1), (90, 90)])
def test_percentile_nearest_rank_1_to_100(p: float, expected: float) -> None:
    assert percentile([float(v) for v in range(1, 101)], p) == expected


def test_percentile_small_lists() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([], 99) == 0.0
    assert percentile([7.0], 50) == 7.0
    assert percentile([7.0], 99) == 7.0
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.0
    assert percentile(values, 51) == 3.0
    assert percentile(values, 95) == 4.0
    ten = [float(v) for v in range(10, 110, 10)]
    assert percentile(ten, 50) == 50.0
    assert percentile(ten, 95) == 100.0
    assert percentile(ten, 90) == 90.0


def test_latency_summary() -> None:
    assert latency_summary([3.0, 1.0, 2.0, 10.0]) == {
        "p50": 2.0, "p95": 10.0, "p99": 10.0, "max": 10.0, "mean": 4.0,
    }
    assert latency_summary([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    assert latency_summary([1.23456])["p50"] == 1.235


def make_trace(
    clock: SimClock,
    start_ms: float,
    duration_ms: float,
    status: int,
    instance: str = "",
    counts: dict[str, int] | None = None,
) -> Trace:
    clock.jump_to(start_ms)
    trace = Trace(clock, f"req-{start_ms:g}", "GET", "/products")
    trace.instance = instance
    for name, n in (counts or {}).items():
        trace.count(name, n)
    clock.advance(duration_ms)
    trace.finish(status)
    return trace


@pytest.fixture
def recorder() -> MetricsRecorder:
    clock = SimClock()
    rec = MetricsRecorder()
    rec.record("browse", make_trace(clock, 0.0, 10.0, 200, "app-1",
                                    {"cache.hits": 2, "db.queries": 1}))
    rec.record("browse", make_trace(clock, 100.0, 20.0, 200, "app-2",
                                    {"cache.hits": 1, "cache.misses": 1, "db.queries": 3,
                                     "db.rows_scanned": 40}))
    rec.record("order", make_trace(clock, 1000.0, 30.0, 429, "",
                                   {"cache.stale_reads": 1, "cache.misses": 1}))
    rec.record("order", make_trace(clock, 1500.0, 40.0, 500, "app-1",
                                   {"cache.evictions": 2, "cache.invalidation_failed": 1}))
    return rec


def test_summary_counts_and_latency(recorder: MetricsRecorder) -> None:
    s = recorder.summary()
    assert s["requests"] == 4
    assert s["status"] == {"200": 2, "429": 1, "500": 1}
    assert list(s["status"]) == ["200", "429", "500"]
    assert s["latency_ms"] == {"p50": 20.0, "p95": 40.0, "p99": 40.0, "max": 40.0, "mean": 25.0}
    assert s["duration_s"] == 1.54
    assert s["throughput_rps"] == round(4 / 1.54, 3)


def test_summary_cache_db_ratelimit(recorder: MetricsRecorder) -> None:
    s = recorder.summary()
    assert s["cache"] == {
        "hits": 3, "misses": 2, "hit_rate": 0.6, "stale_reads": 1, "evictions": 2,
        "invalidation_failed": 1,
    }
    assert {k: s["db"][k] for k in ("queries", "rows_scanned")} == {"queries": 4, "rows_scanned": 40}
    assert s["db"]["stale_reads"] == 0 and s["db"]["pool_waits"] == 0
    assert s["ratelimit"] == {"rejected": 1}


def test_summary_instances_endpoints_timeline(recorder: MetricsRecorder) -> None:
    s = recorder.summary()
    assert s["instances"] == {"app-1": 2, "app-2": 1}
    assert s["endpoints"] == {
        "browse": {"requests": 2, "p50": 10.0, "p95": 20.0, "p99": 20.0, "max": 20.0,
                   "mean": 15.0},
        "order": {"requests": 2, "p50": 30.0, "p95": 40.0, "p99": 40.0, "max": 40.0,
                  "mean": 35.0},
    }
    assert s["timeline"] == [
        {"second": 0, "requests": 2, "errors": 0, "mean_latency_ms": 15.0},
        {"second": 1, "requests": 2, "errors": 2, "mean_latency_ms": 35.0},
    ]


def test_hit_rate_rounding_and_many_429s() -> None:
    clock = SimClock()
    rec = MetricsRecorder()
    rec.record("a", make_trace(clock, 0.0, 1.0, 429, counts={"cache.hits": 1}))
    rec.record("a", make_trace(clock, 1.0, 1.0, 429, counts={"cache.misses": 2}))
    rec.record("a", make_trace(clock, 2.0, 1.0, 200, counts={"cache.misses": 3}))
    s = rec.summary()
    assert s["cache"]["hit_rate"] == 0.1667  # 1 hit in 6 lookups, not per request
    assert s["ratelimit"]["rejected"] == 2
    assert s["status"] == {"200": 1, "429": 2}


def test_summary_extra_is_merged(recorder: MetricsRecorder) -> None:
    queue = {"published": 5, "processed": 4, "dead_lettered": 1, "lost": 0}
    s = recorder.summary({"queue": queue, "seed": 1})
    assert s["queue"] == queue
    assert s["seed"] == 1
    assert recorder.summary()["queue"] == {
        "published": 0, "processed": 0, "dead_lettered": 0, "lost": 0,
    }


def test_empty_summary() -> None:
    s = MetricsRecorder().summary()
    assert s["requests"] == 0
    assert s["duration_s"] == 0.0
    assert s["throughput_rps"] == 0.0
    assert s["status"] == {}
    assert s["latency_ms"] == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    assert s["cache"]["hit_rate"] == 0.0
    assert s["ratelimit"] == {"rejected": 0}
    assert s["timeline"] == []
    assert s["endpoints"] == {}


def test_series_per_tenth_of_a_second_for_the_charts(recorder: MetricsRecorder) -> None:
    """Ticks 0, 1, 10 and 15 (100 ms each): 16 points, rates per second, an empty tick's p95
    None (nothing started then), a 429 counted as refused and a 500 as failed."""
    series = recorder.summary()["series"]
    assert series["bucket_s"] == 0.1
    assert series["t_s"] == [round(i / 10, 3) for i in range(16)]
    assert series["answered_per_s"][:3] == [10.0, 10.0, 0.0]
    assert series["refused_per_s"][10] == 10.0 and sum(series["refused_per_s"]) == 10.0
    assert series["failed_per_s"][15] == 10.0 and sum(series["failed_per_s"]) == 10.0
    assert series["p95_ms"][:3] == [10.0, 20.0, None] and series["p95_ms"][15] == 40.0
    # Hits over lookups per bucket: 2 of 2, 1 of 2, then 0 of 1; None where nothing was
    # looked up (tick 15 only evicted).
    assert series["hit_rate_pct"][:3] == [100.0, 50.0, None]
    assert series["hit_rate_pct"][10] == 0.0 and series["hit_rate_pct"][15] is None


def test_a_long_run_is_drawn_in_coarser_buckets() -> None:
    clock = SimClock()
    rec = MetricsRecorder()
    for i in range(600):  # one request every 100 ms for a minute
        rec.record("a", make_trace(clock, i * 100.0, 5.0, 429 if i % 2 else 200))
    series = rec.summary()["series"]
    assert series["bucket_s"] == 1.0 and len(series["t_s"]) == 60
    assert set(series["answered_per_s"]) == {5.0} and set(series["refused_per_s"]) == {5.0}
    assert MetricsRecorder().summary()["series"]["t_s"] == []


def test_the_timeline_counts_from_the_measured_parts_first_request() -> None:
    """After a warm-up the measured part starts late in simulated time (9 s into `steady`):
    its timeline still starts at second 0, as the charts' `series`, the alerts and a deploy's
    timeline do. It used to start at second 9, beside a `duration_s` of 6.7."""
    clock = SimClock()
    rec = MetricsRecorder()
    for start in (9_050.0, 9_400.0, 10_100.0, 11_980.0):
        rec.record("browse", make_trace(clock, start, 10.0, 200, "app-1", {}))
    s = rec.summary()
    assert [row["second"] for row in s["timeline"]] == [0, 1, 2]
    assert [row["requests"] for row in s["timeline"]] == [2, 1, 1]
    assert s["series"]["t_s"][0] == 0.0

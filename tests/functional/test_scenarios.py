"""Scenarios: deterministic numbers, the capacity model, and the JSON every tool reads."""

from __future__ import annotations

import json

import pytest

from sandbox.errors import SettingsError
from sandbox.scenarios import PATTERNS, ScenarioCancelled, run_scenario
from sandbox.settings import Settings


def test_same_seed_and_settings_give_byte_identical_metrics() -> None:
    a = run_scenario("spike", requests=1500, seed=3)
    b = run_scenario("spike", requests=1500, seed=3)
    assert a.to_json() == b.to_json()


def test_another_seed_gives_other_numbers() -> None:
    a = run_scenario("steady", requests=800, seed=1)
    b = run_scenario("steady", requests=800, seed=2)
    assert a.metrics["latency_ms"] != b.metrics["latency_ms"]


def test_metrics_have_the_documented_fields() -> None:
    m = run_scenario("steady", requests=500).metrics
    assert m["requests"] == 500
    assert sum(m["status"].values()) == 500
    assert set(m["latency_ms"]) >= {"p50", "p95", "p99", "max"}
    assert m["latency_ms"]["p50"] <= m["latency_ms"]["p95"] <= m["latency_ms"]["p99"]
    assert m["latency_ms"]["p99"] <= m["latency_ms"]["max"]
    assert m["throughput_rps"] > 0
    assert set(m["cache"]) >= {"hits", "misses", "hit_rate"}
    assert set(m["db"]) >= {"queries", "rows_scanned"} and m["db"]["queries"] > 0
    assert set(m["ratelimit"]) >= {"rejected"}
    assert set(m["queue"]) >= {"published", "processed", "dead_lettered", "lost"}
    json.dumps(m)  # serialisable as is


def test_a_warmup_is_sent_but_left_out_of_the_metrics() -> None:
    settings = Settings().replace({"cache.strategy": "cache_aside"})
    cold = run_scenario("steady", settings, requests=500, warmup=0).metrics
    warm = run_scenario("steady", settings, requests=500, warmup=1000).metrics
    assert warm["requests"] == sum(warm["status"].values()) == 500
    assert warm["warmup_requests"] == 1000 and cold["warmup_requests"] == 0
    assert warm["cache"]["hit_rate"] > cold["cache"]["hit_rate"]  # the warm-up filled it
    again = run_scenario("steady", settings, requests=500, warmup=1000)
    assert again.to_json() == json.dumps(warm, indent=2)


def test_queue_figures_count_the_measured_orders_only() -> None:
    m = run_scenario("steady", Settings().replace({"queue.mode": "async"}),
                     requests=2000, warmup=2000).metrics
    q, orders = m["queue"], m["endpoints"]["place_order"]["requests"]
    assert 0 < q["published"] <= orders  # none of the warm-up's orders
    assert q["lost"] == 0 and q["pending"] == 0
    assert q["pubsub"]["published"] == q["published"]
    assert set(q["pubsub"]["received"].values()) == {q["published"]}


def test_steady_rate_matches_its_pattern() -> None:
    m = run_scenario("steady", requests=3000).metrics
    assert 270 <= m["throughput_rps"] <= 330  # 300 requests/s offered


def test_the_mix_covers_every_action() -> None:
    m = run_scenario("steady", requests=2000).metrics
    assert set(m["endpoints"]) == {"view_product", "list_products", "product_reviews",
                                   "order_history", "place_order", "post_review", "login"}
    assert m["endpoints"]["view_product"]["requests"] > m["endpoints"]["place_order"]["requests"]
    assert m["status"].get("500", 0) == 0


def test_more_instances_bring_p95_down_under_a_spike() -> None:
    p95 = {}
    for n in (1, 2, 4):
        settings = Settings().replace({"topology.instances": n})
        p95[n] = run_scenario("spike", settings, requests=4000).metrics["latency_ms"]["p95"]
    assert p95[1] > 5 * p95[4]
    assert p95[1] > p95[2] >= p95[4]


def test_requests_spread_evenly_with_round_robin() -> None:
    settings = Settings().replace({"topology.instances": 4})
    counts = run_scenario("steady", settings, requests=1000).metrics["instances"]
    assert counts == {"app-1": 250, "app-2": 250, "app-3": 250, "app-4": 250}


def test_dropping_indexes_costs_rows_and_latency() -> None:
    # Order histories are 1 request in 200 (enough requests to see a few), and without an
    # index each one scans the orders and their lines: hundreds of thousands of rows. No
    # warm-up: its 3,000 requests would scan far more rows than the 1,000 measured.
    indexed = run_scenario("steady", requests=1000, warmup=0).metrics
    bare = run_scenario("steady", Settings().replace({"db.indexes": "none"}),
                        requests=1000, warmup=0).metrics
    assert bare["db"]["rows_scanned"] > 50 * indexed["db"]["rows_scanned"]
    assert bare["latency_ms"]["p95"] > indexed["latency_ms"]["p95"]
    history = "order_history"
    assert bare["endpoints"][history]["p50"] > 5 * indexed["endpoints"][history]["p50"]


def test_progress_is_reported_and_cancel_stops_the_run() -> None:
    seen: list[tuple[int, int]] = []
    run_scenario("steady", requests=600, warmup=0, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (600, 600) and seen[0] == (250, 600)
    seen.clear()  # a warm-up is work too: progress counts it
    run_scenario("steady", requests=600, warmup=400, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (1000, 1000) and seen[0] == (250, 1000)
    with pytest.raises(ScenarioCancelled):
        run_scenario("steady", requests=600, cancelled=lambda: True)


def test_unknown_scenario_names_the_valid_ones() -> None:
    with pytest.raises(SettingsError, match="steady, spike, ramp"):
        run_scenario("nope")


def test_patterns_have_summaries() -> None:
    assert {"steady", "spike", "ramp"} <= set(PATTERNS)
    assert all(p.summary and p.requests > 0 for p in PATTERNS.values())

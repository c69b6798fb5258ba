"""The `scraper` scenario: one client at twenty times the others' rate, with and without a
per-client rate limiter (issue #16, item 1)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from sandbox.scenarios import ScenarioResult, run_scenario
from sandbox.scenarios.metrics import DB_WORK
from sandbox.scenarios.scraper import ORDINARY, SCRAPER, TIMES, ScraperShoppers
from sandbox.settings import Settings

SIZE = {"requests": 1500, "warmup": 500}  # a third of a simulated second of the scraper


def scraper_run(algorithm: str, keep_traces: int = 0) -> ScenarioResult:
    settings = Settings().replace({"ratelimit.algorithm": algorithm, "ratelimit.limit": 200})
    return run_scenario("scraper", settings, seed=7, keep_traces=keep_traces, **SIZE)


@pytest.fixture(scope="module")
def unlimited() -> ScenarioResult:
    """One run with the limiter off, every measured trace kept, for the tests that read it."""
    return scraper_run("off", keep_traces=SIZE["requests"])


def db_time(metrics: dict[str, Any]) -> float:
    return sum(c["db_time_ms"] for c in metrics["clients"].values())


def test_a_limiter_gives_everyone_else_the_shop_back(unlimited: ScenarioResult) -> None:
    off, on = unlimited.metrics, scraper_run("token_bucket").metrics
    before, after = off["clients"], on["clients"]
    # Off: the scraper is half the traffic and half the database's time, and everyone waits.
    assert before["abuser"]["db_share"] > 0.4
    assert before["others"]["p95_ms"] > 18
    # On: the scraper is refused at the gateway, nobody else is, and the others' p95 and the
    # database's load fall by a large part.
    assert after["abuser"]["refused_429"] > 0.8 * after["abuser"]["requests"]
    assert after["others"]["refused_429"] == 0 and after["others"]["failed_5xx"] == 0
    assert after["others"]["p95_ms"] < 0.6 * before["others"]["p95_ms"]
    assert on["db"]["queries"] < 0.7 * off["db"]["queries"]
    assert db_time(on) < 0.7 * db_time(off)
    assert after["abuser"]["db_share"] < 0.2


def test_the_abuser_is_one_client_at_twenty_times_an_ordinary_rate(
        unlimited: ScenarioResult) -> None:
    shoppers = ScraperShoppers(random.Random(3))
    drawn = Counter(shoppers.client() for _ in range(20_000))
    assert set(drawn) == set(range(ORDINARY)) | {SCRAPER}
    ordinary = [drawn[c] for c in range(ORDINARY)]
    assert 0.8 * TIMES < drawn[SCRAPER] / (sum(ordinary) / ORDINARY) < 1.2 * TIMES
    # Through the whole path every scraping request comes from one address, the one the
    # gateway limits; it is the `abuser` class and nobody else is.
    result = unlimited
    scraping = {trace.client for action, trace in result.traces if action.startswith("scrape")}
    assert scraping == {f"client-{SCRAPER + 2}"}
    classes = result.metrics["clients"]
    assert classes["abuser"]["requests"] == sum(
        1 for action, _ in result.traces if action.startswith("scrape"))


def test_database_time_is_what_the_requests_spent_in_statements(
        unlimited: ScenarioResult) -> None:
    """Not a formula: the sum of the db.query / db.write spans of the measured requests."""
    spent = sum(span.duration_ms for _, trace in unlimited.traces for _, span in trace.spans()
                if span.name in DB_WORK)
    assert abs(db_time(unlimited.metrics) - spent) < 0.01
    assert spent > 0


def test_ordinary_scenarios_record_no_client_classes() -> None:
    metrics = run_scenario("steady", requests=200, warmup=0).metrics
    assert "clients" not in metrics and "flash_sale" not in metrics

"""Faults and defences: timeouts, retries, the circuit breaker, graceful degradation."""

from __future__ import annotations

import random

import httpx

from sandbox.clock import SimClock
from sandbox.mechanisms.resilience import CircuitBreaker, Dependency, DependencyFailed
from sandbox.runtime import Sandbox
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings


def use(sandbox: Sandbox, changes: dict[str, object]) -> None:
    sandbox.apply(sandbox.settings.replace(changes))


def test_breaker_opens_fails_fast_then_probes_and_closes() -> None:
    clock = SimClock()
    breaker = CircuitBreaker(clock, threshold=3, reset_ms=1000)
    for _ in range(2):
        breaker.failed()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(999)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow() and breaker.state == "half_open"
    breaker.failed()  # the trial call failed: open again, for another full wait
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(1000)
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.failures == 0 and breaker.opened == 2


def test_success_resets_the_count_of_failures_in_a_row() -> None:
    breaker = CircuitBreaker(SimClock(), threshold=3, reset_ms=1000)
    breaker.failed()
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    breaker.failed()
    assert breaker.state == "closed"


def _dependency(changes: dict[str, object], clock: SimClock | None = None) -> Dependency:
    settings = Settings().replace({"faults.hop": "email", **changes})
    return Dependency("email", 30.0, clock or SimClock(), lambda: settings, random.Random(1))


def test_retries_ride_out_flaky_failures() -> None:
    flaky = {"faults.hop_error_rate": 0.5}
    no_retry = _dependency(flaky)
    with_retries = _dependency({**flaky, "resilience.retries": 3})

    def failures(dep: Dependency) -> int:
        count = 0
        for _ in range(200):
            try:
                dep.call(lambda: None)
            except DependencyFailed:
                count += 1
        return count

    assert failures(with_retries) < failures(no_retry) / 4


async def test_email_provider_down_the_order_still_succeeds(sandbox: Sandbox,
                                                            client: httpx.AsyncClient,
                                                            grace: dict[str, str]) -> None:
    use(sandbox, {"faults.hop": "email", "faults.hop_error_rate": 1.0})
    response = await client.post("/orders", headers=grace,
                                 json={"items": [{"product_id": 3, "quantity": 1}]})
    assert response.status_code == 201
    assert response.json()["confirmation"] == "queued"  # degraded: sold now, e-mail later
    trace = response.extensions["sandbox.trace"]
    assert trace.counts["email.deferred"] == 1
    use(sandbox, {"faults.hop": "none"})  # the provider recovers; a worker sends it
    sandbox.clock.advance(60_000)
    sandbox.drain()
    row = sandbox.db.query_one("SELECT count(*) FROM order_confirmations WHERE order_id = ?",
                               (response.json()["id"],))
    assert row == (1,)


async def test_a_timeout_bounds_the_wait_for_a_hung_database(sandbox: Sandbox,
                                                             client: httpx.AsyncClient) -> None:
    use(sandbox, {"faults.hop": "db", "faults.hop_latency_ms": 30_000,
                  "resilience.timeout_ms": 200})
    response = await client.get("/products/1")
    assert response.status_code == 503
    trace = response.extensions["sandbox.trace"]
    assert 200 <= trace.duration_ms < 250  # the timeout, not thirty seconds


async def test_health_does_not_need_the_database(sandbox: Sandbox,
                                                 client: httpx.AsyncClient) -> None:
    use(sandbox, {"faults.db_down": True})
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/products/1")).status_code == 503


async def test_open_breaker_fails_fast_with_retry_after(sandbox: Sandbox,
                                                        client: httpx.AsyncClient) -> None:
    use(sandbox, {"faults.hop": "db", "faults.hop_latency_ms": 5_000,
                  "resilience.timeout_ms": 300, "resilience.breaker": True,
                  "resilience.breaker_threshold": 2})
    slow = [await client.get("/products/1") for _ in range(2)]
    fast = await client.get("/products/1")
    assert [r.status_code for r in slow] == [503, 503] and fast.status_code == 503
    assert fast.headers["retry-after"] == "1"
    slow_ms = slow[0].extensions["sandbox.trace"].duration_ms
    fast_ms = fast.extensions["sandbox.trace"].duration_ms
    assert slow_ms > 300 and fast_ms < 20  # no waiting for a dependency known to be down


def test_breaker_keeps_order_latency_down_when_the_provider_hangs() -> None:
    hung = {"faults.hop": "email", "faults.hop_latency_ms": 10_000,
            "resilience.timeout_ms": 500, "resilience.retries": 1}
    without = run_scenario("steady", Settings().replace(hung), requests=1500).metrics
    with_breaker = run_scenario("steady", Settings().replace({**hung, "resilience.breaker": True}),
                                requests=1500).metrics
    slow = without["endpoints"]["place_order"]["p50"]
    assert slow > 1000  # two attempts of 500 ms each, plus the backoff
    assert with_breaker["endpoints"]["place_order"]["p50"] < slow / 10
    for metrics in (without, with_breaker):  # degraded, not failed: every order was taken
        assert not any(code.startswith("5") for code in metrics["status"])


def test_gateway_latency_shows_up_in_every_request() -> None:
    base = run_scenario("steady", requests=500).metrics["latency_ms"]["p50"]
    slowed = run_scenario("steady", Settings().replace({"faults.hop": "gateway",
                                                        "faults.hop_latency_ms": 40}),
                          requests=500).metrics["latency_ms"]["p50"]
    assert 38 < slowed - base < 42


def test_a_failing_hop_answers_502_in_the_envelope() -> None:
    result = run_scenario("steady", Settings().replace({"faults.hop": "app",
                                                        "faults.hop_error_rate": 0.2}),
                          requests=1000)
    bad = result.metrics["status"].get("502", 0)
    assert 150 < bad < 250


def test_the_longer_between_health_checks_the_more_requests_fail() -> None:
    def failed(interval_s: float) -> int:
        settings = Settings().replace({"faults.instance_down": 1,
                                       "faults.instance_down_at_s": 3,
                                       "lb.health_check_s": interval_s})
        # From a cold start: the health checks run from the first request, 3 s before the death.
        metrics = run_scenario("steady", settings, requests=3000, warmup=0).metrics
        assert set(metrics["status"]) <= {"200", "201", "409", "502"}  # 409: sold out
        return int(metrics["status"].get("502", 0))

    rarely, often = failed(5), failed(0.5)
    assert rarely > 10 * often > 0


def test_dead_from_the_start_nothing_fails() -> None:
    settings = Settings().replace({"faults.instance_down": 1})
    metrics = run_scenario("steady", settings, requests=500).metrics
    assert "502" not in metrics["status"] and metrics["instances"] == {"app-2": 500}

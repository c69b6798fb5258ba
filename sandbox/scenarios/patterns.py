"""Traffic patterns: when requests arrive, in simulated time.

Arrivals are a Poisson process (independent clients, random gaps) whose rate follows the
pattern's shape. The same seed gives the same arrival times.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    """A named traffic shape.

    Args:
        name: what `sandbox scenario NAME` calls it.
        summary: one line for `sandbox scenario list`.
        requests: how many requests a run sends unless told otherwise.
        rate: requests per second at simulated second t.
        warmup: requests sent first, at the same rate and with the same mix, and left out of
            the metrics (see the runner).
        mix: who the shoppers are and what they do, as "module:Class" naming a subclass of
            `mix.Shoppers`; empty: the shop's ordinary mix. A name, not the class, so that
            reading the patterns (the terminal app does at start-up) imports nothing more.
    """

    name: str
    summary: str
    requests: int
    rate: Callable[[float], float]
    warmup: int = 0
    mix: str = ""

    def arrivals(self, rng: random.Random, count: int) -> Iterator[float]:
        """`count` arrival times in ms, increasing."""
        t = 0.0
        for _ in range(count):
            t += rng.expovariate(self.rate(t)) * 1000.0
            yield t


def _steady(t_ms: float) -> float:
    return 300.0


def _spike(t_ms: float) -> float:
    # Quiet, then ten times the traffic for two seconds (a sale, a link on a busy page).
    return 2500.0 if 2000.0 <= t_ms < 4000.0 else 250.0


def _ramp(t_ms: float) -> float:
    # Traffic climbs steadily from 100 to 3,000 requests per second over twenty seconds.
    return 100.0 + min(t_ms / 20_000.0, 1.0) * 2900.0


PATTERNS: dict[str, Pattern] = {
    p.name: p
    for p in (
        # Steady state: 10 simulated seconds of the same traffic go first, so the cache holds
        # the popular products before measuring starts. Warming up for 40 or 60 s instead
        # (past the 30 s cache TTL, so entries expire and refill as in a shop open all day)
        # moves the cache hit rate by about one point. `--warmup 0` measures a cold start.
        Pattern("steady", "300 requests/s, all the time, measured after a warm-up", 3000,
                _steady, warmup=3000),
        Pattern("spike", "250 requests/s, then 2,500/s for two seconds, then 250/s again",
                6000, _spike),
        Pattern("ramp", "climbs from 100 to 3,000 requests/s over twenty seconds", 6000, _ramp),
        # GraphQL's nested query, again and again: `graphql.loader=naive | batched` changes
        # how many database queries each one costs (sandbox/scenarios/graphql_screens.py).
        Pattern("graphql", "a GraphQL category page: 20 products with their newest ratings",
                500, _steady, mix="sandbox.scenarios.graphql_screens:NestedQueryShoppers"),
    )
}

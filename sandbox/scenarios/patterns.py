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
        settings: switches the scenario needs, as ("key", "value") pairs, applied wherever
            the run's settings still hold that switch's default (a switch the learner set
            wins).
        overlap: requests whose times overlap really run at once, each as its own task
            taking turns with the others (sandbox/turns.py), so races can happen; otherwise
            they run one after another and their overlap is modelled by capacity.
    """

    name: str
    summary: str
    requests: int
    rate: Callable[[float], float]
    warmup: int = 0
    mix: str = ""
    settings: tuple[tuple[str, str], ...] = ()
    overlap: bool = False

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


def _rush(t_ms: float) -> float:
    return 200.0


def _orders(t_ms: float) -> float:
    return 400.0


def _stampede(t_ms: float) -> float:
    return 1000.0


def _stuffing(t_ms: float) -> float:
    return 100.0


def _partner(t_ms: float) -> float:
    # One partner's integration, calling steadily: slow enough that a run outlasts a token.
    return 2.0


def _scraper(t_ms: float) -> float:
    # 20 ordinary clients at about 100 requests/s each (an address the gateway sees is often
    # many people: a carrier's or an office's NAT), and the scraper at 2,000/s: together more
    # than the two default instances can serve, the ordinary clients alone well within it.
    return 4000.0


def _flash_sale(t_ms: float) -> float:
    # The sale opens and a crowd orders at once: far more than the instances can serve.
    return 5000.0


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
        Pattern("rush", "a sale: 40 regulars place order after order, 200 requests/s", 2000,
                _rush, mix="sandbox.scenarios.rush:RushShoppers"),
        # Sharding (`db.shards`): mostly order histories and new orders, so the orders'
        # database does most of the work; `hot_customer` gives one customer half of it.
        Pattern("orders", "400 requests/s of order histories and new orders", 2000, _orders,
                mix="sandbox.scenarios.orders:OrderShoppers"),
        Pattern("hot_customer", "like orders, but one customer makes half the requests", 2000,
                _orders, mix="sandbox.scenarios.orders:HotCustomerShoppers"),
        # Nine requests in ten are for one hot product, whose entry lives 2 s. The database is
        # busy (every query takes 20 ms more), so when the entry expires, every worker that
        # picks up a request for it before it is stored again loads it too: with two
        # instances of 16 workers, some twenty loads of one row. The cache is on.
        Pattern("stampede", "1,000 requests/s, nine in ten for one hot product whose entry "
                "expires", 6000, _stampede, mix="sandbox.scenarios.stampede:StampedeShoppers",
                settings=(("cache.strategy", "cache_aside"), ("cache.ttl_s", "2"),
                          ("topology.concurrency", "16"), ("faults.hop", "db"),
                          ("faults.hop_latency_ms", "20"))),
        # The ordinary mix while the admin edits prices, one request in twenty, written
        # behind: each edit reaches the database a second after it was answered. Crash the
        # cache (`faults.cache_down_at_s`) and the edits of that last second are lost.
        Pattern("price_edits", "300 requests/s of shopping while the admin edits prices, "
                "written behind", 3000, _steady,
                mix="sandbox.scenarios.price_edits:PriceEditShoppers",
                settings=(("cache.strategy", "write_behind"),)),
        Pattern("credential_stuffing", "an attacker replays leaked passwords from 4 addresses "
                "while customers log in, 100 requests/s", 3000, _stuffing,
                mix="sandbox.scenarios.stuffing:StuffingShoppers"),
        Pattern("token_revocation", "a partner client is revoked 10 s in and keeps calling with "
                "its token, 2 requests/s", 2000, _partner,
                mix="sandbox.scenarios.revocation:RevocationShoppers"),
        # Half a second of the same traffic first: caches warm, the limiter's buckets in their
        # steady state (a fresh bucket starts full and would let the scraper's first burst in).
        Pattern("scraper", "20 clients at ~100 requests/s and one scraper at 20 times that",
                8000, _scraper, warmup=2000, mix="sandbox.scenarios.scraper:ScraperShoppers"),
        Pattern("flash_sale", "5,000 orders/s, really at once, for one product with 25 left",
                300, _flash_sale, mix="sandbox.scenarios.flash_sale:FlashSaleShoppers",
                overlap=True),
        # GraphQL's nested query, again and again: `graphql.loader=naive | batched` changes
        # how many database queries each one costs (sandbox/scenarios/graphql_screens.py).
        Pattern("graphql", "a GraphQL category page: 20 products with their newest ratings",
                500, _steady, mix="sandbox.scenarios.graphql_screens:NestedQueryShoppers"),
    )
}

"""The edge cache, a CDN (issue 16, item 6): a real hop that answers public pages itself.

Seeded runs both ways; traces of a miss and a hit; and an attacker's attempts to get one
client's answer served to another, or to poison one key with another variant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox.runtime import Sandbox
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings
from sandbox.tracing import Trace
from sandbox.tui.flowstats import build_layout, compute_flow

REQUESTS = 400


def run(**changes: Any) -> dict[str, Any]:
    settings = Settings().replace({k.replace("__", "."): v for k, v in changes.items()})
    return run_scenario("steady", settings, requests=REQUESTS, warmup=0).metrics


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    return {"off": run(), "on": run(cdn__enabled=True),
            "short": run(cdn__enabled=True, cdn__ttl_s=0.2)}


def test_the_edge_answers_most_public_pages_and_spares_the_shop(
        runs: dict[str, dict[str, Any]]) -> None:
    off, on = runs["off"], runs["on"]
    assert off["cdn"]["hits"] == 0
    assert sum(off["instances"].values()) == REQUESTS
    assert on["cdn"]["hit_rate"] > 0.4
    saved = on["cdn"]["origin_requests_saved"]
    assert saved == on["cdn"]["hits"]
    # Every request the edge answered is one the balancer never saw.
    assert sum(on["instances"].values()) == REQUESTS - saved < REQUESTS / 2
    assert on["db"]["queries"] < 0.6 * off["db"]["queries"]
    assert on["latency_ms"]["p50"] < 0.2 * off["latency_ms"]["p50"]
    # Orders change stock while copies live: some hits show an old product page.
    assert 0 < on["cdn"]["stale_hits"] < on["cdn"]["hits"]


def test_a_short_ttl_saves_fewer_trips(runs: dict[str, dict[str, Any]]) -> None:
    long, short = runs["on"], runs["short"]
    assert short["cdn"]["hit_rate"] < long["cdn"]["hit_rate"] - 0.1


def trace_of(response: httpx.Response) -> Trace:
    trace = response.extensions["sandbox.trace"]
    assert isinstance(trace, Trace)
    return trace


def hops(response: httpx.Response) -> list[str]:
    return [span.name for span in trace_of(response).root.children]


@pytest.fixture
async def edge(sandbox: Sandbox) -> AsyncIterator[Sandbox]:
    sandbox.apply(sandbox.settings.replace({"cdn.enabled": True}))
    yield sandbox


@pytest.fixture
async def victim(edge: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with edge.client("client-victim") as c:
        yield c


async def test_a_miss_goes_on_to_the_shop_and_a_hit_does_not(
        edge: Sandbox, client: httpx.AsyncClient, victim: httpx.AsyncClient) -> None:
    edge.apply(edge.settings.replace({"ratelimit.algorithm": "token_bucket"}))
    miss = await client.get("/products/1")
    assert miss.headers["x-cache"] == "MISS"
    assert hops(miss) == ["dns.lookup", "tcp.handshake", "edge", "lb", "gateway", "app-1",
                          "network.response"]
    assert trace_of(miss).find("client")[1].attrs["net.to"] == "edge"
    hit = await victim.get("/products/1")
    assert hit.headers["x-cache"] == "HIT"
    assert hops(hit) == ["tcp.handshake", "edge", "network.response"]
    assert hit.json() == miss.json()
    # The copy is the page, not the first caller's answer: its own id, no one else's quota.
    assert hit.headers["x-request-id"] == trace_of(hit).request_id != miss.headers["x-request-id"]
    assert "ratelimit-remaining" in miss.headers and "ratelimit-remaining" not in hit.headers
    # A hit is one short hop there and back, far quicker than the trip to the shop.
    assert trace_of(hit).duration_ms < trace_of(miss).duration_ms / 4


async def test_no_edge_no_edge_hop(client: httpx.AsyncClient) -> None:
    response = await client.get("/products/1")
    assert "x-cache" not in response.headers
    assert not trace_of(response).find("edge")


async def test_an_authenticated_answer_is_never_served_to_another_client(
        edge: Sandbox, client: httpx.AsyncClient, victim: httpx.AsyncClient,
        grace: dict[str, str]) -> None:
    mine = await client.get("/users/me/orders", headers=grace)
    assert mine.status_code == 200 and mine.headers["x-cache"] == "PASS"
    theirs = await victim.get("/users/me/orders")
    assert theirs.status_code == 401 and theirs.headers["x-cache"] == "PASS"
    # A public page asked for with credentials may be personal: it is not kept either.
    for header in ({**grace}, {"Cookie": "session=grace"}, {"X-User-Id": "2"}):
        assert (await client.get("/products/3", headers=header)).headers["x-cache"] == "PASS"
    assert (await victim.get("/products/3")).headers["x-cache"] == "MISS"
    assert edge.network.edge is not None and len(edge.network.edge) == 1  # the victim's own


async def test_a_query_variant_cannot_poison_another_key(
        edge: Sandbox, client: httpx.AsyncClient, victim: httpx.AsyncClient) -> None:
    attack = await client.get("/products", params={"category": "toys", "limit": 2,
                                                   "offset": 40})
    assert attack.headers["x-cache"] == "MISS"
    asked = await victim.get("/products", params={"category": "toys", "limit": 2})
    assert asked.headers["x-cache"] == "MISS"  # its own key: the shop answered it
    assert asked.json() != attack.json()
    again = await client.get("/products", params={"category": "toys", "limit": 2})
    assert again.headers["x-cache"] == "HIT" and again.json() == asked.json()
    # A non-GET never reads a copy, and never leaves one.
    posted = await victim.post("/products/1/reviews", json={"rating": 5, "body": "x"})
    assert posted.headers["x-cache"] == "PASS"


async def test_a_changed_product_is_served_stale_until_its_copy_expires(
        edge: Sandbox, client: httpx.AsyncClient, victim: httpx.AsyncClient,
        ada: dict[str, str]) -> None:
    edge.apply(edge.settings.replace({"cdn.ttl_s": 10}))
    before = (await victim.get("/products/5")).json()
    patched = await client.patch("/products/5", headers=ada,
                                 json={"price_cents": before["price_cents"] + 100})
    assert patched.status_code == 200
    stale = await victim.get("/products/5")
    assert stale.headers["x-cache"] == "HIT" and stale.json() == before
    assert trace_of(stale).counts["edge.stale_hits"] == 1
    edge.clock.advance(10_001)
    fresh = await victim.get("/products/5")
    assert fresh.headers["x-cache"] == "MISS"
    assert fresh.json()["price_cents"] == before["price_cents"] + 100


def test_the_flow_view_draws_the_edge_only_when_it_is_on() -> None:
    off = Settings()
    on = off.replace({"cdn.enabled": True})
    assert "edge" not in [box.key for box in build_layout(off, None).network]
    result = run_scenario("steady", on, requests=200, warmup=0)
    stats = compute_flow((t for _, t in result.traces), result.metrics)
    network = {box.key: box for box in build_layout(on, stats).network}
    assert list(network) == ["client", "dns", "edge", "lb", "gateway"]
    assert network["edge"].note.startswith("hit ") and stats.edge_hits > 0

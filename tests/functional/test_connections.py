"""Connections (issue 16, item 8): keep-alive, TCP and TLS handshakes, DNS per new connection.

Seeded runs both ways, and single requests whose traces show exactly what a cold connection
pays. The default (keep-alive on, TLS off, warm connections) charges nothing new.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.runtime import Sandbox
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings
from sandbox.tracing import Trace

REQUESTS = 400


def run(**changes: Any) -> dict[str, Any]:
    settings = Settings().replace({k.replace("__", "."): v for k, v in changes.items()})
    return run_scenario("steady", settings, requests=REQUESTS, warmup=0).metrics


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    return {
        "default": run(),
        "no_keep_alive": run(network__keep_alive=False),
        "no_keep_alive_tls": run(network__keep_alive=False, network__tls=True),
        "short_idle_no_dns_cache": run(network__idle_timeout_s=1, dns__cache=False),
        "no_keep_alive_no_dns_cache": run(network__keep_alive=False, dns__cache=False),
    }


def test_defaults_open_no_connection_and_look_nothing_up(runs: dict[str, Any]) -> None:
    assert runs["default"]["connections"] == {"new": 0, "handshakes": 0, "handshake_ms": 0.0,
                                              "dns_lookups": 0}


def test_keep_alive_off_costs_a_handshake_per_request(runs: dict[str, Any]) -> None:
    on, off = runs["default"], runs["no_keep_alive"]
    assert off["connections"]["new"] == REQUESTS
    assert off["connections"]["handshakes"] == REQUESTS
    # One round trip at 1 ms a hop: about 2 ms more on the median and on p95.
    for p in ("p50", "p95"):
        assert 1.5 < off["latency_ms"][p] - on["latency_ms"][p] < 2.5, p
    assert 1.8 < off["connections"]["handshake_ms"] / REQUESTS < 2.2


def test_tls_adds_a_second_round_trip_per_new_connection(runs: dict[str, Any]) -> None:
    tcp, tls = runs["no_keep_alive"], runs["no_keep_alive_tls"]
    assert tls["connections"]["handshakes"] == 2 * REQUESTS
    for p in ("p50", "p95"):
        assert 1.5 < tls["latency_ms"][p] - tcp["latency_ms"][p] < 2.5, p
    assert tls["connections"]["handshake_ms"] > 1.9 * tcp["connections"]["handshake_ms"]


def test_dns_cache_off_costs_a_lookup_per_new_connection_not_per_request(
        runs: dict[str, Any]) -> None:
    kept = runs["short_idle_no_dns_cache"]["connections"]
    assert 0 < kept["new"] < REQUESTS / 4
    assert kept["dns_lookups"] == kept["new"]
    every = runs["no_keep_alive_no_dns_cache"]
    assert every["connections"]["dns_lookups"] == REQUESTS
    assert every["latency_ms"]["p50"] > 3 * runs["default"]["latency_ms"]["p50"]
    # Kept connections: the median request reuses one and pays no lookup at all.
    assert runs["short_idle_no_dns_cache"]["latency_ms"]["p50"] < 1.1 * runs["default"][
        "latency_ms"]["p50"]


def trace_of(response: httpx.Response) -> Trace:
    trace = response.extensions["sandbox.trace"]
    assert isinstance(trace, Trace)
    return trace


def names(trace: Trace) -> list[str]:
    return [span.name for span in trace.root.children]


async def test_a_cold_connection_pays_lookup_and_handshakes_once(sandbox: Sandbox,
                                                                 client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"network.tls": True}))
    first = trace_of(await client.get("/products/1"))
    assert names(first)[:4] == ["dns.lookup", "tcp.handshake", "tls.handshake", "lb"]
    assert first.find("client")[2].attrs["tls.version"] == "1.3"
    second = trace_of(await client.get("/products/1"))
    assert names(second)[0] == "lb"
    assert second.duration_ms < first.duration_ms
    # Idle past the timeout (75 s): the server closed it, and the DNS answer (60 s) is gone.
    sandbox.clock.advance(sandbox.settings.network.idle_timeout_s * 1000 + 1)
    third = trace_of(await client.get("/products/1"))
    assert names(third)[:4] == ["dns.lookup", "tcp.handshake", "tls.handshake", "lb"]
    assert third.counts["net.new_connections"] == 1
    # Idle a while, but less than the timeout: the connection is still there.
    sandbox.clock.advance(30_000)
    assert names(trace_of(await client.get("/products/1")))[0] == "lb"


async def test_without_keep_alive_every_request_shakes_hands(sandbox: Sandbox,
                                                             client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"network.keep_alive": False}))
    for _ in range(3):
        trace = trace_of(await client.get("/products/1"))
        assert "tcp.handshake" in names(trace)
        assert trace.counts["net.handshakes"] == 1


async def test_each_client_has_its_own_connection(sandbox: Sandbox) -> None:
    async with sandbox.client("client-a") as a, sandbox.client("client-b") as b:
        assert "tcp.handshake" in names(trace_of(await a.get("/products/1")))
        assert "tcp.handshake" in names(trace_of(await b.get("/products/1")))
        assert "tcp.handshake" not in names(trace_of(await a.get("/products/1")))

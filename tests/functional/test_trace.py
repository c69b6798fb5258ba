"""Every hop and layer a request crosses shows up in its one trace, in simulated time."""

from __future__ import annotations

import itertools

import httpx

from sandbox.runtime import Sandbox
from sandbox.tracing import Trace


def trace_of(response: httpx.Response) -> Trace:
    trace = response.extensions["sandbox.trace"]
    assert isinstance(trace, Trace)
    return trace


async def test_every_hop_and_layer_is_a_span(client: httpx.AsyncClient) -> None:
    trace = trace_of(await client.get("/products/1"))
    kinds = [span.kind for _, span in trace.spans()]
    for kind in ("client", "dns", "lb", "gateway", "instance", "controller", "service",
                 "repository", "db"):
        assert kind in kinds, kind
    names = [span.name for _, span in trace.spans()]
    # The client's first request opens its connection: a lookup, then the TCP handshake.
    assert names[:5] == ["GET /products/1", "dns.lookup", "tcp.handshake", "lb", "gateway"]
    assert names[-1] == "network.response"


async def test_spans_nest_and_fit_inside_their_parent(client: httpx.AsyncClient) -> None:
    trace = trace_of(await client.get("/products/1"))

    def check(span: object) -> None:
        from sandbox.tracing import Span

        assert isinstance(span, Span)
        for child in span.children:
            assert child.start_ms >= span.start_ms - 1e-9
            assert child.start_ms + child.duration_ms <= span.start_ms + span.duration_ms + 1e-9
            check(child)

    check(trace.root)
    assert trace.duration_ms > 0
    children = trace.root.children
    for before, after in itertools.pairwise(children):
        assert after.start_ms >= before.start_ms + before.duration_ms - 1e-9


async def test_db_span_has_plan_steps_and_rows(client: httpx.AsyncClient) -> None:
    trace = trace_of(await client.get("/products/1"))
    (db,) = [s for s in trace.find("db") if s.name == "db.query"]
    assert db.attrs["db.plan"].startswith("SEARCH products USING INTEGER PRIMARY KEY")
    assert db.attrs["db.rows"] == 1
    assert db.attrs["db.rows_scanned"] >= 1
    assert trace.counts["db.queries"] == 1


async def test_dns_hop_disappears_once_cached(sandbox: Sandbox,
                                              client: httpx.AsyncClient) -> None:
    first = trace_of(await client.get("/products/1"))
    second = trace_of(await client.get("/products/1"))
    assert first.find("dns") and not second.find("dns")
    assert second.duration_ms < first.duration_ms


async def test_dns_cache_off_means_a_lookup_every_new_connection(
        sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    """Issue 16: a lookup is paid per new connection, not per request."""
    sandbox.apply(sandbox.settings.replace({"dns.cache": False}))
    assert trace_of(await client.get("/products/1")).find("dns")
    assert not trace_of(await client.get("/products/1")).find("dns")  # kept alive
    sandbox.apply(sandbox.settings.replace({"dns.cache": False, "network.keep_alive": False}))
    for _ in range(3):
        assert trace_of(await client.get("/products/1")).find("dns")


async def test_dns_answer_expires_after_its_ttl(sandbox: Sandbox,
                                               client: httpx.AsyncClient) -> None:
    # Without keep-alive each request opens a connection, so each one asks the resolver.
    sandbox.apply(sandbox.settings.replace({"dns.ttl_s": 5, "network.keep_alive": False}))
    assert trace_of(await client.get("/products/1")).find("dns")
    sandbox.clock.advance(4000)
    assert not trace_of(await client.get("/products/1")).find("dns")
    sandbox.clock.advance(2000)
    assert trace_of(await client.get("/products/1")).find("dns")


async def test_round_robin_spreads_requests(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"topology.instances": 3}))
    seen = [trace_of(await client.get("/health")).instance for _ in range(6)]
    assert seen == ["app-1", "app-2", "app-3", "app-1", "app-2", "app-3"]


async def test_hash_balancer_keeps_a_client_on_one_instance(sandbox: Sandbox) -> None:
    sandbox.apply(sandbox.settings.replace({"topology.instances": 4, "lb.algorithm": "hash"}))
    for name in ("alice", "bob", "carol"):
        async with sandbox.client(name) as c:
            seen = {trace_of(await c.get("/health")).instance for _ in range(4)}
        assert len(seen) == 1


async def test_a_dead_instance_fails_until_the_balancer_notices(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.apply(sandbox.settings.replace({"topology.instances": 2, "lb.health_check_s": 2}))
    assert (await client.get("/health")).status_code == 200  # the balancer checks: all alive
    sandbox.apply(sandbox.settings.replace({"faults.instance_down": 1}))
    before = [await client.get("/health") for _ in range(4)]
    failed = [r for r in before if r.status_code == 502]
    assert len(failed) == 2  # round robin still sends every other request to app-1
    assert all(r.json()["error"]["code"] == "bad_gateway" for r in failed)
    assert {trace_of(r).instance for r in failed} == {"app-1"}
    sandbox.clock.advance(2_100)  # the next health check finds app-1 dead
    after = [await client.get("/health") for _ in range(4)]
    assert [r.status_code for r in after] == [200] * 4
    assert {trace_of(r).instance for r in after} == {"app-2"}


async def test_no_live_instance_is_503(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"topology.instances": 1,
                                            "faults.instance_down": 1}))
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_index_change_changes_the_plan_live(sandbox: Sandbox, client: httpx.AsyncClient,
                                                  grace: dict[str, str]) -> None:
    indexed = trace_of(await client.get("/users/me/orders", headers=grace))
    sandbox.apply(sandbox.settings.replace({"db.indexes": "none"}))
    scanned = trace_of(await client.get("/users/me/orders", headers=grace))
    (a,), (b,) = ([s for s in t.find("db") if s.name == "db.query" and "orders" in s.attrs["db.sql"]]
                  for t in (indexed, scanned))
    assert "SEARCH orders USING INDEX idx_orders_customer_id" in a.attrs["db.plan"]
    assert "SCAN orders" in b.attrs["db.plan"]
    assert b.attrs["db.rows_scanned"] >= 100 * a.attrs["db.rows_scanned"]
    assert b.duration_ms > 10 * a.duration_ms


async def test_n_plus_one_issues_a_query_per_order(sandbox: Sandbox, client: httpx.AsyncClient,
                                                   grace: dict[str, str]) -> None:
    joined = trace_of(await client.get("/users/me/orders?limit=10", headers=grace))
    sandbox.apply(sandbox.settings.replace({"db.n_plus_one": True}))
    response = await client.get("/users/me/orders?limit=10", headers=grace)
    n_plus_one = trace_of(response)
    orders = len(response.json()["orders"])
    # One more query in each: the caller's user, looked up by primary key on every request.
    assert joined.counts["db.queries"] == 1 + 1
    assert n_plus_one.counts["db.queries"] == 1 + 1 + orders


async def test_same_seed_same_trace_timings() -> None:
    durations = []
    for _ in range(2):
        sb = Sandbox(seed=11)
        async with sb.client() as c:
            traces = [trace_of(await c.get(f"/products/{i}")) for i in (1, 2, 3)]
        durations.append([round(t.duration_ms, 9) for t in traces])
        sb.close()
    assert durations[0] == durations[1]


async def test_the_waterfall_fits_any_panel_from_40_columns(client: httpx.AsyncClient,
                                                            sandbox: Sandbox) -> None:
    from sandbox.tui.widgets.waterfall import MIN_BAR, waterfall_lines

    sandbox.apply(sandbox.settings.replace({"cache.strategy": "cache_aside",
                                            "ratelimit.algorithm": "token_bucket"}))
    trace = trace_of(await client.get("/products/7"))
    for width in (40, 45, 48, 60, 80, 120):
        lines = waterfall_lines(trace, width)
        assert max(len(line) for line in lines) <= width, width  # nothing wraps in the panel
        bars = [line.plain for line in lines[1:] if "█" in line.plain]
        assert len(bars) == len(list(trace.spans()))  # every span keeps its bar
        # The whole request's bar fills the timeline, which leaves room for a ✗ at the end.
        assert len(bars[0]) == width - 2 and bars[0].count("█") >= MIN_BAR, width
    assert "controller.get_product" in "\n".join(line.plain for line in lines)  # names whole

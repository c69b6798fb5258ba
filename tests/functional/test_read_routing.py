"""Read-your-writes routing in front of a lagging replica, and the network's observers."""

from __future__ import annotations

import httpx

from sandbox import tracing
from sandbox.request_context import RequestContext, current_request
from sandbox.runtime import Sandbox


async def test_read_your_writes_shows_your_own_new_order(sandbox: Sandbox,
                                                         client: httpx.AsyncClient,
                                                         grace: dict[str, str]) -> None:
    sandbox.apply(sandbox.settings.replace({"db.read_replica": True, "db.replica_lag_ms": 1000,
                                            "db.read_your_writes": True}))
    placed = await client.post("/orders", headers=grace,
                               json={"items": [{"product_id": 3, "quantity": 1}]})
    soon = await client.get("/users/me/orders?limit=1", headers=grace)
    assert soon.json()["orders"][0]["id"] == placed.json()["id"]  # read from the primary
    trace = soon.extensions["sandbox.trace"]
    assert "db.replica_queries" not in trace.counts
    assert trace.find("instance")[0].attrs["db.route"] == "primary"
    other = await client.get("/products/5", headers={"X-Sandbox-Client": "someone-else"})
    assert other.extensions["sandbox.trace"].counts["db.replica_queries"] == 1
    sandbox.clock.advance(1100)  # the replica has caught up: back to it
    later = await client.get("/users/me/orders?limit=1", headers=grace)
    assert later.extensions["sandbox.trace"].counts["db.replica_queries"] == 1


async def test_observers_see_every_finished_request(sandbox: Sandbox,
                                                    client: httpx.AsyncClient) -> None:
    seen: list[tuple[str, int]] = []
    sandbox.network.observers.append(lambda trace: seen.append((trace.path, trace.status)))
    await client.get("/products/1")
    await client.get("/products/999999")
    assert seen == [("/products/1", 200), ("/products/999999", 404)]


def test_where_reads_go_is_request_state_not_trace_state(sandbox: Sandbox) -> None:
    """The read route lives in the request's context: no trace is needed for it to hold."""
    sandbox.apply(sandbox.settings.replace({"db.read_replica": True}))
    assert sandbox.ctx.reads is sandbox.ctx.replica_repos  # outside a request: the replica
    token = current_request.set(RequestContext(read_route="primary"))
    try:
        assert tracing.current_trace.get() is None
        assert sandbox.ctx.reads is sandbox.ctx.repos
    finally:
        current_request.reset(token)

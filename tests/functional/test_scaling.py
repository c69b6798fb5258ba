"""Connection pools and read replicas: capacity you can run out of, and lag you can read."""

from __future__ import annotations

import httpx

from sandbox.runtime import Sandbox
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings


def test_a_small_pool_makes_requests_wait_under_load() -> None:
    base = {"topology.concurrency": 16}
    small = run_scenario("spike", Settings().replace({**base, "db.pool_size": 2}),
                         requests=5000).metrics
    ample = run_scenario("spike", Settings().replace({**base, "db.pool_size": 16}),
                         requests=5000).metrics
    assert small["db"]["pool_waits"] > 500 and ample["db"]["pool_waits"] == 0
    assert small["latency_ms"]["p95"] > 2 * ample["latency_ms"]["p95"]


async def test_replica_lag_hides_your_own_new_order(sandbox: Sandbox, client: httpx.AsyncClient,
                                                   grace: dict[str, str]) -> None:
    sandbox.apply(sandbox.settings.replace({"db.read_replica": True,
                                            "db.replica_lag_ms": 1000}))
    placed = await client.post("/orders", headers=grace,
                               json={"items": [{"product_id": 3, "quantity": 1}]})
    assert placed.status_code == 201
    soon = await client.get("/users/me/orders?limit=1", headers=grace)
    assert soon.json()["orders"][0]["id"] != placed.json()["id"]  # read from the replica
    trace = soon.extensions["sandbox.trace"]
    assert trace.counts["db.replica_queries"] == 1 and trace.counts["db.stale_reads"] == 1
    sandbox.clock.advance(1100)
    later = await client.get("/users/me/orders?limit=1", headers=grace)
    assert later.json()["orders"][0]["id"] == placed.json()["id"]
    assert "db.stale_reads" not in later.extensions["sandbox.trace"].counts
    fetched = await client.get(f"/orders/{placed.json()['id']}", headers=grace)
    assert fetched.status_code == 200  # single orders read the primary: read-your-writes


async def test_a_rolled_back_write_never_reaches_the_replica(
    sandbox: Sandbox, client: httpx.AsyncClient, grace: dict[str, str], ada: dict[str, str]
) -> None:
    await client.patch("/products/4", headers=ada, json={"stock": 1})
    sandbox.apply(sandbox.settings.replace({"db.read_replica": True, "db.replica_lag_ms": 0}))
    failed = await client.post("/orders", headers=grace, json={
        "items": [{"product_id": 5, "quantity": 1}, {"product_id": 4, "quantity": 2}]})
    assert failed.status_code == 409
    sandbox.clock.advance(10)
    await client.get("/health")
    assert sandbox.replica is not None
    query = "SELECT id, stock FROM products WHERE id IN (4, 5) ORDER BY id"
    assert sandbox.replica.conn.execute(query).fetchall() == sandbox.db.conn.execute(
        query).fetchall()


def test_lag_makes_stale_reads_and_no_lag_makes_none() -> None:
    lagging = run_scenario("spike", Settings().replace({"db.read_replica": True,
                                                        "db.replica_lag_ms": 500}),
                           requests=3000).metrics["db"]
    prompt = run_scenario("spike", Settings().replace({"db.read_replica": True,
                                                       "db.replica_lag_ms": 0}),
                          requests=3000).metrics["db"]
    assert lagging["replica_queries"] > 2000 and lagging["stale_reads"] > 0
    assert prompt["replica_queries"] == lagging["replica_queries"]
    assert prompt["stale_reads"] == 0


async def test_stock_taken_by_an_order_reaches_the_replica(
    sandbox: Sandbox, client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    """Regression: UPDATE ... RETURNING runs as a read call but changes data."""
    sandbox.apply(sandbox.settings.replace({"db.read_replica": True, "db.replica_lag_ms": 0}))
    placed = await client.post("/orders", headers=grace,
                               json={"items": [{"product_id": 9, "quantity": 2}]})
    assert placed.status_code == 201
    sandbox.clock.advance(10)
    await client.get("/health")
    assert sandbox.replica is not None
    query = "SELECT stock FROM products WHERE id = 9"
    assert sandbox.replica.conn.execute(query).fetchall() == sandbox.db.conn.execute(
        query).fetchall()

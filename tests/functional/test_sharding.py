"""`db.shards`: orders split across SQLite files by customer; the gain and the hot shard (#16)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.backend.sharding import shard_of, shard_paths
from sandbox.runtime import DATA_SEED, Sandbox
from sandbox.scenarios.runner import run_scenario
from sandbox.settings import Settings

# Without the index on orders.customer_id an order history scans its whole orders table: on
# a shard, only that shard's part of it.
NO_CUSTOMER_INDEX = {"db.indexes": "order_items.order_id,reviews.product_id,users.email"}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Two shards from the start: split from the seeded files (switching live moves every
    order, a few seconds' work; tests/unit/test_sharding.py moves a few instead)."""
    sb = Sandbox(Settings().replace({"db.shards": "2"}), seed=7)
    yield sb
    sb.close()


async def test_orders_live_in_separate_files_by_customer(sandbox: Sandbox,
                                                         client: httpx.AsyncClient,
                                                         grace: dict[str, str],
                                                         ada: dict[str, str]) -> None:
    assert all(path.exists() for path in shard_paths(DATA_SEED, 2))  # the seeded split, cached
    assert "orders" not in sandbox.db.tables()  # the main file no longer has them
    for k, store in enumerate(sandbox.shards):
        customers = {c for (c,) in store.conn.execute("SELECT DISTINCT customer_id FROM orders")}
        assert len(customers) > 5000 and {shard_of(c, 2) for c in customers} == {k}

    placed = await client.post("/orders", headers=grace,
                               json={"items": [{"product_id": 3, "quantity": 1}]})
    assert placed.status_code == 201
    order_id = placed.json()["id"]
    home = sandbox.shards[shard_of(2, 2)]
    assert home.conn.execute("SELECT customer_id FROM orders WHERE id = ?",
                             (order_id,)).fetchone() == (2,)

    history = await client.get("/users/me/orders?limit=1", headers=grace)
    assert history.json()["orders"][0]["id"] == order_id
    shards_asked = {s.attrs.get("db.shard") for _, s in history.extensions["sandbox.trace"].spans()
                    if s.name == "db.query" and "orders" in s.attrs["db.sql"]}
    assert shards_asked == {shard_of(2, 2)}  # by customer: one shard

    by_id = await client.get(f"/orders/{order_id}", headers=ada)
    assert by_id.status_code == 200 and by_id.json()["items"][0]["product_id"] == 3
    trace = by_id.extensions["sandbox.trace"]
    fan = next(s for _, s in trace.spans() if s.name == "repository.orders.by_id")
    assert fan.attrs["db.fanout"] == 2
    assert sorted(c.attrs["db.shard"] for c in fan.children) == [0, 1]
    assert trace.counts["db.fanouts"] == 1
    # Asked in parallel: the fan-out takes as long as one shard, not two.
    assert fan.duration_ms < 1.5 * max(c.duration_ms for c in fan.children)


def test_more_shards_less_work_each_and_faster_histories() -> None:
    def run(shards: str) -> dict:
        settings = Settings().replace({**NO_CUSTOMER_INDEX, "db.shards": shards})
        return run_scenario("orders", settings, requests=80, warmup=0).metrics

    one, four = run("1"), run("4")
    assert "shards" not in one  # one file: no per-shard figures, today's output
    by_shard = four["shards"]["by_shard"]
    assert len(by_shard) == 4
    assert all(0.15 < s["query_share"] < 0.35 for s in by_shard.values())
    assert four["db"]["rows_scanned"] < 0.35 * one["db"]["rows_scanned"]  # a quarter each
    history = one["endpoints"]["order_history"]["p95"], four["endpoints"]["order_history"]["p95"]
    assert history[1] < 0.6 * history[0], history


def test_the_hot_customers_shard_does_most_of_the_work() -> None:
    settings = Settings().replace({**NO_CUSTOMER_INDEX, "db.shards": "4", "db.cores": 1})
    shards = run_scenario("hot_customer", settings, requests=200, warmup=0).metrics["shards"]
    hot = shards["by_shard"].pop(str(shard_of(2, 4)))  # seeded user 2 is the hot customer
    others = shards["by_shard"].values()
    assert hot["query_share"] > 0.5
    assert all(s["query_share"] < 0.25 for s in others)
    assert hot["p95_ms"] > max(s["p95_ms"] for s in others)  # it queues for its one core
    assert hot["core_waits"] > 2 * max(s["core_waits"] for s in others)

"""Sharding's parts on small databases: the routing, the moves, the router repository (#16)."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest
import sqlite_utils

from sandbox.backend.database import Database, StoreStats
from sandbox.backend.repositories import OrderRepository, Repositories
from sandbox.backend.seed import create_schema
from sandbox.backend.sharding import ShardedOrderRepository, move_orders, reshard, shard_of


def shop() -> Database:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    create_schema(sqlite_utils.Database(conn))
    return Database(conn)


def orders_in(db: Database) -> list[tuple[int, int]]:
    return db.conn.execute("SELECT id, customer_id FROM orders ORDER BY id").fetchall()


def test_shard_of_is_stable_and_spreads_customers() -> None:
    assert [shard_of(c, 4) for c in (2, 3, 4, 5)] == [shard_of(c, 4) for c in (2, 3, 4, 5)]
    for shards in (2, 4):
        spread = Counter(shard_of(c, shards) for c in range(1, 20_001))
        assert set(spread) == set(range(shards))
        assert max(spread.values()) < 1.1 * 20_000 / shards  # even, within 10%
    assert shard_of(12345, 1) == 0


def test_orders_move_to_their_customers_shards_and_back() -> None:
    main = shop()
    repo = OrderRepository(main)
    for customer in range(2, 42):
        repo.add(customer, [(1, 1, 100), (2, 2, 50)], 0)
    shards = reshard([main], 4, ())
    for k, store in enumerate(shards):
        held = orders_in(store)
        assert held, "every shard holds some customers"
        assert {shard_of(c, 4) for _, c in held} == {k}
        lines = store.conn.execute("SELECT count(*) FROM order_items").fetchone()[0]
        assert lines == 2 * len(held)  # the lines went with their orders
    back = shop()
    back.conn.execute("DELETE FROM orders")
    move_orders(shards, [back], lambda customer: 0)
    assert orders_in(back) == orders_in(main)


def test_sharded_repository_routes_numbers_and_fans_out() -> None:
    stores = [shop() for _ in range(2)]
    for k, store in enumerate(stores):
        store.shard, store.stats = k, StoreStats()
    repo = ShardedOrderRepository(stores)
    placed = {customer: repo.add(customer, [(1, 1, 100)], customer) for customer in range(2, 12)}
    assert sorted(placed.values()) == list(range(1, 11))  # one sequence across shards
    for customer, order_id in placed.items():
        home = stores[shard_of(customer, 2)]
        assert (order_id, customer) in orders_in(home)
        assert repo.by_id(order_id) == {"id": order_id, "customer_id": customer,
                                        "status": "paid", "total_cents": 100,
                                        "created_at": customer}
        assert repo.items(order_id)[0]["order_id"] == order_id  # without a customer: fan-out
        assert [o["id"] for o in repo.with_items_by_customer(customer, 5)] == [order_id]
    assert repo.by_id(999) is None


def test_a_failed_transaction_leaves_no_shard_changed() -> None:
    main, stores = shop(), [shop() for _ in range(2)]
    repos = Repositories(main)
    repos.orders = ShardedOrderRepository(stores)
    with pytest.raises(RuntimeError), repos.transaction():
        for customer in range(2, 8):
            repos.orders.add(customer, [(1, 1, 100)], 0)
        raise RuntimeError("stock ran out half way")
    assert all(orders_in(store) == [] for store in stores)

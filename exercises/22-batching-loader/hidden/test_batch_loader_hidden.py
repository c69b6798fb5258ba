"""Hidden tests: batches capped at max_batch, an order history through your SQL, and a cache
that lives for one request only."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_batch_loader.py")

HISTORY = "{ me { orders(limit: 10) { id items { quantity product { id name price_cents } } } } }"


@pytest.mark.points(2)
def test_big_batches_are_split_at_max_batch(student: ModuleType) -> None:
    """250 keys with max_batch 100: three fetches of 100, 100 and 50, every answer right."""
    fetch = visible.CountingFetch({k: -k for k in range(0, 500, 2)})
    loader = student.BatchLoader(fetch, max_batch=100)
    keys = list(range(250))
    got = loader.load_many(keys)
    assert got == [-k if k % 2 == 0 else None for k in keys], "the answers are wrong or out of order"
    assert [len(b) for b in fetch.batches] == [100, 100, 50], (
        f"expected fetches of 100, 100 and 50 keys; yours: {[len(b) for b in fetch.batches]}")


@pytest.mark.points(3)
def test_an_order_history_loads_its_products_in_one_query(student: ModuleType) -> None:
    """A customer's orders with each item's product: the same answer as the sandbox's loader,
    the products through your fetch_products in one query."""
    want, own_queries = visible.graphql(None, HISTORY, user="grace@shop.test")
    got, queries = visible.graphql(student, HISTORY, user="grace@shop.test")
    assert got == want, "the order history differs from the sandbox's own loader's"
    assert want["me"]["orders"] and queries <= own_queries, (
        f"your loader made {queries} database queries; the sandbox's own makes {own_queries}")


@pytest.mark.points(2)
def test_each_request_has_its_own_cache(student: ModuleType) -> None:
    """A product renamed between two requests shows its new name in the second: nothing is
    cached across requests."""
    sb = make_sandbox({"graphql.loader": "batched", "auth.mode": "jwt"},
                      plug=("batch_loader", student))
    first = send(sb, "POST", "/graphql", json={"query": HISTORY}, user="grace@shop.test").json()
    product = first["data"]["me"]["orders"][0]["items"][0]["product"]
    sb.db.conn.execute("UPDATE products SET name = 'Renamed' WHERE id = ?", (product["id"],))
    second = send(sb, "POST", "/graphql", json={"query": HISTORY}, user="grace@shop.test").json()
    names = {i["product"]["name"] for o in second["data"]["me"]["orders"] for i in o["items"]
             if i["product"]["id"] == product["id"]}
    assert names == {"Renamed"}, (
        f"the second request still saw {names}: a loader's cache must last one request only")


class FlakyFetch(visible.CountingFetch):
    """A fetch whose database is down for its first call."""

    def __call__(self, keys: list[int]) -> dict[int, Any]:
        self.batches.append(list(keys))
        if len(self.batches) == 1:
            raise ConnectionError("the database is not answering")
        return {k: self.values[k] for k in keys if k in self.values}


@pytest.mark.points(1)
def test_a_failed_fetch_caches_nothing(student: ModuleType) -> None:
    """The first fetch fails: load raises, nothing is cached, and the next load fetches the
    same keys again and answers them."""
    fetch = FlakyFetch({1: "a", 2: "b"})
    loader = student.BatchLoader(fetch)
    loader.expect([1, 2])
    with pytest.raises(ConnectionError):
        loader.load(1)
    assert loader.load(2) == "b" and loader.load(1) == "a", (
        "after a failed fetch the keys get a real answer on the next try, not a cached None")
    assert fetch.batches == [[1, 2], [1, 2]], (
        f"the second fetch asks for both keys again; your fetches: {fetch.batches}")

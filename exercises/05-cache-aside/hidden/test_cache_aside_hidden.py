"""Hidden tests: missing rows, keys kept apart, and a product edit seen at once in the shop."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_cache_aside.py")


@pytest.mark.points(2)
def test_missing_rows_and_separate_keys(student: ModuleType) -> None:
    """A None from load() is returned but not cached; each key has an entry of its own."""
    cache, _, db = visible.make(student)
    assert cache.get("product:9", db.loader("product:9")) is None
    db.rows["product:9"] = {"id": 9, "name": "new kettle"}
    found = cache.get("product:9", db.loader("product:9"))
    assert found == {"id": 9, "name": "new kettle"}, (
        f"a row that did not exist a moment ago was added; get returned {found}: do not cache "
        "a None from load()")
    assert cache.get("product:1", db.loader("product:1"))["name"] == "red lamp", (
        "product:1 must not be answered with another key's entry")
    cache.invalidate("product:9")
    assert db.loads.count("product:1") == 1
    cache.get("product:1", db.loader("product:1"))
    assert db.loads.count("product:1") == 1, "invalidating product:9 must leave product:1 cached"


@pytest.mark.points(3)
def test_a_product_edit_is_seen_at_once(student: ModuleType) -> None:
    """Through the shop: an admin changes a cached product's price; the next GET shows it."""
    sb = make_sandbox({**visible.SWITCHES, "cache.ttl_s": 300.0, "auth.mode": "off"},
                      plug=("cache_aside", student))
    admin = {"X-User-Id": "1"}
    before = [send(sb, "GET", "/products/42").json()["price_cents"] for _ in range(2)]
    cached = send(sb, "GET", "/products/42").extensions["sandbox.trace"].counts
    assert cached.get("cache.hits") == 1, "the third GET of a product must be a cache hit"
    new_price = before[0] + 100
    changed = send(sb, "PATCH", "/products/42", json={"price_cents": new_price}, headers=admin)
    assert changed.status_code == 200, changed.text
    after = send(sb, "GET", "/products/42").json()["price_cents"]
    assert after == new_price, (
        f"the price went from {before[0]} to {new_price}, but GET /products/42 still answered "
        f"{after} from your cache: the write must invalidate the entry")

"""The `flash_sale` scenario: concurrent orders for one product with little stock, naive
read-then-write against one conditional UPDATE (issue #16, item 3)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from sandbox.backend.database import Database
from sandbox.backend.repositories import Repositories
from sandbox.runtime import Sandbox
from sandbox.scenarios import patterns, run_scenario
from sandbox.scenarios.flash_sale import SALE_PRODUCT, SALE_STOCK
from sandbox.settings import Settings

SHOPPERS = 100


def sale(stock_update: str, keep_traces: int = 0) -> Any:
    settings = Settings().replace({"db.stock_update": stock_update})
    return run_scenario("flash_sale", settings, requests=SHOPPERS, keep_traces=keep_traces)


def test_naive_oversells_and_conditional_never_does() -> None:
    naive, conditional = sale("naive").metrics, sale("conditional").metrics
    assert naive["flash_sale"]["units_oversold"] >= 5
    assert naive["flash_sale"]["units_sold"] == naive["status"]["201"]
    assert conditional["flash_sale"]["units_oversold"] == 0
    assert conditional["flash_sale"]["units_sold"] == SALE_STOCK
    assert conditional["status"] == {"201": SALE_STOCK, "409": SHOPPERS - SALE_STOCK}
    assert conditional["flash_sale"]["stock_left"] == 0


def test_the_requests_really_interleave_across_instances() -> None:
    """Another order read the stock after ours read it and before ours wrote it, on another
    instance: the race is coroutines interleaving, not a formula."""
    result = sale("naive", keep_traces=SHOPPERS)
    windows = []
    for _, trace in result.traces:
        spans = {s.name: s.start_ms for _, s in trace.spans()}
        if "repository.products.set_stock" in spans:
            windows.append((trace.instance, spans["repository.products.stock_and_price"],
                            spans["repository.products.set_stock"]))
    assert any(a[0] != b[0] and a[1] < b[1] < a[2]
               for a, b in itertools.permutations(windows, 2))


def test_without_overlap_naive_does_not_oversell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same requests one after another: nothing oversold. The overselling above needs
    requests really running at once."""
    one_by_one = dataclasses.replace(patterns.PATTERNS["flash_sale"], overlap=False)
    monkeypatch.setitem(patterns.PATTERNS, "flash_sale", one_by_one)
    assert sale("naive").metrics["flash_sale"]["units_oversold"] == 0


def test_the_conditional_update_guards_and_the_naive_write_does_not() -> None:
    repos = Repositories(Database.open_seeded(1))
    repos.db.write("UPDATE products SET stock = 1 WHERE id = ?", (SALE_PRODUCT,))
    assert repos.products.take_stock(SALE_PRODUCT, 1) is not None
    assert repos.products.take_stock(SALE_PRODUCT, 1) is None  # none left: no row changed
    assert repos.products.stock(SALE_PRODUCT) == 0
    stock, _ = repos.products.stock_and_price(SALE_PRODUCT) or (None, None)
    repos.products.set_stock(SALE_PRODUCT, 5)  # whatever it is told, even after a sell-out
    assert (stock, repos.products.stock(SALE_PRODUCT)) == (0, 5)


@pytest.mark.parametrize("stock_update", ["naive", "conditional"])
async def test_sold_out_is_a_409_with_the_error_envelope(stock_update: str) -> None:
    sb = Sandbox(Settings().replace({"auth.mode": "off", "db.stock_update": stock_update}))
    try:
        sb.db.write("UPDATE products SET stock = 0 WHERE id = ?", (SALE_PRODUCT,))
        async with sb.client() as client:
            response = await client.post(
                "/orders", headers={"X-User-Id": "2"},
                json={"items": [{"product_id": SALE_PRODUCT, "quantity": 1}]})
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["message"] == f"Only 0 of product {SALE_PRODUCT} left in stock."
        assert error["request_id"]
        orders = sb.db.conn.execute("SELECT count(*) FROM order_items WHERE product_id = ? "
                                    "AND order_id > 200000", (SALE_PRODUCT,)).fetchone()[0]
        assert orders == 0
    finally:
        sb.close()


def test_a_bad_stock_update_value_is_refused_with_the_valid_ones() -> None:
    from sandbox.errors import SettingsError

    with pytest.raises(SettingsError, match=r"conditional.*naive"):
        Settings().replace({"db.stock_update": "optimistic"})


@pytest.mark.parametrize("stock_update", ["naive", "conditional"])
async def test_orders_that_cannot_be_filled_are_refused_either_way(stock_update: str) -> None:
    """A missing product is 404 and more than is left is 409, in both modes; nothing is
    taken from the stock by a refused order."""
    sb = Sandbox(Settings().replace({"auth.mode": "off", "db.stock_update": stock_update}))
    try:
        sb.db.write("UPDATE products SET stock = 3 WHERE id = ?", (SALE_PRODUCT,))
        async with sb.client() as client:
            async def order(*items: tuple[int, int]) -> int:
                body = {"items": [{"product_id": p, "quantity": q} for p, q in items]}
                response = await client.post("/orders", headers={"X-User-Id": "2"}, json=body)
                return response.status_code

            assert await order((10_000_000, 1)) == 404
            assert await order((SALE_PRODUCT, 2), (SALE_PRODUCT, 2)) == 409  # 4 wanted in all
            assert await order((SALE_PRODUCT, 3), (10_000_000, 1)) == 404
            assert sb.db.query_one("SELECT stock FROM products WHERE id = ?",
                                   (SALE_PRODUCT,)) == (3,)
            assert await order((SALE_PRODUCT, 3)) == 201
        assert sb.db.query_one("SELECT stock FROM products WHERE id = ?", (SALE_PRODUCT,)) == (0,)
    finally:
        sb.close()

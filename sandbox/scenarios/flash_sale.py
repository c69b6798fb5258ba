"""The `flash_sale` scenario's shoppers: a crowd ordering one product of which little is left.

The sale opens with SALE_STOCK units of product SALE_PRODUCT, and shopper after shopper
orders one. The pattern runs these requests really at once (`Pattern.overlap`): several are
inside the app instances together, and their coroutines interleave where a request waits for
the database. Whether the shop sells more than it has depends on how an order takes stock
(`db.stock_update`): reading the stock and writing it back in a second statement lets two
orders read the same number; one guarded UPDATE cannot be interleaved.

What the run reports (the `flash_sale` section) is read from the database afterwards: the
units in the orders placed during the run, against the stock the sale started with.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from sandbox.scenarios.mix import CLIENTS, Action, Shoppers, _json_action

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

SALE_PRODUCT = 42
SALE_STOCK = 25


class FlashSaleShoppers(Shoppers):
    """Every shopper, picked evenly from the whole crowd, orders one unit of the sale product."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._first_order = 0  # orders with a higher id were placed during the run

    def client(self) -> int:
        return self.rng.randrange(CLIENTS)

    def action(self) -> str:
        return "place_order"

    def build(self, name: str, user_id: int) -> Action:
        if name == "place_order":
            return _json_action(name, "POST", "/orders",
                                {"items": [{"product_id": SALE_PRODUCT, "quantity": 1}]})
        return super().build(name, user_id)

    def begin(self, sandbox: Sandbox) -> None:
        # The shop puts the sale's units on the shelf (an operator's change, not an order).
        sandbox.db.write("UPDATE products SET stock = ? WHERE id = ?", (SALE_STOCK, SALE_PRODUCT))
        last = sandbox.db.query_one("SELECT COALESCE(MAX(id), 0) FROM orders")
        self._first_order = int(last[0]) if last else 0

    def report(self, sandbox: Sandbox) -> dict[str, Any]:
        db = sandbox.db
        sold = db.query_one(
            "SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE product_id = ? "
            "AND order_id > ?", (SALE_PRODUCT, self._first_order))
        left = db.query_one("SELECT stock FROM products WHERE id = ?", (SALE_PRODUCT,))
        units_sold = int(sold[0]) if sold else 0
        return {"flash_sale": {
            "product_id": SALE_PRODUCT,
            "stock_at_start": SALE_STOCK,
            "units_sold": units_sold,
            # Orders accepted beyond the stock: promises the shop cannot keep.
            "units_oversold": max(0, units_sold - SALE_STOCK),
            # What the stock column says now; after lost updates it is not even zero.
            "stock_left": int(left[0]) if left else 0,
        }}

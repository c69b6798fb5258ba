"""The checkout rush: a sale where a few dozen regular customers place order after order.

Used by the event-ordering experiment (`queue.partitions`, `queue.partition_key`): many
orders from the same few customers, close together, so that events of one customer often
wait in different partitions at the same time.
"""

from __future__ import annotations

from sandbox.backend.seed import PRODUCTS
from sandbox.scenarios.mix import Shoppers

REGULARS = 40  # the customers taking part
ORDER_SHARE = 0.7  # the rest of their requests look at a product first


class RushShoppers(Shoppers):
    """Forty regulars, each placing an order most times they act."""

    def client(self) -> int:
        return self.rng.randrange(REGULARS)

    def action(self) -> str:
        return "place_order" if self.rng.random() < ORDER_SHARE else "view_product"

    def product(self) -> int:
        # Spread over the whole catalogue: the sale is on everything, and no product runs
        # out of stock (a refused order would publish no event).
        return self.rng.randrange(PRODUCTS) + 1

"""Shoppers for the sharding experiments: order-heavy traffic, and one customer who orders
far more than everyone else (a hot key: whichever shard holds them does most of the work)."""

from __future__ import annotations

import itertools
import random

from sandbox.scenarios.mix import Shoppers

# (action, weight): looking up one's orders and placing them, with a little browsing.
ORDER_MIX: tuple[tuple[str, int], ...] = (
    ("order_history", 600),
    ("place_order", 250),
    ("view_product", 150),
)
HOT_SHARE = 0.5  # the hot customer's share of all requests in `hot_customer`


class OrderShoppers(Shoppers):
    """Customers reading and placing orders, each customer's on their own shard."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._actions = [name for name, _ in ORDER_MIX]
        self._action_cum = list(itertools.accumulate(w for _, w in ORDER_MIX))


class HotCustomerShoppers(OrderShoppers):
    """The same traffic, but one customer (the first shopper, seeded user 2) makes half of it:
    their shard serves their half plus its share of everyone else's."""

    def client(self) -> int:
        if self.rng.random() < HOT_SHARE:
            return 0
        return super().client()

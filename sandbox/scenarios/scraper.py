"""The `scraper` scenario's shoppers: a few ordinary clients, and one that copies the catalogue.

Every ordinary client browses and buys as the shop's usual mix does. One more client, the
scraper, sends twenty times as many requests as any of them, all from one address: it walks
the whole catalogue in id order, product page after product page and listing page after
listing page. Walking in order defeats the cache (a product nobody else looks at is never
cached), so nearly every one of its requests is work for the database.

The rate limiter at the gateway keys each client by its address (see network/gateway.py):
limited, the scraper gets 429s once it has spent its allowance, and the ordinary clients keep
the instances and the database for themselves.
"""

from __future__ import annotations

import random

from sandbox.backend.seed import PRODUCTS
from sandbox.scenarios.mix import Action, Shoppers

ORDINARY = 20  # ordinary clients, seeded users 2..21
SCRAPER = ORDINARY  # the scraper's client number: seeded user ORDINARY + 2
TIMES = 20  # the scraper sends this many requests for each one an ordinary client sends
PAGE = 100  # the scraper asks for the biggest pages the API gives
LISTING_EVERY = 4  # one listing page after each few product pages


class ScraperShoppers(Shoppers):
    """Ordinary clients picked evenly, and the scraper TIMES as often as any one of them."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._scraper_share = TIMES / (ORDINARY + TIMES)
        self._next_product = 0  # where the scraper's walk through the catalogue has got to
        self._next_offset = 0
        self._last_client = 0

    def client(self) -> int:
        rng = self.rng
        self._last_client = SCRAPER if rng.random() < self._scraper_share else rng.randrange(ORDINARY)
        return self._last_client

    def action(self) -> str:
        # The runner asks for the client first, then what they do: the scraper only scrapes.
        if self._last_client == SCRAPER:
            self._next_product += 1
            return "scrape_listing" if self._next_product % LISTING_EVERY == 0 else "scrape_product"
        return super().action()

    def build(self, name: str, user_id: int) -> Action:
        if name == "scrape_product":
            return Action(name, "GET", f"/products/{(self._next_product - 1) % PRODUCTS + 1}")
        if name == "scrape_listing":
            offset = self._next_offset
            self._next_offset = (offset + PAGE) % PRODUCTS
            return Action(name, "GET", "/products", query=f"limit={PAGE}&offset={offset}".encode())
        return super().build(name, user_id)

    has_classes = True

    def client_class(self, user_id: int) -> str:
        return "abuser" if user_id == SCRAPER + 2 else "others"

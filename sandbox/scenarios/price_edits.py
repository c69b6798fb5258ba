"""The `price_edits` scenario's shoppers: the ordinary mix, while the admin edits prices.

With `cache.strategy=write_behind` an edit is answered once the cache has it, and reaches the
database a little later. If the cache server dies in between (`faults.cache_down_at_s`),
edits the admin was told were saved never arrive. These shoppers remember every edit that was
acknowledged and, after the run, ask the database what it holds: each row whose last
acknowledged price is not there is a lost write. Counted from what happened, not estimated.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from sandbox.scenarios.mix import NEEDS_LOGIN, Action, Shoppers

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox
    from sandbox.tracing import Trace

EDIT_SHARE = 0.05  # of all requests: one in twenty is the admin changing a price
EDITED_PRODUCTS = 1000  # the admin edits any of these, one as likely as another
ADMIN = -1  # the runner's customer numbers start at 0 for seeded user 2; -1 is user 1, Ada
FIRST_PRICE = 100_000  # edited prices count up from here, so every edit's price is its own


class PriceEditShoppers(Shoppers):
    """The shop's ordinary mix, with the admin (seeded user 1) editing prices now and then."""

    needs_login = frozenset(NEEDS_LOGIN | {"edit_price"})
    observes = True

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._editing = False
        self._edits = 0
        self._sent: tuple[int, int] | None = None  # (product, price) of the edit in flight
        self._acknowledged: dict[int, int] = {}  # product -> its last price answered 200
        self._acknowledged_edits = 0

    def client(self) -> int:
        self._editing = self.rng.random() < EDIT_SHARE
        return ADMIN if self._editing else super().client()

    def action(self) -> str:
        return "edit_price" if self._editing else super().action()

    def build(self, name: str, user_id: int) -> Action:
        if name != "edit_price":
            return super().build(name, user_id)
        product = self.rng.randint(1, EDITED_PRODUCTS)
        self._edits += 1
        self._sent = (product, FIRST_PRICE + self._edits)
        body = json.dumps({"price_cents": self._sent[1]}).encode()
        return Action(name, "PATCH", f"/products/{product}", body=body,
                      headers=[(b"content-type", b"application/json")])

    def observe(self, action: str, trace: Trace) -> None:
        if action == "edit_price" and self._sent is not None:
            if trace.status == 200:
                product, price = self._sent
                self._acknowledged[product] = price
                self._acknowledged_edits += 1
            self._sent = None

    def report(self, sandbox: Sandbox) -> dict[str, Any]:
        # Read untraced, straight from the database: a figure, not traffic.
        held = dict(sandbox.db.conn.execute(
            f"SELECT id, price_cents FROM products WHERE id <= {EDITED_PRODUCTS}").fetchall())
        lost = sorted(p for p, price in self._acknowledged.items() if held.get(p) != price)
        return {"cache": {
            "lost_writes": len(lost),
            "write_behind": {
                "acknowledged_edits": self._acknowledged_edits,
                "rows_edited": len(self._acknowledged),
                "rows_lost": lost,  # acknowledged prices the database never got
            },
        }}

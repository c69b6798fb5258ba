"""The request mix: what simulated shoppers do, and in what proportion.

Mostly product reads, with popularity skewed (a few products get most views, as in real
shops, which is why caching pays); listing pages and reviews; now and then a login, an
order, a look at one's order history (a lookup by customer that needs a secondary index) or
a review.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.backend.demo import DEMO_PASSWORD
from sandbox.backend.seed import PRODUCTS, seeded_email, zipf_weights

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox
    from sandbox.tracing import Trace

CLIENTS = 1000  # simulated shoppers; shopper n is seeded user n + 2 (user 1 is the admin)

# (action, weight): weights add up to 1,000. Browsing dwarfs buying, as in the browsing mix
# of the TPC-W web-shop benchmark: 95% of its interactions browse, buy confirmations are
# 0.69% and order inquiries and displays 0.55%. Orders and order histories here are close to
# those shares; logins are about one per shopping session of some thirty requests.
MIX: tuple[tuple[str, int], ...] = (
    ("view_product", 802),
    ("list_products", 80),
    ("product_reviews", 70),
    ("order_history", 5),
    ("login", 30),
    ("place_order", 10),
    ("post_review", 3),
)
# How steeply product popularity falls: the product of rank r is viewed in proportion to
# 1 / r**s. Exponents fitted to web and shop traffic run from about 0.6 to somewhat above 1;
# this shop sits at the steep end, one whose best sellers dominate: its 100 most popular
# products (of 5,000) draw 84% of product views. (The seeded order history uses 1.1.)
PRODUCT_SKEW = 1.3

NEEDS_LOGIN = {"order_history", "place_order", "post_review"}
CATEGORIES = ("books", "games", "garden", "kitchen", "music", "office", "outdoor", "toys")


@dataclass
class Action:
    """One request a shopper wants to make."""

    name: str
    method: str
    path: str
    query: bytes = b""
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Shoppers:
    """Chooses who acts next and what they do, from a seeded random source."""

    # True when the mix sorts its clients into classes (`client_class`), so the run's
    # metrics get a per-class section; the ordinary mix has none and records nothing extra.
    has_classes = False

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._product_cum = list(itertools.accumulate(zipf_weights(PRODUCTS, PRODUCT_SKEW)))
        self._client_cum = list(itertools.accumulate(zipf_weights(CLIENTS, s=0.6)))
        self._actions = [name for name, _ in MIX]
        self._action_cum = list(itertools.accumulate(w for _, w in MIX))

    def client(self) -> int:
        """A shopper; some shop far more often than others."""
        r = self.rng.random() * self._client_cum[-1]
        return bisect.bisect_right(self._client_cum, r)

    def product(self) -> int:
        r = self.rng.random() * self._product_cum[-1]
        return bisect.bisect_right(self._product_cum, r) + 1

    def action(self) -> str:
        r = self.rng.random() * self._action_cum[-1]
        return self._actions[bisect.bisect_right(self._action_cum, r)]

    # A scenario's own shoppers may watch what their requests got (`on_response`, called after
    # each one when a subclass defines it) and report figures of their own (`figures`, a
    # section of the run's metrics): what only the client side knows, such as which logins
    # were an attacker's.
    on_response: Callable[[str, int, bytes, float, bool], None] | None = None
    """(action, status, body, simulated ms, measured) after each request; None: not watched."""

    def figures(self) -> dict[str, Any]:
        """Sections to add to the run's metrics (none for the ordinary shoppers)."""
        return {}

    def build(self, name: str, user_id: int) -> Action:
        rng = self.rng
        if name == "view_product":
            return Action(name, "GET", f"/products/{self.product()}")
        if name == "list_products":
            query = f"category={rng.choice(CATEGORIES)}&limit=20&offset={rng.randrange(10) * 20}"
            return Action(name, "GET", "/products", query=query.encode())
        if name == "product_reviews":
            return Action(name, "GET", f"/products/{self.product()}/reviews", query=b"limit=10")
        if name == "order_history":
            return Action(name, "GET", "/users/me/orders", query=b"limit=10")
        if name == "place_order":
            items = [{"product_id": self.product(), "quantity": 1}
                     for _ in range(rng.choice((1, 1, 2)))]
            return _json_action(name, "POST", "/orders", {"items": items})
        if name == "post_review":
            body = {"rating": rng.randint(1, 5), "body": "Arrived quickly and works well."}
            return _json_action(name, "POST", f"/products/{self.product()}/reviews", body)
        if name == "login":
            return _json_action(name, "POST", "/auth/login",
                                {"email": seeded_email(user_id), "password": DEMO_PASSWORD})
        raise ValueError(f"unknown action {name}")

    # The actions that need the shopper logged in (the runner sends their credentials).
    needs_login: frozenset[str] | set[str] = NEEDS_LOGIN

    # True when the mix watches its own requests (`observe`); the ordinary mix does not, and
    # costs the runner nothing. `report` adds a mix's own figures to the run's metrics.
    observes = False

    def observe(self, action: str, trace: Trace) -> None:
        """See each request's trace as it finishes, warm-up included (read only when
        `observes`)."""

    def report(self, sandbox: Sandbox) -> dict[str, Any]:
        """Sections to add to the run's metrics, once the run is over and the workers have
        drained (none for the ordinary mix)."""
        return {}

    def client_class(self, user_id: int) -> str:
        """The class seeded user `user_id` belongs to (read only when `has_classes`)."""
        return "everyone"

    def begin(self, sandbox: Sandbox) -> None:
        """Set the stage before the first request (a scenario's own starting state)."""


def _json_action(name: str, method: str, path: str, body: object) -> Action:
    return Action(name, method, path, body=json.dumps(body).encode(),
                  headers=[(b"content-type", b"application/json")])

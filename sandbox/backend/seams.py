"""Seams: parts of the shop app that a student's code can stand in for.

`sandbox.plugs` puts a student's piece here (wrapped to fit these shapes); the app reads
`ctx.seams` on every request. Each seam is None while the sandbox's own part is in use, so
nothing changes unless something is plugged in. (Other plug points replace whole objects
instead: the balancer, the gateway's limiter, the token check in `TokenIssuer.check_claims`.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.errors import FieldError
from sandbox.mechanisms.auth import Identity

OrderValidator = Callable[[Any], list[FieldError]]
"""Checks a POST /orders body. Args: the parsed JSON body. Returns: every problem (empty: valid)."""

ReviewAdder = Callable[[Identity | None, int, int, str], dict[str, Any]]
"""Posts a review: (caller, product id, rating, text) -> the review as JSON. Raises ApiError
subclasses (401, 404, 409, 422) for the rules it enforces."""

ErrorRenderer = Callable[[Exception, str], tuple[int, Any, dict[str, str]]]
"""Turns an exception a handler raised into a response: (error, request id) -> (status,
JSON body, extra headers). Logs whatever the client must not see."""

StockTaker = Callable[[dict[int, int]], Awaitable[dict[int, int] | None]]
"""Takes an order's stock: {product id: quantity} -> {product id: unit price}, or None when
too little of some product was left (nothing is then taken). Each statement is a turn."""


class BatchLoading(Protocol):
    """A per-request loader that gathers keys and fetches them in batches (GraphQL's nested
    lists). `fetch(keys)` answers several keys at once: {key: value}, missing keys left out."""

    def expect(self, keys: list[int]) -> None:
        """Keys that will be asked for soon: fetch them with the next batch."""
        ...

    def load(self, key: int) -> Any:
        """The value for `key` (None when there is none), fetching a batch if needed."""
        ...


LoaderFactory = Callable[[str, Callable[[list[int]], dict[int, Any]]], BatchLoading]
"""Makes one request's loader: (kind, fetch) -> loader. `kind` is "products" or "reviews"."""


class OutboxRelaying(Protocol):
    """Keeps the order's follow-up job in an outbox and relays it to the queue."""

    def add(self, job: dict[str, str]) -> int:
        """Write `job` to the outbox inside the caller's open transaction; its row id."""
        ...

    def relay(self) -> None:
        """Publish every job still in the outbox to the queue, marking each once the queue
        has it. Raises when it had to stop: the rest waits for the next pass."""
        ...

    def waiting(self) -> int:
        """How many jobs the queue does not have yet."""
        ...


class IdempotencyStore(Protocol):
    """Remembers the order placed for each (user, Idempotency-Key)."""

    def replay(self, user_id: int, key: str, items: list[dict[str, int]]) -> dict[str, Any] | None:
        """The order first placed with this key, to answer a retry; None for a new key.

        Raises:
            ApiError: the user already used this key for a different order.
        """
        ...

    def remember(self, user_id: int, key: str, items: list[dict[str, int]],
                 order: dict[str, Any]) -> None:
        """Keep the order just placed with this key."""
        ...


@dataclass
class Seams:
    """The app's swappable parts; None means the sandbox's own."""

    order_problems: OrderValidator | None = None  # used by ShopController.post_order
    add_review: ReviewAdder | None = None  # used by ShopController.post_review
    render_error: ErrorRenderer | None = None  # used by every endpoint when a handler raises
    idempotency: IdempotencyStore | None = None  # used by OrderService.place
    outbox: OutboxRelaying | None = None  # used by OrderService when queue.mode=async
    make_loader: LoaderFactory | None = None  # used by POST /graphql with graphql.loader=batched
    take_stock: StockTaker | None = None  # used by OrderService._place, before its transaction

"""A batching loader, the idea behind GraphQL's DataLoader: ask the database once per batch of
keys, not once per key.

A GraphQL query like `products(limit: 20) { name reviews { rating } }` resolves `reviews` once
per product. Written the obvious way, that is one SQL query per product: 1 + 20 queries (the
N+1 problem). A loader sits between the resolvers and the database. Resolvers tell it which
keys they will need (`expect`), then ask for one key at a time (`load`); the first `load`
fetches every key gathered so far in ONE call, and the rest are answered from memory.

Real DataLoaders gather the keys requested during one turn of the event loop. The sandbox's
executor is synchronous, so the list resolver plays that part: when it has its 20 products it
announces their ids with `expect`, before any of their `reviews` are resolved.

One loader lives for ONE request: its memory is a per-request cache, never shared between
users (one user's answer must not leak into another's, and data changes between requests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Fetch = Callable[[list[int]], dict[int, Any]]


def fetch_products(conn: Any, ids: list[int]) -> list[Any]:
    """Products by id, in one query: for each id in `ids`, in that order, its row (as the
    connection returns it from `SELECT * FROM products`) or None if there is no such product.

    `conn.execute(sql, params).fetchall()` runs one statement with `?` placeholders.
    """
    # BEGIN SOLUTION
    # TODO: one SELECT * ... WHERE id IN (?, ?, ...) with a ? per id; never paste ids into SQL
    # TODO: then the rows in the order of `ids` (the database picks its own), None if not found
    if not ids:
        return []  # `IN ()` is a syntax error, and there is nothing to ask anyway
    marks = ", ".join("?" for _ in ids)
    rows = conn.execute(f"SELECT * FROM products WHERE id IN ({marks})", list(ids)).fetchall()
    by_id = {row[0]: row for row in rows}  # the first column is the id
    return [by_id.get(key) for key in ids]
    # END SOLUTION


class BatchLoader:
    """Loads values by key for one request, a batch at a time.

    Args:
        fetch: `fetch(keys)` loads several keys in one database call and returns
            {key: value}, leaving out keys that have no value. Call it as rarely as you can.
        max_batch: the most keys one fetch may be given (databases cap the number of `?`s in
            a statement); more keys than that go in several fetches.
    """

    def __init__(self, fetch: Fetch, max_batch: int = 100) -> None:
        self.fetch = fetch
        self.max_batch = max_batch
        self.waiting: list[int] = []  # keys announced, not fetched yet, in order, each once
        self.cache: dict[int, Any] = {}  # key -> value (None: fetched, and there was none)

    def expect(self, keys: Iterable[int]) -> None:
        """These keys will be asked for soon: gather them for the next fetch."""
        # BEGIN SOLUTION
        # TODO: add each key to self.waiting unless it is cached or already waiting
        for key in keys:
            if key not in self.cache and key not in self.waiting:
                self.waiting.append(key)
        # END SOLUTION

    def load(self, key: int) -> Any:
        """The value for `key`, or None if there is none. Fetches the waiting keys (and this
        one) together if this key is not cached yet."""
        # BEGIN SOLUTION
        # TODO: a cached key costs nothing (remember: None can be a cached answer)
        # TODO: else fetch all waiting keys plus this one, max_batch per fetch; cache every answer
        # TODO: a fetch that raises answers nothing: its keys and later ones wait, then re-raise
        if key not in self.cache:
            self.expect([key])
            self._dispatch()
        return self.cache[key]

    def _dispatch(self) -> None:
        """Fetch every waiting key, in batches of at most max_batch."""
        batch, self.waiting = self.waiting, []
        for start in range(0, len(batch), self.max_batch):
            chunk = batch[start:start + self.max_batch]
            try:
                found = self.fetch(chunk)
            except Exception:
                # The database failed: these keys have no answer yet, so none is cached. They
                # wait, first in line, for the next load to try again.
                self.waiting = batch[start:] + self.waiting
                raise
            for key in chunk:
                # A key the database did not have is cached too (as None): asking again
                # would give the same answer at the cost of another query.
                self.cache[key] = found.get(key)
        # END SOLUTION

    def load_many(self, keys: list[int]) -> list[Any]:
        """The values for `keys`, in the same order (None for a missing key), in as few
        fetches as possible."""
        # BEGIN SOLUTION
        # TODO: announce them all first, then load each
        self.expect(keys)
        return [self.load(key) for key in keys]
        # END SOLUTION

    def prime(self, key: int, value: Any) -> None:
        """Put a value you already have in the cache (a product that came with an order, say),
        so that loading it costs no query. A value already cached is kept."""
        # BEGIN SOLUTION
        # TODO: store it unless this key already has a value; it need not wait for a fetch
        if key not in self.cache:
            self.cache[key] = value
            if key in self.waiting:
                self.waiting.remove(key)
        # END SOLUTION

    def clear(self, key: int) -> None:
        """Forget `key` (it was just changed): the next load fetches it again."""
        # BEGIN SOLUTION
        # TODO: drop it from the cache
        self.cache.pop(key, None)
        # END SOLUTION

"""Tests that prove a cache never serves old data: you write the tests, the grader supplies
the caches (some right, some with a bug) and checks that your tests tell them apart.

Each test function receives `make_cache`. Call `make_cache(ttl_s, now)` to get a fresh cache:

    cache = make_cache(60.0, clock)   # entries live 60 s on the clock `now` (a callable)
    cache.get(key, load)              # the value for key: cached, or load() on a miss
    cache.invalidate(key)             # "the row behind key has just changed"

It behaves like the cache-aside cache of the caching exercise: values are dicts (keep them
JSON-friendly), `load` is a function taking no arguments that returns the row. Every cache one
`make_cache` makes shares the same Redis, like app instances in front of one cache server.

A test passes by returning, and fails with an `assert` that does not hold. You may add more
`test_...` functions taking `make_cache`; the grader runs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Clock:
    """A clock that only moves when you move it: pass it to make_cache as `now`."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.s = start_s

    def __call__(self) -> float:
        return self.s

    def advance(self, seconds: float) -> None:
        self.s += seconds


class Table:
    """A stand-in for a database table: `rows[key]` is each row as it is now.

    `loader(key)` gives the `load` function to pass to cache.get: it returns a copy of the
    row as it is at the moment it is called, and counts the call in `loads`.
    """

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows
        self.loads = 0

    def loader(self, key: str) -> Callable[[], dict[str, Any] | None]:
        def load() -> dict[str, Any] | None:
            self.loads += 1
            row = self.rows.get(key)
            return dict(row) if row is not None else None

        return load


MakeCache = Callable[[float, Callable[[], float]], Any]


def test_invalidation(make_cache: MakeCache) -> None:
    """After a write and its invalidation, no cache (in any instance) serves the old row."""
    # BEGIN SOLUTION
    # TODO: read a row through a cache, then change the row; show that the cache really
    # TODO: caches (without an invalidation the old row is still served), then invalidate
    # TODO: the key and assert that the next read returns the new row
    clock = Clock()
    table = Table({"product:1": {"id": 1, "price_cents": 1000},
                   "product:2": {"id": 2, "price_cents": 500}})
    cache = make_cache(60.0, clock)
    assert cache.get("product:1", table.loader("product:1"))["price_cents"] == 1000
    cache.get("product:2", table.loader("product:2"))
    # First prove the cache caches: a change nobody announced is not visible yet. Without
    # this, the checks below would pass on a "cache" that always asks the database.
    table.rows["product:1"]["price_cents"] = 1200
    assert cache.get("product:1", table.loader("product:1"))["price_cents"] == 1000, (
        "the cache does not keep what it loaded")
    cache.invalidate("product:1")
    assert cache.get("product:1", table.loader("product:1"))["price_cents"] == 1200, (
        "stale read: the row changed and was invalidated, yet the old row was served")
    # Another app instance writes and invalidates: this instance must see it too.
    other = make_cache(60.0, clock)
    table.rows["product:1"]["price_cents"] = 1500
    other.invalidate("product:1")
    assert cache.get("product:1", table.loader("product:1"))["price_cents"] == 1500, (
        "stale read: another instance invalidated the row, this one still served the old one")
    assert other.get("product:1", table.loader("product:1"))["price_cents"] == 1500
    # And an invalidation drops only its own key.
    table.rows["product:2"]["price_cents"] = 700
    assert cache.get("product:2", table.loader("product:2"))["price_cents"] == 500
    # END SOLUTION


def test_expiry(make_cache: MakeCache) -> None:
    """An entry is served until its TTL is over, and loaded again once it is."""
    # BEGIN SOLUTION
    # TODO: cache a row with a short TTL and change the row without invalidating it; move
    # TODO: the clock to just before the TTL (still the old row) and just after (the new one)
    clock = Clock()
    table = Table({"product:1": {"id": 1, "price_cents": 1000}})
    cache = make_cache(10.0, clock)
    cache.get("product:1", table.loader("product:1"))
    table.rows["product:1"]["price_cents"] = 1200  # changed behind the cache's back
    clock.advance(9.0)
    assert cache.get("product:1", table.loader("product:1"))["price_cents"] == 1000, (
        "after 9 of its 10 seconds the entry is still live: expected the cached row")
    clock.advance(2.0)
    assert cache.get("product:1", table.loader("product:1"))["price_cents"] == 1200, (
        "after 11 seconds a 10 s entry has expired: expected the row to be loaded again")
    # END SOLUTION

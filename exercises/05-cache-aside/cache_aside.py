"""Cache-aside on Redis: look in the cache first, load from the database on a miss, keep the
answer for a while (the TTL), and forget it as soon as the data behind it changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Value = dict[str, Any]


def to_json(data: Any) -> str:
    """Redis stores strings: turn a dict (or list, number...) into one."""
    return json.dumps(data)


def from_json(text: str) -> Any:
    """And back again."""
    return json.loads(text)


class CacheAside:
    """The shop's product reads go through `get`; every change to a product calls `invalidate`.

    Args:
        redis: a redis-py client. The sandbox gives you its Redis (fakeredis, or a real
            server); replies are strings.
        ttl_s: how many seconds an entry may be served after it was stored.
        now: call it to get the current time in seconds. It is the sandbox's simulated clock,
            not the wall clock, so Redis's own expiry (EXPIRE, SET ... EX) cannot be used for
            the TTL: it counts real seconds.
    """

    def __init__(self, redis: Any, ttl_s: float, now: Callable[[], float]) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.now = now

    def get(self, key: str, load: Callable[[], Value | None]) -> Value | None:
        """The value for `key`: from Redis if a live entry is there (a hit), otherwise from
        `load()` (a miss), which asks the database. A loaded value is stored for `ttl_s`
        seconds; a `None` (no such row) is returned but not stored.

        Values are dicts that JSON can encode; return them as they were loaded.
        """
        # TODO: look for a live entry under `key` in Redis: found and not expired -> return it
        # TODO: otherwise call load() (once), store the value with its expiry time, return it
        raise NotImplementedError("not written yet: see the TODO above")

    def invalidate(self, key: str) -> None:
        """The row behind `key` has just changed in the database: the next `get` must load it
        again instead of serving the old copy."""
        # TODO: make sure no later get(key) can return the old value
        raise NotImplementedError("not written yet: see the TODO above")

"""Rate limiting at the gateway: each client gets `limit` requests per `window_s`.

Why limit at all: one client's burst (a bug, a scraper, an attack) should not take the shop
down for everyone else, and the database behind the app has a ceiling. A rejected request gets
429 with `Retry-After`, and every answer carries `RateLimit-*` headers so a polite client can
slow down before it is refused.

Three algorithms, each on Redis data structures so every gateway shares one count:

- fixed window: one counter per client per window. Cheap, but a client can send `limit` at
  the end of one window and `limit` again at the start of the next: twice the limit in a
  moment.
- sliding window (log): a sorted set of the client's request times in the last `window_s`.
  Exact: no window of that length, wherever it starts, ever holds more than `limit`.
- token bucket: a bucket holds up to `limit + burst` tokens and refills at `limit /
  window_s` per second; a request takes one token. Allows short bursts, enforces the average.

Time is the sandbox's simulated clock. In production the read-decide-write steps of the
sliding window and the bucket must be atomic across gateways (a Lua script or MULTI/EXEC);
the sandbox sends requests one at a time, so plain commands are exact here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from sandbox.mechanisms.redis_store import RedisStore, scored
from sandbox.settings import RateLimitSettings


@dataclass(frozen=True)
class Decision:
    """What the limiter decided for one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # seconds until the client's allowance is fully back
    retry_after_s: float = 0.0  # when refused: seconds until a request would pass

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_s)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


class RateLimiter(Protocol):
    """Decides whether one client's request may pass.

    Args:
        client: the key requests are counted under (an API key, a user, an address).
        now_ms: the simulated time of the request.
    Returns:
        A Decision; the caller answers 429 when `allowed` is false.
    Raises:
        CacheUnavailable: Redis cannot be reached (the gateway then lets requests through).
    """

    name: str

    def check(self, client: str, now_ms: float) -> Decision: ...

    def peek(self, client: str, now_ms: float) -> tuple[float, float]:
        """What `client` has left now and the most it can have, changing nothing (for a
        picture of the limiter; a limiter that cannot tell says (capacity, capacity))."""
        ...


class FixedWindowLimiter:
    name = "fixed_window"

    def __init__(self, store: RedisStore, settings: RateLimitSettings) -> None:
        self.store = store
        self.settings = settings

    def check(self, client: str, now_ms: float) -> Decision:
        limit, window_ms = self.settings.limit, self.settings.window_s * 1000.0
        window = int(now_ms // window_ms)
        # One counter per client per window: the window number is part of the key, so a new
        # window starts from zero without anyone resetting anything.
        key = self.store.key(f"rl:fw:{client}:{window}")
        count = int(self.store.run("INCR", ("INCR", key), kind="gateway")[0])
        reset_s = ((window + 1) * window_ms - now_ms) / 1000.0
        if count > limit:
            return Decision(False, limit, 0, reset_s, retry_after_s=reset_s)
        return Decision(True, limit, limit - count, reset_s)

    def peek(self, client: str, now_ms: float) -> tuple[float, float]:
        """(requests left in this window, the limit), counting nothing."""
        window = int(now_ms // (self.settings.window_s * 1000.0))
        raw = self.store.run("GET", ("GET", self.store.key(f"rl:fw:{client}:{window}")),
                             kind="gateway")[0]
        used = int(raw) if raw is not None else 0
        return max(0.0, float(self.settings.limit - used)), float(self.settings.limit)


class SlidingWindowLimiter:
    name = "sliding_window"

    def __init__(self, store: RedisStore, settings: RateLimitSettings) -> None:
        self.store = store
        self.settings = settings
        self._seq = 0

    def check(self, client: str, now_ms: float) -> Decision:
        limit, window_ms = self.settings.limit, self.settings.window_s * 1000.0
        key = self.store.key(f"rl:sw:{client}")
        # Forget requests older than one window, then count what is left, in one round trip.
        # A request exactly one window old no longer counts (the window is (now - w, now]).
        _, count, oldest = self.store.run(
            "window",
            ("ZREMRANGEBYSCORE", key, "-inf", now_ms - window_ms),
            ("ZCARD", key),
            ("ZRANGE", key, 0, 0, "WITHSCORES"),
            kind="gateway",
        )
        count = int(count)
        oldest_pairs = scored(oldest)
        oldest_ms = oldest_pairs[0][1] if oldest_pairs else now_ms
        if count >= limit:
            # A slot frees when the oldest request in the window leaves it.
            wait_s = (oldest_ms + window_ms - now_ms) / 1000.0
            return Decision(False, limit, 0, wait_s, retry_after_s=wait_s)
        self._seq += 1  # members must be unique even when two requests share a timestamp
        self.store.run("ZADD", ("ZADD", key, now_ms, f"{now_ms}:{self._seq}"), kind="gateway")
        reset_s = (oldest_ms + window_ms - now_ms) / 1000.0
        return Decision(True, limit, limit - count - 1, reset_s)

    def peek(self, client: str, now_ms: float) -> tuple[float, float]:
        """(requests left in the window that ends now, the limit), recording nothing."""
        limit, window_ms = self.settings.limit, self.settings.window_s * 1000.0
        used = int(self.store.run("ZCOUNT", ("ZCOUNT", self.store.key(f"rl:sw:{client}"),
                                             f"({now_ms - window_ms}", now_ms),
                                  kind="gateway")[0])
        return max(0.0, float(limit - used)), float(limit)


class TokenBucketLimiter:
    name = "token_bucket"

    def __init__(self, store: RedisStore, settings: RateLimitSettings) -> None:
        self.store = store
        self.settings = settings

    def check(self, client: str, now_ms: float) -> Decision:
        capacity = self.settings.limit + self.settings.burst
        rate_per_ms = self.settings.limit / (self.settings.window_s * 1000.0)
        key = self.store.key(f"rl:tb:{client}")
        tokens_raw, updated_raw = self.store.run(
            "HMGET", ("HMGET", key, "tokens", "updated_ms"), kind="gateway"
        )[0]
        if tokens_raw is None:
            tokens, updated = float(capacity), now_ms  # a new client starts with a full bucket
        else:
            tokens, updated = float(tokens_raw), float(updated_raw)
        # Refill for the time that passed, never above capacity. max() keeps a request that
        # is a hair earlier than the last one (clock order across hops) from draining tokens.
        tokens = min(capacity, tokens + max(0.0, now_ms - updated) * rate_per_ms)
        updated = max(updated, now_ms)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self.store.run("HSET", ("HSET", key, "tokens", repr(tokens), "updated_ms", repr(updated)),
                       kind="gateway")
        full_in_s = (capacity - tokens) / rate_per_ms / 1000.0
        # The headers' limit is the full bucket (limit + burst): what a client may send at once.
        # With `limit` there, a client with a burst read "limit 20, remaining 39".
        if not allowed:
            return Decision(False, capacity, 0, full_in_s,
                            retry_after_s=(1.0 - tokens) / rate_per_ms / 1000.0)
        return Decision(True, capacity, int(tokens), full_in_s)

    def peek(self, client: str, now_ms: float) -> tuple[float, float]:
        """(tokens in the bucket now, refilled for the time since its last request; capacity),
        taking none and storing nothing."""
        capacity = self.settings.limit + self.settings.burst
        rate_per_ms = self.settings.limit / (self.settings.window_s * 1000.0)
        tokens_raw, updated_raw = self.store.run(
            "HMGET", ("HMGET", self.store.key(f"rl:tb:{client}"), "tokens", "updated_ms"),
            kind="gateway")[0]
        if tokens_raw is None:
            return float(capacity), float(capacity)
        refill = max(0.0, now_ms - float(updated_raw)) * rate_per_ms
        return min(float(capacity), float(tokens_raw) + refill), float(capacity)


LIMITERS: dict[str, type[FixedWindowLimiter | SlidingWindowLimiter | TokenBucketLimiter]] = {
    "fixed_window": FixedWindowLimiter,
    "sliding_window": SlidingWindowLimiter,
    "token_bucket": TokenBucketLimiter,
}


def make_limiter(store: RedisStore, settings: RateLimitSettings) -> RateLimiter | None:
    """The configured limiter, or None when rate limiting is off."""
    cls = LIMITERS.get(settings.algorithm)
    return cls(store, settings) if cls else None

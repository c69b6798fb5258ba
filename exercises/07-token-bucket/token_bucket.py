"""A token-bucket rate limiter on Redis: the gateway asks `take` once per request."""

from __future__ import annotations

from typing import Any


class TokenBucket:
    """Each client's bucket holds up to `limit + burst` tokens and refills at `limit` tokens
    per `window_s` seconds. A request takes one token, or is refused when none is left.

    Args:
        redis: a redis-py client (the sandbox passes an in-process fakeredis or a real one).
        limit: tokens added per window: the average rate allowed.
        window_s: the window's length in seconds.
        burst: extra tokens a quiet client may save up beyond `limit`.
    """

    def __init__(self, redis: Any, limit: int, window_s: float, burst: int) -> None:
        self.redis = redis
        self.capacity = limit + burst
        self.rate_per_ms = limit / (window_s * 1000.0)

    def take(self, client: str, now_ms: float) -> tuple[bool, float]:
        """Decide one request from `client` at simulated time `now_ms`.

        Returns:
            (allowed, tokens_left): whether it may pass, and the tokens left afterwards.
        """
        # TODO: read this client's tokens and last time from Redis (a new client: full bucket)
        # TODO: refill for the time passed (never above capacity), then take a token if any
        # TODO: save both numbers back, and return (allowed, tokens_left)
        raise NotImplementedError("not written yet: see the TODO above")

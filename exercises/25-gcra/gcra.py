"""A GCRA rate limiter on Redis: one number per client, the time its next request is due."""

from __future__ import annotations

from typing import Any


class GCRA:
    """The generic cell rate algorithm: `limit` requests per `window_s` seconds, and a client
    that was quiet may send up to `limit + burst` at once.

    Instead of counting tokens, it keeps one time per client: the theoretical arrival time
    (TAT), when the client's next request would be due if it sent exactly at the allowed
    rate. Each allowed request pushes the TAT one `period_ms` further. A request may pass
    while the TAT is less than `capacity` periods ahead of now.

    Args:
        redis: a redis-py client (the sandbox passes an in-process fakeredis or a real one).
        limit: requests allowed per window: the average rate.
        window_s: the window's length in seconds.
        burst: extra requests a quiet client may send at once beyond `limit`.
    """

    def __init__(self, redis: Any, limit: int, window_s: float, burst: int) -> None:
        self.redis = redis
        self.capacity = limit + burst  # the most requests at once (the gateway's header)
        self.period_ms = window_s * 1000.0 / limit  # one request's share of the window

    def due(self, client: str, now_ms: float) -> float:
        """When `client`'s next request is due (its TAT), never earlier than `now_ms`: a
        client never seen, or quiet for long, is due now."""
        # TODO: read the client's stored TAT from Redis (one key per client, e.g. gcra:CLIENT)
        # TODO: a client with no stored TAT is due now; a TAT in the past also means now
        return now_ms

    def take(self, client: str, now_ms: float) -> tuple[bool, float]:
        """Decide one request from `client` at simulated time `now_ms`.

        Returns:
            (allowed, remaining): whether it may pass, and how many more requests the
            client could send right now (a float; 0 after a refusal).
        """
        # TODO: WATCH the client's key on a pipeline, so that a write by another gateway
        # TODO: between your read and your write makes your write fail (WatchError)
        # TODO: find when this request is due (self.due) and the TAT it would leave behind
        # TODO: refuse when that new TAT is more than capacity periods ahead of now
        # TODO: save the new TAT only when allowed, in MULTI ... EXEC; on WatchError decide again
        # TODO: return (allowed, remaining), remaining = the periods still free, in requests
        raise NotImplementedError("not written yet: see the TODO above")

    def retry_after_ms(self, client: str, now_ms: float) -> float:
        """How long `client` must wait before a request would pass (0.0 if one would pass
        now). Changes nothing; the gateway puts it in a refusal's Retry-After header."""
        # TODO: a request passes once its new TAT is at most capacity periods ahead of now
        # TODO: work out when that is, counted from now_ms (never below zero)
        return 0.0

    def peek(self, client: str, now_ms: float) -> tuple[float, float]:
        """(requests `client` could send right now, capacity), changing nothing: the
        playground draws it as the client's allowance."""
        # TODO: count the periods between the client's TAT and now + capacity periods
        # TODO: that many requests fit now (keep it between 0 and capacity)
        return float(self.capacity), float(self.capacity)

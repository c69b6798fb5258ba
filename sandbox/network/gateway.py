"""The API gateway: the one door every request passes before an app instance.

Here it enforces the rate limit, keyed per client: the API key when one is sent, otherwise
the client's address. If the limiter's Redis is unreachable the gateway fails open (lets the
request through and says so in the trace): a broken limiter must not take the shop down.
"""

from __future__ import annotations

from sandbox.errors import TooManyRequests
from sandbox.mechanisms.ratelimit import Decision, RateLimiter
from sandbox.mechanisms.redis_store import CacheUnavailable
from sandbox.tracing import Span

GATEWAY_CPU_MS = 0.05


class Gateway:
    def __init__(self) -> None:
        self.limiter: RateLimiter | None = None

    def client_key(self, headers: list[tuple[bytes, bytes]], address: str) -> str:
        for key, value in headers:
            if key == b"x-api-key" and value:
                return "key:" + value.decode("latin-1")[:128]
        return "addr:" + address

    def admit(self, headers: list[tuple[bytes, bytes]], address: str, now_ms: float,
              span: Span) -> tuple[Decision | None, TooManyRequests | None]:
        """The limiter's decision (None when off) and the error to send if refused."""
        limiter = self.limiter
        if limiter is None:
            return None, None
        client = self.client_key(headers, address)
        try:
            decision = limiter.check(client, now_ms)
        except CacheUnavailable:
            span.attrs["ratelimit.error"] = "limiter unavailable: failing open"
            return None, None
        span.attrs["ratelimit.algorithm"] = limiter.name
        span.attrs["ratelimit.remaining"] = decision.remaining
        if decision.allowed:
            return decision, None
        span.attrs["ratelimit.rejected"] = True
        error = TooManyRequests(
            f"Too many requests: the limit is {decision.limit} per "
            f"{limiter_window(limiter)}. Retry after {decision.headers()['Retry-After']} s.",
            headers=decision.headers(),
        )
        return decision, error


def limiter_window(limiter: RateLimiter) -> str:
    window = getattr(getattr(limiter, "settings", None), "window_s", 1.0)
    return "second" if window == 1.0 else f"{window:g} seconds"

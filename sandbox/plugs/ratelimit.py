"""The gateway's rate limiter, replaced by the student's token bucket."""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox



class StudentTokenBucket:
    """Adapts a student's `TokenBucket.take(client, now_ms) -> (allowed, tokens_left)` to the
    gateway's limiter (which also needs Retry-After and the RateLimit-* figures)."""

    name = "token_bucket"

    def __init__(self, sb: Sandbox, cls: Any) -> None:
        self.sb = sb
        self.cls = cls
        self.settings = sb.settings.ratelimit
        self.impl = cls(sb.redis.client, self.settings.limit, self.settings.window_s,
                        self.settings.burst)

    def check(self, client: str, now_ms: float) -> Any:
        from sandbox.mechanisms.ratelimit import Decision

        if self.sb.settings.ratelimit != self.settings:  # a switch changed: a new bucket
            self.__init__(self.sb, self.cls)  # type: ignore[misc]
        allowed, tokens = self.impl.take(client, now_ms)
        tokens = float(tokens)
        rate_per_s = self.settings.limit / self.settings.window_s
        capacity = self.settings.limit + self.settings.burst
        full_in_s = max(0.0, capacity - tokens) / rate_per_s
        if not allowed:
            return Decision(False, capacity, 0, full_in_s,
                            retry_after_s=max(0.0, 1.0 - tokens) / rate_per_s)
        return Decision(True, capacity, max(0, min(capacity, math.floor(tokens))), full_in_s)


def _build_limiter(sb: Sandbox, module: ModuleType) -> Any:
    return StudentTokenBucket(sb, need(module, "TokenBucket", "ratelimit"))


def _attach_limiter(sb: Sandbox, part: Any) -> None:
    sb.network.gateway.limiter = part



POINT = PlugPoint("ratelimit", "a class TokenBucket(redis, limit, window_s, burst) with "
                  "take(client, now_ms) -> (allowed, tokens_left)", _build_limiter, _attach_limiter)

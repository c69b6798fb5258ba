"""The gateway's rate limiter, replaced by the student's: a token bucket (`TokenBucket`), or any
limiter an exercise's adapter returns (a `Limiter`: `take(client, now_ms)` and `capacity`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugError, PlugPoint, need

if TYPE_CHECKING:
    from sandbox.mechanisms.ratelimit import Decision
    from sandbox.runtime import Sandbox


def checked_answer(answer: Any) -> tuple[bool, float]:
    """The `(allowed, remaining)` a limiter's `take` returned, or PlugError saying what came
    instead. Exactly True or False: an object that only claims to be true passes nobody."""
    if isinstance(answer, tuple | list) and len(answer) == 2 and type(answer[0]) is bool \
            and type(answer[1]) in (int, float) and math.isfinite(answer[1]):
        return answer[0], float(answer[1])
    raise PlugError("take(client, now_ms) must return a pair (allowed, remaining): True or "
                    f"False, and a finite number; it returned {answer!r:.200}")


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

    def check(self, client: str, now_ms: float) -> Decision:
        from sandbox.mechanisms.ratelimit import Decision

        if self.sb.settings.ratelimit != self.settings:  # a switch changed: a new bucket
            self.__init__(self.sb, self.cls)  # type: ignore[misc]
        allowed, tokens = checked_answer(self.impl.take(client, now_ms))
        rate_per_s = self.settings.limit / self.settings.window_s
        capacity = self.settings.limit + self.settings.burst
        full_in_s = max(0.0, capacity - tokens) / rate_per_s
        if not allowed:
            return Decision(False, capacity, 0, full_in_s,
                            retry_after_s=max(0.0, 1.0 - tokens) / rate_per_s)
        return Decision(True, capacity, max(0, min(capacity, math.floor(tokens))), full_in_s)


class GuardedLimiter:
    """Any `Limiter` an adapter made, at the gateway. Every answer is checked (a wrong one is
    a PlugError naming it, not a crash in the gateway), and the limiter is made afresh when a
    rate-limit switch changes, as the sandbox's own are.

    `(allowed, remaining)` is all a limiter must say; then the headers say what is true of
    any limiter that allows `limit` per window: nobody refused waits longer than one window.
    A limiter that also offers `retry_after_ms(client, now_ms)` gets its own exact
    Retry-After, and one with `peek(client, now_ms) -> (left, capacity)` is drawn live."""

    name = "your limiter"

    def __init__(self, sb: Sandbox, make: Callable[[], Any]) -> None:
        self.sb = sb
        self.make = make
        self.settings = sb.settings.ratelimit
        self.impl, self.capacity = self._made()

    def _made(self) -> tuple[Any, int]:
        impl = self.make()
        capacity = impl.capacity  # read once: a round trip when the student's code is remote
        if type(capacity) not in (int, float) or not 1 <= capacity < 1e12:
            raise PlugError(f"capacity must be a number of requests, at least 1; it is "
                            f"{capacity!r:.100}")
        # The optional extras, looked up once (each lookup is a round trip to a worker).
        self.retry_after = getattr(impl, "retry_after_ms", None)
        self.peeker = getattr(impl, "peek", None)
        return impl, math.floor(capacity)

    def check(self, client: str, now_ms: float) -> Decision:
        from sandbox.mechanisms.ratelimit import Decision

        if self.sb.settings.ratelimit != self.settings:
            self.settings = self.sb.settings.ratelimit
            self.impl, self.capacity = self._made()
        allowed, remaining = checked_answer(self.impl.take(client, now_ms))
        window_s, limit = self.settings.window_s, self.capacity
        if not allowed:
            wait_s = window_s
            if self.retry_after is not None:
                wait_ms = self.retry_after(client, now_ms)
                if type(wait_ms) not in (int, float) or not 0 <= wait_ms < 1e12:
                    raise PlugError("retry_after_ms(client, now_ms) must return the "
                                    f"milliseconds to wait, 0 or more; it returned "
                                    f"{wait_ms!r:.100}")
                wait_s = wait_ms / 1000.0
            return Decision(False, limit, 0, max(wait_s, 0.0), retry_after_s=wait_s)
        return Decision(True, limit, max(0, min(limit, math.floor(remaining))), window_s)

    def peek(self, client: str, now_ms: float) -> tuple[float, float]:
        """What the client has left, as the limiter says (for the playground's picture);
        (capacity, capacity) from a limiter that cannot tell, changing nothing."""
        full = float(self.capacity)
        if self.peeker is None:
            return full, full
        answer = self.peeker(client, now_ms)
        if not (isinstance(answer, tuple) and len(answer) == 2
                and all(type(v) in (int, float) for v in answer)):
            raise PlugError(f"peek(client, now_ms) must return (left, capacity), two numbers; "
                            f"it returned {answer!r:.200}")
        return min(full, max(0.0, float(answer[0]))), full


def _build_limiter(sb: Sandbox, module: ModuleType) -> Any:
    return StudentTokenBucket(sb, need(module, "TokenBucket", "ratelimit"))


def _wrap_limiter(sb: Sandbox, make: Callable[[], Any]) -> Any:
    return GuardedLimiter(sb, make)


def _attach_limiter(sb: Sandbox, part: Any) -> None:
    sb.network.gateway.limiter = part


POINT = PlugPoint("ratelimit", "a class TokenBucket(redis, limit, window_s, burst) with "
                  "take(client, now_ms) -> (allowed, tokens_left), or with an adapter any "
                  "Limiter (take and capacity)", _build_limiter, _attach_limiter, _wrap_limiter)

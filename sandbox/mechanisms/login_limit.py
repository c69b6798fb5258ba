"""Login attempts limited per client address or per account (`auth.login_limit`).

Credential stuffing tries passwords leaked elsewhere against many accounts, a few guesses
each, from a handful of addresses. Which key the limit counts against decides what it stops:
- per address: an attacker's few addresses run out of attempts fast, but so does everyone
  behind one shared address (an office, a mobile carrier's NAT);
- per account: one account cannot be guessed at for long, but a stuffing attack makes only a
  few tries per account, and the attacker can lock a real user out of their own account.
Both count every attempt in a fixed window, in Redis, before the slow hash is paid.
"""

from __future__ import annotations

from typing import Literal

from sandbox.mechanisms.ratelimit import Decision, FixedWindowLimiter
from sandbox.mechanisms.redis_store import RedisStore
from sandbox.settings import AuthSettings, RateLimitSettings


class LoginLimiter:
    """Counts login attempts against an address or an account.

    Args:
        store: the Redis the counters live in.
        per: `per_ip` or `per_account`.
        limit: attempts allowed per window.
        window_s: the window's length.
    """

    def __init__(self, store: RedisStore, per: Literal["per_ip", "per_account"], limit: int,
                 window_s: float) -> None:
        self.per = per
        self._window = FixedWindowLimiter(
            store, RateLimitSettings(algorithm="fixed_window", limit=limit, window_s=window_s))

    def check(self, address: str, email: str, now_ms: float) -> Decision:
        """Count this attempt; the decision says whether it may go on to the password check.

        Raises:
            CacheUnavailable: Redis cannot be reached.
        """
        key = f"login:ip:{address}" if self.per == "per_ip" else f"login:account:{email}"
        return self._window.check(key, now_ms)


def make_login_limiter(store: RedisStore, settings: AuthSettings) -> LoginLimiter | None:
    """The configured login limiter, or None when `auth.login_limit=off`."""
    if settings.login_limit == "off":
        return None
    return LoginLimiter(store, settings.login_limit, settings.login_limit_max,
                        settings.login_limit_window_s)

"""A revocation list in Redis: subjects (such as `client:partner-shop`) whose tokens are void.

A signed token says who it was issued to and until when; nothing in it can change after it
leaves. Revoking a client in the database stops it getting *new* tokens, but the ones it holds
stay valid until they expire, unless something checks a list like this one on every request
(`auth.revocation_check`): one Redis round trip per request that carries a token.
"""

from __future__ import annotations

from sandbox.mechanisms.redis_store import RedisStore


class RevocationList:
    """Who was revoked, and when: a token issued at or before that moment is void.

    Entries are kept for good. (A real list may let an entry expire once the longest-lived
    token issued before it has expired; Redis's expiry runs on the wall clock, a run on
    simulated time.)
    """

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def revoke(self, subject: str, at_s: int) -> None:
        """Void every token of `subject` issued up to `at_s` (Unix seconds).

        Raises:
            CacheUnavailable: Redis cannot be reached.
        """
        self.store.run("SET", ("SET", self.store.key(f"revoked:{subject}"), at_s), kind="service")

    def revoked_at(self, subject: str) -> int | None:
        """When `subject` was revoked, or None.

        Raises:
            CacheUnavailable: Redis cannot be reached.
        """
        value = self.store.run("GET", ("GET", self.store.key(f"revoked:{subject}")),
                               kind="gateway")[0]
        return int(value) if value is not None else None

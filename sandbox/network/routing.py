"""Read routing: which database a request's reads go to, the primary or a read replica.

A replica takes reads off the primary, but it applies the primary's writes `db.replica_lag_ms`
late. Most readers never notice. The one who does is the customer who has just written: they
place an order, open their order history, and the order is not there. *Read-your-writes*
routing fixes that for them alone: requests that write go to the primary, and so do the reads
of a client who wrote less than one replica lag ago; everyone else keeps reading from the
replica.

The router sits where the request reaches an app instance, like a middleware: it is asked
once when the request arrives (`choose`) and told when it has been answered (`answered`),
by which time its writes are committed.
"""

from __future__ import annotations

from typing import Literal, Protocol

Route = Literal["primary", "replica"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # requests that only read


class ReadRouter(Protocol):
    """Decides where each request's lag-tolerant reads go."""

    def choose(self, client: str, method: str, now_ms: float) -> str:
        """Where this request's reads go: "primary" or "replica"."""
        ...

    def answered(self, client: str, method: str, now_ms: float) -> None:
        """The request was answered at `now_ms`; anything it wrote is committed."""
        ...


class ReadYourWritesRouter:
    """Writes and recent writers' reads to the primary; every other read to the replica.

    Args:
        lag_ms: how far the replica runs behind: a write is on it this long after its commit.
    """

    def __init__(self, lag_ms: float) -> None:
        self.lag_ms = lag_ms
        self._last_write: dict[str, float] = {}  # client -> when its last write was answered

    def choose(self, client: str, method: str, now_ms: float) -> Route:
        if method not in SAFE_METHODS:
            return "primary"  # a write, and the reads it does on the way, need the truth
        wrote = self._last_write.get(client)
        if wrote is not None and now_ms - wrote < self.lag_ms:
            return "primary"  # the replica may not have this client's write yet
        return "replica"

    def answered(self, client: str, method: str, now_ms: float) -> None:
        if method not in SAFE_METHODS:
            # From the answer, not the arrival: the write committed somewhere in between.
            self._last_write[client] = max(now_ms, self._last_write.get(client, now_ms))

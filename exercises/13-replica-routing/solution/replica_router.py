"""Read routing with a replica: writes to the primary, reads to the replica, except your own.

A read replica is a copy of the database that takes reads off the primary. It applies the
primary's writes a little late (the replica lag), which almost nobody notices, except the
customer who has just written: they place an order, open their order history, and the order
is missing. Read-your-writes routing sends that customer's reads to the primary until the
replica has caught up, and everyone else's to the replica.
"""

from __future__ import annotations


class ReplicaRouter:
    """Decides, per request, whether its reads go to the primary or to the replica.

    The sandbox asks `choose` when a request reaches the app, and calls `answered` once the
    app has answered it (by then anything it wrote is committed). Times are the sandbox's
    simulated milliseconds.

    Args:
        lag_ms: how far the replica runs behind: a write reaches it this long after it was
            committed on the primary.
    """

    def __init__(self, lag_ms: float) -> None:
        self.lag_ms = lag_ms
        # BEGIN SOLUTION
        # TODO: what must you remember about each client?
        # STUB: pass
        self.last_write: dict[str, float] = {}  # client -> when its last write was answered
        # END SOLUTION

    def choose(self, client: str, method: str, now_ms: float) -> str:
        """Where this request's reads go: "primary" or "replica".

        Args:
            client: who sends it, for example "client-42".
            method: the HTTP method. GET and HEAD only read; anything else may write.
            now_ms: when the request arrives.
        """
        # BEGIN SOLUTION
        # TODO: a request that may write goes to the primary
        # TODO: a read goes to the primary while this client's last write is younger than the
        # TODO: replica lag (now_ms - written < lag_ms); otherwise to the replica
        if method not in ("GET", "HEAD"):
            return "primary"
        written = self.last_write.get(client)
        if written is not None and now_ms - written < self.lag_ms:
            return "primary"  # the replica may not have this client's write yet
        return "replica"
        # END SOLUTION

    def answered(self, client: str, method: str, now_ms: float) -> None:
        """The request was answered at `now_ms`."""
        # BEGIN SOLUTION
        # TODO: if it was a write, remember when it was answered: the lag counts from here,
        # TODO: not from when it arrived (its write committed somewhere in between)
        if method not in ("GET", "HEAD"):
            self.last_write[client] = max(now_ms, self.last_write.get(client, now_ms))
        # END SOLUTION

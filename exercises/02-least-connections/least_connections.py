"""A least-connections load balancer: each request goes to the instance doing the least work.

Round robin hands requests out in turn, blind to how busy each instance is: one slow request
and the next few still queue behind it. Least connections looks first, and sends the request
to whichever live instance has the fewest requests in flight right now.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Instance(Protocol):
    """What the balancer can see of one app instance."""

    name: str  # "app-1", "app-2", ...
    alive: bool  # False once the balancer's health check found it dead

    def active(self, now_ms: float) -> int:
        """Requests it has accepted and not finished at simulated time `now_ms`."""
        ...


class LeastConnections:
    """Chooses an instance for each request: the live one with the fewest requests in flight.

    The sandbox makes one `LeastConnections()` and calls `choose` once per request.
    """

    def choose(self, instances: Sequence[Instance], client: str, now_ms: float) -> int | None:
        """Pick the instance for one request.

        Args:
            instances: every instance, alive or dead, always in the same order.
            client: who is asking (least connections does not need it).
            now_ms: the simulated time of the decision, in milliseconds.

        Returns:
            The index in `instances` of the live instance with the fewest active requests
            (on a tie, the lowest index), or None when no instance is alive.
        """
        # TODO: go through the instances in order, skipping any that is not alive
        # TODO: ask each live one how busy it is at this moment: instance.active(now_ms)
        # TODO: return the index of the least busy one (the first on a tie), or None
        raise NotImplementedError("not written yet: see the TODO above")

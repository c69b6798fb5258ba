"""Load balancers: pick which app instance serves the next request.

Each balancer is a few lines; the differences are the lesson. Round robin is fair in count
but blind to load; least connections follows the load; hashing on the client keeps each
client on one instance (useful for local caches and sessions, uneven under skew).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol


class Backend(Protocol):
    """What a balancer may know about an instance."""

    name: str
    alive: bool

    def active(self, now_ms: float) -> int:
        """Requests the instance is working on or holding in its queue at `now_ms`."""
        ...


class Balancer(Protocol):
    """Chooses an instance for one request.

    Args:
        instances: every instance, alive or not, in a fixed order.
        client: who is asking (address or key).
        now_ms: the simulated time of the decision.
    Returns:
        The index of the chosen instance, or None when no instance is alive.
    """

    name: str

    def choose(self, instances: Sequence[Backend], client: str, now_ms: float) -> int | None: ...


class RoundRobinBalancer:
    """Each instance in turn, skipping dead ones."""

    name = "round_robin"

    def __init__(self) -> None:
        self._next = 0

    def choose(self, instances: Sequence[Backend], client: str, now_ms: float) -> int | None:
        for _ in range(len(instances)):
            i = self._next % len(instances)
            self._next += 1
            if instances[i].alive:
                return i
        return None


class LeastConnectionsBalancer:
    """The live instance with the fewest requests in flight; ties go to the lowest index."""

    name = "least_connections"

    def choose(self, instances: Sequence[Backend], client: str, now_ms: float) -> int | None:
        best: int | None = None
        best_active = 0
        for i, instance in enumerate(instances):
            if not instance.alive:
                continue
            active = instance.active(now_ms)
            if best is None or active < best_active:
                best, best_active = i, active
        return best


class HashBalancer:
    """The same client always lands on the same live instance (while the set is unchanged)."""

    name = "hash"

    def choose(self, instances: Sequence[Backend], client: str, now_ms: float) -> int | None:
        alive = [i for i, instance in enumerate(instances) if instance.alive]
        if not alive:
            return None
        # crc32, not hash(): Python salts str hashes per process, and runs must repeat.
        return alive[zlib.crc32(client.encode()) % len(alive)]


def make_balancer(algorithm: str) -> Balancer:
    if algorithm == "least_connections":
        return LeastConnectionsBalancer()
    if algorithm == "hash":
        return HashBalancer()
    return RoundRobinBalancer()

"""An app instance: one real ASGI app with a fixed number of requests it can work on at once.

Capacity is modelled the way a server with a worker pool behaves: a request that arrives
while every worker is busy waits in line, and that wait is part of its latency. Add instances
and the line gets shorter.
"""

from __future__ import annotations

import heapq
from typing import Any


class ConnectionPool:
    """An instance's database connections: a request checks one out at its first statement
    and gives it back when it finishes; when all are out, the next request waits."""

    def __init__(self, size: int) -> None:
        self._free_at: list[float] = [0.0] * size
        self.size = size

    def resize(self, size: int) -> None:
        self.size = size
        kept = sorted(self._free_at)[:size]
        self._free_at = kept + [0.0] * (size - len(kept))
        heapq.heapify(self._free_at)

    def acquire(self, now_ms: float) -> float:
        """When a connection is ours (it is taken until `release`)."""
        return max(now_ms, heapq.heappop(self._free_at))

    def release(self, end_ms: float) -> None:
        heapq.heappush(self._free_at, end_ms)


class AppInstance:
    """One instance behind the balancer.

    Args:
        name: shown in traces and the flow view, for example `app-2`.
        app: the ASGI application.
        concurrency: requests it works on at once; more wait.
    """

    def __init__(self, name: str, app: Any, concurrency: int, pool_size: int = 8) -> None:
        self.name = name
        self.app = app
        self.up = True  # the truth: is the process running?
        self.alive = True  # what the balancer believes, as of its last health check
        self.draining = False  # told to stop (a rolling restart): still answering, for now
        self.started_ms = float("-inf")  # when its process last started
        self.warmup_ms = 0.0  # how long a freshly started process needs before it can serve
        self.served = 0
        self.version = "v1"  # the release its process runs
        self.releases: dict[str, Any] = {"v1": app}  # the app each release serves with
        self.pool = ConnectionPool(pool_size)
        self._free_at: list[float] = [0.0] * concurrency  # a heap: when each worker is free
        self.concurrency = concurrency
        self._finishing: list[float] = []  # a heap: when each accepted request finishes

    def run_version(self, version: str) -> None:
        """A process of `version` runs here now: requests go to that release's code."""
        if version != self.version:
            self.version = version
            self.app = self.releases[version]

    def warming_up(self, now_ms: float) -> bool:
        """True while a freshly started process cannot serve yet (cold caches, migrations)."""
        return now_ms < self.started_ms + self.warmup_ms

    def set_concurrency(self, concurrency: int) -> None:
        self.concurrency = concurrency
        busy = sorted(self._free_at, reverse=True)[:concurrency]
        self._free_at = busy + [0.0] * (concurrency - len(busy))
        heapq.heapify(self._free_at)

    def active(self, now_ms: float) -> int:
        """Requests accepted and not yet finished at `now_ms` (working or waiting)."""
        finishing = self._finishing
        while finishing and finishing[0] <= now_ms:
            heapq.heappop(finishing)
        return len(finishing)

    def admits(self) -> bool:
        """Whether a request may come in now, when requests really run at once (`Turns`): a
        worker is free, and a connection for it too (each request inside may hold one).
        Run one after another, a request always finds both: the one before gave them back."""
        free = len(self._free_at)
        return free > 0 and self.concurrency - free < self.pool.size

    def start(self, arrive_ms: float) -> float:
        """When a request arriving at `arrive_ms` gets a worker (takes that worker)."""
        return max(arrive_ms, heapq.heappop(self._free_at))

    def finish(self, end_ms: float) -> None:
        """The request that took a worker is done at `end_ms`; the worker is free again."""
        heapq.heappush(self._free_at, end_ms)
        heapq.heappush(self._finishing, end_ms)
        self.served += 1

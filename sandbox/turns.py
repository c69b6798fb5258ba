"""Requests that really run at once: coroutines take turns in simulated-time order.

Most scenarios send requests one after another and model their overlap by capacity. A race
needs more: two requests must really be half-way through at the same time, each with its own
view of the database. `Turns` runs each request as its own asyncio task and lets exactly one
run at a time. A request gives up its turn where a real one would wait (`take_turn`: its
statement is on the wire, the answer not back yet); the next turn goes to whichever request
is earliest in simulated time, with the shared clock set to that request's time. So the
interleaving is real (the app's own coroutines, suspended and resumed) and, for a seed,
always the same.

Outside a `Turns` run (every ordinary scenario, `sandbox serve`, tests) `take_turn` returns at
once and nothing waits.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from functools import partial
from typing import Any

from sandbox.clock import SimClock


class Deadlock(RuntimeError):
    """Every request left is waiting for something no running request will give back."""


class Turns:
    """Runs overlapping requests one turn at a time, earliest simulated time first.

    Args:
        clock: the sandbox's clock; set to each request's own time when it gets its turn.
    """

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        # Requests that gave up their turn: (their simulated time, order, what wakes them).
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        # Requests waiting for a resource (a worker, a connection), in line per resource: the
        # test that says it is free -> (time, order, wake) in the order they came.
        self._lines: dict[Callable[[], bool], deque[tuple[float, int, asyncio.Future[None]]]] = {}
        self._order = itertools.count()
        self._handed_back: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- called by a request, inside its task ------------------------------------------------

    async def give_way(self) -> None:
        """Let every request that is earlier in simulated time go first."""
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (self.clock.now_ms, next(self._order), wake))
        self._hand_back()
        await wake

    async def wait_until(self, ready: Callable[[], bool]) -> None:
        """Wait in line (keeping this request's time) until `ready()`: what another request
        holds has been given back. First come, first served: a request that finds others
        waiting for the same thing queues behind them even if it is free right now."""
        line = self._lines.get(ready)
        if not line and ready():
            return
        if line is None:
            line = self._lines[ready] = deque()
        join = line.append
        while True:
            wake = asyncio.get_running_loop().create_future()
            join((self.clock.now_ms, next(self._order), wake))
            self._hand_back()
            await wake
            if ready():
                return
            join = line.appendleft  # someone earlier took it first: keep our place

    # -- called by the scenario runner ----------------------------------------------------------

    async def start(self, request: Coroutine[Any, Any, None]) -> None:
        """Start a request at the clock's time; returns when it first gives way or is done."""
        task = asyncio.get_running_loop().create_task(request)
        task.add_done_callback(lambda _: self._hand_back())
        self._tasks.append(task)
        await self._turn(lambda: None)
        self._check(task)

    async def run_until(self, until_ms: float) -> None:
        """Give turns, earliest first, to every request whose time is before `until_ms`."""
        waiting = self._waiting
        while waiting and waiting[0][0] < until_ms:
            at, _, wake = heapq.heappop(waiting)
            self.clock.now_ms = at
            await self._turn(partial(wake.set_result, None))

    async def finish(self) -> None:
        """Run every started request to its end."""
        await self.run_until(float("inf"))
        stuck = sum(len(line) for line in self._lines.values())
        if stuck:
            raise Deadlock(f"{stuck} requests wait for what nobody gives back")
        for task in self._tasks:
            self._check(task)
        self._tasks.clear()

    def cancel(self) -> None:
        """Stop every request still under way (the run was stopped or failed)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    # -- the hand-over -------------------------------------------------------------------------

    async def _turn(self, resume: Callable[[], None]) -> None:
        """Let one request run until it gives way or ends; then, where what it held came free,
        wake the first in line, to take its turn at its own time."""
        self._handed_back = back = asyncio.get_running_loop().create_future()
        resume()
        await back
        for ready, line in self._lines.items():
            if line and ready():
                heapq.heappush(self._waiting, line.popleft())

    def _hand_back(self) -> None:
        back = self._handed_back
        if back is not None and not back.done():
            back.set_result(None)

    @staticmethod
    def _check(task: asyncio.Task[None]) -> None:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


current_turns: ContextVar[Turns | None] = ContextVar("current_turns", default=None)


async def take_turn() -> None:
    """A point where a request waits in real life: under `Turns`, earlier requests run
    first; otherwise nothing happens."""
    turns = current_turns.get()
    if turns is not None:
        await turns.give_way()

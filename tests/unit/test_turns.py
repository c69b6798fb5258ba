"""Turns: overlapping requests as real coroutines, one running at a time, earliest first."""

from __future__ import annotations

import pytest

from sandbox.clock import SimClock
from sandbox.turns import Deadlock, Turns, current_turns, take_turn


async def test_the_earliest_request_in_simulated_time_goes_next() -> None:
    clock = SimClock()
    turns = Turns(clock)
    seen: list[tuple[str, float]] = []

    async def request(name: str, work_ms: float) -> None:
        seen.append((name, clock.now_ms))
        clock.now_ms += work_ms
        await take_turn()
        seen.append((name, clock.now_ms))

    token = current_turns.set(turns)
    try:
        clock.now_ms = 0.0
        await turns.start(request("a", 5.0))  # gives way at 5 ms
        await turns.run_until(1.0)
        clock.now_ms = 1.0
        await turns.start(request("b", 1.0))  # gives way at 2 ms: before a's 5
        await turns.finish()
    finally:
        current_turns.reset(token)
    assert seen == [("a", 0.0), ("b", 1.0), ("b", 2.0), ("a", 5.0)]


async def test_a_request_waits_in_line_for_what_another_holds() -> None:
    clock = SimClock()
    turns = Turns(clock)
    free = [1]
    order: list[str] = []

    def one_free() -> bool:  # one predicate for everyone: one line to wait in
        return free[0] > 0

    async def request(name: str) -> None:
        await turns.wait_until(one_free)
        free[0] -= 1
        order.append(name)
        clock.now_ms += 3.0
        await turns.give_way()
        free[0] += 1

    for at, name in ((0.0, "a"), (1.0, "b"), (2.0, "c")):
        await turns.run_until(at)
        clock.now_ms = at
        await turns.start(request(name))
    await turns.finish()
    assert order == ["a", "b", "c"]


async def test_waiting_for_what_nobody_gives_back_is_a_deadlock() -> None:
    turns = Turns(SimClock())

    async def request() -> None:
        await turns.wait_until(lambda: False)

    await turns.start(request())
    with pytest.raises(Deadlock):
        await turns.finish()
    turns.cancel()


async def test_outside_a_turns_run_taking_a_turn_does_nothing() -> None:
    assert current_turns.get() is None
    await take_turn()  # returns at once: every ordinary scenario goes this way
